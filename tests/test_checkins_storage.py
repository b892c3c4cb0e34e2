"""Check-in storage: monthly partitions made ahead, each check-in in the partition of its device time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain import checkins
from domain.database import unit_of_work
from tests.test_duty_support import check_in, checkin_body, make_world


async def test_partitions_are_made_ahead_once(app):
    far = datetime(2031, 5, 17, tzinfo=UTC)
    async with unit_of_work(app.state.pool) as db:
        made = await checkins.ensure_partitions(db, now=far)
        again = await checkins.ensure_partitions(db, now=far)
        names = {r[0] for r in await db.fetch("SELECT relname FROM pg_class WHERE relname LIKE 'checkins_p2031%' AND relkind = 'r'")}
    assert made == 5 and again == 0
    assert names == {"checkins_p203104", "checkins_p203105", "checkins_p203106", "checkins_p203107",
                     "checkins_p203108"}


async def test_checkin_lands_in_the_partition_of_its_device_time(app, client):
    w = await make_world(app, client)
    at = datetime.now(UTC) - timedelta(days=6)
    c = await check_in(client, w.officer, checkin_body(w, at))
    async with unit_of_work(app.state.pool) as db:
        part = await db.fetchval("SELECT tableoid::regclass::text FROM checkins WHERE id = :id", {"id": c["id"]})
        key = await db.fetchval("SELECT recorded_at FROM checkin_keys WHERE id = :id", {"id": c["id"]})
    assert part == f"checkins_p{at:%Y%m}"
    assert key == at.replace(microsecond=at.microsecond)
