"""Shifts: one by one, generated from the windows (school days only, local time, idempotent), and the phone's view."""

from __future__ import annotations

import uuid

from tests.factories import make_person, make_tree
from tests.test_duty_support import make_world

MONDAY, SUNDAY = "2026-12-07", "2026-12-13"


async def _generate(client, w, officers, **over):
    body = {"post_ids": [w.post["id"]], "officer_ids": [o.id for o in officers], "from": MONDAY, "to": SUNDAY}
    body.update(over)
    r = await client.post("/v1/shifts/generate", headers=w.commander.headers, json=body)
    assert r.status_code == 200, r.text
    return r.json()


async def test_generate_skips_weekends_and_non_school_days_and_is_idempotent(app, client):
    w = await make_world(app, client)
    await client.post(f"/v1/jurisdictions/{w.tree.code}/non-school-days", headers=w.commander.headers,
                      json={"day": "2026-12-09", "reason": "停课"})
    first = await _generate(client, w, [w.officer, w.officer2])
    assert first["created"] == 2 * 4 * 3 and first["existing"] == 0  # Mon, Tue, Thu, Fri × 3 windows
    again = await _generate(client, w, [w.officer, w.officer2])
    assert again["created"] == 0 and again["existing"] == 24
    listed = await client.get("/v1/shifts", headers=w.commander.headers,
                              params={"post_id": w.post["id"], "limit": 1000})
    assert len(listed.json()["items"]) == 24
    morning = await _generate(client, w, [w.officer], windows=["morning"], **{"from": "2026-12-14", "to": "2026-12-14"})
    assert morning["created"] == 1


async def test_generated_shifts_follow_the_school_windows_in_local_time(app, client):
    w = await make_world(app, client)
    await client.put(f"/v1/schools/{w.school['id']}/duty-windows", headers=w.commander.headers, json={"windows": [
        {"name": "weekend", "starts_local": "09:00", "ends_local": "10:00", "weekdays": [6, 7]}]})
    await _generate(client, w, [w.officer])
    items = (await client.get("/v1/shifts", headers=w.officer.headers)).json()["items"]
    assert [(s["starts_at"], s["ends_at"], s["window_name"]) for s in items] == [
        ("2026-12-12T01:00:00Z", "2026-12-12T02:00:00Z", "weekend"),
        ("2026-12-13T01:00:00Z", "2026-12-13T02:00:00Z", "weekend"),
    ]


async def test_morning_window_in_shanghai_crosses_utc_midnight(app, client):
    w = await make_world(app, client)
    await _generate(client, w, [w.officer], **{"from": MONDAY, "to": MONDAY})
    r = await client.get("/v1/me/shifts", headers=w.officer.headers, params={"date": MONDAY})
    assert r.status_code == 200
    shifts = r.json()["items"]
    assert [s["window"]["name"] for s in shifts] == ["morning", "noon", "afternoon"]
    morning = shifts[0]
    assert morning["starts_at"] == "2026-12-06T23:00:00Z" and morning["ends_at"] == "2026-12-07T00:30:00Z"
    assert morning["window"] == {"name": "morning", "starts_local": "07:00:00", "ends_local": "08:30:00",
                                 "time_zone": "Asia/Shanghai"}
    assert morning["post"]["id"] == w.post["id"] and morning["school"]["id"] == w.school["id"]
    assert morning["geofence"]["radius_m"] == 50
    assert morning["geofence"]["center"]["coordinates"] == w.post["location"]["coordinates"]
    # the UTC date of the morning shift (6 Dec) is not its local date
    prev = await client.get("/v1/me/shifts", headers=w.officer.headers, params={"date": "2026-12-06"})
    assert prev.json()["items"] == []


async def test_windows_in_another_time_zone(app, client):
    w = await make_world(app, client, time_zone="America/New_York")
    await _generate(client, w, [w.officer], **{"from": MONDAY, "to": MONDAY})
    shifts = (await client.get("/v1/me/shifts", headers=w.officer.headers, params={"date": MONDAY})).json()["items"]
    assert [s["starts_at"] for s in shifts] == ["2026-12-07T12:00:00Z", "2026-12-07T16:30:00Z",
                                                "2026-12-07T21:00:00Z"]
    assert shifts[2]["ends_at"] == "2026-12-07T23:00:00Z"


async def test_shift_needs_an_officer_and_a_post_in_scope(app, client):
    w = await make_world(app, client)
    other = await make_tree(app)
    outsider = await make_person(app, client, role="officer", jurisdiction_code=other.code)
    body = {"officer_id": w.officer.id, "post_id": w.post["id"], "starts_at": "2026-12-07T07:00:00+08:00",
            "ends_at": "2026-12-07T08:30:00+08:00"}
    r = await client.post("/v1/shifts", headers=w.commander.headers, json={**body, "officer_id": outsider.id})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "officer_id"
    r = await client.post("/v1/shifts", headers=w.commander.headers, json={**body, "post_id": str(uuid.uuid4())})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "post_id"
    r = await client.post("/v1/shifts", headers=w.commander.headers, json={**body, "ends_at": body["starts_at"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "ends_at"
    r = await client.post("/v1/shifts", headers=w.commander.headers, json=body)
    assert r.status_code == 201 and r.json()["starts_at"] == "2026-12-06T23:00:00Z"
    r = await client.post("/v1/shifts", headers=w.commander.headers, json=body)
    assert r.status_code == 409
    r = await client.post("/v1/shifts", headers=w.officer.headers, json=body)
    assert r.status_code == 403
    stranger = await make_person(app, client, role="commander", jurisdiction_code=other.code)
    r = await client.post("/v1/shifts", headers=stranger.headers, json={**body, "officer_id": outsider.id})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "post_id"
    r = await client.post("/v1/shifts/generate", headers=w.commander.headers, json={
        "post_ids": [w.post["id"]], "officer_ids": [outsider.id], "from": MONDAY, "to": MONDAY})
    assert r.status_code == 422


async def test_officers_see_only_their_own_shifts(app, client):
    w = await make_world(app, client)
    await _generate(client, w, [w.officer, w.officer2], **{"from": MONDAY, "to": MONDAY})
    mine = (await client.get("/v1/shifts", headers=w.officer.headers)).json()["items"]
    assert len(mine) == 3 and {s["officer_id"] for s in mine} == {w.officer.id}
    everyone = (await client.get("/v1/shifts", headers=w.commander.headers,
                                 params={"school_id": w.school["id"], "limit": 2})).json()
    assert len(everyone["items"]) == 2 and everyone["next_cursor"]
    rest = (await client.get("/v1/shifts", headers=w.commander.headers,
                             params={"school_id": w.school["id"], "cursor": everyone["next_cursor"]})).json()
    assert len(rest["items"]) == 4
    one = mine[0]
    assert (await client.get(f"/v1/shifts/{one['id']}", headers=w.officer2.headers)).status_code == 200
    other = await make_tree(app)
    stranger = await make_person(app, client, role="commander", jurisdiction_code=other.code)
    assert (await client.get(f"/v1/shifts/{one['id']}", headers=stranger.headers)).status_code == 404


def _span(day: str, start: str, end: str) -> dict:
    return {"starts_at": f"{day}T{start}:00+08:00", "ends_at": f"{day}T{end}:00+08:00"}


async def test_an_officer_cannot_stand_at_two_posts_at_once(app, client):
    w = await make_world(app, client)
    second = await client.post(f"/v1/schools/{w.school['id']}/posts", headers=w.commander.headers, json={
        "name": "南门", "location": {"type": "Point", "coordinates": [w.lon, w.lat]}})
    body = {"officer_id": w.officer.id, "post_id": w.post["id"], **_span(MONDAY, "07:00", "08:30")}
    first = await client.post("/v1/shifts", headers=w.commander.headers, json=body)
    assert first.status_code == 201
    r = await client.post("/v1/shifts", headers=w.commander.headers,
                          json={**body, "post_id": second.json()["id"], **_span(MONDAY, "08:00", "09:00")})
    assert r.status_code == 409 and first.json()["id"] in r.json()["detail"]
    assert r.json()["errors"][0]["field"] == "starts_at"
    touching = await client.post("/v1/shifts", headers=w.commander.headers,
                                 json={**body, "post_id": second.json()["id"], **_span(MONDAY, "08:30", "09:00")})
    assert touching.status_code == 201  # one ends as the next begins
    other_officer = await client.post("/v1/shifts", headers=w.commander.headers,
                                      json={**body, "officer_id": w.officer2.id})
    assert other_officer.status_code == 201


async def test_generate_gives_an_officer_of_two_posts_only_the_first_and_reports_it(app, client):
    w = await make_world(app, client)
    second = (await client.post(f"/v1/schools/{w.school['id']}/posts", headers=w.commander.headers, json={
        "name": "南门", "location": {"type": "Point", "coordinates": [w.lon, w.lat]}})).json()
    body = {"assignments": {w.post["id"]: [w.officer.id], second["id"]: [w.officer.id, w.officer2.id]},
            "from": MONDAY, "to": MONDAY}
    r = await client.post("/v1/shifts/generate", headers=w.commander.headers, json=body)
    assert r.status_code == 200, r.text
    assert r.json() | {"created_ids": None} == {"planned": 9, "created": 6, "existing": 0, "overlapping": 3,
                                               "created_ids": None}
    again = (await client.post("/v1/shifts/generate", headers=w.commander.headers, json=body)).json()
    assert (again["created"], again["existing"], again["overlapping"]) == (0, 6, 3)
    mine = (await client.get("/v1/shifts", headers=w.officer.headers)).json()["items"]
    assert len(mine) == 3 and len({s["post_id"] for s in mine}) == 1


async def test_a_shift_to_come_can_be_moved_reassigned_or_cancelled(app, client):
    w = await make_world(app, client)
    shift = (await client.post("/v1/shifts", headers=w.commander.headers, json={
        "officer_id": w.officer.id, "post_id": w.post["id"], **_span(MONDAY, "07:00", "08:30")})).json()
    r = await client.patch(f"/v1/shifts/{shift['id']}", headers=w.commander.headers,
                           json={"officer_id": w.officer2.id, **_span(MONDAY, "07:15", "08:45")})
    assert r.status_code == 200, r.text
    assert (r.json()["officer_id"], r.json()["starts_at"]) == (w.officer2.id, "2026-12-06T23:15:00Z")
    assert (await client.get("/v1/shifts", headers=w.officer.headers)).json()["items"] == []
    bad = await client.patch(f"/v1/shifts/{shift['id']}", headers=w.commander.headers,
                             json={"ends_at": "2026-12-07T07:00:00+08:00"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "ends_at"
    bad = await client.patch(f"/v1/shifts/{shift['id']}", headers=w.commander.headers, json={"post_id": None})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "post_id"
    assert (await client.patch(f"/v1/shifts/{shift['id']}", headers=w.officer2.headers,
                               json={"window_name": "x"})).status_code == 403
    assert (await client.delete(f"/v1/shifts/{shift['id']}", headers=w.commander.headers)).status_code == 204
    assert (await client.get(f"/v1/shifts/{shift['id']}", headers=w.commander.headers)).status_code == 404
    assert (await client.delete(f"/v1/shifts/{shift['id']}", headers=w.commander.headers)).status_code == 404


async def test_a_shift_that_has_begun_is_history(app, client):
    from tests.test_duty_support import hour_ago, make_shift

    w = await make_world(app, client)
    begun = await make_shift(client, w, hour_ago(1), hour_ago(-1))
    r = await client.patch(f"/v1/shifts/{begun['id']}", headers=w.commander.headers, json={"window_name": "x"})
    assert r.status_code == 409
    assert (await client.delete(f"/v1/shifts/{begun['id']}", headers=w.commander.headers)).status_code == 409
    future = await make_shift(client, w, hour_ago(-3), hour_ago(-4))
    r = await client.patch(f"/v1/shifts/{future['id']}", headers=w.commander.headers,
                           json={"starts_at": hour_ago(0.5).isoformat()})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "starts_at"
    other = await make_tree(app)
    stranger = await make_person(app, client, role="commander", jurisdiction_code=other.code)
    assert (await client.delete(f"/v1/shifts/{future['id']}", headers=stranger.headers)).status_code == 404
