"""Features: the data as GeoJSON feature collections for GIS clients (OGC API – Features, `api/ogc.py`).

Five collections — schools, school zones, posts, incidents, check-ins — each read with one statement that
builds every feature's GeoJSON text in PostgreSQL (no row is decoded into Python and encoded again).
Listing is keyset-paged on each collection's sort key (`id`; check-ins `(recorded_at, id)`), so a client that
follows `next` links sees every row that existed when it started exactly once, whatever is added meanwhile.

Rules a caller can check:
- a caller sees the rows of its own jurisdiction and those below it, as everywhere else in the API;
- check-ins (officers' positions) are shown to commanders and admins only: for viewers (dashboard keys,
  share links) and officers the collection does not exist (404, and it is not listed);
- `bbox` is a WGS-84 longitude/latitude rectangle (CRS84) and keeps the features whose geometry meets it
  (a zone meets it when its 200 m polygon does); `datetime` (an instant or a closed interval with `..` for
  an open end) applies to incidents' `alarm_at` and check-ins' `recorded_at`;
- `numberMatched` is given only when it costs nothing: on a first page that holds every match.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from domain import incidents as incidents_rules
from domain import jurisdictions
from domain import posts as posts_rules
from domain import schools as schools_rules
from domain.callers import Caller, Role
from domain.database import Db, query
from domain.errors import InvalidInput, NotFound
from domain.paging import decode_cursor, encode_cursor
from domain.zones import ZONE_RADIUS_MAX_M

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
GEOJSON_DECIMALS = 7  # about 1 cm on the ground, as everywhere else in the API
ZONE_QUAD_SEGS = 16  # segments per quarter circle of a zone's rounded edge (as geo/zones.py draws them)
EXTENT_CACHE_S = 60.0
CHECKIN_KINDS = ("arrive", "heartbeat", "depart")
# Above this span a check-in bbox is not narrowed through the geography GiST index first (`_bbox_clauses`).
INDEXED_BBOX_MAX_SPAN_DEG = 20.0
INDEXED_BBOX_MAX_ABS_LAT_DEG = 80.0
METRES_PER_DEGREE_LAT = 110_574.0
METRES_PER_DEGREE_LON_AT_EQUATOR = 111_320.0


# --- query values -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Box:
    """A CRS84 rectangle: min lon, min lat, max lon, max lat (degrees)."""

    minx: float
    miny: float
    maxx: float
    maxy: float


@dataclass(frozen=True)
class Interval:
    """A closed time interval; None is an open end."""

    start: datetime | None
    end: datetime | None


def parse_bbox(text: str) -> Box:
    """`minlon,minlat,maxlon,maxlat` (or six numbers with heights, which are ignored), WGS-84 degrees."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (4, 6):
        raise InvalidInput("bbox must be 4 numbers: minlon,minlat,maxlon,maxlat", field="bbox")
    try:
        numbers = [float(p) for p in parts]
    except ValueError as exc:
        raise InvalidInput("bbox must be 4 numbers: minlon,minlat,maxlon,maxlat", field="bbox") from exc
    if not all(math.isfinite(n) for n in numbers):
        raise InvalidInput("bbox numbers must be finite", field="bbox")
    minx, miny, maxx, maxy = numbers if len(numbers) == 4 else (numbers[0], numbers[1], numbers[3], numbers[4])
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180):
        raise InvalidInput("bbox longitudes must lie in [-180, 180]", field="bbox")
    if not (-90 <= miny <= 90 and -90 <= maxy <= 90):
        raise InvalidInput("bbox latitudes must lie in [-90, 90]", field="bbox")
    if miny > maxy:
        raise InvalidInput("bbox minlat must not exceed maxlat", field="bbox")
    if minx > maxx:
        raise InvalidInput("bbox minlon exceeds maxlon: boxes across the antimeridian are not supported",
                           field="bbox")
    return Box(minx, miny, maxx, maxy)


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


YEARS = (1900, 2199)
"""Instants outside these years mean nothing here, and year 1 or 9999 with an offset overflow UTC."""


def _instant(text: str, *, end: bool) -> datetime:
    value = _parse_instant(text, end=end)
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not YEARS[0] <= utc.year <= YEARS[1]:
        raise InvalidInput(f"datetime must lie between the years {YEARS[0]} and {YEARS[1]}", field="datetime")
    return value


def _parse_instant(text: str, *, end: bool) -> datetime:
    if _DATE.match(text):  # a whole UTC day
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise InvalidInput(f"{text!r} is not a date", field="datetime") from exc
        if not YEARS[0] <= day.year <= YEARS[1]:
            raise InvalidInput(f"datetime must lie between the years {YEARS[0]} and {YEARS[1]}", field="datetime")
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return start + timedelta(days=1) - timedelta(microseconds=1) if end else start
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"{text!r} is not an RFC 3339 date-time", field="datetime") from exc
    if value.tzinfo is None or "T" not in text.upper():
        raise InvalidInput(f"{text!r} needs a date, a time and an offset (e.g. 2024-05-01T08:00:00Z)",
                           field="datetime")
    return value


def parse_datetime(text: str) -> Interval:
    """An RFC 3339 date-time (an instant), or `start/end` where either end may be `..` or empty (open).
    A bare date stands for that whole UTC day."""
    text = text.strip()
    if "/" not in text:
        if text in ("", ".."):
            raise InvalidInput("datetime must be a date-time or an interval start/end", field="datetime")
        if _DATE.match(text):
            return Interval(_instant(text, end=False), _instant(text, end=True))
        at = _instant(text, end=False)
        return Interval(at, at)
    first, _, second = text.partition("/")
    if "/" in second:
        raise InvalidInput("datetime has more than one '/'", field="datetime")
    start = None if first.strip() in ("", "..") else _instant(first.strip(), end=False)
    end = None if second.strip() in ("", "..") else _instant(second.strip(), end=True)
    if start is None and end is None:
        raise InvalidInput("datetime interval needs at least one end", field="datetime")
    if start is not None and end is not None and start > end:
        raise InvalidInput("datetime interval starts after it ends", field="datetime")
    return Interval(start, end)


def parse_limit(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_LIMIT
    try:
        value = int(text)
    except ValueError as exc:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT}", field="limit") from exc
    if not 1 <= value <= MAX_LIMIT:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT}", field="limit")
    return value


def _one_of(choices: tuple[str, ...]) -> Callable[[str, str], Any]:
    def parse(name: str, text: str) -> str:
        if text not in choices:
            raise InvalidInput(f"{name} must be one of {', '.join(choices)}", field=name)
        return text
    return parse


def _uuid(name: str, text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a UUID", field=name) from exc


def _boolean(name: str, text: str) -> bool:
    if text.lower() in ("true", "1"):
        return True
    if text.lower() in ("false", "0"):
        return False
    raise InvalidInput(f"{name} must be true or false", field=name)


def _severity(name: str, text: str) -> int:
    if text not in ("1", "2", "3", "4"):
        raise InvalidInput(f"{name} must be 1, 2, 3 or 4", field=name)
    return int(text)


# --- the collections ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Filter:
    """A property filter: `?name=value` keeps rows where `sql` (with `:name`) holds."""

    sql: str
    parse: Callable[[str, str], Any]
    description: str


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    geometry_type: str  # what the features' geometries are, for clients that ask
    source: str  # FROM … (alias t); `z.zone` is the zone polygon in school-zones
    feature: str  # the GeoJSON Feature text of row t
    geography: str  # the GiST-indexed geography column a bbox is first narrowed on
    key: tuple[tuple[str, str], ...]  # the keyset: (column, SQL type), ascending
    base: str = "TRUE"  # rows that exist (not deleted)
    temporal: str | None = None  # the column `datetime` filters on
    temporal_property: str | None = None
    filters: dict[str, Filter] = field(default_factory=dict)
    roles: frozenset[Role] | None = None  # None: every caller; else only these roles
    zone: bool = False  # geometry is the zone polygon around `geography` (reach ZONE_RADIUS_MAX_M)
    geometry_indexed: bool = True  # `CAST(<geography> AS geometry)` has a GiST index (migration 0009)

    def visible_to(self, caller: Caller) -> bool:
        return self.roles is None or caller.role in self.roles


def _props(*names: str, prefix: str = "t.") -> str:
    return ", ".join(f"'{n}', {prefix}{n}" for n in names)


def _feature(geometry: str, properties: str) -> str:
    return (f"CAST(json_build_object('type', 'Feature', 'id', t.id, "
            f"'geometry', CAST(ST_AsGeoJSON({geometry}, {GEOJSON_DECIMALS}) AS json), "
            f"'properties', json_build_object({properties})) AS text)")


def _code(name: str, text: str) -> str:
    return jurisdictions.validate_code(text, field=name)


# Narrows the scope (this jurisdiction and those below it, as on every list of the API) instead of adding a
# condition of its own.
JURISDICTION = Filter("", _code, "This jurisdiction and those below it (inside your own scope).")

SCHOOLS = Collection(
    id="schools", title="Schools", geometry_type="Point",
    description="Schools at their gate location (the zone collection holds the 200 m areas).",
    source="schools t", base="t.deleted_at IS NULL", geography="t.location",
    feature=_feature("t.location", _props("name", "kind", "jurisdiction_code", "address", "zone_radius_m",
                                          "external_id") + ", 'has_campus', t.campus IS NOT NULL"),
    key=(("t.id", "uuid"),),
    filters={"jurisdiction_code": JURISDICTION,
             "kind": Filter("t.kind = :kind", _one_of(schools_rules.KINDS), "School kind.")},
)

SCHOOL_ZONES = Collection(
    id="school-zones", title="School zones",
    geometry_type="Polygon",
    description="Each school's zone: everything within zone_radius_m (default 200 m) of its campus "
                "boundary, or of its gate point when no campus is known.",
    source=(f"schools t CROSS JOIN LATERAL (SELECT ST_Buffer(t.boundary, t.zone_radius_m, "
            f"'quad_segs={ZONE_QUAD_SEGS}') AS zone) z"),
    base="t.deleted_at IS NULL", geography="t.boundary", zone=True,
    feature=_feature("z.zone", "'school_id', t.id, " + _props("name", "kind", "jurisdiction_code",
                                                             "zone_radius_m")
                     + ", 'measured_from', CASE WHEN t.campus IS NULL THEN 'location' ELSE 'campus' END"),
    key=(("t.id", "uuid"),),
    filters={"jurisdiction_code": JURISDICTION,
             "kind": Filter("t.kind = :kind", _one_of(schools_rules.KINDS), "School kind.")},
)

POSTS = Collection(
    id="posts", title="Posts", geometry_type="Point",
    description="School-guard and peak-duty posts, with their geofence radius.",
    source="posts t", base="t.deleted_at IS NULL", geography="t.location",
    feature=_feature("t.location", _props("name", "kind", "school_id", "jurisdiction_code", "radius_m")),
    key=(("t.id", "uuid"),),
    filters={"jurisdiction_code": JURISDICTION,
             "kind": Filter("t.kind = :kind", _one_of(posts_rules.KINDS), "Post kind."),
             "school_id": Filter("t.school_id = :school_id", _uuid, "Posts of this school.")},
)

INCIDENTS = Collection(
    id="incidents", title="Incidents", geometry_type="Point",
    description="Incidents at their scene, with the alarm time, status and zone placement.",
    source="incidents t", geography="t.location", temporal="t.alarm_at", temporal_property="alarm_at",
    feature=_feature("t.location", _props(
        "jurisdiction_code", "category", "severity", "source", "status", "alarm_at", "received_at", "in_zone",
        "nearest_school_id") + ", 'nearest_school_distance_m', round(CAST(t.nearest_school_distance_m AS "
        "numeric), 2), " + _props("dispatched_at", "on_scene_at", "controlled_at", "closed_at", "description")),
    key=(("t.id", "uuid"),),
    filters={"jurisdiction_code": JURISDICTION,
             "category": Filter("t.category = :category", _one_of(incidents_rules.CATEGORIES), "Category."),
             "status": Filter("t.status = :status", _one_of(incidents_rules.STATUSES), "Status."),
             "severity": Filter("t.severity = :severity", _severity, "Severity 1–4."),
             "source": Filter("t.source = :source", _one_of(incidents_rules.SOURCES), "How it was reported."),
             "in_zone": Filter("t.in_zone = :in_zone", _boolean, "Inside a school zone (true/false)."),
             "school_id": Filter("t.zone_school_ids @> ARRAY[CAST(:school_id AS uuid)]", _uuid,
                                 "Incidents in this school's zone.")},
)

CHECKINS = Collection(
    id="checkins", title="Check-ins",
    geometry_type="Point",
    description="Officers' check-ins (positions) with their judgement. Commanders and admins only.",
    source="checkins t", geography="t.location", temporal="t.recorded_at", temporal_property="recorded_at",
    feature=_feature("t.location", _props(
        "officer_id", "jurisdiction_code", "kind", "recorded_at", "received_at", "accuracy_m", "shift_id",
        "post_id", "school_id", "in_school_zone", "in_post_geofence", "in_duty_window", "flags")),
    key=(("t.recorded_at", "timestamptz"), ("t.id", "uuid")),
    filters={"jurisdiction_code": JURISDICTION,
             "kind": Filter("t.kind = :kind", _one_of(CHECKIN_KINDS), "arrive, heartbeat or depart."),
             "officer_id": Filter("t.officer_id = :officer_id", _uuid, "One officer's check-ins."),
             "post_id": Filter("t.post_id = :post_id", _uuid, "Check-ins at this post."),
             "school_id": Filter("t.school_id = :school_id", _uuid, "Check-ins in this school's zone.")},
    roles=frozenset({Role.admin, Role.commander}),
    geometry_indexed=False,
)

COLLECTIONS: dict[str, Collection] = {c.id: c for c in (SCHOOLS, SCHOOL_ZONES, POSTS, INCIDENTS, CHECKINS)}


def visible_collections(caller: Caller) -> list[Collection]:
    """The collections this caller may read, in a fixed order."""
    return [c for c in COLLECTIONS.values() if c.visible_to(caller)]


def collection_for(caller: Caller, collection_id: str) -> Collection:
    """The collection, or 404 when there is none by that name for this caller (check-ins for viewers)."""
    found = COLLECTIONS.get(collection_id)
    if found is None or not found.visible_to(caller):
        raise NotFound(f"no collection {collection_id!r}")
    return found


# --- SQL pieces ----------------------------------------------------------------------------------------------

_ENVELOPE = "ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326)"
_PADDED = "CAST(ST_MakeEnvelope(:pminx, :pminy, :pmaxx, :pmaxy, 4326) AS geography)"


def _edge_bulge_deg(lat_deg: float, span_deg: float) -> float:
    """How far (degrees of latitude) the great circle between two points on the parallel `lat_deg`,
    `span_deg` apart, rises poleward of that parallel."""
    lat = math.radians(min(abs(lat_deg), 89.0))
    return math.degrees(math.atan(math.tan(lat) / math.cos(math.radians(span_deg) / 2))) - math.degrees(lat)


def _bbox_clauses(c: Collection, box: Box, params: dict[str, Any]) -> list[str]:
    """The bbox as conditions on the lon/lat rectangle. Schools, posts and incidents test their position's
    geometry cast, which has a GiST index with statistics (migration 0009): for a point `&&` is the exact
    test. A zone meets the box when its polygon does; its school's boundary is first looked for within the
    largest radius of the box. Check-ins have no such index: a regional box is first narrowed on their
    geography GiST index, with the rectangle padded so that the index test, whose box edges are great
    circles, never drops a row the exact test keeps; continental boxes skip it (most rows match them, and a
    geography box edge may not span 180°)."""
    params.update(minx=box.minx, miny=box.miny, maxx=box.maxx, maxy=box.maxy)
    if c.zone:  # the zone polygon reaches up to ZONE_RADIUS_MAX_M beyond the school's boundary
        reach_lat = ZONE_RADIUS_MAX_M / METRES_PER_DEGREE_LAT * 1.01
        widest = min(max(abs(box.miny), abs(box.maxy)) + reach_lat, 89.0)
        reach_lon = min(ZONE_RADIUS_MAX_M / (METRES_PER_DEGREE_LON_AT_EQUATOR * math.cos(math.radians(widest)))
                        * 1.01, 180.0)
        params.update(reach_lon=reach_lon, reach_lat=reach_lat)
        return [f"CAST(t.boundary AS geometry) && ST_Expand({_ENVELOPE}, :reach_lon, :reach_lat)",
                f"ST_Intersects(CAST(z.zone AS geometry), {_ENVELOPE})"]
    exact = f"CAST({c.geography} AS geometry) && {_ENVELOPE}"
    if c.geometry_indexed:
        return [exact]
    span = box.maxx - box.minx
    if span > INDEXED_BBOX_MAX_SPAN_DEG or box.maxy - box.miny > INDEXED_BBOX_MAX_SPAN_DEG \
            or max(abs(box.miny), abs(box.maxy)) > INDEXED_BBOX_MAX_ABS_LAT_DEG:
        return [exact]
    pad = max(_edge_bulge_deg(box.miny, span + 1), _edge_bulge_deg(box.maxy, span + 1)) * 1.5 + 1e-6
    params.update(pminx=box.minx - 1e-6, pminy=box.miny - pad, pmaxx=box.maxx + 1e-6, pmaxy=box.maxy + pad)
    return [f"{c.geography} && {_PADDED}", exact]


def _scope_clause(scope: str, params: dict[str, Any]) -> str | None:
    if scope == "":
        return None  # the empty scope sees everything
    params["scope"] = scope
    # A hashed semi-join on the (small) jurisdiction table: one probe per candidate row.
    return "t.jurisdiction_code IN (SELECT code FROM jurisdictions WHERE path <@ CAST(:scope AS ltree))"


def _key_sql(c: Collection) -> str:
    return "(" + ", ".join(col for col, _ in c.key) + ")"


def _key_params(c: Collection) -> str:
    return "(" + ", ".join(f"CAST(:k{i} AS {typ})" for i, (_, typ) in enumerate(c.key)) + ")"


_KEY_OPS = {"n": ">", "N": ">=", "p": "<", "P": "<="}


def _key_values(c: Collection, row: Any) -> list[str]:
    return [row[f"k{i}"].isoformat() if isinstance(row[f"k{i}"], datetime) else str(row[f"k{i}"])
            for i in range(len(c.key))]


def _decode_key(c: Collection, cursor: str) -> tuple[str, list[Any], list[str]]:
    """The cursor's direction, its key as typed values and as the strings it holds."""
    raw = decode_cursor(cursor, arity=1 + len(c.key))
    assert raw is not None
    direction, values = raw[0], raw[1:]
    if direction not in _KEY_OPS:
        raise InvalidInput("cursor is not one this server issued", field="cursor")
    out: list[Any] = []
    try:
        for (_, typ), value in zip(c.key, values, strict=True):
            out.append(uuid.UUID(value) if typ == "uuid" else datetime.fromisoformat(value))
    except (TypeError, ValueError) as exc:
        raise InvalidInput("cursor is not one this server issued", field="cursor") from exc
    return direction, out, [str(v) for v in values]


# --- items ---------------------------------------------------------------------------------------------------

@dataclass
class ItemsQuery:
    limit: int = DEFAULT_LIMIT
    bbox: Box | None = None
    interval: Interval | None = None
    cursor: str | None = None
    filters: dict[str, Any] = field(default_factory=dict)


def read_items_query(c: Collection, params: dict[str, str]) -> ItemsQuery:
    """The query string of `/items` as an `ItemsQuery`; known parameters are validated (an input error naming
    the parameter), unknown ones ignored (GIS clients add their own)."""
    q = ItemsQuery(limit=parse_limit(params.get("limit")), cursor=params.get("cursor") or None)
    if params.get("bbox"):
        q.bbox = parse_bbox(params["bbox"])
    if params.get("datetime"):
        interval = parse_datetime(params["datetime"])
        q.interval = interval if c.temporal else None  # schools, zones and posts have no time: all match
    for name, f in c.filters.items():
        value = params.get(name)
        if value is not None and value != "":
            q.filters[name] = f.parse(name, value)
    return q


@dataclass
class Page:
    features: list[str]  # each a GeoJSON Feature as JSON text
    next_cursor: str | None
    prev_cursor: str | None
    number_matched: int | None  # only when this page holds every match


async def items(db: Db, *, caller: Caller, collection: Collection, q: ItemsQuery) -> Page:
    """One page of a collection's features in the caller's jurisdictions. `db` should plan each statement
    for its own values (a pool with `plan_cache_mode = force_custom_plan`): a generic plan for a wide bbox
    sorts every match."""
    scope = caller.scope_path
    if "jurisdiction_code" in q.filters:  # an input error naming jurisdiction_code outside the scope
        scope = await jurisdictions.narrowed_scope(db, caller=caller, code=q.filters["jurisdiction_code"])
    params: dict[str, Any] = {"n": q.limit + 1}
    where = [collection.base]
    scope_sql = _scope_clause(scope, params)
    if scope_sql:
        where.append(scope_sql)
    for name, value in q.filters.items():
        if collection.filters[name].sql:
            where.append(collection.filters[name].sql)
            params[name] = value
    if q.bbox is not None:
        where.extend(_bbox_clauses(collection, q.bbox, params))
    if q.interval is not None and collection.temporal:
        if q.interval.start is not None:
            where.append(f"{collection.temporal} >= :t0")
            params["t0"] = q.interval.start
        if q.interval.end is not None:
            where.append(f"{collection.temporal} <= :t1")
            params["t1"] = q.interval.end
    direction, raw_key = "n", []
    if q.cursor:
        direction, key, raw_key = _decode_key(collection, q.cursor)
        where.append(f"{_key_sql(collection)} {_KEY_OPS[direction]} {_key_params(collection)}")
        params.update({f"k{i}": v for i, v in enumerate(key)})
    backwards = direction in ("p", "P")
    order = ", ".join(f"{col} {'DESC' if backwards else 'ASC'}" for col, _ in collection.key)
    keys = ", ".join(f"{col} AS k{i}" for i, (col, _) in enumerate(collection.key))
    rows = await db.fetch(query(f"""
        SELECT {keys}, {collection.feature} AS feature
        FROM {collection.source}
        WHERE {" AND ".join(where)}
        ORDER BY {order}
        LIMIT :n
    """), params)
    more = len(rows) > q.limit
    rows = rows[:q.limit]
    if backwards:
        rows.reverse()
    first = _key_values(collection, rows[0]) if rows else None
    last = _key_values(collection, rows[-1]) if rows else None
    nxt = prev = None
    if backwards:
        prev = encode_cursor(["p", *first]) if more and first else None
        if last:
            nxt = encode_cursor(["n", *last])
        elif q.cursor:  # nothing before the cursor: the next page starts at it
            nxt = encode_cursor(["N", *raw_key])
    else:
        nxt = encode_cursor(["n", *last]) if more and last else None
        if q.cursor:
            prev = encode_cursor(["p", *first]) if first else encode_cursor(["P", *raw_key])
    matched = len(rows) if not q.cursor and not more else None
    return Page([r["feature"] for r in rows], nxt, prev, matched)


async def item(db: Db, *, caller: Caller, collection: Collection, feature_id: str) -> str:
    """One feature as GeoJSON text; 404 when there is none by that id in the caller's jurisdictions."""
    try:
        fid = uuid.UUID(feature_id)
    except ValueError as exc:
        raise NotFound(f"no feature {feature_id!r} in {collection.id}") from exc
    params: dict[str, Any] = {"id": fid}
    where = [collection.base, "t.id = :id"]
    scope_sql = _scope_clause(caller.scope_path, params)
    if scope_sql:
        where.append(scope_sql)
    source = collection.source
    if collection is CHECKINS:  # the idempotency ledger knows the partition (recorded_at)
        where.append("t.recorded_at = (SELECT k.recorded_at FROM checkin_keys k WHERE k.id = :id)")
    text = await db.fetchval(query(f"SELECT {collection.feature} FROM {source} WHERE {' AND '.join(where)}"),
                             params)
    if text is None:
        raise NotFound(f"no feature {feature_id!r} in {collection.id}")
    return text


# --- extents -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Extent:
    bbox: tuple[float, float, float, float] | None
    start: datetime | None
    end: datetime | None


_extent_cache: dict[tuple[str, str], tuple[float, Extent]] = {}


async def extent(db: Db, *, caller: Caller, collection: Collection) -> Extent:
    """The box of the collection's features (and the span of its times) in the caller's jurisdictions,
    computed from the data and kept for `EXTENT_CACHE_S` per collection and scope."""
    cache_key = (collection.id, caller.scope_path)
    hit = _extent_cache.get(cache_key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < EXTENT_CACHE_S:
        return hit[1]
    params: dict[str, Any] = {}
    where = [collection.base]
    scope_sql = _scope_clause(caller.scope_path, params)
    if scope_sql:
        where.append(scope_sql)
    times = (f"min({collection.temporal}) AS t0, max({collection.temporal}) AS t1" if collection.temporal
             else "NULL::timestamptz AS t0, NULL::timestamptz AS t1")
    geometry = "t.boundary" if collection.zone else collection.geography
    row = await db.fetchrow(query(f"""
        SELECT ST_XMin(e) AS x0, ST_YMin(e) AS y0, ST_XMax(e) AS x1, ST_YMax(e) AS y1, t0, t1, r
        FROM (SELECT ST_Extent(CAST({geometry} AS geometry)) AS e, {times},
                     max({"t.zone_radius_m" if collection.zone else "0"}) AS r
              FROM {collection.source.split(" CROSS JOIN")[0]} WHERE {" AND ".join(where)}) s
    """), params)
    box = None
    if row is not None and row["x0"] is not None:
        x0, y0, x1, y1 = row["x0"], row["y0"], row["x1"], row["y1"]
        if collection.zone and row["r"]:  # the zones reach their radius beyond the boundaries
            dlat = float(row["r"]) / METRES_PER_DEGREE_LAT
            dlon = float(row["r"]) / (METRES_PER_DEGREE_LON_AT_EQUATOR
                                      * math.cos(math.radians(min(max(abs(y0), abs(y1)) + dlat, 89.0))))
            x0, y0, x1, y1 = max(x0 - dlon, -180), max(y0 - dlat, -90), min(x1 + dlon, 180), min(y1 + dlat, 90)
        box = (round(x0, GEOJSON_DECIMALS), round(y0, GEOJSON_DECIMALS), round(x1, GEOJSON_DECIMALS),
               round(y1, GEOJSON_DECIMALS))
    found = Extent(box, row["t0"] if row else None, row["t1"] if row else None)
    _extent_cache[cache_key] = (now, found)
    return found


async def extents(db: Db, *, caller: Caller, collections: list[Collection]) -> dict[str, Extent]:
    """`extent` of several collections at once (each statement on its own connection of the pool)."""
    found = await asyncio.gather(*(extent(db, caller=caller, collection=c) for c in collections))
    return {c.id: e for c, e in zip(collections, found, strict=True)}
