"""Batches of check-ins replayed after being offline: one result per item, in order; bad items never spoil others."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from domain.database import unit_of_work
from tests.test_duty_support import batch, check_in, checkin_body, hour_ago, make_shift, make_world


async def test_batch_where_item_7_is_broken_stores_and_judges_the_others(app, client):
    w = await make_world(app, client)
    start = hour_ago(3)
    shift = await make_shift(client, w, start, start + timedelta(hours=2))
    items = [checkin_body(w, start + timedelta(minutes=5 * i), kind="heartbeat", north_m=10) for i in range(10)]
    items[7]["accuracy_m"] = 0
    items[7]["location"] = {"type": "Point", "coordinates": [108.1, 95]}
    answer = await batch(client, w.officer, items)
    results = answer["results"]
    assert [r["id"] for r in results] == [i["id"] for i in items]
    assert [r["status"] for r in results] == ["created"] * 7 + ["rejected"] + ["created"] * 2
    broken = results[7]
    assert "checkin" not in broken
    assert broken["error"]["status"] == 422 and broken["error"]["type"].endswith("validation-error")
    assert {e["field"] for e in broken["error"]["errors"]} >= {"accuracy_m"}
    for r in results[:7] + results[8:]:
        assert "error" not in r
        assert r["checkin"]["shift_id"] == shift["id"] and r["checkin"]["geofence"] == "inside"
        assert "stale" in r["checkin"]["flags"] and "clock_skew" not in r["checkin"]["flags"]
    async with unit_of_work(app.state.pool) as db:
        assert await db.fetchval("SELECT count(*) FROM checkins WHERE officer_id = :o", {"o": w.officer.id}) == 9
        assert await db.fetchval("SELECT count(*) FROM events WHERE kind = 'checkin.created' "
                                      "AND payload->>'officer_id' = :o", {"o": w.officer.id}) == 9


async def test_out_of_range_coordinates_in_a_batch_name_the_coordinate(app, client):
    w = await make_world(app, client)
    items = [checkin_body(w, hour_ago(1)), checkin_body(w, hour_ago(1), location={"type": "Point",
                                                                                  "coordinates": [108.1, 95]})]
    results = (await batch(client, w.officer, items))["results"]
    assert results[0]["status"] == "created"
    assert results[1]["status"] == "rejected"
    assert results[1]["error"]["errors"][0]["field"].startswith("location.coordinates")


async def test_batch_rejects_each_bad_reference_and_time_individually(app, client):
    w = await make_world(app, client)
    start = hour_ago(1)
    theirs = await make_shift(client, w, start, start + timedelta(hours=1), officer=w.officer2)
    items = [
        checkin_body(w, start),
        checkin_body(w, start, shift_id=theirs["id"]),
        checkin_body(w, start, shift_id=str(uuid.uuid4())),
        checkin_body(w, start + timedelta(days=1)),
        "not an object",
        {"id": str(uuid.uuid4())},
    ]
    results = (await batch(client, w.officer, items))["results"]
    assert [r["status"] for r in results] == ["created"] + ["rejected"] * 5
    assert [r["error"]["status"] for r in results[1:]] == [422, 422, 422, 422, 422]
    assert results[3]["error"]["errors"][0]["field"] == "recorded_at"
    assert results[4]["id"] is None and results[5]["id"] == items[5]["id"]


async def test_batch_of_501_is_refused_whole(app, client):
    w = await make_world(app, client)
    items = [checkin_body(w, hour_ago(1)) for _ in range(501)]
    r = await client.post("/v1/checkins/batch", headers=w.officer.headers, json={"items": items})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "items"


async def test_replayed_batch_answers_duplicates_with_the_original_checkins(app, client):
    w = await make_world(app, client)
    items = [checkin_body(w, hour_ago(1) + timedelta(minutes=i)) for i in range(5)]
    first = (await batch(client, w.officer, items))["results"]
    single = await check_in(client, w.officer, items[0], expect=200)
    assert single == first[0]["checkin"]
    changed = {**items[1], "note": "changed"}
    again = (await batch(client, w.officer, [*items, changed, items[2]]))["results"]
    assert [r["status"] for r in again] == ["duplicate"] * 5 + ["rejected", "duplicate"]
    assert [r["checkin"] for r in again[:5]] == [r["checkin"] for r in first]
    assert again[5]["error"]["status"] == 409


async def test_same_id_twice_in_one_batch_is_stored_once(app, client):
    w = await make_world(app, client)
    item = checkin_body(w, hour_ago(1))
    clash = {**item, "accuracy_m": 9}
    results = (await batch(client, w.officer, [item, item, clash]))["results"]
    assert [r["status"] for r in results] == ["created", "duplicate", "rejected"]
    assert results[1]["checkin"] == results[0]["checkin"] and results[2]["error"]["status"] == 409
    async with unit_of_work(app.state.pool) as db:
        assert await db.fetchval("SELECT count(*) FROM checkins WHERE id = :id", {"id": item["id"]}) == 1


async def test_impossible_speed_inside_one_batch_uses_the_batch_order_by_device_time(app, client):
    w = await make_world(app, client)
    t = hour_ago(1)
    items = [checkin_body(w, t + timedelta(seconds=10), north_m=5000), checkin_body(w, t)]
    results = (await batch(client, w.officer, items))["results"]
    assert "impossible_speed" in results[0]["checkin"]["flags"]
    assert "impossible_speed" not in results[1]["checkin"]["flags"]


async def test_a_500_item_batch_is_one_quick_statement(app, client):
    w = await make_world(app, client)
    start = hour_ago(5)
    await make_shift(client, w, start, start + timedelta(hours=4))
    items = [checkin_body(w, start + timedelta(seconds=20 * i), kind="heartbeat", north_m=i % 80)
             for i in range(500)]
    began = time.perf_counter()
    results = (await batch(client, w.officer, items))["results"]
    elapsed = time.perf_counter() - began
    assert all(r["status"] == "created" for r in results)
    print(f"500-item batch: {elapsed * 1000:.0f} ms")
    assert elapsed < 2.0, elapsed
