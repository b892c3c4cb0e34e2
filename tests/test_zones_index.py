"""The in-memory zone index answers what PostGIS answers: on 10,000 points near zone edges its distances agree
with `geography` within 0.01 m and it puts each point in the same zones (they may differ only within 0.01 m of
an edge); lookups through it equal the SQL lookup; and it follows changes to schools (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import math
import random
import uuid

from domain import zones
from domain.callers import system_caller
from geo.zone_index import distance_m
from tests.factories import make_person, make_school, make_tree, offset, rectangle

TOLERANCE_M = 0.01
CENTRE = (108.17, 29.29)


def _skewed_campus(lon: float, lat: float, rng: random.Random) -> dict:
    """An irregular campus: a quadrilateral with corners at random distances, or an L-shaped MultiPolygon."""
    if rng.random() < 0.7:
        corners = [offset(lon, lat, east_m=math.cos(a) * r, north_m=math.sin(a) * r)
                   for a, r in ((math.radians(45 + 90 * k + rng.uniform(-25, 25)), rng.uniform(60, 220))
                                for k in range(4))]
        return {"type": "Polygon", "coordinates": [[*corners, corners[0]]]}
    a = rectangle(lon, lat, half_width_m=rng.uniform(40, 120), half_height_m=rng.uniform(40, 120))
    e_lon, e_lat = offset(lon, lat, east_m=260)
    b = rectangle(e_lon, e_lat, half_width_m=50, half_height_m=rng.uniform(30, 90))
    return {"type": "MultiPolygon", "coordinates": [a["coordinates"], b["coordinates"]]}


async def _schools(app, client, rng: random.Random, n: int = 24):
    tree = await make_tree(app)
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    made = []
    for k in range(n):
        lon, lat = offset(*CENTRE, east_m=rng.uniform(-1500, 1500), north_m=rng.uniform(-1500, 1500))
        campus = _skewed_campus(lon, lat, rng) if k % 3 else None
        radius = rng.choice([50.0, 120.0, 200.0, 200.0, 300.0, 800.0])
        made.append(await make_school(client, commander, jurisdiction_code=tree.station_a if k % 2 else tree.station_b,
                                      lon=lon, lat=lat, campus=campus, zone_radius_m=radius, name=f"School {k}"))
    return tree, made


def _edge_points(made: list[dict], rng: random.Random, count: int) -> list[tuple[float, float]]:
    """Points about one zone radius from a school's boundary (a vertex or its gate point), ± 2 m."""
    points = []
    for _ in range(count):
        school = rng.choice(made)
        ring = (school["campus"]["coordinates"][0][0] if school["campus"] and school["campus"]["type"] == "MultiPolygon"
                else school["campus"]["coordinates"][0] if school["campus"] else [school["location"]["coordinates"]])
        lon, lat = rng.choice(ring)
        bearing = rng.uniform(0, 2 * math.pi)
        reach = school["zone_radius_m"] + rng.uniform(-2.0, 2.0)
        points.append(offset(lon, lat, east_m=math.cos(bearing) * reach, north_m=math.sin(bearing) * reach))
    return points


async def test_index_distances_agree_with_postgis_within_a_centimetre_on_10000_edge_points(app, client, db):
    rng = random.Random(20261203)
    tree, made = await _schools(app, client, rng)
    points = _edge_points(made, rng, 10_000)
    rows = await db.fetch("""
        SELECT p.n, s.id, ST_Distance(s.boundary, p.g) AS d, ST_DWithin(s.boundary, p.g, s.zone_radius_m) AS inside,
               ST_AsBinary(s.boundary) AS boundary, s.zone_radius_m
        FROM (SELECT n, CAST(ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS geography) AS g
              FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY AS u(lon, lat, n)) p
        JOIN schools s ON ST_DWithin(s.boundary, p.g, 1000)
        WHERE s.jurisdiction_code = ANY(CAST(:codes AS text[]))
    """, {"lons": [p[0] for p in points], "lats": [p[1] for p in points],
          "codes": [tree.station_a, tree.station_b]})
    import shapely

    boundaries = {}
    worst = 0.0
    disagreements = 0
    for r in rows:
        geom = boundaries.setdefault(r["id"], shapely.from_wkb(bytes(r["boundary"])))
        lon, lat = points[r["n"] - 1]
        d = distance_m(lon, lat, geom)
        if abs(d - r["d"]) > worst:
            worst_case = (lon, lat, geom.wkt[:300], d, r["d"])
        worst = max(worst, abs(d - r["d"]))
        if (d <= r["zone_radius_m"]) != r["inside"]:
            disagreements += 1
            assert abs(r["d"] - r["zone_radius_m"]) <= TOLERANCE_M, (r["d"], r["zone_radius_m"])
    assert len(rows) > 10_000
    assert worst <= TOLERANCE_M, f"largest difference from PostGIS {worst:.4f} m: {worst_case}"


async def test_lookups_through_the_index_equal_the_sql_lookup(app, client, db):
    rng = random.Random(7)
    tree, made = await _schools(app, client, rng)
    index = await _ready_index(app)
    caller = system_caller(tree.code, tree.code)
    narrow = system_caller(tree.station_a, f"{tree.code}.{tree.station_a}")
    points = _edge_points(made, rng, 150) + [offset(*CENTRE, east_m=rng.uniform(-4000, 4000),
                                                     north_m=rng.uniform(-4000, 4000)) for _ in range(50)]
    for lon, lat in points:
        for who in (caller, narrow):
            for nearest in (0, 3):
                sql = await zones.lookup_in_database(db, caller=who, lon=lon, lat=lat, nearest_outside=nearest)
                mem = zones.lookup_in_index(index, caller=who, lon=lon, lat=lat, nearest_outside=nearest)
                assert [s["school_id"] for s in mem] == [s["school_id"] for s in sql], (lon, lat)
                for a, b in zip(mem, sql, strict=True):
                    assert abs(a["distance_m"] - b["distance_m"]) <= TOLERANCE_M + 0.005
                    assert (a["inside"], a["name"], a["kind"], a["jurisdiction_code"]) == \
                        (b["inside"], b["name"], b["kind"], b["jurisdiction_code"])


async def _ready_index(app, timeout_s: float = 10.0):
    for _ in range(int(timeout_s / 0.05)):
        index = app.state.zone_index.current()
        if index is not None:
            return index
        await asyncio.sleep(0.05)
    raise AssertionError("the zone index did not become ready")


async def test_a_new_school_is_found_at_once_by_the_worker_that_made_it(app, client):
    tree = await make_tree(app)
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    lon, lat = offset(*CENTRE, east_m=9000, north_m=9000)
    school = await make_school(client, commander, jurisdiction_code=tree.code, lon=lon, lat=lat)
    r = await client.get("/v1/zones/lookup", headers=commander.headers, params={"lon": lon, "lat": lat})
    assert [s["school_id"] for s in r.json()["schools"]][:1] == [school["id"]]


async def test_a_change_made_elsewhere_reaches_the_index_by_notification(app, client, db):
    tree = await make_tree(app)
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    lon, lat = offset(*CENTRE, east_m=-9000, north_m=9000)
    school = await make_school(client, commander, jurisdiction_code=tree.code, lon=lon, lat=lat, zone_radius_m=100)
    await _ready_index(app)
    here = offset(lon, lat, east_m=150)
    caller = system_caller(tree.code, tree.code)
    # Another process (here: a plain connection, as another worker or a psql session would) widens the zone.
    await db.execute("UPDATE schools SET zone_radius_m = 300 WHERE id = :id", {"id": uuid.UUID(school["id"])})
    for _ in range(100):
        index = app.state.zone_index.current()
        found = index and zones.lookup_in_index(index, caller=caller, lon=here[0], lat=here[1], nearest_outside=0)
        if found and found[0]["inside"]:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the index did not follow the change within 2 s")
    await db.execute("UPDATE schools SET deleted_at = now() WHERE id = :id", {"id": uuid.UUID(school["id"])})
    for _ in range(100):
        index = app.state.zone_index.current()
        if index and not zones.lookup_in_index(index, caller=caller, lon=here[0], lat=here[1], nearest_outside=0):
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the index did not drop the deleted school within 2 s")


async def test_check_in_judgement_from_the_index_equals_the_sql_judgement(app, client, db):
    """Check-ins are placed in a zone from the index when it is ready; it must pick the school PostGIS picks."""
    rng = random.Random(11)
    tree, made = await _schools(app, client, rng)
    index = await _ready_index(app)
    mine = {uuid.UUID(s["id"]) for s in made}
    for lon, lat in _edge_points(made, rng, 400):
        row = await db.fetchrow(f"""
            SELECT z.id, z.distance_m FROM (SELECT CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography) AS g) p
            LEFT JOIN LATERAL ({zones.in_zone_schools_sql("p.g")} LIMIT 1) z ON true
        """, {"lon": lon, "lat": lat})
        school_id, distance = zones.holding_zone(index, lon=lon, lat=lat)
        if row["id"] is not None and row["id"] not in mine:
            continue  # another suite's school nearby
        assert school_id == row["id"], (lon, lat)
        if distance is not None:
            assert abs(distance - row["distance_m"]) <= TOLERANCE_M
