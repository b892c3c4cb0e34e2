"""`ogc`: OGC API items — 100 incidents in the dense county's bbox — huxiao vs the peer vs tipg, same run.

Data: bench/incident_data.py (10^6 incidents, 100,000 of them in the dense county `BENCH_DENSE`). Three servers,
one uvicorn worker each by default (uvloop, httptools), on the same cluster:
- `huxiao-ogc-items`  GET /ogc/collections/incidents/items?bbox=<county>&limit=100 with the run's viewer API key
                      (scope BENCH: all 10^6 incidents are the caller's; the bbox keeps the county's 100,000);
- `peer-incidents`    the hand-written peer's GET /incidents?bbox=<county>&limit=100 (`../shared/peer/server.py`:
                      no auth, a FeatureCollection built in SQL) on `huxiao_peer.incidents`, filled with a copy of
                      the same 10^6 incidents (ids numbered in the order of huxiao's UUIDs, so both walk their
                      keys through the same rows);
- `tipg-items`        tipg (installed from PyPI into `bench/.tipg-venv`, not a project dependency) serving the same
                      table through the view `bench_tipg.incidents` (its columns, the position cast to geometry, as
                      tipg expects; on the geography column itself a request took 2.3 s):
                      GET /collections/bench_tipg.incidents/items?bbox=…&limit=100 (wrk timeout 60 s).
Interleaved rounds, medians; wrk with 32 connections. Goal (issue 11): huxiao ≥ 0.8× the peer; the ratio to tipg is
reported. `huxiao-ogc-items-bearer` (breakdown) is the same request with the admin's bearer token.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import asyncpg

from bench import harness
from bench.database import libpq_url
from bench.harness import Comparison, Threshold
from bench.incident_data import DENSE_BOX, ensure_incident_data

NAME = "ogc"
TITLE = "OGC API items: 100 incidents in the county bbox — huxiao vs the peer vs tipg"
PEER_DIR = harness.REPO_ROOT.parent / "shared" / "peer"
PEER_DB = "huxiao_peer"
TIPG_VENV = harness.REPO_ROOT / "bench" / ".tipg-venv"
TIPG_VERSION = "1.6.1"  # PERFORMANCE.md's figures are for this one
LIMIT = 100
SLOW_TIMEOUT_S = 60.0
BBOX = ",".join(f"{v}" for v in DENSE_BOX)


def ensure_tipg() -> Path:
    """A virtualenv of its own with tipg (and uvicorn) from PyPI; its python."""
    python = TIPG_VENV / "bin" / "python"
    probe = [str(python), "-c", "import tipg, uvicorn; print(tipg.__version__)"]
    if python.exists() and subprocess.run(probe, capture_output=True, timeout=60).returncode == 0:
        return python
    harness.log(f"installing tipg {TIPG_VERSION} into {TIPG_VENV}")
    subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True, timeout=300)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"tipg=={TIPG_VERSION}", "uvicorn[standard]"],
                   check=True, timeout=900)
    return python


class VenvServer(harness.Server):
    """`harness.Server` run by another virtualenv's python (tipg's)."""

    def __init__(self, python: Path, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.python = python

    def argv(self) -> list[str]:
        return [str(self.python), *super().argv()[1:]]


TIPG_VIEW = """
CREATE SCHEMA IF NOT EXISTS bench_tipg;
CREATE OR REPLACE VIEW bench_tipg.incidents AS
    SELECT id, jurisdiction_code, category, severity, source, status, alarm_at, in_zone,
           CAST(location AS geometry) AS geom
    FROM public.incidents;
"""


async def _prepare_peer(app_url: str) -> str:
    """`huxiao_peer.incidents` holding the bench's incidents (copied when the counts differ); its URL."""
    app = await asyncpg.connect(libpq_url(app_url))
    try:
        await app.execute(TIPG_VIEW)
        wanted = await app.fetchval("SELECT count(*) FROM incidents")
        if not await app.fetchval("SELECT true FROM pg_database WHERE datname = $1", PEER_DB):
            await app.execute(f"CREATE DATABASE {PEER_DB}")
        peer_url = libpq_url(app_url).rsplit("/", 1)[0] + "/" + PEER_DB
        peer = await asyncpg.connect(peer_url)
        try:
            if not await peer.fetchval("SELECT to_regclass('public.schools') IS NOT NULL"):
                await peer.execute((PEER_DIR / "schema.sql").read_text())
            if await peer.fetchval("SELECT count(*) FROM incidents") != wanted:
                harness.log(f"copying {wanted:,} incidents into {PEER_DB}")
                buffer = io.BytesIO()
                # Numbered in huxiao's id order, stored in huxiao's physical order: both servers walk their
                # keys through the same rows laid out the same way on disk.
                await app.copy_from_query(
                    "SELECT n, category, alarm_at, g FROM (SELECT row_number() OVER (ORDER BY id) AS n, ctid AS c, "
                    "category, alarm_at, CAST(location AS geometry) AS g FROM incidents) s ORDER BY c",
                    output=buffer, format="csv")
                buffer.seek(0)
                async with peer.transaction():
                    await peer.execute("TRUNCATE incidents")
                    await peer.copy_to_table("incidents", source=buffer, format="csv")
                await peer.execute("VACUUM ANALYZE incidents")
        finally:
            await peer.close()
    finally:
        await app.close()
    return peer_url


def _slow_http(name: str, url: str, ctx, *, server: harness.Server, description: str) -> harness.Variant:
    """`ctx.http` with a 60 s wrk timeout: tipg answers this request in seconds, and with 32 connections
    queued on its pool every request would pass wrk's default 5 s."""
    meter = harness.CpuMeter(server, ctx.db_name)

    def measure(duration_s: float) -> harness.Measurement:
        return meter(lambda: harness.wrk(url, duration_s=duration_s, connections=ctx.connections,
                                         threads=ctx.wrk_threads, timeout_s=SLOW_TIMEOUT_S))

    def check() -> str | None:
        status, payload = harness.http_get(url, timeout_s=SLOW_TIMEOUT_S)
        return None if status == 200 else f"{name}: GET {url} answered {status}: {payload[:300]!r}"

    return harness.Variant(name, measure, description, check)


def run(ctx, workers: int) -> Comparison:
    auth = ctx.auth()  # the BENCH jurisdiction, its admin's token, a viewer API key
    data = ensure_incident_data(ctx.db_url, jwt_secret=ctx.jwt_secret)
    peer_url = asyncio.run(_prepare_peer(ctx.db_url))
    tipg_python = ensure_tipg()
    key = {"X-API-Key": auth.api_key}
    bearer = {"Authorization": f"Bearer {auth.token}"}
    tipg_env = {"DATABASE_URL": libpq_url(ctx.db_url), "TIPG_DB_SCHEMAS": '["bench_tipg"]', "TIPG_DB_MAX_CONN_SIZE": "16",
                "PATH": os.environ.get("PATH", "")}
    with ExitStack() as stack:
        # The in-memory zone index (500,000 bench schools) is not used by OGC items; loading it at start-up
        # would run during the first rounds.
        app = stack.enter_context(ctx.server("api.main:app", workers=workers, name="app",
                                             env={"HUXIAO_ZONE_INDEX": "false"}))
        peer = stack.enter_context(harness.Server(
            "server:app", name="peer", workers=workers, app_dir=PEER_DIR, health_path="/health",
            env={"ANCHORS_DSN": peer_url, "ANCHORS_POOL": "16"}, log_dir=ctx.log_dir))
        tipg = stack.enter_context(VenvServer(tipg_python, "tipg.main:app", name="tipg", workers=workers,
                                              health_path="/healthz", env=tipg_env, log_dir=ctx.log_dir))
        a, p, t = app.base_url, peer.base_url, tipg.base_url
        items = f"/ogc/collections/incidents/items?bbox={BBOX}&limit={LIMIT}"
        variants = [
            ctx.http("huxiao-ogc-items", a + items, headers=key, server=app,
                     description=f"GET {items}, viewer API key"),
            ctx.http("peer-incidents", f"{p}/incidents?bbox={BBOX}&limit={LIMIT}", server=peer,
                     description="peer GET /incidents (FeatureCollection built in SQL, no auth)"),
            _slow_http("tipg-items", f"{t}/collections/bench_tipg.incidents/items?bbox={BBOX}&limit={LIMIT}", ctx,
                       server=tipg, description="tipg items of the same table (wrk timeout 60 s)"),
        ]
        if ctx.breakdown:
            variants.append(ctx.http("huxiao-ogc-items-bearer", a + items, headers=bearer, server=app,
                                     description="the same, admin's bearer token"))
        rows = ctx.compare(variants, baseline="peer-incidents", label=f"{NAME} w{workers}")
    by = {r.name: r for r in rows}

    def ratio(x: str, y: str) -> float | None:
        return by[x].rps / by[y].rps if x in by and y in by and by[x].rps and by[y].rps else None

    ratios = {"huxiao vs peer": ratio("huxiao-ogc-items", "peer-incidents"),
              "huxiao vs tipg": ratio("huxiao-ogc-items", "tipg-items"),
              "peer vs tipg": ratio("peer-incidents", "tipg-items")}
    goals = [Threshold("huxiao-ogc-items", "rps", 0.8 * by["peer-incidents"].rps,
                       "OGC items ≥ 0.8× the peer's /incidents", at_least=True)]
    notes = ["Ratios (req/s over req/s, same run): " + ", ".join(
        f"{k} {v:.2f}" for k, v in ratios.items() if v is not None)]
    return Comparison(scenario=NAME, title=TITLE, workers=workers, baseline="peer-incidents", rows=rows,
                      goals=[g.judge(by) for g in goals], notes=notes,
                      setup={"incidents": data.incidents, "bbox": BBOX, "limit": LIMIT, "ratios": ratios})
