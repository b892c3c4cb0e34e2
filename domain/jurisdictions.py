"""The jurisdiction tree (county → township/street → police station, any depth).

Each row keeps its `ltree` path from the root, so "this jurisdiction and everything below it"
is one GiST-indexed `path <@ :scope` condition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg

from domain import audit
from domain.callers import Caller, Role
from domain.database import Db
from domain.errors import Conflict, InvalidInput, NotFound
from domain.paging import decode_cursor, page_of

CODE_PATTERN = re.compile(r"^[A-Za-z0-9_]{2,32}$")
LEVELS = ("province", "city", "county", "district", "township", "street", "station", "other")
DEFAULT_TIME_ZONE = "Asia/Shanghai"

COLUMNS = "code, name, level, parent_code, path::text AS path, time_zone, created_at"


@dataclass(frozen=True)
class NewJurisdiction:
    code: str
    name: str
    level: str
    parent_code: str | None = None
    time_zone: str = DEFAULT_TIME_ZONE


def validate_code(code: str, *, field: str = "code") -> str:
    """A code is 2–32 letters, digits or underscores (administrative division codes like 500243 fit)."""
    if not isinstance(code, str) or not CODE_PATTERN.match(code):
        raise InvalidInput("must be 2–32 characters of A–Z, a–z, 0–9 or _", field=field)
    return code


def validate_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown IANA time zone {name!r}", field="time_zone") from exc
    return name


async def get(db: Db, *, code: str, caller: Caller | None) -> dict:
    """One jurisdiction; outside the caller's subtree it does not exist (404)."""
    row = await db.fetchrow(f"SELECT {COLUMNS} FROM jurisdictions WHERE code = :code", {"code": code})
    if row is None or (caller is not None and not caller.sees_path(row["path"])):
        raise NotFound(f"no jurisdiction {code!r}")
    return dict(row)


async def create(db: Db, *, caller: Caller | None, new: NewJurisdiction) -> dict:
    """Create a jurisdiction below `parent_code` (inside the caller's scope); a root needs no caller (CLI)."""
    validate_code(new.code)
    validate_time_zone(new.time_zone)
    if new.level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}", field="level")
    if caller is not None:
        caller.require(Role.admin)
        if new.parent_code is None:
            raise InvalidInput("a jurisdiction made through the API needs a parent inside your scope",
                               field="parent_code")
    if new.parent_code is not None:
        validate_code(new.parent_code, field="parent_code")
        try:
            parent = await get(db, code=new.parent_code, caller=caller)
        except NotFound as exc:
            raise InvalidInput(f"no jurisdiction {new.parent_code!r} in your scope", field="parent_code") from exc
        path = f"{parent['path']}.{new.code}"
    else:
        path = new.code
    try:
        async with db.transaction():
            row = await db.fetchrow(f"""
                INSERT INTO jurisdictions (code, name, level, parent_code, path, time_zone)
                VALUES (:code, :name, :level, :parent_code, CAST(:path AS ltree), :time_zone)
                RETURNING {COLUMNS}
            """, {**new.__dict__, "path": path})
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise Conflict(f"jurisdiction {new.code!r} already exists", field="code") from exc
    if caller is not None:
        await audit.record(db, caller=caller, entity="jurisdiction", entity_id=new.code, action="create",
                           jurisdiction_code=new.code, changes=new.__dict__)
    return dict(row)


async def list_page(
    db: Db,
    *,
    caller: Caller,
    limit: int,
    cursor: str | None,
    parent_code: str | None = None,
    level: str | None = None,
    under: str | None = None,
) -> tuple[list[dict], str | None]:
    """Jurisdictions in the caller's scope ordered by path; `under` limits to one subtree."""
    after = decode_cursor(cursor, arity=1)
    scope = caller.scope_path
    if under is not None:
        scope = (await get(db, code=under, caller=caller))["path"]
    rows = await db.fetch(f"""
        SELECT {COLUMNS} FROM jurisdictions
        WHERE path <@ CAST(:scope AS ltree)
          AND (CAST(:parent_code AS text) IS NULL OR parent_code = :parent_code)
          AND (CAST(:level AS text) IS NULL OR level = :level)
          AND (CAST(:after AS text) IS NULL OR path::text > :after)
        ORDER BY path::text
        LIMIT :limit_plus_one
    """, {"scope": scope, "parent_code": parent_code, "level": level,
           "after": after[0] if after else None, "limit_plus_one": limit + 1})
    return page_of([dict(r) for r in rows], limit=limit, key=lambda r: [r["path"]])


async def ensure(db: Db, *, new: NewJurisdiction) -> dict:
    """Create the jurisdiction unless it exists (demo data and CLI); returns the row either way."""
    try:
        return await get(db, code=new.code, caller=None)
    except NotFound:
        return await create(db, caller=None, new=new)


async def path_of(db: Db, *, code: str) -> str | None:
    return await db.fetchval("SELECT path::text FROM jurisdictions WHERE code = :code", {"code": code})


async def narrowed_scope(db: Db, *, caller: Caller, code: str | None) -> str:
    """The ltree path a listing filters on: the caller's scope, or one jurisdiction in it when `code` is given
    (an input error naming `jurisdiction_code` when it is not in the caller's scope)."""
    if not code:
        return caller.scope_path
    return (await in_scope(db, caller=caller, code=code))["path"]


async def in_scope(db: Db, *, caller: Caller, code: str, field: str = "jurisdiction_code") -> dict:
    """The jurisdiction `code` if the caller may act there; otherwise an input error naming the field."""
    validate_code(code, field=field)
    try:
        return await get(db, code=code, caller=caller)
    except NotFound as exc:
        raise InvalidInput(f"no jurisdiction {code!r} in your scope", field=field) from exc
