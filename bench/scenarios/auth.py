"""`auth`: what authentication costs per request, as ratios to GET /healthz of the same server and run.

Goal from the issue: ≤ 15 % overhead over /healthz. Measured (one server, `bench.probe:with_probes`,
which is api.main:app with the probe routes of bench/probe.py appended after its own):
- `me-jwt`             GET /v1/me with a bearer JWT
- `jurisdiction-jwt` / `jurisdiction-key`  GET /v1/jurisdictions/BENCH with the JWT / with X-API-Key
  (same endpoint, so the two credentials compare directly)
and, with the breakdown, a ladder from /healthz to the real endpoint:
- `auth-only-jwt` / `auth-only-key`  the real CurrentCaller dependency (one cache look-up) and
                       nothing else, with the JWT / the API key; the caller cache is warm, as in steady traffic
- `jurisdiction-noauth`  the same route on a second server whose routes get a constant caller instead of
                       `current_caller` (bench.probe:without_auth): same routing, handler, query and response
                       model, no authentication — the yardstick for "what authentication adds to an endpoint"
- `pg-jurisdiction-query`  pgbench running the endpoint's SELECT straight on PostgreSQL (8 clients, prepared):
                       what the database alone could answer (transactions/s)
"""

from __future__ import annotations

from contextlib import ExitStack

from bench.harness import Comparison, Goal, http_get, pgbench_variant

NAME = "auth"
TITLE = "Auth: authenticated GETs vs GET /healthz (same server)"
MAX_OVERHEAD_PCT = 15.0
# domain.jurisdictions.get's statement, literally (a pgbench variable would arrive quoted as a parameter).
JURISDICTION_SQL = ("SELECT code, name, level, parent_code, path::text AS path, time_zone, created_at "
                    "FROM jurisdictions WHERE code = '{code}';\n")


def run(ctx, workers: int) -> Comparison:
    fixture = ctx.auth()
    code = fixture.jurisdiction_code
    with ExitStack() as stack:
        server = stack.enter_context(ctx.server("bench.probe:with_probes", workers=workers,
                                                name="app-with-probes", factory=True))
        base = server.base_url
        variants = [
            ctx.http("healthz", base + "/healthz", description="GET /healthz, no auth", server=server),
            ctx.http("me-jwt", base + "/v1/me", headers=fixture.bearer, description="GET /v1/me, bearer JWT", server=server),
            ctx.http("jurisdiction-jwt", f"{base}/v1/jurisdictions/{code}", headers=fixture.bearer,
                     description=f"GET /v1/jurisdictions/{code}, bearer JWT", server=server),
            ctx.http("jurisdiction-key", f"{base}/v1/jurisdictions/{code}", headers=fixture.key_header,
                     description=f"GET /v1/jurisdictions/{code}, X-API-Key", server=server),
        ]
        if ctx.breakdown:
            noauth = stack.enter_context(ctx.server("bench.probe:without_auth", workers=workers, name="app-no-auth",
                                                    factory=True, env={"BENCH_CALLER_JURISDICTION": code}))
            status, body = http_get(f"{noauth.base_url}/v1/jurisdictions/{code}")  # no credentials sent
            if status != 200:
                raise RuntimeError(f"bench.probe:without_auth still authenticates: {status} {body[:200]!r}")
            variants += [
                ctx.http("auth-only-jwt", base + "/bench/auth", headers=fixture.bearer,
                         description="probe: CurrentCaller only, bearer JWT", server=server),
                ctx.http("auth-only-key", base + "/bench/auth", headers=fixture.key_header,
                         description="probe: CurrentCaller only, X-API-Key", server=server),
                ctx.http("jurisdiction-noauth", f"{noauth.base_url}/v1/jurisdictions/{code}",
                         description="same route, constant caller instead of `current_caller`", server=noauth),
                pgbench_variant("pg-jurisdiction-query", ctx.db_url, JURISDICTION_SQL.format(code=code),
                                description="pgbench: the endpoint's SELECT, 8 clients, prepared (tps)"),
            ]
        rows = ctx.compare(variants, baseline="healthz", label=f"{NAME} w{workers}")
    by_name = {r.name: r for r in rows}
    goals = [Goal(v, "healthz", MAX_OVERHEAD_PCT, f"`{v}` ≤ 15 % over /healthz (the issue's reading)")
             for v in ("me-jwt", "jurisdiction-jwt", "jurisdiction-key")]
    if "jurisdiction-noauth" in by_name:
        goals += [Goal(v, "jurisdiction-noauth", MAX_OVERHEAD_PCT,
                       f"authentication adds ≤ 15 % to the same endpoint (`{v}`)")
                  for v in ("jurisdiction-jwt", "jurisdiction-key")]
    return Comparison(scenario=NAME, title=TITLE, workers=workers, baseline="healthz", rows=rows,
                      goals=[g.judge(by_name) for g in goals],
                      setup={"jurisdiction": code, "user_id": fixture.user_id})
