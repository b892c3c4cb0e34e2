"""Which schema revision the code expects, and which one the database has."""

from __future__ import annotations

from functools import lru_cache

from alembic.config import Config
from alembic.script import ScriptDirectory

from domain.database import Db
from domain.settings import REPO_ROOT


def alembic_config() -> Config:
    cfg = Config(str(REPO_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(REPO_ROOT / "alembic"))
    return cfg


@lru_cache
def expected_revision() -> str:
    """The head revision of the migrations shipped with this code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def database_revision(db: Db) -> str | None:
    """The revision the database was migrated to, or None when it never was."""
    exists = await db.fetchval("SELECT to_regclass('public.alembic_version') IS NOT NULL")
    if not exists:
        return None
    return await db.fetchval("SELECT version_num FROM alembic_version")


def sql_statements(script: str) -> list[str]:
    """Split a migration's SQL script into statements: asyncpg runs one statement per call.

    A statement ends with `;` at the end of a line; bodies of functions (`$$ … $$`) must not
    have a line ending in `;` outside the final one, so they use `; --` inside.
    """
    out, current = [], []
    for line in script.splitlines():
        current.append(line)
        if line.rstrip().endswith(";"):
            stmt = "\n".join(current).strip()
            if stmt.rstrip(";").strip():
                out.append(stmt)
            current = []
    tail = "\n".join(current).strip()
    if tail:
        out.append(tail)
    return out
