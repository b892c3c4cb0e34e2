"""School zones: everything within `zone_radius_m` of a school's boundary (campus polygon, else gate point).

Membership and distances are decided in PostGIS on `geography` (geodesic metres) with the GiST index on
`schools.boundary`. `ZONE_REACH_M`, the largest radius a school may have, is the constant index condition
of every membership query; each school's own radius is then a filter on the few candidates.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from dataclasses import dataclass

import shapely

from domain.callers import Caller
from domain.database import Db, Query
from domain.errors import NotFound
from geo.geometry import area_to_geojson
from geo.zone_index import Zone, ZoneIndex, measure
from geo.zones import zone_polygon

log = logging.getLogger("huxiao.zones")

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
                 nearest_outside: int = NEAREST_OUTSIDE_DEFAULT, index: ZoneIndex | None = None) -> list[dict]:
    """Every school (in the caller's jurisdictions) whose zone holds the WGS-84 point, then the nearest
    few whose zone does not, nearest first; `distance_m` is to the campus boundary (0 inside it)."""
    if index is not None:
        return lookup_in_index(index, caller=caller, lon=lon, lat=lat, nearest_outside=nearest_outside)
    return await lookup_in_database(db, caller=caller, lon=lon, lat=lat, nearest_outside=nearest_outside)


async def lookup_in_database(db: Db, *, caller: Caller, lon: float, lat: float,
                             nearest_outside: int = NEAREST_OUTSIDE_DEFAULT) -> list[dict]:
    """`lookup` answered by PostGIS (while the in-memory index is not ready, and to check it)."""
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


# --- the in-memory index -------------------------------------------------------------------------------------

SCHOOLS_CHANNEL = "huxiao_schools"
# The nearest schools outside their zones are looked for in growing circles (a dense town needs only the first).
NEAREST_SEARCH_STEPS_M = (500.0, 2_000.0, NEAREST_SEARCH_M)
LOCAL_WRITE_WAIT_S = 2.0

INDEX_ROWS = Query("""
    SELECT s.id, s.name, s.kind, s.jurisdiction_code, s.zone_radius_m, j.path::text AS path,
           ST_AsBinary(s.boundary) AS boundary
    FROM schools s JOIN jurisdictions j ON j.code = s.jurisdiction_code
    WHERE s.deleted_at IS NULL AND (CAST(:ids AS uuid[]) IS NULL OR s.id = ANY(CAST(:ids AS uuid[])))
""")


@dataclass(frozen=True, slots=True)
class IndexedSchool:
    """What a zone lookup answers about a school, besides its distance."""

    name: str
    kind: str
    jurisdiction_code: str
    path: str


def _zone(row) -> Zone:
    return Zone(key=row["id"], boundary=shapely.from_wkb(bytes(row["boundary"])), radius_m=float(row["zone_radius_m"]),
                data=IndexedSchool(row["name"], row["kind"], row["jurisdiction_code"], row["path"]))


def _build(rows) -> ZoneIndex:
    return ZoneIndex([_zone(r) for r in rows])


class ZoneIndexState:
    """This process' index of school zones, kept fresh by LISTEN/NOTIFY.

    Loaded when the listener connects (and again whenever it reconnects, since notifications may have been
    missed meanwhile); every change to `schools` NOTIFYs `huxiao_schools` with the school's id (a trigger), and
    the changed rows are read and swapped in when the notification arrives. While the index is not loaded, or
    the listener is down, `current()` is None and lookups run in PostgreSQL. A school written by this process
    is looked up in PostgreSQL until its notification has been applied (at most `LOCAL_WRITE_WAIT_S`), so a
    client sees its own change at once; another worker's change arrives within the notification's delay.
    """

    def __init__(self, db: Db) -> None:
        self.index: ZoneIndex | None = None
        self.db = db
        self.connected = False
        self._pending: set[uuid.UUID] = set()
        self._local: set[uuid.UUID] = set()
        self._local_until = 0.0
        self._task: asyncio.Task | None = None
        self._generation = 0
        _STATES.add(self)

    def current(self) -> ZoneIndex | None:
        if self.index is None or not self.connected:
            return None
        if self._local and time.monotonic() < self._local_until:
            return None
        return self.index

    def note_local_write(self, ids: list[uuid.UUID]) -> None:
        self._local.update(ids)
        self._local_until = time.monotonic() + LOCAL_WRITE_WAIT_S

    # listener callbacks (synchronous, on the event loop)
    def listening(self, connected: bool) -> None:
        self.connected = connected
        self._generation += 1
        self.index = None
        self._pending.clear()
        if connected:
            self._schedule()

    def notified(self, payload: str) -> None:
        try:
            self._pending.add(uuid.UUID(payload))
        except ValueError:
            return
        self._schedule()

    def _schedule(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._refresh(), name="huxiao-zone-index")

    async def _refresh(self) -> None:
        while True:
            generation = self._generation
            try:
                if self.index is None:
                    self._pending.clear()
                    rows = await self.db.fetch(INDEX_ROWS, {"ids": None})
                    fresh = await asyncio.to_thread(_build, rows)
                    if generation == self._generation:
                        self.index = fresh
                        self._local.clear()
                        log.info("zone index loaded: %d schools", len(fresh))
                elif self._pending:
                    ids = list(self._pending)
                    self._pending.difference_update(ids)
                    rows = {r["id"]: r for r in await self.db.fetch(INDEX_ROWS, {"ids": ids})}
                    if generation == self._generation and self.index is not None:
                        changes = {i: (_zone(rows[i]) if i in rows else None) for i in ids}
                        self.index = await asyncio.to_thread(self.index.with_changes, changes)
                        self._local.difference_update(ids)
            except Exception:  # the database is away: lookups use it too, and fail there the same way
                log.warning("zone index refresh failed; lookups use PostgreSQL meanwhile", exc_info=True)
                self.index = None
                return
            if (self.index is not None or not self.connected) and not self._pending:
                return


_STATES: weakref.WeakSet[ZoneIndexState] = weakref.WeakSet()


def note_local_write(ids: list[uuid.UUID]) -> None:
    """Schools written by this process: its indexes leave them to PostgreSQL until their notifications land."""
    for state in list(_STATES):
        state.note_local_write(ids)


def holding_zone(index: ZoneIndex, *, lon: float, lat: float) -> tuple[uuid.UUID | None, float | None]:
    """The school whose zone holds the point, nearest first (by `<->`, as the SQL judgement orders them), and its
    distance in metres; (None, None) outside every zone. Every school counts, whoever asks."""
    best = None
    for zone in index.candidates(lon, lat, index.max_radius_m):
        sphere_m, d = measure(lon, lat, zone.boundary)
        if d <= zone.radius_m and (best is None or (sphere_m, zone.key) < best[:2]):
            best = (sphere_m, zone.key, d)
    return (best[1], best[2]) if best is not None else (None, None)


def lookup_in_index(index: ZoneIndex, *, caller: Caller, lon: float, lat: float,
                    nearest_outside: int = NEAREST_OUTSIDE_DEFAULT) -> list[dict]:
    """`lookup` answered from the in-memory index: the same schools, distances within a centimetre."""

    def answer(zone: Zone, d: float) -> dict:
        school: IndexedSchool = zone.data
        return {"school_id": zone.key, "name": school.name, "kind": school.kind,
                "jurisdiction_code": school.jurisdiction_code, "zone_radius_m": zone.radius_m,
                "distance_m": d, "inside": d <= zone.radius_m}

    found: dict[uuid.UUID, dict] = {}
    exact: dict[uuid.UUID, tuple[float, float]] = {}  # (sphere, ellipsoid) metres
    for zone in index.candidates(lon, lat, index.max_radius_m):
        if caller.sees_path(zone.data.path):
            exact[zone.key] = measured = measure(lon, lat, zone.boundary)
            d = measured[1]
            if d <= zone.radius_m:
                found[zone.key] = answer(zone, d)
    if nearest_outside:
        # As the SQL lookup: the nearest by `<->` (distance on the sphere). The local plane ranks the candidates;
        # only those within half a percent of the N-th (sphere, spheroid and plane differ by less) are measured.
        for reach in NEAREST_SEARCH_STEPS_M:
            candidates = [(zone, approx) for zone, approx in index.within(lon, lat, reach)
                          if zone.key not in found and caller.sees_path(zone.data.path)]
            # Enough, and no school beyond this circle could rank among them (the cutoff below lies inside it).
            if len(candidates) >= nearest_outside and candidates[nearest_outside - 1][1] * 1.005 + 1.0 <= reach:
                break
        if candidates:
            cutoff = candidates[min(nearest_outside, len(candidates)) - 1][1] * 1.005 + 1.0
            ranked = sorted(((exact.get(zone.key) or measure(lon, lat, zone.boundary), zone.key, zone)
                             for zone, approx in candidates if approx <= cutoff), key=lambda r: (r[0][0], r[1]))
            for (sphere_m, d), key, zone in ranked[:nearest_outside]:
                if sphere_m <= NEAREST_SEARCH_M:
                    found[key] = answer(zone, d)
    out = sorted(found.values(), key=lambda r: (r["distance_m"], r["school_id"]))
    for r in out:
        r["distance_m"] = round(r["distance_m"], 2)
    return out
