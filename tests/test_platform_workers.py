"""A server with two uvicorn workers: revocation is real on every worker (a key, a token and a user that both
workers' caches have seen stop working within a second of the change: the caches are cleared by LISTEN/NOTIFY),
and the background sweep runs on one worker only (the leader holds an advisory lock)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.factories import make_person, make_tree

REVOCATION_BOUND_S = 2.5  # 'at once' on a loaded 2-core machine; the cache's own TTL is 60 s


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_workers(database_url, settings):
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "HUXIAO_LOG_LEVEL": "WARNING",
           "HUXIAO_DUTY_SWEEP_INTERVAL_S": "0.5",
           "HUXIAO_JWT_SECRET": settings.resolved_jwt_secret()}
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("uvicorn")), "api.main:app", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "2", "--no-access-log"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                # Both workers' listeners must be connected before their caches are trusted; /readyz answers
                # from either worker, so wait until a run of answers came back ready.
                if all(httpx.get(base + "/readyz", timeout=2).status_code == 200 for _ in range(6)):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()  # (reading the pipe of a live process would wait forever)
                raise RuntimeError("two-worker server did not start: "
                                   + proc.communicate(timeout=20)[1].decode()[-2000:])
            time.sleep(0.3)
        time.sleep(1.0)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _statuses(base: str, headers: dict[str, str], n: int = 24) -> set[int]:
    """`n` requests, each on a new connection, so both workers answer some of them."""
    out = set()
    for _ in range(n):
        with httpx.Client(base_url=base, timeout=5) as c:
            out.add(c.get("/v1/me" if "Authorization" in headers else "/v1/schools", headers=headers).status_code)
    return out


def _until_refused(base: str, headers: dict[str, str]) -> float:
    """Seconds until every request on new connections is 401 (or the bound passes)."""
    started = time.monotonic()
    while time.monotonic() - started < REVOCATION_BOUND_S * 3:
        if _statuses(base, headers, n=12) == {401}:
            return time.monotonic() - started
    return float("inf")


async def test_revoked_key_stops_working_on_every_worker_within_a_second(app, client, two_workers):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    made = (await client.post("/v1/api-keys", headers=admin.headers,
                              json={"name": "wall screen", "jurisdiction_code": tree.code})).json()
    headers = {"X-API-Key": made["key"]}
    assert _statuses(two_workers, headers) == {200}  # both workers now hold the key in their caches
    assert (await client.delete(f"/v1/api-keys/{made['id']}", headers=admin.headers)).status_code == 200
    assert _until_refused(two_workers, headers) <= REVOCATION_BOUND_S


async def test_deactivated_user_and_logged_out_token_stop_working_on_every_worker(app, client, two_workers):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    leaving = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    assert _statuses(two_workers, officer.headers) == {200}
    assert _statuses(two_workers, leaving.headers) == {200}

    assert (await client.delete(f"/v1/users/{officer.id}", headers=admin.headers)).status_code == 200
    assert _until_refused(two_workers, officer.headers) <= REVOCATION_BOUND_S

    r = await client.post("/v1/auth/logout", headers=leaving.headers, json={})
    assert r.status_code == 204, r.text
    assert _until_refused(two_workers, leaving.headers) <= REVOCATION_BOUND_S


async def test_the_background_sweep_has_one_leader_among_the_workers(two_workers, db):
    from api.duty import LEADER_LOCK_KEY

    for _ in range(40):
        holders = await db.fetch("""
            SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'huxiao-leader'
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND (CAST(l.classid AS bigint) << 32 | CAST(l.objid AS bigint)) = :key
        """, {"key": LEADER_LOCK_KEY})
        if holders:
            break
        await asyncio.sleep(0.25)
    assert len(holders) == 1
    await asyncio.sleep(1.5)  # both workers have tried to lead a few times by now
    again = await db.fetch("""
        SELECT count(*) AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'huxiao-leader'
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    """)
    assert again[0]["n"] == 1
