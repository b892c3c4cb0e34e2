"""Venues and inspections: zone placement (outside every zone allowed but flagged), inspections and their rules,
the "not inspected since" query, status, scope isolation and figures as of a moment."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from domain import venues
from domain.database import unit_of_work
from tests.test_ledgers_support import ago, count, make_ledger_world


def venue_body(w, **over) -> dict:
    body = {"name": "星空网咖", "kind": "internet_cafe", "location": w.near(north_m=150), "address": "北门对面",
            "operator_name": "张某", "licence_no": "网文〔2020〕001号"}
    body.update(over)
    return body


async def register(client, person, body, *, expect: int = 201) -> dict:
    r = await client.post("/v1/venues", headers=person.headers, json=body)
    assert r.status_code == expect, r.text
    return r.json()


async def inspect(client, person, venue_id: str, *, expect: int = 201, **over) -> dict:
    body = {"inspected_at": ago(hours=1).isoformat(), "findings": "接纳未成年人上网", "violations": ["接纳未成年人"],
            "actions": ["warning"]}
    body.update(over)
    r = await client.post(f"/v1/venues/{venue_id}/inspections", headers=person.headers, json=body)
    assert r.status_code == expect, r.text
    return r.json()


async def test_a_venue_is_placed_in_its_school_zone_and_one_outside_every_zone_is_flagged(app, client):
    w = await make_ledger_world(app, client)
    v = await register(client, w.officer, venue_body(w))
    assert v["school_id"] == w.school["id"] and v["zone_school_ids"] == [w.school["id"]]
    assert v["outside_zone"] is False and v["flags"] == [] and v["jurisdiction_code"] == w.tree.station_a
    assert v["status"] == "operating" and v["last_inspected_at"] is None
    far = await register(client, w.commander, venue_body(w, name="远郊KTV", kind="ktv", location=w.near(north_m=60 + 201)))
    assert far["outside_zone"] is True and far["flags"] == ["outside_zone"] and far["school_id"] is None
    assert far["jurisdiction_code"] == w.tree.code  # the commander's own
    listed = (await client.get("/v1/venues", headers=w.viewer.headers,
                               params={"outside_zone": "true", "jurisdiction_code": w.tree.code})).json()["items"]
    assert [x["id"] for x in listed] == [far["id"]]
    assert await count(app, "SELECT count(*) FROM audit_log WHERE entity = 'venue' AND entity_id = :id",
                       id=v["id"]) == 1


async def test_an_inspection_is_recorded_and_one_of_a_venue_outside_every_zone_is_flagged(app, client):
    w = await make_ledger_world(app, client)
    v = await register(client, w.officer, venue_body(w))
    far = await register(client, w.officer, venue_body(w, name="城郊旅馆", kind="small_inn",
                                                       location=w.near(north_m=3000)))
    i = await inspect(client, w.officer, v["id"], actions=["warning", "fine"], fine_yuan=2000,
                      follow_up_on=(date.today() + timedelta(days=7)).isoformat())
    assert i["flags"] == [] and i["inspector_name"] == "Test officer" and i["inspector_id"] == w.officer.id
    assert i["actions"] == ["warning", "fine"] and i["fine_yuan"] == 2000.0 and i["violations"] == ["接纳未成年人"]
    assert i["venue_name"] == "星空网咖" and i["jurisdiction_code"] == w.tree.station_a
    flagged = await inspect(client, w.officer, far["id"], actions=[], violations=[], inspector_name="李警官")
    assert flagged["flags"] == ["outside_zone"] and flagged["inspector_name"] == "李警官"
    got = (await client.get(f"/v1/venues/{v['id']}", headers=w.officer.headers)).json()
    assert got["last_inspected_at"] == i["inspected_at"]
    page = (await client.get(f"/v1/venues/{v['id']}/inspections", headers=w.viewer.headers)).json()
    assert [x["id"] for x in page["items"]] == [i["id"]]
    fines = (await client.get("/v1/inspections", headers=w.commander.headers,
                              params={"jurisdiction_code": w.tree.code, "action": "fine"})).json()["items"]
    assert [x["id"] for x in fines] == [i["id"]]
    by_school = (await client.get("/v1/inspections", headers=w.commander.headers,
                                  params={"school_id": w.school["id"]})).json()["items"]
    assert [x["id"] for x in by_school] == [i["id"]]


async def test_inspection_bad_input_is_a_4xx_naming_the_field_and_writes_nothing(app, client):
    w = await make_ledger_world(app, client)
    v = await register(client, w.officer, venue_body(w))
    before = await count(app, "SELECT count(*) FROM venue_inspections")
    for over, field in (
        ({"fine_yuan": 500, "actions": ["warning"]}, "fine_yuan"),
        ({"actions": ["jail"]}, "actions.0"),
        ({"inspected_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}, "inspected_at"),
        ({"follow_up_on": (date.today() - timedelta(days=3)).isoformat()}, "follow_up_on"),
        ({"fine_yuan": -1, "actions": ["fine"]}, "fine_yuan"),
        ({"violations": [""]}, "violations.0"),
    ):
        body = {"inspected_at": ago(hours=1).isoformat(), **over}
        r = await client.post(f"/v1/venues/{v['id']}/inspections", headers=w.officer.headers, json=body)
        assert r.status_code == 422, (over, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}, (over, r.json())
    assert await count(app, "SELECT count(*) FROM venue_inspections") == before
    r = await client.post(f"/v1/venues/{uuid.uuid4()}/inspections", headers=w.officer.headers,
                          json={"inspected_at": ago(hours=1).isoformat()})
    assert r.status_code == 404
    r = await client.post("/v1/venues", headers=w.officer.headers, json=venue_body(w, kind="casino"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind"


async def test_venues_in_a_school_zone_not_inspected_since_a_date(app, client):
    w = await make_ledger_world(app, client)
    seen = await register(client, w.officer, venue_body(w, name="已检查网吧"))
    seen_long_ago = await register(client, w.officer, venue_body(w, name="很久前检查的旅馆", kind="hotel"))
    never = await register(client, w.officer, venue_body(w, name="从未检查的剧本杀", kind="script_escape_room",
                                                         location=w.near(north_m=-150)))
    await register(client, w.officer, venue_body(w, name="区外", location=w.near(north_m=3000)))
    await inspect(client, w.officer, seen["id"], inspected_at=ago(days=2).isoformat())
    await inspect(client, w.officer, seen_long_ago["id"], inspected_at=ago(days=60).isoformat())
    r = await client.get("/v1/venues", headers=w.viewer.headers, params={
        "school_id": w.school["id"], "not_inspected_since": ago(days=30).isoformat()})
    assert r.status_code == 200
    assert sorted(x["name"] for x in r.json()["items"]) == sorted([never["name"], seen_long_ago["name"]])
    every = (await client.get("/v1/venues", headers=w.viewer.headers, params={"school_id": w.school["id"]})).json()
    assert len(every["items"]) == 3
    # "not inspected this campaign": the campaign's period instead of a date
    today = ago(days=0).astimezone(ZoneInfo("Asia/Shanghai")).date()
    campaign = (await client.post("/v1/campaigns", headers=w.commander.headers, json={
        "name": "护校安园", "starts_on": (today - timedelta(days=20)).isoformat(),
        "ends_on": (today + timedelta(days=1)).isoformat()})).json()
    r = await client.get("/v1/venues", headers=w.viewer.headers, params={
        "school_id": w.school["id"], "not_inspected_in_campaign": campaign["id"]})
    assert r.status_code == 200, r.text
    assert sorted(x["name"] for x in r.json()["items"]) == sorted([never["name"], seen_long_ago["name"]])
    r = await client.get("/v1/venues", headers=w.viewer.headers, params={"not_inspected_in_campaign": str(uuid.uuid4())})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "not_inspected_in_campaign"


async def test_venue_status_and_closure_is_final(app, client):
    w = await make_ledger_world(app, client)
    v = await register(client, w.officer, venue_body(w))
    url = f"/v1/venues/{v['id']}"
    r = await client.patch(url, headers=w.officer.headers, json={"status": "suspended", "phone": "13800000000"})
    assert r.status_code == 200 and r.json()["status"] == "suspended" and r.json()["phone"] == "13800000000"
    r = await client.patch(url, headers=w.officer.headers, json={"status": "closed"})
    assert r.status_code == 200 and r.json()["closed_at"] is not None
    assert (await client.patch(url, headers=w.officer.headers, json={"status": "operating"})).status_code == 409
    assert (await client.patch(url, headers=w.officer.headers, json={"status": "closed"})).status_code == 200
    r = await client.patch(url, headers=w.officer.headers, json={"location": w.near()})
    assert r.status_code == 422  # a venue's location is fixed
    closed = (await client.get("/v1/venues", headers=w.officer.headers, params={"status": "closed"})).json()["items"]
    assert [x["id"] for x in closed] == [v["id"]]


async def test_venue_scope_isolation_and_roles(app, client):
    w = await make_ledger_world(app, client)
    v = await register(client, w.officer, venue_body(w))
    url = f"/v1/venues/{v['id']}"
    assert (await client.get(url, headers=w.outsider.headers)).status_code == 404
    assert (await client.patch(url, headers=w.outsider.headers, json={"phone": "1"})).status_code == 404
    r = await client.post(f"/v1/venues/{v['id']}/inspections", headers=w.outsider.headers,
                          json={"inspected_at": ago(hours=1).isoformat()})
    assert r.status_code == 404
    assert (await client.get(f"{url}/inspections", headers=w.outsider.headers)).status_code == 404
    listed = (await client.get("/v1/venues", headers=w.outsider.headers)).json()["items"]
    assert v["id"] not in [x["id"] for x in listed]
    # Station B's officer at the same place: station A's school is not theirs, so it is outside their zones.
    theirs = await register(client, w.outsider, venue_body(w))
    assert theirs["outside_zone"] is True and theirs["jurisdiction_code"] == w.tree.station_b
    r = await client.post("/v1/venues", headers=w.outsider.headers,
                          json=venue_body(w, jurisdiction_code=w.tree.station_a))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "jurisdiction_code"
    assert (await client.post("/v1/venues", headers=w.viewer.headers, json=venue_body(w))).status_code == 403
    r = await client.post(f"/v1/venues/{v['id']}/inspections", headers=w.viewer.headers,
                          json={"inspected_at": ago(hours=1).isoformat()})
    assert r.status_code == 403


async def test_replayed_inspection_is_idempotent(app, client):
    w = await make_ledger_world(app, client)
    v = await register(client, w.officer, venue_body(w))
    body = {"id": str(uuid.uuid4()), "inspected_at": ago(hours=1).isoformat(), "actions": ["warning"]}
    first = await inspect(client, w.officer, v["id"], **body)
    again = await inspect(client, w.officer, v["id"], expect=200, **body)
    assert again == first
    r = await client.post(f"/v1/venues/{v['id']}/inspections", headers=w.officer.headers,
                          json={**body, "actions": ["closure"]})
    assert r.status_code == 409


async def test_venue_figures_as_of_a_moment_do_not_change_with_later_writes(app, client):
    w = await make_ledger_world(app, client)
    scope = (await client.get(f"/v1/jurisdictions/{w.tree.code}", headers=w.admin.headers)).json()["path"]
    start, end = ago(days=30), ago(seconds=-3600)
    a = await register(client, w.officer, venue_body(w, name="A"))
    b = await register(client, w.officer, venue_body(w, name="B", kind="game_hall"))
    await register(client, w.officer, venue_body(w, name="C"))
    outside = await register(client, w.officer, venue_body(w, name="D", location=w.near(north_m=4000)))
    await inspect(client, w.officer, a["id"], actions=["warning", "fine"], fine_yuan=100)
    await inspect(client, w.officer, a["id"], actions=[], violations=[])
    await inspect(client, w.officer, outside["id"], actions=["closure"])
    await inspect(client, w.officer, b["id"], inspected_at=ago(days=45).isoformat())  # before the period
    async with unit_of_work(app.state.pool) as db:
        as_of = await db.fetchval("SELECT clock_timestamp()")
    await inspect(client, w.officer, b["id"])
    await register(client, w.officer, venue_body(w, name="E"))
    async with unit_of_work(app.state.pool) as db:
        then = await venues.report_figures(db, scope_path=scope, start=start, end=end, as_of=as_of)
        now = await venues.report_figures(db, scope_path=scope, start=start, end=end, as_of=datetime.now(UTC))
    school = next(r for r in then if r["school_id"] == uuid.UUID(w.school["id"]))
    assert (school["venues"], school["inspected"], school["not_inspected"], school["inspections"],
            school["with_violations"], school["warnings"], school["fines"]) == (3, 1, 2, 2, 1, 1, 1)
    out = [r for r in then if r["school_id"] is None]
    assert [(r["jurisdiction_code"], r["venues"], r["inspected"], r["closures"]) for r in out] == \
        [(w.tree.station_a, 1, 1, 1)]
    school_now = next(r for r in now if r["school_id"] == uuid.UUID(w.school["id"]))
    assert (school_now["venues"], school_now["inspected"], school_now["not_inspected"]) == (4, 2, 2)
    async with unit_of_work(app.state.pool) as db:
        assert await venues.report_figures(db, scope_path=scope, start=start, end=end, as_of=as_of) == then
