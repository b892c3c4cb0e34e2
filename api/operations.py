"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import asyncio
import hmac

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.responses import Response

from api.observability import DB_POOL_IN_USE
from api.problems import is_database_unavailable, problem
from domain.schema import database_revision, expected_revision

router = APIRouter(tags=["operations"])

READINESS_TIMEOUT_S = 1.5  # the answer (503) comes within 2 s even when the database never answers


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    schema_revision: str | None
    expected_revision: str


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="The database answers and its schema is at the migrations' head",
    responses={503: {"description": "Not ready; retry after `Retry-After` seconds",
                     "content": {"application/problem+json": {}}}},
)
async def readyz(request: Request):
    settings = request.app.state.settings
    expected = expected_revision()
    retry = {"Retry-After": str(settings.retry_after_s)}
    # Not `asyncio.timeout`: cancelling a query that a frozen database never answers waits for asyncpg's cancel
    # request (a new connection), so the answer would come late. The check is left to end in the background.
    check = asyncio.ensure_future(database_revision(request.app.state.db))
    check.add_done_callback(_retrieve)
    done, _ = await asyncio.wait({check}, timeout=READINESS_TIMEOUT_S)
    try:
        if not done:
            check.cancel()
            raise TimeoutError("the database did not answer the readiness check in time")
        revision = check.result()
    except Exception as exc:
        if not is_database_unavailable(exc) and not isinstance(exc, TimeoutError):
            raise
        return problem(503, detail="The database is not reachable.", kind="not-ready",
                       headers=retry, database="unreachable", expected_revision=expected)
    if revision != expected:
        return problem(503, detail=f"The schema is at {revision or 'nothing'}, the code expects {expected}; "
                       "run `huxiao migrate`.", kind="not-ready", headers=retry,
                       database="reachable", schema_revision=revision, expected_revision=expected)
    return {"status": "ready", "database": "reachable", "schema_revision": revision,
            "expected_revision": expected}


def _retrieve(task: asyncio.Task) -> None:
    """Take a finished check's exception, so that an abandoned one is not reported as never retrieved."""
    if not task.cancelled():
        task.exception()


FORWARDING_HEADERS = (b"forwarded", b"x-forwarded-for", b"x-real-ip")


def metrics_allowed(request: Request) -> bool:
    """`/metrics` is not public: a caller with `Authorization: Bearer $HUXIAO_METRICS_TOKEN` when that is set, else
    only a loopback client that did not come through a proxy (no forwarding headers), e.g. a local Prometheus."""
    token = request.app.state.settings.metrics_token
    if token:
        sent = request.headers.get("authorization", "")
        return hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())
    client = request.client.host if request.client else ""
    proxied = any(name in FORWARDING_HEADERS for name, _ in request.scope["headers"])
    return client in ("127.0.0.1", "::1") and not proxied


@router.get("/metrics", summary="Prometheus metrics (loopback only, or with the metrics token)",
            response_class=Response,
            responses={200: {"content": {"text/plain": {}}},
                       403: {"description": "Not from loopback and no metrics token",
                             "content": {"application/problem+json": {}}}})
async def metrics(request: Request) -> Response:
    if not metrics_allowed(request):
        return problem(403, detail="/metrics answers loopback clients, or callers with the metrics token "
                                   "(HUXIAO_METRICS_TOKEN).", kind="forbidden")
    pool = request.app.state.pool
    DB_POOL_IN_USE.set(pool.get_size() - pool.get_idle_size())
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
