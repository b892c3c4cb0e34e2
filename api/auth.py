"""Authentication: who is calling (bearer token or API key) and what they may see.

`authenticate` is the one place a request's credentials are read: one look-up in the caller cache and no
database query on a hit (see `domain.credentials.CallerCache` for how the cache stays true across workers). The
lean hot endpoints call it directly; every other route reaches it through the `CurrentCaller` dependency, whose
two security schemes also put both credentials into the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from domain import credentials
from domain.callers import Caller, Role
from domain.errors import Forbidden, Unauthorized

oauth2 = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False,
                              description="Access token from `POST /v1/auth/token`.")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Dashboard key from an admin.")

READ_METHODS = ("GET", "HEAD", "OPTIONS")

# Both schemes, for the OpenAPI document of routes that read credentials themselves (`authenticate`).
SECURITY = [{"OAuth2PasswordBearer": []}, {"APIKeyHeader": []}]


def _credentials(scope) -> tuple[str | None, str | None]:
    token = key = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, rest = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and rest:
                token = rest.strip()
        elif name == b"x-api-key":
            key = value.decode("latin-1")
    if token is None and key is None and scope["method"] in _KEY_IN_QUERY_METHODS:
        key = _query_key(scope.get("query_string", b""))
    return token, key


# A key may also come as the `key` query parameter, on reads only, so a share link (`/map?key=…`) or a GIS
# client that cannot set headers works; headers win when both are sent. Request logs carry the path without
# the query string, and `api.observability` redacts `key=` wherever a query string is logged.
_KEY_IN_QUERY_METHODS = frozenset({"GET", "HEAD"})


def _query_key(query_string: bytes) -> str | None:
    if b"key=" not in query_string:
        return None
    for name, value in parse_qsl(query_string.decode("latin-1")):
        if name == "key" and value:
            return value
    return None


async def authenticate(request: Request) -> Caller:
    """The authenticated caller; 401 problem+json when credentials are missing or no longer good."""
    token, key = _credentials(request.scope)
    app = request.app
    request_id = request.scope.get("state", {}).get("request_id")
    if token:
        return await credentials.caller_from_token(app.state.db, app.state.settings, token, request_id=request_id)
    if key:
        caller = await credentials.caller_from_api_key(app.state.db, app.state.settings, key,
                                                       request_id=request_id)
        if request.scope["method"] not in READ_METHODS:
            raise Forbidden("API keys only read; writes need a person's token")
        return caller
    raise Unauthorized("send `Authorization: Bearer <token>` or `X-API-Key: <key>`")


async def current_caller(
    request: Request,
    _token: Annotated[str | None, Depends(oauth2)],
    _api_key: Annotated[str | None, Depends(api_key_header)],
) -> Caller:
    return await authenticate(request)


CurrentCaller = Annotated[Caller, Depends(current_caller)]


def require_role(*roles: Role):
    """A dependency that lets through only the given roles (admins always)."""

    async def check(caller: CurrentCaller) -> Caller:
        caller.require(*roles)
        return caller

    return Depends(check)


Admin = Annotated[Caller, require_role(Role.admin)]
Commander = Annotated[Caller, require_role(Role.commander)]
Officer = Annotated[Caller, require_role(Role.officer, Role.commander)]
