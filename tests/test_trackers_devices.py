"""Tracker devices: admins register Traccar Client devices to officers of their jurisdictions; identifiers are
unique; other counties neither see nor use them."""

from __future__ import annotations

import re

from tests.factories import make_person, make_tree
from tests.test_duty_support import make_world


async def test_register_list_reassign_and_remove_a_device(app, client):
    w = await make_world(app, client)
    admin = await make_person(app, client, role="admin", jurisdiction_code=w.tree.code)
    r = await client.post("/v1/devices", headers=admin.headers, json={"officer_id": w.officer.id})
    assert r.status_code == 201, r.text
    device = r.json()
    assert re.fullmatch(r"[0-9a-f]{20}", device["identifier"])  # generated: not guessable
    assert device["officer_id"] == w.officer.id and device["jurisdiction_code"] == w.tree.station_a
    assert device["active"] is True and device["last_seen_at"] is None and device["positions_received"] == 0
    r = await client.post("/v1/devices", headers=admin.headers,
                          json={"officer_id": w.officer2.id, "identifier": "48241179", "name": "二号机"})
    assert r.status_code == 201
    second = r.json()
    r = await client.post("/v1/devices", headers=admin.headers,
                          json={"officer_id": w.officer.id, "identifier": "48241179"})
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "identifier"
    listed = (await client.get("/v1/devices", headers=admin.headers)).json()["items"]
    assert sorted(d["id"] for d in listed) == sorted([device["id"], second["id"]])
    mine = (await client.get("/v1/devices", headers=admin.headers, params={"officer_id": w.officer2.id})).json()
    assert [d["identifier"] for d in mine["items"]] == ["48241179"]
    r = await client.patch(f"/v1/devices/{second['id']}", headers=admin.headers,
                           json={"officer_id": w.officer.id, "name": "换人"})
    assert r.status_code == 200 and r.json()["officer_id"] == w.officer.id and r.json()["name"] == "换人"
    inactive = await client.patch(f"/v1/devices/{second['id']}", headers=admin.headers, json={"active": False})
    assert inactive.json()["active"] is False
    only_active = (await client.get("/v1/devices", headers=admin.headers, params={"active": True})).json()
    assert [d["id"] for d in only_active["items"]] == [device["id"]]
    assert (await client.delete(f"/v1/devices/{second['id']}", headers=admin.headers)).status_code == 204
    assert (await client.get(f"/v1/devices/{second['id']}", headers=admin.headers)).status_code == 404
    page = (await client.get("/v1/devices", headers=admin.headers, params={"limit": 1})).json()
    assert len(page["items"]) == 1


async def test_other_counties_neither_see_nor_assign_devices(app, client):
    w = await make_world(app, client)
    admin = await make_person(app, client, role="admin", jurisdiction_code=w.tree.code)
    device = (await client.post("/v1/devices", headers=admin.headers, json={"officer_id": w.officer.id})).json()
    other = await make_tree(app)
    stranger = await make_person(app, client, role="admin", jurisdiction_code=other.code)
    assert (await client.get(f"/v1/devices/{device['id']}", headers=stranger.headers)).status_code == 404
    assert (await client.patch(f"/v1/devices/{device['id']}", headers=stranger.headers,
                               json={"name": "x"})).status_code == 404
    assert (await client.delete(f"/v1/devices/{device['id']}", headers=stranger.headers)).status_code == 404
    assert (await client.get("/v1/devices", headers=stranger.headers)).json()["items"] == []
    # an officer of another county cannot be given a device, nor can this county's device go to one
    r = await client.post("/v1/devices", headers=stranger.headers, json={"officer_id": w.officer.id})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "officer_id"
    foreign = await make_person(app, client, role="officer", jurisdiction_code=other.code)
    r = await client.patch(f"/v1/devices/{device['id']}", headers=admin.headers, json={"officer_id": foreign.id})
    assert r.status_code == 422
    # a station admin sees only its station's devices
    station_admin = await make_person(app, client, role="admin", jurisdiction_code=w.tree.station_b)
    assert (await client.get(f"/v1/devices/{device['id']}", headers=station_admin.headers)).status_code == 404


async def test_only_admins_manage_devices(app, client):
    w = await make_world(app, client)
    admin = await make_person(app, client, role="admin", jurisdiction_code=w.tree.code)
    device = (await client.post("/v1/devices", headers=admin.headers, json={"officer_id": w.officer.id})).json()
    for person in (w.commander, w.officer):
        assert (await client.get(f"/v1/devices/{device['id']}", headers=person.headers)).status_code == 403
        assert (await client.get("/v1/devices/unknown", headers=person.headers)).status_code == 403
    r = await client.post("/v1/devices", headers=admin.headers,
                          json={"officer_id": w.officer.id, "identifier": "with space"})
    assert r.status_code == 422
