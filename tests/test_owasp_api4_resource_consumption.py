"""OWASP API4:2023 — unrestricted resource consumption: sign-in throttling that cannot be turned into a weapon.

Failed sign-ins are counted per (account, address) with a doubling lock, and per address over all accounts; each
attempt is claimed in one PostgreSQL statement before the password is checked, so parallel attempts (on any
number of workers) cannot slip past the limit. A stranger who guesses an officer's username locks only himself
out: the officer signs in from his own phone.
"""

from __future__ import annotations

import asyncio

import httpx

from tests.factories import PASSWORD, make_person, make_tree
from tests.test_stream import server as server  # noqa: F401  (a fixture: the app under uvicorn)


def _from(app, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _login(c: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await c.post("/v1/auth/token", data={"username": username, "password": password})


async def test_a_stranger_locks_only_himself_out(app, client, settings):
    tree = await make_tree(app)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a, login=False)
    async with _from(app, "203.0.113.7") as stranger, _from(app, "198.51.100.20") as phone:
        for _ in range(settings.login_max_failures):
            assert (await _login(stranger, officer.username, "guess-guess")).status_code == 401
        locked = await _login(stranger, officer.username, PASSWORD)
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
        assert locked.headers["content-type"].startswith("application/problem+json")
        assert (await _login(phone, officer.username, PASSWORD)).status_code == 200  # the owner gets in


async def test_parallel_guesses_cannot_pass_the_limit(app, client, settings):
    tree = await make_tree(app)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a, login=False)
    async with _from(app, "203.0.113.8") as stranger:
        answers = await asyncio.gather(*[_login(stranger, officer.username, f"guess-{n}") for n in range(30)])
    codes = sorted(a.status_code for a in answers)
    assert codes.count(401) == settings.login_max_failures and codes.count(429) == 30 - settings.login_max_failures


async def test_one_address_cannot_try_many_accounts(app, client, settings):
    async with _from(app, "203.0.113.9") as sprayer:
        limit = settings.login_max_failures * 4
        for n in range(limit):
            assert (await _login(sprayer, f"nobody{n}", "guess-guess")).status_code == 401
        assert (await _login(sprayer, "nobody-else", "guess-guess")).status_code == 429


async def test_a_success_clears_the_pair_and_the_lock_doubles(app, client, settings):
    tree = await make_tree(app)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a, login=False)
    async with _from(app, "203.0.113.10") as phone:
        for _ in range(settings.login_max_failures - 1):
            assert (await _login(phone, officer.username, "typo-typo")).status_code == 401
        assert (await _login(phone, officer.username, PASSWORD)).status_code == 200
        for _ in range(settings.login_max_failures - 1):  # counting starts afresh after a success
            assert (await _login(phone, officer.username, "typo-typo")).status_code == 401
    from domain.database import unit_of_work
    async with unit_of_work(app.state.pool) as db:
        await db.execute("UPDATE login_throttle SET failures = :n, locked_until = now() - interval '1 second' "
                         "WHERE username = lower(:u) AND client_addr = '203.0.113.10'",
                         {"n": settings.login_max_failures + 2, "u": officer.username})
    async with _from(app, "203.0.113.10") as phone:
        assert (await _login(phone, officer.username, "typo-typo")).status_code == 401
        r = await _login(phone, officer.username, PASSWORD)
        assert r.status_code == 429
        # the 8th failure: 30 s · 2^(8 − 5) = 240 s
        assert 200 <= int(r.headers["retry-after"]) <= settings.login_backoff_s * 8 + 1


async def test_odd_usernames_are_refused_cleanly(app, client):
    for name in ("*", "a\x00b", "a\tb", "x" * 64):
        r = await client.post("/v1/auth/token", data={"username": name, "password": "whatever"})
        assert r.status_code in (401, 422), (name, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_open_streams_are_limited_per_credential(app, client, settings, server):  # noqa: F811
    from contextlib import AsyncExitStack

    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    key = (await client.post("/v1/api-keys", headers=admin.headers,
                             json={"name": "wall", "jurisdiction_code": tree.code})).json()["key"]
    limit = settings.stream_max_per_credential
    async with httpx.AsyncClient(base_url=server, timeout=10) as http, AsyncExitStack() as streams:
        for _ in range(limit):
            r = await streams.enter_async_context(http.stream("GET", "/v1/stream", headers={"X-API-Key": key}))
            assert r.status_code == 200
        extra = await http.get("/v1/stream", headers={"X-API-Key": key})
        assert extra.status_code == 429 and int(extra.headers["retry-after"]) > 0
        assert extra.headers["content-type"].startswith("application/problem+json")
        async with http.stream("GET", "/v1/stream", headers=admin.headers) as other:  # another credential
            assert other.status_code == 200
    # all closed: the leases are gone, a new stream opens at once
    for _ in range(50):
        async with httpx.AsyncClient(base_url=server, timeout=10) as http:
            async with http.stream("GET", "/v1/stream", headers={"X-API-Key": key}) as again:
                if again.status_code == 200:
                    break
        await asyncio.sleep(0.1)
    assert again.status_code == 200
