"""The 1/3/5 rule through the API on real PostGIS: arrivals, far-from-scene, the clock, order, bad input."""
# ruff: noqa: F811  (the `clock` fixture is imported from tests/test_incidents_support.py)

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from domain.scoring import POLICY_135_V1, Arrival, score_response
from tests.test_incidents_support import (  # noqa: F401  (clock is a fixture)
    arrival_body,
    arrive,
    clock,
    count,
    make_world,
    report,
    states,
)


async def _score(client, w, inc):
    r = await client.get(f"/v1/incidents/{inc['id']}/score", headers=w.commander.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_police_arriving_first_at_50s_meets_all_three_tiers(app, client, clock):
    w = await make_world(app, client)
    inc = await report(client, w, w.officer, clock.at(-60))
    a = await arrive(client, w.commander, inc, w.police, 3, 50)
    assert a["counts"] is True and a["far_from_scene"] is False and a["elapsed_s"] == 50
    score = await _score(client, w, inc)
    assert score == {"policy": "1-3-5@v1", "compliant": True, "tiers": [
        {"tier": 1, "limit_s": 60, "elapsed_s": 50.0, "state": "met"},
        {"tier": 2, "limit_s": 180, "elapsed_s": 50.0, "state": "met"},
        {"tier": 3, "limit_s": 300, "elapsed_s": 50.0, "state": "met"}]}
    got = (await client.get(f"/v1/incidents/{inc['id']}", headers=w.officer.headers)).json()
    assert got["score"] == score
    assert got["status"] == "on_scene"
    assert datetime.fromisoformat(got["on_scene_at"]) == datetime.fromisoformat(a["arrived_at"])


async def test_only_a_guard_at_70s_misses_tier_1_and_meets_nothing_else_until_others_arrive(app, client, clock):
    w = await make_world(app, client)
    inc = await report(client, w, w.officer, clock.at(-75))
    await arrive(client, w.commander, inc, w.guard, 1, 70)
    score = await _score(client, w, inc)
    assert score["tiers"][0] == {"tier": 1, "limit_s": 60, "elapsed_s": 70.0, "state": "missed"}
    assert states(score) == {1: "missed", 2: "pending", 3: "pending"} and score["compliant"] is False
    clock.now = clock.at(100)  # 175 s after the alarm
    await arrive(client, w.commander, inc, w.aux, 2, 170)
    await arrive(client, w.commander, inc, w.police, 3, 175)
    score = await _score(client, w, inc)
    assert states(score) == {1: "missed", 2: "met", 3: "met"}
    assert [t["elapsed_s"] for t in score["tiers"]] == [70.0, 170.0, 175.0]


async def test_arrival_exactly_at_60_0s_meets(app, client, clock):
    w = await make_world(app, client)
    inc = await report(client, w, w.officer, clock.at(-100))
    await arrive(client, w.commander, inc, w.guard, 1, 60.0)
    assert states(await _score(client, w, inc))[1] == "met"
    inc2 = await report(client, w, w.officer, clock.at(-100))
    await arrive(client, w.commander, inc2, w.guard, 1, 60.001)
    assert states(await _score(client, w, inc2))[1] == "missed"


async def test_far_from_scene_arrival_is_flagged_and_ignored(app, client, clock):
    w = await make_world(app, client)
    inc = await report(client, w, w.officer, clock.at(-100))
    far = await arrive(client, w.commander, inc, w.police, 3, 30, east_m=400)
    assert far["far_from_scene"] is True and far["counts"] is False and "far_from_scene" in far["flags"]
    assert 395 < far["distance_m"] < 405
    score = await _score(client, w, inc)
    assert states(score) == {1: "missed", 2: "pending", 3: "pending"}
    got = (await client.get(f"/v1/incidents/{inc['id']}", headers=w.officer.headers)).json()
    assert got["status"] == "open"  # a far arrival does not put anyone on scene


async def test_far_is_judged_with_the_reported_accuracy(app, client, clock):
    w = await make_world(app, client)
    inc = await report(client, w, w.officer, clock.at(-100))
    near_enough = await arrive(client, w.commander, inc, w.police, 3, 30, east_m=160, accuracy_m=20)
    too_far = await arrive(client, w.commander, inc, w.police, 3, 40, east_m=160, accuracy_m=5)
    at_limit = await arrive(client, w.commander, inc, w.police, 3, 50, east_m=149)
    assert near_enough["counts"] is True and too_far["counts"] is False and at_limit["counts"] is True


async def test_pending_becomes_missed_as_time_passes(app, client, clock):
    w = await make_world(app, client)
    inc = await report(client, w, w.officer, clock.at(-10))
    await arrive(client, w.commander, inc, w.guard, 1, 5)
    assert states(await _score(client, w, inc)) == {1: "met", 2: "pending", 3: "pending"}
    clock.now = clock.at(170)  # 180 s after the alarm: still in time
    assert states(await _score(client, w, inc)) == {1: "met", 2: "pending", 3: "pending"}
    clock.now = clock.at(1)  # 181 s
    score = await _score(client, w, inc)
    assert states(score) == {1: "met", 2: "missed", 3: "pending"} and score["compliant"] is False
    assert score["tiers"][1]["elapsed_s"] is None
    clock.now = clock.at(120)  # 301 s
    assert states(await _score(client, w, inc)) == {1: "met", 2: "missed", 3: "missed"}


async def test_out_of_order_arrival_posting_gives_the_same_score(app, client, clock):
    w = await make_world(app, client)
    plan = [(w.guard, 1, 55), (w.aux, 2, 200), (w.police, 3, 240), (w.police, 3, 30, {"east_m": 500})]
    clock.now = clock.at(0)
    a = await report(client, w, w.officer, clock.at(-280))
    b = await report(client, w, w.officer, clock.at(-280))
    for inc, order in ((a, plan), (b, list(reversed(plan)))):
        for responder, tier, s, *extra in order:
            await arrive(client, w.commander, inc, responder, tier, s, **(extra[0] if extra else {}))
    sa, sb = await _score(client, w, a), await _score(client, w, b)
    assert sa == sb
    assert [t["elapsed_s"] for t in sa["tiers"]] == [55.0, 200.0, 240.0]
    assert states(sa) == {1: "met", 2: "missed", 3: "met"}


async def test_each_arrival_stores_the_score_and_publishes_events(app, client, clock):
    w = await make_world(app, client)
    inc = await report(client, w, w.officer, clock.at(-100))
    await arrive(client, w.commander, inc, w.guard, 1, 50)
    await arrive(client, w.commander, inc, w.guard, 1, 55)  # changes nothing in the score
    iid = uuid.UUID(inc["id"])
    assert await count(app, "SELECT count(*) FROM events WHERE kind = 'incident.arrival' "
                            "AND payload->>'incident_id' = :id", id=inc["id"]) == 2
    assert await count(app, "SELECT count(*) FROM events WHERE kind = 'incident.score' "
                            "AND payload->>'incident_id' = :id", id=inc["id"]) == 1
    assert await count(app, "SELECT count(*) FROM incident_scores WHERE incident_id = :id "
                            "AND policy_key = '1-3-5@v1' AND tier1_state = 'met' AND tier1_elapsed_s = 50", id=iid) == 1
    listed = (await client.get(f"/v1/incidents/{inc['id']}/arrivals", headers=w.officer.headers)).json()
    assert [x["elapsed_s"] for x in listed] == [50, 55]


async def test_replayed_arrival_returns_the_original_and_another_body_is_409(app, client, clock):
    w = await make_world(app, client)
    inc = await report(client, w, w.officer, clock.at(-100))
    body = arrival_body(inc, w.officer, 1, 40)
    url = f"/v1/incidents/{inc['id']}/arrivals"
    first = await client.post(url, headers=w.officer.headers, json=body)
    again = await client.post(url, headers=w.officer.headers, json=body)
    assert first.status_code == 201 and again.status_code == 200 and again.json() == first.json()
    other = await client.post(url, headers=w.officer.headers, json={**body, "tier": 2})
    assert other.status_code == 409
    await client.patch(f"/v1/incidents/{inc['id']}", headers=w.commander.headers, json={"status": "closed"})
    after_close = await client.post(url, headers=w.officer.headers, json=body)
    assert after_close.status_code == 200  # a phone syncing late still gets its answer
    assert await count(app, "SELECT count(*) FROM arrivals WHERE incident_id = :id", id=uuid.UUID(inc["id"])) == 1


async def test_concurrent_replays_of_one_arrival_record_it_once(app, client, clock):
    w = await make_world(app, client)
    inc = await report(client, w, w.officer, clock.at(-100))
    body = arrival_body(inc, w.officer, 1, 40)
    url = f"/v1/incidents/{inc['id']}/arrivals"
    answers = await asyncio.gather(*[client.post(url, headers=w.officer.headers, json=body) for _ in range(6)])
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201]
    assert await count(app, "SELECT count(*) FROM arrivals WHERE incident_id = :id", id=uuid.UUID(inc["id"])) == 1
    assert await count(app, "SELECT count(*) FROM events WHERE kind = 'incident.arrival' "
                            "AND payload->>'incident_id' = :id", id=inc["id"]) == 1


async def test_concurrent_arrivals_all_count_in_the_final_score(app, client, clock):
    w = await make_world(app, client)
    inc = await report(client, w, w.officer, clock.at(-400))
    bodies = [arrival_body(inc, w.guard, 1, 70), arrival_body(inc, w.aux, 2, 150),
              arrival_body(inc, w.police, 3, 290)]
    url = f"/v1/incidents/{inc['id']}/arrivals"
    answers = await asyncio.gather(*[client.post(url, headers=w.commander.headers, json=b) for b in bodies])
    assert [a.status_code for a in answers] == [201] * 3
    stored = await count(app, "SELECT count(*) FROM incident_scores WHERE incident_id = :id AND compliant = false "
                              "AND tier2_state = 'met' AND tier3_state = 'met'", id=uuid.UUID(inc["id"]))
    assert stored == 1  # the last rescoring saw every arrival (the incident row lock serialises them)


@pytest.mark.parametrize("case", ["before_alarm", "hours_after", "future", "tier_4", "tier_0", "outsider",
                                  "unknown_responder", "guard_as_police", "bad_accuracy", "closed"])
async def test_bad_arrival_is_refused_precisely_and_writes_nothing(app, client, clock, case):
    w = await make_world(app, client)
    inc = await report(client, w, w.officer, clock.at(-100))
    body = arrival_body(inc, w.officer, 3, 50)
    actor = w.officer
    expect_status, expect_field = 422, None
    if case == "before_alarm":
        body = arrival_body(inc, w.officer, 3, -1)
        expect_field = "arrived_at"
    elif case == "hours_after":
        clock.now = clock.at(7 * 3600)
        body = arrival_body(inc, w.officer, 3, 6 * 3600 + 1)
        expect_field = "arrived_at"
    elif case == "future":
        body = arrival_body(inc, w.officer, 3, 100 + 121)
        expect_field = "arrived_at"
    elif case in ("tier_4", "tier_0"):
        body["tier"] = 4 if case == "tier_4" else 0
        expect_field = "tier"
    elif case == "outsider":  # an officer records only his own arrival
        body["responder_id"] = w.outsider.id
        expect_status, expect_field = 403, "responder_id"
    elif case == "unknown_responder":
        body["responder_id"] = str(uuid.uuid4())
        actor, expect_field = w.commander, "responder_id"
    elif case == "guard_as_police":
        body = arrival_body(inc, w.guard, 3, 50)
        actor, expect_field = w.commander, "tier"
    elif case == "bad_accuracy":
        body["accuracy_m"] = -3
        expect_field = "accuracy_m"
    elif case == "closed":
        await client.patch(f"/v1/incidents/{inc['id']}", headers=w.commander.headers, json={"status": "closed"})
        expect_status = 409
    r = await client.post(f"/v1/incidents/{inc['id']}/arrivals", headers=actor.headers, json=body)
    assert r.status_code == expect_status, r.text
    if expect_field:
        assert r.json()["errors"][0]["field"] == expect_field, r.json()
    assert await count(app, "SELECT count(*) FROM arrivals WHERE incident_id = :id", id=uuid.UUID(inc["id"])) == 0
    assert await count(app, "SELECT count(*) FROM events WHERE kind = 'incident.arrival' "
                            "AND payload->>'incident_id' = :id", id=inc["id"]) == 0


async def test_arrival_on_an_incident_outside_scope_is_404(app, client, clock):
    w = await make_world(app, client)
    inc = await report(client, w, w.officer, clock.at(-100))
    r = await client.post(f"/v1/incidents/{inc['id']}/arrivals", headers=w.outsider.headers,
                          json=arrival_body(inc, w.outsider, 3, 50))
    assert r.status_code == 404


# --- the endpoint agrees with the pure rule ------------------------------------------------------------

ARRIVALS = st.lists(st.tuples(st.sampled_from([1, 2, 3]), st.integers(min_value=0, max_value=400),
                              st.booleans()), min_size=0, max_size=4)


async def test_endpoint_score_equals_the_pure_function_on_random_arrivals(app, client, clock):
    w = await make_world(app, client)
    responders = {1: w.guard, 2: w.aux, 3: w.police}
    loop = asyncio.get_running_loop()

    async def example(arrivals, now_s):
        alarm = clock.now
        inc = await report(client, w, w.officer, alarm)
        now = alarm + timedelta(seconds=max([now_s] + [s for _, s, _ in arrivals]))
        clock.now = now
        try:
            for tier, s, far in arrivals:
                await arrive(client, w.commander, inc, responders[tier], tier, s, east_m=400 if far else 0)
            got = await _score(client, w, inc)
        finally:
            clock.now = alarm
        expected = score_response(
            alarm_at=alarm, now=now, policy=POLICY_135_V1,
            arrivals=[Arrival(tier=t, arrived_at=alarm + timedelta(seconds=s), counts=not far)
                      for t, s, far in arrivals])
        assert got == expected.as_dict()

    # Hypothesis is synchronous: it runs in a worker thread and hands each example back to this loop.
    @hsettings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(arrivals=ARRIVALS, now_s=st.integers(min_value=0, max_value=450))
    def check(arrivals, now_s):
        asyncio.run_coroutine_threadsafe(example(arrivals, now_s), loop).result(timeout=60)

    await asyncio.to_thread(check)
