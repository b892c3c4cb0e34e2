"""The event log behind the live feed: every notable write appends an event and NOTIFYs listeners.

Events are rows (so a client that reconnects with `Last-Event-ID` can replay what it missed) and a
`pg_notify` on `huxiao_events` carrying the event's id, kind and jurisdiction path; the notification
is delivered on commit, so listeners never see an event whose write was rolled back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

CHANNEL = "huxiao_events"
REPLAY_RETENTION_S = 24 * 3600

KINDS = (
    "incident.created", "incident.updated", "incident.arrival", "incident.score",
    "checkin.created", "duty.alert", "duty.alert_acknowledged",
)


@dataclass(frozen=True)
class Event:
    kind: str
    jurisdiction_code: str
    payload: dict[str, Any]


PUBLISH = text("""
    WITH new_events AS (
        INSERT INTO events (kind, jurisdiction_code, path, payload)
        SELECT e.kind, e.code, j.path, e.payload
        FROM unnest(CAST(:kinds AS text[]), CAST(:codes AS text[]), CAST(:payloads AS jsonb[]))
             WITH ORDINALITY AS e(kind, code, payload, n)
        JOIN jurisdictions j ON j.code = e.code
        ORDER BY e.n  -- ids follow the order the events were handed in
        RETURNING id, kind, path
    )
    SELECT pg_notify(:channel, json_build_object('id', id, 'kind', kind, 'path', path::text)::text)
    FROM new_events
""")


async def publish(session: AsyncSession, events: Iterable[Event]) -> None:
    """Append the events in the caller's transaction and notify listeners when it commits."""
    batch = list(events)
    if not batch:
        return
    await session.execute(PUBLISH, {
        "kinds": [e.kind for e in batch],
        "codes": [e.jurisdiction_code for e in batch],
        "payloads": [json.dumps(e.payload, default=str, ensure_ascii=False) for e in batch],
        "channel": CHANNEL,
    })


async def replay(session: AsyncSession, *, after_id: int, scope_path: str, limit: int = 1000) -> list[dict]:
    """Events after `after_id` in the caller's jurisdictions, oldest first (for `Last-Event-ID`)."""
    rows = (await session.execute(text("""
        SELECT id, at, kind, jurisdiction_code, payload FROM events
        WHERE id > :after AND path <@ CAST(:scope AS ltree)
        ORDER BY id LIMIT :limit
    """), {"after": after_id, "scope": scope_path, "limit": limit})).mappings().all()
    return [dict(r) for r in rows]


async def prune(session: AsyncSession, *, older_than_s: int = REPLAY_RETENTION_S) -> int:
    result = await session.execute(text("DELETE FROM events WHERE at < now() - make_interval(secs => :s)"),
                                   {"s": older_than_s})
    return result.rowcount or 0
