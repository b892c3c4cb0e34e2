"""Tokens: the password flow, refresh rotation with reuse detection, logout, and every bad token."""

from __future__ import annotations

import time
import uuid

import jwt

from tests.factories import PASSWORD, make_person, make_tree


async def test_password_flow_gives_bearer_token_that_identifies_the_user(app, client):
    tree = await make_tree(app)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    r = await client.get("/v1/me", headers=officer.headers)
    assert r.status_code == 200
    me = r.json()
    assert me["username"] == officer.username
    assert me["role"] == "officer"
    assert "password" not in str(me).lower()


async def test_token_answer_has_the_contract_fields(app, client):
    tree = await make_tree(app)
    p = await make_person(app, client, role="viewer", jurisdiction_code=tree.code, login=False)
    r = await client.post("/v1/auth/token", data={"username": p.username, "password": PASSWORD})
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    assert body["access_token"] and body["refresh_token"]


async def test_wrong_password_is_401_problem(app, client):
    tree = await make_tree(app)
    p = await make_person(app, client, role="viewer", jurisdiction_code=tree.code, login=False)
    r = await client.post("/v1/auth/token", data={"username": p.username, "password": "wrong-password"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_repeated_failed_logins_answer_429_with_retry_after(app, client, settings):
    tree = await make_tree(app)
    p = await make_person(app, client, role="viewer", jurisdiction_code=tree.code, login=False)
    for _ in range(settings.login_max_failures):
        assert (await client.post("/v1/auth/token", data={"username": p.username, "password": "nope-nope"})).status_code == 401
    r = await client.post("/v1/auth/token", data={"username": p.username, "password": PASSWORD})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0


async def test_refresh_token_rotates_and_reuse_revokes_the_family(app, client):
    tree = await make_tree(app)
    p = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    r1 = await client.post("/v1/auth/refresh", json={"refresh_token": p.refresh_token})
    assert r1.status_code == 200
    second = r1.json()["refresh_token"]
    assert second != p.refresh_token
    # The first token again: reuse. It fails, and so does the one it had been traded for.
    assert (await client.post("/v1/auth/refresh", json={"refresh_token": p.refresh_token})).status_code == 401
    assert (await client.post("/v1/auth/refresh", json={"refresh_token": second})).status_code == 401


async def test_logout_revokes_the_access_token_at_once(app, client):
    tree = await make_tree(app)
    p = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    assert (await client.get("/v1/me", headers=p.headers)).status_code == 200
    r = await client.post("/v1/auth/logout", headers=p.headers, json={"refresh_token": p.refresh_token})
    assert r.status_code == 204
    assert (await client.get("/v1/me", headers=p.headers)).status_code == 401
    assert (await client.post("/v1/auth/refresh", json={"refresh_token": p.refresh_token})).status_code == 401


def _claims(settings, **overrides):
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "sid": str(uuid.uuid4()), "iat": now, "exp": now + 600, "jti": str(uuid.uuid4()),
              "iss": settings.jwt_issuer, "aud": settings.jwt_audience}
    claims.update(overrides)
    return claims


async def test_expired_token_is_401(app, client, settings):
    tree = await make_tree(app)
    p = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    token = jwt.encode(_claims(settings, sub=p.id, exp=int(time.time()) - 5), settings.resolved_jwt_secret(),
                       algorithm="HS256")
    r = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert "expired" in r.json()["detail"]


async def test_forged_token_is_401(app, client, settings):
    tree = await make_tree(app)
    p = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    token = jwt.encode(_claims(settings, sub=p.id), "someone-elses-secret-of-enough-length", algorithm="HS256")
    assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401


async def test_alg_none_token_is_401(app, client, settings):
    tree = await make_tree(app)
    p = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    token = jwt.encode(_claims(settings, sub=p.id), None, algorithm="none")
    assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401


async def test_wrong_audience_token_is_401(app, client, settings):
    tree = await make_tree(app)
    p = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    token = jwt.encode(_claims(settings, sub=p.id, aud="another-service"), settings.resolved_jwt_secret(),
                       algorithm="HS256")
    assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401


async def test_garbage_token_is_401_problem(client):
    r = await client.get("/v1/me", headers={"Authorization": "Bearer not.a.jwt"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_no_credentials_is_401(client):
    assert (await client.get("/v1/me")).status_code == 401
