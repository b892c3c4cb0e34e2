"""Missed 1/3/5 tiers as events: `incident.tier_missed`, published once per (incident, tier) under the
incident's own policy, when its stored state turns from pending (or nothing) to missed.

A tier turns missed in one of three ways, each handled under the incident's row lock, so exactly one of them
publishes: the incident is reported after the tier's limit (`incidents.create`), an arrival rescoring it
(`arrivals.record`), or its deadline passing with no qualifying arrival (`sweep`, run every few seconds by
the webhook workers; `FOR UPDATE SKIP LOCKED` lets every worker run it).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from domain import events, policies
from domain.database import Db, Query
from domain.scoring import Score, TierState

SWEEP_BATCH = 200
SWEEP_LOOKBACK_H = 24
"""Pending scores of incidents older than this are left alone (a backlog after a long outage is announced on
the first day only)."""


def missed_events(*, code: str, incident_id: uuid.UUID, alarm_at: datetime, before: list[dict] | None,
                  after: Score) -> list[events.Event]:
    """One `incident.tier_missed` event per tier missed in `after` that was not missed in `before`."""
    was_missed = {int(t["tier"]) for t in (before or []) if t.get("state") == "missed"}
    return [events.Event("incident.tier_missed", code, {
        "incident_id": str(incident_id), "tier": int(t.tier), "limit_s": t.limit_s, "elapsed_s": t.elapsed_s,
        "alarm_at": alarm_at.isoformat(), "deadline_at": (alarm_at + timedelta(seconds=t.limit_s)).isoformat(),
        "score": after.as_dict(),
    }) for t in after.tiers if t.state is TierState.MISSED and int(t.tier) not in was_missed]


DUE = Query("""
    SELECT i.id FROM incident_scores sc
    JOIN incidents i ON i.id = sc.incident_id AND i.policy_key = sc.policy_key
    WHERE (sc.tier1_state = 'pending' OR sc.tier2_state = 'pending' OR sc.tier3_state = 'pending')
      AND i.alarm_at > CAST(:now AS timestamptz) - make_interval(hours => :lookback_h)
      AND EXISTS (SELECT 1 FROM jsonb_array_elements(sc.tiers) t
                  WHERE t->>'state' = 'pending'
                    AND i.alarm_at + make_interval(secs => (t->>'limit_s')::float8) < CAST(:now AS timestamptz))
    LIMIT :batch
""")

LOCK_AND_READ = Query("""
    SELECT i.id, i.jurisdiction_code, i.alarm_at, i.severity, i.policy_key, j.path::text AS path
    FROM incidents i JOIN jurisdictions j ON j.code = i.jurisdiction_code
    WHERE i.id = ANY(CAST(:ids AS uuid[]))
    FOR UPDATE OF i SKIP LOCKED
""")


async def sweep(db: Db, *, now: datetime) -> int:
    """Announce the tiers whose deadline has passed with no qualifying arrival; the number of events."""
    due = [r["id"] for r in await db.fetch(DUE, {"now": now, "lookback_h": SWEEP_LOOKBACK_H, "batch": SWEEP_BATCH})]
    if not due:
        return 0
    published = 0
    async with db.atomic() as tx:
        locked = await tx.fetch(LOCK_AND_READ, {"ids": due})
        if not locked:
            return 0
        # Read after the lock: an arrival that rescored one of them meanwhile has committed by now.
        stored: dict[Any, list[dict]] = {r["incident_id"]: r["tiers"] for r in await tx.fetch("""
            SELECT sc.incident_id, sc.tiers FROM incident_scores sc JOIN incidents i
              ON i.id = sc.incident_id AND i.policy_key = sc.policy_key
            WHERE sc.incident_id = ANY(CAST(:ids AS uuid[]))
        """, {"ids": [r["id"] for r in locked]})}
        scores: list[tuple[uuid.UUID, Score]] = []
        new_events: list[events.Event] = []
        for r in locked:
            policy = await policies.load(tx, r["policy_key"], path=r["path"])
            before = stored.get(r["id"])
            after = policies.score_from_stored(policy=policy, alarm_at=r["alarm_at"], severity=r["severity"],
                                               tiers=before, now=now)
            found = missed_events(code=r["jurisdiction_code"], incident_id=r["id"], alarm_at=r["alarm_at"],
                                  before=before, after=after)
            if found:
                scores.append((r["id"], after))
                new_events.extend(found)
        if scores:
            # Storing the flipped states is what makes each miss announced once.
            for key in sorted({s.policy for _, s in scores}):
                await policies.store_scores(tx, policy_key=key, scores=[(i, s) for i, s in scores if s.policy == key])
            await events.publish(tx, new_events)
            published = len(new_events)
    return published
