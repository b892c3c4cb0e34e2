"""The command line: user, key, jurisdiction and school import commands against the test database, and
the demo data loading once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cli.demo import seed_all
from domain.database import unit_of_work
from tests.factories import rectangle, unique_code

HUXIAO = str(Path(sys.executable).with_name("huxiao"))


def run(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([HUXIAO, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DATABASE_URL": database_url, **env})


def test_create_jurisdiction_user_and_api_key_from_the_command_line(database_url):
    code = unique_code("K")
    r = run(database_url, "create-jurisdiction", code, "CLI county", "--level", "county")
    assert r.returncode == 0, r.stderr + r.stdout
    r = run(database_url, "create-jurisdiction", code + "S", "CLI station", "--level", "station", "--parent", code)
    assert r.returncode == 0, r.stderr + r.stdout
    r = run(database_url, "create-user", f"cli.{code.lower()}", "--role", "officer", "--jurisdiction", code + "S",
            HUXIAO_NEW_PASSWORD="cli-password-1")
    assert r.returncode == 0, r.stderr + r.stdout
    r = run(database_url, "create-api-key", "screen", "--jurisdiction", code)
    assert r.returncode == 0, r.stderr + r.stdout
    assert r.stdout.strip().splitlines()[-1].startswith("hx_")
    dup = run(database_url, "create-jurisdiction", code, "again")
    assert dup.returncode == 1 and "already exists" in dup.stdout


def test_import_schools_from_geojson_reports_each_outcome(database_url, tmp_path):
    code = unique_code("K")
    assert run(database_url, "create-jurisdiction", code, "Import county").returncode == 0
    features = [
        {"type": "Feature", "properties": {"name": "一小", "kind": "primary", "jurisdiction_code": code,
                                           "external_id": code + "-1"},
         "geometry": rectangle(108.3, 29.3, half_width_m=60, half_height_m=60)},
        {"type": "Feature", "properties": {"name": "坏", "kind": "primary", "jurisdiction_code": code},
         "geometry": {"type": "Point", "coordinates": [108.3, 95]}},
    ]
    path = tmp_path / "schools.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    r = run(database_url, "import-schools", str(path))
    assert r.returncode == 2, r.stdout + r.stderr  # one rejected feature
    assert "created" in r.stdout and "geometry.coordinates" in r.stdout


def test_import_schools_from_csv(database_url, tmp_path):
    code = unique_code("K")
    assert run(database_url, "create-jurisdiction", code, "CSV county").returncode == 0
    path = tmp_path / "schools.csv"
    path.write_text(f"name,kind,jurisdiction_code,external_id,lon,lat\n甲校,middle,{code},{code}-c,108.31,29.31\n",
                    encoding="utf-8")
    r = run(database_url, "import-schools", str(path), "--crs", "gcj02")
    assert r.returncode == 0, r.stdout + r.stderr


async def test_demo_data_loads_once(app):
    async with unit_of_work(app.state.pool) as db:
        await seed_all(db)
    async with unit_of_work(app.state.pool) as db:
        again = await seed_all(db)
    assert set(again.values()) == {0}, again


def test_serve_says_plainly_when_the_port_is_taken(database_url):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run(database_url, "serve", "--no-prepare", "--port", str(port))
    assert r.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in r.stdout and "PORT=" in r.stdout
