"""The school registry: where each school is, its campus, its jurisdiction and its zone radius."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from shapely.geometry import MultiPolygon, Point, Polygon

from domain import audit, jurisdictions, zones
from domain.callers import Caller, Role
from domain.database import Db, Query
from domain.errors import Conflict, DomainError, InvalidInput, NotFound
from domain.locations import bbox_condition, read_area, read_point, wkb
from domain.paging import decode_cursor, page_of
from domain.zones import ZONE_RADIUS_DEFAULT_M, ZONE_RADIUS_MAX_M
from geo.geodesy import distance_to_area_m
from geo.geometry import representative_location

KINDS = ("kindergarten", "primary", "middle", "high", "vocational", "special", "other")
LOCATION_MAX_FROM_CAMPUS_M = 500.0
NAME_MAX_LEN = 200

COLUMNS = """
    s.id, s.external_id, s.name, s.kind, s.jurisdiction_code, s.address,
    CAST(ST_AsGeoJSON(s.location, 7) AS json) AS location,
    CAST(ST_AsGeoJSON(s.campus, 7) AS json) AS campus,
    s.zone_radius_m, s.created_at, s.updated_at
"""


@dataclass
class SchoolInput:
    """A school as a client describes it (geometry already in WGS-84)."""

    name: str
    kind: str
    jurisdiction_code: str
    location: Point | None = None
    campus: Polygon | MultiPolygon | None = None
    address: str | None = None
    zone_radius_m: float = ZONE_RADIUS_DEFAULT_M
    external_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def check_school(s: SchoolInput) -> SchoolInput:
    """A school needs a name, a known kind, 0 < zone_radius_m <= 2000, and a location that lies inside or
    near (≤ 500 m) its campus; without a location the campus' representative point is used."""
    if not isinstance(s.name, str) or not s.name.strip() or len(s.name) > NAME_MAX_LEN:
        raise InvalidInput(f"name must be 1–{NAME_MAX_LEN} characters", field="name")
    if s.kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", field="kind")
    r = s.zone_radius_m
    if isinstance(r, bool) or not isinstance(r, int | float) or not (0 < r <= ZONE_RADIUS_MAX_M):
        raise InvalidInput(f"zone_radius_m must be a number in (0, {ZONE_RADIUS_MAX_M:g}]", field="zone_radius_m")
    if s.external_id is not None and (not isinstance(s.external_id, str) or not 1 <= len(s.external_id) <= 100):
        raise InvalidInput("external_id must be 1–100 characters", field="external_id")
    if s.address is not None and (not isinstance(s.address, str) or len(s.address) > 500):
        raise InvalidInput("address must be at most 500 characters", field="address")
    if s.location is None:
        if s.campus is None:
            raise InvalidInput("a school needs a location or a campus", field="location")
        s.location = representative_location(s.campus)
    elif s.campus is not None:
        gap = distance_to_area_m(s.location, s.campus)
        if gap > LOCATION_MAX_FROM_CAMPUS_M:
            raise InvalidInput(f"location is {gap:.0f} m from the campus; it must lie within "
                               f"{LOCATION_MAX_FROM_CAMPUS_M:.0f} m of it", field="location")
    return s


def school_from_body(body: dict[str, Any], *, crs: str | None) -> SchoolInput:
    """Read a create body (already shape-checked by the API) into a `SchoolInput`."""
    location = read_point(body["location"], crs=crs) if body.get("location") is not None else None
    campus = read_area(body["campus"], crs=crs) if body.get("campus") is not None else None
    return check_school(SchoolInput(
        name=body.get("name"), kind=body.get("kind"), jurisdiction_code=body.get("jurisdiction_code"),
        location=location, campus=campus, address=body.get("address"),
        zone_radius_m=body.get("zone_radius_m", ZONE_RADIUS_DEFAULT_M), external_id=body.get("external_id")))


def _row(row) -> dict:
    return dict(row)


async def get(db: Db, *, caller: Caller, school_id: uuid.UUID) -> dict:
    """One school; deleted or outside the caller's jurisdictions, it does not exist (404)."""
    row = await db.fetchrow(f"""
        SELECT {COLUMNS}, j.path::text AS path
        FROM schools s JOIN jurisdictions j ON j.code = s.jurisdiction_code
        WHERE s.id = :id AND s.deleted_at IS NULL
    """, {"id": school_id})
    if row is None or not caller.sees_path(row["path"]):
        raise NotFound(f"no school {school_id}")
    out = dict(row)
    out.pop("path")
    return out


INSERT = Query(f"""
    INSERT INTO schools AS s (id, external_id, name, kind, jurisdiction_code, address, location, campus, zone_radius_m)
    VALUES (:id, :external_id, :name, :kind, :jurisdiction_code, :address,
            CAST(ST_GeomFromWKB(:location, 4326) AS geography),
            CAST(ST_GeomFromWKB(CAST(:campus AS bytea), 4326) AS geography), :zone_radius_m)
    RETURNING {COLUMNS}
""")


def _params(s: SchoolInput, school_id: uuid.UUID) -> dict:
    return {
        "id": school_id, "external_id": s.external_id, "name": s.name.strip(), "kind": s.kind,
        "jurisdiction_code": s.jurisdiction_code, "address": s.address, "location": wkb(s.location),
        "campus": wkb(s.campus) if s.campus is not None else None, "zone_radius_m": float(s.zone_radius_m),
    }


async def create(db: Db, *, caller: Caller, school: SchoolInput) -> dict:
    """Register a school in one of the caller's jurisdictions (commanders and admins)."""
    caller.require(Role.commander)
    await jurisdictions.in_scope(db, caller=caller, code=school.jurisdiction_code)
    school_id = uuid.uuid4()
    try:
        async with db.transaction():
            row = await db.fetchrow(INSERT, _params(school, school_id))
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise Conflict(f"a school with external_id {school.external_id!r} exists", field="external_id") from exc
    zones.note_local_write([school_id])
    await audit.record(db, caller=caller, entity="school", entity_id=school_id, action="create",
                       jurisdiction_code=school.jurisdiction_code,
                       changes={"name": school.name, "kind": school.kind, "external_id": school.external_id})
    return _row(row)


PATCHABLE = {"name", "kind", "jurisdiction_code", "address", "location", "campus", "zone_radius_m", "external_id"}


async def update(db: Db, *, caller: Caller, school_id: uuid.UUID, changes: dict[str, Any],
                 crs: str | None) -> dict:
    """Change some fields of a school; `campus: null` removes the campus. The result is re-checked whole."""
    caller.require(Role.commander)
    current = await get(db, caller=caller, school_id=school_id)
    unknown = set(changes) - PATCHABLE
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    merged = SchoolInput(
        name=changes.get("name", current["name"]), kind=changes.get("kind", current["kind"]),
        jurisdiction_code=changes.get("jurisdiction_code", current["jurisdiction_code"]),
        location=(read_point(changes["location"], crs=crs) if changes.get("location") is not None
                  else read_point(current["location"], crs="wgs84")),
        campus=(read_area(changes["campus"], crs=crs) if changes.get("campus") is not None
                else None if "campus" in changes
                else read_area(current["campus"], crs="wgs84") if current["campus"] else None),
        address=changes.get("address", current["address"]),
        zone_radius_m=changes.get("zone_radius_m", current["zone_radius_m"]),
        external_id=changes.get("external_id", current["external_id"]),
    )
    if "location" in changes and changes["location"] is None:
        raise InvalidInput("location cannot be removed", field="location")
    check_school(merged)
    if "jurisdiction_code" in changes:
        await jurisdictions.in_scope(db, caller=caller, code=merged.jurisdiction_code)
    params = _params(merged, school_id)
    try:
        async with db.transaction():
            row = await db.fetchrow(f"""
                UPDATE schools AS s SET external_id = :external_id, name = :name, kind = :kind,
                    jurisdiction_code = :jurisdiction_code, address = :address,
                    location = CAST(ST_GeomFromWKB(:location, 4326) AS geography),
                    campus = CAST(ST_GeomFromWKB(CAST(:campus AS bytea), 4326) AS geography),
                    zone_radius_m = :zone_radius_m, updated_at = now()
                WHERE s.id = :id
                RETURNING {COLUMNS}
            """, params)
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise Conflict(f"a school with external_id {merged.external_id!r} exists", field="external_id") from exc
    zones.note_local_write([school_id])
    await audit.record(db, caller=caller, entity="school", entity_id=school_id, action="update",
                       jurisdiction_code=merged.jurisdiction_code, changes=changes)
    return _row(row)


async def delete(db: Db, *, caller: Caller, school_id: uuid.UUID) -> None:
    """Soft delete: the school leaves lists and zone decisions; its history stays."""
    caller.require(Role.commander)
    current = await get(db, caller=caller, school_id=school_id)
    await db.execute("UPDATE schools SET deleted_at = now(), updated_at = now() WHERE id = :id", {"id": school_id})
    zones.note_local_write([school_id])
    await audit.record(db, caller=caller, entity="school", entity_id=school_id, action="delete",
                       jurisdiction_code=current["jurisdiction_code"])


async def list_page(
    db: Db,
    *,
    caller: Caller,
    limit: int,
    cursor: str | None,
    jurisdiction_code: str | None = None,
    near: tuple[float, float] | None = None,
    radius_m: float | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    kind: str | None = None,
    q: str | None = None,
) -> tuple[list[dict], str | None]:
    """Schools in the caller's jurisdictions, by id; `near` keeps those whose boundary lies within
    `radius_m` of the point, `bbox` those whose boundary meets the box."""
    after = decode_cursor(cursor, arity=1)
    scope = await jurisdictions.narrowed_scope(db, caller=caller, code=jurisdiction_code)
    params: dict[str, Any] = {"scope": scope, "kind": kind, "q": q, "after": after[0] if after else None,
                              "limit_plus_one": limit + 1}
    where = []
    if near is not None:
        where.append("ST_DWithin(s.boundary, CAST(ST_SetSRID(ST_MakePoint(:near_lon, :near_lat), 4326) AS geography), "
                     ":radius_m)")
        params.update(near_lon=near[0], near_lat=near[1], radius_m=radius_m)
    if bbox is not None:
        condition, box_params = bbox_condition("s.boundary", bbox)
        where.append(condition)
        params.update(box_params)
    extra = "".join(f"\n          AND {w}" for w in where)
    rows = await db.fetch(f"""
        SELECT {COLUMNS}
        FROM schools s JOIN jurisdictions j ON j.code = s.jurisdiction_code
        WHERE s.deleted_at IS NULL AND j.path <@ CAST(:scope AS ltree)
          AND (CAST(:kind AS text) IS NULL OR s.kind = :kind)
          AND (CAST(:q AS text) IS NULL OR s.name ILIKE '%' || :q || '%')
          AND (CAST(:after AS uuid) IS NULL OR s.id > CAST(:after AS uuid)){extra}
        ORDER BY s.id
        LIMIT :limit_plus_one
    """, params)
    return page_of([dict(r) for r in rows], limit=limit, key=lambda r: [str(r["id"])])


# --- bulk import ---------------------------------------------------------------------------------

@dataclass
class ImportResult:
    index: int
    status: str  # created | updated | rejected
    id: uuid.UUID | None = None
    external_id: str | None = None
    errors: list[dict] | None = None


def school_from_feature(feature: Any, *, crs: str | None) -> SchoolInput:
    """A GeoJSON Feature as a school: properties name, kind, jurisdiction_code, address, zone_radius_m,
    external_id; a Point geometry is the location, a Polygon/MultiPolygon the campus."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise InvalidInput("each item must be a GeoJSON Feature", field="type")
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        raise InvalidInput("properties must be an object", field="properties")
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict):
        raise InvalidInput("a Feature needs a geometry", field="geometry")
    location = campus = None
    if geometry.get("type") == "Point":
        location = read_point(geometry, crs=crs, field="geometry")
    else:
        campus = read_area(geometry, crs=crs, field="geometry")
    if props.get("location") is not None:
        location = read_point(props["location"], crs=crs, field="properties.location")
    external_id = props.get("external_id", feature.get("id"))
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    try:
        return check_school(SchoolInput(
            name=props.get("name"), kind=props.get("kind", "other"),
            jurisdiction_code=props.get("jurisdiction_code"), location=location, campus=campus,
            address=props.get("address"), zone_radius_m=props.get("zone_radius_m", ZONE_RADIUS_DEFAULT_M),
            external_id=external_id))
    except InvalidInput as exc:
        if exc.field and not exc.field.startswith(("geometry", "properties")):
            exc.field = f"properties.{exc.field}"
            exc.errors = [{"field": exc.field, "message": exc.detail}]
        raise


UPSERT_MANY = Query("""
    INSERT INTO schools AS s (id, external_id, name, kind, jurisdiction_code, address, location, campus, zone_radius_m)
    SELECT i.id, i.external_id, i.name, i.kind, i.jurisdiction_code, i.address,
           CAST(ST_GeomFromWKB(i.location, 4326) AS geography),
           CAST(ST_GeomFromWKB(i.campus, 4326) AS geography), i.zone_radius_m
    FROM unnest(CAST(:ids AS uuid[]), CAST(:external_ids AS text[]), CAST(:names AS text[]),
                CAST(:kinds AS text[]), CAST(:codes AS text[]), CAST(:addresses AS text[]),
                CAST(:locations AS bytea[]), CAST(:campuses AS bytea[]), CAST(:radii AS float8[]))
         AS i(id, external_id, name, kind, jurisdiction_code, address, location, campus, zone_radius_m)
    ON CONFLICT (external_id) WHERE external_id IS NOT NULL DO UPDATE SET
        name = EXCLUDED.name, kind = EXCLUDED.kind, jurisdiction_code = EXCLUDED.jurisdiction_code,
        address = EXCLUDED.address, location = EXCLUDED.location, campus = EXCLUDED.campus,
        zone_radius_m = EXCLUDED.zone_radius_m, deleted_at = NULL, updated_at = now()
    RETURNING s.id, s.external_id, (xmax = 0) AS inserted
""")


def _read_features(features: list[Any], *, crs: str | None, visible: set[str], offset: int
                   ) -> tuple[list[ImportResult], list[tuple[int, SchoolInput]], dict[str, int]]:
    """Each feature as a school to upsert, or its rejection (pure: no database)."""
    results: list[ImportResult] = []
    good: list[tuple[int, SchoolInput]] = []
    seen_external: dict[str, int] = {}
    for i, feature in enumerate(features):
        index = offset + i
        try:
            school = school_from_feature(feature, crs=crs)
            if school.jurisdiction_code not in visible:
                raise InvalidInput(f"no jurisdiction {school.jurisdiction_code!r} in your scope",
                                   field="properties.jurisdiction_code")
            if school.external_id is not None:
                if school.external_id in seen_external:
                    raise InvalidInput(f"external_id repeats feature {seen_external[school.external_id]}",
                                       field="properties.external_id")
                seen_external[school.external_id] = index
            good.append((index, school))
            results.append(ImportResult(index=index, status="pending", external_id=school.external_id))
        except DomainError as exc:
            results.append(ImportResult(index=index, status="rejected", errors=exc.errors or [{
                "field": exc.field or "", "message": exc.detail}]))
    return results, good, seen_external


async def import_features(db: Db, *, caller: Caller, features: list[Any], crs: str | None,
                          offset: int = 0) -> list[ImportResult]:
    """Upsert schools by `external_id`, one result per feature in input order. A rejected feature writes
    nothing; the others still land (one multi-row statement for all the good ones)."""
    caller.require(Role.commander)
    visible = {r["code"] for r in await db.fetch("SELECT code FROM jurisdictions WHERE path <@ CAST(:scope AS ltree)", {"scope": caller.scope_path})}
    # Reading thousands of features (geometry checks, CRS conversion) is CPU work: off the event loop, so other
    # requests go on meanwhile.
    results, good, seen_external = await asyncio.to_thread(_read_features, features, crs=crs, visible=visible,
                                                           offset=offset)
    # Existing schools with these external ids must be in scope too, or the upsert would move them.
    if seen_external:
        foreign = {r["external_id"] for r in await db.fetch("""
            SELECT s.external_id FROM schools s JOIN jurisdictions j ON j.code = s.jurisdiction_code
            WHERE s.external_id = ANY(CAST(:ids AS text[])) AND NOT j.path <@ CAST(:scope AS ltree)
        """, {"ids": list(seen_external), "scope": caller.scope_path})}
        if foreign:
            kept = []
            for index, school in good:
                if school.external_id in foreign:
                    results[index - offset] = ImportResult(index=index, status="rejected", errors=[{
                        "field": "properties.external_id",
                        "message": "this external_id belongs to a school outside your jurisdictions"}])
                else:
                    kept.append((index, school))
            good = kept
    if good:
        ids = [uuid.uuid4() for _ in good]
        rows = await db.fetch(UPSERT_MANY, {
            "ids": ids,
            "external_ids": [s.external_id for _, s in good],
            "names": [s.name.strip() for _, s in good],
            "kinds": [s.kind for _, s in good],
            "codes": [s.jurisdiction_code for _, s in good],
            "addresses": [s.address for _, s in good],
            "locations": [wkb(s.location) for _, s in good],
            "campuses": [wkb(s.campus) if s.campus is not None else None for _, s in good],
            "radii": [float(s.zone_radius_m) for _, s in good],
        })
        zones.note_local_write([r["id"] for r in rows])
        by_external = {r["external_id"]: r for r in rows if r["external_id"] is not None}
        by_id = {r["id"]: r for r in rows}
        for (index, school), new_id in zip(good, ids, strict=True):
            row = by_external.get(school.external_id) if school.external_id else by_id.get(new_id)
            results[index - offset] = ImportResult(index=index, status="created" if row["inserted"] else "updated",
                                                   id=row["id"], external_id=school.external_id)
        await audit.record(db, caller=caller, entity="school", entity_id="import", action="import",
                           jurisdiction_code=caller.jurisdiction_code,
                           changes={"created": sum(r.status == "created" for r in results),
                                    "updated": sum(r.status == "updated" for r in results),
                                    "rejected": sum(r.status == "rejected" for r in results)})
    return results
