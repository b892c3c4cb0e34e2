"""Hazards (安全隐患): the ledger of what was found at or near a school, its rectification deadline and its
closure (立查立改、及时销号).

Rules:

1. A hazard has a known category and severity, a description, who found it and when (`found_at`, at most 120 s
   after the server clock) and a rectification `deadline` no earlier than `found_at`.
2. It is placed against the school zones in the statement that stores it: `school_id` is the given school (in the
   caller's scope) or else the nearest school in the caller's scope whose zone holds the location. Flags say
   `outside_zone` (the location lies in no zone of its school, or there is no school), `location_from_school`
   (no location was sent: the school's gate stands for it). `jurisdiction_code` is the given one (in scope),
   else the school's, else the caller's.
3. Status: open → rectifying → closed, or → escalated (to the campaign leadership, with a reason) from open or
   rectifying; an escalated hazard may go on to rectifying or closed. Closing needs evidence: a `closing_note`
   and optionally photos uploaded to this hazard before. A closed hazard never changes again (409).
4. Overdue: not closed and the deadline has passed. Every answer says `overdue`; the sweep raises one
   `hazard.overdue` event on the live feed per hazard and deadline (moving the deadline arms it again).
5. Every change appends a row to `hazard_log` with the status and deadline after it, when it took effect (`at`)
   and when it was written (`recorded_at`): the log is never updated, so the figures of `report_figures` as of a
   moment are the same whenever they are asked for.
6. A client `id` makes the report idempotent (same id and body: the stored hazard, 200; another body: 409).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shapely.geometry import Point

from domain import audit, jurisdictions
from domain.callers import Caller, Role
from domain.database import Db, Query
from domain.errors import Conflict, InvalidInput, NotFound
from domain.events import Event, publish
from domain.locations import wkb
from domain.paging import decode_time_id_cursor, page_of
from domain.zones import in_zone_schools_sql

# Category codes and the names the source plans use for them.
CATEGORIES = {
    "facilities_civil": "人防（安保人员、护校力量）",
    "facilities_physical": "物防（围墙、门岗、防冲撞设施、防护器械）",
    "facilities_technical": "技防（监控、一键报警、门禁）",
    "traffic_facilities": "交通设施",
    "food_safety": "食品安全",
    "fire": "消防",
    "venue": "周边场所",
    "building": "校舍建筑",
    "other": "其他",
}
SEVERITIES = {"general": "一般隐患", "significant": "较大隐患", "major": "重大隐患"}
STATUSES = ("open", "rectifying", "escalated", "closed")
STATUS_NAMES = {"open": "待整改", "rectifying": "整改中", "escalated": "已上报", "closed": "已销号"}
# Which status may follow which (setting the current status again changes nothing).
TRANSITIONS = {
    "open": {"rectifying", "escalated", "closed"},
    "rectifying": {"escalated", "closed"},
    "escalated": {"rectifying", "closed"},
    "closed": set(),
}
FOUND_FUTURE_TOLERANCE_S = 120
DESCRIPTION_MAX_LEN = 4000
NOTE_MAX_LEN = 4000
REASON_MAX_LEN = 2000
NAME_MAX_LEN = 200
OVERDUE_SWEEP_BATCH = 500


@dataclass
class HazardInput:
    """A hazard as a client reports it (location already WGS-84, or None to take the school's)."""

    category: str
    severity: str
    description: str
    found_at: datetime
    deadline: datetime
    location: Point | None = None
    crs: str = "wgs84"
    school_id: uuid.UUID | None = None
    responsible_unit: str | None = None
    found_by_name: str | None = None
    jurisdiction_code: str | None = None
    external_ref: str | None = None
    # Imports only: a hazard already further along when it is entered.
    status: str = "open"
    closed_at: datetime | None = None
    closing_note: str | None = None
    escalation_reason: str | None = None
    actions_taken: list[str] = field(default_factory=list)
    imported: bool = False


def _text(value: Any, *, field: str, max_len: int, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(f"{field} is required", field=field)
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise InvalidInput(f"{field} must be text of at most {max_len} characters", field=field)
    return value.strip()


def check_hazard(h: HazardInput, *, now: datetime) -> HazardInput:
    """Known category and severity, a description, an aware `found_at` at most 120 s in the future, and a
    `deadline` no earlier than `found_at`."""
    if h.category not in CATEGORIES:
        raise InvalidInput(f"category must be one of {', '.join(CATEGORIES)}", field="category")
    if h.severity not in SEVERITIES:
        raise InvalidInput(f"severity must be one of {', '.join(SEVERITIES)}", field="severity")
    h.description = _text(h.description, field="description", max_len=DESCRIPTION_MAX_LEN, required=True)
    h.responsible_unit = _text(h.responsible_unit, field="responsible_unit", max_len=NAME_MAX_LEN)
    h.found_by_name = _text(h.found_by_name, field="found_by_name", max_len=NAME_MAX_LEN)
    h.external_ref = _text(h.external_ref, field="external_ref", max_len=100)
    for name in ("found_at", "deadline"):
        value = getattr(h, name)
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise InvalidInput(f"{name} needs a date and time with a UTC offset", field=name)
    if h.found_at > now + timedelta(seconds=FOUND_FUTURE_TOLERANCE_S):
        raise InvalidInput("found_at lies in the future", field="found_at")
    if h.deadline < h.found_at:
        raise InvalidInput("deadline lies before found_at: a hazard cannot be due before it was found",
                           field="deadline")
    if h.status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
    h.escalation_reason = _text(h.escalation_reason, field="escalation_reason", max_len=REASON_MAX_LEN,
                                required=h.status == "escalated")
    h.actions_taken = [t for n, a in enumerate(h.actions_taken)
                       if (t := _text(a, field=f"actions_taken.{n}", max_len=NOTE_MAX_LEN))]
    if h.status == "closed":
        h.closing_note = _text(h.closing_note, field="closing_note", max_len=NOTE_MAX_LEN, required=True)
        if h.closed_at is None or h.closed_at.tzinfo is None:
            raise InvalidInput("a closed hazard needs closed_at", field="closed_at")
        if h.closed_at < h.found_at:
            raise InvalidInput("closed_at lies before found_at", field="closed_at")
        if h.closed_at > now + timedelta(seconds=FOUND_FUTURE_TOLERANCE_S):
            raise InvalidInput("closed_at lies in the future", field="closed_at")
    return h


def is_overdue(status: str, deadline: datetime, now: datetime) -> bool:
    """Overdue: not closed and the deadline has passed."""
    return status != "closed" and deadline < now


# --- reading -------------------------------------------------------------------------------------------

COLUMNS = """
    h.id, h.jurisdiction_code, h.school_id, s.name AS school_name,
    CAST(ST_AsGeoJSON(h.location, 7) AS json) AS location, h.crs, h.flags, h.category, h.severity,
    h.description, h.found_by, h.found_by_name, h.found_at, h.responsible_unit, h.deadline, h.status,
    h.escalation_reason, h.escalated_at, h.closing_note, h.closing_photo_ids, h.closed_by, h.closed_by_name,
    h.closed_at, h.external_ref, h.created_by, h.created_at, h.updated_at, j.path::text AS path
"""
FROM = """
    FROM hazards h
    JOIN jurisdictions j ON j.code = h.jurisdiction_code
    LEFT JOIN schools s ON s.id = h.school_id
"""


def _out(row: Any, *, now: datetime) -> dict:
    r = dict(row)
    r.pop("path", None)
    r["flags"] = list(r["flags"] or [])
    r["closing_photo_ids"] = list(r["closing_photo_ids"] or [])
    r["overdue"] = is_overdue(r["status"], r["deadline"], now)
    return r


async def fetch(db: Db, *, caller: Caller, hazard_id: uuid.UUID, lock: bool = False) -> dict:
    """The hazard row; outside the caller's jurisdictions it does not exist (404)."""
    row = await db.fetchrow(f"""
        SELECT {COLUMNS} {FROM}
        WHERE h.id = :id {"FOR UPDATE OF h" if lock else ""}
    """, {"id": hazard_id})
    if row is None or not caller.sees_path(row["path"]):
        raise NotFound(f"no hazard {hazard_id}")
    return dict(row)


LOG = Query("""
    SELECT kind, at, recorded_at, status, deadline, note, actor_id, actor_name
    FROM hazard_log WHERE hazard_id = :id ORDER BY recorded_at, id
""")
PHOTOS = Query("""
    SELECT id, hazard_id, content_type, size_bytes, width, height, uploaded_by, uploaded_by_name, uploaded_at
    FROM hazard_photos WHERE hazard_id = :id ORDER BY uploaded_at, id
""")


async def get(db: Db, *, caller: Caller, hazard_id: uuid.UUID, now: datetime) -> dict:
    """One hazard with its log (status changes and actions taken) and its photos."""
    out = _out(await fetch(db, caller=caller, hazard_id=hazard_id), now=now)
    out["log"] = [dict(r) for r in await db.fetch(LOG, {"id": hazard_id})]
    out["photos"] = [dict(r) for r in await db.fetch(PHOTOS, {"id": hazard_id})]
    return out


# --- reporting a hazard --------------------------------------------------------------------------------

# The zone school (nearest first) among the caller's schools, decided in the INSERT like incidents do.
INSERT = Query(f"""
    WITH p AS (SELECT CAST(ST_GeomFromWKB(:location, 4326) AS geography) AS g),
    zone AS (
        SELECT z.id, z.distance_m, s.jurisdiction_code
        FROM p CROSS JOIN LATERAL ({in_zone_schools_sql("p.g", nearest_first=False)}) z
        JOIN schools s ON s.id = z.id
        JOIN jurisdictions j ON j.code = s.jurisdiction_code
        WHERE j.path <@ CAST(:scope AS ltree)
    ),
    home AS (
        SELECT id, jurisdiction_code FROM zone
        WHERE CAST(:school_id AS uuid) IS NULL OR id = CAST(:school_id AS uuid)
        ORDER BY distance_m, id LIMIT 1
    ),
    placed AS (
        SELECT COALESCE(CAST(:school_id AS uuid), (SELECT id FROM home)) AS school_id,
               EXISTS (SELECT 1 FROM home) AS in_zone,
               (SELECT jurisdiction_code FROM home) AS zone_code
    )
    INSERT INTO hazards AS h (id, jurisdiction_code, school_id, location, crs, flags, category, severity, description,
                              found_by, found_by_name, found_at, responsible_unit, deadline, status, closing_note,
                              closed_by, closed_by_name, closed_at, escalation_reason, escalated_at, external_ref,
                              created_by, body_hash, created_at, updated_at)
    SELECT :id, COALESCE(CAST(:jurisdiction_code AS varchar), CAST(:school_code AS varchar), placed.zone_code,
                         :caller_code),
           placed.school_id, p.g, :crs,
           CASE WHEN placed.in_zone THEN CAST(:flags AS text[])
                ELSE array_append(CAST(:flags AS text[]), 'outside_zone') END,
           :category, :severity, :description, :found_by, :found_by_name, :found_at, :responsible_unit, :deadline,
           :status, :closing_note, CAST(:closed_by AS uuid), CAST(:closed_by_name AS varchar),
           CAST(:closed_at AS timestamptz), CAST(:escalation_reason AS varchar),
           CASE WHEN CAST(:escalation_reason AS varchar) IS NOT NULL THEN CAST(:now AS timestamptz) END,
           :external_ref, :created_by, :body_hash, :now, :now
    FROM p, placed
    ON CONFLICT (id) DO NOTHING
    RETURNING h.id, h.jurisdiction_code, h.status, h.deadline, h.flags
""")

INSERT_LOG = Query("""
    INSERT INTO hazard_log (hazard_id, kind, at, recorded_at, status, deadline, note, actor_id, actor_name)
    SELECT :hazard_id, x.kind, x.at, :now, x.status, x.deadline, x.note, :actor_id, :actor_name
    FROM unnest(CAST(:kinds AS text[]), CAST(:ats AS timestamptz[]), CAST(:statuses AS text[]),
                CAST(:deadlines AS timestamptz[]), CAST(:notes AS text[])) WITH ORDINALITY
         AS x(kind, at, status, deadline, note, n)
    ORDER BY x.n
""")


async def display_name(db: Db, caller: Caller) -> str:
    """The name a ledger shows for the caller: a person's display name, else the caller's name."""
    if caller.user_id is None:
        return caller.name
    name = await db.fetchval("SELECT display_name FROM users WHERE id = :id", {"id": caller.user_id})
    return name or caller.name


async def _log(db: Db, *, hazard_id: uuid.UUID, caller: Caller, now: datetime, entries: list[dict]) -> None:
    await db.execute(INSERT_LOG, {
        "hazard_id": hazard_id, "now": now, "actor_id": caller.user_id, "actor_name": await display_name(db, caller),
        "kinds": [e["kind"] for e in entries], "ats": [e["at"] for e in entries],
        "statuses": [e["status"] for e in entries], "deadlines": [e["deadline"] for e in entries],
        "notes": [e.get("note") for e in entries],
    })


async def school_in_scope(db: Db, *, caller: Caller, school_id: uuid.UUID, field: str = "school_id") -> dict:
    """The school (id, jurisdiction, gate location as WKB) if it is in the caller's scope; else an input error
    naming the field."""
    row = await db.fetchrow("""
        SELECT s.id, s.jurisdiction_code, ST_AsBinary(s.location) AS location_wkb, j.path::text AS path
        FROM schools s JOIN jurisdictions j ON j.code = s.jurisdiction_code
        WHERE s.id = :id AND s.deleted_at IS NULL
    """, {"id": school_id})
    if row is None or not caller.sees_path(row["path"]):
        raise InvalidInput(f"no school {school_id} in your scope", field=field)
    return dict(row)


async def create(db: Db, *, caller: Caller, hazard: HazardInput, client_id: uuid.UUID | None,
                 request_hash: bytes | None, now: datetime) -> tuple[dict, bool]:
    """Report a hazard (officers, commanders, admins); answers (hazard, created)."""
    caller.require(Role.officer, Role.commander)
    check_hazard(hazard, now=now)
    if hazard.jurisdiction_code is not None:
        await jurisdictions.in_scope(db, caller=caller, code=hazard.jurisdiction_code)
    school = None
    if hazard.school_id is not None:
        school = await school_in_scope(db, caller=caller, school_id=hazard.school_id)
    flags: list[str] = []
    if hazard.location is None:
        if school is None:
            raise InvalidInput("send a location or a school_id", field="location")
        location = school["location_wkb"]
        flags.append("location_from_school")
    else:
        location = wkb(hazard.location)
    hazard_id = client_id or uuid.uuid4()
    closed = hazard.status == "closed"
    me = await display_name(db, caller)
    inserted = await db.fetchrow(INSERT, {
        "id": hazard_id, "location": location, "scope": caller.scope_path, "school_id": hazard.school_id,
        "jurisdiction_code": hazard.jurisdiction_code, "school_code": school["jurisdiction_code"] if school else None,
        "caller_code": caller.jurisdiction_code, "crs": hazard.crs, "flags": flags, "category": hazard.category,
        "severity": hazard.severity, "description": hazard.description, "found_by": caller.user_id,
        "found_by_name": hazard.found_by_name or me, "found_at": hazard.found_at,
        "responsible_unit": hazard.responsible_unit, "deadline": hazard.deadline, "status": hazard.status,
        "closing_note": hazard.closing_note if closed else None, "closed_by": caller.user_id if closed else None,
        "closed_by_name": me if closed else None, "closed_at": hazard.closed_at if closed else None,
        "escalation_reason": hazard.escalation_reason if hazard.status == "escalated" else None,
        "external_ref": hazard.external_ref, "created_by": caller.user_id, "body_hash": request_hash, "now": now,
    })
    if inserted is None:
        return await _replay(db, caller=caller, hazard_id=hazard_id, request_hash=request_hash, now=now), False
    entries = [{"kind": "imported" if hazard.imported else "created", "at": hazard.found_at, "status": "open",
                "deadline": hazard.deadline}]
    entries += [{"kind": "action", "at": now, "status": "open", "deadline": hazard.deadline, "note": a}
                for a in hazard.actions_taken]
    if hazard.status != "open":
        entries.append({"kind": "status", "at": hazard.closed_at if closed else now, "status": hazard.status,
                        "deadline": hazard.deadline,
                        "note": hazard.closing_note if closed else hazard.escalation_reason})
    await _log(db, hazard_id=hazard_id, caller=caller, now=now, entries=entries)
    await audit.record(db, caller=caller, entity="hazard", entity_id=hazard_id, action="create",
                       jurisdiction_code=inserted["jurisdiction_code"],
                       changes={"category": hazard.category, "severity": hazard.severity, "status": hazard.status,
                                "flags": list(inserted["flags"])})
    return await get(db, caller=caller, hazard_id=hazard_id, now=now), True


async def _replay(db: Db, *, caller: Caller, hazard_id: uuid.UUID, request_hash: bytes | None,
                  now: datetime) -> dict:
    stored = await db.fetchrow("""
        SELECT h.body_hash, j.path::text AS path FROM hazards h JOIN jurisdictions j ON j.code = h.jurisdiction_code
        WHERE h.id = :id
    """, {"id": hazard_id})
    if (stored is None or request_hash is None or stored["body_hash"] != request_hash
            or not caller.sees_path(stored["path"])):
        raise Conflict(f"hazard id {hazard_id} was already used with another body", field="id")
    return await get(db, caller=caller, hazard_id=hazard_id, now=now)


# --- changes ---------------------------------------------------------------------------------------------

EDITABLE = {"status", "escalation_reason", "closing_note", "closing_photo_ids", "deadline", "responsible_unit",
            "severity", "description", "action_taken"}


async def update(db: Db, *, caller: Caller, hazard_id: uuid.UUID, changes: dict[str, Any], now: datetime) -> dict:
    """Move the status (with a reason to escalate, evidence to close), move the deadline, log an action taken,
    or edit the description, severity or responsible unit (officers, commanders, admins)."""
    caller.require(Role.officer, Role.commander)
    unknown = set(changes) - EDITABLE
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    row = await fetch(db, caller=caller, hazard_id=hazard_id, lock=True)
    status, deadline = row["status"], row["deadline"]
    new_status = changes.get("status")
    if new_status is not None and new_status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
    if status == "closed":
        if new_status in (None, "closed") and not (set(changes) - {"status"}):
            return await get(db, caller=caller, hazard_id=hazard_id, now=now)
        raise Conflict("the hazard is closed; it cannot change", field=sorted(changes)[0] if changes else None)
    sets: dict[str, Any] = {}
    entries: list[dict] = []
    changed: dict[str, Any] = {}

    for name, max_len in (("description", DESCRIPTION_MAX_LEN), ("responsible_unit", NAME_MAX_LEN)):
        if name in changes:
            value = _text(changes[name], field=name, max_len=max_len, required=name == "description")
            if value != row[name]:
                sets[name] = value
                changed[name] = True
    if changes.get("severity") is not None and changes["severity"] != row["severity"]:
        if changes["severity"] not in SEVERITIES:
            raise InvalidInput(f"severity must be one of {', '.join(SEVERITIES)}", field="severity")
        sets["severity"] = changes["severity"]
        changed["severity"] = {"from": row["severity"], "to": changes["severity"]}

    if changes.get("deadline") is not None and changes["deadline"] != deadline:
        new_deadline = changes["deadline"]
        if new_deadline.tzinfo is None:
            raise InvalidInput("deadline needs a UTC offset", field="deadline")
        if new_deadline < row["found_at"]:
            raise InvalidInput("deadline lies before found_at: a hazard cannot be due before it was found",
                               field="deadline")
        deadline = new_deadline
        sets["deadline"] = deadline
        sets["overdue_notified_at"] = None  # a new deadline is watched anew
        changed["deadline"] = {"from": row["deadline"], "to": deadline}
        entries.append({"kind": "deadline", "at": now, "status": status, "deadline": deadline})

    action = _text(changes.get("action_taken"), field="action_taken", max_len=NOTE_MAX_LEN)
    if action is not None:
        entries.append({"kind": "action", "at": now, "status": status, "deadline": deadline, "note": action})
        changed["action_taken"] = action

    reason = _text(changes.get("escalation_reason"), field="escalation_reason", max_len=REASON_MAX_LEN)
    note = _text(changes.get("closing_note"), field="closing_note", max_len=NOTE_MAX_LEN)
    photo_ids = changes.get("closing_photo_ids") or []
    if new_status is not None and new_status != status:
        if new_status not in TRANSITIONS[status]:
            raise Conflict(f"status cannot move from {status} to {new_status}", field="status")
        log_note = None
        if new_status == "escalated":
            if reason is None:
                raise InvalidInput("escalating needs an escalation_reason", field="escalation_reason")
            sets.update(escalation_reason=reason, escalated_at=now)
            log_note = reason
        elif new_status == "closed":
            if note is None:
                raise InvalidInput("closing needs evidence: a closing_note (and optionally closing_photo_ids)",
                                   field="closing_note")
            if photo_ids:
                known = {r["id"] for r in await db.fetch(
                    "SELECT id FROM hazard_photos WHERE hazard_id = :h AND id = ANY(CAST(:ids AS uuid[]))",
                    {"h": hazard_id, "ids": list(photo_ids)})}
                for n, pid in enumerate(photo_ids):
                    if pid not in known:
                        raise InvalidInput(f"no photo {pid} uploaded to this hazard", field=f"closing_photo_ids.{n}")
            sets.update(closing_note=note, closing_photo_ids=list(dict.fromkeys(photo_ids)), closed_at=now,
                        closed_by=caller.user_id, closed_by_name=await display_name(db, caller))
            log_note = note
        sets["status"] = new_status
        changed["status"] = {"from": status, "to": new_status}
        status = new_status
        entries.append({"kind": "status", "at": now, "status": status, "deadline": deadline, "note": log_note})
    else:
        if reason is not None:
            raise InvalidInput("escalation_reason goes with status escalated", field="escalation_reason")
        if note is not None or photo_ids:
            raise InvalidInput("closing evidence goes with status closed", field="closing_note")

    if sets:
        assignments = ", ".join(f"{k} = :{k}" for k in sets)
        await db.execute(f"UPDATE hazards SET {assignments}, updated_at = :now WHERE id = :id",
                         {**sets, "id": hazard_id, "now": now})
    if entries:
        await _log(db, hazard_id=hazard_id, caller=caller, now=now, entries=entries)
    if changed:
        await audit.record(db, caller=caller, entity="hazard", entity_id=hazard_id, action="update",
                           jurisdiction_code=row["jurisdiction_code"], changes=changed)
    return await get(db, caller=caller, hazard_id=hazard_id, now=now)


# --- lists ------------------------------------------------------------------------------------------------

@dataclass
class HazardFilter:
    jurisdiction_code: str | None = None
    school_id: uuid.UUID | None = None
    status: str | None = None
    category: str | None = None
    severity: str | None = None
    overdue: bool | None = None
    from_: datetime | None = None
    to: datetime | None = None


def filter_sql(f: HazardFilter, *, scope: str, now: datetime) -> tuple[list[str], dict[str, Any]]:
    """The conditions (on `h` and `j`) and parameters selecting the hazards a filter keeps inside `scope`."""
    if f.status is not None and f.status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
    if f.category is not None and f.category not in CATEGORIES:
        raise InvalidInput(f"category must be one of {', '.join(CATEGORIES)}", field="category")
    if f.severity is not None and f.severity not in SEVERITIES:
        raise InvalidInput(f"severity must be one of {', '.join(SEVERITIES)}", field="severity")
    where = ["j.path <@ CAST(:scope AS ltree)"]
    params: dict[str, Any] = {"scope": scope}
    for column, value in (("school_id", f.school_id), ("status", f.status), ("category", f.category),
                          ("severity", f.severity)):
        if value is not None:
            where.append(f"h.{column} = :{column}")
            params[column] = value
    if f.overdue is not None:
        where.append(("" if f.overdue else "NOT ") + "(h.status <> 'closed' AND h.deadline < :now)")
        params["now"] = now
    if f.from_ is not None:
        where.append("h.found_at >= :from_")
        params["from_"] = f.from_
    if f.to is not None:
        where.append("h.found_at < :to")
        params["to"] = f.to
    return where, params


async def list_page(db: Db, *, caller: Caller, f: HazardFilter, limit: int, cursor: str | None,
                    now: datetime) -> tuple[list[dict], str | None]:
    """Hazards in the caller's jurisdictions, most recently found first (keyset on found_at, id)."""
    after = decode_time_id_cursor(cursor)
    scope = await jurisdictions.narrowed_scope(db, caller=caller, code=f.jurisdiction_code)
    where, params = filter_sql(f, scope=scope, now=now)
    if after:
        params.update(after_at=after[0], after_id=after[1])
        where.append("(h.found_at, h.id) < (:after_at, :after_id)")
    params["limit_plus_one"] = limit + 1
    rows = await db.fetch(f"""
        SELECT {COLUMNS} {FROM}
        WHERE {" AND ".join(where)}
        ORDER BY h.found_at DESC, h.id DESC
        LIMIT :limit_plus_one
    """, params)
    items = [_out(r, now=now) for r in rows]
    return page_of(items, limit=limit, key=lambda r: [r["found_at"].isoformat(), str(r["id"])])


# --- overdue sweep ----------------------------------------------------------------------------------------

OVERDUE = Query("""
    WITH due AS (
        SELECT id FROM hazards
        WHERE status <> 'closed' AND deadline < :now AND overdue_notified_at IS NULL
        ORDER BY deadline, id
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    )
    UPDATE hazards h SET overdue_notified_at = :now
    FROM due WHERE h.id = due.id
    RETURNING h.id, h.jurisdiction_code, h.school_id, h.category, h.severity, h.status, h.found_at, h.deadline,
              h.responsible_unit, CAST(ST_AsGeoJSON(h.location, 7) AS json) AS location
""")


async def sweep_overdue(db: Db, now: datetime, *, batch: int = OVERDUE_SWEEP_BATCH) -> list[dict]:
    """Mark hazards whose deadline passed while not closed, and publish one `hazard.overdue` event for each
    (at most `batch` per sweep; the rest on the next). Run it once per cluster (the leader's loop)."""
    rows = [dict(r) for r in await db.fetch(OVERDUE, {"now": now, "batch": batch})]
    await publish(db, [Event("hazard.overdue", r["jurisdiction_code"], {
        **{k: (v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, uuid.UUID) else v)
           for k, v in r.items()}, "overdue": True}) for r in rows])
    return rows


# --- figures for reports ------------------------------------------------------------------------------------

# Each hazard's state as of :as_of comes from its log rows written by then (the log is append-only), so the
# same (scope, period, as_of) always gives the same figures, whatever was written later.
FIGURES = Query("""
    WITH state AS (
        SELECT h.school_id, h.jurisdiction_code, h.found_at, last.status, last.deadline, closing.at AS closed_at
        FROM hazards h
        JOIN jurisdictions j ON j.code = h.jurisdiction_code
        CROSS JOIN LATERAL (
            SELECT l.status, l.deadline FROM hazard_log l
            WHERE l.hazard_id = h.id AND l.recorded_at <= :as_of
            ORDER BY l.recorded_at DESC, l.id DESC LIMIT 1
        ) last
        LEFT JOIN LATERAL (
            SELECT l.at FROM hazard_log l
            WHERE l.hazard_id = h.id AND l.recorded_at <= :as_of AND l.status = 'closed'
            ORDER BY l.recorded_at, l.id LIMIT 1
        ) closing ON true
        WHERE j.path <@ CAST(:scope AS ltree) AND h.found_at < :end AND h.created_at <= :as_of
    ),
    figures AS (
        SELECT school_id, jurisdiction_code,
               count(*) FILTER (WHERE found_at >= :start) AS found,
               count(*) FILTER (WHERE closed_at >= :start AND closed_at < :end) AS closed,
               count(*) FILTER (WHERE found_at >= :start AND status = 'closed') AS found_and_closed,
               count(*) FILTER (WHERE status <> 'closed') AS open,
               count(*) FILTER (WHERE status <> 'closed' AND deadline < :as_of) AS overdue,
               count(*) FILTER (WHERE status = 'escalated') AS escalated
        FROM state GROUP BY school_id, jurisdiction_code
    )
    SELECT s.id AS school_id, s.name AS school_name, s.jurisdiction_code,
           COALESCE(f.found, 0) AS found, COALESCE(f.closed, 0) AS closed,
           COALESCE(f.found_and_closed, 0) AS found_and_closed, COALESCE(f.open, 0) AS open,
           COALESCE(f.overdue, 0) AS overdue, COALESCE(f.escalated, 0) AS escalated
    FROM schools s
    JOIN jurisdictions j ON j.code = s.jurisdiction_code
    LEFT JOIN figures f ON f.school_id = s.id
    WHERE j.path <@ CAST(:scope AS ltree) AND s.created_at <= :as_of
      AND (s.deleted_at IS NULL OR s.deleted_at > :as_of OR f.school_id IS NOT NULL)
    UNION ALL
    SELECT NULL, NULL, f.jurisdiction_code, f.found, f.closed, f.found_and_closed, f.open, f.overdue, f.escalated
    FROM figures f WHERE f.school_id IS NULL
    ORDER BY jurisdiction_code, school_name NULLS LAST, school_id
""")


async def report_figures(db: Db, *, scope_path: str, start: datetime, end: datetime,
                         as_of: datetime) -> list[dict]:
    """Hazard figures per school in the jurisdiction subtree `scope_path` for the period [start, end), as the
    ledger stood at `as_of` (only what was written by then counts, so the answer never changes later):

    - `found`: hazards found in the period;
    - `closed`: hazards closed in the period (whenever found);
    - `found_and_closed`: of those found in the period, how many were closed by `as_of`;
    - `open`: hazards found before the end of the period and not closed as of `as_of`;
    - `overdue`: of those, how many were past their deadline (as it stood) at `as_of`;
    - `escalated`: of those, how many were escalated.

    One row per school in scope (zeros included), plus one row per jurisdiction with `school_id` None for
    hazards outside every school zone."""
    rows = await db.fetch(FIGURES, {"scope": scope_path, "start": start, "end": end, "as_of": as_of})
    return [dict(r) for r in rows]

