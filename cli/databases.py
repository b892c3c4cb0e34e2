"""Creating and dropping databases with PostGIS, and running the migrations."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy.engine import make_url

from alembic import command
from domain.schema import alembic_config

EXTENSIONS = ("postgis", "ltree", "pg_trgm")


def _dsn(url: str, dbname: str | None = None) -> str:
    u = make_url(url).set(drivername="postgresql")
    if dbname:
        u = u.set(database=dbname)
    return u.render_as_string(hide_password=False)


async def _ensure_database(url: str) -> bool:
    """Create the database of `url` if missing; True when it was created."""
    name = make_url(url).database
    conn = await asyncpg.connect(_dsn(url, "postgres"), timeout=10)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
        return not exists
    finally:
        await conn.close()


async def _drop_database(url: str) -> None:
    name = make_url(url).database
    conn = await asyncpg.connect(_dsn(url, "postgres"), timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def ensure_database(url: str) -> bool:
    return asyncio.run(_ensure_database(url))


def drop_database(url: str) -> None:
    asyncio.run(_drop_database(url))


def migrate(url: str, revision: str = "head") -> None:
    """`alembic upgrade` the database at `url`; the first migration creates the extensions."""
    cfg = alembic_config()
    cfg.attributes["database_url"] = url
    command.upgrade(cfg, revision)
