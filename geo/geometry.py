"""Parsing and validating GeoJSON points and areas, and writing them back out.

Everything returned by the parsers is a shapely geometry in WGS-84 (x = lon,
y = lat); the ``crs`` argument says what system the *input* is in.  Every
rejection raises :class:`GeometryError` naming the offending position.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon

from geo.crs import CRS, to_wgs84

__all__ = [
    "MAX_VERTICES",
    "GeometryError",
    "area_to_geojson",
    "parse_area",
    "parse_bbox",
    "parse_lonlat",
    "parse_point",
    "point_to_geojson",
    "representative_location",
]

MAX_VERTICES = 10_000
MIN_RING_POSITIONS = 4
MIN_LON_DEG, MAX_LON_DEG = -180.0, 180.0
MIN_LAT_DEG, MAX_LAT_DEG = -90.0, 90.0
# Areas must stay clear of the poles and must not wrap across the antimeridian.
MAX_AREA_ABS_LAT_DEG = 85.0
MAX_AREA_LON_SPAN_DEG = 180.0
# 7 decimal places of a degree is about 1 cm on the ground.
OUTPUT_DECIMALS = 7

Path = tuple[str | int, ...]
Position = tuple[float, float]

_DECIMAL_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_VALIDITY_REASON = re.compile(r"^(?P<what>.*)\[(?P<x>\S+) (?P<y>\S+)\]$")


class GeometryError(ValueError):
    """A geometry the API refuses; ``path`` locates the problem inside the input (may be empty)."""

    def __init__(self, message: str, path: Sequence[str | int] = ()) -> None:
        self.message = message
        self.path: Path = tuple(path)
        super().__init__(message)

    def __str__(self) -> str:
        if not self.path:
            return self.message
        return f"{'.'.join(str(part) for part in self.path)}: {self.message}"


# --------------------------------------------------------------------------- #
# Small validators shared by the parsers
# --------------------------------------------------------------------------- #


def _json_type_name(value: Any) -> str:
    """Name ``value``'s type the way a JSON client would understand it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _crs(crs: CRS | str) -> CRS:
    """The coordinate system must be one of wgs84, gcj02 or bd09."""
    try:
        return CRS(crs)
    except ValueError:
        allowed = ", ".join(member.value for member in CRS)
        raise GeometryError(f"unknown coordinate system {crs!r}; expected one of {allowed}") from None


def _number(value: Any, path: Path) -> float:
    """A coordinate must be a finite JSON number: not a boolean, string, NaN or Infinity."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GeometryError(f"must be a number, got {_json_type_name(value)}", path)
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise GeometryError("must be a finite number (NaN and Infinity are not allowed)", path)
    return number


def _check_range(lon: float, lat: float, path: Path, *, converted_from: CRS | None = None) -> None:
    """Longitude must lie in [-180, 180] and latitude in [-90, 90]."""
    suffix = f" after conversion from {converted_from.value}" if converted_from else ""
    if not MIN_LON_DEG <= lon <= MAX_LON_DEG:
        raise GeometryError(f"longitude {lon} is outside [-180, 180]{suffix}", (*path, 0))
    if not MIN_LAT_DEG <= lat <= MAX_LAT_DEG:
        raise GeometryError(f"latitude {lat} is outside [-90, 90]{suffix}", (*path, 1))


def _position(value: Any, path: Path) -> Position:
    """A position is an array of 2 finite numbers [lon, lat], or 3 with an ignored altitude."""
    if not isinstance(value, (list, tuple)):
        raise GeometryError(f"a position must be an array [lon, lat], got {_json_type_name(value)}", path)
    if len(value) not in (2, 3):
        raise GeometryError(
            f"a position must have 2 numbers [lon, lat] (or 3 with altitude), got {len(value)}", path
        )
    numbers = [_number(item, (*path, index)) for index, item in enumerate(value)]
    lon, lat = numbers[0], numbers[1]
    _check_range(lon, lat, path)
    return lon, lat


def _convert(position: Position, crs: CRS, path: Path) -> Position:
    """Converting to WGS-84 must still give a longitude and latitude in range."""
    if crs is CRS.WGS84:
        return position
    lon, lat = to_wgs84(position[0], position[1], crs)
    _check_range(lon, lat, path, converted_from=crs)
    return lon, lat


def _geojson_object(obj: Any, allowed_types: tuple[str, ...]) -> Any:
    """The input must be a GeoJSON object of an allowed type; returns its ``coordinates``."""
    expected = " or ".join(allowed_types)
    if not isinstance(obj, dict):
        raise GeometryError(f"expected a GeoJSON {expected} object, got {_json_type_name(obj)}")
    geometry_type = obj.get("type")
    if geometry_type not in allowed_types:
        got = repr(geometry_type) if isinstance(geometry_type, str) else _json_type_name(geometry_type)
        raise GeometryError(f"expected type {expected}, got {got}", ("type",))
    if "coordinates" not in obj:
        raise GeometryError("coordinates are required", ("coordinates",))
    return obj["coordinates"]


def _array(value: Any, what: str, path: Path) -> Sequence[Any]:
    """A nesting level of GeoJSON coordinates must be an array."""
    if not isinstance(value, (list, tuple)):
        raise GeometryError(f"{what} must be an array, got {_json_type_name(value)}", path)
    return value


def _explain_invalid(geometry: shapely.Geometry, crs: CRS) -> str | None:
    """Return why shapely considers ``geometry`` invalid, in words, or None when it is valid."""
    if shapely.is_valid(geometry):
        return None
    reason = shapely.is_valid_reason(geometry)
    match = _VALIDITY_REASON.match(reason)
    if match:
        reason = f"{match['what'].lower()} near lon {match['x']}, lat {match['y']} ({crs.value})"
    return reason


# --------------------------------------------------------------------------- #
# Points
# --------------------------------------------------------------------------- #


def parse_point(obj: Any, *, crs: CRS | str = CRS.WGS84) -> Point:
    """Parse a GeoJSON Point given in ``crs`` into a WGS-84 shapely Point, refusing anything malformed."""
    return Point(*parse_position(obj, crs=crs))


def parse_position(obj: Any, *, crs: CRS | str = CRS.WGS84) -> Position:
    """Parse a GeoJSON Point given in ``crs`` into a WGS-84 (lon, lat), refusing anything malformed: what
    `parse_point` checks, without building a shapely object (the hot paths need only the numbers)."""
    crs = _crs(crs)
    coordinates = _geojson_object(obj, ("Point",))
    path: Path = ("coordinates",)
    return _convert(_position(coordinates, path), crs, path)


def point_to_geojson(point: Point) -> dict[str, Any]:
    """Write a shapely Point as a GeoJSON Point dict, coordinates rounded to 7 decimals (~1 cm)."""
    if not isinstance(point, Point) or point.is_empty:
        raise TypeError(f"expected a non-empty shapely Point, got {point!r}")
    return {"type": "Point", "coordinates": _rounded((point.x, point.y))}


def _rounded(coordinate: Sequence[float]) -> list[float]:
    """Round a coordinate's lon and lat, dropping any altitude."""
    return [round(coordinate[0], OUTPUT_DECIMALS), round(coordinate[1], OUTPUT_DECIMALS)]


# --------------------------------------------------------------------------- #
# Areas
# --------------------------------------------------------------------------- #


class _VertexBudget:
    """Counts positions across all rings and refuses the geometry once ``limit`` is exceeded."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def spend(self, count: int) -> None:
        """Charge ``count`` more positions, raising as soon as the total exceeds the limit."""
        self.used += count
        if self.used > self.limit:
            raise GeometryError(
                f"too many vertices: at most {self.limit} positions are allowed in one geometry",
                ("coordinates",),
            )


def _ring(value: Any, path: Path, budget: _VertexBudget) -> list[Position]:
    """A linear ring has at least 4 positions and is closed (its last position equals its first)."""
    positions = _array(value, "a linear ring", path)
    budget.spend(len(positions))
    if len(positions) < MIN_RING_POSITIONS:
        raise GeometryError(
            f"a linear ring needs at least {MIN_RING_POSITIONS} positions (a triangle plus the closing "
            f"position), got {len(positions)}",
            path,
        )
    ring = [_position(position, (*path, index)) for index, position in enumerate(positions)]
    if ring[0] != ring[-1]:
        raise GeometryError(
            f"ring is not closed: its last position {list(ring[-1])} must repeat its first {list(ring[0])}",
            path,
        )
    return ring


def _polygon_rings(value: Any, path: Path, budget: _VertexBudget) -> list[list[Position]]:
    """A polygon is a non-empty array of rings: the exterior first, then any holes."""
    rings = _array(value, "polygon coordinates", path)
    if not rings:
        raise GeometryError("a polygon needs at least one ring (its exterior)", path)
    return [_ring(ring, (*path, index), budget) for index, ring in enumerate(rings)]


def _build(polygons: list[list[list[Position]]], multi: bool) -> Polygon | MultiPolygon:
    """Assemble shapely geometry from lists of rings."""
    shapes = [Polygon(rings[0], rings[1:]) for rings in polygons]
    return MultiPolygon(shapes) if multi else shapes[0]


def parse_area(
    obj: Any,
    *,
    crs: CRS | str = CRS.WGS84,
    max_vertices: int = MAX_VERTICES,
) -> Polygon | MultiPolygon:
    """Parse a GeoJSON Polygon or MultiPolygon given in ``crs`` into a valid WGS-84 shapely geometry.

    Rules, each enforced with a GeometryError: rings have >= 4 positions and are
    closed; coordinates are finite numbers within range; at most ``max_vertices``
    positions in total; the geometry is valid (no self-intersection etc.) and not
    empty; it stays within 85 degrees of the equator and does not span more than
    180 degrees of longitude (antimeridian crossings are refused).
    """
    crs = _crs(crs)
    coordinates = _geojson_object(obj, ("Polygon", "MultiPolygon"))
    multi = obj["type"] == "MultiPolygon"
    root: Path = ("coordinates",)
    budget = _VertexBudget(max_vertices)

    if multi:
        members = _array(coordinates, "MultiPolygon coordinates", root)
        if not members:
            raise GeometryError("a MultiPolygon needs at least one polygon", root)
        polygons = [_polygon_rings(member, (*root, index), budget) for index, member in enumerate(members)]
        paths = [(*root, index) for index in range(len(polygons))]
    else:
        polygons = [_polygon_rings(coordinates, root, budget)]
        paths = [root]

    reason = _explain_invalid(_build(polygons, multi), crs)
    if reason:
        raise GeometryError(f"geometry is invalid: {reason}")

    converted = [
        [
            [
                _convert(position, crs, (*polygon_path, ring_index, index))
                for index, position in enumerate(ring)
            ]
            for ring_index, ring in enumerate(rings)
        ]
        for rings, polygon_path in zip(polygons, paths, strict=True)
    ]
    _check_area_extent(converted, paths)

    area = _build(converted, multi)
    reason = _explain_invalid(area, CRS.WGS84)
    if reason:
        raise GeometryError(f"geometry became invalid after conversion from {crs.value}: {reason}")
    if area.is_empty or area.area == 0.0:
        raise GeometryError("geometry is empty (it encloses no area)")
    return area


def _check_area_extent(polygons: list[list[list[Position]]], paths: list[Path]) -> None:
    """An area must keep within 85 degrees of the equator and span at most 180 degrees of longitude."""
    lons: list[float] = []
    for rings, polygon_path in zip(polygons, paths, strict=True):
        for ring_index, ring in enumerate(rings):
            for index, (lon, lat) in enumerate(ring):
                if abs(lat) > MAX_AREA_ABS_LAT_DEG:
                    raise GeometryError(
                        f"geometries near the poles are not supported (latitude {lat} is beyond "
                        f"±{MAX_AREA_ABS_LAT_DEG:g})",
                        (*polygon_path, ring_index, index, 1),
                    )
                lons.append(lon)
    if max(lons) - min(lons) > MAX_AREA_LON_SPAN_DEG:
        raise GeometryError(
            f"geometries that cross the antimeridian (spanning more than {MAX_AREA_LON_SPAN_DEG:g} degrees "
            "of longitude) are not supported; split it into parts on either side",
            ("coordinates",),
        )


def area_to_geojson(area: Polygon | MultiPolygon) -> dict[str, Any]:
    """Write a Polygon or MultiPolygon as GeoJSON with RFC 7946 winding (exterior counter-clockwise), rounded to 7 decimals."""
    if not isinstance(area, (Polygon, MultiPolygon)):
        raise TypeError(f"expected a shapely Polygon or MultiPolygon, got {type(area).__name__}")
    oriented = shapely.orient_polygons(area, exterior_cw=False)
    if isinstance(oriented, Polygon):
        return {"type": "Polygon", "coordinates": _polygon_coordinates(oriented)}
    return {"type": "MultiPolygon", "coordinates": [_polygon_coordinates(part) for part in oriented.geoms]}


def _polygon_coordinates(polygon: Polygon) -> list[list[list[float]]]:
    """The GeoJSON ring arrays of one polygon: exterior first, then holes."""
    if polygon.is_empty:
        return []
    rings = [polygon.exterior, *polygon.interiors]
    return [[_rounded(coordinate) for coordinate in ring.coords] for ring in rings]


def representative_location(area: Polygon | MultiPolygon) -> Point:
    """Return a point guaranteed to lie inside ``area`` (shapely's point_on_surface), for labels and lookups."""
    if area.is_empty:
        raise ValueError("an empty geometry has no representative location")
    return area.point_on_surface()


# --------------------------------------------------------------------------- #
# Query-string forms
# --------------------------------------------------------------------------- #


def _query_numbers(text: Any, names: tuple[str, ...]) -> list[float]:
    """A query value is exactly len(names) comma-separated plain decimal numbers."""
    expected = ",".join(names)
    if not isinstance(text, str):
        raise GeometryError(f"expected text of the form {expected!r}, got {_json_type_name(text)}")
    parts = text.split(",")
    if len(parts) != len(names):
        raise GeometryError(f"expected {len(names)} comma-separated numbers {expected!r}, got {len(parts)}")
    numbers = []
    for index, (part, name) in enumerate(zip(parts, names, strict=True)):
        part = part.strip()
        if not _DECIMAL_NUMBER.fullmatch(part):
            raise GeometryError(f"{name} must be a decimal number, got {part!r}", (index,))
        number = float(part)
        if not math.isfinite(number):
            raise GeometryError(f"{name} must be a finite number, got {part!r}", (index,))
        numbers.append(number)
    return numbers


def _check_query_range(lon: float, lat: float, lon_index: int, *, converted_from: CRS | None = None) -> None:
    """Query coordinates obey the same ranges as GeoJSON ones; paths are component indexes."""
    try:
        _check_range(lon, lat, (), converted_from=converted_from)
    except GeometryError as error:
        raise GeometryError(error.message, (lon_index + error.path[0],)) from None


def parse_lonlat(text: str, *, crs: CRS | str = CRS.WGS84) -> tuple[float, float]:
    """Parse a query value "lon,lat" given in ``crs`` into a WGS-84 (lon, lat) tuple."""
    crs = _crs(crs)
    lon, lat = _query_numbers(text, ("lon", "lat"))
    _check_query_range(lon, lat, 0)
    if crs is CRS.WGS84:
        return lon, lat
    lon, lat = to_wgs84(lon, lat, crs)
    _check_query_range(lon, lat, 0, converted_from=crs)
    return lon, lat


def parse_bbox(text: str, *, crs: CRS | str = CRS.WGS84) -> tuple[float, float, float, float]:
    """Parse "minlon,minlat,maxlon,maxlat" given in ``crs`` into a WGS-84 (minlon, minlat, maxlon, maxlat) tuple.

    Each corner must be in range and min <= max on both axes (so boxes across the
    antimeridian are refused); a box in another system becomes the WGS-84 box
    that encloses its four converted corners.
    """
    crs = _crs(crs)
    min_lon, min_lat, max_lon, max_lat = _query_numbers(text, ("minlon", "minlat", "maxlon", "maxlat"))
    _check_query_range(min_lon, min_lat, 0)
    _check_query_range(max_lon, max_lat, 2)
    if min_lon > max_lon:
        raise GeometryError(
            "maxlon must not be less than minlon (boxes across the antimeridian are not supported)", (2,)
        )
    if min_lat > max_lat:
        raise GeometryError("maxlat must not be less than minlat", (3,))
    if crs is CRS.WGS84:
        return min_lon, min_lat, max_lon, max_lat
    corners = [to_wgs84(lon, lat, crs) for lon in (min_lon, max_lon) for lat in (min_lat, max_lat)]
    lons = [lon for lon, _ in corners]
    lats = [lat for _, lat in corners]
    box = (min(lons), min(lats), max(lons), max(lats))
    _check_query_range(box[0], box[1], 0, converted_from=crs)
    _check_query_range(box[2], box[3], 2, converted_from=crs)
    return box
