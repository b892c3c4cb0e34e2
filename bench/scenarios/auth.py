"""`auth`: what authentication costs per request, as ratios to GET /healthz of the same server and run.

Goal from the issue: ≤ 15 % overhead over /healthz. Measured:
- `me-jwt`        GET /v1/me with a bearer JWT
- `jurisdiction-jwt` / `jurisdiction-key`  GET /v1/jurisdictions/BENCH with the JWT / with X-API-Key
  (same endpoint, so the two credentials compare directly)
and, with the breakdown (bench/probe.py routes on the same server):
- `auth-only-jwt` / `auth-only-key`  the real CurrentCaller dependency and nothing else: the price of
  authentication itself (caller cache warm, as in steady traffic)
- `session-select1` the per-request database session and one `SELECT 1`, no authentication: the price of
  touching the database at all.

The server is `bench.probe:with_probes`: api.main:app with the two probe routes appended after its own.
"""

from __future__ import annotations

from bench.harness import Comparison, Goal

NAME = "auth"
TITLE = "Auth: authenticated GETs vs GET /healthz (same server)"
MAX_OVERHEAD_PCT = 15.0


def run(ctx, workers: int) -> Comparison:
    fixture = ctx.auth()
    code = fixture.jurisdiction_code
    with ctx.server("bench.probe:with_probes", workers=workers, name="app-with-probes", factory=True) as server:
        base = server.base_url
        variants = [
            ctx.http("healthz", base + "/healthz", description="GET /healthz, no auth"),
            ctx.http("me-jwt", base + "/v1/me", headers=fixture.bearer, description="GET /v1/me, bearer JWT"),
            ctx.http("jurisdiction-jwt", f"{base}/v1/jurisdictions/{code}", headers=fixture.bearer,
                     description=f"GET /v1/jurisdictions/{code}, bearer JWT"),
            ctx.http("jurisdiction-key", f"{base}/v1/jurisdictions/{code}", headers=fixture.key_header,
                     description=f"GET /v1/jurisdictions/{code}, X-API-Key"),
        ]
        if ctx.breakdown:
            variants += [
                ctx.http("auth-only-jwt", base + "/bench/auth", headers=fixture.bearer,
                         description="probe: CurrentCaller only, bearer JWT"),
                ctx.http("auth-only-key", base + "/bench/auth", headers=fixture.key_header,
                         description="probe: CurrentCaller only, X-API-Key"),
                ctx.http("session-select1", base + "/bench/db",
                         description="probe: request session + SELECT 1, no auth"),
            ]
        rows = ctx.compare(variants, baseline="healthz", label=f"{NAME} w{workers}")
    by_name = {r.name: r for r in rows}
    goals = [Goal(v, "healthz", MAX_OVERHEAD_PCT, f"`{v}` ≤ 15 % over /healthz")
             for v in ("me-jwt", "jurisdiction-jwt", "jurisdiction-key")]
    goals += [Goal(v, "healthz", MAX_OVERHEAD_PCT, f"authentication alone (`{v}`) ≤ 15 % over /healthz")
              for v in ("auth-only-jwt", "auth-only-key") if v in by_name]
    return Comparison(scenario=NAME, title=TITLE, workers=workers, baseline="healthz", rows=rows,
                      goals=[g.judge(by_name) for g in goals],
                      setup={"jurisdiction": code, "user_id": fixture.user_id})
