"""The event log behind the live feed: every notable write appends an event and NOTIFYs listeners.

Events are rows (so a client that reconnects with `Last-Event-ID` can replay what it missed) and a
`pg_notify` on `huxiao_events` carrying the event's id, kind and jurisdiction path; the notification
is delivered on commit, so listeners never see an event whose write was rolled back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from domain import webhooks
from domain.callers import Caller
from domain.database import Db, Query

CHANNEL = "huxiao_events"
REPLAY_RETENTION_S = 24 * 3600

KINDS = (
    "incident.created", "incident.updated", "incident.arrival", "incident.score",
    "checkin.created", "duty.alert", "duty.alert_acknowledged", "incident.tier_missed", "hazard.overdue",
)


@dataclass(frozen=True)
class Event:
    kind: str
    jurisdiction_code: str
    payload: dict[str, Any]


PUBLISH = Query("""
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


async def publish(db: Db, events: Iterable[Event]) -> None:
    """Append the events in the caller's transaction and notify listeners when it commits; events that some
    webhook may want are queued in the webhook outbox in the same statement (domain/webhooks.py)."""
    batch = list(events)
    if not batch:
        return
    params = {
        "kinds": [e.kind for e in batch],
        "codes": [e.jurisdiction_code for e in batch],
        "payloads": [json.dumps(e.payload, default=str, ensure_ascii=False) for e in batch],
        "channel": CHANNEL,
    }
    hooks = [webhooks.webhook_event(e.kind, e.payload) for e in batch]
    if any(hooks):
        await db.execute(webhooks.PUBLISH_HOOKED, {**params, "hooks": hooks, "hook_channel": webhooks.CHANNEL})
    else:
        await db.execute(PUBLISH, params)


async def replay(db: Db, *, after_id: int, scope_path: str, limit: int = 1000) -> list[dict]:
    """Events after `after_id` in the caller's jurisdictions, oldest first (for `Last-Event-ID`)."""
    rows = await db.fetch("""
        SELECT id, at, kind, jurisdiction_code, payload FROM events
        WHERE id > :after AND path <@ CAST(:scope AS ltree)
        ORDER BY id LIMIT :limit
    """, {"after": after_id, "scope": scope_path, "limit": limit})
    return [dict(r) for r in rows]


async def head(db: Db) -> int:
    """The id of the newest event (0 when there is none): a new stream sends what comes after it."""
    return await db.fetchval("SELECT COALESCE(max(id), 0) FROM events")


async def by_ids(db: Db, ids: list[int]) -> list[dict]:
    """The notified events, oldest first, with their jurisdiction paths."""
    rows = await db.fetch(BY_IDS, {"ids": ids})
    return [dict(r) for r in rows]


BY_IDS = Query("""
    SELECT id, at, kind, jurisdiction_code, payload, path::text AS path FROM events
    WHERE id = ANY(CAST(:ids AS bigint[]))
    ORDER BY id
""")


async def prune(db: Db, *, older_than_s: int = REPLAY_RETENTION_S) -> int:
    return await db.execute("DELETE FROM events WHERE at < now() - make_interval(secs => :s)", {"s": older_than_s})


# --- stream leases: open live-feed streams per credential, across the cluster ----------------------------

STREAM_LEASE_S = 45
"""A lease lives this long unless renewed; an open stream renews it every few seconds."""

TAKE_LEASE = Query("""
    WITH lock AS (SELECT pg_advisory_xact_lock(hashtext('huxiao-stream:' || :credential))),
    gone AS (DELETE FROM stream_leases WHERE credential = :credential AND expires_at <= now() AND
             (SELECT true FROM lock))
    INSERT INTO stream_leases (id, credential, expires_at)
    SELECT :id, :credential, now() + make_interval(secs => :ttl)
    WHERE (SELECT count(*) FROM stream_leases s, lock
           WHERE s.credential = :credential AND s.expires_at > now()) < :max
    RETURNING id
""")


def credential_of(caller: Caller) -> str:
    """The credential streams are counted against: the person (any of their tokens) or the API key."""
    return f"{caller.kind}:{caller.id}"


async def take_stream_lease(db: Db, *, caller: Caller, max_streams: int) -> uuid.UUID | None:
    """A lease for one more open stream of the caller's credential, or None when it already has `max_streams`."""
    async with db.atomic() as tx:  # the advisory lock is the transaction's: concurrent opens count in turn
        return await tx.fetchval(TAKE_LEASE, {"id": uuid.uuid4(), "credential": credential_of(caller),
                                              "ttl": STREAM_LEASE_S, "max": max_streams})


async def renew_stream_lease(db: Db, lease: uuid.UUID) -> None:
    await db.execute("UPDATE stream_leases SET expires_at = now() + make_interval(secs => :ttl) WHERE id = :id",
                     {"id": lease, "ttl": STREAM_LEASE_S})


async def end_stream_lease(db: Db, lease: uuid.UUID) -> None:
    await db.execute("DELETE FROM stream_leases WHERE id = :id", {"id": lease})
