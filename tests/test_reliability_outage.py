"""The database going away and coming back, in-process (the long run with a real PostgreSQL stopped and started
is tests/reliability/database_outage.py): writes answer 503 problem+json at once, and afterwards the same
process writes again and its live-feed listener is back without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.engine import make_url

from api.main import create_app
from domain.settings import Settings
from tests.factories import make_person, make_tree
from tests.test_platform_operations import Relay


def incident(lon: float = 95.0, lat: float = 35.0) -> dict:
    return {"id": str(uuid.uuid4()), "category": "other", "severity": 3, "source": "patrol",
            "alarm_at": (datetime.now(UTC) - timedelta(seconds=10)).isoformat(),
            "location": {"type": "Point", "coordinates": [lon, lat]}}


async def test_writes_answer_503_while_the_database_is_away_and_succeed_when_it_is_back(app, client, database_url):
    tree = await make_tree(app)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.code)
    url = make_url(database_url)
    relay = Relay(url.host, url.port)
    await relay.open()
    relayed = url.set(port=relay.port).render_as_string(hide_password=False)
    settings = Settings(database_url=relayed, db_connect_timeout_s=1, db_pool_timeout_s=1, db_reconnect_max_s=0.5,
                        jwt_secret=app.state.settings.jwt_secret)
    other = create_app(settings)
    try:
        async with other.router.lifespan_context(other):
            hub = other.state.event_hub
            assert hub.backoff_max_s == 0.5
            transport = httpx.ASGITransport(app=other, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                first = incident()
                assert (await c.post("/v1/incidents", headers=officer.headers, json=first)).status_code == 201

                await relay.cut()
                tried = []
                for body in (incident(), first, {**first, "severity": 1}):  # new, replay, conflicting replay
                    r = await c.post("/v1/incidents", headers=officer.headers, json=body)
                    assert r.status_code == 503, r.text
                    assert r.headers["content-type"].startswith("application/problem+json")
                    assert r.headers["retry-after"].isdigit()
                    assert r.json()["status"] == 503
                    tried.append(body)
                r = await c.post("/v1/checkins", headers=officer.headers, json={
                    "id": str(uuid.uuid4()), "kind": "heartbeat", "accuracy_m": 10,
                    "recorded_at": datetime.now(UTC).isoformat(),
                    "location": {"type": "Point", "coordinates": [95.0, 35.0]}})
                assert r.status_code == 503 and r.headers["retry-after"].isdigit()

                await relay.open()
                # The same process, not restarted: the write that failed goes through, the replay is answered
                # from the database, and the listener (live feed, cache invalidation) reconnects by itself.
                r = await c.post("/v1/incidents", headers=officer.headers, json=tried[0])
                assert r.status_code == 201, r.text
                assert (await c.post("/v1/incidents", headers=officer.headers, json=first)).status_code == 200
                for _ in range(100):
                    if hub.connected:
                        break
                    await asyncio.sleep(0.1)
                assert hub.connected
    finally:
        await relay.cut()
    rows = await app.state.db.fetchval("SELECT count(*) FROM incidents WHERE id = ANY(CAST(:ids AS uuid[]))",
                                       {"ids": [first["id"], tried[0]["id"]]})
    assert rows == 2


class FreezingRelay(Relay):
    """A relay that can stop passing bytes while keeping every connection open: a database that is frozen (or cut
    off by the network) accepts connections and statements but never answers."""

    def __init__(self, *args):
        super().__init__(*args)
        self.thawed = asyncio.Event()
        self.thawed.set()

    async def _pipe(self, reader, writer):
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                await self.thawed.wait()
                writer.write(data)
                await writer.drain()
        writer.close()


async def test_a_database_that_stops_answering_gives_503_not_a_hang(app, client, database_url):
    tree = await make_tree(app)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.code)
    url = make_url(database_url)
    relay = FreezingRelay(url.host, url.port)
    await relay.open()
    relayed = url.set(port=relay.port).render_as_string(hide_password=False)
    settings = Settings(database_url=relayed, db_connect_timeout_s=1, db_pool_timeout_s=1, db_command_timeout_s=2,
                        jwt_secret=app.state.settings.jwt_secret)
    assert settings.command_timeout_s() == 2
    assert Settings(db_statement_timeout_ms=10_000).command_timeout_s() == 12  # the server ends slow ones first
    other = create_app(settings)
    try:
        async with other.router.lifespan_context(other):
            transport = httpx.ASGITransport(app=other, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=60) as c:
                # warm connections in the pool: the frozen database will hold statements sent on them
                warm = await asyncio.gather(*[c.post("/v1/incidents", headers=officer.headers, json=incident())
                                              for _ in range(4)])
                assert {r.status_code for r in warm} == {201}
                relay.thawed.clear()
                # Bounds far above the timeouts (2 s): they only tell an answer from a hang.
                ready = await asyncio.wait_for(c.get("/readyz"), 10)
                assert ready.status_code == 503 and ready.headers["retry-after"].isdigit()
                writes = await asyncio.wait_for(asyncio.gather(*[
                    c.post("/v1/incidents", headers=officer.headers, json=incident()) for _ in range(4)]), 20)
                for r in writes:
                    assert r.status_code == 503, r.text
                    assert r.headers["content-type"].startswith("application/problem+json")
                    assert r.headers["retry-after"].isdigit()
                relay.thawed.set()
                again = None
                for _ in range(50):  # the pool drops what the timeouts left behind and connects again
                    again = await c.post("/v1/incidents", headers=officer.headers, json=incident())
                    if again.status_code == 201:
                        break
                    await asyncio.sleep(0.1)
                assert again.status_code == 201, again.text
                assert (await c.get("/readyz")).status_code == 200
    finally:
        relay.thawed.set()
        await relay.cut()


async def test_an_open_stream_says_the_database_is_away_stays_open_and_catches_up(app, client, database_url,
                                                                                   monkeypatch):
    from api import stream as stream_module
    from tests.test_stream import open_feed, serving

    monkeypatch.setattr(stream_module, "WAKE_S", 0.5)
    tree = await make_tree(app)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.code)
    url = make_url(database_url)
    relay = Relay(url.host, url.port)
    await relay.open()
    relayed = url.set(port=relay.port).render_as_string(hide_password=False)
    settings = Settings(database_url=relayed, db_connect_timeout_s=1, db_pool_timeout_s=1, db_reconnect_max_s=0.5,
                        jwt_secret=app.state.settings.jwt_secret)
    try:
        with serving(create_app(settings)) as base_url:
            async with open_feed(base_url, officer.headers) as feed:
                await relay.cut()
                away = await feed.next_event()
                assert away["event"] == "unavailable"
                assert away["data"]["status"] == 503
                # written meanwhile through another server (this one cannot reach the database)
                during = incident()
                assert (await client.post("/v1/incidents", headers=officer.headers, json=during)).status_code == 201
                await relay.open()
                back = await feed.next_event()
                assert back["event"] == "available"
                caught_up = await feed.next_event()
                assert caught_up["event"] == "incident.created"
                assert caught_up["data"]["payload"]["id"] == during["id"]
                after = incident()
                assert (await client.post("/v1/incidents", headers=officer.headers, json=after)).status_code == 201
                live = await feed.until(lambda e: e["event"] == "incident.created")
                assert live[-1]["data"]["payload"]["id"] == after["id"]
    finally:
        await relay.cut()
