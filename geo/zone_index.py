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

__all__ = ["Zone", "ZoneIndex", "distance_m", "sphere_distance_m"]

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


def _unit_vectors(lon_deg: np.ndarray, lat_deg: np.ndarray) -> np.ndarray:
    lon, lat = np.radians(lon_deg), np.radians(lat_deg)
    cos_lat = np.cos(lat)
    return np.stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)], axis=-1)


def _angle(u: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Angles between the rows of `u` and `p`, precise for tiny angles too (arccos of a dot product is not)."""
    return np.arctan2(np.linalg.norm(np.cross(u, p), axis=-1), u @ p)


def _nearest_on_sphere(lon: float, lat: float, boundary: BaseGeometry) -> tuple[float, float, float]:
    """The boundary's nearest point to the point on the sphere, as PostGIS finds it for `geography` (edges are
    great-circle arcs, latitudes taken as spherical): (angle in radians, lon, lat); the angle is -1 when the
    point lies inside the polygon."""
    p = _unit_vectors(np.array(lon), np.array(lat))
    if boundary.geom_type == "Point":
        q = _unit_vectors(np.array(boundary.x), np.array(boundary.y))
        return float(_angle(q[None, :], p)[0]), boundary.x, boundary.y
    if boundary.covers(shapely.Point(lon, lat)):
        return -1.0, lon, lat
    starts, ends = [], []
    for part in shapely.get_parts(boundary):
        lines = shapely.get_rings(part) if part.geom_type == "Polygon" else [part]
        for line in lines:
            xy = shapely.get_coordinates(line)
            starts.append(xy[:-1])
            ends.append(xy[1:])
    a_xy, b_xy = np.concatenate(starts), np.concatenate(ends)
    a, b = _unit_vectors(a_xy[:, 0], a_xy[:, 1]), _unit_vectors(b_xy[:, 0], b_xy[:, 1])
    n = np.cross(a, b)
    norm = np.linalg.norm(n, axis=1)
    degenerate = norm == 0
    n = n / np.where(degenerate, 1.0, norm)[:, None]
    k = p - (n @ p)[:, None] * n  # the point projected onto each edge's great circle
    k = k / np.linalg.norm(k, axis=1)[:, None]
    in_cone = (np.einsum("ij,ij->i", np.cross(a, k), n) >= 0) & (np.einsum("ij,ij->i", np.cross(k, b), n) >= 0)
    in_cone &= ~degenerate
    to_a, to_b, to_k = _angle(a, p), _angle(b, p), _angle(k, p)
    nearest = np.where(in_cone[:, None], k, np.where((to_a < to_b)[:, None], a, b))
    angle = np.where(in_cone, to_k, np.minimum(to_a, to_b))
    best = int(np.argmin(angle))
    x, y, z = nearest[best]
    return float(angle[best]), math.degrees(math.atan2(y, x)), math.degrees(math.asin(max(-1.0, min(1.0, z))))


def distance_m(lon: float, lat: float, boundary: BaseGeometry) -> float:
    """Metres from the point to the boundary (0 inside a polygon), as PostGIS computes
    `ST_Distance(geography, geography)`: the nearest point found on the sphere, then the WGS-84 geodesic to it."""
    angle, nlon, nlat = _nearest_on_sphere(lon, lat, boundary)
    if angle < 0:  # inside
        return 0.0
    return float(GEOD.inv(lon, lat, nlon, nlat)[2])


def sphere_distance_m(lon: float, lat: float, boundary: BaseGeometry) -> float:
    """Metres on the sphere of the WGS-84 mean radius: the distance PostGIS orders `geography <-> geography` by."""
    return max(0.0, _nearest_on_sphere(lon, lat, boundary)[0]) * MEAN_RADIUS_M


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

    def within(self, lon: float, lat: float, reach_m: float) -> list[tuple[Zone, float]]:
        """The zones whose boundary lies within about `reach_m` of the point, nearest first, each with its
        distance in the local plane (metres, within a few centimetres of the geodesic one over a few kilometres;
        `distance_m` gives the exact figure)."""
        kx, ky = _metres_per_degree(lat)
        # A box a little larger than the reach: the local plane's scale changes slightly across it.
        dlon, dlat = reach_m * 1.01 / kx, reach_m * 1.01 / ky
        box = shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)
        zones = [self._zones[i] for i in self._tree.query(box) if self._zones[i].key not in self._overlay]
        zones.extend(z for z in self._overlay.values() if z is not None and z.boundary.intersects(box))
        if not zones:
            return []
        origin, scale = np.array([lon, lat]), np.array([kx, ky])
        local = shapely.transform(np.array([z.boundary for z in zones], dtype=object),
                                  lambda xy: (xy - origin) * scale)
        distances = shapely.distance(shapely.Point(0.0, 0.0), local)
        order = np.argsort(distances, kind="stable")
        return [(zones[i], float(distances[i])) for i in order if distances[i] <= reach_m]
