"""Identity: tokens, the caller's own account, users, API keys, jurisdictions and the audit log."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.responses import Response

from api import lean
from api.auth import Admin, CurrentCaller, authenticate
from api.deps import AppSettings, Paging, Reads, Tx
from api.inputs import bad_text
from api.schemas import PROBLEM_RESPONSES, Instant, Page
from domain import audit, credentials, jurisdictions, users
from domain.callers import Role, UnitType
from domain.database import unit_of_work
from domain.errors import InvalidInput, Unauthorized

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)
# The hot endpoints (api/lean.py), included ahead of every other router.
lean_router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)


# --- schemas ---------------------------------------------------------------------------------------

class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenAnswer(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str


class RefreshRequest(Strict):
    refresh_token: str = Field(min_length=10, max_length=200)


class LogoutRequest(Strict):
    refresh_token: str | None = Field(default=None, max_length=200)


class User(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str
    role: Role
    unit_type: UnitType
    jurisdiction_code: str
    phone: str | None
    active: bool
    created_at: datetime
    updated_at: datetime


class UserCreate(Strict):
    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{2,63}$")
    display_name: str = Field(min_length=1, max_length=200)
    role: Role
    unit_type: UnitType = UnitType.police
    jurisdiction_code: str = Field(pattern=r"^[A-Za-z0-9_]{2,32}$")
    phone: str | None = Field(default=None, max_length=32, pattern=r"^[0-9+\- ]{3,32}$")
    password: SecretStr = Field(min_length=8, max_length=256)


class UserUpdate(Strict):
    display_name: str = Field(default=None, min_length=1, max_length=200)
    role: Role = None
    unit_type: UnitType = None
    jurisdiction_code: str = Field(default=None, pattern=r"^[A-Za-z0-9_]{2,32}$")
    phone: str | None = Field(default=None, max_length=32, pattern=r"^[0-9+\- ]{3,32}$")
    active: bool = None
    password: SecretStr = Field(default=None, min_length=8, max_length=256)


class Jurisdiction(BaseModel):
    code: str
    name: str
    level: str
    parent_code: str | None
    path: str
    time_zone: str
    created_at: datetime


class JurisdictionCreate(Strict):
    code: str = Field(pattern=r"^[A-Za-z0-9_]{2,32}$", examples=["500243101"])
    name: str = Field(min_length=1, max_length=200)
    level: str = Field(pattern="^(province|city|county|district|township|street|station|other)$")
    parent_code: str = Field(pattern=r"^[A-Za-z0-9_]{2,32}$")
    time_zone: str = Field(default=jurisdictions.DEFAULT_TIME_ZONE, max_length=64, examples=["Asia/Shanghai"],
                           pattern=r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$",
                           description="An IANA time zone name, e.g. Asia/Shanghai or Asia/Urumqi")


class ApiKey(BaseModel):
    id: uuid.UUID
    prefix: str
    name: str
    role: Role
    jurisdiction_code: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKey):
    key: str = Field(description="The full key. It is shown only now; store it.")


class ApiKeyCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    jurisdiction_code: str = Field(pattern=r"^[A-Za-z0-9_]{2,32}$")
    role: Role = Role.viewer
    expires_at: Instant | None = None


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor_kind: str
    actor_id: str | None
    actor_name: str | None
    jurisdiction_code: str | None
    entity: str
    entity_id: str
    action: str
    changes: dict
    request_id: str | None


# --- tokens ----------------------------------------------------------------------------------------

def _client_addr(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/auth/token", response_model=TokenAnswer, tags=["auth"],
             summary="OAuth2 password flow: a short-lived access token and a rotating refresh token")
async def token(
    request: Request,
    db: Reads,
    settings: AppSettings,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=256)],
) -> dict:
    # Each statement stands on its own (no transaction): the attempt is counted although the answer is 401.
    addr = _client_addr(request)
    if not username.isprintable() or bad_text(username):
        raise InvalidInput("username must be printable text", field="username")
    if bad_text(password):
        raise InvalidInput(bad_text(password), field="password")
    await credentials.claim_login_attempt(db, settings, username=username, client_addr=addr)
    row = await users.login_row(db, username=username)
    # argon2 takes tens of milliseconds of CPU: off the event loop, so other requests go on meanwhile.
    ok = await asyncio.to_thread(users.verify_password, row["password_hash"] if row else None, password)
    if not ok or not row["active"]:
        raise Unauthorized("wrong username or password, or the account is inactive")
    await credentials.login_succeeded(db, username=username, client_addr=addr)
    async with unit_of_work(request.app.state.pool) as tx:
        session_id = await credentials.start_session(tx, user_id=row["id"])
        refresh = await credentials.issue_refresh_token(tx, settings, user_id=row["id"], family_id=session_id)
    access, ttl = credentials.issue_access_token(settings, user_id=row["id"], session_id=session_id)
    return {"access_token": access, "token_type": "bearer", "expires_in": ttl, "refresh_token": refresh}


@router.post("/auth/refresh", response_model=TokenAnswer, tags=["auth"],
             summary="Trade a refresh token (once) for a new access and refresh token")
async def refresh(body: RefreshRequest, request: Request, settings: AppSettings) -> dict:
    async with unit_of_work(request.app.state.pool) as db:
        outcome = await credentials.use_refresh_token(db, token=body.refresh_token)
        if not outcome.reused:
            new_refresh = await credentials.issue_refresh_token(db, settings, user_id=outcome.user_id,
                                                                family_id=outcome.family_id)
    if outcome.reused:  # committed above: the family's revocation stands although the answer is 401
        raise Unauthorized("this refresh token was already used; every token of its login is now revoked")
    access, ttl = credentials.issue_access_token(settings, user_id=outcome.user_id, session_id=outcome.family_id)
    return {"access_token": access, "token_type": "bearer", "expires_in": ttl, "refresh_token": new_refresh}


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"],
             summary="Revoke the access token in use and, if given, its refresh token's login")
async def logout(caller: CurrentCaller, db: Tx, settings: AppSettings,
                 body: LogoutRequest | None = None) -> Response:
    await credentials.logout(db, settings, caller=caller, refresh_token=body.refresh_token if body else None)
    return Response(status_code=204)


# --- me and users ----------------------------------------------------------------------------------

@lean_router.get("/me", response_model=User, tags=["users"], summary="The caller's own account",
                 openapi_extra=lean.documented())
async def me(request: Request) -> Response:
    caller = await authenticate(request)
    if caller.user_id is None:
        raise Unauthorized("API keys have no account; use a person's token")
    return lean.json_response(await users.get(request.app.state.db, user_id=caller.user_id, caller=None))


class MeUpdate(Strict):
    display_name: str = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=32, pattern=r"^[0-9+\- ]{3,32}$")
    password: SecretStr = Field(default=None, min_length=8, max_length=256)


def _changes(body: BaseModel) -> dict:
    out = body.model_dump(exclude_unset=True)
    if "password" in out and out["password"] is not None:
        out["password"] = out["password"].get_secret_value()
    return out


@router.patch("/me", response_model=User, tags=["users"],
              summary="Change your own name, phone or password (never your role or jurisdiction)")
async def update_me(body: MeUpdate, caller: CurrentCaller, db: Tx) -> dict:
    if caller.user_id is None:
        raise Unauthorized("API keys have no account; use a person's token")
    return await users.update(db, caller=caller, user_id=caller.user_id, changes=_changes(body))


@router.post("/users", response_model=User, status_code=201, tags=["users"], summary="Create a user (admin)")
async def create_user(body: UserCreate, caller: Admin, db: Tx) -> dict:
    return await users.create(db, caller=caller, new=users.NewUser(
        username=body.username, display_name=body.display_name, role=body.role, unit_type=body.unit_type,
        jurisdiction_code=body.jurisdiction_code, phone=body.phone, password=body.password.get_secret_value()))


@router.get("/users", response_model=Page[User], tags=["users"], summary="Users in your jurisdictions (admin)")
async def list_users(
    caller: Admin, db: Reads, paging: Paging,
    role: Role = None,
    jurisdiction_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$")] = None,
    active: bool = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> dict:
    items, nxt = await users.list_page(db, caller=caller, limit=paging.limit, cursor=paging.cursor,
                                       role=role.value if role else None, jurisdiction_code=jurisdiction_code,
                                       active=active, q=q)
    return {"items": items, "next_cursor": nxt}


@router.get("/users/{user_id}", response_model=User, tags=["users"], summary="One user (admin)")
async def get_user(user_id: uuid.UUID, caller: Admin, db: Reads) -> dict:
    return await users.get(db, user_id=user_id, caller=caller)


@router.patch("/users/{user_id}", response_model=User, tags=["users"],
              summary="Change a user (admin; not your own role or jurisdiction)")
async def update_user(user_id: uuid.UUID, body: UserUpdate, caller: CurrentCaller, db: Tx) -> dict:
    return await users.update(db, caller=caller, user_id=user_id, changes=_changes(body))


@router.delete("/users/{user_id}", response_model=User, tags=["users"],
               summary="Deactivate a user (admin): their tokens stop working at once")
async def deactivate_user(user_id: uuid.UUID, caller: Admin, db: Tx) -> dict:
    return await users.update(db, caller=caller, user_id=user_id, changes={"active": False})


# --- API keys --------------------------------------------------------------------------------------

@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201, tags=["api keys"],
             summary="Create a dashboard key (admin); the key is shown only in this answer")
async def create_api_key(body: ApiKeyCreate, caller: Admin, db: Tx, settings: AppSettings) -> dict:
    row, key = await credentials.create_api_key(db, settings, caller=caller, name=body.name,
                                                jurisdiction_code=body.jurisdiction_code, role=body.role,
                                                expires_at=body.expires_at)
    return {**row, "key": key}


@router.get("/api-keys", response_model=Page[ApiKey], tags=["api keys"], summary="Keys in your jurisdictions (admin)")
async def list_api_keys(caller: Admin, db: Reads, paging: Paging) -> dict:
    items, nxt = await credentials.list_api_keys(db, caller=caller, limit=paging.limit, cursor=paging.cursor)
    return {"items": items, "next_cursor": nxt}


@router.delete("/api-keys/{key_id}", response_model=ApiKey, tags=["api keys"],
               summary="Revoke a key (admin): it stops working at once")
async def revoke_api_key(key_id: uuid.UUID, caller: Admin, db: Tx) -> dict:
    return await credentials.revoke_api_key(db, caller=caller, key_id=key_id)


# --- jurisdictions ---------------------------------------------------------------------------------

@router.post("/jurisdictions", response_model=Jurisdiction, status_code=201, tags=["jurisdictions"],
             summary="Create a jurisdiction below one of yours (admin)")
async def create_jurisdiction(body: JurisdictionCreate, caller: Admin, db: Tx) -> dict:
    return await jurisdictions.create(db, caller=caller, new=jurisdictions.NewJurisdiction(**body.model_dump()))


@router.get("/jurisdictions", response_model=Page[Jurisdiction], tags=["jurisdictions"],
            summary="Jurisdictions you can see, in tree order")
async def list_jurisdictions(
    caller: CurrentCaller, db: Reads, paging: Paging,
    parent_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$")] = None,
    level: Annotated[str | None, Query(pattern="^(province|city|county|district|township|street|station|other)$")] = None,
) -> dict:
    items, nxt = await jurisdictions.list_page(db, caller=caller, limit=paging.limit, cursor=paging.cursor,
                                               parent_code=parent_code, level=level)
    return {"items": items, "next_cursor": nxt}


@router.get("/jurisdictions/{code}", response_model=Jurisdiction, tags=["jurisdictions"])
async def get_jurisdiction(code: str, caller: CurrentCaller, db: Reads) -> dict:
    return await jurisdictions.get(db, code=code, caller=caller)


@router.get("/jurisdictions/{code}/subtree", response_model=Page[Jurisdiction], tags=["jurisdictions"],
            summary="A jurisdiction and everything below it, in tree order")
async def jurisdiction_subtree(code: str, caller: CurrentCaller, db: Reads, paging: Paging) -> dict:
    items, nxt = await jurisdictions.list_page(db, caller=caller, limit=paging.limit, cursor=paging.cursor,
                                               under=code)
    return {"items": items, "next_cursor": nxt}


# --- audit -----------------------------------------------------------------------------------------

@router.get("/audit", response_model=Page[AuditEntry], tags=["audit"],
            summary="Who changed what, newest first (admin)")
async def list_audit(
    caller: Admin, db: Reads, paging: Paging,
    entity: Annotated[str | None, Query(max_length=40)] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=40)] = None,
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Instant = None,
) -> dict:
    items, nxt = await audit.list_entries(db, caller=caller, limit=paging.limit, cursor=paging.cursor,
                                          entity=entity, entity_id=entity_id, actor_id=actor_id, action=action,
                                          since=from_, until=to)
    return {"items": items, "next_cursor": nxt}
