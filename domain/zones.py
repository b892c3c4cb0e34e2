"""School zones: everything within `zone_radius_m` of a school's boundary (campus polygon, else gate point).

Membership and distances are decided in PostGIS on `geography` (geodesic metres) with the GiST index on
`schools.boundary`. `ZONE_REACH_M`, the largest radius a school may have, is the constant index condition
of every membership query; each school's own radius is then a filter on the few candidates.
"""

from __future__ import annotations

import uuid

import shapely

from domain.callers import Caller
from domain.database import Db, Query
from domain.errors import NotFound
from geo.geometry import area_to_geojson
from geo.zones import zone_polygon

ZONE_RADIUS_DEFAULT_M = 200.0
ZONE_RADIUS_MAX_M = 2000.0
ZONE_REACH_M = ZONE_RADIUS_MAX_M
NEAREST_OUTSIDE_DEFAULT = 3
NEAREST_SEARCH_M = 20_000.0

# The zone decision that check-ins and incidents embed in their own INSERT statements: the school whose
# zone holds the point, nearest boundary first (unless `nearest_first=False`). `{point}` is a geography
# expression of the host query; used inside a LATERAL subquery, an outer column is a parameter of this scan, so
# the GiST index is walked in `<->` order (and a host's `LIMIT 1` stops at the first school that passes). The constant reach is the index
# condition; `boundary && _ST_Expand(point, zone_radius_m)` — the box test PostGIS itself uses as ST_DWithin's
# index condition, so it never drops a school within its radius — discards most candidates before the
# geodesic tests (a point outside every zone otherwise tests each school within the 2 km reach geodesically).
IN_ZONE_SCHOOLS_SQL = """
    SELECT s.id, s.name, ST_Distance(s.boundary, {point}) AS distance_m
    FROM schools s
    WHERE s.deleted_at IS NULL
      AND ST_DWithin(s.boundary, {point}, {reach})
      AND s.boundary && _ST_Expand({point}, s.zone_radius_m)
      AND ST_DWithin(s.boundary, {point}, s.zone_radius_m)
"""
_NEAREST_FIRST = "    ORDER BY s.boundary <-> {point}\n"


def in_zone_schools_sql(point: str, *, nearest_first: bool = True) -> str:
    """`IN_ZONE_SCHOOLS_SQL` for a point expression (e.g. `p.g` or a CTE column). `nearest_first=False` leaves
    out the `<->` order for hosts that order the rows themselves: a KNN walk computes the distance of every
    candidate in the reach, which costs more than the filters when all the rows are wanted (no `LIMIT`)."""
    sql = IN_ZONE_SCHOOLS_SQL + (_NEAREST_FIRST if nearest_first else "")
    return sql.format(point=point, reach=ZONE_REACH_M)


# The point, repeated where it is used rather than taken from a CTE: a KNN `ORDER BY boundary <-> point`
# walks the GiST index only when the point is a constant or a parameter, not another relation's column.
_POINT = "CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography)"
# The scope as a per-candidate check (a SubPlan on the jurisdiction's primary key) instead of a join: a join
# lets a generic plan start from the caller's jurisdictions and read all their schools.
_IN_SCOPE = "(SELECT j.path FROM jurisdictions j WHERE j.code = s.jurisdiction_code) <@ CAST(:scope AS ltree)"

# One round trip. `inside`: the constant reach is the index condition; `boundary && _ST_Expand(point, radius)`
# (the box test PostGIS itself uses as ST_DWithin's index condition, so it never drops a school within the
# radius) discards most of the candidates before the geodesic tests. `nearest_outside`: the GiST index walked
# in `<->` order, stopping after `:nearest` schools outside their zone within `:search_m`.
LOOKUP = Query(f"""
    WITH inside AS (
        SELECT s.id FROM schools s
        WHERE s.deleted_at IS NULL AND ST_DWithin(s.boundary, {_POINT}, {ZONE_REACH_M})
          AND s.boundary && _ST_Expand({_POINT}, s.zone_radius_m)
          AND ST_DWithin(s.boundary, {_POINT}, s.zone_radius_m)
          AND {_IN_SCOPE}
    ),
    nearest_outside AS (
        SELECT s.id FROM schools s
        WHERE s.deleted_at IS NULL AND ST_DWithin(s.boundary, {_POINT}, :search_m)
          AND NOT ST_DWithin(s.boundary, {_POINT}, s.zone_radius_m)
          AND {_IN_SCOPE}
        ORDER BY s.boundary <-> {_POINT}
        LIMIT :nearest
    )
    SELECT s.id AS school_id, s.name, s.kind, s.jurisdiction_code, s.zone_radius_m,
           ST_Distance(s.boundary, {_POINT}) AS distance_m,
           ST_DWithin(s.boundary, {_POINT}, s.zone_radius_m) AS inside
    FROM (SELECT id FROM inside UNION ALL SELECT id FROM nearest_outside) c
    JOIN schools s ON s.id = c.id
    ORDER BY distance_m, s.id
""")


async def lookup(db: Db, *, caller: Caller, lon: float, lat: float,
                 nearest_outside: int = NEAREST_OUTSIDE_DEFAULT) -> list[dict]:
    """Every school (in the caller's jurisdictions) whose zone holds the WGS-84 point, then the nearest
    few whose zone does not, nearest first; `distance_m` is to the campus boundary (0 inside it)."""
    rows = await db.fetch(LOOKUP, {
        "lon": lon, "lat": lat, "scope": caller.scope_path, "search_m": NEAREST_SEARCH_M,
        "nearest": nearest_outside,
    })
    return [{**r, "distance_m": round(float(r["distance_m"]), 2)} for r in rows]


async def zone_feature(db: Db, *, caller: Caller, school_id: uuid.UUID) -> dict:
    """The school's zone as a GeoJSON Feature: its boundary buffered by `zone_radius_m` in a local
    azimuthal equidistant projection (metres, not degrees)."""
    row = await db.fetchrow("""
        SELECT s.id, s.name, s.zone_radius_m, ST_AsBinary(s.boundary) AS boundary, j.path::text AS path,
               s.campus IS NOT NULL AS has_campus
        FROM schools s JOIN jurisdictions j ON j.code = s.jurisdiction_code
        WHERE s.id = :id AND s.deleted_at IS NULL
    """, {"id": school_id})
    if row is None or not caller.sees_path(row["path"]):
        raise NotFound(f"no school {school_id}")
    boundary = shapely.from_wkb(bytes(row["boundary"]))
    polygon = zone_polygon(boundary, row["zone_radius_m"])
    return {
        "type": "Feature",
        "id": str(row["id"]),
        "geometry": area_to_geojson(polygon),
        "properties": {
            "school_id": str(row["id"]),
            "name": row["name"],
            "zone_radius_m": row["zone_radius_m"],
            "measured_from": "campus" if row["has_campus"] else "location",
        },
    }
