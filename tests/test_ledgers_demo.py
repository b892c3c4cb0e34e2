"""The demo ledgers: hazards in every state, venues in and outside the zones, inspections; loaded only once."""

from __future__ import annotations

from datetime import UTC, datetime

from cli import demo
from cli.demo_ledgers import seed_ledgers
from domain.database import Db

DEMO = "(h.jurisdiction_code LIKE '500243%' OR h.jurisdiction_code LIKE '341504%')"


async def test_demo_ledgers_hold_every_state_and_load_once(app):
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    async with app.state.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        db = Db(conn)
        try:  # never committed: the demo schools must not leak into other suites' zone decisions
            for step in (demo.seed_jurisdictions, demo.seed_people, demo.seed_schools):
                await step(db)
            before = await _demo_count(db)  # another suite may have committed the demo already
            made = await seed_ledgers(db, now=now)
            assert await seed_ledgers(db, now=now) == 0
            row = await db.fetchrow(f"""
                SELECT count(*) AS n,
                       count(*) FILTER (WHERE status = 'closed') AS closed,
                       count(*) FILTER (WHERE status = 'rectifying') AS rectifying,
                       count(*) FILTER (WHERE status = 'escalated') AS escalated,
                       count(*) FILTER (WHERE status <> 'closed' AND deadline < :now) AS overdue,
                       count(DISTINCT category) AS categories
                FROM hazards h WHERE {DEMO}
            """, {"now": now})
            assert row["n"] > 60 and row["closed"] > 0 and row["rectifying"] > 0 and row["escalated"] > 0
            assert row["overdue"] > 0 and row["categories"] >= 6
            v = await db.fetchrow("""
                SELECT count(*) AS n, count(*) FILTER (WHERE cardinality(zone_school_ids) = 0) AS outside,
                       (SELECT count(*) FROM venue_inspections i WHERE i.jurisdiction_code LIKE '500243%'
                           OR i.jurisdiction_code LIKE '341504%') AS inspections,
                       (SELECT count(*) FROM venue_inspections i WHERE 'fine' = ANY(i.actions)
                           AND (i.jurisdiction_code LIKE '500243%' OR i.jurisdiction_code LIKE '341504%')) AS fines
                FROM venues h WHERE (h.jurisdiction_code LIKE '500243%' OR h.jurisdiction_code LIKE '341504%')
            """)
            assert v["n"] > 40 and 0 < v["outside"] < v["n"] and v["inspections"] > 40 and v["fines"] > 0
            assert before + made == row["n"] + v["n"] + v["inspections"] == await _demo_count(db)
        finally:
            await tx.rollback()


async def _demo_count(db) -> int:
    return int(await db.fetchval("""
        SELECT (SELECT count(*) FROM hazards WHERE jurisdiction_code LIKE '500243%' OR jurisdiction_code LIKE '341504%')
             + (SELECT count(*) FROM venues WHERE jurisdiction_code LIKE '500243%' OR jurisdiction_code LIKE '341504%')
             + (SELECT count(*) FROM venue_inspections
                WHERE jurisdiction_code LIKE '500243%' OR jurisdiction_code LIKE '341504%')
    """))
