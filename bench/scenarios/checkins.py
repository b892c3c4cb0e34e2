"""`checkins`: check-in ingest (single and 500-item batches) and the compliance of a county-day (issue 5).

Data (bench/datasets.py, bench/checkin_data.py): 500,000 schools, the dense county `BENCH_DENSE` (300 schools
~400 m apart) with 1,000 officers, a post per school, 1,000 shifts on one school day with ~23,000 check-ins, and
10^6 older check-ins of the same officers. Measured, all in the same interleaved rounds, on one server
(`api.main:app`) unless said otherwise:

- `checkin-single`   POST /v1/checkins, one check-in per request, 32 wrk connections. wrk's Lua `request`
                     makes every request fresh: a new client UUID (a repeated id would be an idempotent replay,
                     not an insert), recorded_at = now, a random point in the dense county (most points lie in
                     one or more school zones), a random accuracy, and the bearer token of one of 200
                     officers picked at random: each token comes back within the app's 5-second caller cache,
                     as in the auth scenario's steady traffic (with all 1,000 officers most requests would
                     verify the JWT and look the caller up)
- `pg-checkin-insert`  pgbench (8 clients, prepared) running domain.checkins.INGEST — the judging INSERT with
                     the zone subselect — literally, in the transaction the app runs it in (`SET LOCAL
                     plan_cache_mode`), with its bind parameters replaced by the same kind of values (one item)
- `healthz`          GET /healthz of the same server, for context
- `checkin-batch500` POST /v1/checkins/batch with 500 fresh items per request (Lua builds each body: 500 new
                     UUIDs, recorded_at spread over the last hour, random points; one of the 200 officers per request),
                     4 wrk connections; check-ins/s = requests/s × 500. Against the bare ASGI app wrk sends
                     ~900 such requests/s, so at the ~12/s the API takes wrk measures the server, not itself
- `pg-checkin-batch500` (breakdown) pgbench running INGEST with 500 generated items per transaction
- `compliance`       GET /v1/duty/compliance?date=<day>&jurisdiction_code=BENCH_DENSE&limit=1000 — all 1,000
                     shifts of the county-day in one page (the maximum page size) — from 1 connection, i.e.
                     timed sequentially; p50/p99 from wrk's histogram
- `compliance-summary` GET /v1/duty/compliance/summary?date=<day>&jurisdiction_code=BENCH_DENSE (per school),
                     1 connection

Goals (issue 5): (1) `checkin-single` ≥ 50 % of `pg-checkin-insert` (requests/s over transactions/s, same run)
and p99 ≤ 50 ms; (2) ≥ 20,000 check-ins/s in 500-item batches; (3) the county-day's compliance ≤ 500 ms.

Every check-in posted here (through the API or pgbench) is recorded after `checkin_data.RUN_FROM` by a bench
officer; `checkin_data.cleanup` deletes them (with their keys, events and unit positions) before and after the
scenario, so each run starts from the same 10^6 + one day.
"""

from __future__ import annotations

import json
import re
from contextlib import ExitStack

from bench import checkin_data
from bench.datasets import DENSE_CENTRE, ensure_schools
from bench.harness import Comparison, Threshold, http_get, http_variant, log, pgbench_variant

NAME = "checkins"
TITLE = "Check-ins: single and batch ingest vs pgbench, compliance of a county-day"
TOKENS = 200
BATCH = 500
BATCH_CONNECTIONS = 4
MIN_RATIO = 0.5
MAX_P99_MS = 50.0
MIN_ITEMS_PER_S = 20_000.0
MAX_COMPLIANCE_MS = 500.0
# The dense county's extent (20 × 15 schools, 400 m apart) in degrees around its centre.
HALF_LON, HALF_LAT = 0.041, 0.026

LUA_COMMON = r"""
local tokens = {%(tokens)s}
local lon0, lat0, dlon, dlat = %(lon0).6f, %(lat0).6f, %(dlon).6f, %(dlat).6f
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
local headers = {["Content-Type"] = "application/json"}
local function uuid4()
  return string.format("%%04x%%04x-%%04x-4%%03x-%%04x-%%04x%%04x%%04x",
    math.random(0, 65535), math.random(0, 65535), math.random(0, 65535), math.random(0, 4095),
    32768 + math.random(0, 16383), math.random(0, 65535), math.random(0, 65535), math.random(0, 65535))
end
local function item(kind, t)
  return string.format(
    '{"id":"%%s","kind":"%%s","recorded_at":"%%s","location":{"type":"Point","coordinates":[%%.6f,%%.6f]},' ..
    '"accuracy_m":%%d}',
    uuid4(), kind, os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ", t), lon0 + math.random() * dlon, lat0 + math.random() * dlat,
    math.random(5, 30))
end
local function sign()
  headers["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]
  return headers
end
"""

LUA_SINGLE = r"""
request = function()
  local h = sign()
  return wrk.format(nil, nil, h, item("heartbeat", os.time()))
end
"""

LUA_BATCH = r"""
local parts = {}
request = function()
  local h = sign()
  local now = os.time()
  for k = 1, %(batch)d do
    parts[k] = item(k == 1 and "arrive" or "heartbeat", now - 3600 + k * 7)
  end
  return wrk.format(nil, nil, h, '{"items":[' .. table.concat(parts, ",") .. ']}')
end
"""


def _lua(tokens: list[str], body: str) -> str:
    return (LUA_COMMON % {"tokens": ",".join(f'"{t}"' for t in tokens), "lon0": DENSE_CENTRE[0] - HALF_LON,
                          "lat0": DENSE_CENTRE[1] - HALF_LAT, "dlon": 2 * HALF_LON, "dlat": 2 * HALF_LAT}
            + body % {"batch": BATCH})


# --- pgbench: domain.checkins.INGEST with its parameters replaced ----------------------------------------------

OFFICER = "CAST(md5('bench-officer-' || :o) AS uuid)"
SCALARS = {"officer": OFFICER, "officer_code": "'{county}'", "allow": "{allow}", "prev_within": "{prev_within}",
           "poor_m": "{poor_m}", "skew_s": "{skew_s}", "stale_s": "{stale_s}", "online": "{online}",
           "max_speed": "{max_speed}", "zones_given": "false", "unknown_m": "100000"}
SINGLE_ARRAYS = {
    "ids": "ARRAY[gen_random_uuid()]", "kinds": "ARRAY['heartbeat']", "recorded": "ARRAY[now()]",
    "lons": "ARRAY[CAST(:lon AS float8)]", "lats": "ARRAY[CAST(:lat AS float8)]", "accs": "ARRAY[CAST(:acc AS float8)]",
    "crss": "ARRAY['wgs84']", "shift_ids": "CAST(ARRAY[NULL] AS uuid[])", "post_ids": "CAST(ARRAY[NULL] AS uuid[])",
    "vehicles": "CAST(ARRAY[NULL] AS boolean[])", "lights": "CAST(ARRAY[NULL] AS boolean[])",
    "mocks": "ARRAY[false]", "notes": "CAST(ARRAY[NULL] AS text[])", "devices": "CAST(ARRAY[NULL] AS jsonb[])",
    "hashes": "ARRAY[sha256(convert_to(CAST(random() AS text), 'UTF8'))]",
    "zone_ids": "CAST(ARRAY[NULL] AS uuid[])", "zone_ds": "CAST(ARRAY[NULL] AS float8[])",
    "sources": "ARRAY['api']",
}


def _series(expr: str) -> str:
    return f"ARRAY(SELECT {expr} FROM generate_series(1, {BATCH}) g)"


BATCH_ARRAYS = {
    "ids": _series("gen_random_uuid()"), "kinds": _series("CAST('heartbeat' AS text)"),
    "recorded": _series("now() - interval '1 hour' + g * interval '7 seconds'"),
    "lons": _series(f"{DENSE_CENTRE[0] - HALF_LON} + random() * {2 * HALF_LON}"),
    "lats": _series(f"{DENSE_CENTRE[1] - HALF_LAT} + random() * {2 * HALF_LAT}"),
    "accs": _series("CAST(5 + floor(random() * 26) AS float8)"), "crss": _series("CAST('wgs84' AS text)"),
    "shift_ids": _series("CAST(NULL AS uuid)"), "post_ids": _series("CAST(NULL AS uuid)"),
    "vehicles": _series("CAST(NULL AS boolean)"), "lights": _series("CAST(NULL AS boolean)"),
    "mocks": _series("false"), "notes": _series("CAST(NULL AS text)"), "devices": _series("CAST(NULL AS jsonb)"),
    "hashes": _series("sha256(convert_to(CAST(random() AS text), 'UTF8'))"),
    "zone_ids": _series("CAST(NULL AS uuid)"), "zone_ds": _series("CAST(NULL AS float8)"),
    "sources": _series("CAST('api' AS text)"),
}


def ingest_script(*, batch: bool, county: str) -> str:
    """A pgbench script: the app's transaction around domain.checkins.INGEST, parameters as SQL expressions."""
    from domain.checkins import INGEST, PREVIOUS_FIX_WITHIN_S, SHIFT_MATCH_ALLOWANCE_S
    from domain.settings import Settings

    s = Settings()
    arrays = BATCH_ARRAYS if batch else SINGLE_ARRAYS
    sql = re.sub(r"CAST\(:(\w+) AS \w+\[\]\)", lambda m: arrays[m.group(1)], INGEST.source)
    values = {"county": county, "allow": SHIFT_MATCH_ALLOWANCE_S, "prev_within": PREVIOUS_FIX_WITHIN_S,
              "poor_m": s.checkin_poor_accuracy_m, "skew_s": s.checkin_clock_skew_s, "stale_s": s.checkin_stale_s,
              "online": "false" if batch else "true", "max_speed": s.checkin_max_speed_mps}
    sql = re.sub(r"(?<![:\w]):(\w+)\b",
                 lambda m: SCALARS[m.group(1)].format(**values) if m.group(1) in SCALARS else m.group(0), sql)
    unknown = set(re.findall(r"(?<![:\w]):(\w+)", sql)) - {"o", "lon", "lat", "acc"}
    if unknown:
        raise RuntimeError(f"INGEST has parameters the pgbench script does not fill: {sorted(unknown)}")
    one_line = " ".join(sql.split())  # pgbench reads one SQL command per line up to the semicolon
    setup = (f"\\set o random(0, {checkin_data.OFFICERS - 1})\n"
             f"\\set lon {DENSE_CENTRE[0] - HALF_LON:.6f} + random(0, 1000000) * {2 * HALF_LON / 1e6:.12f}\n"
             f"\\set lat {DENSE_CENTRE[1] - HALF_LAT:.6f} + random(0, 1000000) * {2 * HALF_LAT / 1e6:.12f}\n"
             "\\set acc random(5, 30)\n")
    return (setup + "BEGIN;\nSET LOCAL plan_cache_mode = force_generic_plan;\n" + one_line + ";\nCOMMIT;\n")


# --- the scenario ------------------------------------------------------------------------------------------------

def _check_compliance(url: str, headers: dict[str, str], shifts: int) -> dict:
    status, body = http_get(url, headers=headers, timeout_s=30)
    if status != 200:
        raise RuntimeError(f"compliance answered {status}: {body[:300]!r}")
    page = json.loads(body)
    if len(page["items"]) != shifts or page["next_cursor"] is not None:
        raise RuntimeError(f"compliance returned {len(page['items'])} shifts (cursor {page['next_cursor']!r}), "
                           f"expected all {shifts} in one page")
    verdicts: dict[str, int] = {}
    for item in page["items"]:
        verdicts[item["verdict"]] = verdicts.get(item["verdict"], 0) + 1
    return verdicts


def run(ctx, workers: int) -> Comparison:
    fixture = ctx.auth()
    ensure_schools(ctx.db_url)
    data = checkin_data.ensure_checkin_data(ctx.db_url)
    left = checkin_data.cleanup(ctx.db_url)
    if left.get("checkins"):
        log(f"  removed {left['checkins']:,} check-ins left by an earlier run")
    tokens = data.tokens(ctx.db_url, ctx.jwt_secret, TOKENS)
    day = data.day.isoformat()
    try:
        with ExitStack() as stack:
            server = stack.enter_context(ctx.server("api.main:app", workers=workers, name="app"))
            base = server.base_url
            compliance_url = f"{base}/v1/duty/compliance?date={day}&jurisdiction_code={data.county}&limit=1000"
            summary_url = f"{base}/v1/duty/compliance/summary?date={day}&jurisdiction_code={data.county}"
            verdicts = _check_compliance(compliance_url, fixture.bearer, data.shifts)
            meter = {"server": server, "dbname": ctx.db_name, "threads": 1}
            variants = [
                pgbench_variant("pg-checkin-insert", ctx.db_url, ingest_script(batch=False, county=data.county),
                                description="pgbench: INGEST (judging INSERT with zone subselect), 1 item, "
                                            "8 clients, prepared (tps)"),
                ctx.http("checkin-single", base + "/v1/checkins", method="POST", server=server,
                         lua=_lua(tokens, LUA_SINGLE),
                         description="POST /v1/checkins, fresh id/point/now per request, 200 officers, 32 conns"),
                ctx.http("healthz", base + "/healthz", description="GET /healthz, same server", server=server),
                http_variant("checkin-batch500", base + "/v1/checkins/batch", method="POST",
                             connections=BATCH_CONNECTIONS, lua=_lua(tokens, LUA_BATCH), **meter,
                             description=f"POST /v1/checkins/batch, {BATCH} fresh items per request, "
                                         f"{BATCH_CONNECTIONS} conns (req/s)"),
            ]
            if ctx.breakdown:
                variants.append(pgbench_variant(
                    "pg-checkin-batch500", ctx.db_url, ingest_script(batch=True, county=data.county),
                    description=f"pgbench: INGEST with {BATCH} items per transaction, 8 clients (tps)"))
            variants += [
                http_variant("compliance", compliance_url, headers=fixture.bearer, connections=1, **meter,
                             description=f"GET /v1/duty/compliance, all {data.shifts} shifts of {day} "
                                         "(one page of 1,000), 1 conn"),
                http_variant("compliance-summary", summary_url, headers=fixture.bearer, connections=1, **meter,
                             description=f"GET /v1/duty/compliance/summary of {day} per school, 1 conn"),
            ]
            rows = ctx.compare(variants, baseline="pg-checkin-insert", label=f"{NAME} w{workers}")
    finally:
        removed = checkin_data.cleanup(ctx.db_url)
        log(f"  cleanup: {removed}")
    by_name = {r.name: r for r in rows}
    goals = [
        Threshold("checkin-single", "ratio", MIN_RATIO, "single check-ins ≥ 50 % of pgbench's INSERT, same run",
                  at_least=True),
        Threshold("checkin-single", "p99_ms", MAX_P99_MS, "single check-ins p99 ≤ 50 ms at 32 connections",
                  unit=" ms"),
        Threshold("checkin-batch500", "rps", MIN_ITEMS_PER_S, "≥ 20,000 check-ins/s in 500-item batches",
                  at_least=True, scale=BATCH, unit="/s"),
        Threshold("compliance", "p50_ms", MAX_COMPLIANCE_MS, "compliance of a county-day (median) ≤ 500 ms",
                  unit=" ms"),
        Threshold("compliance", "p99_ms", MAX_COMPLIANCE_MS, "compliance of a county-day (p99) ≤ 500 ms",
                  unit=" ms"),
    ]
    notes = []
    if "pg-checkin-batch500" in by_name:
        pg = by_name["pg-checkin-batch500"].rps * BATCH
        notes.append(f"pgbench's 500-item INGEST: {pg:,.0f} check-ins/s; the API's batches reach "
                     f"{by_name['checkin-batch500'].rps * BATCH / pg:.2f} of it.")
    return Comparison(scenario=NAME, title=TITLE, workers=workers, baseline="pg-checkin-insert", rows=rows,
                      goals=[g.judge(by_name) for g in goals], notes=notes,
                      setup={"county": data.county, "day": day, "officers": data.officers, "posts": data.posts,
                             "shifts": data.shifts, "history_checkins": data.history,
                             "day_checkins": data.day_checkins, "tokens": TOKENS, "batch": BATCH,
                             "batch_connections": BATCH_CONNECTIONS, "verdicts": verdicts,
                             "batch_items_per_s": by_name["checkin-batch500"].rps * BATCH,
                             "cleanup": removed})
