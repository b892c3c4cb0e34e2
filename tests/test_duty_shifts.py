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
