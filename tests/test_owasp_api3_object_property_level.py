"""OWASP API3:2023 — broken object property level authorization: no mass assignment, no secrets in answers.

Every write body forbids unknown fields (422 naming them), so nobody sets `id`, `password_hash`, `created_by`,
`active` or a role through a field the endpoint does not offer; people change only their own name, phone and
password; and no answer anywhere carries a password hash, a key hash or a stored key.
"""

from __future__ import annotations

import json

import pytest

from tests.factories import make_person, make_tree


@pytest.mark.parametrize("extra", [{"id": "00000000-0000-0000-0000-000000000001"}, {"password_hash": "$argon2id$x"},
                                   {"created_by": "00000000-0000-0000-0000-000000000001"}, {"active": False}])
async def test_creating_a_user_takes_no_field_it_does_not_offer(app, client, extra):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    body = {"username": "massassign" + tree.code.lower(), "display_name": "x", "role": "viewer",
            "jurisdiction_code": tree.code, "password": "long-enough-password", **extra}
    r = await client.post("/v1/users", headers=admin.headers, json=body)
    assert r.status_code == 422 and list(extra)[0] in r.text
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_people_change_only_their_own_name_phone_and_password(app, client):
    tree = await make_tree(app)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    for change in ({"role": "admin"}, {"jurisdiction_code": tree.code}, {"active": True}, {"unit_type": "police"}):
        r = await client.patch("/v1/me", headers=officer.headers, json=change)
        assert r.status_code == 422, (change, r.text)
    other = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    r = await client.patch(f"/v1/users/{other.id}", headers=officer.headers, json={"display_name": "hacked"})
    assert r.status_code in (403, 404)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    r = await client.patch(f"/v1/users/{admin.id}", headers=admin.headers, json={"role": "officer"})
    assert r.status_code == 403  # not even an admin changes his own role
    me = (await client.get("/v1/me", headers=officer.headers)).json()
    assert me["role"] == "officer" and me["jurisdiction_code"] == tree.station_a


def _secrets_in(value, path="") -> list[str]:
    found = []
    if isinstance(value, dict):
        for k, v in value.items():
            if any(word in k.lower() for word in ("hash", "password", "secret")):
                found.append(f"{path}.{k}")
            found += _secrets_in(v, f"{path}.{k}")
    elif isinstance(value, list):
        for n, v in enumerate(value):
            found += _secrets_in(v, f"{path}[{n}]")
    elif isinstance(value, str) and (value.startswith("$argon2") or value.startswith("hx_")):
        found.append(f"{path}={value[:12]}…")
    return found


async def test_no_answer_carries_a_hash_or_a_stored_key(app, client):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    created = await client.post("/v1/api-keys", headers=admin.headers,
                                json={"name": "wall", "jurisdiction_code": tree.code})
    assert created.json()["key"].startswith("hx_")  # shown once, in the answer that made it
    reads = ["/v1/me", "/v1/users", f"/v1/users/{officer.id}", "/v1/api-keys", "/v1/share-links",
             "/v1/audit?entity=api_key", "/v1/jurisdictions"]
    for path in reads:
        r = await client.get(path, headers=admin.headers)
        assert r.status_code == 200, (path, r.text)
        assert _secrets_in(r.json()) == [], (path, _secrets_in(r.json()))
    audit = (await client.get("/v1/audit", headers=admin.headers, params={"entity": "user"})).json()
    assert "long-enough" not in json.dumps(audit)


@pytest.mark.parametrize("path_of,body,field", [
    (lambda p: "/v1/me", {"display_name": None}, "display_name"),
    (lambda p: f"/v1/users/{p.id}", {"active": None}, "active"),
    (lambda p: f"/v1/users/{p.id}", {"role": None}, "role"),
])
async def test_a_null_for_a_field_that_cannot_be_empty_is_422_not_500(app, client, path_of, body, field):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    who = admin if path_of(officer) != "/v1/me" else officer
    r = await client.patch(path_of(officer), headers=who.headers, json=body)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text


@pytest.mark.parametrize("ends", [0, "08:30+08:00", 3600.5, "25:00"])
async def test_a_duty_window_time_is_a_local_time_of_day(app, client, ends):
    tree = await make_tree(app)
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    r = await client.put(f"/v1/jurisdictions/{tree.code}/duty-windows", headers=commander.headers, json={
        "windows": [{"name": "am", "starts_local": "07:00", "ends_local": ends, "weekdays": [1]}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"].endswith("ends_local"), r.text
