"""Duty alerts for the command centre: a post nobody holds when its window opens, an officer off post (脱岗).

- **uncovered_post**: a post with shifts starting at `starts_at` and no check-in inside its geofence by an officer
  assigned to one of those shifts, made for that shift (a substitute gets the shift reassigned; anyone else's
  check-in at the post covers nothing)
  between `starts_at − 15 min` and `starts_at + duty_alert_grace_s`; raised by `sweep_uncovered_posts` once the
  grace has passed and while the shifts last.
- **off_post**: during a shift, after the officer arrived, a check-in certainly outside the post's geofence whose
  previous decided check-in of the shift was inside; raised at check-in ingest. Further outside check-ins belong
  to the same episode until the officer is seen inside again.

Each alert has a `dedupe_key` (UNIQUE): it is stored, and published as a `duty.alert` event, exactly once.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from domain import audit, events, jurisdictions
from domain.callers import Caller, Role
from domain.database import Db, Query
from domain.duty import EARLY_ALLOWANCE_S
from domain.errors import NotFound
from domain.paging import decode_cursor, page_of
from domain.settings import get_settings

KINDS = ("uncovered_post", "off_post")
ALERT_COLUMNS = """a.id, a.kind, a.jurisdiction_code, a.school_id, a.post_id, a.shift_id, a.officer_id, a.checkin_id,
                   a.at, a.details, a.created_at, a.acknowledged_at, a.acknowledged_by, a.acknowledgement_note"""

RAISE = Query(f"""
    INSERT INTO duty_alerts AS a (id, kind, dedupe_key, jurisdiction_code, school_id, post_id, shift_id, officer_id,
                                  checkin_id, at, details)
    SELECT gen_random_uuid(), x.kind, x.key, x.code, x.school, x.post, x.shift, x.officer, x.checkin, x.at, x.details
    FROM unnest(CAST(:kinds AS text[]), CAST(:keys AS text[]), CAST(:codes AS text[]), CAST(:schools AS uuid[]),
                CAST(:posts AS uuid[]), CAST(:shifts AS uuid[]), CAST(:officers AS uuid[]), CAST(:checkins AS uuid[]),
                CAST(:ats AS timestamptz[]), CAST(:details AS jsonb[]))
         AS x(kind, key, code, school, post, shift, officer, checkin, at, details)
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING {ALERT_COLUMNS}
""")


def _jsonable(alert: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, uuid.UUID) else v)
            for k, v in alert.items()}


async def _raise(db: Db, candidates: list[dict]) -> list[dict]:
    """Store the alerts not raised before and publish those on the live feed; returns the new ones."""
    if not candidates:
        return []
    async with db.atomic() as tx:
        return await _store_and_publish(tx, candidates)


async def _store_and_publish(db: Db, candidates: list[dict]) -> list[dict]:
    rows = await db.fetch(RAISE, {
        "kinds": [c["kind"] for c in candidates], "keys": [c["dedupe_key"] for c in candidates],
        "codes": [c["jurisdiction_code"] for c in candidates], "schools": [c["school_id"] for c in candidates],
        "posts": [c["post_id"] for c in candidates], "shifts": [c.get("shift_id") for c in candidates],
        "officers": [c.get("officer_id") for c in candidates], "checkins": [c.get("checkin_id") for c in candidates],
        "ats": [c["at"] for c in candidates],
        "details": [json.dumps(c.get("details", {}), default=str, ensure_ascii=False) for c in candidates],
    })
    new = [dict(r) for r in rows]
    await events.publish(db, [events.Event(kind="duty.alert", jurisdiction_code=a["jurisdiction_code"],
                                                payload=_jsonable(a)) for a in new])
    return new


# The episodes the new check-ins open, decided for each new check-in from two indexed look-ups instead of the
# whole shift (a tracker posting every few seconds makes a long shift): it is certainly outside the geofence,
# within the shift; the officer's previous decided check-in of the shift (by device time) was inside; and the
# officer had arrived before it (an inside check-in from 15 min before the start) — `duty.off_post_times`'s rule.
OFF_POST = Query("""
    SELECT n.id AS checkin_id, n.recorded_at AS at, s.id AS shift_id, s.officer_id, s.post_id, s.jurisdiction_code,
           p.school_id, p.name AS post_name, prev.recorded_at AS last_inside_at
    FROM unnest(CAST(:ids AS uuid[]), CAST(:ats AS timestamptz[]), CAST(:shift_ids AS uuid[]))
         AS n(id, recorded_at, shift_id)
    JOIN shifts s ON s.id = n.shift_id
    JOIN posts p ON p.id = s.post_id
    CROSS JOIN LATERAL (
        SELECT c.recorded_at, c.in_post_geofence FROM checkins c
        WHERE c.shift_id = n.shift_id AND c.in_post_geofence IS NOT NULL
          AND c.recorded_at >= s.starts_at - make_interval(secs => :early) AND c.recorded_at <= n.recorded_at
          AND (c.recorded_at, c.id) < (n.recorded_at, n.id)
        ORDER BY c.recorded_at DESC, c.id DESC
        LIMIT 1
    ) prev
    WHERE n.recorded_at >= s.starts_at AND n.recorded_at < s.ends_at AND prev.in_post_geofence
      AND EXISTS (
          SELECT 1 FROM checkins c
          WHERE c.shift_id = n.shift_id AND c.in_post_geofence
            AND c.recorded_at >= s.starts_at - make_interval(secs => :early) AND c.recorded_at < n.recorded_at
      )
""")


async def detect_off_post(db: Db, *, checkins: list[dict]) -> list[dict]:
    """Raise an off-post alert for each episode that the new check-ins open (see the module doc)."""
    outside = [c for c in checkins if c["shift_id"] and c["geofence"] == "outside"]
    if not outside:
        return []
    rows = await db.fetch(OFF_POST, {
        "ids": [c["id"] for c in outside], "ats": [c["recorded_at"] for c in outside],
        "shift_ids": [c["shift_id"] for c in outside], "early": EARLY_ALLOWANCE_S,
    })
    return await _raise(db, [{
        "kind": "off_post", "dedupe_key": f"off_post:{r['shift_id']}:{r['at'].isoformat()}",
        "jurisdiction_code": r["jurisdiction_code"], "school_id": r["school_id"], "post_id": r["post_id"],
        "shift_id": r["shift_id"], "officer_id": r["officer_id"], "checkin_id": r["checkin_id"], "at": r["at"],
        "details": {"post_name": r["post_name"], "last_inside_at": r["last_inside_at"]},
    } for r in rows])


UNCOVERED = Query("""
    SELECT sh.post_id, sh.starts_at, min(sh.ends_at) AS ends_at, min(sh.jurisdiction_code) AS jurisdiction_code,
           min(CAST(p.school_id AS text)) AS school_id, min(p.name) AS post_name,
           array_agg(sh.officer_id ORDER BY sh.officer_id) AS officer_ids,
           array_agg(sh.id ORDER BY sh.officer_id) AS shift_ids
    FROM shifts sh JOIN posts p ON p.id = sh.post_id
    WHERE sh.starts_at <= CAST(:due AS timestamptz) AND sh.starts_at > CAST(:now AS timestamptz) - interval '1 day'
      AND sh.ends_at > CAST(:now AS timestamptz)
      AND p.deleted_at IS NULL
    GROUP BY sh.post_id, sh.starts_at
    HAVING NOT bool_or(EXISTS (
        SELECT 1 FROM checkins c
        WHERE c.shift_id = sh.id AND c.officer_id = sh.officer_id AND c.geofence = 'inside'
          AND c.recorded_at >= sh.starts_at - make_interval(secs => :early)
          AND c.recorded_at <= sh.starts_at + make_interval(secs => :grace)
    ))
""")


async def sweep_uncovered_posts(db: Db, now: datetime, *, grace_s: int | None = None) -> list[dict]:
    """Raise an uncovered-post alert for each post whose shifts started at least `grace_s` ago (default
    `duty_alert_grace_s`), are still running at `now`, and where no one has checked in inside the geofence from
    15 min before the start to the end of the grace. Run it every minute; it raises each alert once."""
    grace = get_settings().duty_alert_grace_s if grace_s is None else grace_s
    rows = await db.fetch(UNCOVERED, {
        "due": now - timedelta(seconds=grace), "now": now, "early": EARLY_ALLOWANCE_S, "grace": grace,
    })
    return await _raise(db, [{
        "kind": "uncovered_post", "dedupe_key": f"uncovered_post:{r['post_id']}:{r['starts_at'].isoformat()}",
        "jurisdiction_code": r["jurisdiction_code"], "school_id": uuid.UUID(r["school_id"]), "post_id": r["post_id"],
        "shift_id": r["shift_ids"][0] if len(r["shift_ids"]) == 1 else None,
        "officer_id": r["officer_ids"][0] if len(r["officer_ids"]) == 1 else None,
        "at": r["starts_at"] + timedelta(seconds=grace),
        "details": {"post_name": r["post_name"], "window_starts_at": r["starts_at"], "ends_at": r["ends_at"],
                    "officer_ids": [str(o) for o in r["officer_ids"]],
                    "shift_ids": [str(s) for s in r["shift_ids"]]},
    } for r in rows])


def filter_sql(*, scope: str, kind: str | None = None, school_id: uuid.UUID | None = None,
               at_from: datetime | None = None, at_to: datetime | None = None,
               acknowledged: bool | None = None) -> tuple[str, dict[str, Any]]:
    """The condition (on `a` and `j`) and parameters selecting the alerts a filter keeps inside the ltree `scope`;
    shared by the list and the export."""
    return """j.path <@ CAST(:scope AS ltree)
          AND (CAST(:kind AS text) IS NULL OR a.kind = :kind)
          AND (CAST(:school AS uuid) IS NULL OR a.school_id = :school)
          AND (CAST(:t0 AS timestamptz) IS NULL OR a.at >= :t0)
          AND (CAST(:t1 AS timestamptz) IS NULL OR a.at < :t1)
          AND (CAST(:acked AS boolean) IS NULL OR (a.acknowledged_at IS NOT NULL) = :acked)""", {
        "scope": scope, "kind": kind, "school": school_id, "t0": at_from, "t1": at_to, "acked": acknowledged}


async def list_page(db: Db, *, caller: Caller, limit: int, cursor: str | None,
                    kind: str | None = None, school_id: uuid.UUID | None = None,
                    jurisdiction_code: str | None = None, at_from: datetime | None = None,
                    at_to: datetime | None = None, acknowledged: bool | None = None) -> tuple[list[dict], str | None]:
    """Alerts in the caller's jurisdictions, newest first; `acknowledged=False` gives those still open."""
    after = decode_cursor(cursor, arity=2)
    scope = await jurisdictions.narrowed_scope(db, caller=caller, code=jurisdiction_code)
    where, params = filter_sql(scope=scope, kind=kind, school_id=school_id, at_from=at_from, at_to=at_to,
                               acknowledged=acknowledged)
    rows = await db.fetch(f"""
        SELECT {ALERT_COLUMNS}
        FROM duty_alerts a JOIN jurisdictions j ON j.code = a.jurisdiction_code
        WHERE {where}
          AND (CAST(:a_at AS timestamptz) IS NULL
               OR (a.at, a.id) < (CAST(:a_at AS timestamptz), CAST(:a_id AS uuid)))
        ORDER BY a.at DESC, a.id DESC LIMIT :n
    """, {**params, "a_at": datetime.fromisoformat(after[0]) if after else None,
           "a_id": after[1] if after else None, "n": limit + 1})
    return page_of([dict(r) for r in rows], limit=limit, key=lambda r: [r["at"].isoformat(), str(r["id"])])


async def acknowledge(db: Db, *, caller: Caller, alert_id: uuid.UUID, note: str | None,
                      now: datetime) -> dict:
    """Mark an alert as seen and handled (commanders). The first acknowledgement stands: acknowledging again
    answers the alert as it is, so a retry from a flaky network or a second dispatcher changes nothing."""
    caller.require(Role.commander)
    row = await db.fetchrow(f"""
        SELECT {ALERT_COLUMNS}, j.path::text AS path
        FROM duty_alerts a JOIN jurisdictions j ON j.code = a.jurisdiction_code
        WHERE a.id = :id FOR UPDATE OF a
    """, {"id": alert_id})
    if row is None or not caller.sees_path(row["path"]):
        raise NotFound(f"no duty alert {alert_id}")
    if row["acknowledged_at"] is not None:
        return {k: v for k, v in row.items() if k != "path"}
    updated = dict(await db.fetchrow(f"""
        UPDATE duty_alerts AS a SET acknowledged_at = :now, acknowledged_by = :by, acknowledgement_note = :note
        WHERE a.id = :id
        RETURNING {ALERT_COLUMNS}
    """, {"id": alert_id, "now": now, "by": caller.user_id, "note": note}))
    await audit.record(db, caller=caller, entity="duty_alert", entity_id=alert_id, action="acknowledge",
                       jurisdiction_code=updated["jurisdiction_code"], changes={"note": note})
    await events.publish(db, [events.Event(kind="duty.alert_acknowledged",
                                                jurisdiction_code=updated["jurisdiction_code"],
                                                payload=_jsonable(updated))])
    return updated
