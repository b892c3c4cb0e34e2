"""OGC API – Features under /ogc: landing page, conformance, collections per role, items (paging, bbox,
datetime, property filters), one item, foreign ids, bad parameters, HTML."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.factories import make_person, offset
from tests.test_ogc_support import check_in, make_ogc_world, report

GEOJSON = "application/geo+json"
CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
ALL_COLLECTIONS = ["schools", "school-zones", "posts", "incidents", "checkins"]
PUBLIC_COLLECTIONS = ["schools", "school-zones", "posts", "incidents"]


def link(body: dict, rel: str, media_type: str | None = None) -> str | None:
    for lk in body["links"]:
        if lk["rel"] == rel and (media_type is None or lk["type"] == media_type):
            return lk["href"]
    return None


def local(href: str) -> str:
    """An absolute link of the test server as a path with its query, for the ASGI client."""
    parts = urlsplit(href)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def follow_all(client, path: str, headers: dict, *, max_pages: int = 100) -> list[dict]:
    out: list[dict] = []
    url: str | None = path
    for _ in range(max_pages):
        r = await client.get(url, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["numberReturned"] == len(body["features"])
        out.extend(body["features"])
        nxt = link(body, "next")
        if nxt is None:
            return out
        url = local(nxt)
    raise AssertionError("paging did not end")


def assert_problem(r, status: int, field: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status
    assert any(e["field"] == field for e in body.get("errors", [])), body


# --- landing page and conformance ----------------------------------------------------------------------------

async def test_landing_page_links_conformance_collections_and_the_api_definition(client):
    r = await client.get("/ogc")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    rels = {lk["rel"] for lk in body["links"]}
    assert {"self", "alternate", "service-desc", "conformance", "data"} <= rels
    assert link(body, "data").endswith("/ogc/collections")
    assert link(body, "service-desc").endswith("/openapi.json")


async def test_conformance_claims_core_geojson_html_and_not_oas30(client):
    r = await client.get("/ogc/conformance")
    assert r.status_code == 200
    classes = r.json()["conformsTo"]
    assert CORE in classes
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in classes
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html" in classes
    assert not any(c.endswith("/conf/oas30") for c in classes)


async def test_a_browser_gets_html_and_f_overrides_the_accept_header(client):
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    r = await client.get("/ogc", headers=browser)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "<h1>" in r.text and "/ogc/collections" in r.text
    r = await client.get("/ogc?f=json", headers=browser)
    assert r.headers["content-type"].startswith("application/json")
    r = await client.get("/ogc/conformance?f=html")
    assert r.headers["content-type"].startswith("text/html") and CORE in r.text
    assert_problem(await client.get("/ogc?f=xml"), 400, "f")


# --- collections and credentials --------------------------------------------------------------------------

async def test_collections_need_credentials(client):
    r = await client.get("/ogc/collections")
    assert r.status_code == 401
    r = await client.get("/ogc/collections/schools/items")
    assert r.status_code == 401
    r = await client.get("/ogc/collections/schools/items", headers={"X-API-Key": "hx_not_a_key"})
    assert r.status_code == 401


async def test_checkins_are_listed_for_commanders_and_admins_only(app, client):
    w = await make_ogc_world(app, client, incidents=1, checkins=1)
    for headers, expected in ((w.viewer, PUBLIC_COLLECTIONS), (w.officer.headers, PUBLIC_COLLECTIONS),
                              (w.commander.headers, ALL_COLLECTIONS), (w.commander_by_key, ALL_COLLECTIONS),
                              (w.admin.headers, ALL_COLLECTIONS)):
        r = await client.get("/ogc/collections", headers=headers)
        assert r.status_code == 200, r.text
        assert [c["id"] for c in r.json()["collections"]] == expected
    for headers in (w.viewer, w.officer.headers):
        assert (await client.get("/ogc/collections/checkins", headers=headers)).status_code == 404
        assert (await client.get("/ogc/collections/checkins/items", headers=headers)).status_code == 404
        cid = w.checkins[0]["id"]
        assert (await client.get(f"/ogc/collections/checkins/items/{cid}", headers=headers)).status_code == 404
    r = await client.get("/ogc/collections/checkins/items", headers=w.commander_by_key)
    assert r.status_code == 200
    assert [f["id"] for f in r.json()["features"]] == [w.checkins[0]["id"]]


async def test_collection_extent_comes_from_the_callers_data(app, client, db):
    w = await make_ogc_world(app, client, incidents=3, checkins=0)
    r = await client.get("/ogc/collections/incidents", headers=w.viewer)
    assert r.status_code == 200
    body = r.json()
    assert body["itemType"] == "feature" and body["crs"] == ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"]
    row = await db.fetchrow("""
        SELECT ST_XMin(e) x0, ST_YMin(e) y0, ST_XMax(e) x1, ST_YMax(e) y1, t0, t1 FROM (
            SELECT ST_Extent(CAST(location AS geometry)) e, min(alarm_at) t0, max(alarm_at) t1
            FROM incidents WHERE jurisdiction_code IN (:a, :b, :c)) s
    """, {"a": w.tree.code, "b": w.tree.station_a, "c": w.tree.station_b})
    assert body["extent"]["spatial"]["bbox"][0] == pytest.approx([row["x0"], row["y0"], row["x1"], row["y1"]],
                                                                 abs=1e-6)
    start, end = body["extent"]["temporal"]["interval"][0]
    assert datetime.fromisoformat(start) == row["t0"] and datetime.fromisoformat(end) == row["t1"]
    zones = (await client.get("/ogc/collections/school-zones", headers=w.viewer)).json()
    zx0, zy0, zx1, zy1 = zones["extent"]["spatial"]["bbox"][0]
    sx0, sy0, sx1, sy1 = (await client.get("/ogc/collections/schools", headers=w.viewer)).json()[
        "extent"]["spatial"]["bbox"][0]
    assert zx0 < sx0 and zy0 < sy0 and zx1 > sx1 and zy1 > sy1  # zones reach beyond the gates
    assert "temporal" not in zones["extent"]
    assert (await client.get("/ogc/collections/nothing", headers=w.viewer)).status_code == 404


# --- items --------------------------------------------------------------------------------------------------

async def test_items_are_geojson_with_the_callers_rows_only(app, client, db):
    w = await make_ogc_world(app, client, incidents=4, checkins=0)
    r = await client.get("/ogc/collections/incidents/items", headers=w.viewer)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == GEOJSON
    body = r.json()
    assert body["type"] == "FeatureCollection"
    assert body["numberReturned"] == 4 and body["numberMatched"] == 4  # one page holds them all
    assert sorted(f["id"] for f in body["features"]) == sorted(i["id"] for i in w.incidents)
    assert w.foreign_incident["id"] not in {f["id"] for f in body["features"]}
    one = next(f for f in body["features"] if f["id"] == w.incidents[0]["id"])
    assert one["geometry"] == {"type": "Point", "coordinates": w.incidents[0]["location"]["coordinates"]}
    assert one["properties"]["category"] == w.incidents[0]["category"]
    assert datetime.fromisoformat(one["properties"]["alarm_at"]) == datetime.fromisoformat(w.incidents[0]["alarm_at"])
    assert link(body, "self", GEOJSON) and link(body, "alternate", "text/html")
    assert link(body, "next") is None and link(body, "prev") is None

    schools = (await client.get("/ogc/collections/schools/items", headers=w.viewer)).json()
    assert sorted(f["id"] for f in schools["features"]) == sorted(s["id"] for s in w.schools)
    posts = (await client.get("/ogc/collections/posts/items", headers=w.viewer)).json()
    assert sorted(f["id"] for f in posts["features"]) == sorted(p["id"] for p in w.posts)


async def test_school_zone_is_the_200m_polygon_around_the_campus(app, client, db):
    w = await make_ogc_world(app, client, incidents=0, checkins=0)
    school = w.schools[0]
    r = await client.get(f"/ogc/collections/school-zones/items/{school['id']}", headers=w.viewer)
    assert r.status_code == 200, r.text
    zone = r.json()
    assert zone["geometry"]["type"] == "Polygon"
    assert zone["properties"]["measured_from"] == "campus" and zone["properties"]["zone_radius_m"] == 200
    # every vertex lies 200 m (±1 %) from the campus boundary, measured on the ellipsoid by PostGIS
    distances = await db.fetch("""
        SELECT ST_Distance(s.boundary, CAST(ST_SetSRID(ST_MakePoint(v.x, v.y), 4326) AS geography)) AS d
        FROM schools s, unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) AS v(x, y) WHERE s.id = :id
    """, {"id": uuid.UUID(school["id"]), "xs": [p[0] for p in zone["geometry"]["coordinates"][0]],
          "ys": [p[1] for p in zone["geometry"]["coordinates"][0]]})
    assert all(abs(r["d"] - 200) < 2 for r in distances), [r["d"] for r in distances]


async def test_paging_follows_next_and_prev_and_stays_stable_while_rows_are_added(app, client):
    w = await make_ogc_world(app, client, incidents=7, checkins=0)
    first = (await client.get("/ogc/collections/incidents/items?limit=3", headers=w.viewer)).json()
    assert first["numberReturned"] == 3 and "numberMatched" not in first
    assert link(first, "prev") is None
    seen = [f["id"] for f in first["features"]]
    # New incidents arrive while the client pages.
    for i in range(4):
        x, y = offset(w.lon, w.lat, north_m=150, east_m=50 * i)
        await report(client, w.commander, lon=x, lat=y, alarm_at=datetime.now(UTC) - timedelta(minutes=5))
    url = local(link(first, "next"))
    assert parse_qs(urlsplit(url).query)["limit"] == ["3"]
    pages = [first]
    while url:
        page = (await client.get(url, headers=w.viewer)).json()
        pages.append(page)
        seen += [f["id"] for f in page["features"]]
        url = local(link(page, "next")) if link(page, "next") else None
    assert len(seen) == len(set(seen))  # nothing twice
    assert {i["id"] for i in w.incidents} <= set(seen)  # nothing that was there at the start is missed
    # prev from the second page ends where the first page ended (new rows may have joined before it)
    back = (await client.get(local(link(pages[1], "prev")), headers=w.viewer)).json()
    assert back["numberReturned"] == 3 and back["features"][-1]["id"] == first["features"][-1]["id"]
    assert local(link(back, "next")) == local(link(first, "next"))
    again = (await client.get(local(link(back, "next")), headers=w.viewer)).json()
    assert again["features"] == pages[1]["features"]
    # prev from the last page, then next again, round-trips
    last = pages[-1]
    before = (await client.get(local(link(last, "prev")), headers=w.viewer)).json()
    again = (await client.get(local(link(before, "next")), headers=w.viewer)).json()
    assert [f["id"] for f in again["features"]] == [f["id"] for f in last["features"]]


async def test_checkin_paging_is_by_recorded_time(app, client):
    w = await make_ogc_world(app, client, incidents=0, checkins=5)
    got = await follow_all(client, "/ogc/collections/checkins/items?limit=2", w.commander.headers)
    assert [f["id"] for f in got] == [c["id"] for c in w.checkins]  # recorded 1 minute apart, in order
    assert [f["properties"]["kind"] for f in got] == [c["kind"] for c in w.checkins]


async def test_bbox_keeps_features_that_meet_the_box(app, client):
    w = await make_ogc_world(app, client, incidents=7, checkins=0)
    # incidents lie 0–2400 m east of the school; keep those within ~1 km east
    x1, _ = offset(w.lon, w.lat, east_m=1000)
    x0, y0 = offset(w.lon, w.lat, east_m=-100, north_m=-100)
    _, y1 = offset(w.lon, w.lat, north_m=500)
    r = await client.get(f"/ogc/collections/incidents/items?bbox={x0},{y0},{x1},{y1}", headers=w.viewer)
    assert r.status_code == 200, r.text
    got = {f["id"] for f in r.json()["features"]}
    expected = {i["id"] for i in w.incidents if x0 <= i["location"]["coordinates"][0] <= x1}
    assert got == expected and 0 < len(got) < len(w.incidents)
    # a continental box (no index narrowing) keeps them all, a world box too
    for box in ("70,10,140,55", "-180,-90,180,90"):
        r = await client.get(f"/ogc/collections/incidents/items?bbox={box}", headers=w.viewer)
        assert {f["id"] for f in r.json()["features"]} == {i["id"] for i in w.incidents}, box
    # zones: a box just outside the campus but inside its 200 m zone finds the zone, not the school point
    zx0, zy0 = offset(w.lon, w.lat, north_m=100)
    zx1, zy1 = offset(w.lon, w.lat, north_m=150, east_m=10)
    zones = (await client.get(f"/ogc/collections/school-zones/items?bbox={zx0},{zy0},{zx1},{zy1}",
                              headers=w.viewer)).json()
    assert [f["id"] for f in zones["features"]] == [w.schools[0]["id"]]
    schools = (await client.get(f"/ogc/collections/schools/items?bbox={zx0},{zy0},{zx1},{zy1}",
                                headers=w.viewer)).json()
    assert schools["features"] == []


async def test_datetime_filters_alarm_time_as_instant_or_interval(app, client):
    w = await make_ogc_world(app, client, incidents=5, checkins=0)
    alarms = sorted(datetime.fromisoformat(i["alarm_at"]) for i in w.incidents)
    iso = [a.isoformat().replace("+00:00", "Z") for a in alarms]

    async def ids(query: str) -> set[str]:
        r = await client.get(f"/ogc/collections/incidents/items?{query}", headers=w.viewer)
        assert r.status_code == 200, r.text
        return {f["id"] for f in r.json()["features"]}

    by_time = {datetime.fromisoformat(i["alarm_at"]): i["id"] for i in w.incidents}
    assert await ids(f"datetime={iso[2]}") == {by_time[alarms[2]]}
    assert await ids(f"datetime={iso[1]}/{iso[3]}") == {by_time[a] for a in alarms[1:4]}  # closed interval
    assert await ids(f"datetime=../{iso[1]}") == {by_time[a] for a in alarms[:2]}
    assert await ids(f"datetime={iso[3]}/..") == {by_time[a] for a in alarms[3:]}
    assert await ids(f"datetime={iso[3]}/") == {by_time[a] for a in alarms[3:]}
    # collections without a time ignore it
    r = await client.get(f"/ogc/collections/schools/items?datetime={iso[0]}", headers=w.viewer)
    assert len(r.json()["features"]) == len(w.schools)


async def test_checkins_datetime_is_on_recorded_at(app, client):
    w = await make_ogc_world(app, client, incidents=0, checkins=3)
    at = w.checkins[1]["recorded_at"].replace("+00:00", "Z")
    r = await client.get(f"/ogc/collections/checkins/items?datetime={at}", headers=w.commander.headers)
    assert [f["id"] for f in r.json()["features"]] == [w.checkins[1]["id"]]


async def test_property_filters(app, client):
    w = await make_ogc_world(app, client, incidents=5, checkins=3)

    async def ids(collection: str, query: str, headers=None) -> set[str]:
        r = await client.get(f"/ogc/collections/{collection}/items?{query}", headers=headers or w.viewer)
        assert r.status_code == 200, r.text
        return {f["id"] for f in r.json()["features"]}

    assert await ids("incidents", "category=bullying") == {i["id"] for i in w.incidents if i["category"] == "bullying"}
    assert await ids("incidents", "severity=1") == {i["id"] for i in w.incidents if i["severity"] == 1}
    assert await ids("incidents", "status=open") == {i["id"] for i in w.incidents}
    assert await ids("incidents", "status=closed") == set()
    assert await ids("incidents", "in_zone=true") == {i["id"] for i in w.incidents if i["in_zone"]}
    assert await ids("schools", "kind=middle") == {s["id"] for s in w.schools if s["kind"] == "middle"}
    assert await ids("schools", f"jurisdiction_code={w.tree.station_b}") == {w.schools[3]["id"]}
    assert await ids("school-zones", f"jurisdiction_code={w.tree.station_a}") == {s["id"] for s in w.schools[:3]}
    assert await ids("posts", f"school_id={w.schools[0]['id']}") == {p["id"] for p in w.posts}
    assert await ids("checkins", "kind=depart", w.commander.headers) == {
        c["id"] for c in w.checkins if c["kind"] == "depart"}
    assert await ids("incidents", "unknown_param=1&another=x") == {i["id"] for i in w.incidents}  # ignored


@pytest.fixture(scope="module")
async def quiet_world(app):
    """One world for the tests that only read (bad parameters)."""
    import httpx

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        return await make_ogc_world(app, c, incidents=1, checkins=0)


@pytest.mark.parametrize(("query", "field"), [
    ("bbox=1,2,3", "bbox"), ("bbox=a,b,c,d", "bbox"), ("bbox=100,20,200,30", "bbox"), ("bbox=100,40,110,30", "bbox"),
    ("bbox=110,20,100,30", "bbox"), ("bbox=100,-95,110,30", "bbox"), ("bbox=nan,1,2,3", "bbox"),
    ("datetime=yesterday", "datetime"), ("datetime=2024-05-01T00:00:00", "datetime"), ("datetime=../..", "datetime"),
    ("datetime=2024-06-01T00:00:00Z/2024-05-01T00:00:00Z", "datetime"), ("datetime=a/b/c", "datetime"),
    ("limit=0", "limit"), ("limit=10001", "limit"), ("limit=ten", "limit"),
    ("category=burglary", "category"), ("severity=5", "severity"), ("status=lost", "status"),
    ("in_zone=maybe", "in_zone"), ("school_id=12", "school_id"), ("jurisdiction_code=NOPE_NOT_MINE", "jurisdiction_code"),
    ("jurisdiction_code=a b", "jurisdiction_code"), ("cursor=garbage!!", "cursor"), ("f=pdf", "f"),
])
async def test_bad_parameters_are_400_problems_naming_the_parameter(client, quiet_world, query, field):
    w = quiet_world
    assert_problem(await client.get(f"/ogc/collections/incidents/items?{query}", headers=w.viewer), 400, field)


async def test_one_item_and_foreign_or_unknown_ids_are_404(app, client):
    w = await make_ogc_world(app, client, incidents=1, checkins=1)
    inc = w.incidents[0]
    r = await client.get(f"/ogc/collections/incidents/items/{inc['id']}", headers=w.viewer)
    assert r.status_code == 200 and r.headers["content-type"] == GEOJSON
    body = r.json()
    assert body["id"] == inc["id"] and body["geometry"]["coordinates"] == inc["location"]["coordinates"]
    assert link(body, "collection").endswith("/ogc/collections/incidents")
    r = await client.get(f"/ogc/collections/checkins/items/{w.checkins[0]['id']}", headers=w.commander.headers)
    assert r.status_code == 200 and r.json()["properties"]["officer_id"] == w.officer.id
    for path in (f"incidents/items/{w.foreign_incident['id']}", f"schools/items/{w.foreign_school['id']}",
                 f"school-zones/items/{w.foreign_school['id']}", f"incidents/items/{uuid.uuid4()}",
                 "incidents/items/not-a-uuid", f"schools/items/{inc['id']}"):
        r = await client.get(f"/ogc/collections/{path}", headers=w.viewer)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_a_station_officer_sees_only_the_station(app, client):
    w = await make_ogc_world(app, client, incidents=0, checkins=0)
    station_b = await make_person(app, client, role="viewer", jurisdiction_code=w.tree.station_b)
    r = await client.get("/ogc/collections/schools/items", headers=station_b.headers)
    assert [f["id"] for f in r.json()["features"]] == [w.schools[3]["id"]]


async def test_items_and_item_as_html(app, client):
    w = await make_ogc_world(app, client, incidents=3, checkins=1)
    browser = {**w.viewer, "Accept": "text/html"}
    r = await client.get("/ogc/collections/incidents/items?limit=2", headers=browser)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "next page" in r.text
    assert sum(i["id"] in r.text for i in w.incidents) == 2
    r = await client.get(f"/ogc/collections/incidents/items/{w.incidents[0]['id']}?f=html", headers=w.viewer)
    assert r.status_code == 200 and w.incidents[0]["category"] in r.text and "<table>" in r.text
    r = await client.get("/ogc/collections?f=html", headers=w.viewer)
    assert r.status_code == 200 and "School zones" in r.text and "Check-ins" not in r.text
    r = await client.get("/ogc/collections/incidents?f=html", headers=w.viewer)
    assert r.status_code == 200 and "alarm_at" in r.text


async def test_html_escapes_what_users_wrote(app, client):
    w = await make_ogc_world(app, client, incidents=0, checkins=0)
    r = await client.post("/v1/schools", headers=w.commander.headers, json={
        "name": "<script>alert(1)</script>", "kind": "primary", "jurisdiction_code": w.tree.station_a,
        "location": {"type": "Point", "coordinates": list(offset(w.lon, w.lat, east_m=-900))}})
    assert r.status_code == 201, r.text
    page = await client.get("/ogc/collections/schools/items?f=html", headers=w.viewer)
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text


async def test_checkins_written_after_the_first_page_come_later_in_time_order(app, client):
    w = await make_ogc_world(app, client, incidents=0, checkins=2)
    first = (await client.get("/ogc/collections/checkins/items?limit=1", headers=w.commander.headers)).json()
    x, y = offset(w.lon, w.lat, north_m=60)
    late = await check_in(client, w.officer, lon=x, lat=y, at=datetime.now(UTC).replace(microsecond=0))
    rest = await follow_all(client, local(link(first, "next")), w.commander.headers)
    assert [f["id"] for f in first["features"] + rest] == [c["id"] for c in w.checkins] + [late["id"]]
