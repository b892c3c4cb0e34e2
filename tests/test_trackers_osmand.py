"""Traccar Client as a tracker: positions in the OsmAnd protocol (JSON of current app versions, query strings of
older ones) become heartbeats of the device's officer, judged like any other check-in; unknown devices are
answered 200, counted, and stored as nobody's presence."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain import trackers
from domain.database import unit_of_work
from tests.factories import make_person, make_tree
from tests.test_duty_support import World, hour_ago, make_shift, make_world

MIN = timedelta(minutes=1)


async def _register(app, client, w: World, *, identifier: str | None = None, officer=None) -> dict:
    """Register a device to the world's officer, by an admin of the world's county (kept as `w.admin`)."""
    if not hasattr(w, "admin"):
        w.admin = await make_person(app, client, role="admin", jurisdiction_code=w.tree.code)
    admin = w.admin
    body = {"officer_id": (officer or w.officer).id, "name": "值班手机"}
    if identifier:
        body["identifier"] = identifier
    r = await client.post("/v1/devices", headers=admin.headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def _stored(app, officer_id: str) -> list[dict]:
    async with unit_of_work(app.state.pool) as db:
        rows = await db.fetch("""
            SELECT c.id, c.kind, c.source, c.recorded_at, c.accuracy_m, c.geofence, c.flags, c.shift_id, c.device,
                   ST_X(CAST(c.location AS geometry)) AS lon, ST_Y(CAST(c.location AS geometry)) AS lat
            FROM checkins c WHERE c.officer_id = :o ORDER BY c.recorded_at
        """, {"o": officer_id})
    return [{**dict(r), "device": json.loads(r["device"]) if isinstance(r["device"], str) else r["device"]}
            for r in rows]


def _json_body(device_id: str, lon: float, lat: float, at: datetime, **coords) -> dict:
    """What current Traccar Client versions post (their location template; Traccar's decoder test)."""
    return {"location": {"timestamp": at.isoformat().replace("+00:00", "Z"),
                         "coords": {"latitude": lat, "longitude": lon, "accuracy": 5, "speed": 1.5, "heading": 63,
                                    "altitude": 35.7, **coords},
                         "is_moving": False, "odometer": 0, "event": "motionchange",
                         "battery": {"level": 0.79, "is_charging": False}, "activity": {"type": "still"},
                         "extras": {}, "_": f"&id={device_id}&lat={lat}&lon={lon}&timestamp={at.isoformat()}&"},
            "device_id": device_id}


async def test_a_json_position_becomes_a_heartbeat_of_the_devices_officer(app, client):
    w = await make_world(app, client)
    start = hour_ago(0.5)
    shift = await make_shift(client, w, start, start + 60 * MIN)
    device = await _register(app, client, w)
    at = start + 5 * MIN
    lon, lat = w.near_post(north_m=3)
    r = await client.post("/osmand", json=_json_body(device["identifier"], lon, lat, at))
    assert r.status_code == 200, r.text
    (c,) = await _stored(app, w.officer.id)
    assert c["kind"] == "heartbeat" and c["source"] == "traccar" and str(c["shift_id"]) == shift["id"]
    assert c["recorded_at"] == at and c["accuracy_m"] == 5 and c["geofence"] == "inside"
    assert math.isclose(c["lon"], lon, abs_tol=1e-7) and math.isclose(c["lat"], lat, abs_tol=1e-7)
    assert c["id"] == trackers.checkin_id(device["identifier"], at)
    assert c["device"]["speed_mps"] == 1.5 and c["device"]["heading_deg"] == 63 and c["device"]["battery"] == 0.79
    assert c["device"]["altitude_m"] == 35.7 and c["device"]["event"] == "motionchange"
    assert c["device"]["is_moving"] is False and c["device"]["charging"] is False
    # the API shows it as any other check-in of the officer, marked as the tracker's
    listed = (await client.get("/v1/checkins", headers=w.officer.headers)).json()["items"]
    assert [(x["id"], x["source"], x["in_post_geofence"]) for x in listed] == [(str(c["id"]), "traccar", True)]


async def test_the_same_position_sent_again_or_at_once_is_stored_once(app, client):
    w = await make_world(app, client)
    device = await _register(app, client, w)
    body = _json_body(device["identifier"], *w.near_post(), hour_ago(0.1))
    answers = await asyncio.gather(*(client.post("/osmand", json=body) for _ in range(6)))
    assert [a.status_code for a in answers] == [200] * 6
    assert (await client.post("/osmand", json=body)).status_code == 200
    assert len(await _stored(app, w.officer.id)) == 1
    listed = (await client.get(f"/v1/devices/{device['id']}", headers=w.admin.headers)).json()
    assert listed["positions_received"] == 7 and listed["positions_stored"] == 1
    assert listed["positions_duplicate"] == 6 and listed["last_seen_at"] is not None


async def test_the_query_form_converts_knots_percent_and_epoch_seconds(app, client):
    w = await make_world(app, client)
    device = await _register(app, client, w)
    at = hour_ago(0.2)
    lon, lat = w.near_post(east_m=2)
    params = {"id": device["identifier"], "timestamp": str(int(at.timestamp())), "lat": str(lat), "lon": str(lon),
              "speed": "10.0", "bearing": "270.5", "altitude": "224.0", "accuracy": "12.0", "batt": "87"}
    r = await client.get("/osmand", params=params)  # older apps: GET …
    assert r.status_code == 200, r.text
    params2 = {**params, "timestamp": str(int((at + MIN).timestamp() * 1000))}  # … or POST, epoch milliseconds
    r = await client.post("/osmand", params=params2)
    assert r.status_code == 200, r.text
    form = {**params, "timestamp": (at + 2 * MIN).isoformat()}  # the same as a form body, ISO time
    r = await client.post("/osmand", data=form)
    assert r.status_code == 200, r.text
    got = await _stored(app, w.officer.id)
    assert [c["recorded_at"] for c in got] == [at, at + MIN, at + 2 * MIN]
    c = got[0]
    assert c["source"] == "traccar" and c["kind"] == "heartbeat" and c["accuracy_m"] == 12.0
    assert math.isclose(c["device"]["speed_mps"], 10 * 1852 / 3600, abs_tol=1e-3)  # knots → m/s
    assert c["device"]["battery"] == 0.87 and c["device"]["heading_deg"] == 270.5 and c["device"]["altitude_m"] == 224
    assert math.isclose(c["lon"], lon, abs_tol=1e-7) and math.isclose(c["lat"], lat, abs_tol=1e-7)


@pytest.mark.parametrize("accuracy", [None, 0])
async def test_a_position_without_accuracy_is_uncertain_and_flagged(app, client, accuracy):
    w = await make_world(app, client)
    start = hour_ago(0.5)
    await make_shift(client, w, start, start + 60 * MIN)
    device = await _register(app, client, w)
    params = {"id": device["identifier"], "lat": str(w.gate[1]), "lon": str(w.gate[0]),
              "timestamp": str(int((start + MIN).timestamp()))}
    if accuracy is not None:
        params["accuracy"] = str(accuracy)
    assert (await client.post("/osmand", params=params)).status_code == 200
    (c,) = await _stored(app, w.officer.id)
    assert c["accuracy_m"] == 100_000 and c["geofence"] == "uncertain"
    assert {"unknown_accuracy", "poor_accuracy"} <= set(c["flags"])


async def test_an_unknown_device_is_answered_200_counted_and_stores_nothing(app, client):
    w = await make_world(app, client)
    admin = await make_person(app, client, role="admin", jurisdiction_code=w.tree.code)
    stranger = f"unknown-{w.tree.code}"
    async with unit_of_work(app.state.pool) as db:
        before = await db.fetchval("SELECT (SELECT count(*) FROM checkins) + (SELECT count(*) FROM checkin_keys)")
    for n in range(3):
        r = await client.post("/osmand", json=_json_body(stranger, *w.near_post(), hour_ago(0.1) + n * MIN))
        assert r.status_code == 200
    r = await client.get("/osmand", params={"id": stranger, "lat": "30", "lon": "110"})
    assert r.status_code == 200
    async with unit_of_work(app.state.pool) as db:
        after = await db.fetchval("SELECT (SELECT count(*) FROM checkins) + (SELECT count(*) FROM checkin_keys)")
    assert after == before
    unknown = (await client.get("/v1/devices/unknown", headers=admin.headers, params={"limit": 1000})).json()
    (row,) = [u for u in unknown["items"] if u["identifier"] == stranger]
    assert row["positions"] == 4
    # placed where it was seen (near the school of station A; the last position, far from any school, keeps it):
    # another county's admin never sees it
    assert row["jurisdiction_code"] == w.school["jurisdiction_code"]
    other = await make_tree(app)
    foreign_admin = await make_person(app, client, role="admin", jurisdiction_code=other.code)
    foreign = (await client.get("/v1/devices/unknown", headers=foreign_admin.headers, params={"limit": 1000})).json()
    assert stranger not in {u["identifier"] for u in foreign["items"]}
    # registering it ends its life as an unknown device; its next position counts for the officer
    w.admin = admin
    await _register(app, client, w, identifier=stranger)
    unknown = (await client.get("/v1/devices/unknown", headers=admin.headers, params={"limit": 1000})).json()
    assert stranger not in {u["identifier"] for u in unknown["items"]}
    r = await client.post("/osmand", json=_json_body(stranger, *w.near_post(), hour_ago(0.05)))
    assert r.status_code == 200 and len(await _stored(app, w.officer.id)) == 1


async def test_a_device_over_its_rate_is_answered_429_and_nothing_is_stored(app, client):
    w = await make_world(app, client)
    device = await _register(app, client, w)
    limit = app.state.settings.tracker_rate_limit
    async with unit_of_work(app.state.pool) as db:  # the window already holds the limit
        await db.execute("UPDATE tracker_devices SET window_started_at = now(), window_count = :n WHERE id = :id",
                         {"n": limit, "id": device["id"]})
    r = await client.post("/osmand", json=_json_body(device["identifier"], *w.near_post(), hour_ago(0.1)))
    assert r.status_code == 429
    assert r.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(r.headers["Retry-After"]) <= app.state.settings.tracker_rate_window_s
    assert await _stored(app, w.officer.id) == []
    listed = (await client.get(f"/v1/devices/{device['id']}", headers=w.admin.headers)).json()
    assert listed["positions_rate_limited"] == 1 and listed["positions_stored"] == 0
    async with unit_of_work(app.state.pool) as db:  # the window has passed: accepted again
        await db.execute("UPDATE tracker_devices SET window_started_at = now() - interval '1 hour' WHERE id = :id",
                         {"id": device["id"]})
    r = await client.post("/osmand", json=_json_body(device["identifier"], *w.near_post(), hour_ago(0.1)))
    assert r.status_code == 200 and len(await _stored(app, w.officer.id)) == 1


async def test_concurrent_positions_are_counted_exactly_against_the_rate(app, client):
    w = await make_world(app, client)
    device = await _register(app, client, w)
    limit = app.state.settings.tracker_rate_limit
    async with unit_of_work(app.state.pool) as db:
        await db.execute("UPDATE tracker_devices SET window_started_at = now(), window_count = :n WHERE id = :id",
                         {"n": limit - 3, "id": device["id"]})
    base = hour_ago(0.5)
    answers = await asyncio.gather(*(client.get("/osmand", params={
        "id": device["identifier"], "lat": str(w.gate[1]), "lon": str(w.gate[0]), "accuracy": "5",
        "timestamp": str(int((base + n * MIN).timestamp()))}) for n in range(8)))
    assert sorted(a.status_code for a in answers) == [200] * 3 + [429] * 5
    assert len(await _stored(app, w.officer.id)) == 3


async def test_positions_that_cannot_be_used_are_answered_200_and_counted(app, client):
    w = await make_world(app, client)
    device = await _register(app, client, w)
    ident = device["identifier"]
    old = datetime.now(UTC) - timedelta(days=8)
    assert (await client.post("/osmand", json=_json_body(ident, *w.near_post(), old))).status_code == 200
    assert (await client.get("/osmand", params={"id": ident, "lat": "95", "lon": "110"})).status_code == 200
    assert (await client.post("/osmand", json={"device_id": ident, "location": {"timestamp": "x"}})).status_code == 200
    assert await _stored(app, w.officer.id) == []
    got = (await client.get(f"/v1/devices/{device['id']}", headers=w.admin.headers)).json()
    assert got["positions_dropped"] == 3 and got["positions_stored"] == 0
    assert "coords" in got["last_drop_reason"]
    # a deactivated device: answered, not stored
    r = await client.patch(f"/v1/devices/{device['id']}", headers=w.admin.headers, json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    assert (await client.post("/osmand", json=_json_body(ident, *w.near_post(), hour_ago(0.1)))).status_code == 200
    assert await _stored(app, w.officer.id) == []
    got = (await client.get(f"/v1/devices/{device['id']}", headers=w.admin.headers)).json()
    assert got["positions_dropped"] == 4 and got["last_drop_reason"] == "the device is deactivated"


async def test_requests_without_a_readable_identifier_are_422(client):
    for r in (await client.get("/osmand", params={"lat": "30", "lon": "110"}),
              await client.post("/osmand", json={"location": {}}),
              await client.post("/osmand", content=b"{not json", headers={"Content-Type": "application/json"}),
              await client.post("/osmand", json={"device_id": "has space", "location": {}})):
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_a_tracker_only_officer_shows_up_in_compliance_and_off_post_alerts(app, client):
    w = await make_world(app, client)
    start = hour_ago(1)
    await make_shift(client, w, start, start + 30 * MIN)
    device = await _register(app, client, w)
    # the app's stationary heartbeat every 2 minutes at the gate, then the officer walks 300 m away
    for n in range(0, 26, 2):
        body = _json_body(device["identifier"], *w.near_post(north_m=2), start + n * MIN)
        assert (await client.post("/osmand", json=body)).status_code == 200
    away = _json_body(device["identifier"], *w.near_post(north_m=300), start + 27 * MIN)
    assert (await client.post("/osmand", json=away)).status_code == 200
    day = start.astimezone(ZoneInfo("Asia/Shanghai")).date()
    r = await client.get("/v1/duty/compliance", headers=w.commander.headers,
                         params={"date": day.isoformat(), "school_id": w.school["id"]})
    (verdict,) = [s for s in r.json()["items"] if s["officer_id"] == w.officer.id]
    assert verdict["arrived_at"] is not None and verdict["late_s"] == 0
    assert verdict["coverage_ratio"] >= 0.85
    alerts = (await client.get("/v1/duty/alerts", headers=w.commander.headers,
                               params={"kind": "off_post", "school_id": w.school["id"]})).json()["items"]
    assert [a["officer_id"] for a in alerts] == [w.officer.id]


async def test_the_tracker_port_takes_positions_on_any_path(app, client):
    w = await make_world(app, client)
    device = await _register(app, client, w)
    app.tracker_port = 5055
    try:
        r = await client.post("http://testserver:5055/", json=_json_body(device["identifier"], *w.near_post(),
                                                                          hour_ago(0.1)))
        assert r.status_code == 200, r.text
        r = await client.get("http://testserver:5055/v1/devices", headers=w.admin.headers)
        assert r.status_code == 422  # on the tracker port every request is a position: this one has no id
    finally:
        app.tracker_port = None
    assert len(await _stored(app, w.officer.id)) == 1
    assert (await client.get("/v1/devices", headers=w.admin.headers)).status_code == 200
