"""Posts at schools, duty windows (defaults, inheritance, school override) and the non-school-day calendar."""

from __future__ import annotations

from geo.crs import from_wgs84
from tests.factories import make_person, make_tree, offset
from tests.test_duty_support import make_world

DEFAULTS = [
    {"name": "morning", "starts_local": "07:00:00", "ends_local": "08:30:00", "weekdays": [1, 2, 3, 4, 5]},
    {"name": "noon", "starts_local": "11:30:00", "ends_local": "12:30:00", "weekdays": [1, 2, 3, 4, 5]},
    {"name": "afternoon", "starts_local": "16:00:00", "ends_local": "18:00:00", "weekdays": [1, 2, 3, 4, 5]},
]


async def test_post_is_created_with_default_radius_and_listed(app, client):
    w = await make_world(app, client)
    assert w.post["radius_m"] == 50 and w.post["kind"] == "school_guard"
    assert w.post["school_id"] == w.school["id"]
    r = await client.post(f"/v1/schools/{w.school['id']}/posts", headers=w.commander.headers, json={
        "name": "彭水大道高峰岗", "kind": "peak_duty", "radius_m": 80,
        "location": {"type": "Point", "coordinates": list(offset(w.lon, w.lat, east_m=300))}})
    assert r.status_code == 201, r.text
    listed = await client.get(f"/v1/schools/{w.school['id']}/posts", headers=w.officer.headers)
    assert {p["id"] for p in listed.json()["items"]} == {w.post["id"], r.json()["id"]}


async def test_post_far_outside_the_zone_is_refused_naming_location(app, client):
    w = await make_world(app, client)
    # campus edge + 200 m zone + 500 m = 700 m allowed; 60 m half height + 800 m is beyond
    far = offset(w.lon, w.lat, north_m=60 + 800)
    r = await client.post(f"/v1/schools/{w.school['id']}/posts", headers=w.commander.headers, json={
        "name": "远岗", "location": {"type": "Point", "coordinates": list(far)}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "location"
    ok = offset(w.lon, w.lat, north_m=60 + 650)
    r = await client.post(f"/v1/schools/{w.school['id']}/posts", headers=w.commander.headers, json={
        "name": "近岗", "location": {"type": "Point", "coordinates": list(ok)}})
    assert r.status_code == 201


async def test_gcj02_post_is_stored_as_wgs84(app, client):
    w = await make_world(app, client)
    gcj = from_wgs84(*w.gate, "gcj02")
    r = await client.post(f"/v1/schools/{w.school['id']}/posts", headers=w.commander.headers, json={
        "name": "gcj", "crs": "gcj02", "location": {"type": "Point", "coordinates": list(gcj)}})
    lon, lat = r.json()["location"]["coordinates"]
    assert abs(lon - w.gate[0]) < 1e-5 and abs(lat - w.gate[1]) < 1e-5


async def test_officer_cannot_add_posts_and_bad_radius_is_422(app, client):
    w = await make_world(app, client)
    body = {"name": "x", "location": {"type": "Point", "coordinates": list(w.gate)}}
    r = await client.post(f"/v1/schools/{w.school['id']}/posts", headers=w.officer.headers, json=body)
    assert r.status_code == 403
    r = await client.post(f"/v1/schools/{w.school['id']}/posts", headers=w.commander.headers,
                          json={**body, "radius_m": 0})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "radius_m"


async def test_defaults_apply_until_a_jurisdiction_sets_windows(app, client):
    w = await make_world(app, client)
    r = await client.get(f"/v1/jurisdictions/{w.tree.station_a}/duty-windows", headers=w.commander.headers)
    assert r.status_code == 200 and r.json()["source"] == "default" and r.json()["windows"] == DEFAULTS
    assert r.json()["time_zone"] == "Asia/Shanghai"


async def test_stations_inherit_the_nearest_ancestor_and_a_school_override_wins(app, client):
    w = await make_world(app, client)
    county = [{"name": "morning", "starts_local": "07:10", "ends_local": "08:10", "weekdays": [1, 2, 3, 4, 5, 6]}]
    r = await client.put(f"/v1/jurisdictions/{w.tree.code}/duty-windows", headers=w.commander.headers,
                         json={"windows": county})
    assert r.status_code == 200 and r.json()["source"] == "jurisdiction"
    got = (await client.get(f"/v1/jurisdictions/{w.tree.station_a}/duty-windows", headers=w.commander.headers)).json()
    assert got["source"] == "jurisdiction" and got["source_jurisdiction_code"] == w.tree.code
    assert got["windows"][0]["starts_local"] == "07:10:00" and got["windows"][0]["weekdays"] == [1, 2, 3, 4, 5, 6]
    school = (await client.get(f"/v1/schools/{w.school['id']}/duty-windows", headers=w.officer.headers)).json()
    assert school["source"] == "jurisdiction" and school["windows"] == got["windows"]
    override = [{"name": "dismissal", "starts_local": "15:30", "ends_local": "17:00"}]
    r = await client.put(f"/v1/schools/{w.school['id']}/duty-windows", headers=w.commander.headers,
                         json={"windows": override})
    assert r.json()["source"] == "school" and [x["name"] for x in r.json()["windows"]] == ["dismissal"]
    # the override does not leak to the jurisdiction, and [] removes it again
    assert (await client.get(f"/v1/jurisdictions/{w.tree.station_a}/duty-windows",
                             headers=w.commander.headers)).json()["source"] == "jurisdiction"
    r = await client.put(f"/v1/schools/{w.school['id']}/duty-windows", headers=w.commander.headers,
                         json={"windows": []})
    assert r.json()["source"] == "jurisdiction"


async def test_bad_windows_are_refused(app, client):
    w = await make_world(app, client)
    url = f"/v1/jurisdictions/{w.tree.code}/duty-windows"
    for windows, field in [
        ([{"name": "a", "starts_local": "09:00", "ends_local": "08:00"}], "windows.0.ends_local"),
        ([{"name": "a", "starts_local": "07:00", "ends_local": "09:00"},
          {"name": "b", "starts_local": "08:00", "ends_local": "10:00"}], "windows.1.starts_local"),
        ([{"name": "a", "starts_local": "07:00", "ends_local": "08:00", "weekdays": [0]}], "windows.0.weekdays"),
        ([{"name": "a", "starts_local": "07:00", "ends_local": "08:00"},
          {"name": "a", "starts_local": "09:00", "ends_local": "10:00"}], "windows.1.name"),
    ]:
        r = await client.put(url, headers=w.commander.headers, json={"windows": windows})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
    r = await client.put(url, headers=w.officer.headers, json={"windows": []})
    assert r.status_code == 403


async def test_non_school_days_hold_below_and_can_be_removed(app, client):
    w = await make_world(app, client)
    r = await client.post(f"/v1/jurisdictions/{w.tree.code}/non-school-days", headers=w.commander.headers,
                          json={"day": "2026-10-01", "reason": "国庆节"})
    assert r.status_code == 201
    await client.post(f"/v1/jurisdictions/{w.tree.station_a}/non-school-days", headers=w.commander.headers,
                      json={"day": "2026-10-09", "reason": "校运会"})
    a = (await client.get(f"/v1/jurisdictions/{w.tree.station_a}/non-school-days", headers=w.officer.headers)).json()
    assert [(d["day"], d["own"]) for d in a["items"]] == [("2026-10-01", False), ("2026-10-09", True)]
    b = (await client.get(f"/v1/jurisdictions/{w.tree.station_b}/non-school-days", headers=w.commander.headers)).json()
    assert [d["day"] for d in b["items"]] == ["2026-10-01"]
    r = await client.delete(f"/v1/jurisdictions/{w.tree.code}/non-school-days/2026-10-01", headers=w.commander.headers)
    assert r.status_code == 204
    r = await client.delete(f"/v1/jurisdictions/{w.tree.code}/non-school-days/2026-10-01", headers=w.commander.headers)
    assert r.status_code == 404


async def test_windows_of_another_county_are_not_found(app, client):
    w = await make_world(app, client)
    other = await make_tree(app)
    stranger = await make_person(app, client, role="commander", jurisdiction_code=other.code)
    r = await client.get(f"/v1/jurisdictions/{w.tree.code}/duty-windows", headers=stranger.headers)
    assert r.status_code == 404
    r = await client.get(f"/v1/schools/{w.school['id']}/posts", headers=stranger.headers)
    assert r.status_code == 404


async def test_a_post_can_be_renamed_moved_resized_and_retired(app, client):
    from tests.test_duty_support import hour_ago, make_shift, make_world

    w = await make_world(app, client)
    url = f"/v1/posts/{w.post['id']}"
    r = await client.patch(url, headers=w.commander.headers, json={"name": "北门二岗", "radius_m": 80})
    assert r.status_code == 200 and (r.json()["name"], r.json()["radius_m"]) == ("北门二岗", 80)
    assert r.json()["location"] == w.post["location"]
    r = await client.patch(url, headers=w.commander.headers,
                           json={"location": {"type": "Point", "coordinates": [w.lon + 0.5, w.lat]}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "location"
    r = await client.patch(url, headers=w.commander.headers, json={"radius_m": 1})
    assert r.status_code == 422
    assert (await client.patch(url, headers=w.officer.headers, json={"name": "x"})).status_code == 403
    shift = await make_shift(client, w, hour_ago(-2), hour_ago(-3))
    r = await client.delete(url, headers=w.commander.headers)
    assert r.status_code == 409 and "1 shift" in r.json()["detail"]
    assert (await client.delete(f"/v1/shifts/{shift['id']}", headers=w.commander.headers)).status_code == 204
    assert (await client.delete(url, headers=w.commander.headers)).status_code == 204
    assert (await client.get(url, headers=w.commander.headers)).status_code == 404
    listed = await client.get(f"/v1/schools/{w.school['id']}/posts", headers=w.commander.headers)
    assert listed.json()["items"] == []
