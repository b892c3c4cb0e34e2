"""The map page in a real browser: Debian's chromium, driven by Playwright, against a real server and database.

A commander logs in with username and password; the zones, posts (with who is at them), today's incidents by
their 1/3/5 state and the responders' positions are drawn and counted in the page; an incident reported during
the test appears without a reload (from /v1/stream); a share link shows the same map read-only, without officers'
positions; with a GCJ-02 basemap every feature is shifted as geo/crs.py shifts it; and the console stays clean.

Chromium and the CJK fonts come from Debian (`apt-get install chromium fonts-noto-cjk`, done here when missing
and allowed); Playwright never downloads a browser. No browser is a failure, never a skip.
"""

from __future__ import annotations

import base64
import functools
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import uvicorn
from pyproj import Geod

from api.main import create_app
from domain.settings import Settings
from geo.crs import from_wgs84
from tests.factories import PASSWORD, make_person, make_school, make_tree, offset, rectangle
from tests.test_incidents_support import arrive, fresh_place

BROWSER_NAMES = ("chromium", "chromium-browser")
CJK_FONT_GLOBS = ("/usr/share/fonts/opentype/noto/NotoSansCJK*", "/usr/share/fonts/truetype/noto/NotoSansCJK*")
INSTALL = ("apt-get", "install", "-y", "--no-install-recommends", "chromium", "fonts-noto-cjk")
STEP_TIMEOUT_MS = 30_000
LIVE_TIMEOUT_MS = 20_000
# A 1×1 transparent PNG: the fake tile server's every tile.
BLANK_PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")
GEOD = Geod(ellps="WGS84")


def _browser() -> str | None:
    return next((p for p in map(shutil.which, BROWSER_NAMES) if p), None)


def _fonts() -> bool:
    return any(Path("/").glob(g.lstrip("/")) for g in CJK_FONT_GLOBS)


@functools.cache
def chromium_path() -> str:
    """The system chromium, installed from Debian (with the CJK fonts) when missing; fails clearly otherwise."""
    if _browser() and _fonts():
        return _browser()
    why = "chromium and fonts-noto-cjk are needed by the map page's browser tests"
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.fail(f"{why}; install them: sudo apt-get install chromium fonts-noto-cjk")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (("apt-get", "update"), INSTALL):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
        if done.returncode != 0 and command is INSTALL:
            pytest.fail(f"{why}; `{' '.join(INSTALL)}` failed:\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}")
    if not (_browser() and _fonts()):
        pytest.fail(f"{why}; they are still missing after `{' '.join(INSTALL)}`")
    return _browser()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The app served by uvicorn on 127.0.0.1 in a thread of its own (its own loop, listener and pool)."""

    def __init__(self, settings: Settings):
        self.port = _free_port()
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port, log_level="warning",
                                timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(settings):
    with Server(settings) as base:
        yield base


@pytest.fixture(scope="module")
def gcj_server(database_url):
    settings = Settings(database_url=database_url, db_pool_size=5, map_tile_url="https://tiles.test/{z}/{x}/{y}.png",
                        map_tile_datum="gcj02", map_tile_attribution="测试底图 (GCJ-02)")
    with Server(settings) as base:
        yield base


@pytest.fixture(scope="module")
async def browser():
    from playwright.async_api import async_playwright

    path = chromium_path()
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            await b.close()


class Page:
    """A browser page that remembers console errors, uncaught exceptions and the API paths it asked for."""

    def __init__(self, page):
        self.page = page
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url} {r.failure}")
                if not r.url.endswith("/v1/stream") else None)
        page.on("request", lambda r: self.requests.append(r.url))

    async def ready(self) -> dict:
        await self.page.wait_for_function("() => window.huxiaoMap && window.huxiaoMap.ready", timeout=STEP_TIMEOUT_MS)
        return await self.counts()

    async def counts(self) -> dict:
        return await self.page.evaluate("() => ({...window.huxiaoMap.counts})")


def _time_zone_away_from_midnight() -> str:
    """A jurisdiction time zone whose local clock is at least an hour from midnight now, so "today" holds every
    incident this test makes, whenever it runs."""
    now = datetime.now(UTC)
    for name in ("Asia/Shanghai", "Europe/Berlin", "America/New_York"):
        if 1 <= now.astimezone(ZoneInfo(name)).hour <= 22:
            return name
    raise AssertionError("unreachable: three zones this far apart cannot all be near midnight")


async def _county(app, client):
    """A county seen by its commander: three schools with campuses, a post with an officer at it, three incidents
    of today (1/3/5 met, missed, pending) and one from yesterday that today's map leaves out."""
    tree = await make_tree(app, time_zone=_time_zone_away_from_midnight())
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    guard = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a, unit_type="guard",
                              login=False)
    police = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a, login=False)
    lon, lat = fresh_place()
    schools = []
    for i, (east, north, code) in enumerate(((0, 0, tree.station_a), (700, 150, tree.station_a),
                                             (250, 900, tree.station_b))):
        x, y = offset(lon, lat, east_m=east, north_m=north)
        schools.append(await make_school(client, commander, jurisdiction_code=code, lon=x, lat=y, name=f"测试第{i + 1}小学",
                                         campus=rectangle(x, y, half_width_m=80, half_height_m=60)))
    gate = offset(lon, lat, north_m=60)
    r = await client.post(f"/v1/schools/{schools[0]['id']}/posts", headers=commander.headers, json={
        "name": "北门护学岗", "kind": "school_guard", "location": {"type": "Point", "coordinates": list(gate)}})
    assert r.status_code == 201, r.text
    post = r.json()
    now = datetime.now(UTC)
    r = await client.post("/v1/checkins", headers=officer.headers, json={
        "id": str(uuid.uuid4()), "kind": "arrive", "recorded_at": (now - timedelta(seconds=30)).isoformat(),
        "location": {"type": "Point", "coordinates": list(offset(*gate, east_m=5))}, "accuracy_m": 5,
        "post_id": post["id"]})
    assert r.status_code == 201, r.text

    async def report(alarm_at: datetime, north_m: float) -> dict:
        r = await client.post("/v1/incidents", headers=commander.headers, json={
            "category": "suspicious_person", "severity": 2, "source": "one_button_alarm", "description": "可疑人员",
            "location": {"type": "Point", "coordinates": list(offset(lon, lat, north_m=north_m))},
            "alarm_at": alarm_at.isoformat(), "jurisdiction_code": tree.station_a})
        assert r.status_code == 201, r.text
        return r.json()

    met = await report(now - timedelta(minutes=10), 120)
    await arrive(client, commander, met, police, 3, 50)  # police within 60 s: every tier met
    missed = await report(now - timedelta(minutes=10), -150)
    await arrive(client, commander, missed, guard, 1, 90)  # the guard too late, nobody else
    pending = await report(now + timedelta(seconds=90), 200)  # the clock has not started running out
    await report(now - timedelta(days=1, hours=1), 0)  # yesterday's
    return {"tree": tree, "commander": commander, "admin": admin, "schools": schools, "post": post,
            "report": report, "lon": lon, "lat": lat, "met": met, "missed": missed, "pending": pending}


async def test_commander_sees_the_county_live_and_a_share_link_sees_it_read_only(app, client, server, browser,
                                                                                tmp_path):
    world = await _county(app, client)
    context = await browser.new_context(viewport={"width": 1400, "height": 860}, locale="zh-CN")
    page = Page(await context.new_page())
    try:
        await page.page.goto(server + "/")  # the front page leads to the map
        assert page.page.url == server + "/map"
        await page.page.wait_for_selector("#login:not([hidden])", timeout=STEP_TIMEOUT_MS)
        await page.page.fill("#username", world["commander"].username)
        await page.page.fill("#password", PASSWORD)
        await page.page.click("#login button[type=submit]")
        counts = await page.ready()
        assert counts == {"schools": 3, "zones": 3, "posts": 1, "on_post": 1, "incidents": 3, "met": 1,
                          "pending": 1, "missed": 1, "responders": 1}, counts
        # Drawn, not only counted: SVG paths for 3 zones, 3 campuses, 3 school dots, post ring and dot,
        # 3 incidents, 1 responder.
        paths = await page.page.locator("#map path.leaflet-interactive").count()
        assert paths >= 3 + 3 + 3 + 2 + 3 + 1, paths
        states = sorted(await page.page.eval_on_selector_all("#map path[data-state]",
                                                             "els => els.map(e => e.dataset.state)"))
        assert states == ["met", "missed", "pending"]
        assert await page.page.text_content("#n-incidents") == "3"
        assert await page.page.get_attribute("body", "data-zones") == "3"
        # The token lives in memory only.
        assert await page.page.evaluate("() => localStorage.length + sessionStorage.length") == 0
        assert "testserver" not in "".join(page.requests)

        # Live: an incident reported now appears without a reload.
        await page.page.wait_for_function("() => window.huxiaoMap.live", timeout=LIVE_TIMEOUT_MS)
        await world["report"](datetime.now(UTC), 60)
        await page.page.wait_for_function("() => window.huxiaoMap.counts.incidents === 4", timeout=LIVE_TIMEOUT_MS)
        assert (await page.counts())["pending"] == 2
        assert "新警情" in await page.page.text_content("#feed")
        # Charts drew: 7 days of trend, the response-time table for the three tiers.
        assert await page.page.evaluate("() => window.huxiaoMap.trend[0].length") == 7
        assert await page.page.locator("#tier-table tbody tr").count() == 3
        assert await page.page.locator("#chart-response canvas, #chart-trend canvas").count() == 2

        shot = Path(os.environ.get("HUXIAO_MAP_SCREENSHOT", tmp_path / "map.png"))
        png = await page.page.screenshot(path=str(shot))
        assert len(png) > 20_000
        assert page.errors == []
    finally:
        await context.close()

    # A share link: the same county, read-only, no officers' positions, never asking for them.
    r = await client.post("/v1/share-links", headers=world["admin"].headers, json={
        "jurisdiction_code": world["tree"].code, "name": "大屏",
        "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()})
    assert r.status_code == 201, r.text
    path = r.json()["url"].split("://", 1)[1].split("/", 1)[1]
    context = await browser.new_context(viewport={"width": 1200, "height": 800})
    shared = Page(await context.new_page())
    try:
        response = await shared.page.goto(f"{server}/{path}")
        assert response.headers["referrer-policy"] == "no-referrer"
        counts = await shared.ready()
        assert counts["zones"] == 3 and counts["incidents"] == 4 and counts["posts"] == 1
        assert counts["responders"] == 0 and counts["on_post"] == 0
        assert await shared.page.evaluate("() => window.huxiaoMap.role") == "viewer"
        assert await shared.page.is_hidden("#login")
        asked = [u for u in shared.requests if "/v1/units" in u or "/v1/checkins" in u]
        assert asked == []
        # API requests carry the key in a header, not in their URLs.
        assert not [u for u in shared.requests if "/v1/" in u and "key=" in u]
        await shared.page.wait_for_function("() => window.huxiaoMap.live", timeout=LIVE_TIMEOUT_MS)
        assert shared.errors == []
    finally:
        await context.close()


async def test_on_a_gcj02_basemap_features_are_shifted_as_geo_crs_shifts_them(app, client, gcj_server, browser):
    world = await _county(app, client)
    context = await browser.new_context(viewport={"width": 1000, "height": 700})
    tiles = []

    async def tile(route):
        tiles.append(route.request.url)
        await route.fulfill(body=BLANK_PNG, content_type="image/png")

    await context.route("https://tiles.test/**", tile)
    page = Page(await context.new_page())
    try:
        await page.page.goto(gcj_server + "/map")
        await page.page.fill("#username", world["commander"].username)
        await page.page.fill("#password", PASSWORD)
        await page.page.click("#login button[type=submit]")
        counts = await page.ready()
        assert counts["schools"] == 3
        assert tiles, "the configured tile server was asked for tiles"
        drawn = await page.page.evaluate("""() => {
            const out = {};
            for (const [id, s] of window.huxiaoMap.drawn.schools) { const ll = s.marker.getLatLng(); out[id] = [ll.lng, ll.lat]; }
            return out; }""")
        for school in world["schools"]:
            lon, lat = school["location"]["coordinates"]
            want = from_wgs84(lon, lat, "gcj02")
            got = drawn[school["id"]]
            assert GEOD.inv(*want, *got)[2] <= 0.01, (want, got)
            assert GEOD.inv(lon, lat, *got)[2] > 100, "a GCJ-02 map is hundreds of metres off WGS-84 in China"
        assert "测试底图" in await page.page.text_content(".leaflet-control-attribution")
        assert page.errors == []
    finally:
        await context.close()


def test_missing_browser_is_a_clear_failure(monkeypatch):
    """Where chromium is absent and cannot be installed, the browser tests fail and say why; they never skip."""
    chromium_path.cache_clear()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="chromium and fonts-noto-cjk"):
        chromium_path()
    chromium_path.cache_clear()
