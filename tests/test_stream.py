"""The live feed over a real uvicorn server: scoped delivery via LISTEN/NOTIFY, Last-Event-ID replay, pings."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from contextlib import asynccontextmanager, contextmanager

import httpx
import pytest
import uvicorn

from api import stream as stream_module
from api.main import create_app
from tests.test_incidents_support import arrive, make_world, report
from tests.test_incidents_support import clock as clock  # noqa: F401  (a fixture)

STEP_TIMEOUT_S = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(app):
    """`app` served by uvicorn on 127.0.0.1 in a thread of its own (its own loop, listener and pool)."""
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2)
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


@pytest.fixture(scope="module")
def server(settings):
    with serving(create_app(settings)) as url:
        yield url


class Feed:
    """Reads one SSE response: events as dicts, comments as they come."""

    def __init__(self, response: httpx.Response):
        self.lines = response.aiter_lines()
        self.comments: list[str] = []

    async def next_event(self) -> dict:
        fields: dict[str, str] = {}
        while True:
            line = await asyncio.wait_for(anext(self.lines), timeout=STEP_TIMEOUT_S)
            if line == "":
                if "data" in fields or "event" in fields:
                    return {"id": int(fields["id"]) if "id" in fields else None, "event": fields["event"],
                            "data": json.loads(fields["data"])}
                fields = {}
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value

    async def until(self, predicate) -> list[dict]:
        """Events up to and including the first that satisfies `predicate`."""
        got = []
        while True:
            event = await self.next_event()
            got.append(event)
            if predicate(event):
                return got

    async def subscribed(self) -> None:
        while "subscribed" not in self.comments:
            line = await asyncio.wait_for(anext(self.lines), timeout=STEP_TIMEOUT_S)
            if line.startswith(":"):
                self.comments.append(line[1:].strip())


@asynccontextmanager
async def open_feed(base_url: str, headers: dict, **extra_headers):
    async with httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(STEP_TIMEOUT_S, read=None)) as c:
        async with c.stream("GET", "/v1/stream", headers={**headers, **extra_headers}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            feed = Feed(response)
            await feed.subscribed()
            yield feed


def _is_created(incident_id: str):
    return lambda e: e["event"] == "incident.created" and e["data"]["payload"]["id"] == incident_id


async def test_stream_delivers_in_scope_events_only_and_replays_after_last_event_id(app, client, clock, server):
    w = await make_world(app, client)
    far = w.scene(north_m=5000)
    async with open_feed(server, w.officer.headers) as feed:
        mine = await report(client, w, w.officer, clock.at(-30))
        first = await feed.until(_is_created(mine["id"]))
        assert first[-1]["data"]["payload"]["in_zone"] is True
        assert first[-1]["data"]["jurisdiction_code"] == w.tree.station_a
        theirs = await report(client, w, w.commander, clock.at(-30), where=far, jurisdiction_code=w.tree.station_b)
        sentinel = await report(client, w, w.officer, clock.at(-20))
        between = await feed.until(_is_created(sentinel["id"]))
        assert theirs["id"] not in {e["data"]["payload"].get("id") for e in between}
        last_seen = between[-1]["id"]

    # While the client is away: a new incident, an arrival (with its score change), and a foreign incident.
    missed = await report(client, w, w.officer, clock.at(-10))
    await arrive(client, w.commander, sentinel, w.police, 3, 15)
    await report(client, w, w.commander, clock.at(-5), where=far, jurisdiction_code=w.tree.station_b)

    async with open_feed(server, w.officer.headers, **{"Last-Event-ID": str(last_seen)}) as feed:
        replayed = await feed.until(lambda e: e["event"] == "incident.score")
        kinds = [(e["event"], e["data"]["payload"].get("id") or e["data"]["payload"].get("incident_id"))
                 for e in replayed]
        assert kinds == [("incident.created", missed["id"]), ("incident.arrival", sentinel["id"]),
                         ("incident.score", sentinel["id"])]
        assert all(e["id"] > last_seen for e in replayed)
        assert [e["id"] for e in replayed] == sorted(e["id"] for e in replayed)
        live = await report(client, w, w.officer, clock.at(-1))  # and then it goes on live
        await feed.until(_is_created(live["id"]))


async def test_commander_above_sees_every_station_below(app, client, clock, server):
    w = await make_world(app, client)
    async with open_feed(server, w.commander.headers) as feed:
        b = await report(client, w, w.commander, clock.at(-5), where=w.scene(north_m=5000),
                         jurisdiction_code=w.tree.station_b)
        await feed.until(_is_created(b["id"]))


async def test_stream_needs_credentials_and_a_numeric_last_event_id(app, client, server):
    w = await make_world(app, client)
    async with httpx.AsyncClient(base_url=server, timeout=STEP_TIMEOUT_S) as c:
        assert (await c.get("/v1/stream")).status_code == 401
        bad = await c.get("/v1/stream", headers={**w.officer.headers, "Last-Event-ID": "yesterday"})
        assert bad.status_code == 422


async def test_stream_sends_comment_pings(app, client, server, monkeypatch):
    monkeypatch.setattr(stream_module, "HEARTBEAT_S", 0.5)
    w = await make_world(app, client)
    async with open_feed(server, w.officer.headers) as feed:
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while not any(c.startswith("ping") for c in feed.comments):
            assert time.monotonic() < deadline
            line = await asyncio.wait_for(anext(feed.lines), timeout=STEP_TIMEOUT_S)
            if line.startswith(":"):
                feed.comments.append(line[1:].strip())


async def test_listener_retries_while_the_database_is_unreachable():
    hub = stream_module.EventHub("postgresql://postgres@127.0.0.1:1/nowhere")
    await hub.start()
    try:
        await asyncio.sleep(0.3)
        assert hub.connected is False
        assert hub.running  # still trying, not crashed
    finally:
        await hub.stop()
    assert not hub.running
