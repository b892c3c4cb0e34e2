"""`platform`: GET /healthz through everything api.main:app puts in front of it vs a bare ASGI app.

Goal from the issue: middleware overhead ≤ 10 %. Two readings are reported:
- the issue's ratio, `app` over `bare-asgi` (uvicorn alone): FastAPI + the RequestContext middleware;
- the middleware alone, `app` over `fastapi-no-mw` (the same FastAPI app without RequestContext).
`app-no-metrics` (RequestContext with its two Prometheus updates made no-ops) shows what metrics cost.
"""

from __future__ import annotations

from contextlib import ExitStack

from bench.harness import Comparison, Goal

NAME = "platform"
TITLE = "Platform: GET /healthz, full middleware vs bare ASGI"
MAX_OVERHEAD_PCT = 10.0


def run(ctx, workers: int) -> Comparison:
    servers = [("bare-asgi", "bench.bare:app", False, "raw ASGI app, no framework (bench/bare.py)")]
    if ctx.breakdown:
        servers += [
            ("fastapi-no-mw", "bench.probe:without_middleware", True, "api app without RequestContext"),
            ("app-no-metrics", "bench.probe:without_metrics", True, "api app, metrics updates made no-ops"),
        ]
    servers.append(("app", "api.main:app", False, "api.main:app, all middleware"))
    with ExitStack() as stack:
        variants = []
        for name, app, factory, what in servers:
            server = stack.enter_context(ctx.server(app, workers=workers, name=name, factory=factory))
            variants.append(ctx.http(name, server.base_url + "/healthz", description=what, server=server))
        rows = ctx.compare(variants, baseline="bare-asgi", label=f"{NAME} w{workers}")
    by_name = {r.name: r for r in rows}
    goals = [Goal("app", "bare-asgi", MAX_OVERHEAD_PCT, "middleware overhead ≤ 10 % (vs bare ASGI, as in the issue)")]
    if "fastapi-no-mw" in by_name:
        goals.append(Goal("app", "fastapi-no-mw", MAX_OVERHEAD_PCT, "RequestContext alone ≤ 10 % (vs same app without it)"))
    return Comparison(scenario=NAME, title=TITLE, workers=workers, baseline="bare-asgi", rows=rows,
                      goals=[g.judge(by_name) for g in goals])
