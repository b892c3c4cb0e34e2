"""OWASP API1:2023 — object-level authorization on writes: every id named in a write is in the caller's scope.

A foreign id in the path is 404; a foreign id named in the body is 422 naming the field, exactly as an unknown
one (neither tells that the record exists).

Reads were already isolated (every foreign id is 404); these are the writes an attacker tried across
jurisdictions: check-ins naming another county's post or shift, check-ins inside another county's zone,
arrivals for someone else, shifts and posts naming foreign people and places.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from domain.database import unit_of_work
from tests.factories import make_person
from tests.test_duty_support import batch, check_in, checkin_body, hour_ago, make_shift, make_world
from tests.test_incidents_support import arrival_body, report
from tests.test_incidents_support import clock as clock  # noqa: F401  (a fixture)
from tests.test_incidents_support import make_world as make_incident_world


async def _count(app, sql: str, **params) -> int:
    async with unit_of_work(app.state.pool) as db:
        return await db.fetchval(sql, params)


async def test_a_checkin_naming_another_countys_post_is_refused_and_stores_nothing(app, client):
    home, away = await make_world(app, client), await make_world(app, client)
    body = checkin_body(home, hour_ago(0.01), post_id=away.post["id"])
    body["location"]["coordinates"] = list(away.gate)  # standing right at the foreign post
    r = await client.post("/v1/checkins", headers=home.officer.headers, json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "post_id"
    results = (await batch(client, home.officer, [
        {**body, "id": str(uuid.uuid4())}, checkin_body(home, hour_ago(0.01))]))["results"]
    assert [x["status"] for x in results] == ["rejected", "created"]
    assert results[0]["error"]["status"] == 422 and results[0]["error"]["errors"][0]["field"] == "post_id"
    assert await _count(app, "SELECT count(*) FROM checkins WHERE post_id = :p", p=uuid.UUID(away.post["id"])) == 0
    assert await _count(app, "SELECT count(*) FROM events WHERE kind = 'checkin.created' AND jurisdiction_code "
                             "LIKE :c", c=away.tree.code + "%") == 0


async def test_another_officers_shift_is_refused_in_a_batch_too(app, client):
    w = await make_world(app, client)
    start = hour_ago(0.5)
    theirs = await make_shift(client, w, start, start + timedelta(hours=1), officer=w.officer2)
    results = (await batch(client, w.officer, [checkin_body(w, hour_ago(0.01), shift_id=theirs["id"])]))["results"]
    assert results[0]["error"]["status"] == 422
    assert await _count(app, "SELECT count(*) FROM checkins WHERE shift_id = :s", s=uuid.UUID(theirs["id"])) == 0


async def test_a_checkin_inside_another_countys_zone_stays_the_officers_own_record(app, client):
    home, away = await make_world(app, client), await make_world(app, client)
    body = checkin_body(away, hour_ago(0.01), north_m=20)  # in the away school's zone, no post named
    stored = await check_in(client, home.officer, body)
    assert stored["school_id"] == away.school["id"] and stored["in_school_zone"] is True
    assert stored["jurisdiction_code"] == home.officer.jurisdiction_code  # not the away county's record
    assert stored["post_id"] is None and stored["shift_id"] is None
    # Readable by the officer's jurisdiction and by the place's; by nobody else.
    for reader in (home.commander, away.commander, home.officer):
        r = await client.get(f"/v1/checkins/{stored['id']}", headers=reader.headers)
        assert r.status_code == 200, (reader.jurisdiction_code, r.text)
    listed = (await client.get("/v1/checkins", headers=away.commander.headers,
                               params={"school_id": away.school["id"]})).json()["items"]
    assert [c["id"] for c in listed] == [stored["id"]]
    stranger = await make_world(app, client)
    assert (await client.get(f"/v1/checkins/{stored['id']}", headers=stranger.commander.headers)).status_code == 404
    # It never makes the officer a unit of the away county: the unit position stays home.
    code = await _count(app, "SELECT jurisdiction_code FROM unit_positions WHERE officer_id = :o",
                        o=uuid.UUID(home.officer.id))
    assert code == home.officer.jurisdiction_code
    assert await _count(app, "SELECT count(*) FROM events WHERE kind = 'checkin.created' AND jurisdiction_code "
                             "LIKE :c", c=away.tree.code + "%") == 0


async def test_an_officer_in_another_countys_zone_is_never_its_dispatch_candidate(app, client, clock):
    home = await make_incident_world(app, client)
    away = await make_incident_world(app, client)
    lon, lat = away.scene()
    # check-ins are judged against the real clock: pin the incidents' clock to it
    clock.now = datetime.now(UTC)
    body = {"id": str(uuid.uuid4()), "kind": "heartbeat", "recorded_at": clock.now.isoformat(),
            "location": {"type": "Point", "coordinates": [lon, lat]}, "accuracy_m": 5}
    r = await client.post("/v1/checkins", headers=home.officer.headers, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["school_id"] == away.school["id"]
    r = await client.post("/v1/checkins", headers=away.officer.headers, json={**body, "id": str(uuid.uuid4())})
    assert r.status_code == 201, r.text
    inc = await report(client, away, away.commander, clock.at(-30))
    units = (await client.get(f"/v1/incidents/{inc['id']}/nearest-units", headers=away.commander.headers)).json()
    candidates = {u["responder_id"] for u in units}
    assert away.officer.id in candidates  # the away county's own officer, at the same spot, is one
    assert home.officer.id not in candidates


async def test_officers_record_only_their_own_arrivals(app, client, clock):
    w = await make_incident_world(app, client)
    inc = await report(client, w, w.officer, clock.at(-100))
    url = f"/v1/incidents/{inc['id']}/arrivals"
    r = await client.post(url, headers=w.officer.headers, json=arrival_body(inc, w.police, 3, 40))
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "responder_id"
    assert await _count(app, "SELECT count(*) FROM arrivals WHERE incident_id = :i", i=uuid.UUID(inc["id"])) == 0
    own = arrival_body(inc, w.officer, 3, 40)
    own.pop("responder_id")  # the caller by default
    r = await client.post(url, headers=w.officer.headers, json=own)
    assert r.status_code == 201 and r.json()["responder_id"] == w.officer.id


async def test_a_commander_records_for_a_responder_in_scope_and_it_is_audited(app, client, clock):
    w = await make_incident_world(app, client)
    inc = await report(client, w, w.officer, clock.at(-100))
    r = await client.post(f"/v1/incidents/{inc['id']}/arrivals", headers=w.commander.headers,
                          json=arrival_body(inc, w.police, 3, 40))
    assert r.status_code == 201, r.text
    changes = await _count(app, "SELECT changes FROM audit_log WHERE entity = 'arrival' AND entity_id = :id",
                           id=r.json()["id"])
    assert changes["on_behalf_of"] is True and changes["responder_id"] == w.police.id
    stranger = await make_incident_world(app, client)
    r = await client.post(f"/v1/incidents/{inc['id']}/arrivals", headers=w.commander.headers,
                          json=arrival_body(inc, stranger.police, 3, 40))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "responder_id"


async def test_shifts_and_posts_naming_foreign_people_or_places_are_refused(app, client):
    home, away = await make_world(app, client), await make_world(app, client)
    start = hour_ago(-1)
    r = await client.post("/v1/shifts", headers=home.commander.headers, json={
        "officer_id": away.officer.id, "post_id": home.post["id"], "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat()})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "officer_id"
    r = await client.post("/v1/shifts", headers=home.commander.headers, json={
        "officer_id": home.officer.id, "post_id": away.post["id"], "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat()})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "post_id"
    r = await client.post(f"/v1/schools/{away.school['id']}/posts", headers=home.commander.headers, json={
        "name": "x", "location": {"type": "Point", "coordinates": list(away.gate)}})
    assert r.status_code == 404
    assert await _count(app, "SELECT count(*) FROM shifts WHERE officer_id = :o", o=uuid.UUID(away.officer.id)) == 0


async def test_api_keys_only_read(app, client):
    w = await make_world(app, client)
    admin = await make_person(app, client, role="admin", jurisdiction_code=w.tree.code)
    key = (await client.post("/v1/api-keys", headers=admin.headers, json={
        "name": "wall", "jurisdiction_code": w.tree.code, "role": "commander",
        "expires_at": (hour_ago(-24)).isoformat()})).json()["key"]
    assert (await client.get("/v1/schools", headers={"X-API-Key": key})).status_code == 200
    r = await client.post("/v1/incidents", headers={"X-API-Key": key}, json={
        "category": "other", "severity": 1, "source": "patrol", "alarm_at": hour_ago(0.01).isoformat(),
        "location": {"type": "Point", "coordinates": list(w.gate)}})
    assert r.status_code == 403
    assert await _count(app, "SELECT count(*) FROM incidents WHERE jurisdiction_code LIKE :c",
                        c=w.tree.code + "%") == 0
