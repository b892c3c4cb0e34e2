"""Campaign report benchmark (issue 12): a county-year report, through the API and as its bare SQL, in one run.

    DATABASE_URL=postgresql://postgres@127.0.0.1:55432/huxiao_bench_reports .venv/bin/python -m bench.campaign_report

Its own database (default `huxiao_bench_reports` on the server of DATABASE_URL, created and migrated on first use,
so it never depends on what other scenarios did to `huxiao_bench`), with data generated once in SQL (fixed seeds,
recognised by counting on later runs):

- a county `BENCH_RPT` with 6 stations, 300 schools on a 20 × 15 grid 400 m apart (two in three with a campus),
  one gate post each, 600 officers;
- a school year of duty: on every Monday–Friday from 2025-12-01 to 2026-11-30, two shifts per post (07:00–08:30 and
  16:00–18:00 local) → 156,600 shifts; each shift's check-ins every 18 minutes from a few minutes before the start to
  the end (an arrival, heartbeats, a departure), with 1 in 20 shifts absent, 1 in 10 late, 1 in 20 leaving early
  and now and then a fix outside the geofence → ~1.0 × 10^6 check-ins;
- 10^4 incidents spread over the year 0–350 m from a random school, each with 0–3 arrivals;
- 2,000 disputes at random schools, half of them resolved;
- 10^4 hazards at random schools over the year, two in three closed 10 days after discovery (with their log rows).

The campaign covers the county for the whole year. Measured, interleaved, `--repeats` times each (medians):
`api` — `GET /v1/reports/campaign/{id}?as_of=…` in process (httpx ASGI transport: authentication, the report's
every statement on the pool, JSON); `sql` — the same statements the report runs, with the same parameters, straight
on one asyncpg connection; and once each the XLSX, HTML and PDF renderings.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
import httpx

RPT = "BENCH_RPT"
STATIONS = 6
SCHOOLS = 300
OFFICERS = 600
INCIDENTS = 10_000
DISPUTES = 2_000
HAZARDS = 10_000
YEAR_FROM = date(2025, 12, 1)
YEAR_TO = date(2026, 11, 30)
CENTRE = (108.37, 29.49)
COVER_S = 1200.0
"""The generated heartbeats come every 18 minutes, so the bench runs with a 20-minute heartbeat cover."""
CAMPAIGN_ID = uuid.UUID("00000000-0000-4000-8000-0000000b0012")
DEFAULT_DB = "huxiao_bench_reports"

SETUP_SQL = [
    f"""INSERT INTO jurisdictions (code, name, level, parent_code, path) VALUES
        ('{RPT}', 'Bench report county', 'county', NULL, '{RPT}') ON CONFLICT DO NOTHING""",
    f"""INSERT INTO jurisdictions (code, name, level, parent_code, path)
        SELECT '{RPT}_' || n, 'Bench station ' || n, 'station', '{RPT}', CAST('{RPT}.{RPT}_' || n AS ltree)
        FROM generate_series(0, {STATIONS} - 1) n ON CONFLICT DO NOTHING""",
    f"""INSERT INTO schools (id, external_id, name, kind, jurisdiction_code, location, campus, zone_radius_m, created_at)
        SELECT CAST(md5('rpt-school-' || n) AS uuid), 'rpt-school-' || n, 'Report school ' || n,
               (ARRAY['kindergarten','primary','middle','high','vocational'])[1 + n % 5], '{RPT}_' || (n % {STATIONS}),
               CAST(ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS geography),
               CASE WHEN n % 3 <> 0 THEN CAST(ST_MakeEnvelope(lon - 60 / (111320 * cos(radians(lat))), lat - 60 / 110574.0,
                    lon + 60 / (111320 * cos(radians(lat))), lat + 60 / 110574.0, 4326) AS geography) END, 200,
               '2025-01-01'
        FROM (SELECT n, {CENTRE[0]} + ((n % 20) - 10) * 400 / (111320 * cos(radians({CENTRE[1]}))) AS lon,
                     {CENTRE[1]} + ((n / 20) - 7) * 400 / 110574.0 AS lat
              FROM generate_series(0, {SCHOOLS} - 1) n) g
        ON CONFLICT DO NOTHING""",
    f"""INSERT INTO posts (id, school_id, jurisdiction_code, name, kind, location, radius_m, created_at)
        SELECT CAST(md5('rpt-post-' || n) AS uuid), CAST(md5('rpt-school-' || n) AS uuid), '{RPT}_' || (n % {STATIONS}),
               'Gate ' || n, 'school_guard', s.location, 50, '2025-01-01'
        FROM generate_series(0, {SCHOOLS} - 1) n JOIN schools s ON s.id = CAST(md5('rpt-school-' || n) AS uuid)
        ON CONFLICT DO NOTHING""",
    f"""INSERT INTO users (id, username, display_name, role, unit_type, jurisdiction_code, password_hash)
        SELECT CAST(md5('rpt-officer-' || n) AS uuid), 'rpt.officer.' || n, 'Report officer ' || n, 'officer',
               'police', '{RPT}_' || ((n % {SCHOOLS}) % {STATIONS}), 'x'
        FROM generate_series(0, {OFFICERS} - 1) n ON CONFLICT DO NOTHING""",
    f"""INSERT INTO users (id, username, display_name, role, unit_type, jurisdiction_code, password_hash)
        VALUES (CAST(md5('rpt-commander') AS uuid), 'rpt.commander', 'Report commander', 'commander', 'police',
                '{RPT}', 'x') ON CONFLICT DO NOTHING""",
    "SELECT huxiao_ensure_checkin_partitions('2025-11-01', 14)",
]

# Shift n of day d at post p: officer p (morning) or p + 300 (afternoon).
SHIFTS_SQL = f"""
INSERT INTO shifts (id, officer_id, post_id, jurisdiction_code, starts_at, ends_at, window_name, created_at)
SELECT CAST(md5('rpt-shift-' || d || '-' || p || '-' || w.i) AS uuid),
       CAST(md5('rpt-officer-' || (p + w.i * {SCHOOLS})) AS uuid), CAST(md5('rpt-post-' || p) AS uuid),
       '{RPT}_' || (p % {STATIONS}),
       (d + CAST(w.s AS time)) AT TIME ZONE 'Asia/Shanghai', (d + CAST(w.e AS time)) AT TIME ZONE 'Asia/Shanghai',
       w.name, '2025-11-01'
FROM generate_series(CAST('{YEAR_FROM}' AS date), CAST('{YEAR_TO}' AS date), interval '1 day') AS dd(day)
CROSS JOIN LATERAL (SELECT CAST(dd.day AS date) AS d) x
CROSS JOIN generate_series(0, {SCHOOLS} - 1) p
CROSS JOIN (VALUES (0, 'morning', '07:00', '08:30'), (1, 'afternoon', '16:00', '18:00')) AS w(i, name, s, e)
WHERE EXTRACT(isodow FROM d) < 6
ON CONFLICT DO NOTHING
"""

# The check-ins of one month's shifts: behaviour b = hash % 20 (0 absent, 1–2 late, 3 leaves 30 min early).
CHECKINS_SQL = f"""
WITH sh AS (
    SELECT s.id, s.officer_id, s.post_id, s.jurisdiction_code, s.starts_at, s.ends_at, p.school_id, p.location,
           abs(hashtext(CAST(s.id AS text))) % 20 AS b
    FROM shifts s JOIN posts p ON p.id = s.post_id
    WHERE s.jurisdiction_code LIKE '{RPT}%' AND s.starts_at >= $1 AND s.starts_at < $2
),
g AS (
    SELECT sh.*, t.k, t.at, t.last_at
    FROM sh CROSS JOIN LATERAL (
        SELECT k, LEAST(a.arrive_at + k * interval '18 minutes', a.last_at) AS at, a.last_at
        FROM (SELECT CASE WHEN sh.b IN (1, 2) THEN sh.starts_at + interval '9 minutes'
                          ELSE sh.starts_at - interval '3 minutes' END AS arrive_at,
                     CASE WHEN sh.b = 3 THEN sh.ends_at - interval '30 minutes' ELSE sh.ends_at - interval '1 minute'
                     END AS last_at) a
        CROSS JOIN generate_series(0, CAST(ceil(EXTRACT(epoch FROM a.last_at - a.arrive_at) / 1080) AS int)) k
    ) t
    WHERE sh.b <> 0
)
INSERT INTO checkins (id, officer_id, jurisdiction_code, kind, recorded_at, received_at, location, accuracy_m, crs,
                      shift_id, post_id, school_id, distance_to_school_m, in_school_zone, distance_to_post_m, geofence,
                      in_post_geofence, in_duty_window, flags, vehicle, lights, mock_location)
SELECT CAST(md5('rpt-checkin-' || g.id || '-' || g.k) AS uuid), g.officer_id, g.jurisdiction_code,
       CASE WHEN g.k = 0 THEN 'arrive' WHEN g.at >= g.last_at THEN 'depart' ELSE 'heartbeat' END,
       g.at, g.at + interval '3 seconds', ST_Project(g.location, o.dist, radians(g.k * 47 % 360)), 8, 'wgs84',
       g.id, g.post_id, g.school_id, 0, true, o.dist,
       CASE WHEN o.dist + 8 <= 50 THEN 'inside' WHEN o.dist - 8 > 50 THEN 'outside' ELSE 'uncertain' END,
       CASE WHEN o.dist + 8 <= 50 THEN true WHEN o.dist - 8 > 50 THEN false END, true,
       CASE WHEN o.dist - 8 > 50 THEN ARRAY['outside_geofence'] ELSE CAST('{{}}' AS text[]) END,
       g.k % 3 = 0, g.k % 3 = 0, false
FROM g CROSS JOIN LATERAL (SELECT CASE WHEN (abs(hashtext(CAST(g.id AS text))) + g.k) % 17 = 0 THEN 120.0
                                       ELSE 5 + (g.k * 13) % 25 END AS dist) o
ON CONFLICT DO NOTHING
"""

INCIDENTS_SQL = f"""
WITH g AS (
    SELECT n, floor(random() * {SCHOOLS})::int AS k, random() * 350 AS off_m, random() * 2 * pi() AS az,
           CAST('{YEAR_FROM}' AS timestamptz) + random() * interval '364 days' AS alarm_at,
           (ARRAY['suspicious_person','weapons','violence','bullying','school_disturbance','fraud','traffic',
                  'food_safety','dispute','other'])[1 + floor(random() * 10)::int] AS category,
           1 + floor(random() * 4)::int AS severity
    FROM generate_series(1, {INCIDENTS}) n
),
placed AS (
    SELECT g.*, s.id AS school_id, s.jurisdiction_code, s.boundary, ST_Project(s.location, g.off_m, g.az) AS loc
    FROM g JOIN schools s ON s.id = CAST(md5('rpt-school-' || g.k) AS uuid)
)
INSERT INTO incidents (id, jurisdiction_code, category, severity, source, description, location, crs, alarm_at,
                       received_at, in_zone, zone_school_ids, nearest_school_id, nearest_school_distance_m, status,
                       policy_key, created_at, updated_at)
SELECT CAST(md5('rpt-incident-' || p.n) AS uuid), p.jurisdiction_code, p.category, p.severity, 'call_110', 'rpt',
       p.loc, 'wgs84', p.alarm_at, p.alarm_at + interval '15 s', d.m <= 200,
       CASE WHEN d.m <= 200 THEN ARRAY[p.school_id] ELSE CAST('{{}}' AS uuid[]) END, p.school_id, d.m, 'closed',
       '1-3-5@v1', p.alarm_at + interval '15 s', p.alarm_at + interval '1 hour'
FROM placed p CROSS JOIN LATERAL (SELECT ST_Distance(p.boundary, p.loc) AS m) d
ON CONFLICT DO NOTHING
"""

ARRIVALS_SQL = f"""
INSERT INTO arrivals (id, incident_id, responder_id, tier, arrived_at, location, accuracy_m, crs, distance_m,
                      far_from_scene, counts, flags, body_hash, created_at)
SELECT gen_random_uuid(), i.id, CAST(md5('rpt-officer-' || (abs(hashtext(CAST(i.id AS text))) % {OFFICERS})) AS uuid),
       t.tier, i.alarm_at + make_interval(secs => t.after_s), i.location, 10, 'wgs84', 20, false, true, '{{}}',
       '\\x00', i.alarm_at + make_interval(secs => t.after_s + 30)
FROM incidents i
CROSS JOIN LATERAL (SELECT x.tier, x.lo + x.span * (abs(hashtext(i.id::text || x.tier)) % 1000) / 1000.0 AS after_s,
                           abs(hashtext(x.tier || i.id::text)) % 100 < x.pct AS happens
                    FROM (VALUES (1, 10, 110, 80), (2, 40, 260, 70), (3, 90, 400, 90)) AS x(tier, lo, span, pct)) t
WHERE i.description = 'rpt' AND t.happens
"""

DISPUTES_SQL = f"""
INSERT INTO disputes (id, jurisdiction_code, school_id, kind, parties, summary, mediation_status, found_on,
                      resolved_at, created_at)
SELECT CAST(md5('rpt-dispute-' || n) AS uuid), s.jurisdiction_code, s.id, 'school_parent', '[]', 'rpt',
       CASE WHEN n % 2 = 0 THEN 'resolved' ELSE 'mediating' END, d.found_on,
       CASE WHEN n % 2 = 0 THEN (d.found_on + 10) + time '10:00' END, d.found_on + time '09:00'
FROM generate_series(1, {DISPUTES}) n
JOIN schools s ON s.id = CAST(md5('rpt-school-' || (n % {SCHOOLS})) AS uuid)
CROSS JOIN LATERAL (SELECT CAST('{YEAR_FROM}' AS date) + (n * 7919) % 340 AS found_on) d
ON CONFLICT DO NOTHING
"""

HAZARDS_SQL = f"""
WITH made AS (
    INSERT INTO hazards (id, jurisdiction_code, school_id, location, category, severity, description, found_by_name,
                         found_at, deadline, status, closing_note, closed_at, created_at)
    SELECT CAST(md5('rpt-hazard-' || n) AS uuid), s.jurisdiction_code, s.id, s.location,
           (ARRAY['facilities_civil','facilities_physical','facilities_technical','traffic_facilities','food_safety',
                  'fire','venue','building','other'])[1 + n % 9],
           (ARRAY['general','significant','major'])[1 + n % 3], 'rpt', 'bench', f.found_at,
           f.found_at + interval '14 days', CASE WHEN n % 3 <> 0 THEN 'closed' ELSE 'open' END,
           CASE WHEN n % 3 <> 0 THEN 'fixed' END, CASE WHEN n % 3 <> 0 THEN f.found_at + interval '10 days' END,
           f.found_at
    FROM generate_series(1, {{HAZARDS}}) n
    JOIN schools s ON s.id = CAST(md5('rpt-school-' || (n % {SCHOOLS})) AS uuid)
    CROSS JOIN LATERAL (SELECT CAST('{YEAR_FROM}' AS timestamptz) + ((n * 7919) % 340) * interval '1 day'
                               + interval '9 hours' AS found_at) f
    ON CONFLICT DO NOTHING
    RETURNING id, found_at, deadline, status, closed_at
)
INSERT INTO hazard_log (hazard_id, kind, at, recorded_at, status, deadline)
SELECT id, 'created', found_at, found_at, 'open', deadline FROM made
UNION ALL
SELECT id, 'status', closed_at, closed_at, 'closed', deadline FROM made WHERE status = 'closed'
""".replace("{HAZARDS}", str(HAZARDS))

CAMPAIGN_SQL = f"""
INSERT INTO campaigns (id, jurisdiction_code, name, starts_on, ends_on, jurisdiction_codes, report_dues, policy_keys)
VALUES ('{CAMPAIGN_ID}', '{RPT}', 'Bench county year', '{YEAR_FROM}', '{YEAR_TO}', ARRAY['{RPT}'],
        '[{{"name": "half-year", "due": "2026-07-31"}}, {{"name": "final", "due": "2026-12-15"}}]', ARRAY['1-3-5@v1'])
ON CONFLICT DO NOTHING
"""


def log(msg: str) -> None:
    print(f"[campaign-report] {msg}", flush=True)


def _url(args) -> str:
    base = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:55432/postgres")
    return base.rsplit("/", 1)[0] + "/" + args.database


def prepare_database(url: str) -> None:
    from cli.databases import ensure_database, migrate

    sa_url = "postgresql+asyncpg://" + url.split("://", 1)[1]  # alembic's spelling
    ensure_database(sa_url)
    migrate(sa_url)


async def ensure_data(url: str) -> dict:
    conn = await asyncpg.connect(url)
    try:
        started = time.monotonic()
        for sql in SETUP_SQL:
            await conn.execute(sql)
        if not await conn.fetchval(f"SELECT count(*) FROM shifts WHERE jurisdiction_code LIKE '{RPT}%'"):
            await conn.execute("SELECT setseed(0.12)")
            await conn.execute(SHIFTS_SQL)
            log(f"shifts made ({time.monotonic() - started:.0f} s)")
        month = datetime(YEAR_FROM.year, YEAR_FROM.month, 1, tzinfo=UTC)
        end = datetime(YEAR_TO.year, YEAR_TO.month, 1, tzinfo=UTC)
        while month <= end:
            nxt = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=UTC)
            # (a month's first local morning shift starts on the last UTC day of the month before)
            have = await conn.fetchval("SELECT count(*) FROM checkins WHERE jurisdiction_code LIKE $3 "
                                       "AND recorded_at >= CAST($1 AS timestamptz) + interval '1 day' AND recorded_at < $2",
                                       month, nxt, f"{RPT}%")
            if not have:
                await conn.execute(CHECKINS_SQL, month, nxt)
                log(f"check-ins of {month:%Y-%m} made ({time.monotonic() - started:.0f} s)")
            month = nxt
        if await conn.fetchval("SELECT count(DISTINCT arrived_at - i.alarm_at) FROM arrivals a JOIN incidents i "
                               "ON i.id = a.incident_id WHERE i.description = 'rpt'") == 3:  # an old generator's
            await conn.execute("DELETE FROM arrivals a USING incidents i WHERE i.id = a.incident_id "
                               "AND i.description = 'rpt'")
            await conn.execute(ARRIVALS_SQL)
        if not await conn.fetchval("SELECT count(*) FROM incidents WHERE description = 'rpt'"):
            async with conn.transaction():
                await conn.execute("SELECT setseed(0.34)")
                await conn.execute(INCIDENTS_SQL)
                await conn.execute(ARRIVALS_SQL)
            log(f"incidents and arrivals made ({time.monotonic() - started:.0f} s)")
        await conn.execute(DISPUTES_SQL)
        if not await conn.fetchval("SELECT count(*) FROM hazards WHERE description = 'rpt'"):
            await conn.execute(HAZARDS_SQL)
            log(f"hazards made ({time.monotonic() - started:.0f} s)")
        await conn.execute(CAMPAIGN_SQL)
        await conn.execute("ANALYZE")
        return dict(await conn.fetchrow(f"""
            SELECT (SELECT count(*) FROM schools WHERE jurisdiction_code LIKE '{RPT}%') AS schools,
                   (SELECT count(*) FROM shifts WHERE jurisdiction_code LIKE '{RPT}%') AS shifts,
                   (SELECT count(*) FROM checkins WHERE jurisdiction_code LIKE '{RPT}%') AS checkins,
                   (SELECT count(*) FROM incidents WHERE jurisdiction_code LIKE '{RPT}%') AS incidents,
                   (SELECT count(*) FROM arrivals a JOIN incidents i ON i.id = a.incident_id
                    WHERE i.jurisdiction_code LIKE '{RPT}%') AS arrivals,
                   (SELECT count(*) FROM disputes WHERE jurisdiction_code LIKE '{RPT}%') AS disputes,
                   (SELECT count(*) FROM hazards WHERE jurisdiction_code LIKE '{RPT}%') AS hazards
        """))
    finally:
        await conn.close()


async def bare_sql(conn: asyncpg.Connection, *, as_of: datetime) -> float:
    """The report's statements with its parameters, straight on one connection: seconds."""
    from domain import campaigns, hazards, reports, venues
    from domain.scoring import POLICY_135_V1

    start, end = campaigns.period_instants(starts_on=YEAR_FROM, ends_on=YEAR_TO, time_zone="Asia/Shanghai")
    t0 = time.perf_counter()
    codes = [r[0] for r in await conn.fetch(f"SELECT code FROM jurisdictions WHERE path <@ '{RPT}'")]
    base = {"codes": codes, "start": start, "end": end, "as_of": as_of}
    applies = [f"{sev}-{k}" for sev in range(1, 5) for k in POLICY_135_V1.applies_to(sev)]
    settled = as_of - timedelta(seconds=7 * 24 * 3600 + reports.SETTLE_MARGIN_S)
    now = datetime.now(UTC)
    settle_now = now - timedelta(seconds=7 * 24 * 3600 + reports.SETTLE_MARGIN_S)
    async with conn.transaction():
        await conn.execute(f"SET LOCAL jit = off; SET LOCAL work_mem = '{reports.REPORT_WORK_MEM}'")
        q = reports.SETTLE_SQL
        await conn.execute(q.sql, *q.args({**base, "as_of": now, "settled": settle_now, "cover_s": COVER_S}))
    runs = [(reports.DUTY_SQL, {**base, "cover_s": COVER_S, "settled": settled}), (reports.POSTS_SQL, base),
            (reports.CHECKINS_SQL, base),
            (reports.INCIDENTS_SQL, {**base, "applies": applies, "l1": 60.0, "l2": 180.0, "l3": 300.0}),
            (reports.DISPUTES_SQL, base),
            (reports.SPINE_SCHOOLS, {"roots": [RPT], "as_of": as_of, "start": start, "end": end})]
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute(f"SET LOCAL jit = off; SET LOCAL work_mem = '{reports.REPORT_WORK_MEM}'")
        for q, params in runs:
            await conn.fetch(q.sql, *q.args(params))
        for q in (hazards.FIGURES, venues.FIGURES):  # the ledgers' sections
            await conn.fetch(q.sql, *q.args({"scope": RPT, "start": start, "end": end, "as_of": as_of}))
    return time.perf_counter() - t0


async def measure(args, *, url: str, token: str, counts: dict) -> dict:
    from api.main import create_app
    from domain.settings import Settings

    app = create_app(Settings(database_url=url))
    as_of = datetime(2026, 12, 1, tzinfo=UTC)
    path = f"/v1/reports/campaign/{CAMPAIGN_ID}"
    params = {"as_of": as_of.isoformat()}
    headers = {"Authorization": f"Bearer {token}"}
    api_s, sql_s, out = [], [], {"data": counts}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as client:
            conn = await asyncpg.connect(url)
            try:
                t0 = time.perf_counter()
                first = await client.get(path, headers=headers, params=params)  # judges the settled shifts once
                first.raise_for_status()
                out["first_report_s"] = round(time.perf_counter() - t0, 2)
                out["settled_verdicts"] = await conn.fetchval("SELECT count(*) FROM shift_verdicts")
                await bare_sql(conn, as_of=as_of)
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    r = await client.get(path, headers=headers, params=params)
                    api_s.append(time.perf_counter() - t0)
                    assert r.status_code == 200, r.text
                    sql_s.append(await bare_sql(conn, as_of=as_of))
                totals = r.json()["totals"]
                for fmt in ("xlsx", "html", "pdf"):
                    t0 = time.perf_counter()
                    r = await client.get(path, headers=headers, params={**params, "format": fmt})
                    assert r.status_code == 200, r.text
                    out[f"{fmt}_s"] = round(time.perf_counter() - t0, 2)
                    out[f"{fmt}_bytes"] = len(r.content)
            finally:
                await conn.close()
    out.update(api_median_s=round(statistics.median(api_s), 3), sql_median_s=round(statistics.median(sql_s), 3),
               api_runs_s=[round(x, 3) for x in api_s], sql_runs_s=[round(x, 3) for x in sql_s],
               totals={k: {kk: vv for kk, vv in v.items() if kk in ("schools", "shifts", "kept", "checkins",
                                                                     "incidents", "compliant", "resolved", "found",
                                                                     "closed", "overdue")}
                       for k, v in totals.items()})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.campaign_report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default=DEFAULT_DB, help=f"database on DATABASE_URL's server ({DEFAULT_DB})")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    os.environ.setdefault("HUXIAO_JWT_SECRET", "bench-secret-" + "x" * 40)
    os.environ.setdefault("HUXIAO_LOG_LEVEL", "WARNING")
    os.environ.setdefault("HUXIAO_HEARTBEAT_COVER_S", str(COVER_S))
    from bench.database import bench_tokens

    url = _url(args)
    prepare_database(url)
    counts = asyncio.run(ensure_data(url))
    log(f"data: {counts}")
    commander = str(uuid.UUID(hashlib.md5(b"rpt-commander").hexdigest()))
    [token] = bench_tokens(url, os.environ["HUXIAO_JWT_SECRET"], [commander], ttl_s=3600)
    result = asyncio.run(measure(args, url=url, token=token, counts=counts))
    for k, v in result.items():
        print(f"{k}: {v}")
    ratio = result["api_median_s"] / result["sql_median_s"] if result["sql_median_s"] else float("nan")
    print(f"\n| work | median | runs |\n|---|---:|---|\n"
          f"| first report (judges {result['settled_verdicts']} settled shifts once) | {result['first_report_s']} s | |\n"
          f"| report via the API (JSON) | {result['api_median_s']} s | {result['api_runs_s']} |\n"
          f"| the same SQL on one connection | {result['sql_median_s']} s | {result['sql_runs_s']} |\n"
          f"| API ÷ SQL | {ratio:.2f} | |\n"
          f"| XLSX / HTML / PDF (once) | {result['xlsx_s']} / {result['html_s']} / {result['pdf_s']} s | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
