"""Distances on the WGS-84 ellipsoid, in metres."""

from __future__ import annotations

import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, Point, Polygon

from geo.projection import local_projection

__all__ = ["GEOD", "distance_m", "distance_to_area_m"]

GEOD = Geod(ellps="WGS84")

# Before projecting, long area edges are split so each piece is at most this
# long (about 100 m); an edge is straight in lon/lat, and such short pieces stay
# straight enough in the projected plane for sub-millimetre accuracy.
MAX_EDGE_LENGTH_DEG = 0.001
# ...but a huge area is never split into more than about this many pieces.
MAX_DENSIFIED_VERTICES = 100_000


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Geodesic distance in metres between two WGS-84 points on the WGS-84 ellipsoid."""
    _, _, distance = GEOD.inv(lon1, lat1, lon2, lat2)
    return float(distance)


def distance_to_area_m(point: Point, area: Polygon | MultiPolygon) -> float:
    """Geodesic distance in metres from a WGS-84 point to an area: 0 inside or on it, else to the nearest boundary point.

    The nearest boundary point is found in an azimuthal equidistant plane
    centred on ``point`` (where distances from the centre are true), then the
    distance to it is measured exactly with the WGS-84 geodesic.
    """
    if area.is_empty:
        raise ValueError("cannot measure the distance to an empty geometry")
    if area.covers(point):
        return 0.0
    edge_length_deg = max(MAX_EDGE_LENGTH_DEG, area.length / MAX_DENSIFIED_VERTICES)
    densified = shapely.segmentize(area, max_segment_length=edge_length_deg)
    projection = local_projection(point.x, point.y)
    local_point = projection.to_metres(point)
    local_area = projection.to_metres(densified)
    _, nearest_local = shapely.shortest_line(local_point, local_area).coords
    nearest = projection.to_wgs84(Point(nearest_local))
    return distance_m(point.x, point.y, nearest.x, nearest.y)
