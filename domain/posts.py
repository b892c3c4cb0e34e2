"""Duty posts: a school-guard post at a gate or a peak-duty post on a key road, with a geofence radius."""

from __future__ import annotations

import uuid
from datetime import datetime

from shapely.geometry import Point

from domain import audit
from domain.callers import Caller, Role
from domain.database import Db
from domain.errors import Conflict, InvalidInput, NotFound
from domain.locations import wkb
from domain.paging import decode_cursor, page_of

KINDS = ("school_guard", "peak_duty")
RADIUS_DEFAULT_M = 50.0
RADIUS_MIN_M = 5.0
RADIUS_MAX_M = 1000.0
POST_MAX_BEYOND_ZONE_M = 500.0
"""A post may lie at most this far outside its school's zone (zone radius + 500 m from the campus edge)."""

COLUMNS = """
    p.id, p.school_id, p.jurisdiction_code, p.name, p.kind,
    CAST(ST_AsGeoJSON(p.location, 7) AS json) AS location, p.radius_m, p.created_at
"""


async def _check_location(db: Db, *, school_id: uuid.UUID, location: Point) -> None:
    row = await db.fetchrow("""
        SELECT ST_Distance(s.boundary, CAST(ST_GeomFromWKB(:p, 4326) AS geography)) AS gap, s.zone_radius_m
        FROM schools s WHERE s.id = :id
    """, {"p": wkb(location), "id": school_id})
    limit = float(row["zone_radius_m"]) + POST_MAX_BEYOND_ZONE_M
    if row["gap"] > limit:
        raise InvalidInput(f"location is {row['gap']:.0f} m from the school's campus; a post must lie within "
                           f"{limit:.0f} m of it (zone radius + {POST_MAX_BEYOND_ZONE_M:.0f} m)", field="location")


def _check_fields(*, kind: str, radius_m: float) -> None:
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", field="kind")
    if not (RADIUS_MIN_M <= radius_m <= RADIUS_MAX_M):
        raise InvalidInput(f"radius_m must be in [{RADIUS_MIN_M:g}, {RADIUS_MAX_M:g}]", field="radius_m")


async def create(db: Db, *, caller: Caller, school: dict, name: str, kind: str, location: Point,
                 radius_m: float = RADIUS_DEFAULT_M) -> dict:
    """Add a post to a school (commanders); it must lie within the school's zone radius + 500 m of the campus."""
    caller.require(Role.commander)
    _check_fields(kind=kind, radius_m=radius_m)
    await _check_location(db, school_id=school["id"], location=location)
    post_id = uuid.uuid4()
    row = await db.fetchrow(f"""
        INSERT INTO posts AS p (id, school_id, jurisdiction_code, name, kind, location, radius_m)
        VALUES (:id, :school_id, :code, :name, :kind, CAST(ST_GeomFromWKB(:location, 4326) AS geography), :radius_m)
        RETURNING {COLUMNS}
    """, {"id": post_id, "school_id": school["id"], "code": school["jurisdiction_code"], "name": name.strip(),
           "kind": kind, "location": wkb(location), "radius_m": float(radius_m)})
    await audit.record(db, caller=caller, entity="post", entity_id=post_id, action="create",
                       jurisdiction_code=school["jurisdiction_code"],
                       changes={"school_id": school["id"], "name": name, "kind": kind, "radius_m": radius_m})
    return dict(row)


async def get(db: Db, *, caller: Caller, post_id: uuid.UUID, field: str | None = None) -> dict:
    """One post in the caller's jurisdictions; otherwise 404 (or 422 naming `field` when it was referenced)."""
    row = await db.fetchrow(f"""
        SELECT {COLUMNS}, j.path::text AS path, j.time_zone
        FROM posts p JOIN jurisdictions j ON j.code = p.jurisdiction_code
        WHERE p.id = :id AND p.deleted_at IS NULL
    """, {"id": post_id})
    if row is None or not caller.sees_path(row["path"]):
        if field:
            raise InvalidInput(f"no post {post_id} in your jurisdictions", field=field)
        raise NotFound(f"no post {post_id}")
    return dict(row)


async def update(db: Db, *, caller: Caller, post_id: uuid.UUID, name: str | None = None,
                 kind: str | None = None, location: Point | None = None, radius_m: float | None = None) -> dict:
    """Rename, move or resize a post (commanders). Check-ins already judged keep their verdicts; later ones
    are judged against the post as it is now."""
    caller.require(Role.commander)
    current = await get(db, caller=caller, post_id=post_id)
    kind = current["kind"] if kind is None else kind
    radius_m = current["radius_m"] if radius_m is None else radius_m
    _check_fields(kind=kind, radius_m=radius_m)
    if location is not None:
        await _check_location(db, school_id=current["school_id"], location=location)
    row = await db.fetchrow(f"""
        UPDATE posts AS p SET name = COALESCE(:name, p.name), kind = :kind, radius_m = :radius_m,
               location = COALESCE(CAST(ST_GeomFromWKB(CAST(:location AS bytea), 4326) AS geography), p.location)
        WHERE p.id = :id
        RETURNING {COLUMNS}
    """, {"id": post_id, "name": name.strip() if name else None, "kind": kind, "radius_m": float(radius_m),
           "location": wkb(location) if location is not None else None})
    changes = {"name": name, "kind": kind, "radius_m": radius_m,
               "location": list(location.coords[0]) if location is not None else None}
    await audit.record(db, caller=caller, entity="post", entity_id=post_id, action="update",
                       jurisdiction_code=current["jurisdiction_code"],
                       changes={k: v for k, v in changes.items() if v is not None and v != current.get(k)})
    return dict(row)


async def delete(db: Db, *, caller: Caller, post_id: uuid.UUID, now: datetime) -> None:
    """Retire a post (commanders): it disappears from listings and takes no new shifts; its history stays.
    Refused (409) while shifts at it are still to come: cancel or move them first."""
    caller.require(Role.commander)
    current = await get(db, caller=caller, post_id=post_id)
    upcoming = await db.fetchval("SELECT count(*) FROM shifts WHERE post_id = :id AND ends_at > :now", {"id": post_id, "now": now})
    if upcoming:
        raise Conflict(f"{upcoming} shift(s) at this post have not ended; cancel or move them first",
                       field="post_id")
    await db.execute("UPDATE posts SET deleted_at = :now WHERE id = :id", {"id": post_id, "now": now})
    await audit.record(db, caller=caller, entity="post", entity_id=post_id, action="delete",
                       jurisdiction_code=current["jurisdiction_code"])


async def list_page(db: Db, *, school_id: uuid.UUID, limit: int,
                    cursor: str | None) -> tuple[list[dict], str | None]:
    """The school's posts by id (the caller has already been shown the school)."""
    after = decode_cursor(cursor, arity=1)
    rows = await db.fetch(f"""
        SELECT {COLUMNS} FROM posts p
        WHERE p.school_id = :school_id AND p.deleted_at IS NULL
          AND (CAST(:after AS uuid) IS NULL OR p.id > CAST(:after AS uuid))
        ORDER BY p.id LIMIT :n
    """, {"school_id": school_id, "after": after[0] if after else None, "n": limit + 1})
    return page_of([dict(r) for r in rows], limit=limit, key=lambda r: [str(r["id"])])
