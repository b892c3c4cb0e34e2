"""Share links: an expiring, read-only link to the map of one jurisdiction, for someone without an account.

A share link is a viewer API key with an end date, minted by an admin and sent in the page's URL
(`/map?key=…`). Being a key, it works on every GET endpoint a viewer may call (the key travels as the `key`
query parameter or the `X-API-Key` header), stops at its end date, and revoking it stops it at once on every
worker (`credentials.changed`). As a viewer it never sees officers' positions or check-ins.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from domain import audit, credentials
from domain.callers import Caller, Role
from domain.database import Db
from domain.errors import InvalidInput, NotFound
from domain.paging import decode_cursor, page_of
from domain.settings import Settings

SHARE_LINK_MAX_DAYS = 90
"""A share link ends at most this many days after it is made."""

COLUMNS = f"{credentials.API_KEY_COLUMNS}, k.created_by"


async def create(db: Db, settings: Settings, *, caller: Caller, jurisdiction_code: str, name: str,
                 expires_at: datetime, now: datetime | None = None) -> tuple[dict, str]:
    """Mint a link (admin): a viewer key for the jurisdiction ending at `expires_at`, at most
    `SHARE_LINK_MAX_DAYS` ahead. The key is returned once; only its keyed hash is stored."""
    caller.require(Role.admin)
    now = now or datetime.now(UTC)
    if expires_at <= now:
        raise InvalidInput("expires_at must be in the future", field="expires_at")
    if expires_at > now + timedelta(days=SHARE_LINK_MAX_DAYS):
        raise InvalidInput(f"a share link ends at most {SHARE_LINK_MAX_DAYS} days ahead", field="expires_at")
    row, key = await credentials.create_api_key(db, settings, caller=caller, name=name,
                                                jurisdiction_code=jurisdiction_code, role=Role.viewer,
                                                expires_at=expires_at)
    await db.execute("INSERT INTO share_links (api_key_id) VALUES (:id)", {"id": row["id"]})
    await audit.record(db, caller=caller, entity="share_link", entity_id=row["id"], action="create",
                       jurisdiction_code=jurisdiction_code,
                       changes={"name": name, "prefix": row["prefix"], "expires_at": expires_at.isoformat()})
    return {**row, "created_by": caller.user_id}, key


async def list_page(db: Db, *, caller: Caller, limit: int, cursor: str | None, active: bool | None = None,
                    jurisdiction_code: str | None = None) -> tuple[list[dict], str | None]:
    """Links in the admin's jurisdictions, newest first; `active` keeps those still working (or not)."""
    caller.require(Role.admin)
    after = decode_cursor(cursor, arity=2)
    rows = await db.fetch(f"""
        SELECT {COLUMNS},
               (k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())) AS active
        FROM share_links s
        JOIN api_keys k ON k.id = s.api_key_id
        JOIN jurisdictions j ON j.code = k.jurisdiction_code
        WHERE j.path <@ CAST(:scope AS ltree)
          AND (CAST(:code AS text) IS NULL OR k.jurisdiction_code = :code)
          AND (CAST(:active AS boolean) IS NULL
               OR (k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())) = :active)
          AND (CAST(:after_at AS timestamptz) IS NULL
               OR (k.created_at, k.id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS uuid)))
        ORDER BY k.created_at DESC, k.id DESC
        LIMIT :limit_plus_one
    """, {"scope": caller.scope_path, "code": jurisdiction_code, "active": active,
           "after_at": after[0] if after else None, "after_id": after[1] if after else None,
           "limit_plus_one": limit + 1})
    return page_of([dict(r) for r in rows], limit=limit, key=lambda r: [r["created_at"].isoformat(), str(r["id"])])


async def revoke(db: Db, *, caller: Caller, link_id: uuid.UUID) -> dict:
    """Revoke a link (admin): it stops working at once, on every worker; revoking it again changes nothing."""
    caller.require(Role.admin)
    row = await db.fetchrow(f"""
        UPDATE api_keys AS k SET revoked_at = COALESCE(k.revoked_at, now())
        FROM share_links s, jurisdictions j
        WHERE k.id = :id AND s.api_key_id = k.id AND j.code = k.jurisdiction_code
          AND j.path <@ CAST(:scope AS ltree)
        RETURNING {COLUMNS}, false AS active
    """, {"id": link_id, "scope": caller.scope_path})
    if row is None:
        raise NotFound(f"no share link {link_id}")
    await audit.record(db, caller=caller, entity="share_link", entity_id=link_id, action="revoke",
                       jurisdiction_code=row["jurisdiction_code"], changes={"prefix": row["prefix"]})
    await credentials.changed(db)
    return dict(row)
