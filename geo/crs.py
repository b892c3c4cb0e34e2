"""Coordinate systems used by Chinese web maps, and conversion to and from WGS-84.

Three systems are supported:

* ``wgs84`` - GPS coordinates, what the database stores.
* ``gcj02`` - the state-mandated obfuscated system ("Mars coordinates") used by
  AMap/Gaode, Tencent and Google Maps in China.
* ``bd09``  - Baidu Maps' system, a further transform applied on top of GCJ-02.

The forward transforms are the widely published formulas; the inverses are
solved numerically to a fraction of a millimetre.
"""

from __future__ import annotations

import math
from enum import StrEnum

__all__ = ["CRS", "from_wgs84", "is_in_china", "to_wgs84"]


class CRS(StrEnum):
    """A geographic coordinate system a client may send or ask for."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"


# Krasovsky 1940 ellipsoid, as used by the published GCJ-02 obfuscation.
KRASOVSKY_SEMI_MAJOR_AXIS_M = 6378245.0
KRASOVSKY_ECCENTRICITY_SQUARED = 0.00669342162296594323

# The rectangle inside which GCJ-02 is applied (it is the identity outside).
CHINA_MIN_LON_DEG = 72.004
CHINA_MAX_LON_DEG = 137.8347
CHINA_MIN_LAT_DEG = 0.8293
CHINA_MAX_LAT_DEG = 55.8271

# Baidu's extra rotation/scale constant and offsets (BD-09 on top of GCJ-02).
BAIDU_X_PI_RAD_PER_DEG = math.pi * 3000.0 / 180.0
BAIDU_RADIUS_PERTURBATION_DEG = 0.00002
BAIDU_ANGLE_PERTURBATION_RAD = 0.000003
BAIDU_LON_OFFSET_DEG = 0.0065
BAIDU_LAT_OFFSET_DEG = 0.006

# Inverse transforms iterate until a step moves less than this, or give up.
INVERSE_TOLERANCE_DEG = 1e-9
INVERSE_MAX_ITERATIONS = 30


def _as_crs(crs: CRS | str) -> CRS:
    """Return ``crs`` as a CRS member, raising ValueError for unknown names."""
    if isinstance(crs, CRS):
        return crs
    try:
        return CRS(crs)
    except ValueError:
        allowed = ", ".join(member.value for member in CRS)
        raise ValueError(f"unknown coordinate system {crs!r}; expected one of {allowed}") from None


def is_in_china(lon: float, lat: float) -> bool:
    """GCJ-02 applies only inside the published China rectangle (lon 72.004..137.8347, lat 0.8293..55.8271)."""
    return CHINA_MIN_LON_DEG <= lon <= CHINA_MAX_LON_DEG and CHINA_MIN_LAT_DEG <= lat <= CHINA_MAX_LAT_DEG


def _gcj02_lat_offset(x: float, y: float) -> float:
    """The published latitude shift polynomial, in Krasovsky "metres", for x = lon-105, y = lat-35."""
    offset = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    offset += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    offset += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    offset += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return offset


def _gcj02_lon_offset(x: float, y: float) -> float:
    """The published longitude shift polynomial, in Krasovsky "metres", for x = lon-105, y = lat-35."""
    offset = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    offset += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    offset += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    offset += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return offset


def _wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """WGS-84 to GCJ-02 shifts a point by the published formula inside China and leaves it alone outside."""
    if not is_in_china(lon, lat):
        return lon, lat
    d_lat = _gcj02_lat_offset(lon - 105.0, lat - 35.0)
    d_lon = _gcj02_lon_offset(lon - 105.0, lat - 35.0)
    rad_lat = math.radians(lat)
    magic = 1.0 - KRASOVSKY_ECCENTRICITY_SQUARED * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    a = KRASOVSKY_SEMI_MAJOR_AXIS_M
    d_lat = (d_lat * 180.0) / ((a * (1.0 - KRASOVSKY_ECCENTRICITY_SQUARED)) / (magic * sqrt_magic) * math.pi)
    d_lon = (d_lon * 180.0) / (a / sqrt_magic * math.cos(rad_lat) * math.pi)
    return lon + d_lon, lat + d_lat


def _gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 to BD-09 is Baidu's published perturbed rotation plus a fixed offset, applied everywhere."""
    z = math.hypot(lon, lat) + BAIDU_RADIUS_PERTURBATION_DEG * math.sin(lat * BAIDU_X_PI_RAD_PER_DEG)
    theta = math.atan2(lat, lon) + BAIDU_ANGLE_PERTURBATION_RAD * math.cos(lon * BAIDU_X_PI_RAD_PER_DEG)
    return z * math.cos(theta) + BAIDU_LON_OFFSET_DEG, z * math.sin(theta) + BAIDU_LAT_OFFSET_DEG


def _bd09_to_gcj02_estimate(lon: float, lat: float) -> tuple[float, float]:
    """Baidu's published approximate inverse of ``_gcj02_to_bd09``, used as the starting guess."""
    x = lon - BAIDU_LON_OFFSET_DEG
    y = lat - BAIDU_LAT_OFFSET_DEG
    z = math.hypot(x, y) - BAIDU_RADIUS_PERTURBATION_DEG * math.sin(y * BAIDU_X_PI_RAD_PER_DEG)
    theta = math.atan2(y, x) - BAIDU_ANGLE_PERTURBATION_RAD * math.cos(x * BAIDU_X_PI_RAD_PER_DEG)
    return z * math.cos(theta), z * math.sin(theta)


def _invert(forward, lon: float, lat: float, guess: tuple[float, float]) -> tuple[float, float]:
    """Solve ``forward(x) == (lon, lat)`` by fixed-point iteration from ``guess``.

    Both forward transforms are the identity plus a slowly varying shift, so
    the iteration ``x <- x - (forward(x) - target)`` contracts by a factor of
    roughly 1e-2 per step and usually converges in three or four steps.
    """
    x, y = guess
    for _ in range(INVERSE_MAX_ITERATIONS):
        fx, fy = forward(x, y)
        step_x, step_y = fx - lon, fy - lat
        x, y = x - step_x, y - step_y
        if abs(step_x) < INVERSE_TOLERANCE_DEG and abs(step_y) < INVERSE_TOLERANCE_DEG:
            break
    return x, y


def _gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 to WGS-84 inverts the forward shift iteratively inside China and is the identity outside."""
    if not is_in_china(lon, lat):
        return lon, lat
    return _invert(_wgs84_to_gcj02, lon, lat, guess=(lon, lat))


def _bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """BD-09 to GCJ-02 refines Baidu's approximate inverse iteratively."""
    return _invert(_gcj02_to_bd09, lon, lat, guess=_bd09_to_gcj02_estimate(lon, lat))


def to_wgs84(lon: float, lat: float, crs: CRS | str) -> tuple[float, float]:
    """Convert a (lon, lat) given in ``crs`` to WGS-84, to well under a millimetre of the exact inverse."""
    crs = _as_crs(crs)
    if crs is CRS.WGS84:
        return lon, lat
    if crs is CRS.GCJ02:
        return _gcj02_to_wgs84(lon, lat)
    return _gcj02_to_wgs84(*_bd09_to_gcj02(lon, lat))


def from_wgs84(lon: float, lat: float, crs: CRS | str) -> tuple[float, float]:
    """Convert a WGS-84 (lon, lat) to ``crs`` using the published forward formulas."""
    crs = _as_crs(crs)
    if crs is CRS.WGS84:
        return lon, lat
    if crs is CRS.GCJ02:
        return _wgs84_to_gcj02(lon, lat)
    return _gcj02_to_bd09(*_wgs84_to_gcj02(lon, lat))
