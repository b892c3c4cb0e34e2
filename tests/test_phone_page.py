"""The officers' phone page over HTTP: `/m` leads to `/m/`, the page's security headers, its service worker (never
cached by the browser, naming every file it keeps, each of which answers), the manifest, and the static files."""

from __future__ import annotations

import json
import re

from api import phone


async def test_m_leads_to_the_page_with_a_strict_policy(client):
    r = await client.get("/m")
    assert r.status_code == 307 and r.headers["location"] == "/m/"
    r = await client.get("/m/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    for part in ("default-src 'self'", "script-src 'self'", "connect-src 'self'", "worker-src 'self'",
                 "frame-ancestors 'none'", "object-src 'none'"):
        assert part in csp, csp
    assert r.headers["referrer-policy"] == "no-referrer" and r.headers["cache-control"] == "no-cache"
    config = json.loads(re.search(r'<script id="phone-config" type="application/json">(.*?)</script>', r.text).group(1))
    assert config["version"] == phone.ASSETS_VERSION and config["alarm_radius_m"] == phone.ALARM_RADIUS_M
    assert f"app.js?v={phone.ASSETS_VERSION}" in r.text
    # The page has no inline script that could run: only the JSON config block.
    assert re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", r.text) == []


async def test_the_service_worker_keeps_every_file_the_page_needs(client):
    r = await client.get("/m/sw.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cache-control"] == "no-cache"
    assert f"huxiao-m-{phone.ASSETS_VERSION}" in r.text
    kept = json.loads(re.search(r"const PRECACHE = (\[.*?\]);", r.text).group(1))
    assert "/m/" in kept and "/m/static/app.js" in kept and "/map/static/vendor/leaflet/leaflet.js" in kept
    for path in kept:  # one missing file would fail the worker's install, and the page would not work offline
        assert (await client.get(path)).status_code == 200, path
    imports = re.findall(r"from '([^']+)'", (await client.get("/m/static/app.js")).text)
    resolved = {p if p.startswith("/") else "/m/static/" + p.removeprefix("./") for p in imports}
    assert resolved <= set(kept), resolved - set(kept)


async def test_manifest_and_static_files(client):
    r = await client.get("/m/manifest.webmanifest")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/manifest+json")
    assert r.json()["scope"] == "/m/" and r.json()["start_url"] == "/m/"
    r = await client.get(f"/m/static/app.js?v={phone.ASSETS_VERSION}")
    assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
    assert r.headers["x-content-type-options"] == "nosniff"
    r = await client.get("/m/static/vendor/idb/index.js")
    assert r.status_code == 200 and "export { deleteDB, openDB, unwrap, wrap }" in r.text
    assert (await client.get("/m/static/nothing.js")).status_code == 404
