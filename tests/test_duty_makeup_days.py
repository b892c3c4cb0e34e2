"""Make-up school days (调休上课日): a Saturday marked as a school day gets shifts, duty windows and alerts, with
the windows of its timetable weekday; non-school days still win; managed like non-school days."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain import alerts
from domain.database import unit_of_work
from tests.factories import make_person, make_tree
from tests.test_duty_support import check_in, checkin_body, make_world

SHANGHAI = ZoneInfo("Asia/Shanghai")
SATURDAY, SUNDAY = "2026-12-12", "2026-12-13"


async def _generate(client, w, day_from: str, day_to: str) -> dict:
    r = await client.post("/v1/shifts/generate", headers=w.commander.headers, json={
        "post_ids": [w.post["id"]], "officer_ids": [w.officer.id], "from": day_from, "to": day_to})
    assert r.status_code == 200, r.text
    return r.json()


async def _make_up(client, w, day: str, code: str | None = None, **over) -> dict:
    r = await client.post(f"/v1/jurisdictions/{code or w.tree.code}/make-up-days", headers=w.commander.headers,
                          json={"day": day, "reason": "调休上课", **over})
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_make_up_saturday_gets_shifts_and_a_plain_weekend_none(app, client):
    w = await make_world(app, client)
    assert (await _generate(client, w, SATURDAY, SUNDAY))["planned"] == 0
    made = await _make_up(client, w, SATURDAY)
    assert made == {"day": SATURDAY, "jurisdiction_code": w.tree.code, "timetable_weekday": 1,
                    "reason": "调休上课", "own": True}
    got = await _generate(client, w, SATURDAY, SUNDAY)
    assert got["created"] == 3  # Saturday's three default windows; Sunday stays free
    items = (await client.get("/v1/shifts", headers=w.officer.headers)).json()["items"]
    assert [(s["starts_at"], s["window_name"]) for s in items] == [
        ("2026-12-11T23:00:00Z", "morning"), ("2026-12-12T03:30:00Z", "noon"), ("2026-12-12T08:00:00Z", "afternoon")]


async def test_a_make_up_day_follows_its_timetable_weekday(app, client):
    w = await make_world(app, client)
    await client.put(f"/v1/schools/{w.school['id']}/duty-windows", headers=w.commander.headers, json={"windows": [
        {"name": "friday-dismissal", "starts_local": "15:00", "ends_local": "16:00", "weekdays": [5]}]})
    await _make_up(client, w, SATURDAY)  # Monday's timetable: no Friday window
    assert (await _generate(client, w, SATURDAY, SATURDAY))["planned"] == 0
    await _make_up(client, w, SATURDAY, timetable_weekday=5)  # repeated: now Friday's timetable
    got = await _generate(client, w, SATURDAY, SATURDAY)
    assert got["created"] == 1
    (shift,) = (await client.get("/v1/shifts", headers=w.officer.headers)).json()["items"]
    assert shift["starts_at"] == "2026-12-12T07:00:00Z" and shift["window_name"] == "friday-dismissal"


async def test_a_non_school_day_wins_and_the_same_day_cannot_be_both(app, client):
    w = await make_world(app, client)
    await _make_up(client, w, SATURDAY)
    r = await client.post(f"/v1/jurisdictions/{w.tree.code}/non-school-days", headers=w.commander.headers,
                          json={"day": SATURDAY})
    assert r.status_code == 409
    # a station below closes its schools that day: the county's make-up day does not reopen them
    r = await client.post(f"/v1/jurisdictions/{w.tree.station_a}/non-school-days", headers=w.commander.headers,
                          json={"day": SATURDAY, "reason": "停电"})
    assert r.status_code == 201
    assert (await _generate(client, w, SATURDAY, SATURDAY))["planned"] == 0
    r = await client.post(f"/v1/jurisdictions/{w.tree.station_a}/make-up-days", headers=w.commander.headers,
                          json={"day": SATURDAY})
    assert r.status_code == 409


async def test_make_up_days_are_listed_below_and_removed(app, client):
    w = await make_world(app, client)
    await _make_up(client, w, "2026-10-10", reason="国庆节调休")
    await _make_up(client, w, "2026-09-20", code=w.tree.station_a, timetable_weekday=3)
    r = await client.get(f"/v1/jurisdictions/{w.tree.station_a}/make-up-days", headers=w.officer.headers)
    assert r.status_code == 200
    assert [(d["day"], d["jurisdiction_code"], d["own"], d["timetable_weekday"]) for d in r.json()["items"]] == [
        ("2026-09-20", w.tree.station_a, True, 3), ("2026-10-10", w.tree.code, False, 1)]
    r = await client.get(f"/v1/jurisdictions/{w.tree.code}/make-up-days", headers=w.commander.headers,
                         params={"from": "2026-10-01", "to": "2026-10-31"})
    assert [d["day"] for d in r.json()["items"]] == ["2026-10-10"]
    assert (await client.delete(f"/v1/jurisdictions/{w.tree.code}/make-up-days/2026-10-10",
                                headers=w.commander.headers)).status_code == 204
    assert (await client.delete(f"/v1/jurisdictions/{w.tree.code}/make-up-days/2026-10-10",
                                headers=w.commander.headers)).status_code == 404
    # officers read but do not write; another county does not see this one's calendar
    r = await client.post(f"/v1/jurisdictions/{w.tree.code}/make-up-days", headers=w.officer.headers,
                          json={"day": SATURDAY})
    assert r.status_code == 403
    other = await make_tree(app)
    stranger = await make_person(app, client, role="commander", jurisdiction_code=other.code)
    r = await client.get(f"/v1/jurisdictions/{w.tree.code}/make-up-days", headers=stranger.headers)
    assert r.status_code == 404
    r = await client.post(f"/v1/jurisdictions/{w.tree.code}/make-up-days", headers=w.commander.headers,
                          json={"day": SATURDAY, "timetable_weekday": 8})
    assert r.status_code == 422


def _last_weekend_day(weekday: int) -> date:
    """The latest local date with this ISO weekday whose 07:30 has passed, within the last week."""
    now = datetime.now(SHANGHAI)
    day = now.date()
    while day.isoweekday() != weekday or datetime.combine(day, time(7, 30), tzinfo=SHANGHAI) > now:
        day -= timedelta(days=1)
    return day


async def test_a_check_in_on_a_make_up_day_falls_in_the_duty_window(app, client):
    w = await make_world(app, client)
    saturday, sunday = _last_weekend_day(6), _last_weekend_day(7)
    await _make_up(client, w, saturday.isoformat())
    for day, expected in ((saturday, True), (sunday, False)):
        at = datetime.combine(day, time(7, 30), tzinfo=SHANGHAI).astimezone(UTC)
        got = await check_in(client, w.officer, checkin_body(w, at, kind="arrive", post_id=w.post["id"]))
        assert got["in_duty_window"] is expected, day


async def test_nobody_at_the_post_on_a_make_up_saturday_raises_the_uncovered_alert(app, client):
    w = await make_world(app, client)
    await _make_up(client, w, SATURDAY)
    await _generate(client, w, SATURDAY, SATURDAY)
    opens = datetime(2026, 12, 12, 7, 0, tzinfo=SHANGHAI).astimezone(UTC)
    async with unit_of_work(app.state.pool) as db:
        raised = await alerts.sweep_uncovered_posts(db, opens + timedelta(minutes=6), grace_s=300)
    mine = [a for a in raised if str(a["post_id"]) == w.post["id"]]
    assert len(mine) == 1 and mine[0]["kind"] == "uncovered_post"
    assert str(mine[0]["officer_id"]) == w.officer.id and uuid.UUID(str(mine[0]["shift_id"]))


async def test_the_demo_counties_get_the_2026_holidays_and_make_up_days_once(app):
    from cli.demo import seed_jurisdictions
    from cli.demo_calendar import COUNTIES, MAKEUP_DAYS_2026, NON_SCHOOL_DAYS_2026, seed_calendar
    from domain import shifts

    async with unit_of_work(app.state.pool) as db:
        await seed_jurisdictions(db)
        await seed_calendar(db)
        assert await seed_calendar(db) == 0
        path = await db.fetchval("SELECT CAST(path AS text) FROM jurisdictions WHERE code = '500243001P1'")
        made_up = await shifts.makeup_weekdays(db, path=path, date_from=date(2026, 1, 1), date_to=date(2026, 12, 31))
        closed = {r["day"] for r in await db.fetch(
            "SELECT day FROM non_school_days WHERE jurisdiction_code = ANY(CAST(:c AS text[]))", {"c": list(COUNTIES)})}
    assert made_up == {d: 1 for d in MAKEUP_DAYS_2026}
    assert set(NON_SCHOOL_DAYS_2026) <= closed
    assert all(d.isoweekday() >= 6 for d in MAKEUP_DAYS_2026) and all(d.isoweekday() <= 5 for d in NON_SCHOOL_DAYS_2026)
