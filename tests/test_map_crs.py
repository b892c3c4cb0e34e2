"""The page's WGS-84 → GCJ-02 shift (api/static/map/gcj02.js) agrees with geo/crs.py to well under 1 cm on
random points in China, and is the identity outside China. Runs the module with node, or, where node is missing,
in the headless browser of the map tests."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

from pyproj import Geod

from api.map import STATIC_DIR
from geo.crs import from_wgs84

TOLERANCE_M = 0.01
GEOD = Geod(ellps="WGS84")


def _points(n: int = 5000, seed: int = 20261203) -> list[tuple[float, float]]:
    rnd = random.Random(seed)
    inside = [(rnd.uniform(73.5, 135.0), rnd.uniform(18.0, 53.5)) for _ in range(n)]
    edges = [(72.004, 30.0), (137.8347, 40.0), (100.0, 0.8293), (120.0, 55.8271)]  # on the rectangle: shifted
    outside = [(139.7, 35.7), (-0.1, 51.5), (72.0, 30.0), (100.0, 0.8), (151.2, -33.9)]
    return inside + edges + outside


def _run_with_node(points: list[tuple[float, float]], tmp_path: Path) -> list[list[float]]:
    module = tmp_path / "gcj02.mjs"  # .mjs: node reads it as an ES module, as the browser does
    module.write_text((STATIC_DIR / "gcj02.js").read_text())
    (tmp_path / "points.json").write_text(json.dumps(points))
    script = ("import { wgs84ToGcj02 } from './gcj02.mjs'; import { readFileSync } from 'node:fs';"
              "const pts = JSON.parse(readFileSync('./points.json', 'utf8'));"
              "process.stdout.write(JSON.stringify(pts.map(([x, y]) => wgs84ToGcj02(x, y))));")
    (tmp_path / "run.mjs").write_text(script)
    out = subprocess.run([shutil.which("node"), "run.mjs"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         check=True)
    return json.loads(out.stdout)


async def _run_in_browser(points: list[tuple[float, float]], tmp_path: Path) -> list[list[float]]:
    from playwright.async_api import async_playwright

    from tests.test_map_browser import chromium_path

    (tmp_path / "gcj02.js").write_text((STATIC_DIR / "gcj02.js").read_text())
    (tmp_path / "index.html").write_text("<!doctype html><script type=module>"
                                         "import * as m from './gcj02.js'; window.gcj02 = m;</script>")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            # file:// blocks module scripts; serve the two files from memory instead.
            async def serve(route):
                name = route.request.url.rsplit("/", 1)[-1] or "index.html"
                kind = "text/html" if name.endswith(".html") else "text/javascript"
                await route.fulfill(body=(tmp_path / name).read_text(), content_type=kind)

            await page.route("http://crs.test/**", serve)
            await page.goto("http://crs.test/index.html")
            await page.wait_for_function("() => window.gcj02 !== undefined")
            return await page.evaluate("(pts) => pts.map(([x, y]) => window.gcj02.wgs84ToGcj02(x, y))", points)
        finally:
            await browser.close()


async def test_page_shift_matches_geo_crs_on_random_points_in_china(tmp_path):
    points = _points()
    if shutil.which("node"):
        shifted = _run_with_node(points, tmp_path)
    else:
        shifted = await _run_in_browser(points, tmp_path)
    assert len(shifted) == len(points)
    worst = 0.0
    moved = 0
    for (lon, lat), (js_lon, js_lat) in zip(points, shifted, strict=True):
        py_lon, py_lat = from_wgs84(lon, lat, "gcj02")
        _, _, gap_m = GEOD.inv(py_lon, py_lat, js_lon, js_lat)
        worst = max(worst, gap_m)
        if (py_lon, py_lat) != (lon, lat):
            moved += 1
            _, _, shift_m = GEOD.inv(lon, lat, js_lon, js_lat)
            assert 1.0 < shift_m < 1500.0, (lon, lat, shift_m)  # GCJ-02 moves points by tens to hundreds of metres
        else:
            assert (js_lon, js_lat) == (lon, lat), "outside China the shift is the identity"
    assert moved == len(points) - 5
    assert worst <= TOLERANCE_M, f"largest difference {worst:.6f} m"


async def test_page_shift_in_the_browser_matches_too(tmp_path):
    """The same module in Chromium's JavaScript engine (the one that draws the map)."""
    points = _points(300, seed=7)
    shifted = await _run_in_browser(points, tmp_path)
    for (lon, lat), (js_lon, js_lat) in zip(points, shifted, strict=True):
        py_lon, py_lat = from_wgs84(lon, lat, "gcj02")
        assert GEOD.inv(py_lon, py_lat, js_lon, js_lat)[2] <= TOLERANCE_M
