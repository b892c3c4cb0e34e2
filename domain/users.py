"""People who use the API: a username, a role and a jurisdiction; passwords hashed with argon2."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from domain import audit, credentials, jurisdictions
from domain.callers import Caller, Role, UnitType
from domain.database import Db
from domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from domain.paging import decode_cursor, page_of
from domain.settings import get_settings

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.\-]{2,63}$")
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 256

@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    s = get_settings()
    return PasswordHasher(time_cost=s.password_hash_time_cost, memory_cost=s.password_hash_memory_kib,
                          parallelism=s.password_hash_parallelism)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash of nothing in particular, verified when the username is unknown so timing does not reveal it."""
    return _hasher().hash("not-a-real-password")

COLUMNS = """u.id, u.username, u.display_name, u.role, u.unit_type, u.jurisdiction_code, u.phone, u.active,
             u.created_at, u.updated_at"""


def hash_password(password: str) -> str:
    if not isinstance(password, str) or not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        raise InvalidInput(f"password must be {PASSWORD_MIN_LENGTH}–{PASSWORD_MAX_LENGTH} characters",
                           field="password")
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password against its argon2 hash in constant-ish time, also for unknown users."""
    try:
        return _hasher().verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def normalise_username(username: str) -> str:
    """Usernames are 3–64 characters of a–z, 0–9, `_`, `.`, `-`, starting with a letter or digit."""
    name = (username or "").strip().lower()
    if not USERNAME_PATTERN.match(name):
        raise InvalidInput("username must be 3–64 characters of a–z, 0–9, _ . -", field="username")
    return name


@dataclass(frozen=True)
class NewUser:
    username: str
    display_name: str
    role: Role
    jurisdiction_code: str
    password: str
    phone: str | None = None
    unit_type: UnitType = UnitType.police


async def get(db: Db, *, user_id: uuid.UUID, caller: Caller | None) -> dict:
    """One user; outside the caller's jurisdictions it does not exist (404)."""
    row = await db.fetchrow(f"""
        SELECT {COLUMNS}, j.path::text AS path FROM users u JOIN jurisdictions j ON j.code = u.jurisdiction_code
        WHERE u.id = :id
    """, {"id": user_id})
    if row is None or (caller is not None and not caller.sees_path(row["path"])):
        raise NotFound(f"no user {user_id}")
    out = dict(row)
    out.pop("path")
    return out


async def create(db: Db, *, caller: Caller, new: NewUser) -> dict:
    """Admins create users in their own jurisdictions; the password is stored only as an argon2 hash."""
    caller.require(Role.admin)
    username = normalise_username(new.username)
    await jurisdictions.in_scope(db, caller=caller, code=new.jurisdiction_code)
    password_hash = await asyncio.to_thread(hash_password, new.password)  # argon2: off the event loop
    user_id = uuid.uuid4()
    try:
        async with db.transaction():
            await db.execute("""
                INSERT INTO users (id, username, display_name, role, unit_type, jurisdiction_code, phone, password_hash)
                VALUES (:id, :username, :display_name, :role, :unit_type, :jurisdiction_code, :phone, :password_hash)
            """, {"id": user_id, "username": username, "display_name": new.display_name, "role": new.role.value,
                   "unit_type": new.unit_type.value, "jurisdiction_code": new.jurisdiction_code,
                   "phone": new.phone, "password_hash": password_hash})
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise Conflict(f"username {username!r} is taken", field="username") from exc
    await audit.record(db, caller=caller, entity="user", entity_id=user_id, action="create",
                       jurisdiction_code=new.jurisdiction_code,
                       changes={"username": username, "role": new.role.value,
                                "jurisdiction_code": new.jurisdiction_code, "unit_type": new.unit_type.value})
    return await get(db, user_id=user_id, caller=None)


SELF_EDITABLE = {"display_name", "phone", "password"}
ADMIN_EDITABLE = SELF_EDITABLE | {"role", "jurisdiction_code", "active", "unit_type"}


async def update(db: Db, *, caller: Caller, user_id: uuid.UUID, changes: dict[str, Any]) -> dict:
    """Change a user. People edit their own name, phone and password; only admins change role, jurisdiction
    or active flag, and never their own role or jurisdiction."""
    current = await get(db, user_id=user_id, caller=caller)
    is_self = caller.user_id == user_id
    allowed = ADMIN_EDITABLE if caller.role is Role.admin else (SELF_EDITABLE if is_self else set())
    if not allowed:
        raise Forbidden("only admins change other users")
    refused = set(changes) - allowed
    if is_self and caller.role is Role.admin:
        refused |= set(changes) & {"role", "jurisdiction_code", "active"}
    if refused:
        raise Forbidden(f"you may not change {', '.join(sorted(refused))} of this user")
    sets, params = [], {"id": user_id}
    for key, value in changes.items():
        if key == "password":
            sets.append("password_hash = :password_hash")
            params["password_hash"] = await asyncio.to_thread(hash_password, value)
            continue
        if key == "jurisdiction_code":
            await jurisdictions.in_scope(db, caller=caller, code=value)
        if key in ("role", "unit_type") and value is not None:
            value = getattr(value, "value", value)
        sets.append(f"{key} = :{key}")
        params[key] = value
    if not sets:
        return current
    await db.execute(f"UPDATE users SET {', '.join(sets)}, updated_at = now() WHERE id = :id", params)
    if changes.get("active") is False:
        await credentials.revoke_all_for_user(db, user_id=user_id, reason="deactivated")
    elif "password" in changes:
        # A new password ends every other login of the user (a thief's included); changing your own keeps the
        # login you changed it from.
        await credentials.revoke_all_for_user(db, user_id=user_id, reason="password_changed",
                                              keep_session=caller.session_id if is_self else None)
    await credentials.changed(db)
    await audit.record(db, caller=caller, entity="user", entity_id=user_id, action="update",
                       jurisdiction_code=changes.get("jurisdiction_code", current["jurisdiction_code"]),
                       changes={k: ("***" if k == "password" else v) for k, v in changes.items()})
    return await get(db, user_id=user_id, caller=None)


async def list_page(
    db: Db,
    *,
    caller: Caller,
    limit: int,
    cursor: str | None,
    role: str | None = None,
    jurisdiction_code: str | None = None,
    active: bool | None = None,
    q: str | None = None,
) -> tuple[list[dict], str | None]:
    """Users in the caller's jurisdictions, by username."""
    after = decode_cursor(cursor, arity=1)
    scope = await jurisdictions.narrowed_scope(db, caller=caller, code=jurisdiction_code)
    rows = await db.fetch(f"""
        SELECT {COLUMNS} FROM users u JOIN jurisdictions j ON j.code = u.jurisdiction_code
        WHERE j.path <@ CAST(:scope AS ltree)
          AND (CAST(:role AS text) IS NULL OR u.role = :role)
          AND (CAST(:active AS boolean) IS NULL OR u.active = :active)
          AND (CAST(:q AS text) IS NULL OR u.username ILIKE '%' || :q || '%' OR u.display_name ILIKE '%' || :q || '%')
          AND (CAST(:after AS text) IS NULL OR lower(u.username) > :after)
        ORDER BY lower(u.username)
        LIMIT :limit_plus_one
    """, {"scope": scope, "role": role, "active": active, "q": q,
           "after": after[0] if after else None, "limit_plus_one": limit + 1})
    return page_of([dict(r) for r in rows], limit=limit, key=lambda r: [r["username"]])


async def login_row(db: Db, *, username: str) -> dict | None:
    """The login row of a user by username (any case), with its password hash; None when unknown."""
    row = await db.fetchrow("""
        SELECT id, username, password_hash, active FROM users WHERE lower(username) = lower(:username)
    """, {"username": username})
    return dict(row) if row else None


async def ensure(db: Db, *, new: NewUser) -> dict:
    """Create the user unless the username exists (CLI and demo data); returns the row either way."""
    existing = await login_row(db, username=new.username)
    if existing:
        return await get(db, user_id=existing["id"], caller=None)
    path = await jurisdictions.path_of(db, code=new.jurisdiction_code)
    if path is None:
        raise InvalidInput(f"no jurisdiction {new.jurisdiction_code!r}", field="jurisdiction_code")
    from domain.callers import system_caller

    return await create(db, caller=system_caller(new.jurisdiction_code, path), new=new)
