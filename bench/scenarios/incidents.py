"""`incidents`: reporting, statistics, nearest units and the live feed, on 10^6 incidents and 10^4 responders.

Data: bench/incident_data.py (10^6 incidents over a fixed year in scope BENCH, 10^4 responders seen within the
last 5 minutes, the reporting officer `bench-incident-officer`). One server (`api.main:app`) serves every HTTP
variant; what the run writes is deleted at its end (and at the start of the next one).

1. Reporting, interleaved rounds against `healthz` of the same server:
   - `incident-create`     POST /v1/incidents, a random point in the dense county per request (wrk Lua), as the
                           officer (scope BENCH): validation, zone decision in the INSERT, score, event, audit
   - `pg-incident-insert`  pgbench: the INSERT of domain/incidents.py (zone subselect, nearest school) on its own,
                           8 clients, prepared, random points in the same box — the issue's "equivalent raw INSERT"
   - `pg-incident-tx`      (breakdown) pgbench: every statement the endpoint runs, in one transaction
   The issue asks for the ratio `incident-create` / `pg-incident-insert` and sets no number.
2. Nearest units, in the same rounds: GET /v1/incidents/{id}/nearest-units for a dense-county incident with
   32 connections (`nearest-units`), and with 4 and 1 (`nearest-units-c4`, `-c1`): on 2 shared cores a p99 under
   32 connections is mostly queueing (Little's law: 32 / req/s), so the lighter loads show the request itself.
   Goal: p99 ≤ 20 ms.
3. Statistics: GET /v1/stats/response-times over the whole generated year (10^6 incidents, scope BENCH), for
   group_by jurisdiction, hour and category, one warm-up then `STATS_REPEATS` sequential requests each; also
   group_by school for the dense county (100,000 incidents, 300 schools). Goal: ≤ 1 s.
4. SSE fan-out: `SSE_CLIENTS` raw-socket clients on GET /v1/stream (one asyncio loop with uvloop in this process),
   then `SSE_WRITES` incidents reported through the API one after another; for each client the time from just
   before the POST was sent (upper bound of the delay after commit) and from when its answer came back (lower
   bound; negative when the event beat the answer) to the event's arrival. Goal: all 500 within 1 s.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import statistics
import time
import uuid
from datetime import UTC, datetime

from bench import harness
from bench.harness import Comparison, http_get, limit_goal, pgbench_variant
from bench.incident_data import DENSE_BOX, IncidentData, cleanup_run, ensure_incident_data, refresh_responders

NAME = "incidents"
TITLE = "Incidents: POST vs raw INSERT, statistics over 10^6, nearest units, SSE fan-out"
STATS_GOAL_MS = 1000.0
STATS_REPEATS = 5
STATS_GROUPS = ("jurisdiction", "hour", "category")
NEAREST_P99_GOAL_MS = 20.0
SSE_CLIENTS = 500
SSE_WRITES = 5
SSE_GOAL_S = 1.0
SSE_CONNECT_PARALLEL = 50

_data: dict[str, IncidentData] = {}


def _incident_body(lon: float, lat: float, alarm_at: str, incident_id: str | None = None) -> dict:
    body = {"category": "suspicious_person", "severity": 2, "source": "patrol",
            "location": {"type": "Point", "coordinates": [lon, lat]}, "alarm_at": alarm_at}
    if incident_id:
        body["id"] = incident_id
    return body


def create_lua(alarm_at: str) -> str:
    """wrk: a random point in the dense county's box per request (the same sequence every run)."""
    x0, y0, x1, y1 = DENSE_BOX
    return f"""
math.randomseed(20261201)
request = function()
  local lon = {x0} + math.random() * {x1 - x0:.6f}
  local lat = {y0} + math.random() * {y1 - y0:.6f}
  local body = string.format('{{"category":"suspicious_person","severity":2,"source":"patrol",' ..
    '"location":{{"type":"Point","coordinates":[%.6f,%.6f]}},"alarm_at":"{alarm_at}"}}', lon, lat)
  return wrk.format(nil, nil, nil, body)
end
"""


# --- pgbench: the endpoint's statements -----------------------------------------------------------------

def _pg_point_vars() -> str:
    x0, y0, x1, y1 = DENSE_BOX
    return (f"\\set lon {x0} + random(0, 1000000) * {(x1 - x0) / 1e6:.10f}\n"
            f"\\set lat {y0} + random(0, 1000000) * {(y1 - y0) / 1e6:.10f}\n")


def _literal_insert(officer_id: str) -> str:
    """domain.incidents.INSERT with its bind parameters replaced by the values the endpoint passes for the bench
    officer (scope BENCH, no jurisdiction given, 1-3-5@v1), the point from pgbench variables :lon/:lat instead of
    WKB bytes, a fresh uuid per row and the alarm at now()."""
    from domain.incidents import INSERT
    from domain.zones import NEAREST_SEARCH_M

    sql = str(INSERT.text if hasattr(INSERT, "text") else INSERT)
    values = {
        "ST_GeomFromWKB(:location, 4326)": "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)",
        ":id": "gen_random_uuid()", ":scope": "'BENCH'", ":search_m": repr(NEAREST_SEARCH_M),
        ":jurisdiction_code": "NULL", ":caller_code": "'BENCH'", ":category": "'suspicious_person'",
        ":severity": "2", ":source": "'patrol'", ":description": "NULL", ":crs": "'wgs84'", ":alarm_at": "now()",
        ":policy_key": "'1-3-5@v1'", ":created_by": f"CAST('{officer_id}' AS uuid)",
        ":body_hash": "CAST(sha256(CAST(random()::text AS bytea)) AS bytea)",
    }
    for name, value in values.items():
        sql = re.sub(re.escape(name) + r"(?![A-Za-z0-9_])", value, sql)
    left = set(re.findall(r"(?<![:A-Za-z0-9_]):([A-Za-z_]\w*)", sql)) - {"lon", "lat"}
    if left:
        raise RuntimeError(f"unreplaced parameters in the incident INSERT: {sorted(left)}")
    return " ".join(sql.split())


def pg_insert_script(officer_id: str) -> str:
    return _pg_point_vars() + _literal_insert(officer_id) + ";\n"


def pg_transaction_script(officer_id: str) -> str:
    """Every statement POST /v1/incidents runs after authentication, in one transaction: the INSERT, the score
    upsert, the read-back (domain.incidents.fetch), the event with its NOTIFY and the audit entry."""
    from domain.incidents import COLUMNS, FROM

    score = ('[{"tier": 1, "limit_s": 60.0, "elapsed_s": null, "state": "pending"}, '
             '{"tier": 2, "limit_s": 180.0, "elapsed_s": null, "state": "pending"}, '
             '{"tier": 3, "limit_s": 300.0, "elapsed_s": null, "state": "pending"}]')
    fetch = " ".join(f"SELECT {COLUMNS}, ST_AsBinary(i.location) AS location_wkb {FROM} WHERE i.id = CAST(:iid AS uuid)"
                     .split())
    return (_pg_point_vars() + "BEGIN;\n"
            + _literal_insert(officer_id).replace("RETURNING i.id", "RETURNING i.id AS iid") + " \\gset\n"
            + "INSERT INTO incident_scores AS s (incident_id, policy_key, computed_at, compliant, tiers, "
              "tier1_elapsed_s, tier2_elapsed_s, tier3_elapsed_s, tier1_state, tier2_state, tier3_state, "
              "alarm_at, jurisdiction_code, school_id, category) "
              f"SELECT i.id, '1-3-5@v1', now(), NULL, CAST('{score}' AS jsonb), NULL, NULL, NULL, "
              "'pending', 'pending', 'pending', i.alarm_at, i.jurisdiction_code, i.zone_school_ids[1], i.category "
              "FROM incidents i WHERE i.id = CAST(:iid AS uuid) ON CONFLICT (incident_id, policy_key) DO NOTHING;\n"
            + fetch + ";\n"
            + "WITH new_events AS (INSERT INTO events (kind, jurisdiction_code, path, payload) "
              "SELECT 'incident.created', j.code, j.path, jsonb_build_object('id', CAST(:iid AS text), 'bench', true) "
              "FROM jurisdictions j WHERE j.code = 'BENCH_DENSE' RETURNING id, kind, path) "
              "SELECT pg_notify('huxiao_events', json_build_object('id', id, 'kind', kind, 'path', path::text)::text) "
              "FROM new_events;\n"
            + "INSERT INTO audit_log (actor_kind, actor_id, actor_name, jurisdiction_code, entity, entity_id, action, "
              f"changes) VALUES ('user', '{officer_id}', 'bench-incident-officer', 'BENCH_DENSE', 'incident', :iid, "
              "'create', CAST('{\"category\": \"suspicious_person\", \"severity\": 2, \"in_zone\": true}' AS jsonb));\n"
            + "COMMIT;\n")


# --- statistics ------------------------------------------------------------------------------------------

def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def measure_stats(base_url: str, headers: dict[str, str], data: IncidentData, *, repeats: int) -> list[dict]:
    """Sequential GETs of /v1/stats/response-times: one warm-up, then `repeats` timed requests per grouping."""
    from urllib.parse import urlencode

    cases = [(g, {"from": data.year_from, "to": data.year_to, "group_by": g}) for g in STATS_GROUPS]
    cases.append(("school (BENCH_DENSE)", {"from": data.year_from, "to": data.year_to, "group_by": "school",
                                           "jurisdiction_code": "BENCH_DENSE"}))
    out = []
    for name, query in cases:
        url = f"{base_url}/v1/stats/response-times?{urlencode(query)}"
        timings, groups, incidents = [], None, None
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            status, body = http_get(url, headers=headers, timeout_s=120)
            elapsed = (time.perf_counter() - t0) * 1000
            if status != 200:
                raise RuntimeError(f"stats {name}: {status} {body[:300]!r}")
            if i == 0:
                doc = json.loads(body)
                groups = len(doc["groups"])
                incidents = sum(g["incidents"] for g in doc["groups"])
                continue
            timings.append(elapsed)
            harness.log(f"  stats {name:<22} {elapsed:8.0f} ms")
        out.append({"group_by": name, "groups": groups, "incidents": incidents, "runs_ms": timings,
                    "median_ms": statistics.median(timings), "p95_ms": _pct(timings, 95), "max_ms": max(timings),
                    "min_ms": min(timings)})
    return out


# --- SSE fan-out -----------------------------------------------------------------------------------------

async def _fan_out(base_url: str, headers: dict[str, str], *, clients: int, writes: int) -> dict:
    import httpx

    host, port = base_url.removeprefix("http://").split(":")
    auth = headers["Authorization"]
    ids = [str(uuid.uuid4()) for _ in range(writes)]
    targets = [i.encode() for i in ids]
    received: list[list[float | None]] = [[None] * clients for _ in range(writes)]
    state = {"connected": 0, "failed": 0}
    all_connected = asyncio.Event()
    got_all = [asyncio.Event() for _ in range(writes)]
    counts = [0] * writes
    gate = asyncio.Semaphore(SSE_CONNECT_PARALLEL)
    request = (f"GET /v1/stream HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {auth}\r\n"
               "Accept: text/event-stream\r\n\r\n").encode()

    async def client(k: int) -> None:
        async with gate:
            try:
                reader, writer = await asyncio.open_connection(host, int(port))
                writer.write(request)
                buf = b""
                while b"subscribed" not in buf:
                    chunk = await asyncio.wait_for(reader.read(65536), timeout=60)
                    if not chunk:
                        raise ConnectionError("closed before subscribing")
                    buf += chunk
                if not buf.startswith(b"HTTP/1.1 200"):
                    raise ConnectionError(buf[:200].decode(errors="replace"))
            except (OSError, TimeoutError, ConnectionError) as exc:
                state["failed"] += 1
                harness.log(f"  sse client {k} failed: {exc}")
                if state["connected"] + state["failed"] == clients:
                    all_connected.set()
                return
        state["connected"] += 1
        if state["connected"] + state["failed"] == clients:
            all_connected.set()
        buf = buf[buf.index(b"subscribed"):]
        w = 0
        try:
            while w < writes:
                chunk = await reader.read(65536)
                now = time.perf_counter()
                if not chunk:
                    return
                buf += chunk
                while w < writes and (at := buf.find(targets[w])) >= 0:
                    received[w][k] = now
                    counts[w] += 1
                    if counts[w] == state["connected"]:
                        got_all[w].set()
                    buf = buf[at + len(targets[w]):]
                    w += 1
                if len(buf) > 1 << 20:
                    buf = buf[-4096:]
        finally:
            writer.close()

    tasks = [asyncio.create_task(client(k)) for k in range(clients)]
    t_connect = time.perf_counter()
    await asyncio.wait_for(all_connected.wait(), timeout=180)
    connect_s = time.perf_counter() - t_connect
    await asyncio.sleep(1.0)
    per_write = []
    alarm_at = datetime.now(UTC).isoformat()
    x0, y0, x1, y1 = DENSE_BOX
    async with httpx.AsyncClient(timeout=30) as http:
        for w in range(writes):
            body = _incident_body(x0 + (x1 - x0) * (w + 1) / (writes + 1), (y0 + y1) / 2, alarm_at, ids[w])
            t0 = time.perf_counter()
            response = await http.post(base_url + "/v1/incidents", json=body, headers=headers)
            t1 = time.perf_counter()
            if response.status_code != 201:
                raise RuntimeError(f"SSE write {w}: {response.status_code} {response.text[:300]}")
            try:
                await asyncio.wait_for(got_all[w].wait(), timeout=10)
            except TimeoutError:
                pass
            got = [r for r in received[w] if r is not None]
            from_sent = [(r - t0) * 1000 for r in got]
            from_return = [(r - t1) * 1000 for r in got]
            per_write.append({
                "write": w, "post_ms": (t1 - t0) * 1000, "received": len(got), "connected": state["connected"],
                "from_sent_p50_ms": _pct(from_sent, 50), "from_sent_p99_ms": _pct(from_sent, 99),
                "from_sent_max_ms": max(from_sent, default=None),
                "from_return_p50_ms": _pct(from_return, 50), "from_return_p99_ms": _pct(from_return, 99),
                "from_return_max_ms": max(from_return, default=None),
                "within_goal": sum(1 for d in from_sent if d <= SSE_GOAL_S * 1000)})
            harness.log(f"  sse write {w}: POST {per_write[-1]['post_ms']:.0f} ms, {len(got)}/{state['connected']} "
                        f"received, from sent p99 {per_write[-1]['from_sent_p99_ms'] or 0:.0f} ms "
                        f"max {per_write[-1]['from_sent_max_ms'] or 0:.0f} ms")
            await asyncio.sleep(0.5)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"clients": clients, "connected": state["connected"], "failed": state["failed"],
            "connect_s": connect_s, "writes": per_write}


def measure_fan_out(base_url: str, headers: dict[str, str], *, clients: int, writes: int) -> dict:
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_fan_out(base_url, headers, clients=clients, writes=writes))


# --- the scenario ----------------------------------------------------------------------------------------

def _fmt(v: float | None, spec: str = ",.0f") -> str:
    return "–" if v is None else format(v, spec)


def _stats_table(stats: list[dict]) -> str:
    lines = ["Statistics — GET /v1/stats/response-times over the generated year (sequential requests, client "
             "wall time):", "",
             "| group_by | groups | incidents | median ms | p95 ms | min–max ms |", "|---|---:|---:|---:|---:|---|"]
    for s in stats:
        lines.append(f"| {s['group_by']} | {s['groups']} | {s['incidents']:,} | {_fmt(s['median_ms'])} | "
                     f"{_fmt(s['p95_ms'])} | {_fmt(s['min_ms'])}–{_fmt(s['max_ms'])} |")
    return "\n".join(lines)


def _sse_table(sse: dict) -> str:
    lines = [f"SSE fan-out — {sse['connected']} of {sse['clients']} clients connected in {sse['connect_s']:.1f} s; "
             "delay from just before the POST was sent (from just after it returned):", "",
             "| write | POST ms | received | p50 ms | p99 ms | max ms | within 1 s |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for w in sse["writes"]:
        lines.append(f"| {w['write'] + 1} | {w['post_ms']:.0f} | {w['received']}/{w['connected']} | "
                     f"{_fmt(w['from_sent_p50_ms'])} ({_fmt(w['from_return_p50_ms'])}) | "
                     f"{_fmt(w['from_sent_p99_ms'])} ({_fmt(w['from_return_p99_ms'])}) | "
                     f"{_fmt(w['from_sent_max_ms'])} ({_fmt(w['from_return_max_ms'])}) | {w['within_goal']} |")
    return "\n".join(lines)


def run(ctx, workers: int) -> Comparison:
    ctx.auth()  # the BENCH jurisdiction (and the run's JWT secret in use)
    data = _data.get(ctx.db_url)
    if data is None:
        data = _data[ctx.db_url] = ensure_incident_data(ctx.db_url, jwt_secret=ctx.jwt_secret)
    else:
        cleanup_run(ctx.db_url, data.officer_id)
        refresh_responders(ctx.db_url)
    harness.log(f"  {data.incidents:,} generated incidents, {data.responders:,} responders refreshed")
    headers = {**data.bearer, "Content-Type": "application/json"}
    alarm_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        with ctx.server("api.main:app", workers=workers, name="app") as server:
            base = server.base_url
            nearest_url = f"{base}/v1/incidents/{data.dense_incident_id}/nearest-units"
            status, body = http_get(nearest_url, headers=data.bearer)
            if status != 200 or len(json.loads(body)) != 10:
                raise RuntimeError(f"nearest-units preflight: {status} {body[:300]!r}")
            variants = [
                ctx.http("healthz", base + "/healthz", description="GET /healthz, no auth", server=server),
                ctx.http("incident-create", base + "/v1/incidents", method="POST", headers=headers,
                         body=json.dumps(_incident_body(108.17, 29.29, alarm_at)), lua=create_lua(alarm_at),
                         description="POST /v1/incidents, random point in the dense county", server=server),
                pgbench_variant("pg-incident-insert", ctx.db_url, pg_insert_script(data.officer_id),
                                description="pgbench: the endpoint's INSERT with zone subselect, 8 clients (tps)"),
            ]
            if ctx.breakdown:
                variants.append(pgbench_variant(
                    "pg-incident-tx", ctx.db_url, pg_transaction_script(data.officer_id),
                    description="pgbench: all the endpoint's statements in one transaction, 8 clients (tps)"))
            variants += [
                ctx.http("nearest-units", nearest_url, headers=data.bearer, server=server,
                         description=f"GET nearest-units (10 of 10^4 responders), {ctx.connections} connections"),
                harness.http_variant("nearest-units-c4", nearest_url, connections=4, headers=data.bearer,
                                     server=server, dbname=ctx.db_name,
                                     description="the same, 4 connections"),
                harness.http_variant("nearest-units-c1", nearest_url, connections=1, headers=data.bearer,
                                     server=server, dbname=ctx.db_name,
                                     description="the same, 1 connection"),
            ]
            rows = ctx.compare(variants, baseline="healthz", label=f"{NAME} w{workers}")
            harness.log("  statistics")
            stats = measure_stats(base, data.bearer, data, repeats=STATS_REPEATS)
            harness.log(f"  SSE fan-out: {SSE_CLIENTS} clients")
            sse = measure_fan_out(base, data.bearer, clients=SSE_CLIENTS, writes=SSE_WRITES)
    finally:
        removed = cleanup_run(ctx.db_url, data.officer_id)
        harness.log(f"  removed {removed:,} incidents written by this run")
    by_name = {r.name: r for r in rows}
    create, raw = by_name["incident-create"], by_name["pg-incident-insert"]
    per_round = [c.rps / r.rps for c, r in zip(create.runs, raw.runs, strict=True) if r.rps]
    notes = [f"Issue ratio `incident-create` / `pg-incident-insert` (no number set by the issue): "
             f"**{create.rps / raw.rps:.3f}** (per round {', '.join(f'{x:.3f}' for x in per_round)})"]
    if "pg-incident-tx" in by_name:
        tx = by_name["pg-incident-tx"]
        notes.append(f"`incident-create` / `pg-incident-tx` (the same statements without HTTP/Python): "
                     f"{create.rps / tx.rps:.3f}")
    notes += [_stats_table(stats), _sse_table(sse)]
    goals = [limit_goal(f"stats over 10^6 incidents ≤ 1 s (median of {STATS_REPEATS}, group_by={s['group_by']})",
                        subject=f"stats-{s['group_by']}", value=s["median_ms"], limit=STATS_GOAL_MS, unit="ms")
             for s in stats if s["group_by"] in STATS_GROUPS]
    goals += [limit_goal(f"nearest-units p99 ≤ 20 ms with 10^4 active responders ({label})", subject=name,
                         value=by_name[name].p99_ms, limit=NEAREST_P99_GOAL_MS, unit="ms")
              for name, label in (("nearest-units", f"{ctx.connections} connections"),
                                  ("nearest-units-c4", "4 connections"), ("nearest-units-c1", "1 connection"))]
    worst = max((w["from_sent_max_ms"] for w in sse["writes"] if w["from_sent_max_ms"] is not None), default=None)
    all_got = all(w["received"] == SSE_CLIENTS for w in sse["writes"])
    goals.append(limit_goal(f"SSE: all {SSE_CLIENTS} clients get the event within 1 s of the write (worst client "
                            f"over {SSE_WRITES} writes, from POST sent)", subject="sse-fan-out",
                            value=worst if all_got else None, limit=SSE_GOAL_S * 1000, unit="ms"))
    return Comparison(scenario=NAME, title=TITLE, workers=workers, baseline="healthz", rows=rows, goals=goals,
                      notes=notes, setup={"incidents": data.incidents, "responders": data.responders,
                                          "dense_incident_id": data.dense_incident_id, "year": [data.year_from,
                                                                                                data.year_to],
                                          "stats": stats, "sse": sse, "ratio_create_vs_raw": create.rps / raw.rps,
                                          "ratio_create_vs_raw_per_round": per_round})
