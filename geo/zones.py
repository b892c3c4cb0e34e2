"""The displayed patrol zone around a school."""

from __future__ import annotations

import math

from shapely.geometry import MultiPolygon, Point, Polygon

from geo.projection import local_projection

__all__ = ["MAX_ZONE_RADIUS_M", "ZONE_QUAD_SEGS", "zone_polygon"]

# Line segments per quarter circle in the buffer's rounded corners.
ZONE_QUAD_SEGS = 16
# The local projection is accurate to centimetres well beyond this radius.
MAX_ZONE_RADIUS_M = 100_000.0


def zone_polygon(boundary: Point | Polygon | MultiPolygon, radius_m: float) -> Polygon | MultiPolygon:
    """Return the WGS-84 area within ``radius_m`` metres of a campus polygon or school location point.

    The buffer is computed in an azimuthal equidistant plane centred on the
    geometry's centroid, with 16 segments per quarter circle, so every vertex of
    the result is ``radius_m`` from the boundary to within centimetres.
    """
    if not isinstance(boundary, (Point, Polygon, MultiPolygon)):
        raise TypeError(f"expected a shapely Point, Polygon or MultiPolygon, got {type(boundary).__name__}")
    if boundary.is_empty:
        raise ValueError("cannot draw a zone around an empty geometry")
    if isinstance(radius_m, bool) or not isinstance(radius_m, (int, float)) or not math.isfinite(radius_m):
        raise ValueError(f"radius_m must be a finite number, got {radius_m!r}")
    if not 0 < radius_m <= MAX_ZONE_RADIUS_M:
        raise ValueError(f"radius_m must be greater than 0 and at most {MAX_ZONE_RADIUS_M:g}, got {radius_m}")
    centre = boundary.centroid
    projection = local_projection(centre.x, centre.y)
    zone = projection.to_metres(boundary).buffer(radius_m, quad_segs=ZONE_QUAD_SEGS)
    return projection.to_wgs84(zone)
