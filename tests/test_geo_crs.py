"""Behaviour of geo.crs: WGS-84 <-> GCJ-02 <-> BD-09 conversion."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from geo.crs import CRS, from_wgs84, is_in_china, to_wgs84

GEOD = Geod(ellps="WGS84")
ROUND_TRIP_TOLERANCE_M = 0.5

# Tiananmen Square: the widely published WGS-84 / GCJ-02 / BD-09 triple.
TIANANMEN_WGS84 = (116.391349, 39.907375)
TIANANMEN_GCJ02 = (116.397590, 39.908776)
TIANANMEN_BD09 = (116.403963, 39.915120)

CHINESE_CITIES_WGS84 = {
    "Beijing": (116.4074, 39.9042),
    "Shanghai": (121.4737, 31.2304),
    "Guangzhou": (113.2644, 23.1291),
    "Harbin": (126.6424, 45.7567),
    "Kunming": (102.8329, 24.8801),
    "Lhasa": (91.1322, 29.6600),
    "Urumqi": (87.6168, 43.8256),
    "Kashgar": (75.9898, 39.4677),
    "Sanya": (109.5120, 18.2528),
    "Mohe": (122.5386, 52.9722),
}

# Well inside the GCJ-02 rectangle, so a ~1 km shift never crosses its edge.
points_in_china = st.tuples(
    st.floats(min_value=73.5, max_value=134.8),
    st.floats(min_value=18.0, max_value=53.5),
)
points_outside_china = st.one_of(
    st.tuples(st.floats(min_value=-180.0, max_value=72.0), st.floats(min_value=-90.0, max_value=90.0)),
    st.tuples(st.floats(min_value=137.84, max_value=180.0), st.floats(min_value=-90.0, max_value=90.0)),
    st.tuples(st.floats(min_value=-180.0, max_value=180.0), st.floats(min_value=-90.0, max_value=0.82)),
    st.tuples(st.floats(min_value=-180.0, max_value=180.0), st.floats(min_value=55.83, max_value=90.0)),
)


def metres_between(a, b):
    return GEOD.inv(a[0], a[1], b[0], b[1])[2]


def test_crs_values_are_the_lowercase_names_clients_send():
    assert [member.value for member in CRS] == ["wgs84", "gcj02", "bd09"]
    assert CRS("gcj02") is CRS.GCJ02
    assert CRS.BD09 == "bd09"


def test_wgs84_is_returned_unchanged():
    assert to_wgs84(116.5, 39.5, "wgs84") == (116.5, 39.5)
    assert from_wgs84(116.5, 39.5, CRS.WGS84) == (116.5, 39.5)


def test_unknown_coordinate_system_is_refused():
    with pytest.raises(ValueError, match="unknown coordinate system"):
        to_wgs84(116.5, 39.5, "epsg:4326")
    with pytest.raises(ValueError, match="unknown coordinate system"):
        from_wgs84(116.5, 39.5, "mars")


def test_tiananmen_wgs84_converts_to_its_published_gcj02_position():
    lon, lat = from_wgs84(*TIANANMEN_WGS84, CRS.GCJ02)
    assert lon == pytest.approx(TIANANMEN_GCJ02[0], abs=1e-6)
    assert lat == pytest.approx(TIANANMEN_GCJ02[1], abs=1e-6)


def test_tiananmen_wgs84_converts_to_its_published_bd09_position():
    lon, lat = from_wgs84(*TIANANMEN_WGS84, CRS.BD09)
    assert lon == pytest.approx(TIANANMEN_BD09[0], abs=1e-6)
    assert lat == pytest.approx(TIANANMEN_BD09[1], abs=1e-6)
    # The often-quoted rounded Baidu position is within ~15 m.
    assert metres_between((lon, lat), (116.404, 39.915)) < 20


def test_tiananmen_published_gcj02_and_bd09_positions_convert_back_to_wgs84():
    for position, crs in ((TIANANMEN_GCJ02, CRS.GCJ02), (TIANANMEN_BD09, CRS.BD09)):
        assert metres_between(to_wgs84(*position, crs), TIANANMEN_WGS84) < 0.1


@pytest.mark.parametrize("city", sorted(CHINESE_CITIES_WGS84))
def test_gcj02_shift_in_chinese_cities_is_between_100_and_700_metres(city):
    wgs84 = CHINESE_CITIES_WGS84[city]
    assert 100 < metres_between(wgs84, from_wgs84(*wgs84, CRS.GCJ02)) < 700


@pytest.mark.parametrize("city", sorted(CHINESE_CITIES_WGS84))
def test_bd09_shift_in_chinese_cities_is_between_500_and_2000_metres(city):
    wgs84 = CHINESE_CITIES_WGS84[city]
    assert 500 < metres_between(wgs84, from_wgs84(*wgs84, CRS.BD09)) < 2000


@settings(max_examples=500, database=None)
@given(points_in_china)
def test_gcj02_point_round_trips_within_half_a_metre(point):
    back = to_wgs84(*from_wgs84(*point, CRS.GCJ02), CRS.GCJ02)
    assert metres_between(point, back) < ROUND_TRIP_TOLERANCE_M
    # The iterative inverse is in fact far tighter than the contract.
    assert metres_between(point, back) < 0.001


@settings(max_examples=500, database=None)
@given(points_in_china)
def test_bd09_point_round_trips_within_half_a_metre(point):
    back = to_wgs84(*from_wgs84(*point, CRS.BD09), CRS.BD09)
    assert metres_between(point, back) < ROUND_TRIP_TOLERANCE_M
    assert metres_between(point, back) < 0.001


@settings(max_examples=300, database=None)
@given(points_in_china, st.sampled_from([CRS.GCJ02, CRS.BD09]))
def test_chinese_map_positions_round_trip_through_wgs84_within_half_a_metre(point, crs):
    back = from_wgs84(*to_wgs84(*point, crs), crs)
    assert metres_between(point, back) < ROUND_TRIP_TOLERANCE_M


@settings(max_examples=300, database=None)
@given(points_outside_china)
def test_gcj02_is_the_identity_outside_china(point):
    assert not is_in_china(*point)
    assert from_wgs84(*point, CRS.GCJ02) == point
    assert to_wgs84(*point, CRS.GCJ02) == point


def test_bd09_outside_china_applies_only_the_baidu_transform_and_still_round_trips():
    sydney = (151.2093, -33.8688)
    bd09 = from_wgs84(*sydney, CRS.BD09)
    assert bd09 != sydney
    assert metres_between(to_wgs84(*bd09, CRS.BD09), sydney) < 0.001


@settings(max_examples=200, database=None)
@given(points_in_china)
def test_forward_transforms_agree_with_the_independent_coord_convert_package(point):
    transform = pytest.importorskip("coord_convert.transform")
    assert from_wgs84(*point, CRS.GCJ02) == pytest.approx(transform.wgs2gcj(*point), abs=1e-9)
    assert from_wgs84(*point, CRS.BD09) == pytest.approx(transform.wgs2bd(*point), abs=1e-9)
