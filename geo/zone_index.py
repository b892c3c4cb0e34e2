"""An in-memory index of school boundaries: which zones hold a point, and how far each boundary is, in geodesic
metres, without a database round trip.

Boundaries (campus polygon, else the gate point) are kept in WGS-84 lon/lat in a shapely STRtree. A query
takes the candidates whose envelopes meet a box around the point that holds every place within `reach_m`,
ranks the candidates by their distance in a local plane around the query point (x east, y north, metres from
the ellipsoid's radii of curvature there), and measures the few it answers exactly as PostGIS measures
`geography` (`distance_m`: the nearest point of the nearest great-circle edge on the sphere, then the WGS-84
ellipsoid's geodesic to it), so the two agree to well under a centimetre. A point inside a campus is 0 m from it.

`within` ranks candidates by their distance in that local plane (vectorised, a few centimetres from the
geodesic figure within a few kilometres); `distance_m` gives the exact figure for the few that are answered.
Updates go into a small overlay (schools added, changed or removed since the tree was built) that every query
also reads; `with_changes` rebuilds the tree once the overlay grows past `OVERLAY_MAX`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.geodesy import GEOD

__all__ = ["Zone", "ZoneIndex", "distance_m", "measure"]

# WGS-84
_A = 6_378_137.0
_E2 = 6.694379990141317e-3
OVERLAY_MAX = 2_000
MEAN_RADIUS_M = (2 * _A + _A * (1 - 1 / 298.257223563)) / 3


@dataclass(frozen=True, slots=True)
class Zone:
    """A school's boundary (WGS-84), its zone radius in metres, and what a lookup answers about it."""

    key: Any
    boundary: BaseGeometry
    radius_m: float
    data: Any = None


def _metres_per_degree(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude at `lat` on the WGS-84 ellipsoid."""
    phi = math.radians(lat)
    s2 = math.sin(phi) ** 2
    n = _A / math.sqrt(1 - _E2 * s2)  # prime vertical radius of curvature
    m = _A * (1 - _E2) / (1 - _E2 * s2) ** 1.5  # meridional radius of curvature
    return math.radians(1) * n * math.cos(phi), math.radians(1) * m


def _unit(lon_deg: float, lat_deg: float) -> tuple[float, float, float]:
    lon, lat = math.radians(lon_deg), math.radians(lat_deg)
    cos_lat = math.cos(lat)
    return cos_lat * math.cos(lon), cos_lat * math.sin(lon), math.sin(lat)


def _cross(u, v):
    return u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]


def _dot(u, v) -> float:
    return u[0] * v[0] + u[1] * v[1] + u[2] * v[2]


def _angle(u, v) -> float:
    """The angle between two unit vectors, precise for tiny angles too (arccos of a dot product is not)."""
    return math.atan2(math.sqrt(sum(c * c for c in _cross(u, v))), _dot(u, v))


def _nearest_on_edge(a, b, p) -> tuple[float, tuple[float, float, float]]:
    """The nearest point to `p` on the great-circle arc from `a` to `b` (unit vectors) and its angle from `p`,
    as PostGIS's `edge_distance_to_point`: the point projected onto the arc's great circle when it lies within
    the arc, else the nearer end."""
    n = _cross(a, b)
    norm = math.sqrt(_dot(n, n))
    if norm > 0:
        n = (n[0] / norm, n[1] / norm, n[2] / norm)
        d = _dot(p, n)
        k = (p[0] - d * n[0], p[1] - d * n[1], p[2] - d * n[2])
        kn = math.sqrt(_dot(k, k))
        if kn > 0:
            k = (k[0] / kn, k[1] / kn, k[2] / kn)
            if _dot(_cross(a, k), n) >= 0 and _dot(_cross(k, b), n) >= 0:
                return _angle(k, p), k
    to_a, to_b = _angle(a, p), _angle(b, p)
    return (to_a, a) if to_a < to_b else (to_b, b)


_RINGS: dict[int, tuple[BaseGeometry, list[list[tuple[float, float, float]]]]] = {}
RINGS_CACHE_MAX = 50_000


def _rings(boundary: BaseGeometry) -> list[list[tuple[float, float, float]]]:
    """The boundary's lines as unit vectors, remembered per geometry (a lookup measures the same few schools
    again and again); the geometry is prepared for `covers` at the same time."""
    hit = _RINGS.get(id(boundary))
    if hit is not None and hit[0] is boundary:
        return hit[1]
    shapely.prepare(boundary)
    rings = []
    for part in shapely.get_parts(boundary):
        lines = shapely.get_rings(part) if part.geom_type == "Polygon" else [part]
        rings.extend([_unit(x, y) for x, y in shapely.get_coordinates(line).tolist()] for line in lines)
    if len(_RINGS) >= RINGS_CACHE_MAX:
        _RINGS.clear()
    _RINGS[id(boundary)] = (boundary, rings)
    return rings


def _nearest_on_sphere(lon: float, lat: float, boundary: BaseGeometry) -> tuple[float, float, float]:
    """The boundary's nearest point to the point on the sphere, as PostGIS finds it for `geography` (edges are
    great-circle arcs, latitudes taken as spherical): (angle in radians, lon, lat); the angle is -1 when the
    point lies inside the polygon."""
    p = _unit(lon, lat)
    if boundary.geom_type == "Point":
        return _angle(_unit(boundary.x, boundary.y), p), boundary.x, boundary.y
    rings = _rings(boundary)
    if shapely.intersects_xy(boundary, lon, lat):  # covers, for a point; no Point object built
        return -1.0, lon, lat
    best, nearest = math.inf, p
    for ring in rings:
        for a, b in zip(ring, ring[1:], strict=False):
            angle, point = _nearest_on_edge(a, b, p)
            if angle < best:
                best, nearest = angle, point
    x, y, z = nearest
    return best, math.degrees(math.atan2(y, x)), math.degrees(math.asin(max(-1.0, min(1.0, z))))


def measure(lon: float, lat: float, boundary: BaseGeometry) -> tuple[float, float]:
    """(metres on the sphere, as `<->` orders; metres on the ellipsoid, as `ST_Distance` answers), 0 inside."""
    angle, nlon, nlat = _nearest_on_sphere(lon, lat, boundary)
    if angle < 0:
        return 0.0, 0.0
    return angle * MEAN_RADIUS_M, float(GEOD.inv(lon, lat, nlon, nlat)[2])


def distance_m(lon: float, lat: float, boundary: BaseGeometry) -> float:
    """Metres from the point to the boundary (0 inside a polygon), as PostGIS computes
    `ST_Distance(geography, geography)`."""
    return measure(lon, lat, boundary)[1]


class ZoneIndex:
    """Zones by location; immutable (`with_changes` returns a new index)."""

    def __init__(self, zones: Iterable[Zone]):
        self._zones = list(zones)
        self._tree = shapely.STRtree([z.boundary for z in self._zones])
        self._overlay: dict[Any, Zone | None] = {}
        self.max_radius_m = max((z.radius_m for z in self._zones), default=0.0)

    def __len__(self) -> int:
        hidden = sum(1 for z in self._zones if z.key in self._overlay)
        return len(self._zones) - hidden + sum(1 for z in self._overlay.values() if z is not None)

    def with_changes(self, changes: Mapping[Any, Zone | None]) -> ZoneIndex:
        """A new index where each key in `changes` is replaced by its zone, or removed (None)."""
        overlay = {**self._overlay, **changes}
        if len(overlay) > OVERLAY_MAX:
            kept = [z for z in self._zones if z.key not in overlay]
            return ZoneIndex([*kept, *(z for z in overlay.values() if z is not None)])
        index = ZoneIndex.__new__(ZoneIndex)
        index._zones, index._tree, index._overlay = self._zones, self._tree, overlay
        index.max_radius_m = max([self.max_radius_m, *(z.radius_m for z in overlay.values() if z is not None)])
        return index

    def candidates(self, lon: float, lat: float, reach_m: float) -> list[Zone]:
        """The zones whose boundary's envelope meets the box around the point that holds every place within
        `reach_m` (a superset of those within `reach_m`; no distances computed)."""
        kx, ky = _metres_per_degree(lat)
        # A box a little larger than the reach: the local plane's scale changes slightly across it.
        dlon, dlat = reach_m * 1.01 / kx, reach_m * 1.01 / ky
        box = shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)
        zones = [self._zones[i] for i in self._tree.query(box) if self._zones[i].key not in self._overlay]
        zones.extend(z for z in self._overlay.values() if z is not None and z.boundary.intersects(box))
        return zones

    def within(self, lon: float, lat: float, reach_m: float) -> list[tuple[Zone, float]]:
        """The zones whose boundary lies within about `reach_m` of the point, nearest first, each with its
        distance in the local plane (metres, within a few centimetres of the geodesic one over a few kilometres;
        `distance_m` gives the exact figure)."""
        zones = self.candidates(lon, lat, reach_m)
        if not zones:
            return []
        kx, ky = _metres_per_degree(lat)
        origin, scale = np.array([lon, lat]), np.array([kx, ky])
        local = shapely.transform(np.array([z.boundary for z in zones], dtype=object),
                                  lambda xy: (xy - origin) * scale)
        distances = shapely.distance(shapely.Point(0.0, 0.0), local)
        order = np.argsort(distances, kind="stable")
        return [(zones[i], float(distances[i])) for i in order if distances[i] <= reach_m]
