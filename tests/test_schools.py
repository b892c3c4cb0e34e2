"""The school registry: create, read, change, list with filters, soft delete, bulk import, bad input."""

from __future__ import annotations

import pytest
from pyproj import Geod

from geo.crs import from_wgs84
from tests.factories import make_person, make_school, make_tree, offset, rectangle

GEOD = Geod(ellps="WGS84")


async def _setup(app, client):
    tree = await make_tree(app)
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    return tree, commander


def _body(tree, **over):
    body = {"name": "汉葭街道中心小学", "kind": "primary", "jurisdiction_code": tree.station_a,
            "address": "彭水县汉葭街道", "location": {"type": "Point", "coordinates": [108.1655, 29.2951]}}
    body.update(over)
    return body


async def test_create_and_read_school_with_campus(app, client):
    tree, commander = await _setup(app, client)
    campus = rectangle(108.1655, 29.2951, half_width_m=80, half_height_m=60)
    r = await client.post("/v1/schools", headers=commander.headers, json=_body(tree, campus=campus))
    assert r.status_code == 201, r.text
    school = r.json()
    assert school["zone_radius_m"] == 200
    assert school["campus"]["type"] == "Polygon"
    got = await client.get(f"/v1/schools/{school['id']}", headers=commander.headers)
    assert got.status_code == 200 and got.json()["name"] == "汉葭街道中心小学"


async def test_gcj02_location_is_stored_as_wgs84(app, client):
    tree, commander = await _setup(app, client)
    gcj = from_wgs84(108.1655, 29.2951, "gcj02")
    r = await client.post("/v1/schools", headers=commander.headers,
                          json=_body(tree, location={"type": "Point", "coordinates": list(gcj)}, crs="gcj02"))
    stored = r.json()["location"]["coordinates"]
    assert GEOD.inv(108.1655, 29.2951, *stored)[2] < 1.0


async def test_campus_without_location_uses_a_point_inside_it(app, client):
    tree, commander = await _setup(app, client)
    body = _body(tree, campus=rectangle(108.2, 29.3, half_width_m=100, half_height_m=100))
    body.pop("location")
    r = await client.post("/v1/schools", headers=commander.headers, json=body)
    assert r.status_code == 201
    lon, lat = r.json()["location"]["coordinates"]
    assert GEOD.inv(108.2, 29.3, lon, lat)[2] < 150


async def test_location_far_from_campus_is_refused(app, client):
    tree, commander = await _setup(app, client)
    r = await client.post("/v1/schools", headers=commander.headers,
                          json=_body(tree, campus=rectangle(108.3, 29.3, half_width_m=50, half_height_m=50)))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "location"


@pytest.mark.parametrize("bad,field", [
    ({"location": {"type": "Point", "coordinates": [108.1, 91]}}, "location.coordinates"),
    ({"location": {"type": "Point", "coordinates": ["108.1", 29]}}, "location.coordinates.0"),
    ({"location": {"type": "Point", "coordinates": [108.1]}}, "location.coordinates"),
    ({"location": {"type": "LineString", "coordinates": [108.1, 29]}}, "location.type"),
    ({"zone_radius_m": 0}, "zone_radius_m"),
    ({"zone_radius_m": 2500}, "zone_radius_m"),
    ({"kind": "university"}, "kind"),
    ({"name": ""}, "name"),
    ({"crs": "mars"}, "crs"),
    ({"jurisdiction_code": "no such code"}, "jurisdiction_code"),
])
async def test_bad_school_is_422_naming_the_field(app, client, bad, field):
    tree, commander = await _setup(app, client)
    r = await client.post("/v1/schools", headers=commander.headers, json=_body(tree, **bad))
    assert r.status_code == 422, r.text
    fields = [e["field"] for e in r.json()["errors"]]
    assert any(f.startswith(field) for f in fields), fields


async def test_nan_and_infinity_are_refused(app, client):
    tree, commander = await _setup(app, client)
    raw = ('{"name": "x", "kind": "primary", "jurisdiction_code": "' + tree.station_a + '", '
           '"location": {"type": "Point", "coordinates": [NaN, Infinity]}}')
    r = await client.post("/v1/schools", headers={**commander.headers, "content-type": "application/json"},
                          content=raw)
    assert r.status_code in (400, 422)
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_self_intersecting_campus_is_refused_and_nothing_written(app, client):
    tree, commander = await _setup(app, client)
    bowtie = {"type": "Polygon", "coordinates": [[[108.16, 29.29], [108.17, 29.30], [108.17, 29.29],
                                                   [108.16, 29.30], [108.16, 29.29]]]}
    r = await client.post("/v1/schools", headers=commander.headers, json=_body(tree, campus=bowtie))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"].startswith("campus")
    listed = await client.get("/v1/schools", headers=commander.headers, params={"jurisdiction_code": tree.code})
    assert listed.json()["items"] == []


async def test_unclosed_ring_and_huge_polygon_are_refused(app, client):
    tree, commander = await _setup(app, client)
    unclosed = {"type": "Polygon", "coordinates": [[[108.16, 29.29], [108.17, 29.29], [108.17, 29.30],
                                                     [108.16, 29.30]]]}
    r = await client.post("/v1/schools", headers=commander.headers, json=_body(tree, campus=unclosed))
    assert r.status_code == 422 and "closed" in r.text
    import math
    ring = [[108.1655 + 0.01 * math.cos(2 * math.pi * i / 100_000), 29.2951 + 0.01 * math.sin(2 * math.pi * i / 100_000)]
            for i in range(100_000)]
    ring.append(ring[0])
    r = await client.post("/v1/schools", headers=commander.headers,
                          json=_body(tree, campus={"type": "Polygon", "coordinates": [ring]}))
    assert r.status_code in (413, 422)


async def test_officer_cannot_register_schools(app, client):
    tree = await make_tree(app)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    assert (await client.post("/v1/schools", headers=officer.headers, json=_body(tree))).status_code == 403


async def test_school_in_another_station_is_404(app, client):
    tree, commander = await _setup(app, client)
    school = await make_school(client, commander, jurisdiction_code=tree.station_b, lon=108.1, lat=29.1)
    officer_a = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    assert (await client.get(f"/v1/schools/{school['id']}", headers=officer_a.headers)).status_code == 404
    assert (await client.get(f"/v1/schools/{school['id']}/zone", headers=officer_a.headers)).status_code == 404


async def test_patch_changes_fields_and_campus_null_removes_campus(app, client):
    tree, commander = await _setup(app, client)
    school = await make_school(client, commander, jurisdiction_code=tree.station_a, lon=108.1, lat=29.1,
                               campus=rectangle(108.1, 29.1, half_width_m=50, half_height_m=50))
    r = await client.patch(f"/v1/schools/{school['id']}", headers=commander.headers,
                           json={"name": "新名字", "zone_radius_m": 300, "campus": None})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "新名字" and r.json()["zone_radius_m"] == 300 and r.json()["campus"] is None
    bad = await client.patch(f"/v1/schools/{school['id']}", headers=commander.headers, json={"id": "x"})
    assert bad.status_code == 422


async def test_delete_hides_school_from_reads_and_zones(app, client):
    tree, commander = await _setup(app, client)
    school = await make_school(client, commander, jurisdiction_code=tree.station_a, lon=108.3, lat=29.4)
    assert (await client.delete(f"/v1/schools/{school['id']}", headers=commander.headers)).status_code == 204
    assert (await client.get(f"/v1/schools/{school['id']}", headers=commander.headers)).status_code == 404
    answer = (await client.get("/v1/zones/lookup", headers=commander.headers,
                               params={"lon": 108.3, "lat": 29.4})).json()
    assert school["id"] not in [s["school_id"] for s in answer["schools"]]


async def test_list_filters_near_bbox_kind_and_name(app, client):
    tree, commander = await _setup(app, client)
    lon, lat = 108.40, 29.50
    a = await make_school(client, commander, jurisdiction_code=tree.station_a, lon=lon, lat=lat, name="第一中学",
                          kind="middle")
    b = await make_school(client, commander, jurisdiction_code=tree.station_b,
                          lon=offset(lon, lat, east_m=3000)[0], lat=lat, name="第二小学")
    h = commander.headers
    base = {"jurisdiction_code": tree.code}

    async def ids(**params):
        r = await client.get("/v1/schools", headers=h, params={**base, **params})
        assert r.status_code == 200, r.text
        return {s["id"] for s in r.json()["items"]}

    assert await ids() == {a["id"], b["id"]}
    assert await ids(near=f"{lon},{lat}", radius_m=1000) == {a["id"]}
    assert await ids(bbox=f"{lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.01}") == {a["id"]}
    assert await ids(kind="middle") == {a["id"]}
    assert await ids(q="小学") == {b["id"]}
    assert await ids(jurisdiction_code=tree.station_b) == {b["id"]}
    r = await client.get("/v1/schools", headers=h, params={"bbox": "1,2,3"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "bbox"
    r = await client.get("/v1/schools", headers=h, params={"near": "108,29"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "radius_m"


def _feature(tree, ext, *, geometry=None, **props):
    p = {"name": f"学校 {ext}", "kind": "primary", "jurisdiction_code": tree.station_a, "external_id": ext}
    p.update(props)
    return {"type": "Feature", "properties": p,
            "geometry": geometry or rectangle(108.5, 29.6, half_width_m=60, half_height_m=60)}


async def test_import_creates_then_updates_and_rejects_the_broken_feature_alone(app, client):
    tree, commander = await _setup(app, client)
    ext = tree.code
    broken = _feature(tree, ext + "-3", geometry={"type": "Polygon", "coordinates": [[[108.5, 29.6], [108.6, 29.6]]]})
    fc = {"type": "FeatureCollection", "features": [
        _feature(tree, ext + "-1"),
        _feature(tree, ext + "-2", geometry={"type": "Point", "coordinates": [108.51, 29.61]}),
        broken,
        _feature(tree, ext + "-4", jurisdiction_code=tree.code + "nope"),
    ]}
    r = await client.post("/v1/schools/import", headers=commander.headers, json=fc)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["status"] for x in body["results"]] == ["created", "created", "rejected", "rejected"]
    assert body["results"][2]["errors"][0]["field"].startswith("geometry")
    assert body["results"][3]["errors"][0]["field"] == "properties.jurisdiction_code"
    fc["features"][0]["properties"]["name"] = "改名"
    again = (await client.post("/v1/schools/import", headers=commander.headers, json=fc)).json()
    assert [x["status"] for x in again["results"][:2]] == ["updated", "updated"]
    assert again["results"][0]["id"] == body["results"][0]["id"]
    school = (await client.get(f"/v1/schools/{body['results'][0]['id']}", headers=commander.headers)).json()
    assert school["name"] == "改名"


async def test_import_in_gcj02(app, client):
    tree, commander = await _setup(app, client)
    gcj = from_wgs84(108.55, 29.65, "gcj02")
    fc = {"type": "FeatureCollection", "crs": "gcj02", "features": [
        _feature(tree, tree.code + "-g", geometry={"type": "Point", "coordinates": list(gcj)})]}
    body = (await client.post("/v1/schools/import", headers=commander.headers, json=fc)).json()
    school = (await client.get(f"/v1/schools/{body['results'][0]['id']}", headers=commander.headers)).json()
    assert GEOD.inv(108.55, 29.65, *school["location"]["coordinates"])[2] < 1.0


async def test_import_refuses_to_move_a_school_outside_the_callers_scope(app, client):
    tree, commander = await _setup(app, client)
    other = await make_tree(app)
    other_commander = await make_person(app, client, role="commander", jurisdiction_code=other.code)
    ext = other.code + "-x"
    fc = {"type": "FeatureCollection", "features": [_feature(other, ext, jurisdiction_code=other.station_a)]}
    assert (await client.post("/v1/schools/import", headers=other_commander.headers, json=fc)).json()["created"] == 1
    hijack = {"type": "FeatureCollection", "features": [_feature(tree, ext)]}
    r = (await client.post("/v1/schools/import", headers=commander.headers, json=hijack)).json()
    assert r["results"][0]["status"] == "rejected"


async def test_import_duplicate_external_id_in_one_file_rejects_the_second(app, client):
    tree, commander = await _setup(app, client)
    ext = tree.code + "-d"
    fc = {"type": "FeatureCollection", "features": [_feature(tree, ext), _feature(tree, ext)]}
    r = (await client.post("/v1/schools/import", headers=commander.headers, json=fc)).json()
    assert [x["status"] for x in r["results"]] == ["created", "rejected"]
