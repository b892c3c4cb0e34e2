"""Annotated dependencies shared by every router: the settings, the request's session, paging."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from domain.paging import DEFAULT_LIMIT, MAX_LIMIT
from domain.settings import Settings


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; committed once when the handler returns, rolled back when it raises."""
    async with request.app.state.sessionmaker() as session:
        try:
            yield session
            if session.in_transaction():
                await session.commit()
        except BaseException:
            await session.rollback()
            raise


AppSettings = Annotated[Settings, Depends(get_settings_dep)]
# scope="function": commit before the response is sent, so a failed commit is the answer, not a lie.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


class PageParams:
    """`limit` (default 50, at most 1000) and the opaque `cursor` of the previous page."""

    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page.")] = None,
    ):
        self.limit = limit
        self.cursor = cursor


Paging = Annotated[PageParams, Depends()]


def server_now() -> datetime:
    """The server clock, as a dependency so tests can move time (override it on the app)."""
    return datetime.now(UTC)


Now = Annotated[datetime, Depends(server_now)]
