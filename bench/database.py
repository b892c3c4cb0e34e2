"""The benchmark database `huxiao_bench` and the data scenarios need in it.

Never the demo database: the URL is the app's (DATABASE_URL, else the managed local cluster) with the
database name replaced by `huxiao_bench`, created and migrated when needed.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from sqlalchemy.engine import make_url

BENCH_DB = "huxiao_bench"
BENCH_JURISDICTION = "BENCH"
BENCH_ADMIN = "bench-admin"
# Long enough that a full run (all scenarios, several worker counts) never outlives the token.
BENCH_TOKEN_TTL_S = 6 * 3600


def bench_database_url() -> str:
    """Start the local cluster if the app would use it, then create and migrate `huxiao_bench`."""
    import os

    from cli.cluster import Cluster, ensure_postgis
    from cli.databases import ensure_database, migrate
    from domain.database import database_url
    from domain.settings import get_settings

    settings = get_settings()
    if not settings.database_url:
        ensure_postgis()
        port = Cluster(settings.data_dir, port=settings.pg_port).start()
        os.environ["HUXIAO_PG_PORT"] = str(port)
        get_settings.cache_clear()
        settings = get_settings()
    url = make_url(database_url(settings)).set(database=BENCH_DB).render_as_string(hide_password=False)
    if make_url(url).database != BENCH_DB:  # belt and braces: never load or seed another database
        raise RuntimeError(f"refusing to benchmark against {url}")
    ensure_database(url)
    migrate(url)
    return url


def libpq_url(url: str) -> str:
    """The same database as a plain libpq URL (psql, pgbench)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class AuthFixture:
    """What the authentication scenarios call with; the JWT secret must also be the server's."""

    jwt_secret: str
    jurisdiction_code: str
    user_id: str
    token: str
    api_key: str

    @property
    def server_env(self) -> dict[str, str]:
        return {"HUXIAO_JWT_SECRET": self.jwt_secret}

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def key_header(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}


async def _seed_auth(url: str, jwt_secret: str) -> AuthFixture:
    from domain import credentials, jurisdictions, users
    from domain.callers import Caller, Role
    from domain.database import connected, unit_of_work
    from domain.settings import Settings

    settings = Settings(database_url=url, jwt_secret=jwt_secret, access_token_ttl_s=BENCH_TOKEN_TTL_S)
    async with connected(settings) as pool:
        async with unit_of_work(pool) as session:
            county = await jurisdictions.ensure(session, new=jurisdictions.NewJurisdiction(
                BENCH_JURISDICTION, "Benchmark county", "county", None))
            admin = await users.ensure(session, new=users.NewUser(
                username=BENCH_ADMIN, display_name="Benchmark admin", role=Role.admin,
                jurisdiction_code=BENCH_JURISDICTION, password=secrets.token_urlsafe(24)))
            caller = Caller(kind="user", id=admin["id"], name=admin["username"], role=Role.admin,
                            jurisdiction_code=BENCH_JURISDICTION, scope_path=county["path"])
            # One new key per run: keys are stored as HMACs under the (per-run) server secret.
            _, api_key = await credentials.create_api_key(session, settings, caller=caller, name="bench run",
                                                          jurisdiction_code=BENCH_JURISDICTION, role=Role.viewer)
            session_id = await credentials.start_session(session, user_id=admin["id"])
    token, _ = credentials.issue_access_token(settings, user_id=admin["id"], session_id=session_id)
    return AuthFixture(jwt_secret=jwt_secret, jurisdiction_code=BENCH_JURISDICTION, user_id=str(admin["id"]),
                       token=token, api_key=api_key)


def seed_auth(url: str, *, jwt_secret: str | None = None) -> AuthFixture:
    """The bench jurisdiction and admin (idempotent), a fresh API key and an access token for the admin."""
    return asyncio.run(_seed_auth(url, jwt_secret or secrets.token_urlsafe(48)))


def bench_tokens(url: str, jwt_secret: str, user_ids: list, *, ttl_s: int) -> list[str]:
    """Access tokens for the users, each on a login (session) of its own opened for this run."""
    import uuid

    import asyncpg

    from domain import credentials
    from domain.settings import Settings

    async def open_sessions() -> list[uuid.UUID]:
        conn = await asyncpg.connect(libpq_url(url))
        try:
            ids = [uuid.uuid4() for _ in user_ids]
            await conn.executemany("INSERT INTO auth_sessions (id, user_id) VALUES ($1, $2)",
                                   [(s, uuid.UUID(str(u))) for s, u in zip(ids, user_ids, strict=True)])
            return ids
        finally:
            await conn.close()

    settings = Settings(jwt_secret=jwt_secret, access_token_ttl_s=ttl_s)
    sessions = asyncio.run(open_sessions())
    return [credentials.issue_access_token(settings, user_id=uuid.UUID(str(u)), session_id=s)[0]
            for u, s in zip(user_ids, sessions, strict=True)]
