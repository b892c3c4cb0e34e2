"""`exports`: CSV of 10^6 check-ins (server memory, rows/s) and XLSX of 10^5 rows × 12 columns (issue 11).

Data: its own database `huxiao_bench_exports` on the bench server (created and migrated on first use, so the
check-in history of `huxiao_bench` stays as its scenarios expect it): jurisdiction `BENCHX` (Asia/Shanghai), 50
schools with a gate post each, 200 officers and a commander, and `CHECKINS` (10^6) check-ins, one every 13 s from
2026-06-01 00:00 UTC (so 10^5 of them lie in the first 1,300,000 s), with judgement columns, flags and notes.
Made once in SQL and recognised by counting.

Measured on one uvicorn worker (`api.main:app`, one process), each export a single request from this process
reading the body as it comes, while a thread samples the worker's RSS (`/proc/<pid>/status`, every 10 ms):

- `csv-1e6`      GET /v1/exports/checkins?from=…&to=… — all 10^6 check-ins, 24 columns, CSV (COPY, streamed);
                 rows/s = 10^6 / (time to the last byte); RSS growth = highest sample − RSS just before
- `csv-slow`     the same export read at ~4 MB/s for 8 s, then the client hangs up: with the bounded queue the
                 worker's memory stays flat while PostgreSQL waits (and the audit records `completed: false`)
- `xlsx-1e5x12`  GET /v1/exports/checkins?…&columns=<12 keys>&format=xlsx — 10^5 check-ins × 12 columns;
                 seconds to the last byte (build in a thread + download)
- `xlsx-1e5x24`  the same with all 24 columns, for context

Goals (issue 11): CSV of 10^6 check-ins with RSS growth ≤ 50 MB and ≥ 100,000 rows/s; XLSX of 10^5 rows ×
12 columns ≤ 30 s. Each figure is the median of `REPEATS` runs (the RSS goal judges the worst run).
"""

from __future__ import annotations

import asyncio
import http.client
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit

import asyncpg
from sqlalchemy.engine import make_url

from bench import harness
from bench.database import BENCH_TOKEN_TTL_S, libpq_url
from bench.harness import Comparison, limit_goal

NAME = "exports"
TITLE = "Exports: CSV of 10^6 check-ins (memory, rows/s), XLSX of 10^5 rows × 12 columns"
EXPORTS_DB = "huxiao_bench_exports"
COUNTY = "BENCHX"
OFFICERS = 200
SCHOOLS = 50
CHECKINS = 1_000_000
XLSX_ROWS = 100_000
STEP_S = 13
T0 = datetime(2026, 6, 1, tzinfo=UTC)
REPEATS = 3
MAX_RSS_GROWTH_MB = 50.0
MIN_ROWS_PER_S = 100_000.0
MAX_XLSX_S = 30.0
XLSX_COLUMNS = ("id", "officer", "kind", "recorded_at", "received_at", "lon", "lat", "accuracy_m", "school",
                "post", "geofence", "flags")
SLOW_READ_BYTES_PER_S = 4 << 20
SLOW_READ_S = 8.0
CENTRE = (113.65, 34.75)


def commander_id() -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, "huxiao-bench-exports-commander")


DATA_SQL = f"""
INSERT INTO jurisdictions (code, name, level, path, time_zone)
VALUES ('{COUNTY}', '导出测试县', 'county', '{COUNTY}', 'Asia/Shanghai') ON CONFLICT DO NOTHING;
INSERT INTO users (id, username, display_name, role, unit_type, jurisdiction_code, password_hash)
SELECT CAST(md5('benchx-officer-' || n) AS uuid), 'benchx.officer.' || n, '民警' || n, 'officer', 'police',
       '{COUNTY}', 'not-a-password-hash'
FROM generate_series(0, {OFFICERS} - 1) n ON CONFLICT DO NOTHING;
INSERT INTO users (id, username, display_name, role, unit_type, jurisdiction_code, password_hash)
VALUES ('{commander_id()}', 'benchx.commander', '指挥员', 'commander', 'police', '{COUNTY}', 'not-a-password-hash')
ON CONFLICT DO NOTHING;
INSERT INTO schools (id, external_id, name, kind, jurisdiction_code, address, location, zone_radius_m)
SELECT CAST(md5('benchx-school-' || k) AS uuid), 'benchx-school-' || k, '导出测试第' || k || '小学', 'primary',
       '{COUNTY}', '测试路' || k || '号',
       CAST(ST_SetSRID(ST_MakePoint({CENTRE[0]} + (k % 10) * 0.01, {CENTRE[1]} + (k / 10) * 0.01), 4326) AS geography),
       200
FROM generate_series(0, {SCHOOLS} - 1) k ON CONFLICT DO NOTHING;
INSERT INTO posts (id, school_id, jurisdiction_code, name, kind, location, radius_m)
SELECT CAST(md5('benchx-post-' || k) AS uuid), CAST(md5('benchx-school-' || k) AS uuid), '{COUNTY}',
       '南门护学岗' || k, 'school_guard',
       CAST(ST_SetSRID(ST_MakePoint({CENTRE[0]} + (k % 10) * 0.01, {CENTRE[1]} + (k / 10) * 0.01 - 0.0005), 4326)
            AS geography), 50
FROM generate_series(0, {SCHOOLS} - 1) k ON CONFLICT DO NOTHING;
"""

# One check-in every STEP_S seconds; officer n % 200 near school n % 50; about 1 in 5 outside the geofence.
CHECKINS_SQL = f"""
INSERT INTO checkins (id, officer_id, jurisdiction_code, kind, recorded_at, received_at, location, accuracy_m, crs,
                      shift_id, post_id, school_id, distance_to_school_m, in_school_zone, distance_to_post_m,
                      geofence, in_post_geofence, in_duty_window, flags, vehicle, lights, mock_location, note)
SELECT CAST(md5('benchx-checkin-' || n) AS uuid), CAST(md5('benchx-officer-' || (n % {OFFICERS})) AS uuid),
       '{COUNTY}', CASE WHEN n % 20 = 0 THEN 'arrive' WHEN n % 20 = 19 THEN 'depart' ELSE 'heartbeat' END,
       ts, ts + interval '2 seconds',
       CAST(ST_SetSRID(ST_MakePoint({CENTRE[0]} + (k % 10) * 0.01 + d * 0.00001,
                                    {CENTRE[1]} + (k / 10) * 0.01 - 0.0005), 4326) AS geography),
       5 + n % 30, 'wgs84', NULL, CAST(md5('benchx-post-' || k) AS uuid), CAST(md5('benchx-school-' || k) AS uuid),
       d * 0.9, true, d * 0.9, CASE WHEN d > 60 THEN 'outside' WHEN d < 30 THEN 'inside' ELSE 'uncertain' END,
       CASE WHEN d > 60 THEN false WHEN d < 30 THEN true END, n % 7 <> 0,
       CASE WHEN d > 60 THEN ARRAY['outside_geofence'] WHEN n % 50 = 0 THEN ARRAY['poor_accuracy', 'stale']
            ELSE ARRAY[]::text[] END,
       n % 3 = 0, n % 6 = 0, false, CASE WHEN n % 25 = 0 THEN '已到岗，秩序正常' END
FROM (SELECT n, n % {SCHOOLS} AS k, CAST((CAST(n AS bigint) * 7919) % 80 AS int) AS d,
             CAST('{T0.isoformat()}' AS timestamptz) + n * interval '{STEP_S} seconds' AS ts
      FROM generate_series($1::int, $2::int - 1) n) g
"""


def database_url() -> str:
    """`huxiao_bench_exports` on the bench server (the app's server), created and migrated when needed. Not
    through `ctx.db_url`: that migrates `huxiao_bench`, which this scenario does not use."""
    import os

    from cli.cluster import Cluster, ensure_postgis
    from cli.databases import ensure_database, migrate
    from domain.database import database_url as app_database_url
    from domain.settings import get_settings

    settings = get_settings()
    if not settings.database_url:
        ensure_postgis()
        os.environ["HUXIAO_PG_PORT"] = str(Cluster(settings.data_dir, port=settings.pg_port).start())
        get_settings.cache_clear()
        settings = get_settings()
    url = make_url(app_database_url(settings)).set(database=EXPORTS_DB).render_as_string(hide_password=False)
    if make_url(url).database != EXPORTS_DB:
        raise RuntimeError(f"refusing to use {url}")
    ensure_database(url)
    migrate(url)
    return url


async def _ensure_data(url: str) -> int:
    conn = await asyncpg.connect(libpq_url(url))
    try:
        await conn.execute("SELECT huxiao_ensure_checkin_partitions(CAST($1 AS date), 8)", T0.date())
        await conn.execute(DATA_SQL)
        have = await conn.fetchval("SELECT count(*) FROM checkins WHERE jurisdiction_code = $1", COUNTY)
        if have != CHECKINS:
            harness.log(f"  generating {CHECKINS:,} check-ins (had {have:,})")
            await conn.execute("DELETE FROM checkins WHERE jurisdiction_code = $1", COUNTY)
            t = time.monotonic()
            for lo in range(0, CHECKINS, 100_000):
                await conn.execute(CHECKINS_SQL, lo, lo + 100_000)
            await conn.execute("ANALYZE checkins")
            harness.log(f"  generated in {time.monotonic() - t:.0f} s")
        return await conn.fetchval("SELECT count(*) FROM checkins WHERE jurisdiction_code = $1", COUNTY)
    finally:
        await conn.close()


async def _audit(url: str, export_id: str) -> dict | None:
    conn = await asyncpg.connect(libpq_url(url))
    try:
        row = await conn.fetchrow("SELECT changes::text FROM audit_log WHERE entity = 'export' AND entity_id = $1",
                                  export_id)
    finally:
        await conn.close()
    import json

    return json.loads(row[0]) if row else None


# --- measuring one export --------------------------------------------------------------------------------------

def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class RssSampler:
    """The highest RSS of a process while the block runs, sampled every 10 ms in a thread."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self.before = rss_mb(pid)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.01)

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb(self.pid))

    @property
    def growth_mb(self) -> float:
        return self.peak - self.before


def fetch(base: str, path: str, params: dict, token: str, *, max_rate: float | None = None,
          stop_after_s: float | None = None) -> dict:
    """GET the export, reading 1 MiB at a time (at most `max_rate` bytes/s; hang up after `stop_after_s`)."""
    split = urlsplit(base)
    conn = http.client.HTTPConnection(split.hostname, split.port, timeout=600)
    t0 = time.monotonic()
    conn.request("GET", f"{path}?{urlencode(params, doseq=True)}", headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"{path} answered {resp.status}: {resp.read()[:300]!r}")
    first_s = None
    size = lines = 0
    head = b""
    while True:
        chunk = resp.read1(1 << 20) if max_rate is None else resp.read1(min(1 << 20, int(max_rate / 20)))
        if not chunk:
            break
        first_s = first_s or time.monotonic() - t0
        if len(head) < 4096:
            head += chunk[:4096]
        size += len(chunk)
        lines += chunk.count(b"\n")
        if max_rate is not None:
            time.sleep(max(0.0, size / max_rate - (time.monotonic() - t0)))
        if stop_after_s is not None and time.monotonic() - t0 > stop_after_s:
            break
    elapsed = time.monotonic() - t0
    headers = {k.lower(): v for k, v in resp.getheaders()}
    conn.close()
    return {"elapsed_s": elapsed, "first_byte_s": first_s, "bytes": size, "lines": lines, "head": head,
            "export_id": headers.get("x-export-id"), "rows_header": headers.get("x-export-rows"),
            "sheets": headers.get("x-export-sheets")}


def measure(server: harness.Server, path: str, params: dict, token: str, **kwargs) -> dict:
    """One export with the worker's RSS sampled, and the CPU seconds of the worker and of the database backends
    (parallel workers not counted: a lower bound) — CPU barely moves with other work on the machine, wall time
    does."""
    pid = server.proc.pid
    time.sleep(0.5)
    app0, db0 = harness._cpu_snapshot(pgid=pid), harness._cpu_snapshot(dbname=EXPORTS_DB)
    with RssSampler(pid) as rss:
        out = fetch(server.base_url, path, params, token, **kwargs)
    app_cpu = harness._cpu_delta(app0, harness._cpu_snapshot(pgid=pid))
    db_cpu = harness._cpu_delta(db0, harness._cpu_snapshot(dbname=EXPORTS_DB))
    time.sleep(0.5)
    out.update(rss_before_mb=rss.before, rss_peak_mb=rss.peak, rss_growth_mb=rss.growth_mb,
               rss_after_mb=rss_mb(pid), app_cpu_s=app_cpu, db_cpu_s=db_cpu,
               background_cores=harness.busy_cores(0.5))
    out.pop("head", None)
    return out


def _fmt(v: float | None, spec: str = ",.1f") -> str:
    return "–" if v is None else format(v, spec)


def run(ctx, workers: int) -> Comparison:
    if workers != 1:  # one worker's memory is the figure; more workers would not change it
        harness.log("  exports: measured with one worker only; skipped")
        return Comparison(scenario=NAME, title=TITLE, workers=workers, baseline="-", rows=[],
                          notes=["Measured with one worker only (see the 1-worker table)."])
    url = database_url()
    have = asyncio.run(_ensure_data(url))
    if have != CHECKINS:
        raise RuntimeError(f"{have} check-ins in {EXPORTS_DB}, expected {CHECKINS}")
    from domain.credentials import issue_access_token
    from domain.settings import Settings

    token = issue_access_token(Settings(jwt_secret=ctx.jwt_secret, access_token_ttl_s=BENCH_TOKEN_TTL_S),
                               user_id=commander_id())[0]
    path = "/v1/exports/checkins"
    until = T0 + timedelta(seconds=STEP_S * CHECKINS)
    every = {"jurisdiction_code": COUNTY, "from": T0.isoformat(), "to": until.isoformat()}
    xlsx = {"jurisdiction_code": COUNTY, "from": T0.isoformat(),
            "to": (T0 + timedelta(seconds=STEP_S * XLSX_ROWS)).isoformat(), "format": "xlsx"}
    results: dict[str, list[dict]] = {"csv-1e6": [], "csv-slow": [], "xlsx-1e5x12": [], "xlsx-1e5x24": []}
    env = {"DATABASE_URL": url, "HUXIAO_JWT_SECRET": ctx.jwt_secret, "HUXIAO_LOG_LEVEL": "WARNING"}
    with harness.Server("api.main:app", name="exports", workers=1, env=env, log_dir=ctx.log_dir) as server:
        # warm-up: imports, pool, plans
        fetch(server.base_url, path, {**every, "to": (T0 + timedelta(minutes=10)).isoformat()}, token)
        fetch(server.base_url, path, {**xlsx, "to": (T0 + timedelta(minutes=10)).isoformat()}, token)
        for r in range(REPEATS):
            background = harness.wait_for_quiet(max_busy_cores=ctx.quiet_cores, timeout_s=ctx.quiet_wait_s)
            m = measure(server, path, {**every, "lang": "en"}, token)
            if m["lines"] != CHECKINS + 1:
                raise RuntimeError(f"CSV had {m['lines'] - 1} rows, expected {CHECKINS}")
            m["rows_per_s"] = CHECKINS / m["elapsed_s"]
            m["background_before"] = background
            m["audit"] = asyncio.run(_audit(url, m["export_id"]))
            results["csv-1e6"].append(m)
            harness.log(f"  [exports] round {r + 1} csv-1e6      {m['elapsed_s']:6.2f} s  {m['rows_per_s']:9,.0f} rows/s"
                        f"  RSS {m['rss_before_mb']:.1f} -> peak {m['rss_peak_mb']:.1f} MB"
                        f" (+{m['rss_growth_mb']:.1f}), {m['bytes'] / 1e6:.0f} MB, CPU app {m['app_cpu_s']:.1f} s"
                        f" + db {m['db_cpu_s']:.1f} s, other work {background:.1f} CPUs")
            background = harness.wait_for_quiet(max_busy_cores=ctx.quiet_cores, timeout_s=ctx.quiet_wait_s)
            m = measure(server, path, {**xlsx, "columns": ",".join(XLSX_COLUMNS)}, token)
            m["background_before"] = background
            if m["rows_header"] != str(XLSX_ROWS):
                raise RuntimeError(f"XLSX had {m['rows_header']} rows, expected {XLSX_ROWS}")
            results["xlsx-1e5x12"].append(m)
            harness.log(f"  [exports] round {r + 1} xlsx-1e5x12  {m['elapsed_s']:6.2f} s"
                        f"  RSS +{m['rss_growth_mb']:.1f} MB, {m['bytes'] / 1e6:.1f} MB, CPU app {m['app_cpu_s']:.1f} s"
                        f" + db {m['db_cpu_s']:.1f} s, other work {background:.1f} CPUs")
        m = measure(server, path, xlsx, token)
        results["xlsx-1e5x24"].append(m)
        harness.log(f"  [exports] xlsx-1e5x24  {m['elapsed_s']:6.2f} s  RSS +{m['rss_growth_mb']:.1f} MB")
        m = measure(server, path, every, token, max_rate=SLOW_READ_BYTES_PER_S, stop_after_s=SLOW_READ_S)
        time.sleep(1.0)
        m["audit"] = asyncio.run(_audit(url, m["export_id"]))
        results["csv-slow"].append(m)
        harness.log(f"  [exports] csv-slow     read {m['bytes'] / 1e6:.0f} MB in {m['elapsed_s']:.1f} s, RSS "
                    f"+{m['rss_growth_mb']:.1f} MB; audit {m['audit']}")

    def med(name: str, key: str) -> float:
        return statistics.median(x[key] for x in results[name])

    csv_rows_s, csv_s = med("csv-1e6", "rows_per_s"), med("csv-1e6", "elapsed_s")
    worst_growth = max(x["rss_growth_mb"] for x in results["csv-1e6"])
    xlsx_s = med("xlsx-1e5x12", "elapsed_s")
    slow = results["csv-slow"][0]
    lines = ["| export | what | runs | seconds (median) | rows/s | CPU s app + db (median) | RSS before → peak MB "
             "| growth MB (worst) | size MB | other work CPUs |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    what = {"csv-1e6": f"{CHECKINS:,} check-ins × 24 columns, CSV (COPY, streamed)",
            "xlsx-1e5x12": f"{XLSX_ROWS:,} check-ins × 12 columns, XLSX",
            "xlsx-1e5x24": f"{XLSX_ROWS:,} check-ins × 24 columns, XLSX",
            "csv-slow": f"the 10^6 CSV read at {SLOW_READ_BYTES_PER_S >> 20} MiB/s, hung up after {SLOW_READ_S:g} s"}
    for name, runs in results.items():
        rows = XLSX_ROWS if name.startswith("xlsx") else CHECKINS
        secs = statistics.median(x["elapsed_s"] for x in runs)
        rate = "–" if name == "csv-slow" else f"{rows / secs:,.0f}"
        cpu = (f"{statistics.median(x['app_cpu_s'] for x in runs):.1f} + "
               f"{statistics.median(x['db_cpu_s'] for x in runs):.1f}")
        lines.append(f"| `{name}` | {what[name]} | {len(runs)} | {secs:.2f} | {rate} | {cpu} | "
                     f"{statistics.median(x['rss_before_mb'] for x in runs):.1f} → "
                     f"{statistics.median(x['rss_peak_mb'] for x in runs):.1f} | "
                     f"{max(x['rss_growth_mb'] for x in runs):+.1f} | "
                     f"{statistics.median(x['bytes'] for x in runs) / 1e6:,.1f} | "
                     f"{statistics.median(x['background_cores'] for x in runs):.1f} |")
    notes = ["\n".join(lines),
             f"The slow reader's export was audited as {slow['audit']} after it hung up."]
    goals = [
        limit_goal("CSV of 10^6 check-ins: worker RSS growth ≤ 50 MB (worst run)", subject="csv-1e6",
                   value=worst_growth, limit=MAX_RSS_GROWTH_MB, unit="MB"),
        {"label": "CSV of 10^6 check-ins ≥ 100,000 rows/s (median)", "variant": "csv-1e6", "metric": "rows/s",
         "value": csv_rows_s, "limit": MIN_ROWS_PER_S, "at_least": True, "met": csv_rows_s >= MIN_ROWS_PER_S,
         "summary": f"`csv-1e6` {csv_rows_s:,.0f} rows/s (≥ {MIN_ROWS_PER_S:,.0f})"},
        limit_goal("XLSX of 10^5 rows × 12 columns ≤ 30 s (median)", subject="xlsx-1e5x12", value=xlsx_s,
                   limit=MAX_XLSX_S, unit="s"),
        limit_goal("slow client: worker RSS growth ≤ 50 MB while PostgreSQL waits", subject="csv-slow",
                   value=slow["rss_growth_mb"], limit=MAX_RSS_GROWTH_MB, unit="MB"),
    ]
    return Comparison(scenario=NAME, title=TITLE, workers=1, baseline="-", rows=[], goals=goals, notes=notes,
                      setup={"database": EXPORTS_DB, "checkins": CHECKINS, "xlsx_rows": XLSX_ROWS,
                             "xlsx_columns": list(XLSX_COLUMNS), "csv_seconds_median": csv_s,
                             "results": results})
