"""Diagnostic variants of the app, served with `uvicorn --factory bench.probe:<name>`.

They split a measured cost into its parts without touching the app's own code:

- `with_probes`        `api.main:app` plus three routes appended after all of the app's own (so they compare
                       with each other, not with routes earlier in the routing):
                       `GET /bench/auth` (the real `CurrentCaller` dependency, nothing else),
                       `GET /bench/session` (the real per-request session dependency, no query) and
                       `GET /bench/pool` (whether the engine pings connections: checks `without_pre_ping`).
- `without_middleware` the same FastAPI app as `api.main:app` but without the `RequestContext` middleware.
- `without_metrics`    `api.main:app` with the two Prometheus metric objects the middleware updates on
                       every request replaced by no-ops (what the middleware costs without metrics).
- `without_auth`       `api.main:app` whose routes get a constant admin of the root jurisdiction named in
                       $BENCH_CALLER_JURISDICTION instead of the `current_caller` dependency: every real route,
                       at its real place in the routing, minus authentication — the yardstick for what
                       authentication adds to an endpoint. (Not `app.dependency_overrides`: with any override
                       set, FastAPI rebuilds every sub-dependency on every request, which costs more than auth.)
- `without_pre_ping`   `with_probes` whose engine does not ping each connection it takes from the pool
                       (`pool_pre_ping=False`; with asyncpg a ping is three round trips: BEGIN, `;`, ROLLBACK).

Each factory runs in its own server process, so one's patch never leaks into another's.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import CurrentCaller


def _probe_router() -> APIRouter:
    router = APIRouter(prefix="/bench", include_in_schema=False)

    @router.get("/auth")
    async def auth_only(caller: CurrentCaller) -> dict:
        return {"status": "ok", "caller": caller.name}

    return router


def with_probes():
    from api.main import app

    app.include_router(_probe_router())
    return app


def without_middleware():
    from api.main import app
    from api.observability import RequestContext

    app.user_middleware[:] = [m for m in app.user_middleware if m.cls is not RequestContext]
    app.middleware_stack = None  # built lazily on the first request, now without RequestContext
    return app


def without_auth():
    import os
    import sys
    from typing import get_args

    import api.auth
    from domain.callers import Caller, Role

    if "api.main" in sys.modules:
        raise RuntimeError("without_auth must patch api.auth before api.main builds the routes")
    code = os.environ.get("BENCH_CALLER_JURISDICTION", "BENCH")
    caller = Caller(kind="system", id=None, name="bench", role=Role.admin, jurisdiction_code=code, scope_path=code)

    async def constant_caller() -> Caller:
        return caller

    # Every route (and `require_role`) reaches authentication through this one `Depends` in `CurrentCaller`;
    # point it at the constant before the routes are built from their annotations.
    depends = next(a for a in get_args(api.auth.CurrentCaller)[1:] if hasattr(a, "dependency"))
    object.__setattr__(depends, "dependency", constant_caller)
    from api.main import app

    return app


class _NoMetric:
    def labels(self, *args, **kwargs):
        return self

    def inc(self, *args, **kwargs):
        pass

    def observe(self, *args, **kwargs):
        pass


def without_metrics():
    import api.observability as observability
    from api.main import app

    observability.REQUESTS = _NoMetric()
    observability.LATENCY = _NoMetric()
    return app
