"""Demo school calendar for the two demo counties: the 2026 public holidays that fall on school weekdays
(non-school days) and the 调休 weekend days that are school days (make-up days), after the State Council's
notice on the 2026 holidays (国办发明电〔2025〕7号).

Only days in term time are listed: the Spring Festival days and its make-up Saturdays (14 and 28 February) fall in
the winter vacation, whose dates each county sets itself, as it does the summer vacation — a county adds those as
non-school days. 2027 follows when the State Council publishes its notice.
"""

from __future__ import annotations

from datetime import date

from domain.database import Db

COUNTIES = ("500243", "341504")
NON_SCHOOL_DAYS_2026 = {
    date(2026, 1, 1): "元旦", date(2026, 1, 2): "元旦",
    date(2026, 4, 6): "清明节",
    date(2026, 5, 1): "劳动节", date(2026, 5, 4): "劳动节", date(2026, 5, 5): "劳动节",
    date(2026, 6, 19): "端午节",
    date(2026, 9, 25): "中秋节",
    date(2026, 10, 1): "国庆节", date(2026, 10, 2): "国庆节", date(2026, 10, 5): "国庆节",
    date(2026, 10, 6): "国庆节", date(2026, 10, 7): "国庆节",
}
MAKEUP_DAYS_2026 = {
    date(2026, 1, 4): "元旦调休上课",
    date(2026, 5, 9): "劳动节调休上课",
    date(2026, 9, 20): "国庆节调休上课",
    date(2026, 10, 10): "国庆节调休上课",
}


async def seed_calendar(db: Db) -> int:
    """Add the days above to both demo counties (only those missing); returns how many rows were added."""
    added = await db.fetchval("""
        WITH a AS (
            INSERT INTO non_school_days (jurisdiction_code, day, reason)
            SELECT c, d.day, d.reason FROM unnest(CAST(:codes AS text[])) c
            CROSS JOIN unnest(CAST(:days AS date[]), CAST(:reasons AS text[])) AS d(day, reason)
            ON CONFLICT DO NOTHING RETURNING 1
        )
        SELECT count(*) FROM a
    """, {"codes": list(COUNTIES), "days": list(NON_SCHOOL_DAYS_2026), "reasons": list(NON_SCHOOL_DAYS_2026.values())})
    added += await db.fetchval("""
        WITH a AS (
            INSERT INTO makeup_school_days (jurisdiction_code, day, reason)
            SELECT c, d.day, d.reason FROM unnest(CAST(:codes AS text[])) c
            CROSS JOIN unnest(CAST(:days AS date[]), CAST(:reasons AS text[])) AS d(day, reason)
            ON CONFLICT DO NOTHING RETURNING 1
        )
        SELECT count(*) FROM a
    """, {"codes": list(COUNTIES), "days": list(MAKEUP_DAYS_2026), "reasons": list(MAKEUP_DAYS_2026.values())})
    return added
