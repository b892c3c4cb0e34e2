"""Local metric projections for measuring and buffering small WGS-84 geometries.

An azimuthal equidistant (AEQD) projection centred near the geometry keeps
distances in metres accurate to far better than a centimetre over the few
kilometres a school zone or patrol covers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS as ProjCRS
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

__all__ = ["LocalProjection", "local_projection"]

# Projection centres snap to this grid so nearby geometries share a cached
# transformer (building one costs several milliseconds); a centre that is off
# by up to ~0.8 km changes distances measured over 100 km by well under 1 cm.
PROJECTION_CENTRE_GRID_DEG = 0.01
PROJECTION_CACHE_SIZE = 1024

_WGS84 = ProjCRS.from_epsg(4326)


@dataclass(frozen=True)
class LocalProjection:
    """A pair of transformers between WGS-84 lon/lat and a local AEQD plane in metres."""

    centre_lon_deg: float
    centre_lat_deg: float
    _to_metres: Transformer
    _to_wgs84: Transformer

    def to_metres(self, geometry: BaseGeometry) -> BaseGeometry:
        """Project a WGS-84 lon/lat geometry onto the local plane (x east, y north, in metres)."""
        return shapely.transform(geometry, lambda xy: _apply(self._to_metres, xy))

    def to_wgs84(self, geometry: BaseGeometry) -> BaseGeometry:
        """Unproject a local-plane geometry back to WGS-84 lon/lat."""
        return shapely.transform(geometry, lambda xy: _apply(self._to_wgs84, xy))


def _apply(transformer: Transformer, xy: np.ndarray) -> np.ndarray:
    """Transform an (N, 2) coordinate array with ``transformer``."""
    x, y = transformer.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


def local_projection(lon: float, lat: float) -> LocalProjection:
    """Return the (cached) AEQD projection whose centre is (lon, lat) snapped to a 0.01-degree grid."""
    snap = PROJECTION_CENTRE_GRID_DEG
    return _cached_projection(round(round(lon / snap) * snap, 6), round(round(lat / snap) * snap, 6))


@lru_cache(maxsize=PROJECTION_CACHE_SIZE)
def _cached_projection(lon: float, lat: float) -> LocalProjection:
    """Build the transformers for an AEQD projection centred exactly on (lon, lat)."""
    local = ProjCRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m +no_defs")
    return LocalProjection(
        centre_lon_deg=lon,
        centre_lat_deg=lat,
        _to_metres=Transformer.from_crs(_WGS84, local, always_xy=True),
        _to_wgs84=Transformer.from_crs(local, _WGS84, always_xy=True),
    )
