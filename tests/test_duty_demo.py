"""The demo duty seed: gate posts, today's shifts, a morning of check-ins; running it twice changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cli.demo_duty import seed_duty
from domain.database import unit_of_work
from tests.factories import make_person, offset
from tests.test_duty_support import make_world


async def test_seed_duty_makes_posts_shifts_and_checkins_once(app, client):
    w = await make_world(app, client)
    officers = [w.officer, w.officer2] + [
        await make_person(app, client, role="officer", jurisdiction_code=w.tree.station_a, login=False)
        for _ in range(2)]
    r = await client.patch(f"/v1/schools/{w.school['id']}", headers=w.commander.headers,
                           json={"external_id": f"DEMO-{w.tree.code}"})
    assert r.status_code == 200, r.text
    gate = list(offset(w.lon, w.lat, north_m=-60))
    geojson = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"external_id": f"DEMO-{w.tree.code}", "gate": gate}, "geometry": None}]}
    people = [{"username": o.username, "role": "officer"} for o in officers]
    tz = ZoneInfo("Asia/Shanghai")
    today = (datetime.now(UTC).astimezone(tz) - timedelta(days=1)).date()
    now = datetime.combine(today, time(12, 0), tzinfo=tz).astimezone(UTC)
    async with unit_of_work(app.state.pool) as db:
        first = await seed_duty(db, today_local=today, now=now, schools_geojson=geojson, people=people)
    async with unit_of_work(app.state.pool) as db:
        again = await seed_duty(db, today_local=today, now=now, schools_geojson=geojson, people=people)
    assert first["posts"] == 1 and first["shifts_created"] == 3 and first["checkins_created"] > 10
    assert again == {"posts": 1, "shifts_created": 0, "checkins_created": 0}
    items = (await client.get("/v1/duty/compliance", headers=w.commander.headers,
                              params={"date": today.isoformat(), "school_id": w.school["id"]})).json()["items"]
    assert [i["verdict"] for i in items if i["window_name"] == "morning"] == ["kept"]
