"""The lean request path of the hot endpoints (zone lookup, check-ins, incident reports, `/v1/me`).

A FastAPI route costs little; its dependency solving costs more than the work of a hot endpoint (each
dependency is resolved, cached and scoped per request). So a hot endpoint takes only the `Request`, and
- authenticates with `api.auth.authenticate` (one cache look-up, no query on a hit) before anything else, so a
  caller without credentials gets 401 whatever else is wrong, as on every other route;
- validates its query string once with a pydantic model (`query`) and its body once with a `TypeAdapter`
  (`body`), raising the same `RequestValidationError` FastAPI raises, so bad input is the same 422/400
  problem+json naming the field;
- answers with bytes serialised once by orjson (`json_response`); no response-model re-validation.
Its OpenAPI operation is still exact: `documented(QueryModel, BodyModel)` gives the `openapi_extra` with the
query parameters and request body taken from the same models that validate them, and the route keeps its
`response_model` for the answer's schema.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.responses import Response

from api.auth import SECURITY
from api.deps import server_now

JSON = "application/json"
_JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):  # PostgreSQL numeric: a JSON number, as the response models declare it
        return float(value)
    return str(value)  # asyncpg's UUID subclass and the like: their str() is their JSON form


def json_response(content: Any, *, status_code: int = 200) -> Response:
    """`content` serialised once with orjson (datetimes as RFC 3339 with `Z`, UUIDs as strings)."""
    return Response(orjson.dumps(content, default=_default, option=_JSON_OPTIONS), status_code=status_code,
                    media_type=JSON)


def _errors(err: ValidationError, where: str) -> RequestValidationError:
    return RequestValidationError([{**e, "loc": (where, *e["loc"])} for e in err.errors(include_url=False)])


def query(request: Request, model: type[BaseModel]) -> Any:
    """The query string validated by `model` (repeated keys become lists only where the field is a list)."""
    params = request.query_params
    raw = {k: params.getlist(k) if _is_list(model, k) else params[k] for k in params}
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise _errors(err, "query") from None


def _is_list(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields.get(name)
    return field is not None and getattr(field.annotation, "__origin__", None) is list


async def body(request: Request, adapter: TypeAdapter) -> Any:
    """The JSON body validated once by `adapter` (pydantic-core parses and validates in one pass)."""
    raw = await request.body()
    try:
        return adapter.validate_json(raw)
    except ValidationError as err:
        raise _errors(err, "body") from None


def now(request: Request) -> datetime:
    """The server clock; tests move it by overriding `api.deps.server_now` as for any other route."""
    override = request.app.dependency_overrides.get(server_now)
    return override() if override is not None else datetime.now(UTC)


# --- the OpenAPI document ----------------------------------------------------------------------------------

def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if ref is not None:
            return _inline(defs[ref.rsplit("/", 1)[-1]], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


def documented(query_model: type[BaseModel] | None = None, body_model: type[BaseModel] | None = None
               ) -> dict[str, Any]:
    """`openapi_extra` for a lean route: its security schemes, and the query parameters and body of the models
    it validates with (referenced schemas inlined, so the document needs no extra components)."""
    extra: dict[str, Any] = {"security": SECURITY}
    if query_model is not None:
        schema = query_model.model_json_schema()
        defs = schema.get("$defs", {})
        required = set(schema.get("required", []))
        params = []
        for name, prop in schema["properties"].items():
            prop = _inline(prop, defs)
            param = {"name": name, "in": "query", "required": name in required, "schema": prop}
            if "description" in prop:
                param["description"] = prop["description"]
            params.append(param)
        extra["parameters"] = params
    if body_model is not None:
        schema = body_model.model_json_schema()
        extra["requestBody"] = {"required": True,
                                "content": {"application/json": {"schema": _inline(schema, schema.get("$defs", {}))}}}
    return extra


# --- dispatch ----------------------------------------------------------------------------------------------

class HotRoutes:
    """An ASGI app answering the lean routes' exact (method, path) pairs by calling their endpoints directly.

    `api.main.Huxiao` sends those requests here instead of through FastAPI's middleware, routers and
    dependency solving; every other request takes the ordinary way. The endpoint is the same function the
    APIRoute documents and would call; errors become problem+json through the app's own exception handlers.
    """

    def __init__(self, routes: list[APIRoute]):
        self.table: dict[tuple[str, str], APIRoute] = {}
        for route in routes:
            for method in route.methods:
                self.table[(method, route.path)] = route

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self.table

    async def __call__(self, scope, receive, send) -> None:
        route = self.table[(scope["method"], scope["path"])]
        scope["route"] = route
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request)
        except Exception as exc:
            handler = _handler_for(request.app, exc)
            if handler is None:
                raise  # RequestContext answers 500 (or 503 when the database is away)
            response = await handler(request, exc)
        await response(scope, receive, send)


def _handler_for(app, exc: Exception):
    handlers = app.exception_handlers
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return None
