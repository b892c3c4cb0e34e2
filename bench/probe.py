"""Diagnostic variants of the app, served with `uvicorn --factory bench.probe:<name>`.

They split a measured cost into its parts without touching the app's own code:

- `with_probes`        `api.main:app` plus two routes appended after all of the app's own:
                       `GET /bench/auth` (the real `CurrentCaller` dependency, nothing else) and
                       `GET /bench/db` (the real per-request session plus `SELECT 1`, no authentication).
- `without_middleware` the same FastAPI app as `api.main:app` but without the `RequestContext` middleware.
- `without_metrics`    `api.main:app` with the two Prometheus metric objects the middleware updates on
                       every request replaced by no-ops (what the middleware costs without metrics).

Each factory runs in its own server process, so one's patch never leaks into another's.
"""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from api.auth import CurrentCaller
from api.deps import Session


def _probe_router() -> APIRouter:
    router = APIRouter(prefix="/bench", include_in_schema=False)

    @router.get("/auth")
    async def auth_only(caller: CurrentCaller) -> dict:
        return {"status": "ok", "caller": caller.name}

    @router.get("/db")
    async def db_only(session: Session) -> dict:
        await session.execute(text("SELECT 1"))
        return {"status": "ok"}

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
