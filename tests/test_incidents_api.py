"""Incidents: reporting with the zone decision, idempotency, bad input, status lifecycle, scope, lists."""
# ruff: noqa: F811  (the `clock` fixture is imported from tests/test_incidents_support.py)

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from tests.factories import offset
from tests.test_incidents_support import (  # noqa: F401  (clock is a fixture)
    clock,
    count,
    incident_body,
    make_world,
    point,
    report,
)


async def test_incident_near_a_school_is_placed_in_its_zone_at_once(app, client, clock):
    w = await make_world(app, client)
    inc = await report(client, w, w.commander, clock.at(-30))
    assert inc["in_zone"] is True
    assert inc["zone_school_ids"] == [w.school["id"]]
    assert inc["nearest_school"]["school_id"] == w.school["id"]
    assert 35 < inc["nearest_school"]["distance_m"] < 45  # 100 m north of the centre, 60 m to the edge
    assert inc["jurisdiction_code"] == w.tree.station_a  # the zone school's, not the county commander's own
    assert inc["status"] == "open"
    assert inc["score"] == {"policy": "1-3-5@v1", "compliant": None, "tiers": [
        {"tier": 1, "limit_s": 60, "elapsed_s": None, "state": "pending"},
        {"tier": 2, "limit_s": 180, "elapsed_s": None, "state": "pending"},
        {"tier": 3, "limit_s": 300, "elapsed_s": None, "state": "pending"}]}
    stored = await count(app, "SELECT count(*) FROM incident_scores WHERE incident_id = :id", id=uuid.UUID(inc["id"]))
    assert stored == 1
    events = await count(app, "SELECT count(*) FROM events WHERE kind = 'incident.created' "
                              "AND payload->>'id' = :id", id=inc["id"])
    assert events == 1


async def test_point_199m_from_campus_edge_is_in_zone_and_201m_is_not(app, client, clock):
    w = await make_world(app, client)
    inside = await report(client, w, w.commander, clock.at(-10), where=w.scene(north_m=60 + 199))
    outside = await report(client, w, w.commander, clock.at(-10), where=w.scene(north_m=60 + 201))
    assert inside["in_zone"] is True and outside["in_zone"] is False
    assert outside["zone_school_ids"] == []
    assert outside["nearest_school"]["school_id"] == w.school["id"]
    assert 200 < outside["nearest_school"]["distance_m"] < 202


async def test_incident_outside_every_zone_belongs_to_the_reporter(app, client, clock):
    w = await make_world(app, client)
    inc = await report(client, w, w.commander, clock.at(-10), where=w.scene(north_m=3000))
    assert inc["in_zone"] is False and inc["jurisdiction_code"] == w.tree.code
    far = await report(client, w, w.commander, clock.at(-10), where=offset(w.lon, w.lat, east_m=30_000))
    assert far["nearest_school"] is None


async def test_explicit_jurisdiction_must_be_in_scope(app, client, clock):
    w = await make_world(app, client)
    inc = await report(client, w, w.commander, clock.at(-10), jurisdiction_code=w.tree.station_b)
    assert inc["jurisdiction_code"] == w.tree.station_b and inc["in_zone"] is True
    r = await client.post("/v1/incidents", headers=w.officer.headers,
                          json=incident_body(w, clock.at(-10), jurisdiction_code=w.tree.station_b))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "jurisdiction_code"


async def test_gcj02_scene_is_stored_as_wgs84(app, client, clock):
    from geo.crs import from_wgs84

    w = await make_world(app, client)
    lon, lat = w.scene()
    gcj = from_wgs84(lon, lat, "gcj02")
    inc = await report(client, w, w.officer, clock.at(-5), where=gcj, crs="gcj02")
    stored = inc["location"]["coordinates"]
    assert abs(stored[0] - lon) < 1e-5 and abs(stored[1] - lat) < 1e-5 and inc["in_zone"]


async def test_replayed_incident_returns_original_answer(app, client, clock):
    w = await make_world(app, client)
    body = incident_body(w, clock.at(-20), id=str(uuid.uuid4()))
    first = await client.post("/v1/incidents", headers=w.officer.headers, json=body)
    again = await client.post("/v1/incidents", headers=w.officer.headers, json=body)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()
    changed = await client.post("/v1/incidents", headers=w.officer.headers, json={**body, "severity": 4})
    assert changed.status_code == 409 and changed.json()["errors"][0]["field"] == "id"
    n = await count(app, "SELECT count(*) FROM incidents WHERE id = :id", id=uuid.UUID(body["id"]))
    events = await count(app, "SELECT count(*) FROM events WHERE payload->>'id' = :id", id=body["id"])
    assert n == 1 and events == 1


async def test_concurrent_replays_of_one_incident_create_it_once(app, client, clock):
    w = await make_world(app, client)
    body = incident_body(w, clock.at(-20), id=str(uuid.uuid4()))
    answers = await asyncio.gather(*[client.post("/v1/incidents", headers=w.officer.headers, json=body)
                                     for _ in range(6)])
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert await count(app, "SELECT count(*) FROM incidents WHERE id = :id", id=uuid.UUID(body["id"])) == 1
    assert await count(app, "SELECT count(*) FROM events WHERE payload->>'id' = :id", id=body["id"]) == 1


@pytest.mark.parametrize("bad,field", [
    ({"category": "alien_landing"}, "category"),
    ({"severity": 5}, "severity"),
    ({"severity": 0}, "severity"),
    ({"source": "pigeon"}, "source"),
    ({"crs": "mars"}, "crs"),
    ({"location": point(200, 29)}, "location.coordinates"),
    ({"alarm_at": "2026-09-01T07:30:00"}, "alarm_at"),
    ({"id": "not-a-uuid"}, "id"),
    ({"jurisdiction_code": "nowhere"}, "jurisdiction_code"),
])
async def test_bad_incident_is_422_naming_the_field_and_writes_nothing(app, client, clock, bad, field):
    w = await make_world(app, client)
    r = await client.post("/v1/incidents", headers=w.officer.headers, json=incident_body(w, clock.at(-5), **bad))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert any(e["field"].startswith(field) for e in r.json()["errors"]), r.json()
    assert await count(app, "SELECT count(*) FROM incidents WHERE jurisdiction_code LIKE :c || '%'",
                       c=w.tree.code) == 0


async def test_alarm_in_the_future_beyond_tolerance_is_refused(app, client, clock):
    w = await make_world(app, client)
    r = await client.post("/v1/incidents", headers=w.officer.headers, json=incident_body(w, clock.at(121)))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "alarm_at"
    ok = await client.post("/v1/incidents", headers=w.officer.headers, json=incident_body(w, clock.at(119)))
    assert ok.status_code == 201


async def test_viewer_cannot_report(app, client, clock):
    from tests.factories import make_person

    w = await make_world(app, client)
    viewer = await make_person(app, client, role="viewer", jurisdiction_code=w.tree.code)
    r = await client.post("/v1/incidents", headers=viewer.headers, json=incident_body(w, clock.at(-5)))
    assert r.status_code == 403


async def test_status_moves_forward_with_a_timestamp_per_transition(app, client, clock):
    w = await make_world(app, client)
    inc = await report(client, w, w.officer, clock.at(-30))
    url = f"/v1/incidents/{inc['id']}"
    for status in ("dispatched", "on_scene", "controlled", "closed"):
        clock.now = clock.at(60)
        r = await client.patch(url, headers=w.commander.headers, json={"status": status})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == status
        assert r.json()[f"{status}_at"] is not None
    got = (await client.get(url, headers=w.commander.headers)).json()
    stamps = [got[f"{s}_at"] for s in ("dispatched", "on_scene", "controlled", "closed")]
    assert stamps == sorted(stamps)
    assert (await client.patch(url, headers=w.commander.headers, json={"status": "controlled"})).status_code == 409
    assert (await client.patch(url, headers=w.commander.headers, json={"description": "x"})).status_code == 409
    same = await client.patch(url, headers=w.commander.headers, json={"status": "closed"})
    assert same.status_code == 200 and same.json()["closed_at"] == got["closed_at"]


async def test_status_may_skip_forward_but_never_go_back(app, client, clock):
    w = await make_world(app, client)
    inc = await report(client, w, w.officer, clock.at(-30))
    url = f"/v1/incidents/{inc['id']}"
    r = await client.patch(url, headers=w.commander.headers, json={"status": "controlled"})
    assert r.status_code == 200 and r.json()["dispatched_at"] is None and r.json()["controlled_at"] is not None
    back = await client.patch(url, headers=w.commander.headers, json={"status": "dispatched"})
    assert back.status_code == 409 and back.json()["errors"][0]["field"] == "status"
    bad = await client.patch(url, headers=w.commander.headers, json={"status": "solved"})
    assert bad.status_code == 422
    officer = await client.patch(url, headers=w.officer.headers, json={"status": "closed"})
    assert officer.status_code == 403
    desc = await client.patch(url, headers=w.commander.headers, json={"description": "已处置"})
    assert desc.status_code == 200 and desc.json()["description"] == "已处置"
    updates = await count(app, "SELECT count(*) FROM events WHERE kind = 'incident.updated' AND payload->>'id' = :id",
                          id=inc["id"])
    assert updates == 2


async def test_incident_outside_callers_jurisdiction_is_404(app, client, clock):
    w = await make_world(app, client)
    inc = await report(client, w, w.officer, clock.at(-30))
    for path in ("", "/score", "/nearest-units", "/arrivals"):
        r = await client.get(f"/v1/incidents/{inc['id']}{path}", headers=w.outsider.headers)
        assert r.status_code == 404, path
    assert (await client.get(f"/v1/incidents/{inc['id']}", headers=w.commander.headers)).status_code == 200
    r = await client.patch(f"/v1/incidents/{inc['id']}", headers=w.commander.headers, json={"status": "dispatched"})
    assert r.status_code == 200
    listed = (await client.get("/v1/incidents", headers=w.outsider.headers)).json()["items"]
    assert inc["id"] not in {i["id"] for i in listed}


async def test_list_filters_page_and_geojson(app, client, clock):
    w = await make_world(app, client)
    a = await report(client, w, w.officer, clock.at(-3600), category="bullying")
    b = await report(client, w, w.officer, clock.at(-1800), where=w.scene(north_m=2000), category="traffic")
    c = await report(client, w, w.officer, clock.at(-60), category="bullying")
    await client.patch(f"/v1/incidents/{c['id']}", headers=w.commander.headers, json={"status": "dispatched"})
    h = w.commander.headers
    base = {"jurisdiction_code": w.tree.code}

    async def ids(**params):
        r = await client.get("/v1/incidents", headers=h, params={**base, **params})
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert await ids() == [c["id"], b["id"], a["id"]]  # newest alarm first
    assert await ids(school_id=w.school["id"]) == [c["id"], a["id"]]
    assert await ids(in_zone="false") == [b["id"]]
    assert await ids(category="bullying") == [c["id"], a["id"]]
    assert await ids(status="dispatched") == [c["id"]]
    assert await ids(**{"from": clock.at(-2000).isoformat(), "to": clock.at(-100).isoformat()}) == [b["id"]]
    lon, lat = w.scene(north_m=2000)
    assert await ids(near=f"{lon},{lat}", radius_m=50) == [b["id"]]
    w_, s_ = offset(w.lon, w.lat, east_m=-500, north_m=-500)
    e_, n_ = offset(w.lon, w.lat, east_m=500, north_m=500)
    assert await ids(bbox=f"{w_},{s_},{e_},{n_}") == [c["id"], a["id"]]
    first = (await client.get("/v1/incidents", headers=h, params={**base, "limit": 2})).json()
    assert [i["id"] for i in first["items"]] == [c["id"], b["id"]] and first["next_cursor"]
    second = (await client.get("/v1/incidents", headers=h,
                               params={**base, "limit": 2, "cursor": first["next_cursor"]})).json()
    assert [i["id"] for i in second["items"]] == [a["id"]] and second["next_cursor"] is None
    fc = (await client.get("/v1/incidents", headers=h, params={**base, "format": "geojson"})).json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 3
    f0 = fc["features"][0]
    assert f0["geometry"]["type"] == "Point" and f0["id"] == c["id"]
    assert f0["properties"]["status"] == "dispatched" and f0["properties"]["score"]["policy"] == "1-3-5@v1"
    bad = await client.get("/v1/incidents", headers=h, params={"near": f"{lon},{lat}"})
    assert bad.status_code == 422
    assert (await client.get("/v1/incidents", headers=h, params={"cursor": "garbage"})).status_code == 422


async def test_listed_score_turns_pending_into_missed_as_time_passes(app, client, clock):
    w = await make_world(app, client)
    inc = await report(client, w, w.officer, clock.at(-10))
    clock.now = clock.at(200)
    listed = (await client.get("/v1/incidents", headers=w.officer.headers,
                               params={"jurisdiction_code": w.tree.station_a})).json()["items"]
    score = next(i for i in listed if i["id"] == inc["id"])["score"]
    assert [t["state"] for t in score["tiers"]] == ["missed", "missed", "pending"]
    assert score["compliant"] is False
    clock.now = clock.at(timedelta(hours=1).total_seconds())
    got = (await client.get(f"/v1/incidents/{inc['id']}", headers=w.officer.headers)).json()
    assert [t["state"] for t in got["score"]["tiers"]] == ["missed"] * 3
