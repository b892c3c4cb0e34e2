"""The demo month of incidents: loads on top of the demo schools and people, and loads only once."""

from __future__ import annotations

from datetime import UTC, datetime

from cli import demo
from cli.demo_incidents import seed_incidents
from domain.database import Db


async def test_demo_incidents_meet_miss_and_partly_meet_and_load_once(app):
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    async with app.state.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        db = Db(conn)
        try:  # never committed: the demo schools must not leak into other suites' zone decisions
            for step in (demo.seed_jurisdictions, demo.seed_people, demo.seed_schools):
                await step(db)
            before = await _demo_count(db)  # another suite may have committed the demo already
            made = await seed_incidents(db, now=now)
            assert before + made > 40
            assert await seed_incidents(db, now=now) == 0
            row = await db.fetchrow("""
                SELECT count(*) AS n,
                       count(*) FILTER (WHERE sc.compliant) AS compliant,
                       count(*) FILTER (WHERE sc.compliant = false AND sc.tier1_state = 'met') AS partly,
                       count(*) FILTER (WHERE sc.tier1_state = 'missed') AS t1_missed,
                       count(*) FILTER (WHERE i.in_zone) AS in_zone,
                       count(*) FILTER (WHERE i.status = 'closed') AS closed,
                       (SELECT count(*) FROM arrivals a JOIN incidents i2 ON i2.id = a.incident_id
                        WHERE a.far_from_scene AND i2.jurisdiction_code LIKE '500243%'
                           OR a.far_from_scene AND i2.jurisdiction_code LIKE '341504%') AS far
                FROM incidents i JOIN incident_scores sc ON sc.incident_id = i.id AND sc.policy_key = i.policy_key
                WHERE i.jurisdiction_code LIKE '500243%' OR i.jurisdiction_code LIKE '341504%'
            """)
            assert row["n"] == before + made == await _demo_count(db)
            assert row["compliant"] > 0 and row["partly"] > 0 and row["t1_missed"] > 0
            assert 0 < row["in_zone"] < row["n"] and row["closed"] > 0 and row["far"] > 0
        finally:
            await tx.rollback()


async def _demo_count(db) -> int:
    return int(await db.fetchval("SELECT count(*) FROM incidents WHERE jurisdiction_code LIKE '500243%' OR jurisdiction_code LIKE '341504%'"))
