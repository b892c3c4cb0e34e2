"""Hazards: zone placement, the status lifecycle with its evidence rules, overdue flags and the live-feed sweep,
bad input, idempotent reports, scope isolation and figures that stay as they were as of a moment."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from domain import hazards
from domain.database import unit_of_work
from tests.factories import make_person
from tests.test_ledgers_support import ago, count, hazard_body, make_ledger_world, report_hazard


async def test_a_hazard_near_a_school_is_placed_in_its_zone_and_logged(app, client):
    w = await make_ledger_world(app, client)
    h = await report_hazard(client, w.officer, hazard_body(w))
    assert h["school_id"] == w.school["id"] and h["school_name"] == "测试小学"
    assert h["jurisdiction_code"] == w.tree.station_a
    assert h["flags"] == [] and h["status"] == "open" and h["overdue"] is False
    assert h["found_by_name"] == "Test officer" and h["responsible_unit"] == "学校保卫处"
    assert [e["kind"] for e in h["log"]] == ["created"] and h["log"][0]["status"] == "open"
    assert await count(app, "SELECT count(*) FROM audit_log WHERE entity = 'hazard' AND entity_id = :id "
                            "AND action = 'create'", id=h["id"]) == 1
    got = (await client.get(f"/v1/hazards/{h['id']}", headers=w.viewer.headers)).json()
    assert got["id"] == h["id"] and got["photos"] == []


async def test_a_hazard_outside_every_zone_is_flagged_and_belongs_to_the_reporter(app, client):
    w = await make_ledger_world(app, client)
    h = await report_hazard(client, w.officer, hazard_body(w, location=w.near(north_m=60 + 201)))
    assert h["school_id"] is None and h["flags"] == ["outside_zone"]
    assert h["jurisdiction_code"] == w.tree.station_a  # the officer's own
    inside = await report_hazard(client, w.commander, hazard_body(w, location=w.near(north_m=60 + 199)))
    assert inside["school_id"] == w.school["id"] and inside["flags"] == []
    assert inside["jurisdiction_code"] == w.tree.station_a  # the school's, not the county commander's


async def test_a_hazard_at_a_school_without_a_location_takes_the_gate(app, client):
    w = await make_ledger_world(app, client)
    body = hazard_body(w, school_id=w.school["id"])
    del body["location"]
    h = await report_hazard(client, w.officer, body)
    assert h["school_id"] == w.school["id"] and h["flags"] == ["location_from_school"]
    assert h["location"]["coordinates"] == w.school["location"]["coordinates"]
    body = hazard_body(w)
    del body["location"]
    r = await client.post("/v1/hazards", headers=w.officer.headers, json=body)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "location"


async def test_gcj02_locations_are_converted_before_the_zone_decision(app, client):
    from geo.crs import from_wgs84

    w = await make_ledger_world(app, client)
    lon, lat = w.near(north_m=150)["coordinates"]
    g_lon, g_lat = from_wgs84(lon, lat, "gcj02")
    h = await report_hazard(client, w.officer, hazard_body(w, location={"type": "Point", "coordinates": [g_lon, g_lat]},
                                                           crs="gcj02"))
    assert h["school_id"] == w.school["id"] and h["crs"] == "gcj02"
    assert abs(h["location"]["coordinates"][0] - lon) < 1e-5 and abs(h["location"]["coordinates"][1] - lat) < 1e-5


async def test_a_deadline_before_discovery_is_refused_naming_the_field_and_writes_nothing(app, client):
    w = await make_ledger_world(app, client)
    before = await count(app, "SELECT count(*) FROM hazards")
    r = await client.post("/v1/hazards", headers=w.officer.headers, json=hazard_body(
        w, found_at=ago(hours=2).isoformat(), deadline=ago(hours=3).isoformat()))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == ["deadline"]
    assert await count(app, "SELECT count(*) FROM hazards") == before
    h = await report_hazard(client, w.officer, hazard_body(w))
    r = await client.patch(f"/v1/hazards/{h['id']}", headers=w.officer.headers,
                           json={"deadline": ago(days=1).isoformat()})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "deadline"


async def test_other_bad_input_is_a_4xx_naming_the_field(app, client):
    w = await make_ledger_world(app, client)
    for over, field in (({"category": "weather"}, "category"), ({"severity": "huge"}, "severity"),
                        ({"found_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}, "found_at"),
                        ({"found_at": "2026-01-01T00:00:00"}, "found_at"),
                        ({"description": ""}, "description"),
                        ({"school_id": str(uuid.uuid4())}, "school_id"),
                        ({"jurisdiction_code": "NOWHERE1"}, "jurisdiction_code")):
        r = await client.post("/v1/hazards", headers=w.officer.headers, json=hazard_body(w, **over))
        assert r.status_code == 422, (over, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}, (over, r.json())


async def test_closing_needs_evidence_and_a_closed_hazard_never_changes(app, client):
    w = await make_ledger_world(app, client)
    h = await report_hazard(client, w.officer, hazard_body(w))
    url = f"/v1/hazards/{h['id']}"
    r = await client.patch(url, headers=w.officer.headers, json={"status": "closed"})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["closing_note"]
    r = await client.patch(url, headers=w.officer.headers, json={"status": "closed", "closing_note": "  "})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "closing_note"
    assert (await client.get(url, headers=w.officer.headers)).json()["status"] == "open"
    r = await client.patch(url, headers=w.officer.headers, json={"status": "rectifying",
                                                                 "action_taken": "已联系施工队"})
    assert r.status_code == 200 and r.json()["status"] == "rectifying"
    r = await client.patch(url, headers=w.officer.headers, json={"status": "closed",
                                                                 "closing_note": "防冲撞柱已安装，现场复核"})
    closed = r.json()
    assert r.status_code == 200 and closed["status"] == "closed" and closed["overdue"] is False
    assert closed["closed_by"] == w.officer.id and closed["closed_at"] is not None
    assert closed["closing_note"] == "防冲撞柱已安装，现场复核"
    assert [(e["kind"], e["status"]) for e in closed["log"]] == [
        ("created", "open"), ("action", "open"), ("status", "rectifying"), ("status", "closed")]
    assert closed["log"][1]["note"] == "已联系施工队"
    again = await client.patch(url, headers=w.officer.headers, json={"status": "closed"})
    assert again.status_code == 200 and again.json()["closed_at"] == closed["closed_at"]
    for change in ({"status": "rectifying"}, {"description": "x"}, {"action_taken": "again"}):
        r = await client.patch(url, headers=w.commander.headers, json=change)
        assert r.status_code == 409, (change, r.text)


async def test_escalating_needs_a_reason_and_status_never_moves_back(app, client):
    w = await make_ledger_world(app, client)
    h = await report_hazard(client, w.officer, hazard_body(w))
    url = f"/v1/hazards/{h['id']}"
    r = await client.patch(url, headers=w.officer.headers, json={"status": "escalated"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "escalation_reason"
    r = await client.patch(url, headers=w.officer.headers, json={"status": "escalated",
                                                                 "escalation_reason": "需住建部门改造校门"})
    assert r.status_code == 200 and r.json()["escalated_at"] and r.json()["escalation_reason"] == "需住建部门改造校门"
    assert (await client.patch(url, headers=w.officer.headers, json={"status": "open"})).status_code == 409
    r = await client.patch(url, headers=w.officer.headers, json={"status": "rectifying"})
    assert r.status_code == 200 and r.json()["status"] == "rectifying"
    assert (await client.patch(url, headers=w.officer.headers, json={"status": "open"})).status_code == 409
    r = await client.patch(url, headers=w.officer.headers, json={"closing_note": "done"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "closing_note"


async def test_overdue_hazards_are_flagged_listed_and_announced_once(app, client):
    w = await make_ledger_world(app, client)
    late = await report_hazard(client, w.officer, hazard_body(
        w, found_at=ago(days=10).isoformat(), deadline=ago(days=3).isoformat()))
    on_time = await report_hazard(client, w.officer, hazard_body(w))
    assert late["overdue"] is True and on_time["overdue"] is False
    listed = (await client.get("/v1/hazards", headers=w.commander.headers,
                               params={"overdue": "true", "jurisdiction_code": w.tree.code})).json()["items"]
    assert [h["id"] for h in listed] == [late["id"]]
    not_overdue = (await client.get("/v1/hazards", headers=w.commander.headers,
                                    params={"overdue": "false", "jurisdiction_code": w.tree.code})).json()["items"]
    assert [h["id"] for h in not_overdue] == [on_time["id"]]
    for _ in range(2):
        async with unit_of_work(app.state.pool) as db:
            await hazards.sweep_overdue(db, datetime.now(UTC), batch=100_000)
    assert await count(app, "SELECT count(*) FROM events WHERE kind = 'hazard.overdue' AND payload->>'id' = :id",
                       id=late["id"]) == 1
    assert await count(app, "SELECT count(*) FROM events WHERE kind = 'hazard.overdue' AND payload->>'id' = :id",
                       id=on_time["id"]) == 0
    # A new deadline re-arms the alert; once it passes again, one more event.
    r = await client.patch(f"/v1/hazards/{late['id']}", headers=w.officer.headers,
                           json={"deadline": ago(hours=1).isoformat()})
    assert r.status_code == 200 and r.json()["overdue"] is True
    async with unit_of_work(app.state.pool) as db:
        await hazards.sweep_overdue(db, datetime.now(UTC), batch=100_000)
    assert await count(app, "SELECT count(*) FROM events WHERE kind = 'hazard.overdue' AND payload->>'id' = :id",
                       id=late["id"]) == 2


async def test_a_replayed_report_answers_the_stored_hazard_and_another_body_conflicts(app, client):
    w = await make_ledger_world(app, client)
    body = hazard_body(w, id=str(uuid.uuid4()))
    first = await report_hazard(client, w.officer, body)
    r = await client.post("/v1/hazards", headers=w.officer.headers, json=body)
    assert r.status_code == 200 and r.json()["id"] == first["id"] and r.json()["created_at"] == first["created_at"]
    r = await client.post("/v1/hazards", headers=w.officer.headers, json={**body, "description": "另一处"})
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "id"
    assert await count(app, "SELECT count(*) FROM hazards WHERE id = :id", id=uuid.UUID(first["id"])) == 1


async def test_scope_isolation_and_roles(app, client):
    w = await make_ledger_world(app, client)
    h = await report_hazard(client, w.officer, hazard_body(w))
    url = f"/v1/hazards/{h['id']}"
    # Station B sees nothing of station A's hazards, cannot change them nor name station A's school.
    assert (await client.get(url, headers=w.outsider.headers)).status_code == 404
    assert (await client.patch(url, headers=w.outsider.headers, json={"action_taken": "x"})).status_code == 404
    listed = (await client.get("/v1/hazards", headers=w.outsider.headers)).json()["items"]
    assert h["id"] not in [x["id"] for x in listed]
    r = await client.post("/v1/hazards", headers=w.outsider.headers, json=hazard_body(w, school_id=w.school["id"]))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "school_id"
    r = await client.get("/v1/hazards", headers=w.outsider.headers, params={"jurisdiction_code": w.tree.station_a})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "jurisdiction_code"
    # Another county's commander sees none of it.
    other = await make_ledger_world(app, client)
    assert (await client.get(url, headers=other.commander.headers)).status_code == 404
    # Viewers and keys read, never write.
    assert (await client.get(url, headers=w.viewer.headers)).status_code == 200
    assert (await client.post("/v1/hazards", headers=w.viewer.headers, json=hazard_body(w))).status_code == 403
    assert (await client.patch(url, headers=w.viewer.headers, json={"action_taken": "x"})).status_code == 403
    key = (await client.post("/v1/api-keys", headers=w.admin.headers,
                             json={"name": "wall", "jurisdiction_code": w.tree.code})).json()["key"]
    assert (await client.get("/v1/hazards", headers={"X-API-Key": key})).status_code == 200
    r = await client.post("/v1/hazards", headers={"X-API-Key": key}, json=hazard_body(w))
    assert r.status_code == 403


async def test_the_list_filters_and_pages(app, client):
    w = await make_ledger_world(app, client)
    made = []
    for n, category in enumerate(("fire", "fire", "food_safety", "building", "fire")):
        made.append(await report_hazard(client, w.officer, hazard_body(
            w, category=category, found_at=ago(hours=10 - n).isoformat(),
            deadline=(ago(hours=10 - n) + timedelta(days=30)).isoformat())))
    scope = {"jurisdiction_code": w.tree.station_a}
    fire = (await client.get("/v1/hazards", headers=w.commander.headers,
                             params={**scope, "category": "fire"})).json()["items"]
    assert [h["id"] for h in fire] == [made[4]["id"], made[1]["id"], made[0]["id"]]
    window = (await client.get("/v1/hazards", headers=w.commander.headers, params={
        **scope, "from": ago(hours=9, minutes=30).isoformat(), "to": ago(hours=7, minutes=30).isoformat()})).json()
    assert [h["id"] for h in window["items"]] == [made[2]["id"], made[1]["id"]]
    by_school = (await client.get("/v1/hazards", headers=w.commander.headers,
                                  params={"school_id": w.school["id"], "status": "open"})).json()["items"]
    assert len(by_school) == 5
    pages, cursor = [], None
    while True:
        params = {**scope, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/hazards", headers=w.commander.headers, params=params)).json()
        pages.append([h["id"] for h in page["items"]])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [i for p in pages for i in p] == [h["id"] for h in reversed(made)] and len(pages) == 3
    assert all(h["log"] is None for h in page["items"])


async def test_report_figures_as_of_a_moment_do_not_change_with_later_writes(app, client):
    w = await make_ledger_world(app, client)
    scope = (await client.get(f"/v1/jurisdictions/{w.tree.code}", headers=w.admin.headers)).json()["path"]
    start, end = ago(days=30), ago(seconds=-3600)
    a = await report_hazard(client, w.officer, hazard_body(w))
    b = await report_hazard(client, w.officer, hazard_body(w, found_at=ago(days=5).isoformat(),
                                                           deadline=ago(days=2).isoformat()))
    await report_hazard(client, w.officer, hazard_body(w, location=w.near(north_m=5000)))  # outside every zone
    before_old = await report_hazard(client, w.officer, hazard_body(w, found_at=ago(days=40).isoformat(),
                                                                    deadline=ago(days=39).isoformat()))
    async with unit_of_work(app.state.pool) as db:
        as_of = await db.fetchval("SELECT clock_timestamp()")
    r = await client.patch(f"/v1/hazards/{a['id']}", headers=w.officer.headers,
                           json={"status": "closed", "closing_note": "已整改"})
    assert r.status_code == 200
    await client.patch(f"/v1/hazards/{b['id']}", headers=w.officer.headers,
                       json={"deadline": ago(seconds=-86400 * 10).isoformat()})
    await client.patch(f"/v1/hazards/{before_old['id']}", headers=w.officer.headers,
                       json={"status": "closed", "closing_note": "已整改"})
    await report_hazard(client, w.officer, hazard_body(w))

    async with unit_of_work(app.state.pool) as db:
        then = await hazards.report_figures(db, scope_path=scope, start=start, end=end, as_of=as_of)
        now = await hazards.report_figures(db, scope_path=scope, start=start, end=end, as_of=datetime.now(UTC))
        empty = await hazards.report_figures(db, scope_path=scope, start=ago(days=400), end=ago(days=300),
                                             as_of=as_of)
    school = next(r for r in then if r["school_id"] == uuid.UUID(w.school["id"]))
    assert (school["found"], school["closed"], school["found_and_closed"], school["open"], school["overdue"]) == \
        (2, 0, 0, 3, 2)
    outside = [r for r in then if r["school_id"] is None]
    assert [(r["jurisdiction_code"], r["found"]) for r in outside] == [(w.tree.station_a, 1)]
    school_now = next(r for r in now if r["school_id"] == uuid.UUID(w.school["id"]))
    assert (school_now["found"], school_now["closed"], school_now["found_and_closed"], school_now["open"],
            school_now["overdue"]) == (3, 2, 1, 2, 0)
    async with unit_of_work(app.state.pool) as db:
        again = await hazards.report_figures(db, scope_path=scope, start=start, end=end, as_of=as_of)
    assert again == then
    assert [(r["found"], r["closed"], r["open"]) for r in empty if r["school_id"]] == [(0, 0, 0)]


async def test_officers_of_a_station_record_but_a_station_officer_cannot_place_in_the_county(app, client):
    w = await make_ledger_world(app, client)
    r = await client.post("/v1/hazards", headers=w.officer.headers,
                          json=hazard_body(w, jurisdiction_code=w.tree.code))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "jurisdiction_code"
    admin_elsewhere = await make_person(app, client, role="admin", jurisdiction_code=w.tree.station_b)
    r = await client.post("/v1/hazards", headers=admin_elsewhere.headers, json=hazard_body(w))
    assert r.status_code == 201 and r.json()["school_id"] is None  # station A's school is not theirs
    assert r.json()["flags"] == ["outside_zone"] and r.json()["jurisdiction_code"] == w.tree.station_b


async def test_concurrent_reports_with_one_client_id_store_one_hazard(app, client):
    import asyncio

    w = await make_ledger_world(app, client)
    body = hazard_body(w, id=str(uuid.uuid4()))
    answers = await asyncio.gather(*(client.post("/v1/hazards", headers=w.officer.headers, json=body)
                                     for _ in range(4)))
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 201]
    assert len({r.json()["id"] for r in answers}) == 1
    assert await count(app, "SELECT count(*) FROM hazards WHERE id = :id", id=uuid.UUID(body["id"])) == 1
    assert await count(app, "SELECT count(*) FROM hazard_log WHERE hazard_id = :id", id=uuid.UUID(body["id"])) == 1
