"""Scoring policies, recompute under a new policy, and response-time statistics (percentiles in SQL)."""
# ruff: noqa: F811  (the `clock` fixture is imported from tests/test_incidents_support.py)

from __future__ import annotations

import secrets
import uuid

from tests.factories import make_person
from tests.test_incidents_support import (  # noqa: F401  (clock is a fixture)
    arrive,
    clock,
    count,
    make_world,
    report,
)


def percentile_cont(values: list[float], p: float) -> float:
    v = sorted(values)
    pos = p * (len(v) - 1)
    lo, hi = int(pos), min(int(pos) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


async def _dataset(app, client, clock):
    """Five incidents in one school's zone: met, partly met, fully met, pending, late police."""
    w = await make_world(app, client)
    a = await report(client, w, w.officer, clock.at(-1000), category="bullying")
    await arrive(client, w.commander, a, w.police, 3, 50)
    b = await report(client, w, w.officer, clock.at(-1000), category="bullying")
    await arrive(client, w.commander, b, w.guard, 1, 70)
    c = await report(client, w, w.officer, clock.at(-1000), category="traffic")
    await arrive(client, w.commander, c, w.guard, 1, 30)
    await arrive(client, w.commander, c, w.aux, 2, 100)
    await arrive(client, w.commander, c, w.police, 3, 250)
    d = await report(client, w, w.officer, clock.at(-10), category="traffic")
    e = await report(client, w, w.officer, clock.at(-1000), category="traffic")
    await arrive(client, w.commander, e, w.guard, 1, 40)
    await arrive(client, w.commander, e, w.police, 3, 400)
    return w, {"a": a, "b": b, "c": c, "d": d, "e": e}


async def _stats(client, w, clock, **params):
    q = {"from": clock.at(-5000).isoformat(), "to": clock.at(10).isoformat(), "jurisdiction_code": w.tree.station_a,
         **params}
    r = await client.get("/v1/stats/response-times", headers=w.commander.headers, params=q)
    assert r.status_code == 200, r.text
    return r.json()


def _tier(group: dict, k: int) -> dict:
    return next(t for t in group["tiers"] if t["tier"] == k)


async def test_response_time_statistics_per_category(app, client, clock):
    w, _ = await _dataset(app, client, clock)
    stats = await _stats(client, w, clock, group_by="category")
    assert stats["policy"] == "1-3-5@v1"
    groups = {g["group"]: g for g in stats["groups"]}
    assert set(groups) == {"bullying", "traffic"}
    bullying, traffic = groups["bullying"], groups["traffic"]
    assert bullying["incidents"] == 2 and traffic["incidents"] == 3

    t1 = _tier(bullying, 1)
    assert (t1["met"], t1["missed"], t1["pending"], t1["missed_no_arrival"]) == (1, 1, 0, 0)
    assert t1["met_ratio"] == 0.5 and t1["p50_s"] == 60.0 and t1["p90_s"] == round(percentile_cont([50, 70], .9), 1)
    assert t1["p90_compliant"] is False and t1["limit_s"] == 60
    t2 = _tier(bullying, 2)  # the guard-only incident never got tier 2: missed, no elapsed time
    assert (t2["met"], t2["missed"], t2["missed_no_arrival"]) == (1, 1, 1)
    assert t2["met_ratio"] == 0.5 and t2["p50_s"] == 50.0 and t2["p90_s"] == 50.0

    t1 = _tier(traffic, 1)  # the fresh incident is still pending: left out of the ratio and percentiles
    assert (t1["met"], t1["missed"], t1["pending"]) == (2, 0, 1)
    assert t1["met_ratio"] == 1.0 and t1["p50_s"] == 35.0 and t1["p90_s"] == 39.0 and t1["p90_compliant"] is True
    t2 = _tier(traffic, 2)
    assert (t2["met"], t2["missed"], t2["pending"]) == (1, 1, 1)
    assert t2["p50_s"] == 250.0 and t2["p90_s"] == 370.0
    t3 = _tier(traffic, 3)
    assert t3["p50_s"] == 325.0 and t3["p90_s"] == 385.0 and t3["met_ratio"] == 0.5


async def test_statistics_turn_stale_pending_into_missed(app, client, clock):
    w, _ = await _dataset(app, client, clock)
    clock.now = clock.at(1000)  # the fresh incident's deadlines have all passed; nothing was rescored
    traffic = next(g for g in (await _stats(client, w, clock, group_by="category"))["groups"]
                   if g["group"] == "traffic")
    t1 = _tier(traffic, 1)
    assert (t1["met"], t1["missed"], t1["pending"], t1["missed_no_arrival"]) == (2, 1, 0, 1)
    assert t1["met_ratio"] == round(2 / 3, 4) and t1["p50_s"] == 35.0  # no elapsed time for a no-show


async def test_statistics_by_jurisdiction_school_and_local_hour(app, client, clock):
    w, _ = await _dataset(app, client, clock)
    by_j = (await _stats(client, w, clock, group_by="jurisdiction"))["groups"]
    assert [(g["group"], g["incidents"], g["label"]) for g in by_j] == [(w.tree.station_a, 5, "Station A")]
    by_s = (await _stats(client, w, clock, group_by="school"))["groups"]
    assert [(g["group"], g["label"]) for g in by_s] == [(w.school["id"], "Test school")]
    by_h = (await _stats(client, w, clock, group_by="hour"))["groups"]
    assert [g["group"] for g in by_h] == ["15"]  # 07:13–07:30 UTC is 15:xx in Asia/Shanghai
    other = await client.get("/v1/stats/response-times", headers=w.outsider.headers,
                             params={"from": clock.at(-5000).isoformat(), "to": clock.at(10).isoformat()})
    assert all(g["group"] != w.tree.station_a for g in other.json()["groups"])
    bad = await client.get("/v1/stats/response-times", headers=w.commander.headers,
                           params={"from": clock.at(-5000).isoformat(), "to": clock.at(10).isoformat(),
                                   "group_by": "weather"})
    assert bad.status_code == 422
    backwards = await client.get("/v1/stats/response-times", headers=w.commander.headers,
                                 params={"from": clock.at(10).isoformat(), "to": clock.at(-10).isoformat()})
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "to"


async def test_policies_are_listed_and_only_admins_add_versions(app, client, clock):
    w = await make_world(app, client)
    admin = await make_person(app, client, role="admin", jurisdiction_code=w.tree.code)
    listed = (await client.get("/v1/scoring/policies", headers=w.officer.headers)).json()
    assert any(p["key"] == "1-3-5@v1" and p["tier_limits_s"] == {"1": 60, "2": 180, "3": 300} for p in listed)
    name = f"strict-{secrets.token_hex(3)}"
    body = {"name": name, "version": 1, "tier_limits_s": {"1": 45, "2": 120, "3": 240},
            "description": "a stricter trial standard"}
    r = await client.post("/v1/scoring/policies", headers=admin.headers, json=body)
    assert r.status_code == 201 and r.json()["key"] == f"{name}@v1"
    assert (await client.post("/v1/scoring/policies", headers=admin.headers, json=body)).status_code == 409
    assert (await client.post("/v1/scoring/policies", headers=w.commander.headers,
                              json={**body, "version": 2})).status_code == 403
    bad = await client.post("/v1/scoring/policies", headers=admin.headers,
                            json={**body, "version": 3, "tier_limits_s": {"1": -5}})
    assert bad.status_code == 422
    tier4 = await client.post("/v1/scoring/policies", headers=admin.headers,
                              json={**body, "version": 4, "tier_limits_s": {"4": 60}})
    assert tier4.status_code == 422


async def test_recompute_under_a_new_policy_keeps_the_old_scores(app, client, clock):
    w, inc = await _dataset(app, client, clock)
    admin = await make_person(app, client, role="admin", jurisdiction_code=w.tree.code)
    name = f"strict-{secrets.token_hex(3)}"
    await client.post("/v1/scoring/policies", headers=admin.headers,
                      json={"name": name, "version": 1, "tier_limits_s": {"1": 45, "2": 120, "3": 240}})
    key = f"{name}@v1"
    body = {"from": clock.at(-5000).isoformat(), "to": clock.at(10).isoformat(), "policy": key,
            "jurisdiction_code": w.tree.station_a}
    r = await client.post("/v1/scoring/recompute", headers=w.commander.headers, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["incidents"] == 5 and r.json()["policy"] == key
    ids = [uuid.UUID(i["id"]) for i in inc.values()]
    assert await count(app, "SELECT count(*) FROM incident_scores WHERE incident_id = ANY(:ids) "
                            "AND policy_key = '1-3-5@v1'", ids=ids) == 5
    assert await count(app, "SELECT count(*) FROM incident_scores WHERE incident_id = ANY(:ids) "
                            "AND policy_key = :k", ids=ids, k=key) == 5
    strict = (await client.get(f"/v1/incidents/{inc['a']['id']}/score", headers=w.officer.headers,
                               params={"policy": key})).json()
    assert strict["policy"] == key and [t["state"] for t in strict["tiers"]] == ["missed", "met", "met"]
    default = (await client.get(f"/v1/incidents/{inc['a']['id']}/score", headers=w.officer.headers)).json()
    assert default["policy"] == "1-3-5@v1" and default["compliant"] is True
    stats = await _stats(client, w, clock, group_by="category", policy=key)
    bullying = next(g for g in stats["groups"] if g["group"] == "bullying")
    assert stats["policy"] == key and _tier(bullying, 1)["met"] == 0 and _tier(bullying, 1)["limit_s"] == 45
    again = await client.post("/v1/scoring/recompute", headers=w.commander.headers, json=body)
    assert again.status_code == 200
    assert await count(app, "SELECT count(*) FROM incident_scores WHERE incident_id = ANY(:ids) "
                            "AND policy_key = :k", ids=ids, k=key) == 5
    unknown = await client.post("/v1/scoring/recompute", headers=w.commander.headers,
                                json={**body, "policy": "nope@v9"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "policy"
    officer = await client.post("/v1/scoring/recompute", headers=w.officer.headers, json=body)
    assert officer.status_code == 403
    outside = await client.post("/v1/scoring/recompute", headers=w.outsider.headers,
                                json={**body, "jurisdiction_code": w.tree.station_a})
    assert outside.status_code == 403  # officers may not recompute at all


def previous_statement(group_by: str) -> str:
    """The statement the statistics ran before the score rows carried the incidents' facts: incidents JOIN
    incident_scores, one `percentile_cont` per percentile in the database (kept here as the reference)."""
    groups = {"jurisdiction": "i.jurisdiction_code", "school": "CAST(i.zone_school_ids[1] AS text)",
              "category": "i.category",
              "hour": "CAST(EXTRACT(hour FROM i.alarm_at AT TIME ZONE j.time_zone) AS integer)::text"}
    tiers = (1, 2, 3)
    columns = ",".join(f"""
           s.tier{k}_elapsed_s AS e{k},
           CASE WHEN s.tier{k}_state = 'pending'
                     AND :now > i.alarm_at + make_interval(secs => CAST(p.tier_limits_s ->> '{k}' AS float8))
                THEN 'missed' ELSE s.tier{k}_state END AS st{k}""" for k in tiers)
    aggregates = ",".join(f"""
           count(*) FILTER (WHERE st{k} = 'met') AS t{k}_met,
           count(*) FILTER (WHERE st{k} = 'missed') AS t{k}_missed,
           count(*) FILTER (WHERE st{k} = 'pending') AS t{k}_pending,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY e{k}) FILTER (WHERE st{k} IN ('met', 'missed')) AS p50_{k},
           percentile_cont(0.9) WITHIN GROUP (ORDER BY e{k}) FILTER (WHERE st{k} IN ('met', 'missed')) AS p90_{k}"""
                           for k in tiers)
    return f"""
    WITH base AS (
        SELECT {groups[group_by]} AS group_key,{columns}
        FROM incidents i
        JOIN incident_scores s ON s.incident_id = i.id AND s.policy_key = :policy_key
        JOIN jurisdictions j ON j.code = i.jurisdiction_code
        CROSS JOIN (SELECT tier_limits_s FROM scoring_policies WHERE name = :policy_name
                    AND version = :policy_version AND jurisdiction_code = '') p
        WHERE j.path <@ CAST(:scope AS ltree) AND i.alarm_at >= :from_ AND i.alarm_at < :to
    )
    SELECT group_key, count(*) AS incidents,{aggregates}
    FROM base GROUP BY group_key ORDER BY group_key NULLS LAST
    """


async def test_statistics_equal_the_previous_statement_on_random_data(app, client, db):
    """The score rows now carry the incidents' facts (no join with incidents) and both percentiles of a tier come
    from one sort; on 2,000 random scored incidents every figure equals what the previous statement (a join, one
    `percentile_cont` per percentile) answers, group by group."""
    from datetime import UTC, datetime, timedelta

    from domain import statistics
    from domain.callers import system_caller
    from tests.factories import make_tree

    tree = await make_tree(app)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    await db.execute("""
        WITH seed AS (SELECT setseed(0.42)),
        made AS (
            INSERT INTO incidents (id, jurisdiction_code, category, severity, source, location, alarm_at, in_zone,
                                   zone_school_ids)
            SELECT gen_random_uuid(), CASE WHEN random() < 0.5 THEN :a ELSE :b END,
                   (ARRAY['bullying','traffic','fraud','suspicious_person'])[1 + floor(random() * 4)::int],
                   1 + floor(random() * 4)::int, 'patrol',
                   CAST(ST_SetSRID(ST_MakePoint(100 + random(), 30 + random()), 4326) AS geography),
                   CAST(:start AS timestamptz) + random() * interval '60 days', false,
                   CASE WHEN random() < 0.5 THEN ARRAY[gen_random_uuid()] ELSE '{}' END
            FROM seed, generate_series(1, 2000)
            RETURNING id, alarm_at, jurisdiction_code, zone_school_ids, category
        )
        INSERT INTO incident_scores (incident_id, policy_key, tiers, tier1_elapsed_s, tier2_elapsed_s, tier3_elapsed_s,
                                     tier1_state, tier2_state, tier3_state, alarm_at, jurisdiction_code, school_id,
                                     category)
        SELECT id, '1-3-5@v1', '[]',
               CASE WHEN random() < 0.85 THEN random() * 200 END, CASE WHEN random() < 0.8 THEN random() * 400 END,
               CASE WHEN random() < 0.9 THEN random() * 600 END,
               (ARRAY['met','missed','pending',NULL])[1 + floor(random() * 4)::int],
               (ARRAY['met','missed','pending',NULL])[1 + floor(random() * 4)::int],
               (ARRAY['met','missed','pending',NULL])[1 + floor(random() * 4)::int],
               alarm_at, jurisdiction_code, zone_school_ids[1], category
        FROM made
    """, {"a": tree.station_a, "b": tree.station_b, "start": start})
    caller = system_caller(tree.code, tree.code)
    now = start + timedelta(days=30)  # some pending tiers have run out by now, some not
    for group_by in statistics.GROUPS:
        new = await statistics.response_times(db, caller=caller, from_=start, to=start + timedelta(days=61),
                                              group_by=group_by, policy_key=None, jurisdiction_code=None, now=now)
        previous_sql = previous_statement(group_by)
        rows = await db.fetch(previous_sql, {
            "policy_key": "1-3-5@v1", "policy_name": "1-3-5", "policy_version": 1,
            "scope": tree.code,
            "from_": start, "to": start + timedelta(days=61), "now": now})
        assert [g["group"] for g in new["groups"]] == [r["group_key"] for r in rows]
        assert sum(g["incidents"] for g in new["groups"]) == 2000
        for g, r in zip(new["groups"], rows, strict=True):
            for t in g["tiers"]:
                k = t["tier"]
                assert (t["met"], t["missed"], t["pending"]) == (r[f"t{k}_met"], r[f"t{k}_missed"], r[f"t{k}_pending"])
                for name, column in (("p50_s", f"p50_{k}"), ("p90_s", f"p90_{k}")):
                    assert t[name] == (round(float(r[column]), 1) if r[column] is not None else None)

