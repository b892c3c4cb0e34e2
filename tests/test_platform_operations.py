"""Health, readiness (503 with Retry-After while the database is away, 200 again when it returns), metrics."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy.engine import make_url

from api.main import create_app
from domain.settings import Settings


async def test_healthz_answers_ok(client):
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_readyz_is_200_when_database_is_migrated(client):
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert body["schema_revision"] == body["expected_revision"]


async def test_metrics_count_requests_by_route_template(client):
    await client.get("/healthz")
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert 'huxiao_http_requests_total{method="GET",route="/healthz",status="200"}' in r.text
    assert "huxiao_http_request_duration_seconds_bucket" in r.text
    assert "huxiao_db_pool_connections_in_use" in r.text


class Relay:
    """A TCP relay in front of the real PostgreSQL that can be cut and restored, to take the database away."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.server: asyncio.base_events.Server | None = None
        self.port: int | None = None
        self.pipes: set[asyncio.Task] = set()
        self.writers: set[asyncio.StreamWriter] = set()

    async def _pipe(self, reader, writer):
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, client_reader, client_writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        self.writers |= {client_writer, up_writer}
        for coro in (self._pipe(client_reader, up_writer), self._pipe(up_reader, client_writer)):
            task = asyncio.create_task(coro)
            self.pipes.add(task)
            task.add_done_callback(self.pipes.discard)

    async def open(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port or 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self):
        self.server.close()
        await self.server.wait_closed()
        for w in list(self.writers):
            w.close()
        self.writers.clear()
        for t in list(self.pipes):
            t.cancel()


async def test_database_outage_gives_503_with_retry_after_and_recovers(database_url):
    import httpx

    url = make_url(database_url)
    relay = Relay(url.host, url.port)
    await relay.open()
    relayed = url.set(port=relay.port).render_as_string(hide_password=False)
    app = create_app(Settings(database_url=relayed, db_connect_timeout_s=1, db_pool_timeout_s=1))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            assert (await c.get("/readyz")).status_code == 200

            await relay.cut()
            r = await c.get("/readyz")
            assert r.status_code == 503
            assert r.headers["retry-after"].isdigit()
            assert r.headers["content-type"].startswith("application/problem+json")
            # A request that needs the database answers 503 too, and the process stays up.
            r = await c.post("/v1/auth/token", data={"username": "someone", "password": "whatever-it-is"})
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"].isdigit()
            assert (await c.get("/healthz")).status_code == 200

            await relay.open()
            for _ in range(20):
                r = await c.get("/readyz")
                if r.status_code == 200:
                    break
                await asyncio.sleep(0.2)
            assert r.status_code == 200
    await relay.cut()


async def test_readyz_is_503_while_the_schema_is_behind_the_code(database_url):
    import secrets

    import httpx

    from cli.databases import drop_database, ensure_database, migrate

    behind = make_url(database_url).set(database=f"huxiao_behind_{secrets.token_hex(3)}").render_as_string(
        hide_password=False)
    await asyncio.to_thread(ensure_database, behind)
    try:
        await asyncio.to_thread(migrate, behind, "0002_identity")
        app = create_app(Settings(database_url=behind))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                r = await c.get("/readyz")
                assert r.status_code == 503
                assert "0002_identity" in r.json()["detail"]
                assert r.headers["retry-after"].isdigit()
    finally:
        await asyncio.to_thread(drop_database, behind)
