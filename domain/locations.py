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


BBOX_PIECE_MAX_DEG = 90.0
"""A box wider or taller than this is searched as several pieces: PostGIS cannot cast an envelope with an edge
between antipodal points (180° of longitude, or pole to pole) to `geography`, and a box spanning half the world
or more is legal input."""


def _splits(lo: float, hi: float) -> list[tuple[float, float]]:
    pieces = max(1, int((hi - lo) // BBOX_PIECE_MAX_DEG) + 1)
    step = (hi - lo) / pieces
    return [(lo + n * step, hi if n == pieces - 1 else lo + (n + 1) * step) for n in range(pieces)]


def bbox_condition(column: str, bbox: tuple[float, float, float, float], *, prefix: str = "bb"
                   ) -> tuple[str, dict[str, float]]:
    """SQL that keeps the rows whose `geography` column intersects `bbox` (lon/lat, WGS-84), and its parameters:
    the GiST index condition `column && envelope` (one per piece of at most 90° × 90°), then the exact planar
    test on the whole envelope."""
    x0, y0, x1, y1 = bbox
    params: dict[str, float] = {f"{prefix}x0": x0, f"{prefix}y0": y0, f"{prefix}x1": x1, f"{prefix}y1": y1}
    index = []
    for n, ((a, b), (c, d)) in enumerate((xs, ys) for xs in _splits(x0, x1) for ys in _splits(y0, y1)):
        params.update({f"{prefix}{n}a": a, f"{prefix}{n}b": c, f"{prefix}{n}c": b, f"{prefix}{n}d": d})
        index.append(f"{column} && CAST(ST_MakeEnvelope(:{prefix}{n}a, :{prefix}{n}b, :{prefix}{n}c, "
                     f":{prefix}{n}d, 4326) AS geography)")
    exact = (f"ST_Intersects(CAST({column} AS geometry), "
             f"ST_MakeEnvelope(:{prefix}x0, :{prefix}y0, :{prefix}x1, :{prefix}y1, 4326))")
    return f"({' OR '.join(index)}) AND {exact}", params


def read_coordinates(lon: float, lat: float, *, crs: str | None) -> tuple[float, float]:
    """Query-string `lon` and `lat` in `crs` as WGS-84 (lon, lat)."""
    return read_position({"type": "Point", "coordinates": [lon, lat]}, crs=crs, field="lon,lat")


def wkb(geometry) -> bytes:
    """Well-known binary for PostGIS (`ST_GeomFromWKB(:wkb, 4326)::geography`)."""
    return shapely.to_wkb(geometry)
