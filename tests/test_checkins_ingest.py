"""Single check-ins: judgement (zone, post geofence with accuracy, window, flags), idempotency, bad input."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.database import unit_of_work
from geo.crs import from_wgs84
from tests.factories import make_person, make_tree
from tests.test_duty_support import check_in, checkin_body, hour_ago, make_shift, make_world


async def test_checkin_at_the_post_during_a_shift_is_inside_everything(app, client):
    w = await make_world(app, client)
    start = hour_ago(0.2)
    shift = await make_shift(client, w, start, start + timedelta(hours=1))
    c = await check_in(client, w.officer, checkin_body(w, datetime.now(UTC), north_m=10))
    assert c["shift_id"] == shift["id"] and c["post_id"] == w.post["id"]
    assert c["school_id"] == w.school["id"] and c["in_school_zone"] is True
    assert c["distance_to_post_m"] == pytest.approx(10, abs=0.5)
    assert c["geofence"] == "inside" and c["in_post_geofence"] is True
    assert c["in_duty_window"] is True
    assert c["flags"] == []
    assert c["officer_id"] == w.officer.id and c["received_at"]


@pytest.mark.parametrize("north_m,accuracy_m,geofence,inside", [
    (30, 15, "inside", True),        # 30 + 15 <= 50
    (40, 15, "uncertain", None),     # 40 + 15 > 50, 40 - 15 <= 50
    (60, 15, "uncertain", None),     # 60 - 15 <= 50
    (70, 15, "outside", False),      # 70 - 15 > 50
])
async def test_geofence_takes_the_fix_accuracy_into_account(app, client, north_m, accuracy_m, geofence, inside):
    w = await make_world(app, client)
    start = hour_ago(0.5)
    await make_shift(client, w, start, start + timedelta(hours=1))
    c = await check_in(client, w.officer, checkin_body(w, start + timedelta(minutes=2), north_m=north_m,
                                                       accuracy_m=accuracy_m))
    assert c["geofence"] == geofence and c["in_post_geofence"] is inside
    assert ("outside_geofence" in c["flags"]) is (geofence == "outside")


async def test_checkin_without_shift_far_from_schools_is_flagged(app, client):
    w = await make_world(app, client)
    c = await check_in(client, w.officer, checkin_body(w, hour_ago(0.01), north_m=3000))
    assert c["school_id"] is None and c["in_school_zone"] is False
    assert c["shift_id"] is None and c["post_id"] is None and c["geofence"] is None
    assert {"no_shift", "outside_zone"} <= set(c["flags"])
    assert c["in_duty_window"] is False


async def test_post_id_without_a_shift_is_judged_against_that_post(app, client):
    w = await make_world(app, client)
    c = await check_in(client, w.officer, checkin_body(w, hour_ago(0.01), north_m=20, post_id=w.post["id"]))
    assert c["post_id"] == w.post["id"] and c["shift_id"] is None
    assert c["geofence"] == "inside" and "no_shift" in c["flags"]


async def test_gcj02_checkin_is_converted_before_judgement(app, client):
    w = await make_world(app, client)
    gcj = from_wgs84(*w.gate, "gcj02")
    body = checkin_body(w, hour_ago(0.01), post_id=w.post["id"], crs="gcj02",
                        location={"type": "Point", "coordinates": list(gcj)})
    c = await check_in(client, w.officer, body)
    assert c["distance_to_post_m"] < 2 and c["geofence"] == "inside"


async def test_flags_poor_accuracy_mock_location_stale_and_clock_skew(app, client):
    w = await make_world(app, client)
    now = datetime.now(UTC)
    poor = await check_in(client, w.officer, checkin_body(w, now, accuracy_m=150, mock_location=True))
    assert {"poor_accuracy", "mock_location"} <= set(poor["flags"])
    assert "clock_skew" not in poor["flags"] and "stale" not in poor["flags"]
    ahead = await check_in(client, w.officer, checkin_body(w, now + timedelta(minutes=5)))
    assert "clock_skew" in ahead["flags"]
    behind = await check_in(client, w.officer, checkin_body(w, now - timedelta(minutes=5)))
    assert "clock_skew" in behind["flags"] and "stale" not in behind["flags"]
    stale = await check_in(client, w.officer, checkin_body(w, now - timedelta(hours=2)))
    assert "stale" in stale["flags"] and "clock_skew" not in stale["flags"]


async def test_impossible_speed_is_judged_against_the_previous_fix_by_device_time(app, client):
    w = await make_world(app, client)
    t = hour_ago(1)
    await check_in(client, w.officer, checkin_body(w, t))
    slow = await check_in(client, w.officer, checkin_body(w, t + timedelta(seconds=60), north_m=500))
    assert "impossible_speed" not in slow["flags"]  # 500 m in 60 s = 8 m/s
    fast = await check_in(client, w.officer, checkin_body(w, t + timedelta(seconds=70), north_m=5500))
    assert "impossible_speed" in fast["flags"]  # 5 km in 10 s
    # an older fix sent late is compared with the one before it by device time, not by arrival
    late = await check_in(client, w.officer, checkin_body(w, t + timedelta(seconds=30), north_m=100))
    assert "impossible_speed" not in late["flags"]


async def test_replayed_checkin_returns_original_answer_and_changed_body_is_409(app, client):
    w = await make_world(app, client)
    body = checkin_body(w, hour_ago(0.01), north_m=5)
    first = await client.post("/v1/checkins", headers=w.officer.headers, json=body)
    assert first.status_code == 201
    again = await client.post("/v1/checkins", headers=w.officer.headers, json=dict(reversed(list(body.items()))))
    assert again.status_code == 200 and again.json() == first.json()
    changed = await client.post("/v1/checkins", headers=w.officer.headers, json={**body, "accuracy_m": 6})
    assert changed.status_code == 409
    other = await client.post("/v1/checkins", headers=w.officer2.headers, json=body)
    assert other.status_code == 409


async def test_fifty_concurrent_posts_of_one_id_create_one_checkin(app, client):
    w = await make_world(app, client)
    body = checkin_body(w, hour_ago(0.01), north_m=5)
    answers = await asyncio.gather(*[client.post("/v1/checkins", headers=w.officer.headers, json=body)
                                     for _ in range(50)])
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * 49 + [201], codes
    assert len({r.text for r in answers}) == 1
    async with unit_of_work(app.state.pool) as db:
        n = await db.fetchval("SELECT count(*) FROM checkins WHERE id = :id", {"id": body["id"]})
        events = await db.fetchval("SELECT count(*) FROM events WHERE kind = 'checkin.created' "
                                        "AND payload->>'id' = :id", {"id": body["id"]})
    assert n == 1 and events == 1


async def test_shift_of_another_officer_or_unknown_shift_or_post_is_422(app, client):
    """Another officer's shift is as foreign as one that does not exist: check in only for yourself."""
    w = await make_world(app, client)
    start = hour_ago(0.5)
    theirs = await make_shift(client, w, start, start + timedelta(hours=1), officer=w.officer2)
    r = await client.post("/v1/checkins", headers=w.officer.headers,
                          json=checkin_body(w, hour_ago(0.01), shift_id=theirs["id"]))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "shift_id"
    r = await client.post("/v1/checkins", headers=w.officer.headers,
                          json=checkin_body(w, hour_ago(0.01), shift_id=str(uuid.uuid4())))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "shift_id"
    r = await client.post("/v1/checkins", headers=w.officer.headers,
                          json=checkin_body(w, hour_ago(0.01), post_id=str(uuid.uuid4())))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "post_id"


@pytest.mark.parametrize("over,field", [
    ({"recorded_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat()}, "recorded_at"),
    ({"recorded_at": (datetime.now(UTC) - timedelta(days=30)).isoformat()}, "recorded_at"),
    ({"recorded_at": "2026-11-30T08:00:00"}, "recorded_at"),
    ({"accuracy_m": 0}, "accuracy_m"),
    ({"accuracy_m": -3}, "accuracy_m"),
    ({"location": {"type": "Point", "coordinates": [108.1, 95]}}, "location.coordinates"),
    ({"location": {"type": "Point", "coordinates": [181, 29]}}, "location.coordinates"),
    ({"kind": "lunch"}, "kind"),
    ({"id": "not-a-uuid"}, "id"),
    ({"crs": "mars"}, "crs"),
])
async def test_bad_checkin_is_422_naming_the_field_and_writes_nothing(app, client, over, field):
    w = await make_world(app, client)
    body = checkin_body(w, hour_ago(0.01), **over)
    r = await client.post("/v1/checkins", headers=w.officer.headers, json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert any(e["field"].startswith(field) for e in r.json()["errors"]), r.json()
    async with unit_of_work(app.state.pool) as db:
        assert await db.fetchval("SELECT count(*) FROM checkins WHERE officer_id = :o", {"o": w.officer.id}) == 0


async def test_viewer_cannot_check_in(app, client):
    w = await make_world(app, client)
    viewer = await make_person(app, client, role="viewer", jurisdiction_code=w.tree.code)
    r = await client.post("/v1/checkins", headers=viewer.headers, json=checkin_body(w, hour_ago(0.01)))
    assert r.status_code == 403


async def test_unit_position_keeps_the_latest_fix_by_device_time(app, client):
    w = await make_world(app, client)
    newer = await check_in(client, w.officer, checkin_body(w, hour_ago(0.1), north_m=5))
    await check_in(client, w.officer, checkin_body(w, hour_ago(0.5), north_m=300))
    async with unit_of_work(app.state.pool) as db:
        row = await db.fetchrow("SELECT checkin_id FROM unit_positions WHERE officer_id = :o", {"o": w.officer.id})
    assert str(row["checkin_id"]) == newer["id"]


async def test_checkin_publishes_a_small_event(app, client):
    w = await make_world(app, client)
    c = await check_in(client, w.officer, checkin_body(w, hour_ago(0.01), post_id=w.post["id"]))
    async with unit_of_work(app.state.pool) as db:
        row = await db.fetchrow("SELECT jurisdiction_code, payload FROM events WHERE kind = 'checkin.created' "
                                       "AND payload->>'id' = :id", {"id": c["id"]})
    assert row["jurisdiction_code"] == w.tree.station_a
    assert set(row["payload"]) >= {"id", "officer_id", "school_id", "location", "kind", "flags"}


async def test_list_checkins_filters_pages_and_scopes(app, client):
    w = await make_world(app, client)
    t = hour_ago(2)
    mine = [await check_in(client, w.officer, checkin_body(w, t + timedelta(minutes=i), post_id=w.post["id"],
                                                           accuracy_m=150 if i == 2 else 5)) for i in range(4)]
    theirs = await check_in(client, w.officer2, checkin_body(w, t, north_m=3000))
    r = await client.get("/v1/checkins", headers=w.officer.headers, params={"limit": 3})
    page = r.json()
    assert [c["id"] for c in page["items"]] == [c["id"] for c in mine[:3]] and page["next_cursor"]
    r2 = await client.get("/v1/checkins", headers=w.officer.headers, params={"limit": 3, "cursor": page["next_cursor"]})
    assert [c["id"] for c in r2.json()["items"]] == [mine[3]["id"]]
    cmd = await client.get("/v1/checkins", headers=w.commander.headers,
                           params={"officer_id": w.officer2.id})
    assert [c["id"] for c in cmd.json()["items"]] == [theirs["id"]]
    flagged = await client.get("/v1/checkins", headers=w.commander.headers,
                               params={"flags": "poor_accuracy,mock_location", "school_id": w.school["id"]})
    assert flagged.status_code == 200, flagged.text
    assert [c["id"] for c in flagged.json()["items"]] == [mine[2]["id"]]
    lon, lat = w.gate
    boxed = await client.get("/v1/checkins", headers=w.commander.headers, params={
        "bbox": f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}", "jurisdiction_code": w.tree.code})
    assert {c["id"] for c in boxed.json()["items"]} == {c["id"] for c in mine}
    stranger = await make_tree(app)
    other = await make_person(app, client, role="commander", jurisdiction_code=stranger.code)
    assert (await client.get("/v1/checkins", headers=other.headers,
                             params={"officer_id": w.officer.id})).json()["items"] == []
    bad = await client.get("/v1/checkins", headers=w.commander.headers, params={"flags": "sleepy"})
    assert bad.status_code == 422



async def test_replay_of_a_stored_checkin_is_answered_even_once_too_old_to_accept(app, client):
    from api.deps import server_now

    w = await make_world(app, client)
    body = checkin_body(w, hour_ago(0.01))
    first = await check_in(client, w.officer, body)
    app.dependency_overrides[server_now] = lambda: datetime.now(UTC) + timedelta(days=8)
    try:
        again = await check_in(client, w.officer, body, expect=200)
        fresh = await client.post("/v1/checkins", headers=w.officer.headers, json=checkin_body(w, hour_ago(0.01)))
    finally:
        app.dependency_overrides.pop(server_now, None)
    assert again == first
    assert fresh.status_code == 422 and fresh.json()["errors"][0]["field"] == "recorded_at"


async def test_a_checkin_reads_back_as_it_was_answered_and_only_where_it_may(app, client):
    w = await make_world(app, client)
    c = await check_in(client, w.officer, checkin_body(w, datetime.now(UTC), north_m=10))
    url = f"/v1/checkins/{c['id']}"
    mine = await client.get(url, headers=w.officer.headers)
    assert mine.status_code == 200 and mine.json() == c
    assert (await client.get(url, headers=w.commander.headers)).json() == c
    assert (await client.get(url, headers=w.officer2.headers)).status_code == 404  # a colleague's own record
    other = await make_tree(app)
    stranger = await make_person(app, client, role="commander", jurisdiction_code=other.code)
    assert (await client.get(url, headers=stranger.headers)).status_code == 404
    assert (await client.get(f"/v1/checkins/{uuid.uuid4()}", headers=w.commander.headers)).status_code == 404
    assert (await client.get("/v1/checkins/not-a-uuid", headers=w.commander.headers)).status_code == 422
