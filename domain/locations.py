"""Client geometry in, stored geometry out: every point or area a client sends passes through here.

Points and areas arrive as GeoJSON in `crs` (wgs84 | gcj02 | bd09) and are stored as WGS-84; a bad one
becomes an `InvalidInput` naming the exact field (e.g. `location.coordinates.1`).
"""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon

from domain.errors import InvalidInput
from geo.crs import CRS
from geo.geometry import GeometryError, parse_area, parse_bbox, parse_lonlat, parse_point, parse_position

CRS_NAMES = tuple(c.value for c in CRS)


def _field(prefix: str, err: GeometryError) -> str:
    return ".".join([prefix, *(str(p) for p in err.path)]) if err.path else prefix


def crs_of(value: str | None, *, field: str = "crs") -> CRS:
    try:
        return CRS(value or "wgs84")
    except ValueError as exc:
        raise InvalidInput(f"crs must be one of {', '.join(CRS_NAMES)}", field=field) from exc


def read_point(obj: Any, *, crs: str | None, field: str = "location") -> Point:
    """A GeoJSON Point in `crs` as a WGS-84 shapely Point."""
    try:
        return parse_point(obj, crs=crs_of(crs))
    except GeometryError as err:
        raise InvalidInput(err.message, field=_field(field, err)) from err


def read_position(obj: Any, *, crs: str | None, field: str = "location") -> tuple[float, float]:
    """A GeoJSON Point in `crs` as WGS-84 (lon, lat), checked as `read_point` checks it."""
    try:
        return parse_position(obj, crs=crs_of(crs))
    except GeometryError as err:
        raise InvalidInput(err.message, field=_field(field, err)) from err


def read_area(obj: Any, *, crs: str | None, field: str = "campus") -> Polygon | MultiPolygon:
    """A GeoJSON Polygon or MultiPolygon in `crs` as a valid WGS-84 shapely geometry."""
    try:
        return parse_area(obj, crs=crs_of(crs))
    except GeometryError as err:
        raise InvalidInput(err.message, field=_field(field, err)) from err


def read_lonlat(text: str, *, crs: str | None, field: str = "near") -> tuple[float, float]:
    try:
        return parse_lonlat(text, crs=crs_of(crs))
    except GeometryError as err:
        raise InvalidInput(err.message, field=field) from err


def read_bbox(text: str, *, crs: str | None = None, field: str = "bbox") -> tuple[float, float, float, float]:
    try:
        return parse_bbox(text, crs=crs_of(crs))
    except GeometryError as err:
        raise InvalidInput(err.message, field=field) from err


def read_coordinates(lon: float, lat: float, *, crs: str | None) -> tuple[float, float]:
    """Query-string `lon` and `lat` in `crs` as WGS-84 (lon, lat)."""
    return read_position({"type": "Point", "coordinates": [lon, lat]}, crs=crs, field="lon,lat")


def wkb(geometry) -> bytes:
    """Well-known binary for PostGIS (`ST_GeomFromWKB(:wkb, 4326)::geography`)."""
    return shapely.to_wkb(geometry)
