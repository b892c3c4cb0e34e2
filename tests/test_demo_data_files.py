"""The committed demo data files under cli/demo_data/ are well formed and geographically sane.

Pure file checks: no database, no app. The files are produced by cli/demo_data/generate.py.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections import Counter
from pathlib import Path

import pytest
import shapely
from shapely.geometry import LinearRing, MultiPolygon, Point, Polygon, shape

from geo.geometry import parse_area, parse_point
from geo.projection import local_projection

DATA_DIR = Path(__file__).resolve().parents[1] / "cli" / "demo_data"
FILES = ("jurisdictions.json", "schools.geojson", "people.json")

CODE_PATTERN = re.compile(r"^[A-Za-z0-9_]{2,32}$")
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.\-]{2,63}$")
EXTERNAL_ID_PATTERN = re.compile(r"^(PS|YJ)-\d{3}$")
PHONE_PATTERN = re.compile(r"^1380000\d{4}$")
CJK = re.compile(r"[\u4e00-\u9fff]")

LEVELS = {"province", "city", "county", "district", "township", "street", "station", "other"}
KINDS = {"kindergarten", "primary", "middle", "high", "vocational", "special", "other"}
ROLES = {"admin", "commander", "officer", "viewer"}
UNIT_TYPES = {"guard", "auxiliary", "police", "volunteer"}
DEMO_PASSWORD = "huxiao-demo-2026"

# Root code -> (external_id prefix, seat lon/lat, rough bbox minlon, minlat, maxlon, maxlat, address prefix).
COUNTIES = {
    "500243": ("PS", (108.165, 29.295), (107.80, 28.90, 108.60, 29.85), "重庆市彭水苗族土家族自治县"),
    "341504": ("YJ", (115.910, 31.850), (115.80, 31.65, 116.15, 32.05), "安徽省六安市叶集区"),
}
MAX_KM_FROM_SEAT = 30.0

# Campus sides (minimum rotated rectangle, metres): all parts 80-300 m; by kind for the main part.
CAMPUS_SIDE_RANGE_M = (80.0, 300.0)
KIND_SIDE_RANGE_M = {
    "kindergarten": (80.0, 120.0),
    "special": (80.0, 150.0),
    "primary": (90.0, 200.0),
    "middle": (120.0, 250.0),
    "other": (120.0, 250.0),
    "vocational": (160.0, 300.0),
    "high": (180.0, 300.0),
}
SIDE_TOLERANCE_M = 1.0
MIN_GAP_M = 150.0
CLUSTER_MAX_GAP_M = 100.0
GATE_MAX_FROM_EDGE_M = 30.0


def _load(name: str):
    with (DATA_DIR / name).open(encoding="utf-8") as handle:
        return json.load(handle)


JURISDICTIONS = _load("jurisdictions.json")
SCHOOLS = _load("schools.geojson")
PEOPLE = _load("people.json")
FEATURES = SCHOOLS["features"]
BY_CODE = {record["code"]: record for record in JURISDICTIONS}


def _root(code: str) -> str:
    seen = set()
    while BY_CODE[code]["parent_code"] is not None:
        assert code not in seen, f"cycle through {code}"
        seen.add(code)
        code = BY_CODE[code]["parent_code"]
    return code


def _county_of(feature) -> str:
    return _root(feature["properties"]["jurisdiction_code"])


def _feature_id(feature) -> str:
    return feature["properties"]["external_id"]


def _metres(geometry, centre: tuple[float, float] | None = None):
    """``geometry`` in a local metric plane centred near ``centre`` (default: the geometry's centroid)."""
    lon, lat = centre or (geometry.centroid.x, geometry.centroid.y)
    return local_projection(lon, lat).to_metres(geometry)


def _parts(geometry) -> list[Polygon]:
    if isinstance(geometry, Polygon):
        return [geometry]
    if isinstance(geometry, MultiPolygon):
        return list(geometry.geoms)
    return []


def _sides_m(polygon: Polygon) -> tuple[float, float]:
    corners = list(_metres(polygon).minimum_rotated_rectangle.exterior.coords)
    first, second = math.dist(corners[0], corners[1]), math.dist(corners[1], corners[2])
    return min(first, second), max(first, second)


# --------------------------------------------------------------------------- #
# Files
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", FILES)
def test_file_is_utf8_json(name: str) -> None:
    text = (DATA_DIR / name).read_text(encoding="utf-8")
    assert json.loads(text)
    assert CJK.search(text), "names should be Chinese"


def test_generator_is_committed() -> None:
    assert (DATA_DIR / "generate.py").is_file()


# --------------------------------------------------------------------------- #
# Jurisdictions
# --------------------------------------------------------------------------- #


def test_jurisdictions_are_two_well_formed_trees() -> None:
    assert isinstance(JURISDICTIONS, list)
    codes = [record["code"] for record in JURISDICTIONS]
    assert len(codes) == len(set(codes)), "duplicate codes"
    roots = {record["code"]: record["level"] for record in JURISDICTIONS if record["parent_code"] is None}
    assert roots == {"500243": "county", "341504": "district"}
    seen: set[str] = set()
    for record in JURISDICTIONS:
        assert set(record) == {"code", "name", "level", "parent_code", "time_zone"}
        assert CODE_PATTERN.match(record["code"]), record["code"]
        assert record["level"] in LEVELS
        assert record["time_zone"] == "Asia/Shanghai"
        assert isinstance(record["name"], str) and CJK.search(record["name"])
        parent = record["parent_code"]
        if parent is not None:
            assert parent in seen, f"{record['code']}: parent {parent} must be listed before it"
            assert record["code"].startswith(parent), f"{record['code']} should extend its parent's code"
        seen.add(record["code"])
        assert _root(record["code"]) in roots


def test_jurisdiction_levels_nest_sensibly() -> None:
    for record in JURISDICTIONS:
        parent = BY_CODE.get(record["parent_code"]) if record["parent_code"] else None
        if record["level"] in {"street", "township"}:
            assert re.fullmatch(r"\d{9}", record["code"]), record["code"]
            assert parent is not None and parent["parent_code"] is None
        if record["level"] == "station":
            assert parent is not None and parent["level"] in {"street", "township"}
            assert "派出所" in record["name"]
    for root in COUNTIES:
        children = [r for r in JURISDICTIONS if r["parent_code"] == root]
        assert len(children) >= 4
        assert any(r["level"] == "station" and _root(r["code"]) == root for r in JURISDICTIONS)


# --------------------------------------------------------------------------- #
# Schools: properties
# --------------------------------------------------------------------------- #


def test_schools_collection_shape_and_counts() -> None:
    assert SCHOOLS["type"] == "FeatureCollection"
    per_county = Counter(_county_of(feature) for feature in FEATURES)
    assert 30 <= per_county["500243"] <= 42
    assert 25 <= per_county["341504"] <= 36
    ids = [_feature_id(feature) for feature in FEATURES]
    assert len(ids) == len(set(ids)), "external_ids must be unique"
    names = [feature["properties"]["name"] for feature in FEATURES]
    assert len(names) == len(set(names)), "school names must be unique"
    kinds = Counter(feature["properties"]["kind"] for feature in FEATURES)
    assert {"kindergarten", "primary", "middle", "high", "vocational", "special"} <= set(kinds)
    radii = Counter(feature["properties"]["zone_radius_m"] for feature in FEATURES)
    assert radii[200] >= 0.9 * len(FEATURES) and 1 <= radii[300] <= 5


@pytest.mark.parametrize("feature", FEATURES, ids=_feature_id)
def test_school_properties(feature) -> None:
    assert feature["type"] == "Feature"
    props = feature["properties"]
    assert set(props) == {"external_id", "name", "kind", "jurisdiction_code", "address", "zone_radius_m", "gate"}
    assert EXTERNAL_ID_PATTERN.match(props["external_id"])
    assert isinstance(props["name"], str) and CJK.search(props["name"])
    assert props["kind"] in KINDS
    code = props["jurisdiction_code"]
    assert CODE_PATTERN.match(code) and code in BY_CODE, code
    assert BY_CODE[code]["level"] in {"street", "township", "station"}
    root = _root(code)
    prefix, _, _, address_prefix = COUNTIES[root]
    assert props["external_id"].startswith(prefix + "-")
    assert props["address"].startswith(address_prefix)
    assert 0 < props["zone_radius_m"] <= 2000


# --------------------------------------------------------------------------- #
# Schools: geometry
# --------------------------------------------------------------------------- #


def test_geometry_mix() -> None:
    types = Counter(feature["geometry"]["type"] for feature in FEATURES)
    assert set(types) <= {"Point", "Polygon", "MultiPolygon"}
    assert types["MultiPolygon"] == 1
    assert types["Polygon"] + types["MultiPolygon"] >= 0.8 * len(FEATURES)
    for root in COUNTIES:
        assert any(f["geometry"]["type"] == "Point" for f in FEATURES if _county_of(f) == root)


def _positions(geometry: dict) -> list[list[float]]:
    if geometry["type"] == "Point":
        return [geometry["coordinates"]]
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return [position for polygon in polygons for ring in polygon for position in ring]


@pytest.mark.parametrize("feature", FEATURES, ids=_feature_id)
def test_school_geometry_is_valid(feature) -> None:
    geojson = feature["geometry"]
    for position in [*_positions(geojson), feature["properties"]["gate"]]:
        assert len(position) == 2 and all(isinstance(value, float) for value in position)
        assert all(round(value, 7) == value for value in position), f"more than 7 decimals: {position}"
    if geojson["type"] == "Point":
        assert parse_point(geojson).equals(shape(geojson))
        return
    polygons = [geojson["coordinates"]] if geojson["type"] == "Polygon" else geojson["coordinates"]
    for polygon in polygons:
        assert len(polygon) == 1, "campuses have no holes"
        exterior = polygon[0]
        assert len(exterior) >= 4 and exterior[0] == exterior[-1], "ring must be closed"
        assert LinearRing(exterior).is_ccw, "exterior ring must be counter-clockwise (RFC 7946)"
    geometry = shape(geojson)
    assert geometry.is_valid, shapely.is_valid_reason(geometry)
    assert parse_area(geojson).equals(geometry)


@pytest.mark.parametrize("feature", FEATURES, ids=_feature_id)
def test_school_lies_in_its_county(feature) -> None:
    _, seat, (min_lon, min_lat, max_lon, max_lat), _ = COUNTIES[_county_of(feature)]
    for lon, lat in [*_positions(feature["geometry"]), feature["properties"]["gate"]]:
        assert min_lon <= lon <= max_lon and min_lat <= lat <= max_lat, (lon, lat)
    centre = shape(feature["geometry"]).centroid
    distance_km = _metres(centre, seat).distance(_metres(Point(seat), seat)) / 1000
    assert distance_km <= MAX_KM_FROM_SEAT


@pytest.mark.parametrize("feature", [f for f in FEATURES if f["geometry"]["type"] != "Point"], ids=_feature_id)
def test_campus_size_fits_its_kind(feature) -> None:
    parts = sorted(_parts(shape(feature["geometry"])), key=lambda part: _metres(part).area, reverse=True)
    low, high = CAMPUS_SIDE_RANGE_M
    for part in parts:
        short, long = _sides_m(part)
        assert low - SIDE_TOLERANCE_M <= short and long <= high + SIDE_TOLERANCE_M, (short, long)
    kind_low, kind_high = KIND_SIDE_RANGE_M[feature["properties"]["kind"]]
    short, long = _sides_m(parts[0])
    assert kind_low - SIDE_TOLERANCE_M <= short and long <= kind_high + SIDE_TOLERANCE_M, (short, long)


def test_the_multi_campus_school_spans_a_road() -> None:
    (feature,) = [f for f in FEATURES if f["geometry"]["type"] == "MultiPolygon"]
    parts = [_metres(part, feature["properties"]["gate"]) for part in _parts(shape(feature["geometry"]))]
    assert len(parts) == 2
    assert 10.0 <= parts[0].distance(parts[1]) <= 60.0


@pytest.mark.parametrize("feature", FEATURES, ids=_feature_id)
def test_gate_is_on_the_campus_edge(feature) -> None:
    geometry = shape(feature["geometry"])
    gate = Point(feature["properties"]["gate"])
    edge = geometry if isinstance(geometry, Point) else geometry.boundary
    centre = (gate.x, gate.y)
    assert _metres(edge, centre).distance(_metres(gate, centre)) <= GATE_MAX_FROM_EDGE_M


@pytest.mark.parametrize("root", sorted(COUNTIES))
def test_schools_keep_apart_except_one_cluster(root: str) -> None:
    _, seat, _, _ = COUNTIES[root]
    features = [f for f in FEATURES if _county_of(f) == root]
    planar = {_feature_id(f): _metres(shape(f["geometry"]), seat) for f in features}
    radius = {_feature_id(f): f["properties"]["zone_radius_m"] for f in features}
    close = {}
    for (a, ga), (b, gb) in itertools.combinations(planar.items(), 2):
        gap = ga.distance(gb)
        if gap < MIN_GAP_M:
            close[frozenset((a, b))] = gap
    members = set().union(*close) if close else set()
    assert len(members) == 3, f"expected one cluster of 3 close schools, got {sorted(members)}"
    # Every pair of the cluster is close, only a street apart, so their zones overlap.
    for a, b in itertools.combinations(sorted(members), 2):
        gap = close.get(frozenset((a, b)))
        assert gap is not None and 0 < gap <= CLUSTER_MAX_GAP_M, (a, b, gap)
        assert gap < min(radius[a], radius[b])
    jurisdictions = {f["properties"]["jurisdiction_code"] for f in features if _feature_id(f) in members}
    assert all(code.startswith(root) for code in jurisdictions)


# --------------------------------------------------------------------------- #
# People
# --------------------------------------------------------------------------- #


def test_people() -> None:
    assert isinstance(PEOPLE, list)
    usernames = [person["username"] for person in PEOPLE]
    assert len(usernames) == len({name.lower() for name in usernames}), "usernames must be unique"
    by_name = {person["username"]: person for person in PEOPLE}
    expected_roles = {
        "admin.pengshui": "admin", "admin.yeji": "admin",
        "commander.pengshui": "commander", "commander.yeji": "commander",
        "viewer.dashboard": "viewer",
    }
    for username, role in expected_roles.items():
        assert by_name[username]["role"] == role
    for short, root in (("ps", "500243"), ("yj", "341504")):
        officers = [p for p in PEOPLE if p["username"].startswith(f"officer.{short}")]
        assert 6 <= len(officers) <= 12
        assert all(p["role"] == "officer" and _root(p["jurisdiction_code"]) == root for p in officers)
        assert {p["unit_type"] for p in officers} == UNIT_TYPES
    assert _root(by_name["admin.pengshui"]["jurisdiction_code"]) == "500243"
    assert _root(by_name["admin.yeji"]["jurisdiction_code"]) == "341504"
    phones = [person["phone"] for person in PEOPLE if person["phone"] is not None]
    assert len(phones) == len(set(phones))
    for person in PEOPLE:
        assert set(person) == {"username", "display_name", "role", "unit_type", "jurisdiction_code", "phone",
                               "password"}
        assert USERNAME_PATTERN.match(person["username"]), person["username"]
        assert person["role"] in ROLES and person["unit_type"] in UNIT_TYPES
        assert person["jurisdiction_code"] in BY_CODE
        assert CJK.search(person["display_name"])
        assert person["phone"] is None or PHONE_PATTERN.match(person["phone"])
        assert person["password"] == DEMO_PASSWORD


def test_guards_work_where_a_school_is() -> None:
    school_codes = {feature["properties"]["jurisdiction_code"] for feature in FEATURES}
    guards = [person for person in PEOPLE if person["unit_type"] == "guard"]
    assert guards
    assert all(guard["jurisdiction_code"] in school_codes for guard in guards)
