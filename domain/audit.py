"""The audit log: every write records who, when, what and from which request."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from domain.callers import Caller
from domain.database import Db, Query
from domain.paging import decode_cursor, page_of

INSERT_AUDIT = Query("""
    INSERT INTO audit_log (actor_kind, actor_id, actor_name, jurisdiction_code, entity, entity_id, action,
                           changes, request_id)
    VALUES (:actor_kind, :actor_id, :actor_name, :jurisdiction_code, :entity, :entity_id, :action,
            CAST(:changes AS jsonb), :request_id)
""")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


async def record(
    db: Db,
    *,
    caller: Caller,
    entity: str,
    entity_id: Any,
    action: str,
    jurisdiction_code: str | None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry in the caller's transaction, so it exists exactly when the write does."""
    await db.execute(INSERT_AUDIT, {
        "actor_kind": caller.kind,
        "actor_id": str(caller.id) if caller.id else None,
        "actor_name": caller.name,
        "jurisdiction_code": jurisdiction_code,
        "entity": entity,
        "entity_id": str(entity_id),
        "action": action,
        "changes": json.dumps(_jsonable(changes or {}), ensure_ascii=False),
        "request_id": caller.request_id,
    })


async def list_entries(
    db: Db,
    *,
    caller: Caller,
    limit: int,
    cursor: str | None,
    entity: str | None = None,
    entity_id: str | None = None,
    actor_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[dict], str | None]:
    """Entries newest first, limited to writes in the caller's jurisdictions (or with none, for admins' own)."""
    after = decode_cursor(cursor, arity=1)
    rows = await db.fetch("""
        SELECT a.id, a.at, a.actor_kind, a.actor_id, a.actor_name, a.jurisdiction_code, a.entity, a.entity_id,
               a.action, a.changes, a.request_id
        FROM audit_log a
        LEFT JOIN jurisdictions j ON j.code = a.jurisdiction_code
        WHERE (j.path <@ CAST(:scope AS ltree) OR (a.jurisdiction_code IS NULL AND a.actor_id = :caller_id))
          AND (CAST(:entity AS text) IS NULL OR a.entity = :entity)
          AND (CAST(:entity_id AS text) IS NULL OR a.entity_id = :entity_id)
          AND (CAST(:actor_id AS text) IS NULL OR a.actor_id = :actor_id)
          AND (CAST(:action AS text) IS NULL OR a.action = :action)
          AND (CAST(:since AS timestamptz) IS NULL OR a.at >= :since)
          AND (CAST(:until AS timestamptz) IS NULL OR a.at < :until)
          AND (CAST(:after AS integer) IS NULL OR a.id < :after)
        ORDER BY a.id DESC
        LIMIT :limit_plus_one
    """, {
        "scope": caller.scope_path, "caller_id": str(caller.id) if caller.id else None,
        "entity": entity, "entity_id": entity_id, "actor_id": actor_id, "action": action,
        "since": since, "until": until, "after": after[0] if after else None, "limit_plus_one": limit + 1,
    })
    items, next_cursor = page_of([dict(r) for r in rows], limit=limit, key=lambda r: [r["id"]])
    return items, next_cursor
