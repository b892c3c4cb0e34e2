"""The `incidents` scenario's data in `huxiao_bench`: a year of incidents, on-duty responders, a reporting officer.

- 1,000,000 incidents (`ensure_incidents`) with alarms spread uniformly over the fixed year `YEAR_FROM`–`YEAR_TO`,
  900,000 across the 100 `BENCH_Cnn` cities and 100,000 in the dense county `BENCH_DENSE`: each lies 0–350 m
  from a school picked at random (its zone fields are taken from that one school: `in_zone` when the point is
  within its `zone_radius_m` of the boundary — a generated approximation, not the INSERT's decision over every
  school). Each has a stored score under 1-3-5@v1 (`incident_scores`) built from random arrival times per tier
  (about 90 % tier 3, 80 % tier 2, 85 % tier 1 arriving; a tier without any arrival is stored `missed`, or in
  3 % of those cases still `pending`, which reads as missed),
  so `GET /v1/stats/response-times` has real percentiles to compute. No `arrivals` rows: the statistics read the
  stored scores only. Made in 20 chunks of 50,000 (`description = 'bench-gen-NN'`), each in one transaction;
  an interrupted generation is finished by the next run.
- 10,000 responders (`ensure_responders`): users `bench-unit-NNNNN` (role officer, unit types guard / auxiliary /
  police / volunteer in turn, no usable password) with a row each in `unit_positions`: 6,000 in and around the
  dense county (its 8 × 6 km plus ~3 km around), 4,000 in the cities `BENCH_C00`–`BENCH_C09`. "Active" for the
  nearest-units query means on a shift now or seen within 30 minutes: `refresh_responders` stamps their
  `recorded_at` 0–5 minutes ago, and the scenario calls it at the start of every run.
- `bench-incident-officer` (role officer, jurisdiction `BENCH`): who reports incidents in the benchmark, with an
  access token under the run's JWT secret. Everything it (or the raw-INSERT pgbench script, which stamps the same
  `created_by`) writes is removed by `cleanup_run` — incidents, their scores, `incident.*` events and incident audit
  entries — so every run starts from the same data.

Generated in SQL with a fixed `setseed` per chunk, so the data are the same on every machine (ids are random).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass

import asyncpg

from bench import harness
from bench.database import BENCH_JURISDICTION, BENCH_TOKEN_TTL_S, libpq_url
from bench.datasets import DENSE, ensure_schools

INCIDENTS = 1_000_000
CHUNK = 50_000
CHUNKS = INCIDENTS // CHUNK
DENSE_CHUNKS = 2  # the last two chunks: 100,000 incidents in the dense county
YEAR_FROM = "2025-11-30T00:00:00+00:00"
YEAR_TO = "2026-11-30T00:00:00+00:00"
RESPONDERS = 10_000
DENSE_RESPONDERS = 6_000
CITY_RESPONDER_CITIES = 10
OFFICER = "bench-incident-officer"
# The dense county's school grid (bench/datasets.py: 20 × 15 schools 400 m apart around 108.17 E 29.29 N).
DENSE_BOX = (108.1288, 29.2647, 108.2071, 29.3153)

PICK_SQL = r"""
CREATE TEMP TABLE IF NOT EXISTS bench_pick_city AS
    SELECT row_number() OVER (ORDER BY id) AS rn, id, jurisdiction_code, location, boundary, zone_radius_m
    FROM schools WHERE jurisdiction_code LIKE 'BENCH\_C%' AND deleted_at IS NULL;
CREATE TEMP TABLE IF NOT EXISTS bench_pick_dense AS
    SELECT row_number() OVER (ORDER BY id) AS rn, id, jurisdiction_code, location, boundary, zone_radius_m
    FROM schools WHERE jurisdiction_code = '{dense}' AND deleted_at IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS bench_pick_city_rn ON bench_pick_city (rn);
CREATE UNIQUE INDEX IF NOT EXISTS bench_pick_dense_rn ON bench_pick_dense (rn);
"""

# One chunk: incidents near random schools of the pick table, then their 1-3-5@v1 scores in the same statement.
CHUNK_SQL = """
WITH g AS (
    SELECT n, 1 + floor(random() * {picks})::bigint AS pick, random() * 350 AS off_m, random() * 2 * pi() AS az,
           CAST('{year_from}' AS timestamptz) + random() * interval '365 days' AS alarm_at,
           (ARRAY[{categories}])[1 + floor(random() * {n_categories})::int] AS category,
           1 + floor(random() * 4)::int AS severity,
           (ARRAY['call_110','one_button_alarm','patrol','school_report','other'])[1 + floor(random() * 5)::int] AS source
    FROM generate_series(1, {count}) n
),
placed AS (
    SELECT g.*, s.id AS school_id, s.jurisdiction_code, s.zone_radius_m, s.boundary,
           ST_Project(s.location, g.off_m, g.az) AS loc
    FROM g JOIN {pick_table} s ON s.rn = g.pick
),
ins AS (
    INSERT INTO incidents (id, jurisdiction_code, category, severity, source, description, location, crs, alarm_at,
                           received_at, in_zone, zone_school_ids, nearest_school_id, nearest_school_distance_m,
                           status, dispatched_at, closed_at, policy_key, created_at, updated_at)
    SELECT gen_random_uuid(), p.jurisdiction_code, p.category, p.severity, p.source, '{marker}', p.loc, 'wgs84',
           p.alarm_at, p.alarm_at + interval '15 s', d.m <= p.zone_radius_m,
           CASE WHEN d.m <= p.zone_radius_m THEN ARRAY[p.school_id] ELSE CAST('{{}}' AS uuid[]) END,
           p.school_id, d.m, 'closed', p.alarm_at + interval '30 s', p.alarm_at + interval '1 hour', '1-3-5@v1',
           p.alarm_at + interval '15 s', p.alarm_at + interval '1 hour'
    FROM placed p CROSS JOIN LATERAL (SELECT ST_Distance(p.boundary, p.loc) AS m) d
    RETURNING id, alarm_at, jurisdiction_code, zone_school_ids[1] AS school_id, category
),
arr AS (
    SELECT id, alarm_at, jurisdiction_code, school_id, category,
           CASE WHEN random() < 0.85 THEN 10 + random() * 110 END AS a1,
           CASE WHEN random() < 0.80 THEN 40 + random() * 260 END AS a2,
           CASE WHEN random() < 0.90 THEN 90 + random() * 420 END AS a3,
           random() < 0.03 AS left_pending
    FROM ins
),
el AS (
    SELECT id, alarm_at, jurisdiction_code, school_id, category, left_pending,
           least(a1, a2, a3) AS e1, least(a2, a3) AS e2, a3 AS e3 FROM arr
),
st AS (
    SELECT id, alarm_at, jurisdiction_code, school_id, category, e1, e2, e3,
           CASE WHEN e1 IS NULL THEN CASE WHEN left_pending THEN 'pending' ELSE 'missed' END
                WHEN e1 <= 60 THEN 'met' ELSE 'missed' END AS s1,
           CASE WHEN e2 IS NULL THEN CASE WHEN left_pending THEN 'pending' ELSE 'missed' END
                WHEN e2 <= 180 THEN 'met' ELSE 'missed' END AS s2,
           CASE WHEN e3 IS NULL THEN CASE WHEN left_pending THEN 'pending' ELSE 'missed' END
                WHEN e3 <= 300 THEN 'met' ELSE 'missed' END AS s3
    FROM el
)
INSERT INTO incident_scores (incident_id, policy_key, computed_at, compliant, tiers, tier1_elapsed_s,
                             tier2_elapsed_s, tier3_elapsed_s, tier1_state, tier2_state, tier3_state,
                             alarm_at, jurisdiction_code, school_id, category)
SELECT id, '1-3-5@v1', now(),
       CASE WHEN 'missed' IN (s1, s2, s3) THEN false WHEN s1 = 'met' AND s2 = 'met' AND s3 = 'met' THEN true END,
       jsonb_build_array(
           jsonb_build_object('tier', 1, 'limit_s', 60.0, 'elapsed_s', e1, 'state', s1),
           jsonb_build_object('tier', 2, 'limit_s', 180.0, 'elapsed_s', e2, 'state', s2),
           jsonb_build_object('tier', 3, 'limit_s', 300.0, 'elapsed_s', e3, 'state', s3)),
       e1, e2, e3, s1, s2, s3, alarm_at, jurisdiction_code, school_id, category
FROM st
"""

RESPONDER_USERS_SQL = """
INSERT INTO users (id, username, display_name, role, unit_type, jurisdiction_code, active, password_hash)
SELECT CAST(md5('bench-unit-' || n) AS uuid), 'bench-unit-' || lpad(n::text, 5, '0'), 'Bench unit ' || n, 'officer',
       (ARRAY['guard','auxiliary','police','volunteer'])[1 + n % 4],
       CASE WHEN n < {dense_n} THEN '{dense}' ELSE 'BENCH_C' || lpad(((n - {dense_n}) % {cities})::text, 2, '0') END,
       true, '!bench-no-login'
FROM generate_series(0, {total} - 1) n
ON CONFLICT DO NOTHING
"""

# Dense county: the school box plus ~3 km each way; cities: their own slice of the bounding box (datasets.py).
RESPONDER_POSITIONS_SQL = """
SELECT setseed(0.5);
INSERT INTO unit_positions (officer_id, jurisdiction_code, location, accuracy_m, recorded_at, checkin_id)
SELECT u.id, u.jurisdiction_code,
       CAST(ST_SetSRID(CASE WHEN u.jurisdiction_code = '{dense}'
                            THEN ST_MakePoint({x0} - 0.03 + random() * ({x1} - {x0} + 0.06),
                                              {y0} - 0.027 + random() * ({y1} - {y0} + 0.054))
                            ELSE ST_MakePoint(98.0 + (substr(u.jurisdiction_code, 8)::int % 10) * 2.4 + random() * 2.4,
                                              22.0 + (substr(u.jurisdiction_code, 8)::int / 10) * 2.0 + random() * 2.0)
                       END, 4326) AS geography),
       5 + random() * 25, now() - random() * interval '5 minutes', gen_random_uuid()
FROM users u
WHERE u.username LIKE 'bench-unit-%'
ORDER BY u.username
ON CONFLICT (officer_id) DO NOTHING
"""

REFRESH_SQL = """
UPDATE unit_positions SET recorded_at = now() - random() * interval '5 minutes'
WHERE officer_id IN (SELECT id FROM users WHERE username LIKE 'bench-unit-%')
"""


@dataclass(frozen=True)
class IncidentData:
    incidents: int  # generated incidents (description bench-gen-NN)
    responders: int  # bench-unit-* users with a position seen within the last 5 minutes
    officer_id: str
    officer_token: str
    dense_incident_id: str  # a generated incident in the dense county (for nearest units)
    year_from: str = YEAR_FROM
    year_to: str = YEAR_TO

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.officer_token}"}


async def _ensure_incidents(conn: asyncpg.Connection) -> int:
    from domain.incidents import CATEGORIES

    counts = dict(await conn.fetch(
        "SELECT description, count(*) FROM incidents WHERE description LIKE 'bench-gen-%' GROUP BY 1"))
    missing = [c for c in range(CHUNKS) if counts.get(f"bench-gen-{c:02d}", 0) != CHUNK]
    if not missing:
        return sum(counts.values())
    harness.log(f"generating {len(missing)} of {CHUNKS} incident chunks ({CHUNK:,} incidents each)")
    await conn.execute(PICK_SQL.format(dense=DENSE))
    picks = {"bench_pick_city": await conn.fetchval("SELECT count(*) FROM bench_pick_city"),
             "bench_pick_dense": await conn.fetchval("SELECT count(*) FROM bench_pick_dense")}
    categories = ",".join(f"'{c}'" for c in CATEGORIES)
    started = time.monotonic()
    for i, c in enumerate(missing):
        marker = f"bench-gen-{c:02d}"
        table = "bench_pick_dense" if c >= CHUNKS - DENSE_CHUNKS else "bench_pick_city"
        async with conn.transaction():
            ids = [r[0] for r in await conn.fetch("SELECT id FROM incidents WHERE description = $1", marker)]
            if ids:
                await conn.execute("DELETE FROM incident_scores WHERE incident_id = ANY($1::uuid[])", ids)
                await conn.execute("DELETE FROM incidents WHERE id = ANY($1::uuid[])", ids)
            await conn.execute("SELECT setseed($1)", (c + 1) / (CHUNKS + 1))
            await conn.execute(CHUNK_SQL.format(picks=picks[table], pick_table=table, year_from=YEAR_FROM,
                                                categories=categories, n_categories=len(CATEGORIES), count=CHUNK,
                                                marker=marker))
        harness.log(f"  incident chunk {c} done ({i + 1}/{len(missing)}, {time.monotonic() - started:.0f} s)")
    await conn.execute("VACUUM ANALYZE incidents")
    await conn.execute("VACUUM ANALYZE incident_scores")
    harness.log(f"incidents ready in {time.monotonic() - started:.0f} s")
    return await conn.fetchval("SELECT count(*) FROM incidents WHERE description LIKE 'bench-gen-%'")


async def _ensure_responders(conn: asyncpg.Connection) -> None:
    have = await conn.fetchval("""
        SELECT count(*) FROM unit_positions up JOIN users u ON u.id = up.officer_id
        WHERE u.username LIKE 'bench-unit-%'""")
    if have == RESPONDERS:
        return
    harness.log(f"generating {RESPONDERS:,} responders and their positions")
    async with conn.transaction():
        await conn.execute(RESPONDER_USERS_SQL.format(dense_n=DENSE_RESPONDERS, dense=DENSE,
                                                      cities=CITY_RESPONDER_CITIES, total=RESPONDERS))
        x0, y0, x1, y1 = DENSE_BOX
        await conn.execute(RESPONDER_POSITIONS_SQL.format(dense=DENSE, x0=x0, y0=y0, x1=x1, y1=y1))
    await conn.execute("ANALYZE unit_positions")
    await conn.execute("ANALYZE users")


async def refresh_responders_async(conn: asyncpg.Connection) -> int:
    """Stamp every bench responder as seen 0–5 minutes ago (so each qualifies as active); returns how many."""
    status = await conn.execute(REFRESH_SQL)
    return int(status.split()[-1])


async def _cleanup(conn: asyncpg.Connection, officer_id: str) -> int:
    """Remove what runs wrote: incidents created by the bench officer, their scores/arrivals, incident events and
    incident audit entries (the generated incidents have no events or audit entries of their own)."""
    async with conn.transaction():
        ids = [r[0] for r in await conn.fetch("SELECT id FROM incidents WHERE created_by = $1", officer_id)]
        if ids:
            await conn.execute("DELETE FROM arrivals WHERE incident_id = ANY($1::uuid[])", ids)
            await conn.execute("DELETE FROM incident_scores WHERE incident_id = ANY($1::uuid[])", ids)
            await conn.execute("DELETE FROM incidents WHERE id = ANY($1::uuid[])", ids)
        await conn.execute("DELETE FROM events WHERE kind LIKE 'incident.%'")
        await conn.execute("DELETE FROM audit_log WHERE entity = 'incident'")
    if len(ids) > 1000:
        await conn.execute("VACUUM ANALYZE incidents")
        await conn.execute("VACUUM ANALYZE incident_scores")
    return len(ids)


async def _officer(db_url: str, jwt_secret: str) -> tuple[str, str]:
    from domain import jurisdictions, users
    from domain.callers import Role
    from domain.credentials import issue_access_token, start_session
    from domain.database import connected, unit_of_work
    from domain.settings import Settings

    settings = Settings(database_url=db_url, jwt_secret=jwt_secret, access_token_ttl_s=BENCH_TOKEN_TTL_S)
    async with connected(settings) as pool:
        async with unit_of_work(pool) as session:
            await jurisdictions.ensure(session, new=jurisdictions.NewJurisdiction(
                BENCH_JURISDICTION, "Benchmark county", "county", None))
            officer = await users.ensure(session, new=users.NewUser(
                username=OFFICER, display_name="Benchmark incident officer", role=Role.officer,
                jurisdiction_code=BENCH_JURISDICTION, password=secrets.token_urlsafe(24)))
            session_id = await start_session(session, user_id=officer["id"])
    token, _ = issue_access_token(settings, user_id=officer["id"], session_id=session_id)
    return str(officer["id"]), token


async def _ensure(db_url: str, jwt_secret: str) -> IncidentData:
    officer_id, token = await _officer(db_url, jwt_secret)
    conn = await asyncpg.connect(libpq_url(db_url))
    try:
        await _cleanup(conn, officer_id)
        generated = await _ensure_incidents(conn)
        await _ensure_responders(conn)
        responders = await refresh_responders_async(conn)
        dense_incident = await conn.fetchval(
            "SELECT id FROM incidents WHERE description = $1 ORDER BY id LIMIT 1", f"bench-gen-{CHUNKS - 1:02d}")
    finally:
        await conn.close()
    return IncidentData(incidents=generated, responders=responders, officer_id=officer_id, officer_token=token,
                        dense_incident_id=str(dense_incident))


def ensure_incident_data(db_url: str, *, jwt_secret: str) -> IncidentData:
    """Schools (bench/datasets.py), 10^6 incidents, 10^4 responders (refreshed), the reporting officer and its
    token; removes what earlier runs left behind. Minutes the first time, seconds after."""
    ensure_schools(db_url)
    return asyncio.run(_ensure(db_url, jwt_secret))


async def _with_conn(db_url: str, fn, *args):
    conn = await asyncpg.connect(libpq_url(db_url))
    try:
        return await fn(conn, *args)
    finally:
        await conn.close()


def refresh_responders(db_url: str) -> int:
    return asyncio.run(_with_conn(db_url, refresh_responders_async))


def cleanup_run(db_url: str, officer_id: str) -> int:
    """Delete what a run wrote (see `_cleanup`); returns the number of incidents removed."""
    return asyncio.run(_with_conn(db_url, _cleanup, officer_id))
