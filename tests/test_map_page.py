"""The map page is served by the app: `/` leads to it, its files are all local (it works with no internet), with
cache headers that fit each, and the basemap settings reach the page."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import httpx
import pytest

from api import map as map_page
from api.main import create_app
from domain.settings import Settings

REFERENCE = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.I)
ES_IMPORT = re.compile(r"""^\s*(?:import|export)\b[^'"]*from\s*['"]([^'"]+)['"]""", re.M)


def _config(html: str) -> dict:
    found = re.search(r'<script id="map-config" type="application/json">(.*?)</script>', html, re.S)
    assert found, "the page carries its configuration"
    return json.loads(found.group(1))


async def test_root_leads_to_the_map_keeping_the_query(client):
    r = await client.get("/")
    assert r.status_code == 307 and r.headers["location"] == "/map"
    r = await client.get("/", params={"key": "hx_abcdefgh_secret"})
    assert r.status_code == 307 and r.headers["location"] == "/map?key=hx_abcdefgh_secret"
    assert r.headers["referrer-policy"] == "no-referrer"
    r = await client.get("/", follow_redirects=True)
    assert r.status_code == 200 and r.url.path == "/map"


async def test_the_page_uses_only_its_own_files(client):
    r = await client.get("/map")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    refs = REFERENCE.findall(html)
    assert any("leaflet.js" in u for u in refs) and any("uPlot" in u for u in refs) and any("map.js" in u for u in refs)
    # No script, style or image from another host: every reference is a path on this server (or inline data).
    for url in refs:
        parts = urlsplit(url)
        assert not parts.scheme or parts.scheme == "data", url
        assert not parts.netloc, url
    assert not re.search(r"""(?:src|href)\s*=\s*["']\s*(?:https?:)?//""", html, re.I)
    assert "__CONFIG__" not in html and "__VERSION__" not in html

    # Each referenced file is served, versioned URLs cached for good.
    for url in refs:
        if url.startswith("data:"):
            continue
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["cache-control"] == map_page.IMMUTABLE, url
        assert asset.headers["referrer-policy"] == "no-referrer"
        assert asset.headers.get("etag")
    # The ES modules the page imports resolve too (relative to the module that imports them).
    pending = ["/map/static/map.js"]
    seen = set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        r = await client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/javascript"), path
        for target in ES_IMPORT.findall(r.text):
            assert target.startswith("./") and target.endswith(".js"), (path, target)
            pending.append(path.rsplit("/", 1)[0] + "/" + target[2:])
    assert {"/map/static/gcj02.js", "/map/static/vendor/fetch-event-source/index.js",
            "/map/static/vendor/fetch-event-source/parse.js"} <= seen


async def test_page_and_file_headers(client):
    r = await client.get("/map")
    assert r.headers["cache-control"] == "no-cache"  # always the current asset versions
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "img-src 'self' data:;" in csp
    unversioned = await client.get("/map/static/map.css")
    assert unversioned.status_code == 200 and unversioned.headers["cache-control"] == map_page.REVALIDATE
    etag = unversioned.headers["etag"]
    again = await client.get("/map/static/map.css", headers={"If-None-Match": etag})
    assert again.status_code == 304
    for missing in ("/map/static/nope.js", "/map/static/../map.py", "/map/static/%2e%2e/map.py"):
        r = await client.get(missing)
        assert r.status_code == 404, missing
    for licence in ("leaflet", "uplot", "fetch-event-source"):
        assert (await client.get(f"/map/static/vendor/{licence}/LICENSE")).status_code == 200
    metrics = (await client.get("/metrics")).text
    assert 'route="/map/static/{path}",status="200"' in metrics and 'route="/map",status="200"' in metrics


async def test_plain_background_without_tiles(client):
    config = _config((await client.get("/map")).text)
    assert config["tile_url"] is None and config["tile_datum"] == "wgs84"
    assert config["version"] == map_page.ASSETS_VERSION


async def test_configured_tiles_and_datum_reach_the_page(database_url):
    settings = Settings(database_url=database_url,
                        map_tile_url="https://webrd0{s}.example.cn/appmaptile?x={x}&y={y}&z={z}&style=8",
                        map_tile_datum="gcj02", map_tile_attribution="© 高德地图 <script>", map_tile_subdomains="1234")
    app = create_app(settings)  # the page needs no database
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.get("/map")
    config = _config(r.text)
    assert config["tile_url"] == settings.map_tile_url and config["tile_datum"] == "gcj02"
    assert config["tile_subdomains"] == "1234" and config["tile_attribution"] == "© 高德地图 <script>"
    assert "\\u003cscript>" in r.text, "no markup breaks out of the configuration"
    assert "img-src 'self' data: https:;" in r.headers["content-security-policy"]


def test_a_tile_setting_without_placeholders_is_refused():
    with pytest.raises(ValueError, match="HUXIAO_MAP_TILE_URL"):
        Settings(map_tile_url="https://tiles.example.cn/tile.png")
    with pytest.raises(ValueError):
        Settings(map_tile_url="https://t.example/{z}/{x}/{y}.png", map_tile_datum="bd09")
    assert Settings(map_tile_url="  ").map_tile_url is None


def test_vendor_readme_names_each_version():
    readme = (map_page.STATIC_DIR / "vendor" / "README.md").read_text()
    script = (map_page.STATIC_DIR / "vendor" / "update.sh").read_text()
    for name, var in (("leaflet", "LEAFLET"), ("uplot", "UPLOT"), ("@microsoft/fetch-event-source", "FES")):
        version = re.search(rf"^{var}=(\S+)", script, re.M).group(1)
        assert re.search(rf"`{re.escape(name)}` \| {re.escape(version)} \|", readme), (name, version)
    leaflet = re.search(r"^LEAFLET=(\S+)", script, re.M).group(1)
    assert f"Leaflet {leaflet}" in (map_page.STATIC_DIR / "vendor" / "leaflet" / "leaflet.js").read_text()[:200]
