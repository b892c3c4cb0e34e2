"""A real OGC client reads /ogc: GDAL's OAPIF driver (`ogrinfo`, `ogr2ogr`, from Debian's gdal-bin) against a
real uvicorn server on the test database, with the API's own credentials passed as HTTP headers.

gdal-bin is installed (apt-get, as root) when `ogrinfo` is missing; when it cannot be installed the tests FAIL
saying so: they never pass silently without the client.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.test_ogc_support import OgcWorld, make_ogc_world

GDAL_INSTALL_TIMEOUT_S = 900
PUBLIC_LAYERS = {"schools", "school-zones", "posts", "incidents"}


def _install_gdal() -> str | None:
    """Why gdal-bin could not be installed, or None when `ogrinfo` is there now."""
    if shutil.which("ogrinfo") and shutil.which("ogr2ogr"):
        return None
    if shutil.which("apt-get") is None:
        return "ogrinfo is missing and there is no apt-get to install gdal-bin with"
    if os.geteuid() != 0:
        return "ogrinfo is missing and installing gdal-bin needs root (run: apt-get install -y gdal-bin)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log = []
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "gdal-bin"]):
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=GDAL_INSTALL_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(cmd)} failed: {exc}"
        log.append(done.stdout[-1500:] + done.stderr[-1500:])
        if done.returncode != 0:
            return f"{' '.join(cmd)} exited {done.returncode}:\n{log[-1]}"
    if shutil.which("ogrinfo") is None:
        return "gdal-bin was installed but ogrinfo is still not on PATH"
    return None


@pytest.fixture(scope="session")
def gdal() -> None:
    problem = _install_gdal()
    if problem:
        pytest.fail(f"GDAL (the OGC client these tests drive) is not available: {problem}", pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
async def server(database_url, settings, tmp_path_factory):
    """`uvicorn api.main:app` on a free port, on the test database (waited for without blocking the event loop
    the test's own app runs on)."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "HUXIAO_LOG_LEVEL": "WARNING",
           "HUXIAO_JWT_SECRET": settings.resolved_jwt_secret()}
    log_path = tmp_path_factory.mktemp("ogc-server") / "stderr.log"
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("uvicorn")), "api.main:app", "--host", "127.0.0.1", "--port",
            str(port), "--no-access-log", env=env, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(timeout=2) as probe:
            while True:
                try:
                    if (await probe.get(base + "/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.returncode is not None:
                    raise RuntimeError("server did not start: " + log_path.read_text()[-2000:])
                await asyncio.sleep(0.3)
        yield base
    finally:
        if proc.returncode is None:
            proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)


@pytest.fixture(scope="module")
async def world(app) -> OgcWorld:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await make_ogc_world(app, client, incidents=23, checkins=4)


def _gdal_version() -> tuple[int, int]:
    out = subprocess.run(["ogrinfo", "--version"], capture_output=True, text=True, timeout=30).stdout
    m = re.search(r"GDAL (\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


async def _ogr(tool: str, *args: str, header: str, tmp_path: Path, via: str = "file") -> subprocess.CompletedProcess:
    """Run an ogr tool with one HTTP header on every request, in a thread (the test's own app shares this event
    loop and keeps serving meanwhile). `via="file"`: GDAL_HTTP_HEADER_FILE (every GDAL since 2.3);
    `via="config"`: GDAL_HTTP_HEADERS (GDAL ≥ 3.6; the file on older ones)."""
    if via == "config" and _gdal_version() >= (3, 6):
        headers = ["--config", "GDAL_HTTP_HEADERS", header]
    else:
        header_file = tmp_path / f"headers-{uuid.uuid4().hex}.txt"
        header_file.write_text(header + "\n")
        header_file.chmod(0o600)
        headers = ["--config", "GDAL_HTTP_HEADER_FILE", str(header_file)]
    cmd = [tool, *headers, "--config", "GDAL_HTTP_TIMEOUT", "30", *args]
    return await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=300)


def _layers(summary: str) -> dict[str, int]:
    """`Layer name: x` … `Feature Count: n` pairs of an `ogrinfo -so -al` summary."""
    out: dict[str, int] = {}
    name = None
    for line in summary.splitlines():
        m = re.match(r"Layer name: (.+)$", line.strip())
        if m:
            name = m.group(1)
        m = re.match(r"Feature Count: (-?\d+)$", line.strip())
        if m and name:
            out[name] = int(m.group(1))
    return out


async def _db_counts(db, w: OgcWorld) -> dict[str, int]:
    codes = [w.tree.code, w.tree.station_a, w.tree.station_b]
    schools = await db.fetchval("SELECT count(*) FROM schools WHERE jurisdiction_code = ANY(:c) "
                                "AND deleted_at IS NULL", {"c": codes})
    return {
        "schools": schools, "school-zones": schools,
        "posts": await db.fetchval("SELECT count(*) FROM posts WHERE jurisdiction_code = ANY(:c) "
                                   "AND deleted_at IS NULL", {"c": codes}),
        "incidents": await db.fetchval("SELECT count(*) FROM incidents WHERE jurisdiction_code = ANY(:c)",
                                       {"c": codes}),
        "checkins": await db.fetchval("SELECT count(*) FROM checkins WHERE jurisdiction_code = ANY(:c)",
                                      {"c": codes}),
    }


async def test_ogrinfo_reads_every_collection_a_viewer_key_may_see(gdal, server, world, db, tmp_path):
    done = await _ogr("ogrinfo", "-ro", "-al", "-so", f"OAPIF:{server}/ogc", header=f"X-API-Key: {world.viewer_key}",
                tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    layers = _layers(done.stdout)
    assert set(layers) == PUBLIC_LAYERS, done.stdout  # no check-ins for a viewer key
    expected = await _db_counts(db, world)
    assert {k: layers[k] for k in PUBLIC_LAYERS} == {k: expected[k] for k in PUBLIC_LAYERS}
    assert expected["incidents"] == 23 and expected["schools"] == 4
    # the check-ins layer cannot be opened by name either
    denied = await _ogr("ogrinfo", "-ro", "-so", f"OAPIF:{server}/ogc", "checkins",
                  header=f"X-API-Key: {world.viewer_key}", tmp_path=tmp_path)
    assert denied.returncode != 0 or "Feature Count" not in denied.stdout


async def test_ogrinfo_reads_checkins_with_a_commanders_bearer_token(gdal, server, world, db, tmp_path):
    done = await _ogr("ogrinfo", "-ro", "-al", "-so", f"OAPIF:{server}/ogc",
                      header=f"Authorization: Bearer {world.commander.token}", tmp_path=tmp_path, via="config")
    assert done.returncode == 0, done.stderr + done.stdout
    layers = _layers(done.stdout)
    expected = await _db_counts(db, world)
    assert layers == expected and expected["checkins"] == 4


async def test_ogr2ogr_dumps_incidents_with_the_stored_geometry(gdal, server, world, db, tmp_path):
    out = tmp_path / "incidents.geojson"
    done = await _ogr("ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{server}/ogc", "incidents",
                "-oo", "PAGE_SIZE=5", header=f"X-API-Key: {world.viewer_key}", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    dumped = json.loads(out.read_text())
    assert len(dumped["features"]) == 23  # five pages of five, followed by next links
    by_id = {f["properties"]["id"]: f for f in dumped["features"]}
    assert set(by_id) == {i["id"] for i in world.incidents}
    one = world.incidents[7]
    row = await db.fetchrow("SELECT ST_X(CAST(location AS geometry)) x, ST_Y(CAST(location AS geometry)) y, "
                            "category FROM incidents WHERE id = :id", {"id": uuid.UUID(one["id"])})
    lon, lat = by_id[one["id"]]["geometry"]["coordinates"]
    assert lon == pytest.approx(row["x"], abs=1e-7) and lat == pytest.approx(row["y"], abs=1e-7)
    assert by_id[one["id"]]["properties"]["category"] == row["category"]


async def test_ogr2ogr_dumps_zones_as_polygons_matching_postgis(gdal, server, world, db, tmp_path):
    out = tmp_path / "zones.geojson"
    done = await _ogr("ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{server}/ogc", "school-zones",
                header=f"X-API-Key: {world.viewer_key}", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    dumped = json.loads(out.read_text())
    assert len(dumped["features"]) == 4
    zone = next(f for f in dumped["features"] if f["properties"]["school_id"] == world.schools[0]["id"])
    assert zone["geometry"]["type"] == "Polygon"
    # the polygon GDAL read is the zone PostGIS draws: same area within 0.1 %, and it holds the campus
    row = await db.fetchrow("""
        SELECT ST_Area(ST_Buffer(s.boundary, s.zone_radius_m, 'quad_segs=16')) AS stored,
               ST_Area(CAST(ST_GeomFromGeoJSON(:g) AS geography)) AS read,
               ST_Covers(ST_GeomFromGeoJSON(:g), CAST(s.boundary AS geometry)) AS covers
        FROM schools s WHERE s.id = :id
    """, {"id": uuid.UUID(world.schools[0]["id"]), "g": json.dumps(zone["geometry"])})
    assert row["read"] == pytest.approx(row["stored"], rel=1e-3) and row["covers"]


async def test_ogrinfo_spatial_filter_counts_what_postgis_counts(gdal, server, world, db, tmp_path):
    from tests.factories import offset

    x0, y0 = offset(world.lon, world.lat, east_m=-100, north_m=-100)
    x1, y1 = offset(world.lon, world.lat, east_m=1000, north_m=500)
    done = await _ogr("ogrinfo", "-ro", "-so", "-spat", str(x0), str(y0), str(x1), str(y1), f"OAPIF:{server}/ogc",
                      "incidents", header=f"X-API-Key: {world.viewer_key}", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    expected = await db.fetchval("""
        SELECT count(*) FROM incidents WHERE jurisdiction_code = ANY(:c)
          AND ST_Intersects(CAST(location AS geometry), ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326))
    """, {"c": [world.tree.code, world.tree.station_a, world.tree.station_b], "x0": x0, "y0": y0, "x1": x1, "y1": y1})
    assert 0 < expected < 23
    assert _layers(done.stdout) == {"incidents": expected}
