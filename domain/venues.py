"""Venues near schools (internet cafés, game halls, KTV, inns, rentals, ...) and their inspections (场所检查).

Rules:

1. A venue has a name, a known kind and a location (any `crs`, stored WGS-84). It is placed against the zones of
   the caller's schools when it is registered: `zone_school_ids` are the schools whose zone holds it (nearest
   first), `school_id` the nearest of them. A venue in no zone is allowed but flagged `outside_zone`.
   `jurisdiction_code` is the given one (in the caller's scope), else the nearest zone school's, else the
   caller's. A venue's location is fixed once registered (so figures already reported stay as they were): to
   move one, close it and register it anew.
2. Status: operating, suspended (停业整顿), closed (关停; final, 409 after). Closing stamps `closed_at`.
3. An inspection has when it happened (at most 120 s in the future), who inspected, findings, violations and
   actions (warning, fine, closure, rectification order); a fine amount goes with the `fine` action; a follow-up
   date is not before the inspection's day. An inspection of a venue outside every zone is recorded and flagged
   `outside_zone`.
4. Figures as of a moment read only rows written by then (`created_at`, `closed_at` are server times).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from shapely.geometry import Point

from domain import audit, jurisdictions
from domain.callers import Caller, Role
from domain.database import Db, Query
from domain.errors import Conflict, InvalidInput, NotFound
from domain.hazards import display_name
from domain.locations import wkb
from domain.paging import decode_time_id_cursor, page_of
from domain.zones import in_zone_schools_sql

KINDS = {
    "internet_cafe": "网吧",
    "game_hall": "游戏厅、游艺娱乐场所",
    "ktv": "KTV、歌舞娱乐场所",
    "hotel": "宾馆、酒店",
    "small_inn": "小旅馆、民宿",
    "rental_housing": "出租房屋",
    "esports_hotel": "电竞酒店",
    "script_escape_room": "剧本杀、密室逃脱",
    "food_stall": "小餐饮、流动摊点",
    "publication_seller": "出版物销售点",
    "other": "其他",
}
STATUSES = {"operating": "营业", "suspended": "停业整顿", "closed": "关停"}
ACTIONS = {"warning": "警告", "fine": "罚款", "closure": "责令停业、关停", "rectification_order": "责令整改"}
FUTURE_TOLERANCE_S = 120
VIOLATIONS_MAX = 20
VIOLATION_MAX_LEN = 200
FINE_MAX_YUAN = Decimal("9999999999.99")


def _text(value: Any, *, field: str, max_len: int, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(f"{field} is required", field=field)
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise InvalidInput(f"{field} must be text of at most {max_len} characters", field=field)
    return value.strip()


@dataclass
class VenueInput:
    name: str
    kind: str
    location: Point
    crs: str = "wgs84"
    address: str | None = None
    operator_name: str | None = None
    licence_no: str | None = None
    phone: str | None = None
    note: str | None = None
    jurisdiction_code: str | None = None
    external_ref: str | None = None
    status: str = "operating"


def check_venue(v: VenueInput) -> VenueInput:
    """A name, a known kind and status; optional texts within their lengths."""
    v.name = _text(v.name, field="name", max_len=200, required=True)
    if v.kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", field="kind")
    if v.status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
    for name, max_len in (("address", 500), ("operator_name", 200), ("licence_no", 100), ("phone", 32),
                          ("note", 2000), ("external_ref", 100)):
        setattr(v, name, _text(getattr(v, name), field=name, max_len=max_len))
    return v


@dataclass
class InspectionInput:
    inspected_at: datetime
    inspector_name: str | None = None
    findings: str | None = None
    violations: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    fine_yuan: Any = None
    follow_up_on: date | None = None


def check_inspection(i: InspectionInput, *, now: datetime, time_zone: str) -> InspectionInput:
    """An aware `inspected_at` at most 120 s in the future; known actions; a fine only with the `fine` action,
    0 or more yuan; a follow-up day not before the inspection's day (in the jurisdiction's time zone)."""
    if not isinstance(i.inspected_at, datetime) or i.inspected_at.tzinfo is None:
        raise InvalidInput("inspected_at needs a date and time with a UTC offset", field="inspected_at")
    if i.inspected_at > now + timedelta(seconds=FUTURE_TOLERANCE_S):
        raise InvalidInput("inspected_at lies in the future", field="inspected_at")
    i.inspector_name = _text(i.inspector_name, field="inspector_name", max_len=200)
    i.findings = _text(i.findings, field="findings", max_len=4000)
    if len(i.violations) > VIOLATIONS_MAX:
        raise InvalidInput(f"at most {VIOLATIONS_MAX} violations", field="violations")
    cleaned = []
    for n, v in enumerate(i.violations):
        text = _text(v, field=f"violations.{n}", max_len=VIOLATION_MAX_LEN, required=True)
        cleaned.append(text)
    i.violations = cleaned
    for n, a in enumerate(i.actions):
        if a not in ACTIONS:
            raise InvalidInput(f"actions must be among {', '.join(ACTIONS)}", field=f"actions.{n}")
    i.actions = list(dict.fromkeys(i.actions))
    if i.fine_yuan is not None:
        try:
            fine = Decimal(str(i.fine_yuan))
        except (InvalidOperation, ValueError) as exc:
            raise InvalidInput("fine_yuan must be a number of yuan", field="fine_yuan") from exc
        if not fine.is_finite() or fine < 0 or fine > FINE_MAX_YUAN:
            raise InvalidInput("fine_yuan must be between 0 and 9,999,999,999.99", field="fine_yuan")
        if "fine" not in i.actions:
            raise InvalidInput("fine_yuan goes with the action `fine`", field="fine_yuan")
        i.fine_yuan = fine.quantize(Decimal("0.01"))
    if i.follow_up_on is not None:
        day = i.inspected_at.astimezone(ZoneInfo(time_zone)).date()
        if i.follow_up_on < day:
            raise InvalidInput("follow_up_on lies before the inspection's day", field="follow_up_on")
    return i


# --- venues -----------------------------------------------------------------------------------------------

COLUMNS = """
    v.id, v.jurisdiction_code, v.name, v.kind, v.address, CAST(ST_AsGeoJSON(v.location, 7) AS json) AS location,
    v.crs, v.school_id, s.name AS school_name, v.zone_school_ids, v.flags, v.operator_name, v.licence_no, v.phone,
    v.status, v.closed_at, v.note, v.external_ref, v.created_by, v.created_at, v.updated_at,
    (SELECT max(i.inspected_at) FROM venue_inspections i WHERE i.venue_id = v.id) AS last_inspected_at,
    j.path::text AS path, j.time_zone
"""
FROM = """
    FROM venues v
    JOIN jurisdictions j ON j.code = v.jurisdiction_code
    LEFT JOIN schools s ON s.id = v.school_id
"""


def _out(row: Any) -> dict:
    r = dict(row)
    r.pop("path", None)
    r.pop("time_zone", None)
    r["flags"] = list(r["flags"] or [])
    r["zone_school_ids"] = list(r["zone_school_ids"] or [])
    r["outside_zone"] = not r["zone_school_ids"]
    return r


async def fetch(db: Db, *, caller: Caller, venue_id: uuid.UUID, lock: bool = False) -> dict:
    """The venue row; outside the caller's jurisdictions it does not exist (404)."""
    row = await db.fetchrow(f"SELECT {COLUMNS} {FROM} WHERE v.id = :id {'FOR UPDATE OF v' if lock else ''}",
                            {"id": venue_id})
    if row is None or not caller.sees_path(row["path"]):
        raise NotFound(f"no venue {venue_id}")
    return dict(row)


async def get(db: Db, *, caller: Caller, venue_id: uuid.UUID) -> dict:
    return _out(await fetch(db, caller=caller, venue_id=venue_id))


INSERT = Query(f"""
    WITH p AS (SELECT CAST(ST_GeomFromWKB(:location, 4326) AS geography) AS g),
    zone AS (
        SELECT z.id, z.distance_m, s.jurisdiction_code
        FROM p CROSS JOIN LATERAL ({in_zone_schools_sql("p.g", nearest_first=False)}) z
        JOIN schools s ON s.id = z.id
        JOIN jurisdictions j ON j.code = s.jurisdiction_code
        WHERE j.path <@ CAST(:scope AS ltree)
    ),
    home AS (SELECT id, jurisdiction_code FROM zone ORDER BY distance_m, id LIMIT 1)
    INSERT INTO venues AS v (id, jurisdiction_code, name, kind, address, location, crs, school_id, zone_school_ids,
                             flags, operator_name, licence_no, phone, status, closed_at, note, external_ref,
                             created_by, body_hash, created_at, updated_at)
    SELECT :id, COALESCE(CAST(:jurisdiction_code AS varchar), (SELECT jurisdiction_code FROM home), :caller_code),
           :name, :kind, :address, p.g, :crs, (SELECT id FROM home),
           ARRAY(SELECT id FROM zone ORDER BY distance_m, id),
           CASE WHEN EXISTS (SELECT 1 FROM zone) THEN CAST('{{}}' AS text[]) ELSE ARRAY['outside_zone'] END,
           :operator_name, :licence_no, :phone, CAST(:status AS varchar),
           CASE WHEN CAST(:status AS varchar) = 'closed' THEN CAST(:now AS timestamptz) END, :note, :external_ref, :created_by,
           :body_hash, :now, :now
    FROM p
    ON CONFLICT (id) DO NOTHING
    RETURNING v.id, v.jurisdiction_code, v.flags
""")


async def create(db: Db, *, caller: Caller, venue: VenueInput, client_id: uuid.UUID | None,
                 request_hash: bytes | None, now: datetime) -> tuple[dict, bool]:
    """Register a venue (officers, commanders, admins); answers (venue, created)."""
    caller.require(Role.officer, Role.commander)
    check_venue(venue)
    if venue.jurisdiction_code is not None:
        await jurisdictions.in_scope(db, caller=caller, code=venue.jurisdiction_code)
    venue_id = client_id or uuid.uuid4()
    inserted = await db.fetchrow(INSERT, {
        "id": venue_id, "location": wkb(venue.location), "scope": caller.scope_path,
        "jurisdiction_code": venue.jurisdiction_code, "caller_code": caller.jurisdiction_code, "name": venue.name,
        "kind": venue.kind, "address": venue.address, "crs": venue.crs, "operator_name": venue.operator_name,
        "licence_no": venue.licence_no, "phone": venue.phone, "status": venue.status, "note": venue.note,
        "external_ref": venue.external_ref, "created_by": caller.user_id, "body_hash": request_hash, "now": now,
    })
    if inserted is None:
        stored = await db.fetchrow("""
            SELECT v.body_hash, j.path::text AS path FROM venues v JOIN jurisdictions j ON j.code = v.jurisdiction_code
            WHERE v.id = :id
        """, {"id": venue_id})
        if (stored is None or request_hash is None or stored["body_hash"] != request_hash
                or not caller.sees_path(stored["path"])):
            raise Conflict(f"venue id {venue_id} was already used with another body", field="id")
        return await get(db, caller=caller, venue_id=venue_id), False
    await audit.record(db, caller=caller, entity="venue", entity_id=venue_id, action="create",
                       jurisdiction_code=inserted["jurisdiction_code"],
                       changes={"name": venue.name, "kind": venue.kind, "flags": list(inserted["flags"])})
    return await get(db, caller=caller, venue_id=venue_id), True


EDITABLE = {"name", "kind", "address", "operator_name", "licence_no", "phone", "note", "status"}


async def update(db: Db, *, caller: Caller, venue_id: uuid.UUID, changes: dict[str, Any], now: datetime) -> dict:
    """Edit a venue's particulars or status (officers, commanders, admins); a closed venue never changes."""
    caller.require(Role.officer, Role.commander)
    unknown = set(changes) - EDITABLE
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    row = await fetch(db, caller=caller, venue_id=venue_id, lock=True)
    if row["status"] == "closed":
        if set(changes) <= {"status"} and changes.get("status") in (None, "closed"):
            return _out(row)
        raise Conflict("the venue is closed; it cannot change (register a new one)", field=sorted(changes)[0])
    merged = VenueInput(name=row["name"], kind=row["kind"], location=Point(0, 0), address=row["address"],
                        operator_name=row["operator_name"], licence_no=row["licence_no"], phone=row["phone"],
                        note=row["note"], status=row["status"])
    for k, v in changes.items():
        if v is None and k in ("name", "kind", "status"):
            raise InvalidInput(f"{k} cannot be removed", field=k)
        setattr(merged, k, v)
    check_venue(merged)
    sets = {k: getattr(merged, k) for k in changes if getattr(merged, k) != row[k]}
    if sets.get("status") == "closed":
        sets["closed_at"] = now
    if sets:
        assignments = ", ".join(f"{k} = :{k}" for k in sets)
        await db.execute(f"UPDATE venues SET {assignments}, updated_at = :now WHERE id = :id",
                         {**sets, "id": venue_id, "now": now})
        await audit.record(db, caller=caller, entity="venue", entity_id=venue_id, action="update",
                           jurisdiction_code=row["jurisdiction_code"], changes=sets)
    return await get(db, caller=caller, venue_id=venue_id)


@dataclass
class VenueFilter:
    jurisdiction_code: str | None = None
    school_id: uuid.UUID | None = None
    kind: str | None = None
    status: str | None = None
    outside_zone: bool | None = None
    not_inspected_since: datetime | None = None
    not_inspected_until: datetime | None = None
    q: str | None = None


async def list_page(db: Db, *, caller: Caller, f: VenueFilter, limit: int,
                    cursor: str | None) -> tuple[list[dict], str | None]:
    """Venues in the caller's jurisdictions, newest registered first (keyset on created_at, id). `school_id`
    keeps those in that school's zone; `not_inspected_since` those with no inspection since then."""
    if f.kind is not None and f.kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", field="kind")
    if f.status is not None and f.status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
    after = decode_time_id_cursor(cursor)
    scope = await jurisdictions.narrowed_scope(db, caller=caller, code=f.jurisdiction_code)
    where = ["j.path <@ CAST(:scope AS ltree)"]
    params: dict[str, Any] = {"scope": scope, "limit_plus_one": limit + 1}
    if f.school_id is not None:
        where.append("v.zone_school_ids @> ARRAY[CAST(:school_id AS uuid)]")
        params["school_id"] = f.school_id
    for column, value in (("kind", f.kind), ("status", f.status)):
        if value is not None:
            where.append(f"v.{column} = :{column}")
            params[column] = value
    if f.outside_zone is not None:
        where.append(("" if f.outside_zone else "NOT ") + "(cardinality(v.zone_school_ids) = 0)")
    if f.not_inspected_since is not None:
        where.append("NOT EXISTS (SELECT 1 FROM venue_inspections i WHERE i.venue_id = v.id "
                     "AND i.inspected_at >= :since AND (CAST(:until AS timestamptz) IS NULL OR i.inspected_at < :until))")
        params.update(since=f.not_inspected_since, until=f.not_inspected_until)
    if f.q:
        where.append("v.name ILIKE '%' || :q || '%'")
        params["q"] = f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if after:
        params.update(after_at=after[0], after_id=after[1])
        where.append("(v.created_at, v.id) < (:after_at, :after_id)")
    rows = await db.fetch(f"""
        SELECT {COLUMNS} {FROM}
        WHERE {" AND ".join(where)}
        ORDER BY v.created_at DESC, v.id DESC
        LIMIT :limit_plus_one
    """, params)
    return page_of([_out(r) for r in rows], limit=limit, key=lambda r: [r["created_at"].isoformat(), str(r["id"])])


# --- inspections --------------------------------------------------------------------------------------------

INSPECTION_COLUMNS = """
    i.id, i.venue_id, v.name AS venue_name, v.kind AS venue_kind, i.jurisdiction_code, i.inspected_at,
    i.inspector_id, i.inspector_name, i.findings, i.violations, i.actions, i.fine_yuan, i.follow_up_on, i.flags,
    i.created_by, i.created_at
"""


def _inspection_out(row: Any) -> dict:
    r = dict(row)
    r.pop("path", None)
    r["violations"] = list(r["violations"] or [])
    r["actions"] = list(r["actions"] or [])
    r["flags"] = list(r["flags"] or [])
    if r["fine_yuan"] is not None:
        r["fine_yuan"] = float(r["fine_yuan"])
    return r


async def get_inspection(db: Db, *, caller: Caller, inspection_id: uuid.UUID) -> dict:
    row = await db.fetchrow(f"""
        SELECT {INSPECTION_COLUMNS}, j.path::text AS path
        FROM venue_inspections i JOIN venues v ON v.id = i.venue_id
        JOIN jurisdictions j ON j.code = i.jurisdiction_code
        WHERE i.id = :id
    """, {"id": inspection_id})
    if row is None or not caller.sees_path(row["path"]):
        raise NotFound(f"no inspection {inspection_id}")
    return _inspection_out(row)


INSERT_INSPECTION = Query("""
    INSERT INTO venue_inspections (id, venue_id, jurisdiction_code, inspected_at, inspector_id, inspector_name,
                                   findings, violations, actions, fine_yuan, follow_up_on, flags, created_by,
                                   body_hash, created_at)
    VALUES (:id, :venue_id, :jurisdiction_code, :inspected_at, :inspector_id, :inspector_name, :findings,
            CAST(:violations AS text[]), CAST(:actions AS text[]), CAST(:fine AS numeric), :follow_up_on,
            CAST(:flags AS text[]), :created_by, :body_hash, :now)
    ON CONFLICT (id) DO NOTHING
    RETURNING id
""")


async def record_inspection(db: Db, *, caller: Caller, venue_id: uuid.UUID, inspection: InspectionInput,
                            client_id: uuid.UUID | None, request_hash: bytes | None,
                            now: datetime) -> tuple[dict, bool]:
    """Record an inspection of a venue in the caller's scope (officers, commanders, admins); answers
    (inspection, created). The inspector is the caller unless another name is given."""
    caller.require(Role.officer, Role.commander)
    venue = await fetch(db, caller=caller, venue_id=venue_id)
    check_inspection(inspection, now=now, time_zone=venue["time_zone"])
    inspection_id = client_id or uuid.uuid4()
    flags = ["outside_zone"] if not venue["zone_school_ids"] else []
    inserted = await db.fetchval(INSERT_INSPECTION, {
        "id": inspection_id, "venue_id": venue_id, "jurisdiction_code": venue["jurisdiction_code"],
        "inspected_at": inspection.inspected_at, "inspector_id": caller.user_id,
        "inspector_name": inspection.inspector_name or await display_name(db, caller),
        "findings": inspection.findings, "violations": inspection.violations, "actions": inspection.actions,
        "fine": str(inspection.fine_yuan) if inspection.fine_yuan is not None else None,
        "follow_up_on": inspection.follow_up_on, "flags": flags, "created_by": caller.user_id,
        "body_hash": request_hash, "now": now,
    })
    if inserted is None:
        stored = await db.fetchrow("SELECT body_hash, venue_id FROM venue_inspections WHERE id = :id",
                                   {"id": inspection_id})
        if (stored is None or request_hash is None or stored["body_hash"] != request_hash
                or stored["venue_id"] != venue_id):
            raise Conflict(f"inspection id {inspection_id} was already used with another body", field="id")
        return await get_inspection(db, caller=caller, inspection_id=inspection_id), False
    await audit.record(db, caller=caller, entity="venue_inspection", entity_id=inspection_id, action="create",
                       jurisdiction_code=venue["jurisdiction_code"],
                       changes={"venue_id": venue_id, "actions": inspection.actions, "flags": flags})
    return await get_inspection(db, caller=caller, inspection_id=inspection_id), True


@dataclass
class InspectionFilter:
    jurisdiction_code: str | None = None
    venue_id: uuid.UUID | None = None
    school_id: uuid.UUID | None = None
    action: str | None = None
    from_: datetime | None = None
    to: datetime | None = None


async def list_inspections(db: Db, *, caller: Caller, f: InspectionFilter, limit: int,
                           cursor: str | None) -> tuple[list[dict], str | None]:
    """Inspections in the caller's jurisdictions, newest first (keyset on inspected_at, id)."""
    if f.action is not None and f.action not in ACTIONS:
        raise InvalidInput(f"action must be one of {', '.join(ACTIONS)}", field="action")
    after = decode_time_id_cursor(cursor)
    scope = await jurisdictions.narrowed_scope(db, caller=caller, code=f.jurisdiction_code)
    where = ["j.path <@ CAST(:scope AS ltree)"]
    params: dict[str, Any] = {"scope": scope, "limit_plus_one": limit + 1}
    if f.venue_id is not None:
        where.append("i.venue_id = :venue_id")
        params["venue_id"] = f.venue_id
    if f.school_id is not None:
        where.append("v.zone_school_ids @> ARRAY[CAST(:school_id AS uuid)]")
        params["school_id"] = f.school_id
    if f.action is not None:
        where.append("i.actions @> ARRAY[CAST(:action AS text)]")
        params["action"] = f.action
    if f.from_ is not None:
        where.append("i.inspected_at >= :from_")
        params["from_"] = f.from_
    if f.to is not None:
        where.append("i.inspected_at < :to")
        params["to"] = f.to
    if after:
        params.update(after_at=after[0], after_id=after[1])
        where.append("(i.inspected_at, i.id) < (:after_at, :after_id)")
    rows = await db.fetch(f"""
        SELECT {INSPECTION_COLUMNS}
        FROM venue_inspections i JOIN venues v ON v.id = i.venue_id
        JOIN jurisdictions j ON j.code = i.jurisdiction_code
        WHERE {" AND ".join(where)}
        ORDER BY i.inspected_at DESC, i.id DESC
        LIMIT :limit_plus_one
    """, params)
    return page_of([_inspection_out(r) for r in rows], limit=limit,
                   key=lambda r: [r["inspected_at"].isoformat(), str(r["id"])])


# --- figures for reports ------------------------------------------------------------------------------------

# Only rows written by :as_of count (venues.created_at, closed_at and venue_inspections.created_at are server
# times of the writes), so the same (scope, period, as_of) always gives the same figures.
FIGURES = Query("""
    WITH live AS (
        SELECT v.id, v.jurisdiction_code, v.zone_school_ids
        FROM venues v JOIN jurisdictions j ON j.code = v.jurisdiction_code
        WHERE j.path <@ CAST(:scope AS ltree) AND v.created_at <= :as_of
          AND NOT (v.closed_at IS NOT NULL AND v.closed_at <= :as_of AND v.closed_at < :start)
    ),
    inspected AS (
        SELECT i.venue_id, count(*) AS inspections,
               bool_or(cardinality(i.violations) > 0) AS with_violations,
               count(*) FILTER (WHERE 'warning' = ANY(i.actions)) AS warnings,
               count(*) FILTER (WHERE 'fine' = ANY(i.actions)) AS fines,
               count(*) FILTER (WHERE 'closure' = ANY(i.actions)) AS closures,
               count(*) FILTER (WHERE 'rectification_order' = ANY(i.actions)) AS rectification_orders
        FROM venue_inspections i JOIN live ON live.id = i.venue_id
        WHERE i.inspected_at >= :start AND i.inspected_at < :end AND i.created_at <= :as_of
        GROUP BY i.venue_id
    ),
    placed AS (
        SELECT z.school_id, live.jurisdiction_code, live.id
        FROM live CROSS JOIN LATERAL unnest(
            CASE WHEN cardinality(live.zone_school_ids) = 0 THEN ARRAY[CAST(NULL AS uuid)]
                 ELSE live.zone_school_ids END) AS z(school_id)
    ),
    figures AS (
        SELECT p.school_id, CASE WHEN p.school_id IS NULL THEN p.jurisdiction_code END AS outside_code,
               count(*) AS venues, count(x.venue_id) AS inspected,
               count(*) - count(x.venue_id) AS not_inspected,
               COALESCE(sum(x.inspections), 0) AS inspections,
               count(*) FILTER (WHERE x.with_violations) AS with_violations,
               COALESCE(sum(x.warnings), 0) AS warnings, COALESCE(sum(x.fines), 0) AS fines,
               COALESCE(sum(x.closures), 0) AS closures,
               COALESCE(sum(x.rectification_orders), 0) AS rectification_orders
        FROM placed p LEFT JOIN inspected x ON x.venue_id = p.id
        GROUP BY 1, 2
    )
    SELECT s.id AS school_id, s.name AS school_name, s.jurisdiction_code,
           COALESCE(f.venues, 0) AS venues, COALESCE(f.inspected, 0) AS inspected,
           COALESCE(f.not_inspected, 0) AS not_inspected, COALESCE(f.inspections, 0) AS inspections,
           COALESCE(f.with_violations, 0) AS with_violations, COALESCE(f.warnings, 0) AS warnings,
           COALESCE(f.fines, 0) AS fines, COALESCE(f.closures, 0) AS closures,
           COALESCE(f.rectification_orders, 0) AS rectification_orders
    FROM schools s
    JOIN jurisdictions j ON j.code = s.jurisdiction_code
    LEFT JOIN figures f ON f.school_id = s.id
    WHERE j.path <@ CAST(:scope AS ltree) AND s.created_at <= :as_of
      AND (s.deleted_at IS NULL OR s.deleted_at > :as_of OR f.school_id IS NOT NULL)
    UNION ALL
    SELECT NULL, NULL, f.outside_code, f.venues, f.inspected, f.not_inspected, f.inspections, f.with_violations,
           f.warnings, f.fines, f.closures, f.rectification_orders
    FROM figures f WHERE f.school_id IS NULL
    ORDER BY jurisdiction_code, school_name NULLS LAST, school_id
""")


async def report_figures(db: Db, *, scope_path: str, start: datetime, end: datetime,
                         as_of: datetime) -> list[dict]:
    """Venue-inspection figures per school in the jurisdiction subtree `scope_path` for the period [start, end),
    as the ledger stood at `as_of`:

    - `venues`: venues in the school's zone registered by `as_of` and not closed before the period (a venue in
      two schools' zones counts for each);
    - `inspected` / `not_inspected`: of those, with / without an inspection in the period;
    - `inspections`: inspections in the period; `with_violations`: venues found with a violation;
    - `warnings`, `fines`, `closures`, `rectification_orders`: inspections in the period with that action.

    One row per school in scope (zeros included), plus one row per jurisdiction with `school_id` None for venues
    outside every school zone."""
    rows = await db.fetch(FIGURES, {"scope": scope_path, "start": start, "end": end, "as_of": as_of})
    return [dict(r) for r in rows]
