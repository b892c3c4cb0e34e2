"""The database engine and sessions: one async engine per process, one session per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from domain.settings import Settings

LOCAL_DB_NAME = "huxiao"


def local_cluster_port(settings: Settings) -> int | None:
    """The port the managed local cluster listens on, as recorded when it was started."""
    if settings.pg_port:
        return settings.pg_port
    port_file = settings.data_dir / "pg.port"
    if port_file.exists():
        return int(port_file.read_text().strip())
    return None


def database_url(settings: Settings, *, dbname: str | None = None) -> str:
    """The SQLAlchemy URL (asyncpg driver) to use: DATABASE_URL, else the managed local cluster."""
    url = settings.database_url
    if not url:
        port = local_cluster_port(settings) or 55432
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{dbname or LOCAL_DB_NAME}"
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            url = "postgresql+asyncpg://" + url[len(prefix):]
    if dbname and settings.database_url:
        base, _, _ = url.rpartition("/")
        url = f"{base}/{dbname}"
    return url


def make_engine(settings: Settings, *, url: str | None = None) -> AsyncEngine:
    return create_async_engine(
        url or database_url(settings),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_s,
        pool_pre_ping=settings.db_pool_pre_ping,
        pool_recycle=settings.db_pool_recycle_s,
        connect_args={
            "timeout": settings.db_connect_timeout_s,
            "server_settings": {
                "application_name": "huxiao",
                "statement_timeout": str(settings.db_statement_timeout_ms),
                "timezone": "UTC",
            },
        },
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def session_scope(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit when the block succeeds, roll back when it raises."""
    async with maker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
