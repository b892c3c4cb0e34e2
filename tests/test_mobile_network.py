"""Kind to mobile networks, asserted on the wire against a real uvicorn server: weak ETags and 304 on the
lists a phone polls, gzip above a size (never on the live feed's Server-Sent Events), streamed exports still
streamed, the server's clock at `GET /v1/time`, and compact batch answers with `?fields=`."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn

from api.main import create_app
from tests.test_duty_support import checkin_body, make_shift, make_world

STEP_TIMEOUT_S = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(settings):
    """The app served by uvicorn on 127.0.0.1 in a thread of its own, as a phone meets it."""
    port = _free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                            timeout_graceful_shutdown=2)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
async def wire(server):
    async with httpx.AsyncClient(base_url=server, timeout=STEP_TIMEOUT_S) as c:
        yield c


async def raw_get(c: httpx.AsyncClient, path: str, headers: dict, **kw) -> tuple[httpx.Response, bytes]:
    """The answer as it crossed the wire: headers and the undecoded body."""
    async with c.stream("GET", path, headers=headers, **kw) as r:
        body = b"".join([chunk async for chunk in r.aiter_raw()])
    return r, body


async def test_my_shifts_answer_304_while_unchanged_and_a_new_etag_after_a_change(app, client, wire):
    w = await make_world(app, client)
    day = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=2)).date()
    morning = datetime.combine(day, dtime(7), tzinfo=ZoneInfo("Asia/Shanghai"))
    await make_shift(client, w, morning, morning + timedelta(hours=1))
    day = {"date": day.isoformat()}
    first = await wire.get("/v1/me/shifts", headers=w.officer.headers, params=day)
    assert first.status_code == 200 and len(first.json()["items"]) == 1
    etag = first.headers["etag"]
    assert etag.startswith('W/"') and first.headers["cache-control"] == "private, no-cache"

    r, body = await raw_get(wire, "/v1/me/shifts", {**w.officer.headers, "If-None-Match": etag}, params=day)
    assert r.status_code == 304 and body == b""
    assert r.headers["etag"] == etag and "content-type" not in r.headers
    # Weak comparison, and any tag of a list.
    r = await wire.get("/v1/me/shifts", params=day,
                       headers={**w.officer.headers, "If-None-Match": f'"other", {etag.removeprefix("W/")}'})
    assert r.status_code == 304

    await make_shift(client, w, morning + timedelta(hours=4), morning + timedelta(hours=5))
    r = await wire.get("/v1/me/shifts", headers={**w.officer.headers, "If-None-Match": etag}, params=day)
    assert r.status_code == 200 and len(r.json()["items"]) == 2 and r.headers["etag"] != etag
    # Another officer's answer never matches this one's tag.
    r = await wire.get("/v1/me/shifts", headers={**w.officer2.headers, "If-None-Match": etag}, params=day)
    assert r.status_code == 200 and r.json()["items"] == []


async def test_the_lists_a_phone_polls_carry_etags_and_answer_304(app, client, wire):
    w = await make_world(app, client)
    r = await client.post("/v1/incidents", headers=w.officer.headers, json={
        "category": "suspicious_person", "severity": 2, "source": "patrol",
        "location": {"type": "Point", "coordinates": list(w.near_post(north_m=20))},
        "alarm_at": datetime.now(UTC).isoformat()})
    assert r.status_code == 201, r.text
    for path in ("/v1/schools", f"/v1/schools/{w.school['id']}/posts", f"/v1/posts/{w.post['id']}",
                 "/v1/incidents", f"/v1/incidents/{r.json()['id']}", f"/v1/schools/{w.school['id']}"):
        first = await wire.get(path, headers=w.officer.headers)
        assert first.status_code == 200, (path, first.text)
        again = await wire.get(path, headers={**w.officer.headers, "If-None-Match": first.headers["etag"]})
        assert (again.status_code, again.content) == (304, b""), path
    # Errors and other callers' refusals carry no tag.
    r = await wire.get("/v1/schools", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401 and "etag" not in r.headers


async def test_large_answers_are_gzipped_small_ones_and_unasking_clients_are_not(app, client, wire):
    w = await make_world(app, client)
    headers = {**w.officer.headers, "Accept-Encoding": "gzip"}
    r, body = await raw_get(wire, "/openapi.json", headers)
    assert r.headers["content-encoding"] == "gzip" and body[:2] == b"\x1f\x8b"
    assert "accept-encoding" in r.headers["vary"].lower()
    assert json.loads(gzip.decompress(body))["openapi"].startswith("3.")
    assert len(body) < int(len(gzip.decompress(body)) * 0.3)

    r, body = await raw_get(wire, "/v1/me/shifts", headers)  # a few hundred bytes: not worth compressing
    assert len(body) < 1024 and "content-encoding" not in r.headers
    json.loads(body)
    r, body = await raw_get(wire, "/openapi.json", {"Accept-Encoding": "identity"})
    assert "content-encoding" not in r.headers and json.loads(body)["openapi"]

    # The hot path too: a batch's answer, gzipped on the wire, with its ETag-free POST semantics untouched.
    now = datetime.now(UTC)
    items = [checkin_body(w, now - timedelta(seconds=60 - i), kind="heartbeat") for i in range(5)]
    async with wire.stream("POST", "/v1/checkins/batch", headers=headers, json={"items": items}) as r:
        body = b"".join([c async for c in r.aiter_raw()])
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip" and "etag" not in r.headers
    assert [x["status"] for x in json.loads(gzip.decompress(body))["results"]] == ["created"] * 5


async def test_the_live_feed_is_never_gzipped_and_events_arrive_at_once(app, client, wire, server):
    w = await make_world(app, client)
    headers = {**w.commander.headers, "Accept-Encoding": "gzip"}
    async with httpx.AsyncClient(base_url=server, timeout=httpx.Timeout(STEP_TIMEOUT_S, read=None)) as c:
        async with c.stream("GET", "/v1/stream", headers=headers) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            assert "content-encoding" not in r.headers
            raw = r.aiter_raw()
            seen = await asyncio.wait_for(anext(raw), timeout=STEP_TIMEOUT_S)
            assert seen.startswith(b": subscribed"), seen  # plain text, not a gzip header
            incident = await client.post("/v1/incidents", headers=w.commander.headers, json={
                "category": "violence", "severity": 3, "source": "call_110",
                "location": {"type": "Point", "coordinates": list(w.near_post(north_m=30))},
                "alarm_at": datetime.now(UTC).isoformat(), "jurisdiction_code": w.tree.station_a})
            assert incident.status_code == 201
            while incident.json()["id"].encode() not in seen:
                seen += await asyncio.wait_for(anext(raw), timeout=STEP_TIMEOUT_S)
            assert b"event: incident.created" in seen


async def test_a_streamed_csv_export_is_gzipped_chunk_by_chunk_and_xlsx_is_left_alone(app, client, wire):
    w = await make_world(app, client)
    now = datetime.now(UTC)
    r = await client.post("/v1/checkins/batch", headers=w.officer.headers, json={
        "items": [checkin_body(w, now - timedelta(seconds=300 - i), kind="heartbeat") for i in range(40)]})
    assert r.status_code == 200
    headers = {**w.commander.headers, "Accept-Encoding": "gzip"}
    r, body = await raw_get(wire, "/v1/exports/checkins", headers)
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert "content-length" not in r.headers  # streamed, not buffered whole
    rows = gzip.decompress(body).decode("utf-8-sig").strip().splitlines()
    assert len(rows) == 41
    r, body = await raw_get(wire, "/v1/exports/checkins", headers, params={"format": "xlsx"})
    assert r.status_code == 200 and "content-encoding" not in r.headers and body[:2] == b"PK"


async def test_server_time_needs_no_credentials_and_is_never_cached(wire):
    before = time.time()
    r = await wire.get("/v1/time")
    after = time.time()
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store" and "etag" not in r.headers
    body = r.json()
    assert before - 1 <= body["epoch_ms"] / 1000 <= after + 1
    assert abs(datetime.fromisoformat(body["now"]).timestamp() * 1000 - body["epoch_ms"]) < 1


async def test_batch_answers_shrink_to_the_fields_asked_for(app, client, db):
    w = await make_world(app, client)
    now = datetime.now(UTC)
    good = [checkin_body(w, now - timedelta(seconds=30), kind="arrive", post_id=w.post["id"]),
            checkin_body(w, now - timedelta(seconds=20), kind="heartbeat", post_id=w.post["id"])]
    bad = {**checkin_body(w, now), "accuracy_m": -1}
    r = await client.post("/v1/checkins/batch", params={"fields": "id,status"}, headers=w.officer.headers,
                          json={"items": [good[0], bad]})
    assert r.status_code == 200, r.text
    first, rejected = r.json()["results"]
    assert first == {"id": good[0]["id"], "status": "created"}
    assert rejected["status"] == "rejected" and rejected["error"]["status"] == 422 and "checkin" not in rejected

    r = await client.post("/v1/checkins/batch", params={"fields": "id,status,geofence,flags,in_post_geofence"},
                          headers=w.officer.headers, json={"items": good})
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["duplicate", "created"]
    assert all(set(x["checkin"]) == {"geofence", "flags", "in_post_geofence"} for x in results)
    assert results[0]["checkin"]["geofence"] == "inside"

    r = await client.post("/v1/checkins/batch", params={"fields": "checkin"}, headers=w.officer.headers,
                          json={"items": good})
    assert r.json()["results"][1]["checkin"]["id"] == good[1]["id"]

    fresh = checkin_body(w, now - timedelta(seconds=10), kind="heartbeat")
    r = await client.post("/v1/checkins/batch", params={"fields": "id,colour"}, headers=w.officer.headers,
                          json={"items": [fresh]})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert "fields" in r.text and "colour" in r.text
    stored = await db.fetchval("SELECT count(*) FROM checkins WHERE id = :id", {"id": uuid.UUID(fresh["id"])})
    assert stored == 0
