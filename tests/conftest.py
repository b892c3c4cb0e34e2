"""The suite runs on a real, throwaway PostGIS database built by `alembic upgrade head`.

Without DATABASE_URL the managed local cluster under `.data/` is started (never its demo
database: each run creates `huxiao_test_<random>` and drops it at the end). Tests own their
data by creating their own jurisdictions, so they never see each other's rows.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.engine import make_url

os.environ.setdefault("HUXIAO_JWT_SECRET", "test-secret-" + "x" * 40)
os.environ.setdefault("HUXIAO_LOG_LEVEL", "WARNING")
# Cheap argon2 for the suite's hundreds of users (each hash says its own parameters, so verifying stays correct);
# tests/test_platform_event_loop.py puts production-cost hashes back where the cost is what is tested.
os.environ.setdefault("HUXIAO_PASSWORD_HASH_TIME_COST", "1")
os.environ.setdefault("HUXIAO_PASSWORD_HASH_MEMORY_KIB", "1024")
os.environ.setdefault("HUXIAO_PASSWORD_HASH_PARALLELISM", "1")

from api.main import create_app  # noqa: E402
from cli.cluster import Cluster, ensure_postgis  # noqa: E402
from cli.databases import drop_database, ensure_database, migrate  # noqa: E402
from domain.settings import Settings, get_settings  # noqa: E402


def _server_url() -> str:
    settings = get_settings()
    if settings.database_url:
        from domain.database import database_url

        return database_url(settings)
    ensure_postgis()
    cluster = Cluster(settings.data_dir, port=settings.pg_port)
    port = cluster.start()
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"


@pytest.fixture(scope="session")
def database_url() -> str:
    """A fresh database with every migration applied; dropped when the session ends."""
    name = f"huxiao_test_{secrets.token_hex(4)}"
    url = make_url(_server_url()).set(database=name).render_as_string(hide_password=False)
    ensure_database(url)
    try:
        migrate(url)
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory) -> Settings:
    # Hazard photos go to a throwaway directory, not the checkout's .data/.
    return Settings(database_url=database_url, db_pool_size=40, photo_dir=tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="session")
async def app(settings: Settings):
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture(scope="session")
def db(app):
    """The app's pool, for reading what a request wrote (each statement commits on its own)."""
    return app.state.db
