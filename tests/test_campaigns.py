"""Campaigns (专项行动): period, coverage in scope, report due dates, policies in force; who sees and changes them."""

from __future__ import annotations

from tests.factories import make_person, make_tree, unique_code


async def _world(app, client):
    tree = await make_tree(app)
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    return tree, commander


def _spring(tree, **extra) -> dict:
    return {"name": "亮剑斩棘专项行动", "starts_on": "2022-03-22", "ends_on": "2022-04-15",
            "jurisdiction_codes": [tree.station_a, tree.station_b],
            "report_dues": [{"name": "工作总结", "due": "2022-04-15"}], **extra}


async def test_a_commander_starts_a_campaign_with_its_period_in_local_time(app, client):
    tree, commander = await _world(app, client)
    r = await client.post("/v1/campaigns", headers=commander.headers, json=_spring(tree))
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["jurisdiction_code"] == tree.code and c["time_zone"] == "Asia/Shanghai"
    assert c["jurisdiction_codes"] == sorted([tree.station_a, tree.station_b])
    assert c["period"] == {"from": "2022-03-22T00:00:00+08:00", "to": "2022-04-16T00:00:00+08:00"}
    assert c["report_dues"] == [{"name": "工作总结", "due": "2022-04-15"}]
    assert c["policy_keys"] == ["1-3-5@v1"]
    got = await client.get(f"/v1/campaigns/{c['id']}", headers=commander.headers)
    assert got.status_code == 200 and got.json() == c
    audit = await app.state.db.fetchval("SELECT count(*) FROM audit_log WHERE entity = 'campaign' AND entity_id = :id",
                                        {"id": c["id"]})
    assert audit == 1


async def test_the_long_campaign_lists_half_year_and_final_reports_by_due_date(app, client):
    tree, commander = await _world(app, client)
    r = await client.post("/v1/campaigns", headers=commander.headers, json={
        "name": "2023年校园及周边社会治安综合整治专项行动", "starts_on": "2023-05-15", "ends_on": "2023-12-31",
        "report_dues": [{"name": "专项行动工作总结", "due": "2024-11-30"},
                        {"name": "半年工作总结", "due": "2023-07-31"}]})
    assert r.status_code == 201, r.text
    assert [d["name"] for d in r.json()["report_dues"]] == ["半年工作总结", "专项行动工作总结"]
    assert r.json()["jurisdiction_codes"] == [tree.code]


async def test_a_covered_station_nested_in_a_covered_county_is_dropped(app, client):
    tree, commander = await _world(app, client)
    r = await client.post("/v1/campaigns", headers=commander.headers,
                          json=_spring(tree, jurisdiction_codes=[tree.code, tree.station_a]))
    assert r.status_code == 201, r.text
    assert r.json()["jurisdiction_codes"] == [tree.code]


async def test_bad_campaigns_are_422_naming_the_field(app, client):
    tree, commander = await _world(app, client)
    other = await make_tree(app)
    cases = [
        ({"ends_on": "2022-03-01"}, "ends_on"),
        ({"ends_on": "2030-03-01"}, "ends_on"),
        ({"report_dues": [{"name": "x", "due": "2022-01-01"}]}, "report_dues.0.due"),
        ({"jurisdiction_codes": [other.code]}, "jurisdiction_codes.0"),
        ({"policy_keys": ["nope@v9"]}, "policy_keys.0"),
        ({"jurisdiction_code": unique_code()}, "jurisdiction_code"),
    ]
    for change, field in cases:
        r = await client.post("/v1/campaigns", headers=commander.headers, json=_spring(tree, **change))
        assert r.status_code == 422, (change, r.text)
        assert field in [e["field"] for e in r.json()["errors"]], (change, r.json())
    n = await app.state.db.fetchval("SELECT count(*) FROM campaigns WHERE jurisdiction_code = :c", {"c": tree.code})
    assert n == 0


async def test_stations_see_their_countys_campaign_but_only_commanders_above_change_it(app, client):
    tree, commander = await _world(app, client)
    c = (await client.post("/v1/campaigns", headers=commander.headers, json=_spring(tree))).json()
    station_commander = await make_person(app, client, role="commander", jurisdiction_code=tree.station_a)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    outsider = await make_person(app, client, role="commander", jurisdiction_code=(await make_tree(app)).code)
    listed = (await client.get("/v1/campaigns", headers=officer.headers)).json()["items"]
    assert [x["id"] for x in listed] == [c["id"]]
    assert (await client.get(f"/v1/campaigns/{c['id']}", headers=station_commander.headers)).status_code == 200
    assert (await client.get(f"/v1/campaigns/{c['id']}", headers=outsider.headers)).status_code == 404
    assert (await client.get("/v1/campaigns", headers=outsider.headers)).json()["items"] == []
    r = await client.patch(f"/v1/campaigns/{c['id']}", headers=station_commander.headers, json={"name": "x"})
    assert r.status_code == 404
    r = await client.patch(f"/v1/campaigns/{c['id']}", headers=officer.headers, json={"name": "x"})
    assert r.status_code == 403
    assert (await client.post("/v1/campaigns", headers=officer.headers, json=_spring(tree))).status_code == 403


async def test_patch_moves_the_period_and_replaces_the_dues(app, client):
    tree, commander = await _world(app, client)
    c = (await client.post("/v1/campaigns", headers=commander.headers, json=_spring(tree))).json()
    r = await client.patch(f"/v1/campaigns/{c['id']}", headers=commander.headers, json={
        "ends_on": "2022-04-30", "report_dues": [{"name": "总结", "due": "2022-05-05"}]})
    assert r.status_code == 200, r.text
    assert r.json()["ends_on"] == "2022-04-30" and r.json()["report_dues"] == [{"name": "总结", "due": "2022-05-05"}]
    assert r.json()["period"]["to"] == "2022-05-01T00:00:00+08:00"
    r = await client.patch(f"/v1/campaigns/{c['id']}", headers=commander.headers, json={"starts_on": "2022-05-10"})
    assert r.status_code == 422
    r = await client.patch(f"/v1/campaigns/{c['id']}", headers=commander.headers, json={"name": None})
    assert r.status_code == 422
    active = (await client.get("/v1/campaigns", headers=commander.headers,
                               params={"active_on": "2022-04-20", "jurisdiction_code": tree.code})).json()["items"]
    assert [x["id"] for x in active] == [c["id"]]
    assert (await client.get("/v1/campaigns", headers=commander.headers,
                             params={"active_on": "2022-05-20"})).json()["items"] == []


async def test_demo_campaigns_match_the_seed_plans_and_load_once(app, client):
    from datetime import UTC, datetime

    from cli.demo import seed_jurisdictions, seed_people, seed_schools
    from cli.demo_campaigns import seed_campaigns
    from domain.database import unit_of_work

    now = datetime.now(UTC)
    async with unit_of_work(app.state.pool) as db:
        await seed_jurisdictions(db)
        await seed_people(db)
        await seed_schools(db)
        await seed_campaigns(db, now=now)
    async with unit_of_work(app.state.pool) as db:
        assert await seed_campaigns(db, now=now) == 0
    rows = await app.state.db.fetch("SELECT jurisdiction_code, starts_on, ends_on, report_dues FROM campaigns "
                                    "WHERE jurisdiction_code IN ('500243', '341504') ORDER BY starts_on")
    periods = [(r["jurisdiction_code"], str(r["starts_on"]), str(r["ends_on"]), [d["due"] for d in r["report_dues"]])
               for r in rows]
    assert periods[0] == ("341504", "2022-03-22", "2022-04-15", ["2022-04-15"])
    assert periods[1] == ("500243", "2023-05-15", "2023-12-31", ["2023-07-31", "2024-11-30"])
    assert {p[0] for p in periods[2:]} == {"500243", "341504"}
    people = await app.state.db.fetch("SELECT k.id_number_masked, k.id_number_cipher FROM key_persons k "
                                      "WHERE k.jurisdiction_code LIKE '500243%'")
    assert len(people) == 3 and all(p["id_number_masked"].startswith("500") and "*" in p["id_number_masked"]
                                    for p in people)
