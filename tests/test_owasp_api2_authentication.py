"""OWASP API2:2023 — broken authentication: credentials that really end.

A login is a session: a reused refresh token, a logout, a password change or a deactivation ends every token of
it (access tokens included), at once, on every worker and on open live-feed streams. API keys never carry
`admin`, and a key ends with the admin rights of the person who made it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt

from domain.database import unit_of_work
from tests.factories import PASSWORD, make_person, make_tree
from tests.test_stream import server as server  # noqa: F401  (a fixture: the app under uvicorn)

STEP_S = 10.0


async def _me(client, token: str) -> int:
    return (await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code


async def test_a_reused_refresh_token_ends_the_logins_access_tokens_too(app, client):
    tree = await make_tree(app)
    victim = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    # The thief copies the refresh token and uses it first; the victim's phone then tries the same one.
    stolen = await client.post("/v1/auth/refresh", json={"refresh_token": victim.refresh_token})
    assert stolen.status_code == 200
    thief_token = stolen.json()["access_token"]
    assert await _me(client, thief_token) == 200
    reuse = await client.post("/v1/auth/refresh", json={"refresh_token": victim.refresh_token})
    assert reuse.status_code == 401
    assert await _me(client, thief_token) == 401  # the thief's access token ends with the login
    assert await _me(client, victim.token) == 401
    again = await client.post("/v1/auth/refresh", json={"refresh_token": stolen.json()["refresh_token"]})
    assert again.status_code == 401
    # Another login of the same person is untouched.
    other = await client.post("/v1/auth/token", data={"username": victim.username, "password": PASSWORD})
    assert await _me(client, other.json()["access_token"]) == 200


async def test_a_password_change_ends_every_other_login(app, client):
    tree = await make_tree(app)
    p = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    other = (await client.post("/v1/auth/token", data={"username": p.username, "password": PASSWORD})).json()
    r = await client.patch("/v1/me", headers=p.headers, json={"password": "a-new-long-password"})
    assert r.status_code == 200, r.text
    assert await _me(client, p.token) == 200  # the login that changed it goes on
    assert await _me(client, other["access_token"]) == 401
    assert (await client.post("/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})).status_code == 401
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    r = await client.patch(f"/v1/users/{p.id}", headers=admin.headers, json={"password": "yet-another-password"})
    assert r.status_code == 200
    assert await _me(client, p.token) == 401  # an admin's reset ends them all


async def test_logout_ends_the_login_and_a_deactivated_user_is_refused(app, client):
    tree = await make_tree(app)
    p = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    refreshed = (await client.post("/v1/auth/refresh", json={"refresh_token": p.refresh_token})).json()
    r = await client.post("/v1/auth/logout", headers={"Authorization": f"Bearer {refreshed['access_token']}"},
                          json={"refresh_token": refreshed["refresh_token"]})
    assert r.status_code == 204
    assert await _me(client, p.token) == 401  # the older access token of the same login too
    q = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    assert (await client.delete(f"/v1/users/{q.id}", headers=admin.headers)).status_code == 200
    assert await _me(client, q.token) == 401


async def test_tokens_without_a_login_or_forged_are_refused(app, client, settings):
    tree = await make_tree(app)
    p = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    now = int(time.time())
    base = {"sub": p.id, "iat": now, "exp": now + 600, "jti": str(uuid.uuid4()), "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience}
    secret = settings.resolved_jwt_secret()
    no_sid = jwt.encode(base, secret, algorithm="HS256")
    made_up_sid = jwt.encode({**base, "sid": str(uuid.uuid4())}, secret, algorithm="HS256")
    bad_sid = jwt.encode({**base, "sid": "not-a-uuid"}, secret, algorithm="HS256")
    unsigned = jwt.encode({**base, "sid": str(uuid.uuid4())}, None, algorithm="none")
    for token in (no_sid, made_up_sid, bad_sid, unsigned, "a.b.c", "x" * 5000):
        r = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")


async def test_api_keys_never_carry_admin_and_end_with_their_makers_rights(app, client):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    r = await client.post("/v1/api-keys", headers=admin.headers,
                          json={"name": "root", "jurisdiction_code": tree.code, "role": "admin"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "role"
    r = await client.post("/v1/api-keys", headers=admin.headers,
                          json={"name": "cc", "jurisdiction_code": tree.code, "role": "commander"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "expires_at"
    key = (await client.post("/v1/api-keys", headers=admin.headers,
                             json={"name": "wall", "jurisdiction_code": tree.code})).json()["key"]
    assert (await client.get("/v1/schools", headers={"X-API-Key": key})).status_code == 200
    boss = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    assert (await client.delete(f"/v1/users/{admin.id}", headers=boss.headers)).status_code == 200
    r = await client.get("/v1/schools", headers={"X-API-Key": key})
    assert r.status_code == 401  # the key outlived nobody


async def _events(response: httpx.Response):
    """(event name, data) of each SSE event as it arrives."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if fields.get("event") or fields.get("data"):
                yield fields.get("event", "message"), fields.get("data", "")
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.lstrip(" ")


async def _ends_with_revoked(base: str, headers: dict, revoke) -> None:
    """Open a stream, revoke its credential with `revoke()`, and see the stream say so and end."""
    async with httpx.AsyncClient(base_url=base, timeout=STEP_S) as http:
        async with http.stream("GET", "/v1/stream", headers=headers) as response:
            assert response.status_code == 200
            await asyncio.sleep(0.3)  # subscribed
            started = time.monotonic()
            await revoke()

            async def first_revoked():
                async for name, _ in _events(response):
                    if name == "revoked":
                        return True
                return False

            assert await asyncio.wait_for(first_revoked(), timeout=STEP_S)
            assert time.monotonic() - started < 6.0


async def test_open_streams_end_when_their_credential_is_revoked(app, client, server):  # noqa: F811
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    created = (await client.post("/v1/api-keys", headers=admin.headers,
                                 json={"name": "wall", "jurisdiction_code": tree.code})).json()
    await _ends_with_revoked(server, {"X-API-Key": created["key"]},
                             lambda: client.delete(f"/v1/api-keys/{created['id']}", headers=admin.headers))
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    await _ends_with_revoked(server, officer.headers,
                             lambda: client.delete(f"/v1/users/{officer.id}", headers=admin.headers))
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    await _ends_with_revoked(server, commander.headers,
                             lambda: client.post("/v1/auth/logout", headers=commander.headers))


async def test_an_open_stream_ends_when_its_token_expires(app, client, server, settings):  # noqa: F811
    tree = await make_tree(app)
    p = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    claims = jwt.decode(p.token, options={"verify_signature": False})
    exp = datetime.now(UTC) + timedelta(seconds=2)
    short = jwt.encode({**claims, "exp": int(exp.timestamp()), "jti": str(uuid.uuid4())},
                       settings.resolved_jwt_secret(), algorithm="HS256")

    async def wait_out():
        await asyncio.sleep(2.5)

    await _ends_with_revoked(server, {"Authorization": f"Bearer {short}"}, wait_out)


async def test_sessions_are_recorded_with_why_they_ended(app, client):
    tree = await make_tree(app)
    p = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    await client.post("/v1/auth/logout", headers=p.headers, json={"refresh_token": p.refresh_token})
    async with unit_of_work(app.state.pool) as db:
        reasons = await db.fetch("SELECT revoked_reason FROM auth_sessions WHERE user_id = :u", {"u": uuid.UUID(p.id)})
    assert [r["revoked_reason"] for r in reasons] == ["logout"]
