"""Demo data for the two seed counties: Pengshui (Chongqing) and Yeji (Lu'an, Anhui). Idempotent.

The data files live in `cli/demo_data/` (generated once by `generate.py` with a fixed seed). This is the
one place later capabilities extend: each adds a step to `STEPS`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console

from domain import jurisdictions, schools, users
from domain.callers import Role, UnitType, system_caller
from domain.database import Db

DATA = Path(__file__).parent / "demo_data"
DEMO_PASSWORD = "huxiao-demo-2026"
DEMO_TIME_ZONE = "Asia/Shanghai"


def _load(name: str):
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def demo_logins() -> list[tuple[str, str, str]]:
    people = _load("people.json")
    shown = [p for p in people if p["role"] in ("admin", "commander", "viewer")]
    shown += [p for p in people if p["role"] == "officer"][:1]
    return [(p["username"], p["password"], p["role"]) for p in shown]


DEMO_LOGINS = demo_logins()


async def seed_jurisdictions(db: Db) -> int:
    made = 0
    for j in _load("jurisdictions.json"):  # parents come before children in the file
        existed = await jurisdictions.path_of(db, code=j["code"])
        await jurisdictions.ensure(db, new=jurisdictions.NewJurisdiction(
            code=j["code"], name=j["name"], level=j["level"], parent_code=j["parent_code"],
            time_zone=j.get("time_zone", jurisdictions.DEFAULT_TIME_ZONE)))
        made += existed is None
    return made


async def seed_people(db: Db) -> int:
    made = 0
    for p in _load("people.json"):
        existed = await users.login_row(db, username=p["username"])
        await users.ensure(db, new=users.NewUser(
            username=p["username"], display_name=p["display_name"], role=Role(p["role"]),
            jurisdiction_code=p["jurisdiction_code"], password=p["password"], phone=p.get("phone"),
            unit_type=UnitType(p.get("unit_type", "police"))))
        made += existed is None
    return made


async def seed_schools(db: Db) -> int:
    features = _load("schools.geojson")["features"]
    known = await db.fetchval("SELECT count(*) FROM schools WHERE external_id = ANY(CAST(:ids AS text[]))", {"ids": [f["properties"]["external_id"] for f in features]})
    if known == len(features):
        return 0
    results = await schools.import_features(db, caller=system_caller(name="demo"), features=features,
                                            crs="wgs84")
    rejected = [r for r in results if r.status == "rejected"]
    if rejected:
        raise RuntimeError(f"demo schools rejected: {rejected[:3]}")
    return sum(r.status == "created" for r in results)


async def seed_duty_step(db: Db, *, now: datetime) -> int:
    """Posts at the demo gates, today's shifts and this morning's check-ins (a few late, partial, absent)."""
    from cli.demo_duty import seed_duty

    today = now.astimezone(ZoneInfo(DEMO_TIME_ZONE)).date()
    made = await seed_duty(db, today_local=today, now=now)
    return made["shifts_created"] + made["checkins_created"]


async def seed_calendar_step(db: Db) -> int:
    """2026 holidays on school weekdays and the 调休 make-up school days, in both counties."""
    from cli.demo_calendar import seed_calendar

    return await seed_calendar(db)


async def seed_incidents_step(db: Db, *, now: datetime) -> int:
    """A month of incidents around the demo schools, with arrivals that meet, miss and partly meet 1/3/5."""
    from cli.demo_incidents import seed_incidents

    return await seed_incidents(db, now=now)


async def seed_ledgers_step(db: Db, *, now: datetime) -> int:
    """Four months of hazards (closed, being fixed, escalated, overdue), venues near the schools and inspections."""
    from cli.demo_ledgers import seed_ledgers

    return await seed_ledgers(db, now=now)


async def seed_campaigns_step(db: Db, *, now: datetime) -> int:
    """Campaigns matching each seed plan's period (and the current year), demo disputes and key persons."""
    from cli.demo_campaigns import seed_campaigns

    return await seed_campaigns(db, now=now)


STEPS = [
    ("jurisdictions", lambda db, now: seed_jurisdictions(db)),
    ("people", lambda db, now: seed_people(db)),
    ("schools", lambda db, now: seed_schools(db)),
    ("calendar", lambda db, now: seed_calendar_step(db)),
    ("duty", lambda db, now: seed_duty_step(db, now=now)),
    ("incidents", lambda db, now: seed_incidents_step(db, now=now)),
    ("ledgers", lambda db, now: seed_ledgers_step(db, now=now)),
    ("campaigns", lambda db, now: seed_campaigns_step(db, now=now)),
]


async def seed_all(db: Db, *, now: datetime | None = None) -> dict[str, int]:
    """Run every demo step in one transaction; each step only adds what is missing."""
    now = now or datetime.now(UTC)
    counts = {}
    for name, step in STEPS:
        counts[name] = await step(db, now)
    return counts


def seed_demo(url: str, *, console: Console) -> None:
    import asyncio

    from domain.database import connected, unit_of_work
    from domain.settings import get_settings

    async def run() -> dict[str, int]:
        async with connected(get_settings(), url=url) as pool, unit_of_work(pool) as db:
            return await seed_all(db)

    counts = asyncio.run(run())
    added = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    console.print(f"demo data: {'added ' + added if added else 'already loaded'}")
