"""OWASP API6:2023 — sensitive business flows: covering a post without being there, acting in another's name.

Only the officer assigned to a shift at a post, checking in for that shift, covers the post: a colleague without
the shift, or an officer of another county, standing at the post silences nothing. (Arrivals recorded for
someone else are in test_owasp_api1_object_level.py.)
"""

from __future__ import annotations

from datetime import timedelta

from api.deps import server_now
from domain import alerts
from domain.database import unit_of_work
from tests.test_duty_support import batch, checkin_body, hour_ago, make_shift, make_world

MIN = timedelta(minutes=1)


async def _uncovered(app, w, now) -> list[str]:
    async with unit_of_work(app.state.pool) as db:
        raised = await alerts.sweep_uncovered_posts(db, now, grace_s=300)
    return [str(a["post_id"]) for a in raised if a["school_id"] is not None and str(a["school_id"]) == w.school["id"]]


async def test_a_colleague_without_the_shift_does_not_cover_the_post(app, client):
    w = await make_world(app, client)
    start = hour_ago(2 * 24)
    await make_shift(client, w, start, start + 90 * MIN)  # w.officer's shift
    # officer2 has no shift there but stands inside the geofence naming the post
    results = (await batch(client, w.officer2, [checkin_body(w, start + MIN, post_id=w.post["id"])]))["results"]
    assert results[0]["checkin"]["geofence"] == "inside" and "no_shift" in results[0]["checkin"]["flags"]
    assert await _uncovered(app, w, start + 6 * MIN) == [w.post["id"]]


async def test_an_officer_of_another_county_cannot_cover_the_post(app, client):
    w, stranger = await make_world(app, client), await make_world(app, client)
    start = hour_ago(2 * 24 + 3)
    await make_shift(client, w, start, start + 90 * MIN)
    body = checkin_body(w, start + MIN)  # at the post, no post named: a zone check-in
    results = (await batch(client, stranger.officer, [body]))["results"]
    assert results[0]["status"] == "created" and results[0]["checkin"]["post_id"] is None
    assert await _uncovered(app, w, start + 6 * MIN) == [w.post["id"]]


async def test_the_assigned_officer_covers_the_post(app, client):
    w = await make_world(app, client)
    start = hour_ago(2 * 24 + 6)
    await make_shift(client, w, start, start + 90 * MIN)
    results = (await batch(client, w.officer, [checkin_body(w, start + MIN)]))["results"]
    assert results[0]["checkin"]["shift_id"] is not None and results[0]["checkin"]["geofence"] == "inside"
    assert await _uncovered(app, w, start + 6 * MIN) == []


async def test_a_substitute_covers_once_the_shift_is_reassigned(app, client):
    w = await make_world(app, client)
    start = hour_ago(2 * 24 + 9)
    shift = await make_shift(client, w, start, start + 90 * MIN)
    app.dependency_overrides[server_now] = lambda: start - 60 * MIN  # reassigned the hour before it began
    try:
        r = await client.patch(f"/v1/shifts/{shift['id']}", headers=w.commander.headers,
                               json={"officer_id": w.officer2.id})
    finally:
        app.dependency_overrides.pop(server_now, None)
    assert r.status_code == 200, r.text
    results = (await batch(client, w.officer, [checkin_body(w, start + MIN, shift_id=shift["id"])]))["results"]
    assert results[0]["status"] == "rejected"  # no longer the first officer's shift
    results = (await batch(client, w.officer2, [checkin_body(w, start + MIN)]))["results"]
    assert results[0]["checkin"]["shift_id"] == shift["id"]
    assert await _uncovered(app, w, start + 6 * MIN) == []
