"""The database: one asyncpg pool per process, and SQL written with named parameters.

Each noun's module holds its statements as `Query` constants written with `:name` parameters (readable and
order-free), compiled once to asyncpg's `$n`. `Db` runs them: on the pool for reads (no transaction, a
connection per statement), or on one connection inside a transaction for a write that must be one unit
(`unit_of_work`). Connections are set up once when the pool opens them (`init`: JSON codecs, session
settings); released connections are not reset with a round trip, since no request changes session state
(`SET LOCAL` and transaction advisory locks end with their transaction; a leaked transaction is still rolled
back by asyncpg).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import asyncpg
import orjson

from domain.settings import Settings

LOCAL_DB_NAME = "huxiao"

# The rule of SQLAlchemy's text(): `:name` is a parameter, `::type` a cast and `\:` a literal colon.
_PARAMETER = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")


class Query:
    """One SQL statement with `:name` parameters, compiled once to asyncpg's `$1, $2, …`; a name used twice
    is one parameter."""

    __slots__ = ("sql", "names", "source")

    def __init__(self, source: str):
        self.source = source
        names: list[str] = []

        def number(match: re.Match) -> str:
            name = match.group(1)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        self.sql = _PARAMETER.sub(number, source).replace("\\:", ":")
        self.names = tuple(names)

    def args(self, params: Mapping[str, Any] | None) -> list[Any]:
        if not self.names:
            return []
        if params is None:
            raise KeyError(f"SQL parameters {', '.join(self.names)} not given")
        try:
            return [params[name] for name in self.names]
        except KeyError as exc:
            raise KeyError(f"SQL parameter :{exc.args[0]} not given") from None

    def __repr__(self) -> str:
        return f"Query({self.sql[:60]!r}…)"


@lru_cache(maxsize=512)
def query(source: str) -> Query:
    """A `Query` for SQL assembled at run time (e.g. an optional bbox clause), compiled once per distinct text."""
    return Query(source)


def _as_query(statement: Query | str) -> Query:
    return statement if isinstance(statement, Query) else query(statement)


class Db:
    """Statements with named parameters on a pool (each statement on its own connection, no transaction) or
    on one connection (inside the caller's transaction)."""

    __slots__ = ("conn", "acquire_timeout_s")

    def __init__(self, conn: asyncpg.Pool | asyncpg.Connection, *, acquire_timeout_s: float = 5.0):
        self.conn = conn
        self.acquire_timeout_s = acquire_timeout_s

    async def _run(self, method: str, statement: Query | str, params: Mapping[str, Any] | None) -> Any:
        q = _as_query(statement)
        args = q.args(params)
        if isinstance(self.conn, asyncpg.Pool):  # a pool that stays empty for long is a 503, not a hang
            async with self.conn.acquire(timeout=self.acquire_timeout_s) as conn:
                try:
                    return await getattr(conn, method)(q.sql, *args)
                except TimeoutError:
                    conn.terminate()  # unanswered: do not wait for it again on release (see unit_of_work)
                    raise
        return await getattr(self.conn, method)(q.sql, *args)

    async def fetch(self, statement: Query | str, params: Mapping[str, Any] | None = None) -> list[asyncpg.Record]:
        return await self._run("fetch", statement, params)

    async def fetchrow(self, statement: Query | str, params: Mapping[str, Any] | None = None) -> asyncpg.Record | None:
        return await self._run("fetchrow", statement, params)

    async def fetchval(self, statement: Query | str, params: Mapping[str, Any] | None = None) -> Any:
        return await self._run("fetchval", statement, params)

    async def execute(self, statement: Query | str, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement; the number of rows it touched (0 for statements that report none)."""
        status = await self._run("execute", statement, params)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    def transaction(self):
        """A transaction, or a savepoint when one is open already (only on a connection)."""
        if isinstance(self.conn, asyncpg.Pool):
            raise TypeError("a transaction needs one connection: use unit_of_work")
        return self.conn.transaction()

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[Db]:
        """A `Db` whose statements commit together: a new transaction on a connection of the pool, or a
        savepoint inside the transaction this connection is in."""
        if isinstance(self.conn, asyncpg.Pool):
            async with unit_of_work(self.conn, acquire_timeout_s=self.acquire_timeout_s) as db:
                yield db
        else:
            async with self.conn.transaction():
                yield self


# --- the pool ------------------------------------------------------------------------------------------

def local_cluster_port(settings: Settings) -> int | None:
    """The port the managed local cluster listens on, as recorded when it was started."""
    if settings.pg_port:
        return settings.pg_port
    port_file = settings.data_dir / "pg.port"
    if port_file.exists():
        return int(port_file.read_text().strip())
    return None


def database_url(settings: Settings, *, dbname: str | None = None) -> str:
    """The SQLAlchemy URL (asyncpg driver) for alembic and the CLI: DATABASE_URL, else the managed cluster."""
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


def dsn(settings: Settings, *, dbname: str | None = None) -> str:
    """The libpq-style URL asyncpg connects with."""
    return plain_url(database_url(settings, dbname=dbname))


def plain_url(url: str) -> str:
    """`postgresql+asyncpg://…` (SQLAlchemy's spelling) as `postgresql://…` (libpq's, asyncpg's)."""
    return "postgresql://" + url.split("://", 1)[1]


def server_settings(settings: Settings) -> dict[str, str]:
    return {
        "application_name": "huxiao",
        "statement_timeout": str(settings.db_statement_timeout_ms),
        "timezone": "UTC",
    }


def _jsonb_encode(value: str) -> bytes:
    return b"\x01" + value.encode()


def _jsonb_decode(data: bytes) -> Any:
    return orjson.loads(data[1:])


async def init_connection(conn: asyncpg.Connection) -> None:
    """Once per connection: json and jsonb go in as JSON text and come out as Python values (orjson)."""
    await conn.set_type_codec("json", encoder=str.encode, decoder=orjson.loads, schema="pg_catalog",
                              format="binary")
    await conn.set_type_codec("jsonb", encoder=_jsonb_encode, decoder=_jsonb_decode, schema="pg_catalog",
                              format="binary")


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Released connections keep their (unchanged) session state: asyncpg's default reset costs a round
    trip per request. asyncpg still rolls back a transaction left open."""


async def create_pool(settings: Settings, *, url: str | None = None, min_size: int | None = None,
                      max_size: int | None = None, plan_cache_mode: str | None = None) -> asyncpg.Pool:
    """The pool; `plan_cache_mode` (e.g. `force_generic_plan`) is set on each of its connections."""
    size = max_size or settings.db_pool_size
    session = server_settings(settings)
    if plan_cache_mode:
        session["plan_cache_mode"] = plan_cache_mode
    return await asyncpg.create_pool(
        plain_url(url) if url else dsn(settings),
        min_size=min(size, min_size if min_size is not None else size),
        max_size=size,
        max_inactive_connection_lifetime=settings.db_pool_recycle_s,
        timeout=settings.db_connect_timeout_s,
        command_timeout=settings.command_timeout_s(),  # a database that stops answering: 503, not a hang
        server_settings=session,
        init=init_connection,
        reset=_no_reset,
    )


@asynccontextmanager
async def unit_of_work(pool: asyncpg.Pool, *, acquire_timeout_s: float = 5.0) -> AsyncIterator[Db]:
    """One connection and one transaction: committed when the block succeeds, rolled back when it raises.

    When a statement went unanswered for the command timeout (a frozen or cut-off database), the connection is
    closed instead: a ROLLBACK would wait as long again, and closing it ends the transaction on the server."""
    async with pool.acquire(timeout=acquire_timeout_s) as conn:
        tx = conn.transaction()
        try:
            await tx.start()
        except TimeoutError:
            conn.terminate()
            raise
        try:
            yield Db(conn)
        except TimeoutError:
            conn.terminate()
            raise
        except BaseException:
            await tx.rollback()
            raise
        else:
            await tx.commit()


@asynccontextmanager
async def connected(settings: Settings, *, url: str | None = None) -> AsyncIterator[asyncpg.Pool]:
    """A small pool for a command-line task; closed at the end."""
    pool = await create_pool(settings, url=url, min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()
