"""The repository's promises about itself: committed OpenAPI, migrations vs tables, layers, compose file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from domain.settings import REPO_ROOT, Settings
from domain.tables import metadata

IGNORED_TABLES = re.compile(r"^(spatial_ref_sys|checkins_p\d{6}|checkins_default)$")


def test_committed_openapi_is_what_the_app_serves(app):
    committed = json.loads((REPO_ROOT / "openapi" / "openapi.json").read_text())
    assert committed == app.openapi(), "run `huxiao export-openapi` and commit openapi/openapi.json"


def test_openapi_is_3_1_with_both_security_schemes(app):
    spec = app.openapi()
    assert spec["openapi"].startswith("3.1")
    schemes = spec["components"]["securitySchemes"]
    assert {"OAuth2PasswordBearer", "APIKeyHeader"} <= schemes.keys()


def test_creates_link_to_the_operations_on_what_they_created(app):
    """OpenAPI links (for client generators and Schemathesis' stateful phase): a create's 201 answer names the
    operations that take the new object's id, with the id taken from the answer."""
    spec = app.openapi()
    operation_ids = {op["operationId"] for ops in spec["paths"].values() for op in ops.values()}
    school_links = spec["paths"]["/v1/schools"]["post"]["responses"]["201"]["links"]
    assert school_links["GetSchoolsSchoolId"] == {
        "operationId": "get_school_v1_schools__school_id__get",
        "parameters": {"school_id": "$response.body#/id"},
        "description": "The `school_id` of the object just created."}
    post_links = spec["paths"]["/v1/schools/{school_id}/posts"]["post"]["responses"]["201"]["links"]
    assert post_links["PatchPostsPostId"]["parameters"] == {"post_id": "$response.body#/id"}
    day_links = spec["paths"]["/v1/jurisdictions/{code}/non-school-days"]["post"]["responses"]["201"]["links"]
    assert next(iter(day_links.values()))["parameters"] == {"code": "$request.path.code", "day": "$response.body#/day"}
    linked = 0
    for path, ops in spec["paths"].items():
        created = ops.get("post", {}).get("responses", {}).get("201", {})
        for link in created.get("links", {}).values():
            linked += 1
            assert link["operationId"] in operation_ids, (path, link)
    assert linked >= 25


async def test_migrations_and_tables_agree(database_url):
    def diff(sync_conn):
        def include(obj, name, type_, reflected, compare_to):
            return not (type_ == "table" and name and IGNORED_TABLES.match(name)) and not (
                type_ == "index" and name and name.startswith("checkins_p"))

        ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True, "include_object": include})
        return compare_metadata(ctx, metadata)

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == [], f"models and migrations disagree: {differences}"


def test_layers_point_one_way():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_domain_and_geo_never_import_fastapi():
    for package in ("domain", "geo"):
        for path in (REPO_ROOT / package).rglob("*.py"):
            text = path.read_text()
            assert not re.search(r"^\s*(from|import) (fastapi|starlette)", text, re.M), path


def test_compose_file_sets_only_known_settings():
    compose = (REPO_ROOT / "docker-compose.yml").read_text()
    names = set(re.findall(r"^\s+(DATABASE_URL|PORT|HUXIAO_[A-Z0-9_]+):", compose, re.M))
    assert "DATABASE_URL" in names
    known = {"DATABASE_URL", "PORT"} | {f"HUXIAO_{f.upper()}" for f in Settings.model_fields}
    assert names <= known, names - known
    assert "postgis/postgis" in compose and "healthcheck" in compose and "service_healthy" in compose
