"""Authentication dependencies: who is calling (bearer token or API key) and what they may see."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from api.deps import Tx
from domain import credentials
from domain.callers import Caller, Role
from domain.errors import Unauthorized

oauth2 = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False,
                              description="Access token from `POST /v1/auth/token`.")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Dashboard key from an admin.")


async def current_caller(
    request: Request,
    db: Tx,
    token: Annotated[str | None, Depends(oauth2)],
    api_key: Annotated[str | None, Depends(api_key_header)],
) -> Caller:
    """The authenticated caller; 401 problem+json when credentials are missing or no longer good."""
    settings = request.app.state.settings
    request_id = getattr(request.state, "request_id", None)
    if token:
        return await credentials.caller_from_token(db, settings, token, request_id=request_id)
    if api_key:
        return await credentials.caller_from_api_key(db, settings, api_key, request_id=request_id)
    raise Unauthorized("send `Authorization: Bearer <token>` or `X-API-Key: <key>`")


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
