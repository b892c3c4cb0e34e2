#!/bin/bash
# Worker memory (issue 10): one uvicorn worker on huxiao_bench with the dense county (300 schools) plus 10,000
# generated schools (jurisdiction BENCH_RSS, added here once), RSS at start and after each of three 40-s rounds of
# mixed traffic (half zone look-ups, a quarter GET /v1/me, a quarter check-ins; 32 connections) - about 140,000
# requests. Run `python -m bench.run peer --workers 1` once before (it makes the bench database and its officers).
set -euo pipefail
cd "$(dirname "$0")/.."
PGP=$(cat .data/pg.port)
psql -h 127.0.0.1 -p "$PGP" -U postgres huxiao_bench -qAtc "
INSERT INTO jurisdictions (code, name, level, parent_code, path)
VALUES ('BENCH_RSS', 'RSS county', 'county', 'BENCH', 'BENCH.BENCH_RSS') ON CONFLICT DO NOTHING;
INSERT INTO schools (id, external_id, name, kind, jurisdiction_code, address, location, campus, zone_radius_m)
SELECT gen_random_uuid(), 'rss-' || n, 'RSS school ' || n, 'primary', 'BENCH_RSS', 'Road ' || n,
       CAST(ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS geography),
       CASE WHEN n % 4 <> 0 THEN CAST(ST_MakeEnvelope(lon - 60 / (111320 * cos(radians(lat))), lat - 60 / 110574.0,
            lon + 60 / (111320 * cos(radians(lat))), lat + 60 / 110574.0, 4326) AS geography) END, 200
FROM (SELECT n, 112 + random() * 2 AS lon, 34 + random() * 2 AS lat FROM generate_series(1, 10000) n) g
ON CONFLICT DO NOTHING;"
SECRET=$(python3 -c "import secrets;print(secrets.token_urlsafe(48))")
export DATABASE_URL=postgresql://postgres@127.0.0.1:$PGP/huxiao_bench HUXIAO_JWT_SECRET=$SECRET HUXIAO_LOG_LEVEL=WARNING
.venv/bin/python - <<PY > /tmp/rss_tokens.lua
import uuid, asyncio, asyncpg
from domain.settings import Settings
from domain.credentials import issue_access_token
s = Settings(jwt_secret="$SECRET", access_token_ttl_s=7200)
async def ids():
    c = await asyncpg.connect("postgresql://postgres@127.0.0.1:$PGP/huxiao_bench")
    r = [x[0] for x in await c.fetch("SELECT id FROM users WHERE username LIKE 'peer.officer.%' LIMIT 100")]
    await c.close(); return r
print("tokens = {" + ",".join('"%s"' % issue_access_token(s, user_id=i)[0] for i in asyncio.run(ids())) + "}")
PY
.venv/bin/uvicorn api.main:app --port 18777 --workers 1 --loop uvloop --http httptools --no-access-log --log-level warning > /tmp/rss_server.log 2>&1 &
PID=$!
sleep 6
rss() { grep VmRSS /proc/$PID/status | awk '{print $2/1024 " MB"}'; }
echo "start: $(rss)"
cat > /tmp/rss_mixed.lua <<'LUA'
dofile("/tmp/rss_tokens.lua")
math.randomseed(os.time())
local n = 0
local function uuid4()
  return string.format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x", math.random(0, 65535), math.random(0, 65535),
    math.random(0, 65535), math.random(0, 4095), 32768 + math.random(0, 16383), math.random(0, 65535),
    math.random(0, 65535), math.random(0, 65535))
end
request = function()
  n = n + 1
  local h = {["Authorization"] = "Bearer " .. tokens[math.random(#tokens)], ["Content-Type"] = "application/json"}
  local lon, lat = 108.129 + math.random() * 0.082, 29.264 + math.random() * 0.052
  if n % 4 == 0 then
    return wrk.format("POST", "/v1/checkins", h, string.format('{"id":"%s","kind":"heartbeat","recorded_at":"%s","location":{"type":"Point","coordinates":[%.6f,%.6f]},"accuracy_m":10}', uuid4(), os.date("!%Y-%m-%dT%H:%M:%SZ"), lon, lat))
  elseif n % 4 == 1 then
    return wrk.format("GET", "/v1/me", h)
  else
    return wrk.format("GET", string.format("/v1/zones/lookup?lon=%.6f&lat=%.6f", lon, lat), h)
  end
end
LUA
for round in 1 2 3; do
  wrk -t1 -c32 -d40s -s /tmp/rss_mixed.lua http://127.0.0.1:18777/ > /tmp/rss_wrk_$round.txt
  echo "after round $round ($(grep -E '^ +[0-9]+ requests' /tmp/rss_wrk_$round.txt | awk '{print $1}') requests, $(grep Non-2xx /tmp/rss_wrk_$round.txt)): $(rss)"
done
kill $PID
