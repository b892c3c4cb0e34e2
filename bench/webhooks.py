"""Webhook fan-out: `python -m bench.webhooks [--events 1000] [--receivers 10] [--workers 1]`.

Registers `--receivers` webhooks (one receiver each, on 127.0.0.1) for `duty.off_post` in a bench jurisdiction
of `huxiao_bench`, starts `uvicorn api.main:app` (its delivery workers do the sending), then publishes
`--events` events, each in its own transaction as a writer would (`events.publish`), as fast as one connection
allows. Every event reaches every receiver: events × receivers deliveries. Measured: from each event's commit
(the time the publisher took right after it) to its arrival at a receiver — p50/p99/max — and deliveries per
second from the first commit to the last arrival.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from domain import jurisdictions, webhooks
from domain.callers import system_caller
from domain.database import create_pool, dsn, unit_of_work
from domain.events import Event, publish
from domain.settings import Settings

CODE = "BENCHWH"


class Receivers:
    """Minimal HTTP/1.1 receivers on asyncio: note the arrival time of each body's `sent_at`, answer 200."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.last_arrival = 0.0
        self.seen: set[tuple[int, str]] = set()

    async def handle(self, index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                now = time.time()
                event = json.loads(body)
                self.seen.add((index, event["id"]))
                self.latencies.append(now - event["data"]["sent_at"])
                self.last_arrival = now
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main(url: str, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--receivers", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)

    settings = Settings(database_url=url, webhook_allow_private=True, webhook_allow_http=True)
    pool = await create_pool(settings, min_size=1, max_size=4)
    rx = Receivers()
    servers, urls = [], []
    for i in range(args.receivers):
        server = await asyncio.start_server(lambda r, w, i=i: rx.handle(i, r, w), "127.0.0.1", 0)
        servers.append(server)
        urls.append(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook/{i}")
    async with unit_of_work(pool) as tx:
        await jurisdictions.ensure(tx, new=jurisdictions.NewJurisdiction(CODE, "Bench webhooks", "county"))
        await tx.execute("DELETE FROM webhooks WHERE jurisdiction_code = :c", {"c": CODE})
        for u in urls:
            await webhooks.create(tx, settings, caller=system_caller(), jurisdiction_code=CODE, url=u,
                                  events=["duty.off_post"], description="bench")

    port = _free_port()
    env = {**os.environ, "DATABASE_URL": dsn(settings), "HUXIAO_LOG_LEVEL": "WARNING",
           "HUXIAO_JWT_SECRET": settings.resolved_jwt_secret(), "HUXIAO_WEBHOOK_ALLOW_PRIVATE": "true",
           "HUXIAO_WEBHOOK_ALLOW_HTTP": "true", "HUXIAO_WEBHOOK_CONCURRENCY": "32"}
    proc = subprocess.Popen([  # noqa: ASYNC220 (started once, before anything is measured)
        str(Path(sys.executable).with_name("uvicorn")), "api.main:app", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", str(args.workers), "--loop", "uvloop",
                             "--no-access-log", "--log-level", "warning"], env=env)
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        expected = args.events * args.receivers
        start = time.time()
        for n in range(args.events):
            async with unit_of_work(pool) as tx:  # stamped just before the writer's INSERT; it commits right after
                await publish(tx, [Event("duty.alert", CODE, {"kind": "off_post", "n": n, "sent_at": time.time()})])
        published = time.time()
        deadline = time.monotonic() + 300
        while len(rx.seen) < expected and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        lat = sorted(rx.latencies)
        q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else [0.0] * 99
        print(f"| events | receivers | workers | delivered | publish s | events → last arrival s | deliveries/s "
              f"| p50 ms | p99 ms | max ms |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
              f"| {args.events} | {args.receivers} | {args.workers} | {len(rx.seen)}/{expected} "
              f"| {published - start:.1f} | {rx.last_arrival - start:.1f} "
              f"| {len(rx.seen) / max(rx.last_arrival - start, 1e-9):,.0f} | {q[49] * 1000:.0f} | {q[98] * 1000:.0f} "
              f"| {lat[-1] * 1000:.0f} |")
        print(f"duplicates (at-least-once): {len(lat) - len(rx.seen)}")
    finally:
        proc.terminate()
        proc.wait(20)
        for s in servers:
            s.close()
        await pool.close()
    return 0


if __name__ == "__main__":
    import bench.database
    # HUXIAO_BENCH_DB: another database than huxiao_bench, e.g. while huxiao_bench is migrated by another branch.
    bench.database.BENCH_DB = os.environ.get("HUXIAO_BENCH_DB", bench.database.BENCH_DB)
    raise SystemExit(asyncio.run(main(bench.database.bench_database_url())))  # created, migrated before the loop
