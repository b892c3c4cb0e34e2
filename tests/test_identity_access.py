"""Users, roles, jurisdiction scoping, API keys and the audit log."""

from __future__ import annotations

from tests.factories import make_person, make_tree


async def test_admin_creates_user_and_the_password_is_never_returned(app, client):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    r = await client.post("/v1/users", headers=admin.headers, json={
        "username": "Zhang.San", "display_name": "张三", "role": "officer", "jurisdiction_code": tree.station_a,
        "password": "a-long-password", "unit_type": "auxiliary"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["username"] == "zhang.san"
    assert "password" not in body and "password_hash" not in body
    login = await client.post("/v1/auth/token", data={"username": "zhang.san", "password": "a-long-password"})
    assert login.status_code == 200
    # clean up the fixed username so the suite can run twice on one database
    await client.delete(f"/v1/users/{body['id']}", headers=admin.headers)


async def test_invalid_username_is_422_naming_the_field(app, client):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    r = await client.post("/v1/users", headers=admin.headers, json={
        "username": "no spaces!", "display_name": "x", "role": "officer", "jurisdiction_code": tree.station_a,
        "password": "a-long-password"})
    assert r.status_code == 422
    assert any(e["field"] == "username" for e in r.json()["errors"])


async def test_officer_cannot_create_users(app, client):
    tree = await make_tree(app)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    r = await client.post("/v1/users", headers=officer.headers, json={
        "username": "sneaky", "display_name": "x", "role": "admin", "jurisdiction_code": tree.code,
        "password": "a-long-password"})
    assert r.status_code == 403


async def test_user_cannot_set_own_role_or_jurisdiction(app, client):
    tree = await make_tree(app)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    r = await client.patch("/v1/me", headers=officer.headers, json={"role": "admin"})
    assert r.status_code == 422
    r = await client.patch(f"/v1/users/{officer.id}", headers=officer.headers,
                           json={"role": "admin", "jurisdiction_code": tree.code})
    assert r.status_code == 403
    me = (await client.get("/v1/me", headers=officer.headers)).json()
    assert me["role"] == "officer" and me["jurisdiction_code"] == tree.station_a


async def test_admin_cannot_change_own_role(app, client):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.station_a)
    r = await client.patch(f"/v1/users/{admin.id}", headers=admin.headers, json={"jurisdiction_code": tree.code})
    assert r.status_code == 403


async def test_user_can_change_own_display_name(app, client):
    tree = await make_tree(app)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    r = await client.patch("/v1/me", headers=officer.headers, json={"display_name": "李四"})
    assert r.status_code == 200 and r.json()["display_name"] == "李四"


async def test_record_of_another_station_is_404_not_403(app, client):
    tree = await make_tree(app)
    admin_a = await make_person(app, client, role="admin", jurisdiction_code=tree.station_a)
    officer_b = await make_person(app, client, role="officer", jurisdiction_code=tree.station_b)
    r = await client.get(f"/v1/users/{officer_b.id}", headers=admin_a.headers)
    assert r.status_code == 404
    assert (await client.get(f"/v1/jurisdictions/{tree.station_b}", headers=admin_a.headers)).status_code == 404
    assert (await client.get(f"/v1/jurisdictions/{tree.station_a}", headers=admin_a.headers)).status_code == 200


async def test_county_admin_sees_both_stations(app, client):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    r = await client.get(f"/v1/jurisdictions/{tree.code}/subtree", headers=admin.headers)
    assert [j["code"] for j in r.json()["items"]] == [tree.code, tree.station_a, tree.station_b]


async def test_deactivated_user_stops_working_at_once(app, client):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    assert (await client.get("/v1/me", headers=officer.headers)).status_code == 200
    assert (await client.delete(f"/v1/users/{officer.id}", headers=admin.headers)).status_code == 200
    assert (await client.get("/v1/me", headers=officer.headers)).status_code == 401
    assert (await client.post("/v1/auth/refresh", json={"refresh_token": officer.refresh_token})).status_code == 401


async def test_jurisdiction_create_validates_code_and_parent_scope(app, client):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.station_a)
    bad = await client.post("/v1/jurisdictions", headers=admin.headers,
                            json={"code": "a-b c", "name": "x", "level": "station", "parent_code": tree.station_a})
    assert bad.status_code == 422
    outside = await client.post("/v1/jurisdictions", headers=admin.headers,
                                json={"code": tree.station_b + "X", "name": "x", "level": "station",
                                      "parent_code": tree.station_b})
    assert outside.status_code == 422
    assert outside.json()["errors"][0]["field"] == "parent_code"
    ok = await client.post("/v1/jurisdictions", headers=admin.headers,
                           json={"code": tree.station_a + "P1", "name": "Post 1", "level": "other",
                                 "parent_code": tree.station_a})
    assert ok.status_code == 201
    assert ok.json()["path"].endswith(f"{tree.station_a}.{tree.station_a}P1")
    dup = await client.post("/v1/jurisdictions", headers=admin.headers,
                            json={"code": tree.station_a + "P1", "name": "Post 1", "level": "other",
                                  "parent_code": tree.station_a})
    assert dup.status_code == 409


async def test_api_key_reads_its_jurisdiction_and_revocation_stops_it_at_once(app, client):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    r = await client.post("/v1/api-keys", headers=admin.headers,
                          json={"name": "big screen", "jurisdiction_code": tree.station_a})
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    listed = (await client.get("/v1/api-keys", headers=admin.headers)).json()["items"]
    assert all("key" not in k for k in listed)
    assert r.json()["prefix"] in [k["prefix"] for k in listed]
    h = {"X-API-Key": key}
    assert (await client.get(f"/v1/jurisdictions/{tree.station_a}", headers=h)).status_code == 200
    assert (await client.get(f"/v1/jurisdictions/{tree.station_b}", headers=h)).status_code == 404
    assert (await client.delete(f"/v1/api-keys/{r.json()['id']}", headers=admin.headers)).status_code == 200
    assert (await client.get(f"/v1/jurisdictions/{tree.station_a}", headers=h)).status_code == 401


async def test_viewer_key_cannot_write(app, client):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    key = (await client.post("/v1/api-keys", headers=admin.headers,
                             json={"name": "dash", "jurisdiction_code": tree.code})).json()["key"]
    r = await client.post("/v1/jurisdictions", headers={"X-API-Key": key},
                          json={"code": tree.code + "Z", "name": "x", "level": "station", "parent_code": tree.code})
    assert r.status_code == 403


async def test_unknown_api_key_is_401(client):
    assert (await client.get("/v1/me", headers={"X-API-Key": "hx_deadbeef_nope"})).status_code == 401


async def test_writes_are_in_the_audit_log_with_the_request_id(app, client):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    r = await client.post("/v1/api-keys", headers={**admin.headers, "X-Request-ID": "audit-me-1"},
                          json={"name": "dash", "jurisdiction_code": tree.code})
    key_id = r.json()["id"]
    log = (await client.get(f"/v1/audit?entity=api_key&entity_id={key_id}", headers=admin.headers)).json()
    assert len(log["items"]) == 1
    entry = log["items"][0]
    assert entry["action"] == "create" and entry["actor_id"] == admin.id and entry["request_id"] == "audit-me-1"


async def test_audit_is_for_admins_only(app, client):
    tree = await make_tree(app)
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    assert (await client.get("/v1/audit", headers=commander.headers)).status_code == 403


async def test_paging_walks_every_item_once(app, client):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    for _ in range(5):
        await make_person(app, client, role="officer", jurisdiction_code=tree.station_a, login=False)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "jurisdiction_code": tree.code}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/users", headers=admin.headers, params=params)).json()
        seen += [u["id"] for u in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 6


async def test_bad_cursor_and_limit_are_4xx(app, client):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    r = await client.get("/v1/users", headers=admin.headers, params={"cursor": "!!!garbage"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"
    r = await client.get("/v1/users", headers=admin.headers, params={"limit": 1001})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit"
