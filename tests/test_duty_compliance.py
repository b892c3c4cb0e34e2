"""Compliance: per-shift verdicts from check-ins for a local date, summaries, time zones and midnight."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.factories import make_person, make_tree
from tests.test_duty_support import batch, checkin_body, make_shift, make_world

MIN = timedelta(minutes=1)


def local_day(tz: str, days_ago: int):
    return (datetime.now(UTC).astimezone(ZoneInfo(tz)) - timedelta(days=days_ago)).date()


def at_local(day, hh: int, mm: int, tz: str) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=ZoneInfo(tz)).astimezone(UTC)


async def _heartbeats(client, w, officer, times, *, depart_at=None, north_m=5.0):
    items = [checkin_body(w, t, kind="arrive" if n == 0 else "heartbeat", north_m=north_m)
             for n, t in enumerate(times)]
    if depart_at is not None:
        items.append(checkin_body(w, depart_at, kind="depart", north_m=north_m))
    if items:
        results = (await batch(client, officer, items))["results"]
        assert all(r["status"] == "created" for r in results), results


async def _four_shifts(app, client, *, tz="Asia/Shanghai"):
    w = await make_world(app, client, time_zone=tz)
    late = await make_person(app, client, role="officer", jurisdiction_code=w.tree.station_a)
    partial = await make_person(app, client, role="officer", jurisdiction_code=w.tree.station_a)
    absent = await make_person(app, client, role="officer", jurisdiction_code=w.tree.station_a)
    day = local_day(tz, 2)
    start = at_local(day, 7, 0, tz)
    end = start + 90 * MIN
    for o in (w.officer, late, partial, absent):
        await make_shift(client, w, start, end, officer=o)
    await _heartbeats(client, w, w.officer, [start - 2 * MIN + 4 * MIN * i for i in range(23)])
    await _heartbeats(client, w, late, [start + 10 * MIN + 4 * MIN * i for i in range(20)])
    await _heartbeats(client, w, partial, [start + 4 * MIN * i for i in range(10)], depart_at=start + 40 * MIN)
    await _heartbeats(client, w, absent, [start + 5 * MIN], north_m=400)  # seen, but never at the post
    return w, day, start, {"kept": w.officer, "late": late, "partial": partial, "absent": absent}


async def test_verdicts_kept_late_partial_absent_for_a_morning_crossing_utc_midnight(app, client):
    w, day, start, people = await _four_shifts(app, client)
    assert start.hour == 23  # 07:00 in Shanghai is 23:00 UTC the day before
    r = await client.get("/v1/duty/compliance", headers=w.commander.headers,
                         params={"date": day.isoformat(), "school_id": w.school["id"]})
    assert r.status_code == 200, r.text
    by_officer = {i["officer_id"]: i for i in r.json()["items"]}
    kept, late = by_officer[people["kept"].id], by_officer[people["late"].id]
    partial, absent = by_officer[people["partial"].id], by_officer[people["absent"].id]
    assert kept["verdict"] == "kept" and kept["late_s"] == 0 and kept["coverage_ratio"] == 1.0
    assert kept["arrived_at"] == (start - 2 * MIN).isoformat().replace("+00:00", "Z")
    assert late["verdict"] == "late" and late["late_s"] == 600 and late["coverage_ratio"] == pytest.approx(0.889)
    assert partial["verdict"] == "partial" and partial["left_early_s"] == 3000
    assert partial["coverage_ratio"] == pytest.approx(0.444)
    assert absent["verdict"] == "absent" and absent["arrived_at"] is None and absent["late_s"] is None
    assert all(not i["in_progress"] for i in r.json()["items"])
    # the shift belongs to its local date, not to the UTC date it starts on
    r = await client.get("/v1/duty/compliance", headers=w.commander.headers,
                         params={"date": (day - timedelta(days=1)).isoformat(), "school_id": w.school["id"]})
    assert r.json()["items"] == []


async def test_summary_per_school_and_per_jurisdiction(app, client):
    w, day, _, _ = await _four_shifts(app, client)
    r = await client.get("/v1/duty/compliance/summary", headers=w.commander.headers,
                         params={"date": day.isoformat(), "jurisdiction_code": w.tree.code})
    assert r.status_code == 200, r.text
    [group] = r.json()["groups"]
    assert group["key"] == w.school["id"]
    assert {k: group[k] for k in ("shifts", "kept", "late", "partial", "absent", "upcoming")} == {
        "shifts": 4, "kept": 1, "late": 1, "partial": 1, "absent": 1, "upcoming": 0}
    assert group["kept_ratio"] == 0.25
    r = await client.get("/v1/duty/compliance/summary", headers=w.commander.headers,
                         params={"date": day.isoformat(), "jurisdiction_code": w.tree.code,
                                 "group_by": "jurisdiction"})
    [group] = r.json()["groups"]
    assert group["key"] == w.tree.station_a and group["shifts"] == 4


async def test_compliance_is_scoped_and_paged(app, client):
    w, day, _, people = await _four_shifts(app, client)
    page = (await client.get("/v1/duty/compliance", headers=w.commander.headers,
                             params={"date": day.isoformat(), "jurisdiction_code": w.tree.code, "limit": 3})).json()
    assert len(page["items"]) == 3 and page["next_cursor"]
    rest = (await client.get("/v1/duty/compliance", headers=w.commander.headers,
                             params={"date": day.isoformat(), "jurisdiction_code": w.tree.code,
                                     "cursor": page["next_cursor"]})).json()
    assert len(rest["items"]) == 1
    mine = (await client.get("/v1/duty/compliance", headers=people["late"].headers,
                             params={"date": day.isoformat()})).json()["items"]
    assert [i["officer_id"] for i in mine] == [people["late"].id]
    other = await make_tree(app)
    stranger = await make_person(app, client, role="commander", jurisdiction_code=other.code)
    r = await client.get("/v1/duty/compliance", headers=stranger.headers,
                         params={"date": day.isoformat(), "school_id": w.school["id"]})
    assert r.json()["items"] == []


async def test_evening_shift_in_new_york_crossing_utc_midnight_is_judged_on_its_local_date(app, client):
    tz = "America/New_York"
    w = await make_world(app, client, time_zone=tz)
    day = local_day(tz, 2)
    start = at_local(day, 18, 30, tz)
    assert start.date() != (start + 90 * MIN).date() or start.hour >= 22  # 23:30Z (EST) or 22:30Z (EDT)
    await make_shift(client, w, start, start + 90 * MIN)
    await _heartbeats(client, w, w.officer, [start + 4 * MIN * i for i in range(23)])
    items = (await client.get("/v1/duty/compliance", headers=w.commander.headers,
                              params={"date": day.isoformat(), "school_id": w.school["id"]})).json()["items"]
    assert [(i["verdict"], i["coverage_ratio"]) for i in items] == [("kept", 1.0)]
    summary = (await client.get("/v1/duty/compliance/summary", headers=w.commander.headers,
                                params={"date": (day + timedelta(days=1)).isoformat(),
                                        "school_id": w.school["id"]})).json()
    assert summary["groups"] == []


async def test_a_shift_in_progress_is_provisional_and_an_upcoming_one_says_so(app, client):
    w = await make_world(app, client)
    now = datetime.now(UTC).replace(microsecond=0)
    tz = ZoneInfo("Asia/Shanghai")
    running = await make_shift(client, w, now - 10 * MIN, now + 50 * MIN)
    upcoming = await make_shift(client, w, now + 2 * 60 * MIN, now + 3 * 60 * MIN)
    await _heartbeats(client, w, w.officer, [now - 9 * MIN, now - 5 * MIN, now - MIN])
    days = {(now - 10 * MIN).astimezone(tz).date(), (now + 2 * 60 * MIN).astimezone(tz).date()}
    items = []
    for d in days:
        items += (await client.get("/v1/duty/compliance", headers=w.commander.headers,
                                   params={"date": d.isoformat(), "school_id": w.school["id"]})).json()["items"]
    by_id = {i["shift_id"]: i for i in items}
    assert by_id[running["id"]]["in_progress"] is True and by_id[running["id"]]["verdict"] == "kept"
    assert by_id[upcoming["id"]]["verdict"] == "upcoming"
