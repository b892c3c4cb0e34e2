"""`peer`: huxiao against the hand-written peer (`../shared/peer/server.py`) on the same work, same run.

Both servers run with one uvicorn worker each (uvloop, httptools) on the same cluster, against databases with
the same school boundaries: huxiao on `huxiao_bench` (the dense county `BENCH_DENSE`, 300 schools ~400 m
apart, two in three with a campus), the peer on `huxiao_peer` (its own `schema.sql`, filled with a copy of
those boundaries and radii). Interleaved rounds, medians; wrk 32 connections (batches: 4).

- `huxiao-zone` / `peer-zone`        GET /v1/zones/lookup (bearer JWT of the BENCH admin) / GET /zone, random
                                     points over the dense county; `pg-zone`: pgbench running the peer's
                                     `ST_DWithin` statement with the same points (8 clients, prepared)
- `huxiao-checkin` / `peer-checkin`  POST /v1/checkins (one of 200 officers' tokens per request, a new UUID,
                                     now, a random point) / POST /checkin with the same fields
- `huxiao-incident`                  POST /v1/incidents (an officer's token, random category, severity and point; the
                                     peer has no such endpoint: req/s and CPU reported)
- `huxiao-batch500`                  POST /v1/checkins/batch with 500 new items (check-ins/s = req/s × 500)
- `huxiao-me` / `huxiao-healthz`     GET /v1/me (bearer) and GET /healthz of the same server

Goals (issue 10): zone lookup ≥ 1.0× the peer; single check-in ≥ 0.8× the peer with p99 ≤ 50 ms; batches
≥ 20,000 check-ins/s; `/v1/me` ≥ 0.5× `/healthz`. Worker RSS is read from /proc after the rounds.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from contextlib import ExitStack
from pathlib import Path

import asyncpg

from bench import harness
from bench.checkin_data import OFFICER_SQL
from bench.database import BENCH_TOKEN_TTL_S, libpq_url
from bench.datasets import DENSE, DENSE_CENTRE, ensure_dense_schools
from bench.harness import Comparison, Threshold, pgbench_variant

NAME = "peer"
TITLE = "huxiao vs the hand-written peer server: zone lookup, check-ins, /v1/me (one worker each)"
PEER_DIR = harness.REPO_ROOT.parent / "shared" / "peer"
PEER_DB = "huxiao_peer"
OFFICERS = 200
BATCH = 500
HALF_LON, HALF_LAT = 0.041, 0.026  # the dense county's extent around its centre

LUA_COMMON = r"""
local tokens = {%(tokens)s}
local officers = {%(officers)s}
local lon0, lat0, dlon, dlat = %(lon0).6f, %(lat0).6f, %(dlon).6f, %(dlat).6f
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
local function uuid4()
  return string.format("%%04x%%04x-%%04x-4%%03x-%%04x-%%04x%%04x%%04x",
    math.random(0, 65535), math.random(0, 65535), math.random(0, 65535), math.random(0, 4095),
    32768 + math.random(0, 16383), math.random(0, 65535), math.random(0, 65535), math.random(0, 65535))
end
local function point() return lon0 + math.random() * dlon, lat0 + math.random() * dlat end
"""

LUA = {
    "huxiao-zone": r"""
local h = {["Authorization"] = "Bearer " .. tokens[1]}
request = function()
  local lon, lat = point()
  return wrk.format("GET", string.format("/v1/zones/lookup?lon=%.6f&lat=%.6f", lon, lat), h)
end
""",
    "peer-zone": r"""
request = function()
  local lon, lat = point()
  return wrk.format("GET", string.format("/zone?lon=%.6f&lat=%.6f", lon, lat))
end
""",
    "huxiao-checkin": r"""
request = function()
  local lon, lat = point()
  local body = string.format('{"id":"%s","kind":"heartbeat","recorded_at":"%s","location":{"type":"Point",' ..
    '"coordinates":[%.6f,%.6f]},"accuracy_m":%d}', uuid4(), os.date("!%Y-%m-%dT%H:%M:%SZ"), lon, lat,
    math.random(5, 30))
  return wrk.format("POST", "/v1/checkins", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[math.random(2, #tokens)]}, body)
end
""",
    "peer-checkin": r"""
request = function()
  local lon, lat = point()
  local body = string.format('{"id":"%s","officer_id":%d,"recorded_at":"%s","lon":%.6f,"lat":%.6f,' ..
    '"accuracy_m":%d}', uuid4(), officers[math.random(#officers)], os.date("!%Y-%m-%dT%H:%M:%SZ"), lon, lat,
    math.random(5, 30))
  return wrk.format("POST", "/checkin", {["Content-Type"] = "application/json"}, body)
end
""",
    "huxiao-incident": r"""
local categories = {"bullying", "suspicious_person", "traffic", "school_disturbance"}
request = function()
  local lon, lat = point()
  local body = string.format('{"category":"%s","severity":%d,"source":"one_button_alarm","location":{"type":' ..
    '"Point","coordinates":[%.6f,%.6f]},"alarm_at":"%s"}', categories[math.random(#categories)], math.random(1, 4),
    lon, lat, os.date("!%Y-%m-%dT%H:%M:%SZ"))
  return wrk.format("POST", "/v1/incidents", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[math.random(2, #tokens)]}, body)
end
""",
    "huxiao-batch500": r"""
local parts = {}
request = function()
  local now = os.time()
  for k = 1, %(batch)d do
    local lon, lat = point()
    parts[k] = string.format('{"id":"%%s","kind":"heartbeat","recorded_at":"%%s","location":{"type":"Point",' ..
      '"coordinates":[%%.6f,%%.6f]},"accuracy_m":%%d}', uuid4(), os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ", now - 3600 + k * 7),
      lon, lat, math.random(5, 30))
  end
  return wrk.format("POST", "/v1/checkins/batch", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[math.random(2, #tokens)]}, '{"items":[' .. table.concat(parts, ",") .. ']}')
end
""",
}

ZONE_PGBENCH = r"""\set lon %(lon0).6f + random(0, 1000000) * %(dlon_step).12f
\set lat %(lat0).6f + random(0, 1000000) * %(dlat_step).12f
%(sql)s;
"""


def _lua(name: str, tokens: list[str], officers: list[int]) -> str:
    common = LUA_COMMON % {"tokens": ",".join(f'"{t}"' for t in tokens), "officers": ",".join(map(str, officers)),
                           "lon0": DENSE_CENTRE[0] - HALF_LON, "lat0": DENSE_CENTRE[1] - HALF_LAT,
                           "dlon": 2 * HALF_LON, "dlat": 2 * HALF_LAT}
    body = LUA[name] % {"batch": BATCH} if name == "huxiao-batch500" else LUA[name]
    return common + body


def _peer_sql(name: str) -> str:
    text = (PEER_DIR / "server.py").read_text()
    start = text.index(f'{name} = """') + len(f'{name} = """')
    return text[start:text.index('"""', start)]


async def _prepare(app_url: str, jwt_secret: str) -> tuple[list[str], list[int], str]:
    """Officers in the dense county (huxiao), the peer's database with the same boundaries; tokens."""
    from bench.database import bench_tokens
    from domain.users import hash_password

    app = await asyncpg.connect(libpq_url(app_url))
    try:
        await app.execute(f"""
            INSERT INTO users (id, username, display_name, role, unit_type, jurisdiction_code, password_hash)
            SELECT {OFFICER_SQL.format(n="n")}, 'peer.officer.' || n, 'Peer bench officer ' || n, 'officer',
                   'police', $1, $2
            FROM generate_series(0, {OFFICERS - 1}) n ON CONFLICT DO NOTHING
        """, DENSE, hash_password(secrets.token_urlsafe(16)))
        officers = [r[0] for r in await app.fetch(f"""
            SELECT id FROM users WHERE id IN (SELECT {OFFICER_SQL.format(n="n")} FROM generate_series(0, {OFFICERS - 1}) n)
        """)]
        admin = await app.fetchval("SELECT id FROM users WHERE username = 'bench-admin'")
        boundaries = await app.fetch("""
            SELECT row_number() OVER (ORDER BY external_id) AS id, name, ST_AsBinary(boundary) AS b,
                   least(zone_radius_m, 200)::int AS r
            FROM schools WHERE jurisdiction_code = $1 AND deleted_at IS NULL
        """, DENSE)
        if not await app.fetchval("SELECT true FROM pg_database WHERE datname = $1", PEER_DB):
            await app.execute(f"CREATE DATABASE {PEER_DB}")
    finally:
        await app.close()
    peer_url = libpq_url(app_url).rsplit("/", 1)[0] + "/" + PEER_DB
    peer = await asyncpg.connect(peer_url)
    try:
        if not await peer.fetchval("SELECT to_regclass('public.schools') IS NOT NULL"):
            await peer.execute((PEER_DIR / "schema.sql").read_text())
        async with peer.transaction():
            await peer.execute("TRUNCATE schools, checkins")
            await peer.executemany("INSERT INTO schools VALUES ($1, $2, ST_GeogFromWKB($3), $4)",
                                   [(r["id"], r["name"], r["b"], r["r"]) for r in boundaries])
        await peer.execute("ANALYZE schools")
    finally:
        await peer.close()
    # (bench_tokens runs its own event loop: in a thread, not inside this one)
    tokens = await asyncio.to_thread(bench_tokens, app_url, jwt_secret, [admin, *officers], ttl_s=BENCH_TOKEN_TTL_S)
    return tokens, list(range(1, OFFICERS + 1)), peer_url


def _rss_mb(server: harness.Server) -> float | None:
    """Resident memory of the server's process group (uvicorn and its workers), in MB."""
    if server.proc is None:
        return None
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[2]) != server.proc.pid:  # field 5: the process group
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1024


def run(ctx, workers: int) -> Comparison:
    ctx.auth()  # the BENCH jurisdiction and its admin
    ensure_dense_schools(ctx.db_url)
    tokens, officers, peer_url = asyncio.run(_prepare(ctx.db_url, ctx.jwt_secret))
    bearer = {"Authorization": f"Bearer {tokens[0]}"}
    zone_sql = " ".join(_peer_sql("ZONE_SQL").split()).replace("$1::float8", ":lon::float8").replace(
        "$2::float8", ":lat::float8")
    zone_script = ZONE_PGBENCH % {"lon0": DENSE_CENTRE[0] - HALF_LON, "lat0": DENSE_CENTRE[1] - HALF_LAT,
                                  "dlon_step": 2 * HALF_LON / 1e6, "dlat_step": 2 * HALF_LAT / 1e6, "sql": zone_sql}
    with ExitStack() as stack:
        app = stack.enter_context(ctx.server("api.main:app", workers=workers, name="app"))
        peer = stack.enter_context(harness.Server(
            "server:app", name="peer", workers=workers, app_dir=PEER_DIR, health_path="/health",
            env={"ANCHORS_DSN": peer_url, "ANCHORS_POOL": "16"}, log_dir=ctx.log_dir))
        a, p = app.base_url, peer.base_url
        probe_zone = f"{a}/v1/zones/lookup?lon={DENSE_CENTRE[0]}&lat={DENSE_CENTRE[1]}"
        variants = [
            ctx.http("huxiao-zone", probe_zone, headers=bearer, lua=_lua("huxiao-zone", tokens, officers),
                     server=app, description="GET /v1/zones/lookup, random points, bearer JWT"),
            ctx.http("peer-zone", f"{p}/zone?lon={DENSE_CENTRE[0]}&lat={DENSE_CENTRE[1]}",
                     lua=_lua("peer-zone", tokens, officers), server=peer, description="peer GET /zone"),
            pgbench_variant("pg-zone", peer_url, zone_script,
                            description="pgbench: the peer's ST_DWithin statement, 8 clients (tps)"),
            ctx.http("huxiao-checkin", f"{a}/v1/checkins", method="POST", headers=bearer, body="{}",
                     lua=_lua("huxiao-checkin", tokens, officers), server=app,
                     description="POST /v1/checkins, 200 officers"),
            ctx.http("peer-checkin", f"{p}/checkin", method="POST", body="{}",
                     lua=_lua("peer-checkin", tokens, officers), server=peer, description="peer POST /checkin"),
            ctx.http("huxiao-incident", f"{a}/v1/incidents", method="POST", headers=bearer, body="{}",
                     lua=_lua("huxiao-incident", tokens, officers), server=app,
                     description="POST /v1/incidents, 200 officers, random category/severity/point"),
            harness.http_variant("huxiao-batch500", f"{a}/v1/checkins/batch", connections=4, method="POST",
                                 headers=bearer, body="{}", lua=_lua("huxiao-batch500", tokens, officers),
                                 server=app, description="POST /v1/checkins/batch, 500 items, 4 connections"),
            ctx.http("huxiao-me", f"{a}/v1/me", headers=bearer, server=app, description="GET /v1/me, bearer"),
            ctx.http("huxiao-healthz", f"{a}/healthz", server=app, description="GET /healthz"),
        ]
        rows = ctx.compare(variants, baseline="peer-zone", label=f"{NAME} w{workers}")
        rss = {"huxiao": _rss_mb(app), "peer": _rss_mb(peer)}
    by = {r.name: r for r in rows}

    def ratio(x: str, y: str) -> float | None:
        return by[x].rps / by[y].rps if by[x].rps and by[y].rps else None

    ratios = {"zone vs peer": ratio("huxiao-zone", "peer-zone"),
              "zone vs pgbench": ratio("huxiao-zone", "pg-zone"),
              "peer zone vs pgbench": ratio("peer-zone", "pg-zone"),
              "check-in vs peer": ratio("huxiao-checkin", "peer-checkin"),
              "me vs healthz": ratio("huxiao-me", "huxiao-healthz")}
    goals = [
        Threshold("huxiao-zone", "rps", by["peer-zone"].rps, "zone lookup ≥ 1.0× the peer", at_least=True),
        Threshold("huxiao-checkin", "rps", 0.8 * by["peer-checkin"].rps, "single check-in ≥ 0.8× the peer",
                  at_least=True),
        Threshold("huxiao-checkin", "p99_ms", 50.0, "single check-in p99 ≤ 50 ms", unit="ms"),
        Threshold("huxiao-batch500", "rps", 20_000.0, "≥ 20,000 check-ins/s in 500-item batches", at_least=True,
                  scale=BATCH, unit="check-ins/s"),
        Threshold("huxiao-me", "rps", 0.5 * by["huxiao-healthz"].rps, "GET /v1/me ≥ 0.5× /healthz", at_least=True),
    ]
    notes = ["Ratios (req/s over req/s, same run): " + ", ".join(
        f"{k} {v:.2f}" for k, v in ratios.items() if v is not None),
        f"Worker RSS after the rounds: huxiao {rss['huxiao']:.0f} MB, peer {rss['peer']:.0f} MB"
        if rss["huxiao"] and rss["peer"] else "RSS not read"]
    return Comparison(scenario=NAME, title=TITLE, workers=workers, baseline="peer-zone", rows=rows,
                      goals=[g.judge(by) for g in goals], notes=notes,
                      setup={"schools": DENSE, "officers": OFFICERS, "rss_mb": rss, "ratios": ratios})
