"""Annotated dependencies shared by every router: the settings, the database, paging, the clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, Request

from domain.database import Db, unit_of_work
from domain.paging import DEFAULT_LIMIT, MAX_LIMIT
from domain.settings import Settings

# Every dependency here is `async def`: FastAPI runs a plain `def` dependency in a worker thread, a hop that
# costs more than the dependency itself.

async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_reads(request: Request) -> Db:
    """The pool: each statement of a read takes a connection for itself, with no transaction around it."""
    return request.app.state.db


async def get_unit_of_work(request: Request) -> AsyncIterator[Db]:
    """One connection and one transaction for a write: committed when the handler returns, rolled back when it
    raises."""
    async with unit_of_work(request.app.state.pool, acquire_timeout_s=request.app.state.settings.db_pool_timeout_s) as db:
        yield db


AppSettings = Annotated[Settings, Depends(get_settings_dep)]
Reads = Annotated[Db, Depends(get_reads)]
# scope="function": commit before the response is sent, so a failed commit is the answer, not a lie.
Tx = Annotated[Db, Depends(get_unit_of_work, scope="function")]


class PageParams:
    """`limit` (default 50, at most 1000) and the opaque `cursor` of the previous page."""

    __slots__ = ("limit", "cursor")

    def __init__(self, limit: int, cursor: str | None):
        self.limit = limit
        self.cursor = cursor


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page.")] = None,
) -> PageParams:
    return PageParams(limit, cursor)


Paging = Annotated[PageParams, Depends(page_params)]


async def server_now() -> datetime:
    """The server clock, as a dependency so tests can move time (override it on the app)."""
    return datetime.now(UTC)


Now = Annotated[datetime, Depends(server_now)]
