"""Generate the committed demo data files: jurisdictions.json, schools.geojson and people.json.

Run once, review, commit the outputs (the seed is fixed, so re-running reproduces them):

    .venv/bin/python -m cli.demo_data.generate

The two seed counties are Pengshui Miao and Tujia Autonomous County (彭水苗族土家族自治县, Chongqing,
code 500243) and Yeji District of Lu'an (六安市叶集区, Anhui, code 341504). Township codes follow the
9-digit pattern of the national statistical division codes (street 0xx, town 1xx, township 2xx);
police stations hang under their township as ``<township code>P<n>``. Place names are real, campus
outlines and positions are invented but plausible: county-seat schools are scattered along the
valley around the seat, township schools around their township centre 5-25 km away.

Campuses are built in a local metric plane (``geo.projection``): rectangles, slightly irregular
quadrilaterals or L-shapes sized by kind, one school with two campuses across a road (MultiPolygon),
and a few schools known only by their gate (Point). Apart from one deliberate cluster of three
neighbouring schools per county seat, every campus keeps at least ``MIN_GAP_M`` from every other.
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import MultiPolygon, Point, Polygon, box

from cli.demo_data import DEMO_DATA_DIR, DEMO_PASSWORD
from geo.projection import LocalProjection, local_projection

SEED = 20260417
DECIMALS = 7
TIME_ZONE = "Asia/Shanghai"
DEFAULT_ZONE_RADIUS_M = 200.0
LARGE_ZONE_RADIUS_M = 300.0

# Boundary-to-boundary distance kept between schools outside a county's deliberate cluster.
MIN_GAP_M = 150.0
# Extra margin used while placing, so rounding to 7 decimals can never bring two campuses under MIN_GAP_M.
PLACEMENT_MARGIN_M = 5.0
# Streets between the three schools of a cluster (boundary-to-boundary), and the road between two campuses.
CLUSTER_GAPS_M = (32.0, 45.0)
CAMPUS_ROAD_GAP_M = 28.0
PLACEMENT_ATTEMPTS = 20_000

# Side lengths (metres) of the minimum rotated rectangle around a campus, by kind.
SIDE_RANGE_M: dict[str, tuple[float, float]] = {
    "kindergarten": (80.0, 115.0),
    "special": (80.0, 130.0),
    "primary": (100.0, 180.0),
    "middle": (140.0, 240.0),
    "other": (140.0, 220.0),
    "vocational": (180.0, 290.0),
    "high": (200.0, 300.0),
}
# A second campus across the road is smaller than the main one.
SECOND_CAMPUS_SIDE_RANGE_M = (110.0, 180.0)
MIN_GATE_EDGE_M = 40.0


# --------------------------------------------------------------------------- #
# The two counties
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Unit:
    """A street (街道) or town/township (镇/乡) and the area its schools are scattered in."""

    code: str
    name: str
    level: str  # street or township
    centre: tuple[float, float]  # lon, lat
    spread_m: tuple[float, float]  # semi-axes east and north of the ellipse schools are placed in
    roads: tuple[str, ...]
    stations: tuple[tuple[str, str], ...] = ()  # (code, name) of police stations under this unit


@dataclass(frozen=True)
class SchoolSpec:
    name: str
    kind: str
    unit: str  # Unit.code
    shape: str  # rect | quad | L | point | multi | cluster
    radius_m: float = DEFAULT_ZONE_RADIUS_M
    place: str | None = None  # a village/community address instead of "<road><n>号"


@dataclass(frozen=True)
class County:
    prefix: str
    code: str
    name: str
    level: str
    seat: tuple[float, float]
    address_prefix: str
    units: tuple[Unit, ...]
    cluster_anchor: tuple[float, float]
    cluster_rotation_deg: float
    schools: tuple[SchoolSpec, ...]


PENGSHUI = County(
    prefix="PS",
    code="500243",
    name="彭水苗族土家族自治县",
    level="county",
    seat=(108.165, 29.295),
    address_prefix="重庆市彭水苗族土家族自治县",
    units=(
        Unit("500243001", "汉葭街道", "street", (108.1660, 29.2960), (650, 1300),
             ("滨江路", "新华路", "解放路", "和平路", "长滩路", "摩围大道", "鼓楼路", "沙沱路"),
             (("500243001P1", "彭水县公安局汉葭派出所"),)),
        Unit("500243002", "绍庆街道", "street", (108.1790, 29.2680), (700, 700),
             ("绍庆路", "石门路", "江南路", "阿依河大道", "新城路"),
             (("500243002P1", "彭水县公安局绍庆派出所"),)),
        Unit("500243003", "靛水街道", "street", (108.1590, 29.3430), (700, 900),
             ("靛水大道", "乌江大道", "靛水路", "工业园路"),
             (("500243003P1", "彭水县公安局靛水派出所"),)),
        Unit("500243101", "保家镇", "township", (108.0860, 29.2050), (600, 600),
             ("保家正街", "新街", "保家路"),
             (("500243101P1", "彭水县公安局保家派出所"),)),
        Unit("500243102", "郁山镇", "township", (108.3300, 29.4300), (650, 650),
             ("中井路", "郁江路", "盐井路", "郁山老街"),
             (("500243102P1", "彭水县公安局郁山派出所"),)),
        Unit("500243103", "高谷镇", "township", (108.2150, 29.4250), (550, 550), ("高谷正街", "乌江路")),
        Unit("500243104", "桑柘镇", "township", (108.0600, 29.3500), (500, 500), ("桑柘正街", "新街")),
        Unit("500243105", "鹿角镇", "township", (108.2400, 29.1800), (500, 500), ("鹿角正街", "滨江路")),
    ),
    cluster_anchor=(108.1690, 29.2990),
    cluster_rotation_deg=12.0,
    schools=(
        SchoolSpec("彭水县第一中学", "high", "500243001", "multi", LARGE_ZONE_RADIUS_M),
        SchoolSpec("彭水县民族中学", "middle", "500243001", "cluster"),
        SchoolSpec("彭水县实验小学", "primary", "500243001", "cluster"),
        SchoolSpec("彭水县第一幼儿园", "kindergarten", "500243001", "cluster"),
        SchoolSpec("汉葭街道中心小学", "primary", "500243001", "rect"),
        SchoolSpec("彭水县第二中学", "middle", "500243001", "L"),
        SchoolSpec("彭水县特殊教育学校", "special", "500243001", "rect"),
        SchoolSpec("汉葭街道长滩小学", "primary", "500243001", "quad"),
        SchoolSpec("彭水县民族小学", "primary", "500243001", "rect"),
        SchoolSpec("彭水县机关幼儿园", "kindergarten", "500243001", "quad"),
        SchoolSpec("汉葭街道摩围幼儿园", "kindergarten", "500243001", "point"),
        SchoolSpec("汉葭街道鼓楼小学", "primary", "500243001", "rect"),
        SchoolSpec("彭水中学", "high", "500243002", "L"),
        SchoolSpec("绍庆街道中心小学", "primary", "500243002", "rect"),
        SchoolSpec("彭水县第三中学", "middle", "500243002", "quad"),
        SchoolSpec("彭水县第二小学", "primary", "500243002", "L"),
        SchoolSpec("绍庆街道幼儿园", "kindergarten", "500243002", "rect"),
        SchoolSpec("彭水县第二幼儿园", "kindergarten", "500243002", "rect"),
        SchoolSpec("绍庆街道阿依河小学", "primary", "500243002", "point", place="阿依河社区"),
        SchoolSpec("彭水县职业教育中心", "vocational", "500243003", "L", LARGE_ZONE_RADIUS_M),
        SchoolSpec("靛水街道中心小学", "primary", "500243003", "rect"),
        SchoolSpec("彭水县靛水中学", "middle", "500243003", "rect"),
        SchoolSpec("靛水街道中心幼儿园", "kindergarten", "500243003", "quad"),
        SchoolSpec("彭水县新城小学", "primary", "500243003", "rect"),
        SchoolSpec("彭水县保家中学", "middle", "500243101", "rect"),
        SchoolSpec("保家镇中心小学", "primary", "500243101", "quad"),
        SchoolSpec("保家镇中心幼儿园", "kindergarten", "500243101", "rect"),
        SchoolSpec("彭水县郁山中学", "high", "500243102", "rect"),
        SchoolSpec("郁山镇中心小学", "primary", "500243102", "L"),
        SchoolSpec("郁山镇中心幼儿园", "kindergarten", "500243102", "rect"),
        SchoolSpec("郁山镇朱砂小学", "primary", "500243102", "point", place="朱砂村"),
        SchoolSpec("彭水县高谷中学", "middle", "500243103", "quad"),
        SchoolSpec("高谷镇中心小学", "primary", "500243103", "rect"),
        SchoolSpec("桑柘镇中心小学", "primary", "500243104", "rect"),
        SchoolSpec("桑柘镇中心幼儿园", "kindergarten", "500243104", "point"),
        SchoolSpec("鹿角镇中心小学", "primary", "500243105", "point"),
    ),
)

YEJI = County(
    prefix="YJ",
    code="341504",
    name="叶集区",
    level="district",
    seat=(115.910, 31.850),
    address_prefix="安徽省六安市叶集区",
    units=(
        Unit("341504001", "史河街道", "street", (115.9150, 31.8560), (900, 850),
             ("叶集大道", "史河路", "商贸大道", "文峰路", "迎宾大道", "城北路", "建设路"),
             (("341504001P1", "六安市公安局叶集分局城区派出所"),)),
        Unit("341504002", "平岗街道", "street", (115.9360, 31.8320), (800, 700),
             ("平岗路", "振兴路", "南环路", "金叶路"),
             (("341504002P1", "六安市公安局叶集分局平岗派出所"),)),
        Unit("341504101", "三元镇", "township", (115.9250, 31.9350), (600, 600),
             ("三元街", "龙潭路"),
             (("341504101P1", "六安市公安局叶集分局三元派出所"),)),
        Unit("341504102", "洪集镇", "township", (116.0300, 31.8800), (600, 600),
             ("洪集街", "兴洪路"),
             (("341504102P1", "六安市公安局叶集分局洪集派出所"),)),
        Unit("341504103", "姚李镇", "township", (115.9600, 31.7450), (600, 600),
             ("姚李街", "桥店路"),
             (("341504103P1", "六安市公安局叶集分局姚李派出所"),)),
        Unit("341504201", "孙岗乡", "township", (116.0050, 31.9450), (500, 500), ("孙岗街", "乡政府路")),
    ),
    cluster_anchor=(115.9130, 31.8560),
    cluster_rotation_deg=-8.0,
    schools=(
        SchoolSpec("叶集区第一中学", "high", "341504001", "L", LARGE_ZONE_RADIUS_M),
        SchoolSpec("叶集区第二中学", "middle", "341504001", "cluster"),
        SchoolSpec("叶集区实验小学", "primary", "341504001", "cluster"),
        SchoolSpec("叶集区第一幼儿园", "kindergarten", "341504001", "cluster"),
        SchoolSpec("叶集区实验学校", "other", "341504001", "rect"),  # nine-year school (九年一贯制)
        SchoolSpec("史河街道中心小学", "primary", "341504001", "rect"),
        SchoolSpec("叶集区特殊教育学校", "special", "341504001", "quad"),
        SchoolSpec("叶集区实验幼儿园", "kindergarten", "341504001", "rect"),
        SchoolSpec("史河街道城北小学", "primary", "341504001", "quad"),
        SchoolSpec("史河街道阳光幼儿园", "kindergarten", "341504001", "point"),
        SchoolSpec("叶集区职业技术学校", "vocational", "341504002", "rect"),
        SchoolSpec("叶集区平岗中学", "middle", "341504002", "L"),
        SchoolSpec("平岗街道中心小学", "primary", "341504002", "rect"),
        SchoolSpec("平岗街道中心幼儿园", "kindergarten", "341504002", "quad"),
        SchoolSpec("叶集区第三中学", "middle", "341504002", "rect"),
        SchoolSpec("叶集区三元中学", "middle", "341504101", "rect"),
        SchoolSpec("三元镇中心小学", "primary", "341504101", "quad"),
        SchoolSpec("三元镇中心幼儿园", "kindergarten", "341504101", "rect"),
        SchoolSpec("三元镇钱集小学", "primary", "341504101", "point", place="钱集村"),
        SchoolSpec("叶集区洪集中学", "middle", "341504102", "quad"),
        SchoolSpec("洪集镇中心小学", "primary", "341504102", "rect"),
        SchoolSpec("洪集镇中心幼儿园", "kindergarten", "341504102", "rect"),
        SchoolSpec("洪集镇唐畈小学", "primary", "341504102", "point", place="唐畈村"),
        SchoolSpec("叶集区姚李中学", "middle", "341504103", "rect"),
        SchoolSpec("姚李镇中心小学", "primary", "341504103", "L"),
        SchoolSpec("姚李镇中心幼儿园", "kindergarten", "341504103", "rect"),
        SchoolSpec("姚李镇桥店小学", "primary", "341504103", "point", place="桥店村"),
        SchoolSpec("叶集区孙岗中学", "middle", "341504201", "rect"),
        SchoolSpec("孙岗乡中心小学", "primary", "341504201", "quad"),
        SchoolSpec("孙岗乡幼儿园", "kindergarten", "341504201", "rect"),
    ),
)

COUNTIES = (PENGSHUI, YEJI)


# People: (username, display_name, role, unit_type, jurisdiction) where jurisdiction is a code or
# "school:<name>" meaning the jurisdiction of that school (guards work at one school).
PEOPLE: tuple[tuple[str, str, str, str, str], ...] = (
    ("admin.pengshui", "冉光明", "admin", "police", "500243"),
    ("commander.pengshui", "任建国", "commander", "police", "500243"),
    ("officer.ps01", "何伟", "officer", "police", "500243001P1"),
    ("officer.ps02", "田晓龙", "officer", "police", "500243002P1"),
    ("officer.ps03", "庹永华", "officer", "police", "500243102P1"),
    ("officer.ps04", "龚德明", "officer", "auxiliary", "500243001P1"),
    ("officer.ps05", "侯春燕", "officer", "auxiliary", "500243003P1"),
    ("officer.ps06", "蔡宗富", "officer", "guard", "school:彭水县第一中学"),
    ("officer.ps07", "杨秀英", "officer", "guard", "school:彭水县实验小学"),
    ("officer.ps08", "罗仕军", "officer", "volunteer", "500243002"),
    ("admin.yeji", "汪志强", "admin", "police", "341504"),
    ("commander.yeji", "陈立新", "commander", "police", "341504"),
    ("officer.yj01", "王磊", "officer", "police", "341504001P1"),
    ("officer.yj02", "李俊", "officer", "police", "341504002P1"),
    ("officer.yj03", "余长春", "officer", "police", "341504102P1"),
    ("officer.yj04", "周海燕", "officer", "auxiliary", "341504001P1"),
    ("officer.yj05", "胡家宝", "officer", "auxiliary", "341504101P1"),
    ("officer.yj06", "方德胜", "officer", "guard", "school:叶集区第一中学"),
    ("officer.yj07", "徐桂芝", "officer", "guard", "school:叶集区实验小学"),
    ("officer.yj08", "孙明亮", "officer", "volunteer", "341504201"),
    ("viewer.dashboard", "指挥中心大屏", "viewer", "police", "500243"),
)


# --------------------------------------------------------------------------- #
# Jurisdictions
# --------------------------------------------------------------------------- #


def jurisdiction_records() -> list[dict[str, Any]]:
    """Both trees as a flat list, every parent before its children."""
    records: list[dict[str, Any]] = []

    def add(code: str, name: str, level: str, parent: str | None) -> None:
        records.append({"code": code, "name": name, "level": level, "parent_code": parent, "time_zone": TIME_ZONE})

    for county in COUNTIES:
        add(county.code, county.name, county.level, None)
        for unit in county.units:
            add(unit.code, unit.name, unit.level, county.code)
        for unit in county.units:
            for code, name in unit.stations:
                add(code, name, "station", unit.code)
    return records


# --------------------------------------------------------------------------- #
# Campus shapes, in metres around the origin
# --------------------------------------------------------------------------- #


def rectangle_sides_m(geometry: Polygon | MultiPolygon) -> tuple[float, float]:
    """Short and long side of the minimum rotated rectangle around ``geometry`` (metric plane)."""
    corners = list(geometry.minimum_rotated_rectangle.exterior.coords)
    first = math.dist(corners[0], corners[1])
    second = math.dist(corners[1], corners[2])
    return min(first, second), max(first, second)


def _fits(polygon: Polygon, side_range: tuple[float, float]) -> bool:
    short, long = rectangle_sides_m(polygon)
    return polygon.is_valid and side_range[0] <= short and long <= side_range[1]


def campus_shape(kind: str, shape: str, rng: random.Random, side_range: tuple[float, float] | None = None) -> Polygon:
    """A campus outline of the given shape, centred on the origin, axis-aligned before any rotation."""
    low, high = side_range or SIDE_RANGE_M[kind]
    for _ in range(1000):
        width, height = rng.uniform(low, high), rng.uniform(low, high)
        if max(width, height) / min(width, height) > 1.8:
            continue
        half_w, half_h = width / 2, height / 2
        if shape == "rect":
            polygon = box(-half_w, -half_h, half_w, half_h)
        elif shape == "quad":
            corners = [(-half_w, -half_h), (half_w, -half_h), (half_w, half_h), (-half_w, half_h)]
            polygon = Polygon([(x + rng.uniform(-0.06, 0.06) * width, y + rng.uniform(-0.06, 0.06) * height)
                               for x, y in corners])
        elif shape == "L":
            notch_w, notch_h = width * rng.uniform(0.3, 0.45), height * rng.uniform(0.3, 0.45)
            polygon = Polygon([(-half_w, -half_h), (half_w, -half_h), (half_w, half_h - notch_h),
                               (half_w - notch_w, half_h - notch_h), (half_w - notch_w, half_h), (-half_w, half_h)])
            if rng.random() < 0.5:
                polygon = affinity.scale(polygon, xfact=-1.0, origin=(0, 0))
        else:
            raise ValueError(f"unknown campus shape {shape!r}")
        if _fits(polygon, (low, high)):
            return shapely.normalize(polygon)
    raise RuntimeError(f"could not build a {shape} campus for a {kind} school")


def two_campuses(kind: str, rng: random.Random) -> tuple[MultiPolygon, Polygon]:
    """A main campus and a smaller second one across a road to its east; returns (both, main)."""
    main = campus_shape(kind, "rect", rng)
    second = campus_shape(kind, "rect", rng, SECOND_CAMPUS_SIDE_RANGE_M)
    main_w = main.bounds[2] - main.bounds[0]
    second_w = second.bounds[2] - second.bounds[0]
    main = affinity.translate(main, xoff=-(main_w / 2 + CAMPUS_ROAD_GAP_M / 2))
    second = affinity.translate(second, xoff=second_w / 2 + CAMPUS_ROAD_GAP_M / 2, yoff=rng.uniform(-25, 25))
    return MultiPolygon([main, second]), main


def gate_on(polygon: Polygon, rng: random.Random) -> Point:
    """A point 30-70 % along one of the campus's longer edges: the main gate."""
    coords = list(polygon.exterior.coords)
    edges = [(a, b) for a, b in zip(coords, coords[1:], strict=False) if math.dist(a, b) >= MIN_GATE_EDGE_M]
    (ax, ay), (bx, by) = rng.choice(edges)
    t = rng.uniform(0.3, 0.7)
    return Point(ax + t * (bx - ax), ay + t * (by - ay))


# --------------------------------------------------------------------------- #
# Placing the schools of one county
# --------------------------------------------------------------------------- #


@dataclass
class Placed:
    spec: SchoolSpec
    geometry: Point | Polygon | MultiPolygon  # metres, in the county's local plane
    gate: Point  # metres


def _place(geometry, gate, rotation_deg: float, x: float, y: float):
    """Rotate about the origin, then move to (x, y)."""
    moved = [affinity.translate(affinity.rotate(g, rotation_deg, origin=(0, 0)), x, y) for g in (geometry, gate)]
    return moved[0], moved[1]


def _cluster(county: County, specs: list[SchoolSpec], projection: LocalProjection,
             rng: random.Random) -> list[Placed]:
    """Three rectangular campuses around one crossroads: B east of A (north edges in line), C north of both,
    straddling the street between them, so every pair is only a street apart."""
    first, second, third = (campus_shape(spec.kind, "rect", rng) for spec in specs)
    w1, h1 = first.bounds[2] - first.bounds[0], first.bounds[3] - first.bounds[1]
    w2, h2 = second.bounds[2] - second.bounds[0], second.bounds[3] - second.bounds[1]
    h3 = third.bounds[3] - third.bounds[1]
    east_gap, north_gap = CLUSTER_GAPS_M
    second = affinity.translate(second, w1 / 2 + east_gap + w2 / 2, (h1 - h2) / 2)
    third = affinity.translate(third, w1 / 2 + east_gap / 2, h1 / 2 + north_gap + h3 / 2)
    anchor = projection.to_metres(Point(county.cluster_anchor))
    placed = []
    for spec, polygon in zip(specs, (first, second, third), strict=True):
        geometry, gate = _place(polygon, gate_on(polygon, rng), county.cluster_rotation_deg, anchor.x, anchor.y)
        placed.append(Placed(spec, geometry, gate))
    return placed


def _candidate(spec: SchoolSpec, rng: random.Random):
    """An unplaced campus (or gate point) for ``spec`` around the origin, and its gate."""
    if spec.shape == "point":
        return Point(0, 0), Point(0, 0)
    if spec.shape == "multi":
        both, main = two_campuses(spec.kind, rng)
        return both, gate_on(main, rng)
    polygon = campus_shape(spec.kind, spec.shape, rng)
    return polygon, gate_on(polygon, rng)


def place_county(county: County, rng: random.Random) -> tuple[list[Placed], LocalProjection]:
    projection = local_projection(*county.seat)
    units = {unit.code: unit for unit in county.units}
    cluster_specs = [spec for spec in county.schools if spec.shape == "cluster"]
    if len(cluster_specs) != 3:
        raise ValueError(f"{county.prefix}: expected a cluster of 3 schools")
    placed = _cluster(county, cluster_specs, projection, rng)
    others = [spec for spec in county.schools if spec.shape != "cluster"]
    # Big campuses first, while there is still room.
    others.sort(key=lambda spec: (spec.shape == "point", -SIDE_RANGE_M[spec.kind][1]))
    for spec in others:
        unit = units[spec.unit]
        centre = projection.to_metres(Point(unit.centre))
        for _ in range(PLACEMENT_ATTEMPTS):
            angle, reach = rng.uniform(0, 2 * math.pi), math.sqrt(rng.random())
            x = centre.x + unit.spread_m[0] * reach * math.cos(angle)
            y = centre.y + unit.spread_m[1] * reach * math.sin(angle)
            geometry, gate = _candidate(spec, rng)
            geometry, gate = _place(geometry, gate, rng.uniform(-30, 30), x, y)
            if all(geometry.distance(other.geometry) >= MIN_GAP_M + PLACEMENT_MARGIN_M for other in placed):
                placed.append(Placed(spec, geometry, gate))
                break
        else:
            raise RuntimeError(f"could not place {spec.name}")
    order = {spec.name: index for index, spec in enumerate(county.schools)}
    placed.sort(key=lambda item: order[item.spec.name])
    return placed, projection


# --------------------------------------------------------------------------- #
# GeoJSON output
# --------------------------------------------------------------------------- #


def _round(geometry):
    return shapely.transform(geometry, lambda xy: np.round(xy, DECIMALS))


def to_wgs84(geometry, projection: LocalProjection):
    """Unproject, orient exteriors counter-clockwise (RFC 7946) and round to 7 decimals (~1 cm)."""
    geometry = projection.to_wgs84(geometry)
    if isinstance(geometry, (Polygon, MultiPolygon)):
        geometry = shapely.orient_polygons(geometry, exterior_cw=False)
    geometry = _round(geometry)
    if not geometry.is_valid:
        raise RuntimeError(f"invalid geometry after rounding: {shapely.is_valid_reason(geometry)}")
    return geometry


def _ring_coords(ring) -> list[list[float]]:
    return [[float(x), float(y)] for x, y in ring.coords]


def geometry_json(geometry) -> dict[str, Any]:
    if isinstance(geometry, Point):
        return {"type": "Point", "coordinates": [float(geometry.x), float(geometry.y)]}
    if isinstance(geometry, Polygon):
        return {"type": "Polygon", "coordinates": [_ring_coords(geometry.exterior)]}
    return {"type": "MultiPolygon", "coordinates": [[_ring_coords(part.exterior)] for part in geometry.geoms]}


def school_features(rng: random.Random) -> list[dict[str, Any]]:
    features = []
    for county in COUNTIES:
        units = {unit.code: unit for unit in county.units}
        placed, projection = place_county(county, rng)
        seen_in_unit: dict[str, int] = {}
        for number, item in enumerate(placed, start=1):
            spec, unit = item.spec, units[item.spec.unit]
            # Alternate between the station and the street/township itself, so both kinds of owner appear.
            index = seen_in_unit.get(unit.code, 0)
            seen_in_unit[unit.code] = index + 1
            code = unit.stations[(index // 2) % len(unit.stations)][0] if unit.stations and index % 2 == 0 \
                else unit.code
            if spec.place:
                address = f"{county.address_prefix}{unit.name}{spec.place}"
            else:
                address = f"{county.address_prefix}{unit.name}{rng.choice(unit.roads)}{rng.randint(1, 388)}号"
            gate = to_wgs84(item.gate, projection)
            features.append({
                "type": "Feature",
                "properties": {
                    "external_id": f"{county.prefix}-{number:03d}",
                    "name": spec.name,
                    "kind": spec.kind,
                    "jurisdiction_code": code,
                    "address": address,
                    "zone_radius_m": spec.radius_m,
                    "gate": [float(gate.x), float(gate.y)],
                },
                "geometry": geometry_json(to_wgs84(item.geometry, projection)),
            })
    return features


# --------------------------------------------------------------------------- #
# People
# --------------------------------------------------------------------------- #


def people_records(features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    school_codes = {feature["properties"]["name"]: feature["properties"]["jurisdiction_code"]
                    for feature in features}
    records = []
    counters = {"ps": 100, "yj": 200}
    for username, display_name, role, unit_type, jurisdiction in PEOPLE:
        code = school_codes[jurisdiction.removeprefix("school:")] if jurisdiction.startswith("school:") \
            else jurisdiction
        phone = None
        if role != "viewer":
            county = "ps" if code.startswith(PENGSHUI.code) else "yj"
            counters[county] += 1
            phone = f"1380000{counters[county]:04d}"
        records.append({
            "username": username,
            "display_name": display_name,
            "role": role,
            "unit_type": unit_type,
            "jurisdiction_code": code,
            "phone": phone,
            "password": DEMO_PASSWORD,
        })
    return records


# --------------------------------------------------------------------------- #
# Writing
# --------------------------------------------------------------------------- #

_POSITION = re.compile(r"\[\s+(-?\d+(?:\.\d+)?),\s+(-?\d+(?:\.\d+)?)\s+\]")


def write_json(path: Path, data: Any) -> None:
    """Pretty JSON (UTF-8, Chinese unescaped) with each [lon, lat] position kept on one line."""
    text = json.dumps(data, ensure_ascii=False, indent=2)
    text = _POSITION.sub(r"[\1, \2]", text)
    path.write_text(text + "\n", encoding="utf-8")


def generate(directory: Path = DEMO_DATA_DIR) -> dict[str, int]:
    rng = random.Random(SEED)
    jurisdictions = jurisdiction_records()
    features = school_features(rng)
    people = people_records(features)
    write_json(directory / "jurisdictions.json", jurisdictions)
    write_json(directory / "schools.geojson", {"type": "FeatureCollection", "features": features})
    write_json(directory / "people.json", people)
    return {"jurisdictions": len(jurisdictions), "schools": len(features), "people": len(people)}


if __name__ == "__main__":
    counts = generate()
    print(", ".join(f"{count} {name}" for name, count in counts.items()))
