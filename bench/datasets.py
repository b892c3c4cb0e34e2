"""Large generated data sets in `huxiao_bench`, made once and reused by later runs.

Everything hangs under the `BENCH` jurisdiction (see bench/database.py) so the auth fixture's admin token and
viewer key see all of it:

- `ensure_schools`: 500,000 schools spread over mainland China's bounding box, 100 `BENCH_Cnn` "city"
  jurisdictions of 5,000 each, most with a square campus of 80–240 m, plus the dense county `BENCH_DENSE`
  (300 schools in ~8 × 8 km around Pengshui, 108.17 E 29.29 N), whose schools sit ~400 m apart so that a point
  can be inside several zones.

Generated in SQL (generate_series, a fixed `setseed`) so the set is the same on every machine; what exists is
recognised by counting, so an interrupted generation is finished by the next run.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import asyncpg

from bench import harness
from bench.database import BENCH_JURISDICTION, libpq_url

SCHOOLS = 500_000
CITIES = 100
DENSE = "BENCH_DENSE"
DENSE_SCHOOLS = 300
DENSE_CENTRE = (108.17, 29.29)
# The dense county's grid: 20 columns × 15 rows, ~400 m apart.
DENSE_COLUMNS, DENSE_STEP_M = 20, 400.0


@dataclass(frozen=True)
class Schools:
    total: int
    dense_code: str
    dense_centre: tuple[float, float]
    dense_ids: list[str]


def _city(n: int) -> str:
    return f"BENCH_C{n:02d}"


JURISDICTIONS_SQL = """
INSERT INTO jurisdictions (code, name, level, parent_code, path)
SELECT code, name, level, '{root}', CAST('{root}' || '.' || code AS ltree)
FROM (
    SELECT 'BENCH_C' || lpad(n::text, 2, '0') AS code, 'Bench city ' || n AS name, 'city' AS level
    FROM generate_series(0, {cities} - 1) n
    UNION ALL SELECT '{dense}', 'Bench dense county', 'county'
) j
ON CONFLICT (code) DO NOTHING
"""

# One city's 5,000 schools: random points in its own slice of the bounding box (lon 98–122, lat 22–42),
# three in four with a square campus around the gate point.
CITY_SCHOOLS_SQL = """
SELECT setseed({seed});
INSERT INTO schools (id, external_id, name, kind, jurisdiction_code, address, location, campus, zone_radius_m)
SELECT gen_random_uuid(), 'bench-' || '{code}' || '-' || n, 'Bench school ' || '{code}' || '-' || n,
       (ARRAY['kindergarten','primary','middle','high','vocational'])[1 + (n % 5)],
       '{code}', 'Bench road ' || n,
       CAST(ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS geography),
       CASE WHEN n % 4 <> 0 THEN CAST(ST_MakeEnvelope(lon - half / (111320 * cos(radians(lat))), lat - half / 110574,
                                                      lon + half / (111320 * cos(radians(lat))), lat + half / 110574,
                                                      4326) AS geography) END,
       CASE WHEN n % 10 = 0 THEN 300 ELSE 200 END
FROM (
    SELECT n, {lon0} + random() * {dlon} AS lon, {lat0} + random() * {dlat} AS lat, 40 + random() * 80 AS half
    FROM generate_series(1, {count}) n
) g
"""

DENSE_SCHOOLS_SQL = """
INSERT INTO schools (id, external_id, name, kind, jurisdiction_code, address, location, campus, zone_radius_m)
SELECT gen_random_uuid(), 'bench-dense-' || n, 'Dense county school ' || n,
       (ARRAY['kindergarten','primary','middle','high','vocational'])[1 + (n % 5)],
       '{dense}', 'Dense road ' || n,
       CAST(ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS geography),
       CASE WHEN n % 3 <> 0 THEN CAST(ST_MakeEnvelope(lon - 60 / (111320 * cos(radians(lat))), lat - 60 / 110574.0,
                                                      lon + 60 / (111320 * cos(radians(lat))), lat + 60 / 110574.0,
                                                      4326) AS geography) END,
       200
FROM (
    SELECT n,
           {lon} + ((n % {cols}) - {cols} / 2.0) * {step} / (111320 * cos(radians({lat}))) AS lon,
           {lat} + ((n / {cols}) - 7) * {step} / 110574.0 AS lat
    FROM generate_series(0, {count} - 1) n
) g
"""


async def _ensure_schools(db_url: str) -> Schools:
    conn = await asyncpg.connect(libpq_url(db_url))
    try:
        await conn.execute(JURISDICTIONS_SQL.format(root=BENCH_JURISDICTION, cities=CITIES, dense=DENSE))
        per_city = SCHOOLS // CITIES
        counts = dict(await conn.fetch(
            r"SELECT jurisdiction_code, count(*) FROM schools WHERE jurisdiction_code LIKE 'BENCH\_%' GROUP BY 1"))
        missing = [n for n in range(CITIES) if counts.get(_city(n), 0) != per_city]
        if missing:
            harness.log(f"generating schools for {len(missing)} of {CITIES} bench cities ({per_city:,} each)")
        started = time.monotonic()
        for i, n in enumerate(missing):
            code = _city(n)
            lon0, lat0 = 98.0 + (n % 10) * 2.4, 22.0 + (n // 10) * 2.0
            async with conn.transaction():
                await conn.execute("DELETE FROM schools WHERE jurisdiction_code = $1", code)
                await conn.execute(CITY_SCHOOLS_SQL.format(seed=(n + 1) / (CITIES + 1), code=code, lon0=lon0,
                                                           lat0=lat0, dlon=2.4, dlat=2.0, count=per_city))
            if (i + 1) % 10 == 0:
                harness.log(f"  {i + 1}/{len(missing)} cities, {time.monotonic() - started:.0f} s")
        dense_ok = counts.get(DENSE, 0) == DENSE_SCHOOLS
        if not dense_ok:
            async with conn.transaction():
                await conn.execute("DELETE FROM schools WHERE jurisdiction_code = $1", DENSE)
                await conn.execute(DENSE_SCHOOLS_SQL.format(dense=DENSE, lon=DENSE_CENTRE[0], lat=DENSE_CENTRE[1],
                                                            cols=DENSE_COLUMNS, step=DENSE_STEP_M,
                                                            count=DENSE_SCHOOLS))
        if missing or not dense_ok:
            await conn.execute("VACUUM ANALYZE schools")
            harness.log(f"schools ready in {time.monotonic() - started:.0f} s")
        total = await conn.fetchval(r"SELECT count(*) FROM schools WHERE jurisdiction_code LIKE 'BENCH\_%'")
        dense_ids = [str(r[0]) for r in await conn.fetch(
            "SELECT id FROM schools WHERE jurisdiction_code = $1 ORDER BY external_id", DENSE)]
    finally:
        await conn.close()
    return Schools(total=total, dense_code=DENSE, dense_centre=DENSE_CENTRE, dense_ids=dense_ids)


async def _ensure_dense(db_url: str) -> None:
    conn = await asyncpg.connect(libpq_url(db_url))
    try:
        await conn.execute(JURISDICTIONS_SQL.format(root=BENCH_JURISDICTION, cities=CITIES, dense=DENSE))
        if await conn.fetchval("SELECT count(*) FROM schools WHERE jurisdiction_code = $1", DENSE) != DENSE_SCHOOLS:
            async with conn.transaction():
                await conn.execute("DELETE FROM schools WHERE jurisdiction_code = $1", DENSE)
                await conn.execute(DENSE_SCHOOLS_SQL.format(dense=DENSE, lon=DENSE_CENTRE[0], lat=DENSE_CENTRE[1],
                                                            cols=DENSE_COLUMNS, step=DENSE_STEP_M,
                                                            count=DENSE_SCHOOLS))
            await conn.execute("VACUUM ANALYZE schools")
    finally:
        await conn.close()


def ensure_dense_schools(db_url: str) -> None:
    """Only the dense county's 300 schools (and the bench jurisdictions): seconds, not minutes."""
    asyncio.run(_ensure_dense(db_url))


def ensure_schools(db_url: str) -> Schools:
    """The 500,000 schools and the dense county (generated when missing; a few minutes the first time)."""
    return asyncio.run(_ensure_schools(db_url))
