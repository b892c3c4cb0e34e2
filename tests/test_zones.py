"""Zone membership: within zone_radius_m of the campus boundary (else the gate point), decided in PostGIS."""

from __future__ import annotations

import pytest
from pyproj import Geod

from geo.crs import from_wgs84
from tests.factories import make_person, make_school, make_tree, offset, rectangle

GEOD = Geod(ellps="WGS84")
LATITUDES = [(108.1655, 29.2951), (115.91, 31.85), (126.63, 45.75), (109.5, 18.25)]


async def _setup(app, client):
    tree = await make_tree(app)
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    return tree, commander


async def _lookup(client, person, lon, lat, crs="wgs84"):
    r = await client.get("/v1/zones/lookup", headers=person.headers, params={"lon": lon, "lat": lat, "crs": crs})
    assert r.status_code == 200, r.text
    return r.json()


def _entry(answer, school_id):
    return next(s for s in answer["schools"] if s["school_id"] == school_id)


@pytest.mark.parametrize("lon,lat", LATITUDES)
async def test_point_199m_from_campus_edge_is_inside_and_201m_is_outside(app, client, lon, lat):
    tree, commander = await _setup(app, client)
    campus = rectangle(lon, lat, half_width_m=60, half_height_m=40)
    school = await make_school(client, commander, jurisdiction_code=tree.station_a, lon=lon, lat=lat, campus=campus)
    edge_lon, edge_lat = offset(lon, lat, east_m=60)
    for metres, inside in ((199, True), (201, False)):
        p = offset(edge_lon, edge_lat, east_m=metres)
        entry = _entry(await _lookup(client, commander, *p), school["id"])
        assert entry["inside"] is inside, (metres, entry)
        assert entry["distance_m"] == pytest.approx(metres, abs=0.5)


async def test_campus_much_larger_than_the_zone_measures_from_its_edge(app, client):
    tree, commander = await _setup(app, client)
    lon, lat = 108.18, 29.30
    campus = rectangle(lon, lat, half_width_m=1500, half_height_m=1200)
    school = await make_school(client, commander, jurisdiction_code=tree.station_a, lon=lon, lat=lat, campus=campus)
    centre = _entry(await _lookup(client, commander, lon, lat), school["id"])
    assert centre["inside"] and centre["distance_m"] == 0
    north_edge = offset(lon, lat, north_m=1200)
    assert _entry(await _lookup(client, commander, *offset(*north_edge, north_m=199)), school["id"])["inside"]
    assert not _entry(await _lookup(client, commander, *offset(*north_edge, north_m=201)), school["id"])["inside"]


async def test_multipolygon_campus_counts_each_part(app, client):
    tree, commander = await _setup(app, client)
    lon, lat = 115.90, 31.84
    a = rectangle(lon, lat, half_width_m=50, half_height_m=50)["coordinates"]
    far_lon, far_lat = offset(lon, lat, east_m=900)
    b = rectangle(far_lon, far_lat, half_width_m=50, half_height_m=50)["coordinates"]
    campus = {"type": "MultiPolygon", "coordinates": [a, b]}
    school = await make_school(client, commander, jurisdiction_code=tree.station_a, lon=lon, lat=lat, campus=campus)
    east_edge_b = offset(far_lon, far_lat, east_m=50)
    assert _entry(await _lookup(client, commander, *offset(*east_edge_b, east_m=199)), school["id"])["inside"]
    assert not _entry(await _lookup(client, commander, *offset(*east_edge_b, east_m=201)), school["id"])["inside"]
    middle = offset(lon, lat, east_m=450)  # 400 m from both parts
    assert not _entry(await _lookup(client, commander, *middle), school["id"])["inside"]


async def test_custom_radius_school_without_campus_measures_from_its_point(app, client):
    tree, commander = await _setup(app, client)
    lon, lat = 108.20, 29.28
    school = await make_school(client, commander, jurisdiction_code=tree.station_a, lon=lon, lat=lat,
                               zone_radius_m=350)
    assert _entry(await _lookup(client, commander, *offset(lon, lat, north_m=349)), school["id"])["inside"]
    assert not _entry(await _lookup(client, commander, *offset(lon, lat, north_m=351)), school["id"])["inside"]


async def test_distances_agree_with_pyproj_geod_within_half_a_metre(app, client):
    tree, commander = await _setup(app, client)
    lon, lat = 108.16, 29.29
    school = await make_school(client, commander, jurisdiction_code=tree.station_a, lon=lon, lat=lat)
    for east, north in ((120, 35), (-80, 150), (10, -190), (1500, 2000)):
        p = offset(lon, lat, east_m=east, north_m=north)
        answer = await _lookup(client, commander, *p)
        expected = GEOD.inv(lon, lat, *p)[2]
        assert _entry(answer, school["id"])["distance_m"] == pytest.approx(expected, abs=0.5)


async def test_gcj02_point_lands_on_its_wgs84_place(app, client):
    tree, commander = await _setup(app, client)
    lon, lat = 108.1655, 29.2951
    school = await make_school(client, commander, jurisdiction_code=tree.station_a, lon=lon, lat=lat,
                               campus=rectangle(lon, lat, half_width_m=50, half_height_m=50))
    gcj = from_wgs84(lon, lat, "gcj02")
    answer = await _lookup(client, commander, *gcj, crs="gcj02")
    back = answer["point"]["coordinates"]
    assert GEOD.inv(lon, lat, *back)[2] < 1.0
    assert _entry(answer, school["id"])["inside"]
    # The same numbers read as WGS-84 are hundreds of metres away: outside the zone.
    wrong = await _lookup(client, commander, *gcj, crs="wgs84")
    assert GEOD.inv(lon, lat, *gcj)[2] > 100
    assert all(not s["inside"] for s in wrong["schools"] if s["school_id"] == school["id"])


async def test_bd09_point_is_converted_too(app, client):
    tree, commander = await _setup(app, client)
    lon, lat = 115.91, 31.85
    bd = from_wgs84(lon, lat, "bd09")
    answer = await _lookup(client, commander, *bd, crs="bd09")
    assert GEOD.inv(lon, lat, *answer["point"]["coordinates"])[2] < 1.0


async def test_lookup_returns_inside_schools_then_nearest_outside_nearest_first(app, client):
    tree, commander = await _setup(app, client)
    lon, lat = 108.10, 29.20
    near = await make_school(client, commander, jurisdiction_code=tree.station_a, lon=lon, lat=lat, name="near")
    mid = await make_school(client, commander, jurisdiction_code=tree.station_a,
                            lon=offset(lon, lat, east_m=150)[0], lat=lat, name="mid")
    far = await make_school(client, commander, jurisdiction_code=tree.station_a,
                            lon=offset(lon, lat, east_m=900)[0], lat=lat, name="far")
    answer = await _lookup(client, commander, lon, lat)
    ids = [s["school_id"] for s in answer["schools"]]
    assert ids[:3] == [near["id"], mid["id"], far["id"]]
    assert [s["inside"] for s in answer["schools"][:3]] == [True, True, False]
    distances = [s["distance_m"] for s in answer["schools"]]
    assert distances == sorted(distances)


async def test_lookup_only_shows_schools_in_the_callers_jurisdictions(app, client):
    tree, commander = await _setup(app, client)
    officer_b = await make_person(app, client, role="officer", jurisdiction_code=tree.station_b)
    lon, lat = 108.05, 29.15
    school = await make_school(client, commander, jurisdiction_code=tree.station_a, lon=lon, lat=lat)
    answer = await _lookup(client, officer_b, lon, lat)
    assert school["id"] not in [s["school_id"] for s in answer["schools"]]


@pytest.mark.parametrize("lon,lat", [(180.5, 10), (10, 91), (-181, 0), (0, -90.5)])
async def test_out_of_range_lookup_is_422(app, client, lon, lat):
    tree, commander = await _setup(app, client)
    r = await client.get("/v1/zones/lookup", headers=commander.headers, params={"lon": lon, "lat": lat})
    assert r.status_code == 422


async def test_points_at_the_antimeridian_and_poles_are_answered_not_500(app, client):
    tree, commander = await _setup(app, client)
    for lon, lat in ((180, 0), (-180, 10), (0, 90), (179.9999, -89.9999)):
        r = await client.get("/v1/zones/lookup", headers=commander.headers, params={"lon": lon, "lat": lat})
        assert r.status_code == 200, r.text


async def test_unknown_crs_is_422_naming_crs(app, client):
    tree, commander = await _setup(app, client)
    r = await client.get("/v1/zones/lookup", headers=commander.headers,
                         params={"lon": 108, "lat": 29, "crs": "epsg3857"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "crs"


async def test_zone_feature_is_the_campus_buffered_in_metres(app, client):
    tree, commander = await _setup(app, client)
    lon, lat = 108.17, 29.29
    school = await make_school(client, commander, jurisdiction_code=tree.station_a, lon=lon, lat=lat)
    r = await client.get(f"/v1/schools/{school['id']}/zone", headers=commander.headers)
    assert r.status_code == 200
    feature = r.json()
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Polygon"
    for vlon, vlat in feature["geometry"]["coordinates"][0]:
        assert GEOD.inv(lon, lat, vlon, vlat)[2] == pytest.approx(200, abs=0.5)
