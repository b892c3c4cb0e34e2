"""Concurrency: simultaneous identical writes store one row and answer alike; simultaneous status changes of one
incident make one consistent lifecycle (the incident row is locked, `SELECT … FOR UPDATE`, for each change).

(Fifty simultaneous identical single check-ins: tests/test_checkins_ingest.py::
test_fifty_concurrent_posts_of_one_id_create_one_checkin — one row, one event, byte-identical answers.)
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta

from domain.database import unit_of_work
from domain.incidents import STATUS_RANK, STATUS_STAMP, STATUSES
from tests.test_checkins_ingest import checkin_body, hour_ago
from tests.test_duty_support import make_world as make_duty_world
from tests.test_incidents_support import arrival_body, count, incident_body, make_world, report

FIFTY = 50


async def test_fifty_concurrent_identical_batches_store_each_checkin_once(app, client):
    w = await make_duty_world(app, client)
    items = [checkin_body(w, hour_ago(0.1 + k / 100), north_m=5 + k, kind="heartbeat") for k in range(3)]
    answers = await asyncio.gather(*[client.post("/v1/checkins/batch", headers=w.officer.headers,
                                                 json={"items": items}) for _ in range(FIFTY)])
    assert {r.status_code for r in answers} == {200}
    for k, item in enumerate(items):
        results = [r.json()["results"][k] for r in answers]
        assert {x["id"] for x in results} == {item["id"]}
        assert sorted(x["status"] for x in results) == ["created"] + ["duplicate"] * (FIFTY - 1)
        assert len({repr(x["checkin"]) for x in results}) == 1  # every answer is the stored check-in
    ids = [i["id"] for i in items]
    assert await count(app, "SELECT count(*) FROM checkins WHERE id = ANY(CAST(:ids AS uuid[]))", ids=ids) == 3
    assert await count(app, "SELECT count(*) FROM checkin_keys WHERE id = ANY(CAST(:ids AS uuid[]))", ids=ids) == 3
    assert await count(app, "SELECT count(*) FROM events WHERE kind = 'checkin.created' "
                            "AND payload->>'id' = ANY(CAST(:ids AS text[]))", ids=ids) == 3


async def test_fifty_concurrent_identical_incidents_store_one_and_answer_alike(app, client):
    w = await make_world(app, client)
    body = {**incident_body(w, datetime.now(UTC) - timedelta(seconds=5)), "id": str(uuid.uuid4())}
    answers = await asyncio.gather(*[client.post("/v1/incidents", headers=w.officer.headers, json=body)
                                     for _ in range(FIFTY)])
    assert sorted(r.status_code for r in answers) == [200] * (FIFTY - 1) + [201]
    assert len({r.text for r in answers}) == 1
    assert await count(app, "SELECT count(*) FROM incidents WHERE id = :id", id=uuid.UUID(body["id"])) == 1
    assert await count(app, "SELECT count(*) FROM events WHERE kind = 'incident.created' AND payload->>'id' = :id",
                       id=body["id"]) == 1
    assert await count(app, "SELECT count(*) FROM audit_log WHERE entity = 'incident' AND action = 'create' "
                            "AND entity_id = :id", id=body["id"]) == 1


async def test_fifty_concurrent_identical_arrivals_store_one_and_answer_alike(app, client):
    w = await make_world(app, client)
    incident = await report(client, w, w.commander, datetime.now(UTC) - timedelta(seconds=90))
    body = arrival_body(incident, w.officer, 3, 40)
    answers = await asyncio.gather(*[client.post(f"/v1/incidents/{incident['id']}/arrivals",
                                                 headers=w.officer.headers, json=body) for _ in range(FIFTY)])
    assert sorted(r.status_code for r in answers) == [200] * (FIFTY - 1) + [201]
    assert len({r.text for r in answers}) == 1
    assert await count(app, "SELECT count(*) FROM arrivals WHERE id = :id", id=uuid.UUID(body["id"])) == 1
    assert await count(app, "SELECT count(*) FROM events WHERE kind = 'incident.arrival' "
                            "AND payload->>'arrival_id' = :id", id=body["id"]) == 1


async def _lifecycle(app, incident_id: str) -> tuple[dict, list[dict]]:
    async with unit_of_work(app.state.pool) as db:
        row = dict(await db.fetchrow(
            "SELECT status, dispatched_at, on_scene_at, controlled_at, closed_at FROM incidents WHERE id = :id",
            {"id": uuid.UUID(incident_id)}))
        changes = [r["changes"] for r in await db.fetch(
            "SELECT changes FROM audit_log WHERE entity = 'incident' AND action = 'update' AND entity_id = :id "
            "ORDER BY id", {"id": incident_id})]
    return row, changes


async def test_twenty_concurrent_status_changes_make_one_consistent_lifecycle(app, client):
    w = await make_world(app, client)
    rng = random.Random(13)
    for _ in range(5):
        incident = await report(client, w, w.commander, datetime.now(UTC) - timedelta(seconds=30))
        targets = [rng.choice(STATUSES[1:]) for _ in range(20)]
        answers = await asyncio.gather(*[client.patch(f"/v1/incidents/{incident['id']}", headers=w.commander.headers,
                                                      json={"status": t}) for t in targets])
        codes = [r.status_code for r in answers]
        assert set(codes) <= {200, 409}, [r.text for r in answers if r.status_code not in (200, 409)]
        for target, r in zip(targets, answers, strict=True):
            if r.status_code == 200:
                assert r.json()["status"] == target  # applied, or already there
            else:
                assert r.headers["content-type"].startswith("application/problem+json")
        row, changes = await _lifecycle(app, incident["id"])
        final = max(targets, key=STATUS_RANK.get)
        assert row["status"] == final  # the furthest target always wins: it is never "backwards"

        # The applied transitions form one forward chain from `open` to the final status …
        chain = [c["status"] for c in changes]
        assert [c["from"] for c in chain] == ["open"] + [c["to"] for c in chain[:-1]]
        assert all(STATUS_RANK[c["to"]] > STATUS_RANK[c["from"]] for c in chain)
        assert chain[-1]["to"] == final
        # … one 200 per applied transition and per target that was already reached; the rest are 409 (backwards)
        reached = {c["to"] for c in chain}
        assert sum(c == 200 for c in codes) >= len(chain)
        assert all(t in reached for t, c in zip(targets, codes, strict=True) if c == 200)
        # … and each stage reached has its stamp, the skipped ones none, in the order of the stages.
        stamps = [(s, row[STATUS_STAMP[s]]) for s in STATUSES[1:]]
        assert {s for s, at in stamps if at is not None} == reached
        times = [at for _, at in stamps if at is not None]
        assert times == sorted(times), stamps
        events = await count(app, "SELECT count(*) FROM events WHERE kind = 'incident.updated' "
                                  "AND payload->>'id' = :id", id=incident["id"])
        assert events == len(chain)


async def test_arrivals_racing_the_closing_of_an_incident_are_stored_only_before_it(app, client):
    w = await make_world(app, client)
    incident = await report(client, w, w.commander, datetime.now(UTC) - timedelta(seconds=90))
    bodies = [arrival_body(incident, w.officer, 3, 10 + k) for k in range(10)]
    calls = [client.post(f"/v1/incidents/{incident['id']}/arrivals", headers=w.officer.headers, json=b)
             for b in bodies]
    calls.insert(5, client.patch(f"/v1/incidents/{incident['id']}", headers=w.commander.headers,
                                 json={"status": "closed"}))
    answers = await asyncio.gather(*calls)
    closing = answers.pop(5)
    assert closing.status_code == 200 and closing.json()["status"] == "closed"
    assert {r.status_code for r in answers} <= {201, 409}
    stored = await count(app, "SELECT count(*) FROM arrivals WHERE incident_id = :id",
                         id=uuid.UUID(incident["id"]))
    assert stored == sum(r.status_code == 201 for r in answers)
    async with unit_of_work(app.state.pool) as db:  # the feed's log: every stored arrival came before the closing
        kinds = [r["kind"] for r in await db.fetch("""
            SELECT kind FROM events WHERE kind IN ('incident.arrival', 'incident.updated')
              AND COALESCE(payload->>'incident_id', payload->>'id') = :id ORDER BY id
        """, {"id": incident["id"]})]
    assert kinds == ["incident.arrival"] * stored + ["incident.updated"]


async def test_a_change_that_waited_for_the_lock_is_never_stamped_before_the_stages_it_follows(app, client):
    """The server clock is read when a request arrives, the row lock is granted later: a request that read the
    clock first may be applied second. Its stamp must still not precede the stages already stamped."""
    from api.deps import server_now

    w = await make_world(app, client)
    t = datetime.now(UTC).replace(microsecond=0)
    incident = await report(client, w, w.commander, t - timedelta(seconds=30))
    readings = iter([t + timedelta(seconds=10), t + timedelta(seconds=5), t + timedelta(seconds=20)])
    app.dependency_overrides[server_now] = lambda: next(readings)
    try:
        for status in ("dispatched", "on_scene", "closed"):
            r = await client.patch(f"/v1/incidents/{incident['id']}", headers=w.commander.headers,
                                   json={"status": status})
            assert r.status_code == 200, r.text
    finally:
        app.dependency_overrides.pop(server_now, None)
    row, _ = await _lifecycle(app, incident["id"])
    assert row["dispatched_at"] == t + timedelta(seconds=10)
    assert row["on_scene_at"] == t + timedelta(seconds=10)  # applied after dispatch: not at its earlier reading
    assert row["closed_at"] == t + timedelta(seconds=20)
