"""The check-in data set in `huxiao_bench`: officers, posts and shifts of the dense county, and 10^6 check-ins.

Made once in SQL (generate_series, fixed seeds, ids derived with md5 from a counter) and reused by later runs;
what exists is recognised by counting, so an interrupted generation is finished by the next run.

- 1,000 officers `bench.officer.0000` … `.0999` in `BENCH_DENSE` (id = md5('bench-officer-<n>')), all with one
  precomputed argon2 hash of a random password (nobody logs in: the benchmark signs their access tokens);
- a `school_guard` post (50 m geofence) at the gate point of each of the county's 300 schools;
- 1,000 shifts on the local school day `DAY` (a Wednesday): every post in the three default windows (morning
  07:00–08:30, noon 11:30–12:30, afternoon 16:00–18:00) and a second officer at 100 posts in the morning,
  one shift per officer;
- that day's check-ins of those shifts: an arrival, a heartbeat every 4 minutes and a departure, with absent (1 in
  20), late (2 in 20) and early-leaving (1 in 20) officers and now and then a fix outside the geofence;
- `HISTORY` (10^6) older check-ins of the same officers near their posts, spread over the months before `DAY`
  (UTC 00:00–10:00, i.e. 08:00–18:00 local), with plausible judgement columns;
- a `checkin_keys` row (the idempotency ledger) for every generated check-in, as the API writes one.

Everything the bench officers record at or after `RUN_FROM` was posted by a benchmark run: `cleanup` deletes it
(check-ins, keys, their events and the officers' unit positions) so that every run starts from the same data.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import asyncpg

from bench import harness
from bench.database import BENCH_TOKEN_TTL_S, libpq_url
from bench.datasets import DENSE, DENSE_SCHOOLS

OFFICERS = 1000
SHIFTS = 1000
HISTORY = 1_000_000
DAY = date(2026, 11, 25)
"""The county-day of the compliance benchmark: a Wednesday, so the default duty windows apply."""
HISTORY_FROM = datetime(2026, 6, 1, tzinfo=UTC)
HISTORY_TO = datetime(2026, 11, 24, tzinfo=UTC)
RUN_FROM = datetime.combine(DAY + timedelta(days=2), datetime.min.time(), tzinfo=UTC)
"""Bench officers' check-ins recorded from here on are leftovers of benchmark runs."""
HEARTBEAT_EVERY_MIN = 4
WINDOWS = (("morning", "07:00", "08:30"), ("noon", "11:30", "12:30"), ("afternoon", "16:00", "18:00"))


def officer_id(n: int) -> uuid.UUID:
    """The id of bench officer `n`, as the SQL below derives it: md5('bench-officer-<n>') read as a uuid."""
    return uuid.UUID(hashlib.md5(f"bench-officer-{n}".encode()).hexdigest())


OFFICER_SQL = "CAST(md5('bench-officer-' || {n}) AS uuid)"


@dataclass(frozen=True)
class CheckinData:
    county: str
    day: date
    time_zone: str
    officers: int
    posts: int
    shifts: int
    history: int
    day_checkins: int
    officer_ids: list[str]

    def tokens(self, url: str, jwt_secret: str, count: int) -> list[str]:
        """Access tokens of the first `count` officers, signed with the run's secret."""
        from bench.database import bench_tokens

        return bench_tokens(url, jwt_secret, self.officer_ids[:count], ttl_s=BENCH_TOKEN_TTL_S)


USERS_SQL = f"""
INSERT INTO users (id, username, display_name, role, unit_type, jurisdiction_code, password_hash)
SELECT {OFFICER_SQL.format(n="n")}, 'bench.officer.' || lpad(n::text, 4, '0'), 'Bench officer ' || n,
       'officer', CASE WHEN n % 4 = 0 THEN 'guard' ELSE 'police' END, $1, $2
FROM generate_series(0, {OFFICERS} - 1) n
ON CONFLICT DO NOTHING
"""

# A post at the gate point of each dense school; `k` is the school's number in its external id.
POSTS_SQL = """
INSERT INTO posts (id, school_id, jurisdiction_code, name, kind, location, radius_m)
SELECT CAST(md5('bench-post-' || s.external_id) AS uuid), s.id, s.jurisdiction_code,
       'Bench post ' || substr(s.external_id, 13), 'school_guard', s.location, 50
FROM schools s
WHERE s.jurisdiction_code = $1 AND s.external_id LIKE 'bench-dense-%'
ON CONFLICT DO NOTHING
"""

# Bench posts by school number k (0 … 299).
BENCH_POSTS = """
    SELECT CAST(substr(s.external_id, 13) AS int) AS k, p.id, p.school_id, p.location
    FROM posts p JOIN schools s ON s.id = p.school_id
    WHERE p.id = CAST(md5('bench-post-' || s.external_id) AS uuid) AND s.jurisdiction_code = '{county}'
"""

SHIFTS_SQL = f"""
INSERT INTO shifts (id, officer_id, post_id, jurisdiction_code, starts_at, ends_at, window_name)
SELECT CAST(md5('bench-shift-' || n) AS uuid), {OFFICER_SQL.format(n="n")}, p.id, '{{county}}',
       (CAST('{{day}}' AS date) + CAST(w.s AS time)) AT TIME ZONE '{{tz}}',
       (CAST('{{day}}' AS date) + CAST(w.e AS time)) AT TIME ZONE '{{tz}}', w.name
FROM generate_series(0, {SHIFTS} - 1) n
JOIN ({BENCH_POSTS}) p ON p.k = n % {DENSE_SCHOOLS}
JOIN (VALUES {", ".join(f"({i}, '{name}', '{s}', '{e}')" for i, (name, s, e) in enumerate(WINDOWS))})
     AS w(i, name, s, e) ON w.i = CASE WHEN n < 900 THEN n / 300 ELSE 0 END
ON CONFLICT DO NOTHING
"""

# The columns of a generated check-in, from `g` (n, officer, shift, post, school, at, kind, dist, az, acc).
_CHECKIN_ROW = """
    SELECT g.id, g.officer, '{county}', g.kind, g.at, g.at + interval '2 seconds',
           ST_Project(g.post_location, g.dist, radians(g.az)), g.acc, 'wgs84', g.shift, g.post, g.school,
           g.dist, true, g.dist,
           CASE WHEN g.dist + g.acc <= 50 THEN 'inside' WHEN g.dist - g.acc > 50 THEN 'outside' ELSE 'uncertain' END,
           CASE WHEN g.dist + g.acc <= 50 THEN true WHEN g.dist - g.acc > 50 THEN false END,
           g.in_window,
           array_remove(ARRAY[CASE WHEN g.shift IS NULL THEN 'no_shift' END,
                              CASE WHEN g.dist - g.acc > 50 THEN 'outside_geofence' END], NULL),
           g.vehicle, g.vehicle, false
    FROM g
"""

_INSERT = """
WITH g AS ({source}),
ins AS (
    INSERT INTO checkins (id, officer_id, jurisdiction_code, kind, recorded_at, received_at, location, accuracy_m,
                          crs, shift_id, post_id, school_id, distance_to_school_m, in_school_zone,
                          distance_to_post_m, geofence, in_post_geofence, in_duty_window, flags, vehicle, lights,
                          mock_location)
    """ + _CHECKIN_ROW + """
    RETURNING id, officer_id, recorded_at
)
INSERT INTO checkin_keys (id, officer_id, recorded_at, body_hash, created_at)
SELECT id, officer_id, recorded_at, sha256(convert_to(CAST(id AS text), 'UTF8')), recorded_at FROM ins
"""

# One chunk of history: `count` check-ins between `lo` and `lo + days`, officer n % 1000 near its post.
HISTORY_SOURCE = f"""
    SELECT CAST(md5('bench-hist-' || x.n) AS uuid) AS id, {OFFICER_SQL.format(n="x.n % " + str(OFFICERS))} AS officer,
           CAST(NULL AS uuid) AS shift, p.id AS post, p.school_id AS school, p.location AS post_location,
           CAST('{{lo}}' AS timestamptz) + floor(x.r1 * {{days}}) * interval '1 day' + x.r2 * interval '10 hours' AS at,
           (ARRAY['heartbeat','heartbeat','heartbeat','arrive','depart'])[1 + x.n % 5] AS kind,
           x.r3 * x.r3 * 120 AS dist, x.r4 * 360 AS az, 5 + x.r5 * 25 AS acc, x.r5 < 0.6 AS in_window,
           CASE WHEN x.n % 3 = 0 THEN true END AS vehicle
    FROM (SELECT n, random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5
          FROM generate_series({{first}}, {{last}}) n) x
    JOIN ({BENCH_POSTS}) p ON p.k = (x.n % {OFFICERS}) % {DENSE_SCHOOLS}
"""

# The day's check-ins of every shift: behaviour b = n % 20 (0 absent, 1–2 late, 3 leaves 20 min early).
DAY_SOURCE = f"""
    SELECT CAST(md5('bench-day-' || sh.n || '-' || t.k) AS uuid) AS id, sh.officer, sh.shift, sh.post,
           sh.school, sh.post_location, t.at,
           CASE WHEN t.k = 0 THEN 'arrive' WHEN t.at >= sh.last_at THEN 'depart' ELSE 'heartbeat' END AS kind,
           CASE WHEN t.k > 0 AND (sh.n + t.k) % 15 = 0 THEN 120.0 ELSE 5 + (sh.n * 7 + t.k * 13) % 25 END AS dist,
           (sh.n * 37 + t.k * 53) % 360 AS az, 8.0 AS acc, true AS in_window, CAST(NULL AS boolean) AS vehicle
    FROM (
        SELECT sn.n, s.id AS shift, s.officer_id AS officer,
               p.id AS post, p.school_id AS school, p.location AS post_location,
               CASE WHEN sn.n % 20 IN (1, 2) THEN s.starts_at + (6 + sn.n % 15) * interval '1 minute'
                    ELSE s.starts_at - (sn.n % 10) * interval '1 minute' END AS arrive_at,
               CASE WHEN sn.n % 20 = 3 THEN s.ends_at - interval '20 minutes' ELSE s.ends_at END AS last_at
        FROM generate_series(0, {SHIFTS} - 1) sn(n)
        JOIN shifts s ON s.id = CAST(md5('bench-shift-' || sn.n) AS uuid)
        JOIN posts p ON p.id = s.post_id
        WHERE sn.n % 20 <> 0
    ) sh
    CROSS JOIN LATERAL (
        SELECT k, LEAST(sh.arrive_at + k * interval '{HEARTBEAT_EVERY_MIN} minutes', sh.last_at) AS at
        FROM generate_series(0, CAST(ceil(extract(epoch FROM sh.last_at - sh.arrive_at) / {HEARTBEAT_EVERY_MIN * 60})
                                     AS int)) k
    ) t
"""


def _history_chunks() -> list[tuple[datetime, int, int, int]]:
    """(start, days, first n, last n) per calendar month of the history range, rows in proportion to days."""
    total_days = (HISTORY_TO - HISTORY_FROM).days
    chunks, start, first = [], HISTORY_FROM, 0
    while start < HISTORY_TO:
        nxt = min((start.replace(day=1) + timedelta(days=32)).replace(day=1), HISTORY_TO)
        days = (nxt - start).days
        count = HISTORY - first if nxt == HISTORY_TO else round(HISTORY * days / total_days)
        chunks.append((start, days, first, first + count - 1))
        start, first = nxt, first + count
    return chunks


async def _ensure(db_url: str) -> CheckinData:
    from domain.users import hash_password

    conn = await asyncpg.connect(libpq_url(db_url))
    started = time.monotonic()
    made = False
    try:
        tz = await conn.fetchval("SELECT time_zone FROM jurisdictions WHERE code = $1", DENSE)
        if tz is None:
            raise RuntimeError(f"jurisdiction {DENSE} missing: run bench.datasets.ensure_schools first")
        first_month = HISTORY_FROM.date().replace(day=1)
        months = (RUN_FROM.year - first_month.year) * 12 + RUN_FROM.month - first_month.month + 2
        await conn.fetchval("SELECT huxiao_ensure_checkin_partitions($1, $2)", first_month, months)
        officers = [str(officer_id(n)) for n in range(OFFICERS)]
        have = await conn.fetchval("SELECT count(*) FROM users WHERE id = ANY($1::uuid[])", officers)
        if have != OFFICERS:
            await conn.execute(USERS_SQL, DENSE, hash_password(secrets.token_urlsafe(24)))
            made = True
        posts = await conn.fetchval(f"SELECT count(*) FROM ({BENCH_POSTS.format(county=DENSE)}) p")
        if posts != DENSE_SCHOOLS:
            await conn.execute(POSTS_SQL, DENSE)
            posts = await conn.fetchval(f"SELECT count(*) FROM ({BENCH_POSTS.format(county=DENSE)}) p")
            made = True
        shift_ids = [str(uuid.UUID(hashlib.md5(f"bench-shift-{n}".encode()).hexdigest())) for n in range(SHIFTS)]
        shifts = await conn.fetchval("SELECT count(*) FROM shifts WHERE id = ANY($1::uuid[])", shift_ids)
        if shifts != SHIFTS:
            await conn.execute(SHIFTS_SQL.format(county=DENSE, day=DAY.isoformat(), tz=tz))
            shifts = await conn.fetchval("SELECT count(*) FROM shifts WHERE id = ANY($1::uuid[])", shift_ids)
            made = True
        count = ("SELECT count(*) FROM checkins WHERE jurisdiction_code = $1 "
                 "AND recorded_at >= $2 AND recorded_at < $3")
        for lo, days, first, last in _history_chunks():
            hi = lo + timedelta(days=days)
            if await conn.fetchval(count, DENSE, lo, hi) == last - first + 1:
                continue
            harness.log(f"generating {last - first + 1:,} check-ins from {lo:%Y-%m-%d} ({days} days)")
            async with conn.transaction():
                await _delete_range(conn, officers, lo, hi)
                await conn.execute(f"SELECT setseed({(first % 9973) / 9973.0})")
                await conn.execute(_INSERT.format(county=DENSE, source=HISTORY_SOURCE.format(
                    lo=lo.isoformat(), days=days, first=first, last=last, county=DENSE)))
            made = True
        # The day's check-ins: from 15 minutes before the first shift to the end of the last (local day).
        day_lo = datetime.combine(DAY - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        day_hi = datetime.combine(DAY + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        expected = await conn.fetchval(f"SELECT count(*) FROM ({DAY_SOURCE}) d")
        day_checkins = await conn.fetchval(count, DENSE, day_lo, day_hi)
        if day_checkins != expected:
            harness.log(f"generating the {expected:,} check-ins of {DAY}")
            async with conn.transaction():
                await _delete_range(conn, officers, day_lo, day_hi)
                await conn.execute(_INSERT.format(county=DENSE, source=DAY_SOURCE))
            day_checkins = expected
            made = True
        if made:
            await conn.execute("VACUUM ANALYZE users")
            await conn.execute("VACUUM ANALYZE posts")
            await conn.execute("VACUUM ANALYZE shifts")
            await conn.execute("VACUUM ANALYZE checkins")
            await conn.execute("VACUUM ANALYZE checkin_keys")
            harness.log(f"check-in data ready in {time.monotonic() - started:.0f} s")
    finally:
        await conn.close()
    return CheckinData(county=DENSE, day=DAY, time_zone=tz, officers=OFFICERS, posts=posts, shifts=shifts,
                       history=HISTORY, day_checkins=day_checkins, officer_ids=officers)


async def _delete_range(conn: asyncpg.Connection, officers: list[str], lo: datetime, hi: datetime) -> None:
    await conn.execute("DELETE FROM checkins WHERE officer_id = ANY($1::uuid[]) AND recorded_at >= $2 "
                       "AND recorded_at < $3", officers, lo, hi)
    await conn.execute("DELETE FROM checkin_keys WHERE officer_id = ANY($1::uuid[]) AND recorded_at >= $2 "
                       "AND recorded_at < $3", officers, lo, hi)


def ensure_checkin_data(db_url: str) -> CheckinData:
    """Officers, posts, shifts and check-ins of the dense county (generated when missing)."""
    return asyncio.run(_ensure(db_url))


async def _cleanup(db_url: str) -> dict[str, int]:
    officers = [str(officer_id(n)) for n in range(OFFICERS)]
    conn = await asyncpg.connect(libpq_url(db_url))
    try:
        out = {}
        async with conn.transaction():
            ids = await conn.fetchval("""
                WITH gone AS (DELETE FROM checkins WHERE officer_id = ANY($1::uuid[]) AND recorded_at >= $2 RETURNING 1)
                SELECT count(*) FROM gone""", officers, RUN_FROM)
            out["checkins"] = ids
            out["checkin_keys"] = int((await conn.execute(
                "DELETE FROM checkin_keys WHERE officer_id = ANY($1::uuid[]) AND recorded_at >= $2",
                officers, RUN_FROM)).split()[-1])
            out["events"] = int((await conn.execute(
                "DELETE FROM events WHERE kind = 'checkin.created' AND jurisdiction_code = $1 "
                "AND CAST(payload->>'officer_id' AS uuid) = ANY($2::uuid[])", DENSE, officers)).split()[-1])
            out["unit_positions"] = int((await conn.execute(
                "DELETE FROM unit_positions WHERE officer_id = ANY($1::uuid[])", officers)).split()[-1])
            if await conn.fetchval("SELECT to_regclass('duty_alerts') IS NOT NULL"):
                out["duty_alerts"] = int((await conn.execute(
                    "DELETE FROM duty_alerts WHERE officer_id = ANY($1::uuid[]) AND at >= $2",
                    officers, RUN_FROM)).split()[-1])
        if out["checkins"]:
            for table in ("checkins", "checkin_keys", "events", "unit_positions"):
                await conn.execute(f"VACUUM ANALYZE {table}")
        return out
    finally:
        await conn.close()


def cleanup(db_url: str) -> dict[str, int]:
    """Delete what benchmark runs posted as the bench officers (recorded at or after `RUN_FROM`)."""
    return asyncio.run(_cleanup(db_url))
