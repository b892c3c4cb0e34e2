"""Duty alerts: off post (脱岗) at check-in ingest, uncovered posts from the sweep; each raised and published once."""

from __future__ import annotations

from datetime import timedelta

from domain import alerts
from domain.database import unit_of_work
from tests.factories import make_person, make_tree, offset
from tests.test_duty_support import (
    batch,
    checkin_body,
    hour_ago,
    make_shift,
    make_world,
)

MIN = timedelta(minutes=1)


async def _events(app, kind: str, key: str, value: str) -> int:
    async with unit_of_work(app.state.pool) as db:
        return await db.fetchval(f"SELECT count(*) FROM events WHERE kind = :kind AND payload->>'{key}' = :v", {"kind": kind, "v": value})


async def test_officer_leaving_the_post_raises_one_alert_per_episode(app, client):
    w = await make_world(app, client)
    start = hour_ago(2)
    shift = await make_shift(client, w, start, start + 90 * MIN)
    items = [
        checkin_body(w, start + 1 * MIN, kind="arrive"),
        checkin_body(w, start + 10 * MIN, north_m=300),           # leaves: alert
        checkin_body(w, start + 15 * MIN, north_m=400),           # still away: same episode
        checkin_body(w, start + 20 * MIN, north_m=60, accuracy_m=30),  # uncertain: neither back nor away
        checkin_body(w, start + 25 * MIN),                        # back
        checkin_body(w, start + 30 * MIN, north_m=500),           # leaves again: second alert
    ]
    results = (await batch(client, w.officer, items))["results"]
    assert [r["checkin"]["geofence"] for r in results] == ["inside", "outside", "outside", "uncertain", "inside",
                                                            "outside"]
    r = await client.get("/v1/duty/alerts", headers=w.commander.headers,
                         params={"kind": "off_post", "school_id": w.school["id"]})
    got = r.json()["items"]
    assert [a["checkin_id"] for a in got] == [items[5]["id"], items[1]["id"]]  # newest first
    assert all(a["shift_id"] == shift["id"] and a["officer_id"] == w.officer.id for a in got)
    assert await _events(app, "duty.alert", "shift_id", shift["id"]) == 2
    await batch(client, w.officer, items)  # a replay raises nothing new
    assert await _events(app, "duty.alert", "shift_id", shift["id"]) == 2


async def test_leaving_before_arriving_or_outside_the_shift_raises_nothing(app, client):
    w = await make_world(app, client)
    start = hour_ago(2)
    await make_shift(client, w, start, start + 30 * MIN)
    await batch(client, w.officer, [checkin_body(w, start + MIN, north_m=300),
                                    checkin_body(w, start + 5 * MIN),
                                    checkin_body(w, start + 40 * MIN, north_m=300)])
    r = await client.get("/v1/duty/alerts", headers=w.commander.headers, params={"school_id": w.school["id"]})
    assert r.json()["items"] == []


async def test_sweep_raises_an_uncovered_post_once_and_spares_covered_posts(app, client):
    w = await make_world(app, client)
    covered = (await client.post(f"/v1/schools/{w.school['id']}/posts", headers=w.commander.headers, json={
        "name": "南门", "location": {"type": "Point",
                                    "coordinates": list(offset(w.lon, w.lat, north_m=-60))}})).json()
    start = hour_ago(3 * 24)
    uncovered_shift = await make_shift(client, w, start, start + 90 * MIN)
    await make_shift(client, w, start, start + 90 * MIN, officer=w.officer2, post_id=covered["id"])
    body = checkin_body(w, start + MIN, post_id=covered["id"])
    body["location"]["coordinates"] = covered["location"]["coordinates"]
    assert (await batch(client, w.officer2, [body]))["results"][0]["checkin"]["geofence"] == "inside"

    async def sweep(now):
        async with unit_of_work(app.state.pool) as db:
            return [a for a in await alerts.sweep_uncovered_posts(db, now, grace_s=300)
                    if a["school_id"] is not None and str(a["school_id"]) == w.school["id"]]

    assert await sweep(start + 4 * MIN) == []  # still within the grace
    first = await sweep(start + 6 * MIN)
    assert [str(a["post_id"]) for a in first] == [w.post["id"]]
    assert str(first[0]["shift_id"]) == uncovered_shift["id"]
    assert await sweep(start + 7 * MIN) == []  # once
    assert await sweep(start + 100 * MIN) == []  # after the shift
    assert await _events(app, "duty.alert", "post_id", w.post["id"]) == 1
    listed = (await client.get("/v1/duty/alerts", headers=w.commander.headers,
                               params={"kind": "uncovered_post", "school_id": w.school["id"]})).json()["items"]
    assert [a["post_id"] for a in listed] == [w.post["id"]]
    other = await make_tree(app)
    stranger = await make_person(app, client, role="commander", jurisdiction_code=other.code)
    assert (await client.get("/v1/duty/alerts", headers=stranger.headers,
                             params={"school_id": w.school["id"]})).json()["items"] == []


async def test_a_commander_acknowledges_an_alert_once_and_it_leaves_the_open_list(app, client):
    w = await make_world(app, client)
    start = hour_ago(2)
    await make_shift(client, w, start, start + 90 * MIN)
    items = [checkin_body(w, start + 1 * MIN, kind="arrive"), checkin_body(w, start + 10 * MIN, north_m=300)]
    await batch(client, w.officer, items)
    url = "/v1/duty/alerts"
    (alert,) = (await client.get(url, headers=w.commander.headers, params={"school_id": w.school["id"]})).json()["items"]
    assert alert["acknowledged_at"] is None
    ack = f"{url}/{alert['id']}/acknowledge"
    assert (await client.post(ack, headers=w.officer.headers, json={})).status_code == 403
    stranger = await make_person(app, client, role="commander", jurisdiction_code=(await make_tree(app)).code)
    assert (await client.post(ack, headers=stranger.headers, json={})).status_code == 404
    r = await client.post(ack, headers=w.commander.headers, json={"note": "已电话联系，民警已返岗"})
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["acknowledged_by"] == w.commander.id and done["acknowledgement_note"] == "已电话联系，民警已返岗"
    again = await client.post(ack, headers=w.commander.headers)  # a retry, no body: the first one stands
    assert again.status_code == 200 and again.json() == done
    params = {"school_id": w.school["id"]}
    assert (await client.get(url, headers=w.commander.headers, params={**params, "acknowledged": "false"})
            ).json()["items"] == []
    assert [a["id"] for a in (await client.get(url, headers=w.commander.headers,
                                               params={**params, "acknowledged": "true"})).json()["items"]] \
        == [alert["id"]]
    assert await _events(app, "duty.alert_acknowledged", "id", alert["id"]) == 1
    r = await client.post(ack, headers=w.commander.headers, json={"note": "x" * 501})
    assert r.status_code == 422 and r.json()["errors"][0]["field"].endswith("note")
