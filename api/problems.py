"""RFC 9457 problem+json for every error answer, mapped once from domain and framework errors."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import asyncpg
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from domain import errors

log = logging.getLogger("huxiao.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://huxiao.dev/problems/"


class BodyTooLarge(Exception):
    """Raised while reading a body that grows past the limit (no or a false Content-Length)."""

    def __init__(self, limit: int):
        super().__init__(f"body exceeds {limit} bytes")
        self.limit = limit


def body_too_large(limit: int, request_id: str | None = None) -> ProblemResponse:
    return problem(413, detail=f"The body is larger than {limit} bytes.", kind="body-too-large",
                   request_id=request_id)


class ProblemResponse(Response):
    media_type = PROBLEM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def problem(
    status: int,
    *,
    detail: str,
    kind: str | None = None,
    title: str | None = None,
    errors_: list[dict] | None = None,
    headers: dict[str, str] | None = None,
    request_id: str | None = None,
    **extra: Any,
) -> ProblemResponse:
    """A problem+json response: `type`, `title`, `status`, `detail`, and `errors` when fields are named."""
    phrase = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + (kind or phrase.lower().replace(" ", "-").replace("'", "")),
        "title": title or phrase,
        "status": status,
        "detail": detail,
    }
    if errors_:
        body["errors"] = errors_
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    return ProblemResponse(body, status_code=status, headers=headers)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def validation_errors(exc: RequestValidationError) -> list[dict]:
    """Each pydantic error as `{field, in, message, type}`, the field a dotted path inside its part."""
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        where = loc[0] if loc and loc[0] in ("body", "query", "path", "header", "cookie") else "body"
        path = loc[1:] if loc and loc[0] == where else loc
        out.append({
            "field": ".".join(path) or where,
            "in": where,
            "message": err.get("msg", "invalid"),
            "type": err.get("type", "value_error"),
        })
    return out


DOMAIN_STATUS = {
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.InvalidInput: 422,
    errors.Forbidden: 403,
    errors.Unauthorized: 401,
    errors.TooManyRequests: 429,
    errors.UnsupportedMedia: 415,
    errors.TooLarge: 413,
    errors.NotAcceptable: 406,
}


def domain_problem(exc: errors.DomainError, request_id: str | None = None) -> ProblemResponse:
    status = next((s for cls, s in DOMAIN_STATUS.items() if isinstance(exc, cls)), 400)
    headers = {}
    if isinstance(exc, errors.TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, errors.Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    return problem(
        status,
        detail=exc.detail,
        title=exc.title,
        kind=exc.title.lower().replace(" ", "-"),
        errors_=exc.errors or None,
        headers=headers or None,
        request_id=request_id,
    )


DB_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
)


def is_database_unavailable(exc: BaseException) -> bool:
    """True when the error means the database cannot be reached now (refused, restarting, pool empty)."""
    seen = 0
    while exc is not None and seen < 6:
        if isinstance(exc, DB_UNAVAILABLE):
            return True
        if isinstance(exc, asyncpg.PostgresError) and getattr(exc, "sqlstate", "") in (
            "57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "08004",
        ):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def unavailable_problem(retry_after_s: int, request_id: str | None) -> ProblemResponse:
    return problem(
        503,
        detail="The database is not reachable right now; retry shortly.",
        kind="database-unavailable",
        title="Service unavailable",
        headers={"Retry-After": str(retry_after_s)},
        request_id=request_id,
    )


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc.__cause__, BodyTooLarge):  # FastAPI wraps errors raised while reading the body
            return body_too_large(exc.__cause__.limit, _request_id(request))
        if isinstance(exc.__cause__, errors.DomainError):  # e.g. text PostgreSQL cannot store (api/inputs.py)
            return domain_problem(exc.__cause__, _request_id(request))
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No route matches {request.method} {request.url.path}"
        if exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        return problem(exc.status_code, detail=detail, headers=exc.headers, request_id=_request_id(request))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        errs = validation_errors(exc)
        if any(e["type"] == "json_invalid" for e in errs):
            return problem(400, detail="The body is not valid JSON.", kind="malformed-json",
                           errors_=errs, request_id=_request_id(request))
        fields = ", ".join(sorted({e["field"] for e in errs}))
        return problem(422, detail=f"Invalid input: {fields}", kind="validation-error",
                       title="Validation error", errors_=errs, request_id=_request_id(request))

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge) -> Response:
        return body_too_large(exc.limit, _request_id(request))

    @app.exception_handler(errors.DomainError)
    async def domain_error(request: Request, exc: errors.DomainError) -> Response:
        return domain_problem(exc, _request_id(request))
