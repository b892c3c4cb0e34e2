"""Duty posts: a school-guard post at a gate or a peak-duty post on a key road, with a geofence radius."""

from __future__ import annotations

import uuid

from shapely.geometry import Point
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain import audit
from domain.callers import Caller, Role
from domain.errors import InvalidInput, NotFound
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


async def create(session: AsyncSession, *, caller: Caller, school: dict, name: str, kind: str, location: Point,
                 radius_m: float = RADIUS_DEFAULT_M) -> dict:
    """Add a post to a school (commanders); it must lie within the school's zone radius + 500 m of the campus."""
    caller.require(Role.commander)
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", field="kind")
    if not (RADIUS_MIN_M <= radius_m <= RADIUS_MAX_M):
        raise InvalidInput(f"radius_m must be in [{RADIUS_MIN_M:g}, {RADIUS_MAX_M:g}]", field="radius_m")
    gap = await session.scalar(text("""
        SELECT ST_Distance(s.boundary, CAST(ST_GeomFromWKB(:p, 4326) AS geography)) FROM schools s WHERE s.id = :id
    """), {"p": wkb(location), "id": school["id"]})
    limit = float(school["zone_radius_m"]) + POST_MAX_BEYOND_ZONE_M
    if gap is None or gap > limit:
        raise InvalidInput(f"location is {gap:.0f} m from the school's campus; a post must lie within "
                           f"{limit:.0f} m of it (zone radius + {POST_MAX_BEYOND_ZONE_M:.0f} m)", field="location")
    post_id = uuid.uuid4()
    row = (await session.execute(text(f"""
        INSERT INTO posts AS p (id, school_id, jurisdiction_code, name, kind, location, radius_m)
        VALUES (:id, :school_id, :code, :name, :kind, CAST(ST_GeomFromWKB(:location, 4326) AS geography), :radius_m)
        RETURNING {COLUMNS}
    """), {"id": post_id, "school_id": school["id"], "code": school["jurisdiction_code"], "name": name.strip(),
           "kind": kind, "location": wkb(location), "radius_m": float(radius_m)})).mappings().one()
    await audit.record(session, caller=caller, entity="post", entity_id=post_id, action="create",
                       jurisdiction_code=school["jurisdiction_code"],
                       changes={"school_id": school["id"], "name": name, "kind": kind, "radius_m": radius_m})
    return dict(row)


async def get(session: AsyncSession, *, caller: Caller, post_id: uuid.UUID, field: str | None = None) -> dict:
    """One post in the caller's jurisdictions; otherwise 404 (or 422 naming `field` when it was referenced)."""
    row = (await session.execute(text(f"""
        SELECT {COLUMNS}, j.path::text AS path, j.time_zone
        FROM posts p JOIN jurisdictions j ON j.code = p.jurisdiction_code
        WHERE p.id = :id AND p.deleted_at IS NULL
    """), {"id": post_id})).mappings().first()
    if row is None or not caller.sees_path(row["path"]):
        if field:
            raise InvalidInput(f"no post {post_id} in your jurisdictions", field=field)
        raise NotFound(f"no post {post_id}")
    return dict(row)


async def list_page(session: AsyncSession, *, school_id: uuid.UUID, limit: int,
                    cursor: str | None) -> tuple[list[dict], str | None]:
    """The school's posts by id (the caller has already been shown the school)."""
    after = decode_cursor(cursor, arity=1)
    rows = (await session.execute(text(f"""
        SELECT {COLUMNS} FROM posts p
        WHERE p.school_id = :school_id AND p.deleted_at IS NULL
          AND (CAST(:after AS uuid) IS NULL OR p.id > CAST(:after AS uuid))
        ORDER BY p.id LIMIT :n
    """), {"school_id": school_id, "after": after[0] if after else None, "n": limit + 1})).mappings().all()
    return page_of([dict(r) for r in rows], limit=limit, key=lambda r: [str(r["id"])])
