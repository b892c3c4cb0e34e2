"""`trackers`: Traccar Client positions (OsmAnd protocol) through the tracker endpoint vs single check-ins (issue 14).

Data: the 500,000 schools and the dense county `BENCH_DENSE` (bench/datasets.py), and 200 officers of their own
(`bench.tracker.000` … `.199`, id = md5('bench-tracker-<n>'), no password) each with a registered device
`bench-tracker-<n>`, so this scenario touches no other scenario's officers or their unit positions. One server
(`api.main:app`, `HUXIAO_TRACKER_RATE_LIMIT` raised to 10^9 so the per-device limit is counted but never hit):

- `checkin-single`  (baseline) POST /v1/checkins, a fresh UUID, now, a random point in the dense county and the
                    bearer token of one of the 200 officers per request (as in the `checkins` scenario)
- `osmand-json`     POST /osmand with the JSON of current Traccar Client versions (`device_id`, `location`
                    with `timestamp`, `coords`, `battery`, …), one of the 200 devices at random, a random point
- `osmand-query`    GET /osmand?id=…&lat=…&lon=…&timestamp=…&speed=…&accuracy=…&batt=… (older app versions)

Each request's timestamp is the script's start second plus a per-request counter in microseconds, so every
position is new (the tracker's check-in id is derived from device and timestamp: a repeated one would be a
duplicate, not an insert). 32 wrk connections each. `cleanup` deletes what the run stored (check-ins, keys,
events, the officers' unit positions) before and after.

Goal (issue 14): the tracker path reaches ≥ 0.8 of single `POST /v1/checkins` (requests/s, same run): it does
the same judging insert plus one device update (lookup, rate window, last seen) instead of the token check.
"""

from __future__ import annotations

import asyncio
import hashlib
from contextlib import ExitStack

from bench.database import BENCH_TOKEN_TTL_S, bench_tokens, libpq_url
from bench.datasets import DENSE, DENSE_CENTRE, ensure_schools
from bench.harness import Comparison, Threshold, log

NAME = "trackers"
TITLE = "Traccar Client positions (OsmAnd) vs single check-ins"
DEVICES = 200
MIN_RATIO = 0.8
HALF_LON, HALF_LAT = 0.041, 0.026
OFFICER_SQL = "CAST(md5('bench-tracker-' || n) AS uuid)"

SETUP_SQL = [f"""
    INSERT INTO users (id, username, display_name, role, unit_type, jurisdiction_code, password_hash)
    SELECT {OFFICER_SQL}, 'bench.tracker.' || lpad(n::text, 3, '0'), 'Bench tracker ' || n, 'officer', 'police',
           '{DENSE}', '!'
    FROM generate_series(0, {DEVICES - 1}) n
    ON CONFLICT DO NOTHING
""", f"""
    INSERT INTO tracker_devices (id, identifier, officer_id, jurisdiction_code, name)
    SELECT {OFFICER_SQL}, 'bench-tracker-' || n, {OFFICER_SQL}, '{DENSE}', 'bench'
    FROM generate_series(0, {DEVICES - 1}) n
    ON CONFLICT DO NOTHING
"""]
OFFICERS = f"ARRAY(SELECT {OFFICER_SQL} FROM generate_series(0, {DEVICES - 1}) n)"
CLEANUP_SQL = {
    "events": f"DELETE FROM events WHERE kind = 'checkin.created' AND CAST(payload->>'officer_id' AS uuid) = ANY({OFFICERS})",
    "checkins": f"DELETE FROM checkins WHERE officer_id = ANY({OFFICERS})",
    "checkin_keys": f"DELETE FROM checkin_keys WHERE officer_id = ANY({OFFICERS})",
    "unit_positions": f"DELETE FROM unit_positions WHERE officer_id = ANY({OFFICERS})",
}

LUA_COMMON = r"""
local tokens = {%(tokens)s}
local lon0, lat0, dlon, dlat = %(lon0).6f, %(lat0).6f, %(dlon).6f, %(dlat).6f
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
local start, counter = os.time(), 0
local function stamp()
  counter = counter + 1
  local t = start + math.floor(counter / 1000000)
  return os.date("!%%Y-%%m-%%dT%%H:%%M:%%S", t) .. string.format(".%%06dZ", counter %% 1000000)
end
local function point()
  return lon0 + math.random() * dlon, lat0 + math.random() * dlat
end
"""

LUA_CHECKIN = r"""
local headers = {["Content-Type"] = "application/json"}
local function uuid4()
  return string.format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x",
    math.random(0, 65535), math.random(0, 65535), math.random(0, 65535), math.random(0, 4095),
    32768 + math.random(0, 16383), math.random(0, 65535), math.random(0, 65535), math.random(0, 65535))
end
request = function()
  headers["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]
  local lon, lat = point()
  return wrk.format(nil, nil, headers, string.format(
    '{"id":"%s","kind":"heartbeat","recorded_at":"%s","location":{"type":"Point","coordinates":[%.6f,%.6f]},' ..
    '"accuracy_m":%d}', uuid4(), stamp(), lon, lat, math.random(5, 30)))
end
"""

LUA_JSON = r"""
local headers = {["Content-Type"] = "application/json"}
request = function()
  local lon, lat = point()
  return wrk.format(nil, nil, headers, string.format(
    '{"location":{"timestamp":"%s","coords":{"latitude":%.6f,"longitude":%.6f,"accuracy":%d,"speed":1.2,' ..
    '"heading":90,"altitude":35.7},"is_moving":true,"odometer":0,"event":"motionchange",' ..
    '"battery":{"level":0.79,"is_charging":false},"activity":{"type":"walking"},"extras":{}},' ..
    '"device_id":"bench-tracker-%d"}', stamp(), lat, lon, math.random(5, 30), math.random(0, %(devices)d - 1)))
end
"""

LUA_QUERY = r"""
request = function()
  local lon, lat = point()
  return wrk.format("GET", string.format(
    "/osmand?id=bench-tracker-%d&lat=%.6f&lon=%.6f&timestamp=%s&speed=2.3&bearing=90&altitude=35&accuracy=%d&batt=79",
    math.random(0, %(devices)d - 1), lat, lon, stamp(), math.random(5, 30)))
end
"""


def _lua(tokens: list[str], body: str) -> str:
    common = LUA_COMMON % {"tokens": ",".join(f'"{t}"' for t in tokens), "lon0": DENSE_CENTRE[0] - HALF_LON,
                           "lat0": DENSE_CENTRE[1] - HALF_LAT, "dlon": 2 * HALF_LON, "dlat": 2 * HALF_LAT}
    return common + (body if "%(devices)d" not in body else body.replace("%(devices)d", str(DEVICES)))


def _run_sql(url: str, statements: dict[str, str] | list[str]) -> dict[str, int]:
    import asyncpg

    async def go() -> dict[str, int]:
        conn = await asyncpg.connect(libpq_url(url))
        try:
            out = {}
            items = statements.items() if isinstance(statements, dict) else enumerate(statements)
            for name, sql in items:
                status = await conn.execute(sql)
                out[str(name)] = int(status.rsplit(" ", 1)[-1]) if status.rsplit(" ", 1)[-1].isdigit() else 0
            return out
        finally:
            await conn.close()

    return asyncio.run(go())


def run(ctx, workers: int) -> Comparison:
    ctx.auth()
    ensure_schools(ctx.db_url)
    _run_sql(ctx.db_url, SETUP_SQL)
    left = _run_sql(ctx.db_url, CLEANUP_SQL)
    if left.get("checkins"):
        log(f"  removed {left['checkins']:,} check-ins left by an earlier run")
    officer_ids = [hashlib.md5(f"bench-tracker-{n}".encode()).hexdigest() for n in range(DEVICES)]
    tokens = bench_tokens(ctx.db_url, ctx.jwt_secret, officer_ids, ttl_s=BENCH_TOKEN_TTL_S)
    try:
        with ExitStack() as stack:
            server = stack.enter_context(ctx.server("api.main:app", workers=workers, name="app",
                                                    env={"HUXIAO_TRACKER_RATE_LIMIT": str(10**9)}))
            base = server.base_url
            variants = [
                ctx.http("checkin-single", base + "/v1/checkins", method="POST", server=server,
                         lua=_lua(tokens, LUA_CHECKIN),
                         description="POST /v1/checkins, bearer token of 1 of 200 officers, fresh point, 32 conns"),
                ctx.http("osmand-json", base + "/osmand", method="POST", server=server, lua=_lua(tokens, LUA_JSON),
                         description="POST /osmand, Traccar Client JSON, 1 of 200 devices, fresh point, 32 conns"),
                # (the URL is the preflight's: one position of device 0 now; wrk's Lua makes every request)
                ctx.http("osmand-query", f"{base}/osmand?id=bench-tracker-0&lat={DENSE_CENTRE[1]}"
                         f"&lon={DENSE_CENTRE[0]}&accuracy=10", server=server, lua=_lua(tokens, LUA_QUERY),
                         description="GET /osmand?id=…&lat=…&lon=…&timestamp=… (older apps), 32 conns"),
            ]
            rows = ctx.compare(variants, baseline="checkin-single", label=f"{NAME} w{workers}")
    finally:
        removed = _run_sql(ctx.db_url, CLEANUP_SQL)
        log(f"  cleanup: {removed}")
    by_name = {r.name: r for r in rows}
    goals = [Threshold(name, "ratio", MIN_RATIO, f"{name} ≥ 0.8 of single check-ins, same run", at_least=True)
             for name in ("osmand-json", "osmand-query")]
    return Comparison(scenario=NAME, title=TITLE, workers=workers, baseline="checkin-single", rows=rows,
                      goals=[g.judge(by_name) for g in goals], notes=[],
                      setup={"county": DENSE, "devices": DEVICES, "stored": removed})
