"""Incidents (警情) near schools: reporting with the zone decision made in the INSERT, the status lifecycle,
filtered keyset lists, and the incident's 1/3/5 score as seen now.

Rules:

1. An incident is placed against the school zones in the same statement that stores it: `in_zone` is True when
   some school's zone (its boundary buffered by its `zone_radius_m`) holds the point, `zone_school_ids` are those
   schools nearest first, and `nearest_school` is the nearest school boundary within 20 km whether or not its
   zone holds the point. These are facts of geography, decided over every school, not only the caller's.
2. `jurisdiction_code` defaults to the jurisdiction of the nearest zone school that lies in the caller's scope,
   else the caller's own; a given one must lie in the caller's scope.
3. `alarm_at` may not lie more than `ALARM_FUTURE_TOLERANCE_S` (120 s) after the server clock.
4. A client `id` makes the report idempotent: the same id with the same body answers the incident as it is now
   (200); the same id with another body is a conflict (409).
5. Status only moves forward along open → dispatched → on_scene → controlled → closed. Skipping stages is
   allowed (a false alarm goes open → closed); each transition stamps its own timestamp, skipped stages keep
   none. Moving backwards, or changing a closed incident, is a conflict (409); setting the current status again
   changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shapely.geometry import Point

from domain import audit, jurisdictions, policies, tier_misses
from domain.callers import Caller, Role
from domain.database import Db, Query
from domain.errors import Conflict, InvalidInput, NotFound
from domain.events import Event, publish
from domain.locations import bbox_condition, wkb
from domain.paging import decode_time_id_cursor, page_of
from domain.scoring import Arrival, Score, score_response
from domain.zones import NEAREST_SEARCH_M, in_zone_schools_sql

CATEGORIES = (
    "suspicious_person", "weapons", "violence", "bullying", "school_disturbance", "fraud", "traffic",
    "food_safety", "vice_gambling_drugs", "theft_robbery", "dispute", "key_person", "other",
)
SOURCES = ("call_110", "one_button_alarm", "patrol", "school_report", "other")
STATUSES = ("open", "dispatched", "on_scene", "controlled", "closed")
STATUS_RANK = {s: i for i, s in enumerate(STATUSES)}
STATUS_STAMP = {"dispatched": "dispatched_at", "on_scene": "on_scene_at", "controlled": "controlled_at",
                "closed": "closed_at"}
SEVERITY_MIN, SEVERITY_MAX = 1, 4
ALARM_FUTURE_TOLERANCE_S = 120
DESCRIPTION_MAX_LEN = 4000


@dataclass
class IncidentInput:
    """An incident as a client reports it (location already WGS-84)."""

    category: str
    severity: int
    source: str
    alarm_at: datetime
    location: Point
    crs: str = "wgs84"
    description: str | None = None
    jurisdiction_code: str | None = None


def body_hash(body: dict[str, Any]) -> bytes:
    """SHA-256 of the body as canonical JSON: the same request always hashes the same, whatever its layout."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str,
                                     ensure_ascii=False).encode()).digest()


def check_incident(i: IncidentInput, *, now: datetime) -> IncidentInput:
    """Known category and source, severity 1–4, an aware `alarm_at` at most 120 s in the future."""
    if i.category not in CATEGORIES:
        raise InvalidInput(f"category must be one of {', '.join(CATEGORIES)}", field="category")
    if i.source not in SOURCES:
        raise InvalidInput(f"source must be one of {', '.join(SOURCES)}", field="source")
    if isinstance(i.severity, bool) or not isinstance(i.severity, int) or not SEVERITY_MIN <= i.severity <= SEVERITY_MAX:
        raise InvalidInput(f"severity must be an integer {SEVERITY_MIN}–{SEVERITY_MAX}", field="severity")
    if i.alarm_at.tzinfo is None:
        raise InvalidInput("alarm_at needs a UTC offset", field="alarm_at")
    if i.alarm_at > now + timedelta(seconds=ALARM_FUTURE_TOLERANCE_S):
        raise InvalidInput(f"alarm_at lies in the future (more than {ALARM_FUTURE_TOLERANCE_S} s after the "
                           "server clock)", field="alarm_at")
    if i.description is not None and len(i.description) > DESCRIPTION_MAX_LEN:
        raise InvalidInput(f"description must be at most {DESCRIPTION_MAX_LEN} characters", field="description")
    return i


# --- reading -------------------------------------------------------------------------------------------

COLUMNS = """
    i.id, i.jurisdiction_code, i.category, i.severity, i.source, i.description,
    CAST(ST_AsGeoJSON(i.location, 7) AS json) AS location, i.crs, i.alarm_at, i.received_at,
    i.in_zone, i.zone_school_ids, i.nearest_school_id, ns.name AS nearest_school_name,
    i.nearest_school_distance_m, i.status, i.dispatched_at, i.on_scene_at, i.controlled_at, i.closed_at,
    i.policy_key, i.created_by, i.created_at, i.updated_at, sc.tiers AS score_tiers, j.path::text AS path
"""
FROM = """
    FROM incidents i
    JOIN jurisdictions j ON j.code = i.jurisdiction_code
    LEFT JOIN schools ns ON ns.id = i.nearest_school_id
    LEFT JOIN incident_scores sc ON sc.incident_id = i.id AND sc.policy_key = i.policy_key
"""


def _out(row: Any, score: Score | None) -> dict:
    r = dict(row)
    nearest = None
    if r["nearest_school_id"] is not None:
        nearest = {"school_id": r["nearest_school_id"], "name": r["nearest_school_name"],
                   "distance_m": round(float(r["nearest_school_distance_m"]), 2)}
    for k in ("nearest_school_id", "nearest_school_name", "nearest_school_distance_m", "score_tiers", "path",
              "body_hash"):
        r.pop(k, None)
    r["nearest_school"] = nearest
    r["zone_school_ids"] = list(r["zone_school_ids"] or [])
    r["score"] = score.as_dict() if score is not None else None
    return r


async def _stored_score(db: Db, row: Any, *, now: datetime) -> Score:
    policy = await policies.load(db, row["policy_key"], path=row["path"])
    return policies.score_from_stored(policy=policy, alarm_at=row["alarm_at"], severity=row["severity"],
                                      tiers=row["score_tiers"], now=now)


async def fetch(db: Db, *, caller: Caller, incident_id: uuid.UUID, lock: bool = False) -> dict:
    """The raw incident row; outside the caller's jurisdictions it does not exist (404)."""
    row = await db.fetchrow(f"""
        SELECT {COLUMNS}, ST_AsBinary(i.location) AS location_wkb {FROM}
        WHERE i.id = :id {"FOR UPDATE OF i" if lock else ""}
    """, {"id": incident_id})
    if row is None or not caller.sees_path(row["path"]):
        raise NotFound(f"no incident {incident_id}")
    return dict(row)


async def get(db: Db, *, caller: Caller, incident_id: uuid.UUID, now: datetime) -> dict:
    """One incident with its score as seen at `now`."""
    row = await fetch(db, caller=caller, incident_id=incident_id)
    row.pop("location_wkb")
    return _out(row, await _stored_score(db, row, now=now))


async def counting_arrivals(db: Db, *, incident_id: uuid.UUID) -> list[Arrival]:
    """The arrivals that count toward the score (near the scene), as the pure rule takes them."""
    rows = await db.fetch("""
        SELECT tier, arrived_at, counts FROM arrivals WHERE incident_id = :id ORDER BY arrived_at, id
    """, {"id": incident_id})
    return [Arrival(tier=r["tier"], arrived_at=r["arrived_at"], counts=r["counts"]) for r in rows]


async def current_score(db: Db, *, caller: Caller, incident_id: uuid.UUID, now: datetime,
                        policy_key: str | None = None) -> dict:
    """The incident's score from its arrivals against the server clock `now`, under its own policy or the
    given one: pending tiers become missed as their deadlines pass."""
    row = await fetch(db, caller=caller, incident_id=incident_id)
    policy = await policies.load(db, policy_key or row["policy_key"], path=row["path"])
    arrivals = await counting_arrivals(db, incident_id=incident_id)
    score = score_response(alarm_at=row["alarm_at"], arrivals=arrivals, now=now, policy=policy,
                           severity=row["severity"])
    return score.as_dict()


# --- reporting -----------------------------------------------------------------------------------------

# `p` is a CTE read in several places, so its column is a join input, not a constant: a plain join with
# `schools` cannot walk the GiST index in `<->` order and would test every school within 20 km and sort them.
# In a LATERAL subquery `p.g` is a parameter of the inner scan, so `nearest` walks the index nearest-first and
# stops at the first school (nearest by `<->`, as it always was, so the same school). `zone` needs every
# school whose zone holds the point, in no particular order (its readers sort by distance_m, id): a plain
# index scan on the constant reach, the box prefilter, then the geodesic tests.
INSERT = Query(f"""
    WITH p AS (SELECT CAST(ST_GeomFromWKB(:location, 4326) AS geography) AS g),
    zone AS (SELECT z.id, z.distance_m FROM p CROSS JOIN LATERAL ({in_zone_schools_sql("p.g", nearest_first=False)}) z),
    zone_home AS (
        SELECT s.jurisdiction_code FROM zone z
        JOIN schools s ON s.id = z.id
        JOIN jurisdictions j ON j.code = s.jurisdiction_code
        WHERE j.path <@ CAST(:scope AS ltree)
        ORDER BY z.distance_m, z.id
        LIMIT 1
    ),
    nearest AS (
        SELECT n.id, n.distance_m FROM p CROSS JOIN LATERAL (
            SELECT s.id, ST_Distance(s.boundary, p.g) AS distance_m
            FROM schools s
            WHERE s.deleted_at IS NULL AND ST_DWithin(s.boundary, p.g, :search_m)
            ORDER BY s.boundary <-> p.g
            LIMIT 1
        ) n
    )
    INSERT INTO incidents AS i (id, jurisdiction_code, category, severity, source, description, location, crs,
                                alarm_at, in_zone, zone_school_ids, nearest_school_id, nearest_school_distance_m,
                                policy_key, created_by, body_hash)
    SELECT :id, COALESCE(CAST(:jurisdiction_code AS varchar), (SELECT jurisdiction_code FROM zone_home),
                         :caller_code),
           :category, :severity, :source, :description, p.g, :crs, :alarm_at,
           EXISTS (SELECT 1 FROM zone), ARRAY(SELECT id FROM zone ORDER BY distance_m, id),
           (SELECT id FROM nearest), (SELECT distance_m FROM nearest), :policy_key, :created_by, :body_hash
    FROM p
    ON CONFLICT (id) DO NOTHING
    RETURNING i.id
""")


async def create(db: Db, *, caller: Caller, incident: IncidentInput, client_id: uuid.UUID | None,
                 request_hash: bytes, now: datetime) -> tuple[dict, bool]:
    """Report an incident (officers, commanders); answers (incident, created). A replayed client id answers
    the stored incident with created False; the same id with another body is a conflict."""
    caller.require(Role.officer, Role.commander)
    check_incident(incident, now=now)
    if incident.jurisdiction_code is not None:
        await jurisdictions.in_scope(db, caller=caller, code=incident.jurisdiction_code)
    incident_id = client_id or uuid.uuid4()
    policy = await policies.load(db, policies.DEFAULT_POLICY_KEY)
    inserted = await db.fetchrow(INSERT, {
        "id": incident_id, "location": wkb(incident.location), "scope": caller.scope_path,
        "search_m": NEAREST_SEARCH_M, "jurisdiction_code": incident.jurisdiction_code,
        "caller_code": caller.jurisdiction_code, "category": incident.category, "severity": incident.severity,
        "source": incident.source, "description": incident.description, "crs": incident.crs,
        "alarm_at": incident.alarm_at, "policy_key": policy.key, "created_by": caller.user_id,
        "body_hash": request_hash,
    })
    if inserted is None:
        return await _replay(db, caller=caller, incident_id=incident_id, request_hash=request_hash,
                             now=now), False
    score = score_response(alarm_at=incident.alarm_at, arrivals=[], now=now, policy=policy,
                           severity=incident.severity)
    await policies.store_scores(db, policy_key=policy.key, scores=[(incident_id, score)])
    row = await fetch(db, caller=caller, incident_id=incident_id)
    row.pop("location_wkb")
    out = _out(row, score)
    await publish(db, [Event("incident.created", out["jurisdiction_code"], event_payload(out)),
                       *tier_misses.missed_events(code=out["jurisdiction_code"], incident_id=incident_id,
                                                  alarm_at=incident.alarm_at, before=None, after=score)])
    await audit.record(db, caller=caller, entity="incident", entity_id=incident_id, action="create",
                       jurisdiction_code=out["jurisdiction_code"],
                       changes={"category": incident.category, "severity": incident.severity,
                                "in_zone": out["in_zone"]})
    return out, True


async def _replay(db: Db, *, caller: Caller, incident_id: uuid.UUID, request_hash: bytes,
                  now: datetime) -> dict:
    stored = await db.fetchrow("""
        SELECT i.body_hash, j.path::text AS path FROM incidents i JOIN jurisdictions j ON j.code = i.jurisdiction_code
        WHERE i.id = :id
    """, {"id": incident_id})
    if stored is None or stored["body_hash"] != request_hash or not caller.sees_path(stored["path"]):
        raise Conflict(f"incident id {incident_id} was already used with another body", field="id")
    return await get(db, caller=caller, incident_id=incident_id, now=now)


def event_payload(incident: dict) -> dict:
    """What the live feed carries for an incident: enough to draw and list it without another request."""
    return {
        "id": str(incident["id"]), "jurisdiction_code": incident["jurisdiction_code"],
        "category": incident["category"], "severity": incident["severity"], "source": incident["source"],
        "status": incident["status"], "location": incident["location"],
        "alarm_at": incident["alarm_at"].isoformat(),
        "in_zone": incident["in_zone"], "zone_school_ids": [str(s) for s in incident["zone_school_ids"]],
        "nearest_school": ({**incident["nearest_school"], "school_id": str(incident["nearest_school"]["school_id"])}
                           if incident["nearest_school"] else None),
        "score": incident["score"],
        **{k: incident[k].isoformat() for k in STATUS_STAMP.values() if incident.get(k) is not None},
    }


# --- status lifecycle ----------------------------------------------------------------------------------

def check_transition(current: str, new: str) -> bool:
    """True when `new` moves the status forward; False when it is the current status (nothing to do).
    Moving backwards or leaving `closed` is a conflict."""
    if new not in STATUS_RANK:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
    if new == current:
        return False
    if current == "closed":
        raise Conflict("the incident is closed; its status cannot change", field="status")
    if STATUS_RANK[new] < STATUS_RANK[current]:
        raise Conflict(f"status cannot move back from {current} to {new}", field="status")
    return True


async def update(db: Db, *, caller: Caller, incident_id: uuid.UUID, changes: dict[str, Any],
                 now: datetime) -> dict:
    """Change the status (forward only, stamping the transition at `now`) or the description (commanders)."""
    caller.require(Role.commander)
    unknown = set(changes) - {"status", "description"}
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    row = await fetch(db, caller=caller, incident_id=incident_id, lock=True)
    sets, params, changed = [], {"id": incident_id, "now": now}, {}
    if changes.get("status") is not None and check_transition(row["status"], changes["status"]):
        new = changes["status"]
        sets.append("status = :status")
        params["status"] = new
        stamp = STATUS_STAMP.get(new)
        if stamp:
            # `now` was read before the row lock was granted: a change that waited for another one is stamped no
            # earlier than the stages already stamped, so the lifecycle's times follow its order.
            earlier = [row[STATUS_STAMP[s]] for s in STATUSES[1:STATUS_RANK[new]]]
            params["at"] = max([now, *(t for t in earlier if t is not None)])
            sets.append(f"{stamp} = COALESCE({stamp}, :at)")
        changed["status"] = {"from": row["status"], "to": new}
    if "description" in changes and changes["description"] != row["description"]:
        if row["status"] == "closed":
            raise Conflict("the incident is closed; it cannot change", field="description")
        if changes["description"] is not None and len(changes["description"]) > DESCRIPTION_MAX_LEN:
            raise InvalidInput(f"description must be at most {DESCRIPTION_MAX_LEN} characters", field="description")
        sets.append("description = :description")
        params["description"] = changes["description"]
        changed["description"] = True
    if sets:
        await db.execute(f"UPDATE incidents SET {', '.join(sets)}, updated_at = now() WHERE id = :id", params)
    out = await get(db, caller=caller, incident_id=incident_id, now=now)
    if changed:
        await publish(db, [Event("incident.updated", out["jurisdiction_code"],
                                      {**event_payload(out), "changes": changed})])
        await audit.record(db, caller=caller, entity="incident", entity_id=incident_id, action="update",
                           jurisdiction_code=out["jurisdiction_code"], changes=changed)
    return out


# --- lists ---------------------------------------------------------------------------------------------

@dataclass
class IncidentFilter:
    school_id: uuid.UUID | None = None
    near: tuple[float, float] | None = None
    radius_m: float | None = None
    bbox: tuple[float, float, float, float] | None = None
    from_: datetime | None = None
    to: datetime | None = None
    category: str | None = None
    status: str | None = None
    in_zone: bool | None = None
    jurisdiction_code: str | None = None


def filter_sql(f: IncidentFilter, *, scope: str) -> tuple[list[str], dict[str, Any]]:
    """The conditions (on `i` and `j`) and parameters that select the incidents a filter keeps inside the
    ltree `scope`: shared by the list and the export, so both keep the same incidents."""
    if f.category is not None and f.category not in CATEGORIES:
        raise InvalidInput(f"category must be one of {', '.join(CATEGORIES)}", field="category")
    if f.status is not None and f.status not in STATUS_RANK:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
    params: dict[str, Any] = {"scope": scope}
    where = ["j.path <@ CAST(:scope AS ltree)"]
    if f.school_id is not None:
        where.append("i.zone_school_ids @> ARRAY[CAST(:school_id AS uuid)]")
        params["school_id"] = f.school_id
    if f.near is not None:
        where.append("ST_DWithin(i.location, CAST(ST_SetSRID(ST_MakePoint(:near_lon, :near_lat), 4326) AS geography),"
                     " :radius_m)")
        params.update(near_lon=f.near[0], near_lat=f.near[1], radius_m=f.radius_m)
    if f.bbox is not None:
        condition, box_params = bbox_condition("i.location", f.bbox)
        where.append(condition)
        params.update(box_params)
    for column, value in (("category", f.category), ("status", f.status), ("in_zone", f.in_zone)):
        if value is not None:
            where.append(f"i.{column} = :{column}")
            params[column] = value
    if f.from_ is not None:
        where.append("i.alarm_at >= :from_")
        params["from_"] = f.from_
    if f.to is not None:
        where.append("i.alarm_at < :to")
        params["to"] = f.to
    return where, params


async def list_page(db: Db, *, caller: Caller, f: IncidentFilter, limit: int, cursor: str | None,
                    now: datetime) -> tuple[list[dict], str | None]:
    """Incidents in the caller's jurisdictions, newest alarm first (keyset on alarm_at, id). `school_id` keeps
    those in that school's zone, `near` those within `radius_m` of the point, `bbox` those inside the box,
    `from`/`to` bound `alarm_at` (from inclusive, to exclusive)."""
    after = decode_time_id_cursor(cursor)
    scope = await jurisdictions.narrowed_scope(db, caller=caller, code=f.jurisdiction_code)
    where, params = filter_sql(f, scope=scope)
    params["limit_plus_one"] = limit + 1
    if after:
        params.update(after_at=after[0], after_id=after[1])
        where.append("(i.alarm_at, i.id) < (:after_at, :after_id)")
    # A prepared generic plan can sort every match of a wide bbox; plan each listing for its own values.
    await db.execute("SET LOCAL plan_cache_mode = force_custom_plan")
    rows = await db.fetch(f"""
        SELECT {COLUMNS} {FROM}
        WHERE {" AND ".join(where)}
        ORDER BY i.alarm_at DESC, i.id DESC
        LIMIT :limit_plus_one
    """, params)
    items = [_out(r, await _stored_score(db, r, now=now)) for r in rows]
    return page_of(items, limit=limit, key=lambda r: [r["alarm_at"].isoformat(), str(r["id"])])


def as_feature(incident: dict) -> dict:
    """An incident as a GeoJSON Feature (the geometry as PostGIS wrote it)."""
    props = {k: v for k, v in incident.items() if k != "location"}
    return {"type": "Feature", "id": str(incident["id"]), "geometry": incident["location"], "properties": props}
