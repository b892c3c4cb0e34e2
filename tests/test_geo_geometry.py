"""Behaviour of geo.geometry (GeoJSON parsing), geo.geodesy (distances) and geo.zones (zone polygons)."""

import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import MultiPolygon, Point, Polygon

from geo.crs import CRS, from_wgs84, to_wgs84
from geo.geodesy import distance_m, distance_to_area_m
from geo.geometry import (
    MAX_VERTICES,
    GeometryError,
    area_to_geojson,
    parse_area,
    parse_bbox,
    parse_lonlat,
    parse_point,
    point_to_geojson,
    representative_location,
)
from geo.projection import local_projection
from geo.zones import MAX_ZONE_RADIUS_M, zone_polygon

GEOD = Geod(ellps="WGS84")

# A ~430 m x ~445 m block just west of Tiananmen, counter-clockwise.
CAMPUS_RING = [[116.39, 39.90], [116.395, 39.90], [116.395, 39.904], [116.39, 39.904], [116.39, 39.90]]
BOW_TIE_RING = [[116.39, 39.90], [116.395, 39.904], [116.395, 39.90], [116.39, 39.904], [116.39, 39.90]]


def geojson_point(lon, lat, *extra):
    return {"type": "Point", "coordinates": [lon, lat, *extra]}


def geojson_polygon(*rings):
    return {"type": "Polygon", "coordinates": [list(ring) for ring in rings]}


def circle_ring(vertex_count, lon=116.39, lat=39.9, radius_deg=0.01):
    """A closed ring with ``vertex_count`` positions (the last repeating the first)."""
    ring = [
        [
            lon + radius_deg * math.cos(2 * math.pi * i / (vertex_count - 1)),
            lat + radius_deg * math.sin(2 * math.pi * i / (vertex_count - 1)),
        ]
        for i in range(vertex_count - 1)
    ]
    return [*ring, ring[0]]


def brute_force_distance_to_boundary_m(lon, lat, area, samples_per_edge=4000):
    """Minimum geodesic distance to many points along the area's lon/lat edges."""
    best = math.inf
    polygons = area.geoms if isinstance(area, MultiPolygon) else [area]
    for polygon in polygons:
        for ring in [polygon.exterior, *polygon.interiors]:
            coords = np.asarray(ring.coords)
            for (x0, y0), (x1, y1) in zip(coords[:-1], coords[1:], strict=True):
                t = np.linspace(0.0, 1.0, samples_per_edge)
                xs, ys = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
                _, _, d = GEOD.inv(np.full_like(xs, lon), np.full_like(ys, lat), xs, ys)
                best = min(best, float(d.min()))
    return best


def assert_geometry_error(call, *, message, path=None):
    with pytest.raises(GeometryError) as caught:
        call()
    assert message in caught.value.message
    if path is not None:
        assert caught.value.path == path
    return caught.value


# --------------------------------------------------------------------------- #
# GeometryError
# --------------------------------------------------------------------------- #


def test_geometry_error_is_a_value_error_carrying_message_and_path():
    error = GeometryError("must be a number", ("coordinates", 1))
    assert isinstance(error, ValueError)
    assert error.message == "must be a number"
    assert error.path == ("coordinates", 1)
    assert str(error) == "coordinates.1: must be a number"
    assert GeometryError("bad").path == ()


# --------------------------------------------------------------------------- #
# parse_point
# --------------------------------------------------------------------------- #


def test_wgs84_point_parses_to_the_same_lon_lat():
    point = parse_point(geojson_point(116.391349, 39.907375))
    assert isinstance(point, Point)
    assert (point.x, point.y) == (116.391349, 39.907375)


def test_point_accepts_integer_coordinates_and_ignores_altitude():
    point = parse_point(geojson_point(116, 40, 43.5))
    assert (point.x, point.y) == (116.0, 40.0)
    assert not point.has_z


@pytest.mark.parametrize("crs", [CRS.GCJ02, CRS.BD09, "gcj02", "bd09"])
def test_point_in_a_chinese_map_system_is_converted_to_wgs84(crs):
    lon, lat = from_wgs84(116.391349, 39.907375, crs)
    point = parse_point(geojson_point(lon, lat), crs=crs)
    assert distance_m(point.x, point.y, 116.391349, 39.907375) < 0.001


@pytest.mark.parametrize(
    "obj",
    [None, [116.4, 39.9], "POINT(116.4 39.9)", 42],
    ids=["null", "bare-array", "wkt-string", "number"],
)
def test_point_that_is_not_a_geojson_object_is_refused(obj):
    assert_geometry_error(lambda: parse_point(obj), message="expected a GeoJSON Point object", path=())


@pytest.mark.parametrize("geometry_type", ["Polygon", "point", "Feature", None, 1])
def test_point_of_the_wrong_type_is_refused(geometry_type):
    obj = {"type": geometry_type, "coordinates": [116.4, 39.9]}
    assert_geometry_error(lambda: parse_point(obj), message="expected type Point", path=("type",))


def test_point_without_coordinates_is_refused():
    assert_geometry_error(lambda: parse_point({"type": "Point"}), message="required", path=("coordinates",))


@pytest.mark.parametrize("coordinates", [[], [116.4], [116.4, 39.9, 10, 1]])
def test_point_with_the_wrong_number_of_coordinates_is_refused(coordinates):
    obj = {"type": "Point", "coordinates": coordinates}
    assert_geometry_error(lambda: parse_point(obj), message="2 numbers", path=("coordinates",))


def test_point_whose_coordinates_are_a_string_is_refused():
    obj = {"type": "Point", "coordinates": "116.4,39.9"}
    assert_geometry_error(lambda: parse_point(obj), message="got string", path=("coordinates",))


@pytest.mark.parametrize(
    ("coordinates", "path", "message"),
    [
        (["116.4", 39.9], ("coordinates", 0), "must be a number, got string"),
        ([116.4, "39.9"], ("coordinates", 1), "must be a number, got string"),
        ([True, 39.9], ("coordinates", 0), "must be a number, got boolean"),
        ([116.4, None], ("coordinates", 1), "must be a number, got null"),
        ([[116.4], 39.9], ("coordinates", 0), "must be a number, got array"),
    ],
)
def test_point_with_non_numeric_coordinates_is_refused(coordinates, path, message):
    obj = {"type": "Point", "coordinates": coordinates}
    assert_geometry_error(lambda: parse_point(obj), message=message, path=path)


@pytest.mark.parametrize(
    ("coordinates", "path"),
    [
        ([math.nan, 39.9], ("coordinates", 0)),
        ([116.4, math.nan], ("coordinates", 1)),
        ([math.inf, 39.9], ("coordinates", 0)),
        ([116.4, -math.inf], ("coordinates", 1)),
        ([10**400, 39.9], ("coordinates", 0)),
        ([116.4, 39.9, math.nan], ("coordinates", 2)),
    ],
    ids=["nan-lon", "nan-lat", "inf-lon", "minus-inf-lat", "huge-int", "nan-altitude"],
)
def test_point_with_non_finite_coordinates_is_refused(coordinates, path):
    obj = {"type": "Point", "coordinates": coordinates}
    assert_geometry_error(lambda: parse_point(obj), message="finite", path=path)


@pytest.mark.parametrize(
    ("lon", "lat", "path", "message"),
    [
        (116.4, 91, ("coordinates", 1), "latitude 91.0 is outside [-90, 90]"),
        (116.4, -90.5, ("coordinates", 1), "latitude"),
        (180.0001, 39.9, ("coordinates", 0), "longitude 180.0001 is outside [-180, 180]"),
        (-181, 39.9, ("coordinates", 0), "longitude"),
    ],
)
def test_point_outside_the_valid_lon_lat_range_is_refused(lon, lat, path, message):
    assert_geometry_error(lambda: parse_point(geojson_point(lon, lat)), message=message, path=path)


def test_point_on_the_range_limits_is_accepted():
    assert parse_point(geojson_point(-180, -90)).coords[0] == (-180.0, -90.0)
    assert parse_point(geojson_point(180, 90)).coords[0] == (180.0, 90.0)


def test_point_that_leaves_the_valid_range_after_conversion_is_refused():
    # BD-09 subtracts ~0.0065 degrees of longitude, pushing -180 past the limit.
    assert_geometry_error(
        lambda: parse_point(geojson_point(-180, 10), crs="bd09"),
        message="after conversion from bd09",
        path=("coordinates", 0),
    )


def test_point_in_an_unknown_coordinate_system_is_refused():
    assert_geometry_error(
        lambda: parse_point(geojson_point(116, 40), crs="mercator"), message="unknown coordinate system"
    )


def test_point_round_trips_through_geojson_rounded_to_seven_decimals():
    assert point_to_geojson(Point(116.123456789, 39.987654321)) == {
        "type": "Point",
        "coordinates": [116.1234568, 39.9876543],
    }
    assert parse_point(point_to_geojson(Point(116.5, 40.25))) == Point(116.5, 40.25)


# --------------------------------------------------------------------------- #
# parse_area
# --------------------------------------------------------------------------- #


def test_simple_polygon_parses_to_a_shapely_polygon():
    area = parse_area(geojson_polygon(CAMPUS_RING))
    assert isinstance(area, Polygon)
    assert area.is_valid and area.area > 0
    assert area.bounds == (116.39, 39.90, 116.395, 39.904)


def test_polygon_with_a_hole_parses():
    hole = [[116.391, 39.901], [116.391, 39.902], [116.392, 39.902], [116.392, 39.901], [116.391, 39.901]]
    area = parse_area(geojson_polygon(CAMPUS_RING, hole))
    assert len(area.interiors) == 1
    assert not area.contains(Point(116.3915, 39.9015))


def test_multipolygon_parses_to_a_shapely_multipolygon():
    east = [[x + 0.01, y] for x, y in CAMPUS_RING]
    area = parse_area({"type": "MultiPolygon", "coordinates": [[CAMPUS_RING], [east]]})
    assert isinstance(area, MultiPolygon)
    assert len(area.geoms) == 2


def test_clockwise_polygon_is_accepted():
    area = parse_area(geojson_polygon(list(reversed(CAMPUS_RING))))
    assert area.is_valid


@pytest.mark.parametrize("crs", [CRS.GCJ02, CRS.BD09])
def test_every_vertex_of_a_chinese_map_polygon_is_converted_to_wgs84(crs):
    mars_ring = [list(from_wgs84(lon, lat, crs)) for lon, lat in CAMPUS_RING]
    area = parse_area(geojson_polygon(mars_ring), crs=crs)
    for (lon, lat), (mars_lon, mars_lat) in zip(area.exterior.coords, mars_ring, strict=True):
        assert (lon, lat) == to_wgs84(mars_lon, mars_lat, crs)
    for (lon, lat), (original_lon, original_lat) in zip(area.exterior.coords, CAMPUS_RING, strict=True):
        assert distance_m(lon, lat, original_lon, original_lat) < 0.001


def test_self_intersecting_bow_tie_polygon_is_refused_with_the_reason():
    error = assert_geometry_error(
        lambda: parse_area(geojson_polygon(BOW_TIE_RING)), message="self-intersection"
    )
    assert "geometry is invalid" in error.message
    assert "lon 116.3925" in error.message


def test_unclosed_ring_is_refused():
    ring = CAMPUS_RING[:-1] + [[116.3901, 39.90]]
    assert_geometry_error(
        lambda: parse_area(geojson_polygon(ring)), message="ring is not closed", path=("coordinates", 0)
    )


def test_unclosed_ring_inside_a_multipolygon_is_located_by_its_path():
    obj = {"type": "MultiPolygon", "coordinates": [[CAMPUS_RING], [CAMPUS_RING[:-1]]]}
    assert_geometry_error(lambda: parse_area(obj), message="ring is not closed", path=("coordinates", 1, 0))


def test_ring_with_fewer_than_four_positions_is_refused():
    ring = [[116.39, 39.90], [116.395, 39.90], [116.39, 39.90]]
    assert_geometry_error(
        lambda: parse_area(geojson_polygon(ring)), message="at least 4 positions", path=("coordinates", 0)
    )


@pytest.mark.parametrize(
    ("bad_value", "message"),
    [
        (math.nan, "finite"),
        (math.inf, "finite"),
        (-math.inf, "finite"),
        ("39.904", "must be a number, got string"),
        (False, "must be a number, got boolean"),
        (91, "latitude 91.0 is outside"),
    ],
)
def test_bad_latitude_inside_a_ring_is_refused_with_its_path(bad_value, message):
    ring = [list(position) for position in CAMPUS_RING]
    ring[2][1] = bad_value
    assert_geometry_error(
        lambda: parse_area(geojson_polygon(ring)), message=message, path=("coordinates", 0, 2, 1)
    )


def test_polygon_with_100_000_vertices_is_refused_by_the_vertex_cap():
    obj = geojson_polygon(circle_ring(100_000))
    assert_geometry_error(lambda: parse_area(obj), message="too many vertices", path=("coordinates",))


def test_vertex_cap_counts_positions_across_all_rings_and_polygons():
    obj = {"type": "MultiPolygon", "coordinates": [[CAMPUS_RING], [[[x + 0.01, y] for x, y in CAMPUS_RING]]]}
    assert parse_area(obj, max_vertices=10)
    assert_geometry_error(lambda: parse_area(obj, max_vertices=9), message="at most 9 positions")


def test_polygon_with_exactly_the_maximum_number_of_vertices_is_accepted():
    area = parse_area(geojson_polygon(circle_ring(MAX_VERTICES)))
    assert len(area.exterior.coords) == MAX_VERTICES


@pytest.mark.parametrize(
    "obj",
    [
        {"type": "Point", "coordinates": [116.4, 39.9]},
        {"type": "LineString", "coordinates": CAMPUS_RING},
        {"type": "GeometryCollection", "geometries": []},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [CAMPUS_RING]}},
    ],
    ids=["point", "linestring", "collection", "feature"],
)
def test_area_of_the_wrong_type_is_refused(obj):
    assert_geometry_error(
        lambda: parse_area(obj), message="expected type Polygon or MultiPolygon", path=("type",)
    )


def test_area_that_is_not_an_object_is_refused():
    assert_geometry_error(lambda: parse_area([CAMPUS_RING]), message="got array", path=())


@pytest.mark.parametrize(
    ("obj", "message", "path"),
    [
        ({"type": "Polygon", "coordinates": []}, "at least one ring", ("coordinates",)),
        ({"type": "MultiPolygon", "coordinates": []}, "at least one polygon", ("coordinates",)),
        ({"type": "Polygon", "coordinates": "116,39"}, "must be an array, got string", ("coordinates",)),
        (
            {"type": "Polygon", "coordinates": [{"ring": 1}]},
            "must be an array, got object",
            ("coordinates", 0),
        ),
        (
            {"type": "Polygon", "coordinates": [[116.4, 39.9, 116.5, 39.9]]},
            "got number",
            ("coordinates", 0, 0),
        ),
    ],
    ids=["no-rings", "no-polygons", "string", "object-ring", "flat-numbers"],
)
def test_malformed_area_coordinates_are_refused(obj, message, path):
    assert_geometry_error(lambda: parse_area(obj), message=message, path=path)


def test_overlapping_multipolygon_parts_are_refused():
    shifted = [[x + 0.002, y] for x, y in CAMPUS_RING]
    obj = {"type": "MultiPolygon", "coordinates": [[CAMPUS_RING], [shifted]]}
    assert_geometry_error(lambda: parse_area(obj), message="geometry is invalid")


def test_hole_outside_its_shell_is_refused():
    hole = [[116.40, 39.90], [116.40, 39.901], [116.401, 39.901], [116.401, 39.90], [116.40, 39.90]]
    assert_geometry_error(
        lambda: parse_area(geojson_polygon(CAMPUS_RING, hole)), message="geometry is invalid"
    )


def test_polygon_enclosing_no_area_is_refused():
    flat = [[116.39, 39.90], [116.392, 39.90], [116.394, 39.90], [116.39, 39.90]]
    assert_geometry_error(lambda: parse_area(geojson_polygon(flat)), message="geometry is invalid")


def test_polygon_near_the_poles_is_refused():
    ring = [[10, 80], [20, 80], [20, 86], [10, 86], [10, 80]]
    assert_geometry_error(
        lambda: parse_area(geojson_polygon(ring)),
        message="geometries near the poles are not supported",
        path=("coordinates", 0, 2, 1),
    )


def test_polygon_crossing_the_antimeridian_is_refused():
    ring = [[170, 10], [-170, 10], [-170, 20], [170, 20], [170, 10]]
    assert_geometry_error(
        lambda: parse_area(geojson_polygon(ring)), message="cross the antimeridian", path=("coordinates",)
    )


def test_area_round_trips_through_geojson_with_counter_clockwise_exteriors():
    clockwise = list(reversed(CAMPUS_RING))
    area = parse_area(geojson_polygon(clockwise))
    written = area_to_geojson(area)
    assert written["type"] == "Polygon"
    assert shapely.Polygon(written["coordinates"][0]).exterior.is_ccw
    assert parse_area(written).equals(area)


def test_multipolygon_is_written_as_geojson_multipolygon():
    east = [[x + 0.01, y] for x, y in CAMPUS_RING]
    area = parse_area({"type": "MultiPolygon", "coordinates": [[CAMPUS_RING], [east]]})
    written = area_to_geojson(area)
    assert written["type"] == "MultiPolygon"
    assert len(written["coordinates"]) == 2
    assert parse_area(written).equals(area)


def test_written_area_coordinates_are_rounded_to_seven_decimals():
    area = Polygon([(116.123456789, 39.1), (116.2, 39.1), (116.2, 39.2), (116.123456789, 39.1)])
    assert area_to_geojson(area)["coordinates"][0][0] == [116.1234568, 39.1]


def test_representative_location_lies_inside_a_concave_area():
    u_shape = geojson_polygon([[0, 0], [3, 0], [3, 3], [2, 3], [2, 1], [1, 1], [1, 3], [0, 3], [0, 0]])
    area = parse_area(u_shape)
    assert not area.contains(area.centroid)
    assert area.contains(representative_location(area))


@settings(max_examples=100, database=None)
@given(
    st.floats(min_value=73.5, max_value=134.0),
    st.floats(min_value=18.0, max_value=53.0),
    st.floats(min_value=0.0005, max_value=0.05),
    st.floats(min_value=0.0005, max_value=0.05),
    st.sampled_from(list(CRS)),
)
def test_any_rectangle_in_china_parses_in_every_coordinate_system(lon, lat, width, height, crs):
    wgs_ring = [[lon, lat], [lon + width, lat], [lon + width, lat + height], [lon, lat + height], [lon, lat]]
    ring = [list(from_wgs84(x, y, crs)) for x, y in wgs_ring]
    area = parse_area(geojson_polygon(ring), crs=crs)
    assert area.is_valid
    assert area.area == pytest.approx(width * height, rel=1e-3)


# --------------------------------------------------------------------------- #
# Query strings
# --------------------------------------------------------------------------- #


def test_lonlat_query_parses_to_a_tuple():
    assert parse_lonlat("116.4,39.9") == (116.4, 39.9)
    assert parse_lonlat(" -73.98 , 40.75 ") == (-73.98, 40.75)
    assert parse_lonlat("116,40") == (116.0, 40.0)


def test_lonlat_query_in_gcj02_is_converted_to_wgs84():
    lon, lat = parse_lonlat("116.397590,39.908776", crs="gcj02")
    assert distance_m(lon, lat, 116.391349, 39.907375) < 0.1


@pytest.mark.parametrize(
    ("text", "message", "path"),
    [
        ("", "expected 2 comma-separated numbers", ()),
        ("116.4", "expected 2 comma-separated numbers", ()),
        ("116.4,39.9,10", "expected 2 comma-separated numbers", ()),
        ("abc,39.9", "lon must be a decimal number", (0,)),
        ("116.4,", "lat must be a decimal number", (1,)),
        ("nan,39.9", "decimal number", (0,)),
        ("116.4,Infinity", "decimal number", (1,)),
        ("1_16.4,39.9", "decimal number", (0,)),
        ("0x10,39.9", "decimal number", (0,)),
        ("1e999,39.9", "finite", (0,)),
        ("116.4,91", "latitude 91.0 is outside", (1,)),
        ("-181,39.9", "longitude -181.0 is outside", (0,)),
    ],
)
def test_bad_lonlat_query_is_refused(text, message, path):
    assert_geometry_error(lambda: parse_lonlat(text), message=message, path=path)


def test_lonlat_query_that_is_not_text_is_refused():
    assert_geometry_error(lambda: parse_lonlat(None), message="got null")


def test_bbox_query_parses_to_a_tuple():
    assert parse_bbox("116.3,39.8,116.5,40.0") == (116.3, 39.8, 116.5, 40.0)
    assert parse_bbox("116.3,39.8,116.3,39.8") == (116.3, 39.8, 116.3, 39.8)


def test_bbox_query_in_gcj02_encloses_every_converted_corner():
    min_lon, min_lat, max_lon, max_lat = parse_bbox("116.3,39.8,116.5,40.0", crs="gcj02")
    for lon in (116.3, 116.5):
        for lat in (39.8, 40.0):
            x, y = to_wgs84(lon, lat, "gcj02")
            assert min_lon <= x <= max_lon and min_lat <= y <= max_lat
    assert max_lon - min_lon == pytest.approx(0.2, abs=0.001)


@pytest.mark.parametrize(
    ("text", "message", "path"),
    [
        ("116.3,39.8,116.5", "expected 4 comma-separated numbers", ()),
        ("116.3,39.8,116.5,40.0,1", "expected 4 comma-separated numbers", ()),
        ("116.3,39.8,nan,40.0", "maxlon must be a decimal number", (2,)),
        ("116.3,39.8,116.5,1e400", "finite", (3,)),
        ("116.5,39.8,116.3,40.0", "maxlon must not be less than minlon", (2,)),
        ("116.3,40.0,116.5,39.8", "maxlat must not be less than minlat", (3,)),
        ("116.3,-91,116.5,40.0", "latitude -91.0 is outside", (1,)),
        ("116.3,39.8,181,40.0", "longitude 181.0 is outside", (2,)),
    ],
)
def test_bad_bbox_query_is_refused(text, message, path):
    assert_geometry_error(lambda: parse_bbox(text), message=message, path=path)


# --------------------------------------------------------------------------- #
# geodesy
# --------------------------------------------------------------------------- #


def test_distance_between_two_points_is_the_wgs84_geodesic():
    # One degree of latitude at the equator on WGS-84.
    assert distance_m(0, 0, 0, 1) == pytest.approx(110_574.4, abs=0.1)
    assert distance_m(116.4, 39.9, 116.4, 39.9) == 0.0
    beijing_to_shanghai = distance_m(116.4074, 39.9042, 121.4737, 31.2304)
    assert 1_060_000 < beijing_to_shanghai < 1_075_000


def test_distance_to_an_area_is_zero_inside_and_on_its_boundary():
    campus = parse_area(geojson_polygon(CAMPUS_RING))
    assert distance_to_area_m(Point(116.392, 39.902), campus) == 0.0
    assert distance_to_area_m(Point(116.39, 39.902), campus) == 0.0


def test_distance_to_an_area_due_north_equals_the_geodesic_to_its_edge():
    campus = parse_area(geojson_polygon(CAMPUS_RING))
    expected = distance_m(116.3925, 39.91, 116.3925, 39.904)
    assert distance_to_area_m(Point(116.3925, 39.91), campus) == pytest.approx(expected, abs=0.001)


def test_distance_to_an_area_from_beyond_a_corner_equals_the_geodesic_to_that_corner():
    campus = parse_area(geojson_polygon(CAMPUS_RING))
    expected = distance_m(116.40, 39.91, 116.395, 39.904)
    assert distance_to_area_m(Point(116.40, 39.91), campus) == pytest.approx(expected, abs=0.001)


@pytest.mark.parametrize(
    ("lon", "lat"),
    [(116.3925, 39.8995), (116.38, 39.902), (116.41, 39.89), (116.5, 40.2), (117.9, 38.1)],
)
def test_distance_to_an_area_matches_a_brute_force_geodesic_search(lon, lat):
    campus = parse_area(geojson_polygon(CAMPUS_RING))
    expected = brute_force_distance_to_boundary_m(lon, lat, campus)
    assert distance_to_area_m(Point(lon, lat), campus) == pytest.approx(expected, abs=0.01)


def test_distance_to_a_multipolygon_is_to_its_nearest_part():
    east = [[x + 0.01, y] for x, y in CAMPUS_RING]
    area = parse_area({"type": "MultiPolygon", "coordinates": [[CAMPUS_RING], [east]]})
    near_east = Point(116.4025, 39.91)
    expected = distance_m(near_east.x, near_east.y, 116.4025, 39.904)
    assert distance_to_area_m(near_east, area) == pytest.approx(expected, abs=0.001)


# --------------------------------------------------------------------------- #
# zones
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("radius_m", [50, 200, 1000, 5000])
@pytest.mark.parametrize(
    ("lon", "lat"), [(116.391349, 39.907375), (126.6424, 45.7567), (109.512, 18.2528), (24.94, 60.17)]
)
def test_every_vertex_of_a_point_zone_is_the_radius_from_the_point(lon, lat, radius_m):
    zone = zone_polygon(Point(lon, lat), radius_m)
    assert isinstance(zone, Polygon) and zone.is_valid
    for vertex_lon, vertex_lat in zone.exterior.coords:
        assert distance_m(lon, lat, vertex_lon, vertex_lat) == pytest.approx(radius_m, abs=0.5)


def test_point_zone_has_sixteen_segments_per_quarter_circle():
    zone = zone_polygon(Point(116.39, 39.9), 200)
    assert len(zone.exterior.coords) == 4 * 16 + 1


def test_campus_zone_contains_the_campus_and_its_vertices_are_the_radius_from_it():
    campus = parse_area(geojson_polygon(CAMPUS_RING))
    zone = zone_polygon(campus, 300)
    assert zone.is_valid and zone.contains(campus)
    for lon, lat in zone.exterior.coords:
        assert brute_force_distance_to_boundary_m(lon, lat, campus, samples_per_edge=2000) == pytest.approx(
            300, abs=0.5
        )
        assert distance_to_area_m(Point(lon, lat), campus) == pytest.approx(300, abs=0.5)


def test_multipolygon_campus_zone_covers_every_part():
    far_east = [[x + 0.1, y] for x, y in CAMPUS_RING]
    campus = parse_area({"type": "MultiPolygon", "coordinates": [[CAMPUS_RING], [far_east]]})
    zone = zone_polygon(campus, 200)
    assert isinstance(zone, MultiPolygon)
    assert zone.contains(campus)


@pytest.mark.parametrize("radius_m", [0, -5, math.nan, math.inf, MAX_ZONE_RADIUS_M + 1, True, "200"])
def test_zone_with_a_bad_radius_is_refused(radius_m):
    with pytest.raises(ValueError, match="radius_m"):
        zone_polygon(Point(116.39, 39.9), radius_m)


def test_zone_around_an_empty_or_unsupported_geometry_is_refused():
    with pytest.raises(ValueError, match="empty"):
        zone_polygon(Polygon(), 100)
    with pytest.raises(TypeError):
        zone_polygon(shapely.LineString([(0, 0), (1, 1)]), 100)


def test_nearby_geometries_share_one_cached_projection():
    assert local_projection(116.3912, 39.9071) is local_projection(116.3908, 39.9069)
    assert local_projection(116.3912, 39.9071) is not local_projection(116.45, 39.9071)
