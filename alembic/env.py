"""Alembic environment: async engine, the URL from the caller or the settings."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy.ext.asyncio import create_async_engine

from alembic import context
from domain.database import database_url
from domain.settings import get_settings
from domain.tables import metadata

config = context.config
target_metadata = metadata

# Objects the tables module does not describe on purpose: PostGIS' own tables and monthly partitions.
_IGNORED_TABLES = re.compile(r"^(spatial_ref_sys|checkins_p\d{6}|checkins_default)$")


def include_object(obj, name, type_, reflected, compare_to):
    if type_ == "table" and name and _IGNORED_TABLES.match(name):
        return False
    if type_ == "index" and reflected and compare_to is None and name and name.startswith("checkins_p"):
        return False
    return True


def _url() -> str:
    return config.attributes.get("database_url") or database_url(get_settings())


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        compare_type=True,
        compare_server_default=False,
    )


def _run_sync(connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_sync(connection)
    else:
        asyncio.run(_run_async())
