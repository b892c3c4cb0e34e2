"""Nearest units: KNN over unit_positions, on duty or seen recently, ETA by unit type, tiers still in reach."""
# ruff: noqa: F811  (the `clock` fixture is imported from tests/test_incidents_support.py)

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

from domain.database import unit_of_work
from domain.responders import NEAREST
from tests.factories import make_person, offset
from tests.test_incidents_support import clock, make_world, report  # noqa: F401  (clock is a fixture)


async def place_unit(app, person, *, lon: float, lat: float, recorded_at: datetime, jurisdiction_code: str | None = None,
                     accuracy_m: float = 10.0) -> None:
    """Stand-in for check-in ingest: upsert the officer's latest fix."""
    async with unit_of_work(app.state.pool) as db:
        await db.execute("""
            INSERT INTO unit_positions (officer_id, jurisdiction_code, location, accuracy_m, recorded_at, checkin_id)
            VALUES (:id, :code, CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography), :acc, :at, :cid)
            ON CONFLICT (officer_id) DO UPDATE SET location = EXCLUDED.location, recorded_at = EXCLUDED.recorded_at,
                jurisdiction_code = EXCLUDED.jurisdiction_code, accuracy_m = EXCLUDED.accuracy_m
        """, {"id": uuid.UUID(person.id), "code": jurisdiction_code or person.jurisdiction_code, "lon": lon,
               "lat": lat, "acc": accuracy_m, "at": recorded_at, "cid": uuid.uuid4()})


async def give_shift(app, person, school_id: str, *, starts_at: datetime, ends_at: datetime) -> None:
    async with unit_of_work(app.state.pool) as db:
        post_id = uuid.uuid4()
        await db.execute("""
            INSERT INTO posts (id, school_id, jurisdiction_code, name, kind, location)
            SELECT :post_id, s.id, s.jurisdiction_code, 'Gate', 'school_guard', s.location FROM schools s WHERE s.id = :sid
        """, {"post_id": post_id, "sid": uuid.UUID(school_id)})
        await db.execute("""
            INSERT INTO shifts (id, officer_id, post_id, jurisdiction_code, starts_at, ends_at)
            VALUES (:id, :officer, :post, :code, :s, :e)
        """, {"id": uuid.uuid4(), "officer": uuid.UUID(person.id), "post": post_id,
               "code": person.jurisdiction_code, "s": starts_at, "e": ends_at})


async def _setup(app, client, clock):
    w = await make_world(app, client)
    inc = await report(client, w, w.officer, clock.at(-20))
    lon, lat = inc["location"]["coordinates"]
    recent = clock.at(-60)
    far_police = await make_person(app, client, role="officer", jurisdiction_code=w.tree.station_a, login=False)
    stale = await make_person(app, client, role="officer", jurisdiction_code=w.tree.station_a, login=False)
    stale_on_shift = await make_person(app, client, role="officer", jurisdiction_code=w.tree.station_a,
                                       unit_type="guard", login=False)
    await place_unit(app, w.guard, lon=offset(lon, lat, east_m=50)[0], lat=lat, recorded_at=recent)
    await place_unit(app, w.police, lon=offset(lon, lat, east_m=300)[0], lat=lat, recorded_at=recent)
    await place_unit(app, w.aux, lon=offset(lon, lat, east_m=200)[0], lat=lat, recorded_at=recent)
    await place_unit(app, far_police, lon=offset(lon, lat, east_m=2000)[0], lat=lat, recorded_at=recent)
    await place_unit(app, w.outsider, lon=offset(lon, lat, east_m=100)[0], lat=lat, recorded_at=recent)
    await place_unit(app, stale, lon=offset(lon, lat, east_m=20)[0], lat=lat, recorded_at=clock.at(-7200))
    await place_unit(app, stale_on_shift, lon=offset(lon, lat, east_m=400)[0], lat=lat,
                     recorded_at=clock.at(-7200))
    await give_shift(app, stale_on_shift, w.school["id"], starts_at=clock.at(-3600), ends_at=clock.at(3600))
    return w, inc, {"far_police": far_police, "stale": stale, "stale_on_shift": stale_on_shift}


async def test_nearest_units_come_nearest_first_with_eta_and_reachable_tiers(app, client, clock):
    w, inc, extra = await _setup(app, client, clock)
    r = await client.get(f"/v1/incidents/{inc['id']}/nearest-units", headers=w.officer.headers)
    assert r.status_code == 200, r.text
    units = r.json()
    assert [u["responder_id"] for u in units] == [
        w.guard.id, w.aux.id, w.police.id, extra["stale_on_shift"].id, extra["far_police"].id]
    by_id = {u["responder_id"]: u for u in units}
    guard, aux, police = by_id[w.guard.id], by_id[w.aux.id], by_id[w.police.id]
    assert 49 < guard["distance_m"] < 51 and guard["unit_type"] == "guard"
    assert abs(guard["eta_s"] - 50 / 1.4) < 1  # on foot
    assert abs(police["eta_s"] - 300 / 8.0) < 1  # by vehicle
    # 20 s since the alarm: the guard arrives at ~56 s, the police at ~57.5 s, the auxiliary at ~163 s.
    assert guard["can_meet_tier"] == [1, 2]  # a guard never serves tier 3
    assert police["can_meet_tier"] == [1, 2, 3]
    assert aux["can_meet_tier"] == [2]
    assert by_id[extra["far_police"].id]["can_meet_tier"] == [3]  # 2 km by car: ~270 s
    assert by_id[extra["stale_on_shift"].id]["on_shift"] is True
    assert extra["stale"].id not in by_id  # last seen 2 h ago and not on shift
    assert w.outsider.id not in by_id  # station B is outside the station A officer's scope


async def test_nearest_units_by_tier_and_limit_and_scope(app, client, clock):
    w, inc, extra = await _setup(app, client, clock)
    url = f"/v1/incidents/{inc['id']}/nearest-units"
    police = (await client.get(url, headers=w.officer.headers, params={"tier": 3})).json()
    assert [u["responder_id"] for u in police] == [w.police.id, extra["far_police"].id]
    two = (await client.get(url, headers=w.officer.headers, params={"limit": 2})).json()
    assert len(two) == 2
    county = (await client.get(url, headers=w.commander.headers)).json()
    assert w.outsider.id in {u["responder_id"] for u in county}
    clock.now = clock.at(600)  # every deadline has passed
    late = (await client.get(url, headers=w.commander.headers)).json()
    assert all(u["can_meet_tier"] == [] for u in late)
    assert (await client.get(url, headers=w.officer.headers, params={"tier": 4})).status_code == 422


async def test_nearest_units_query_walks_the_gist_index(app, client, clock):
    w, inc, _ = await _setup(app, client, clock)
    async with unit_of_work(app.state.pool) as db:
        scene = await db.fetchval("SELECT ST_AsBinary(location) FROM incidents WHERE id = :id", {"id": uuid.UUID(inc["id"])})
        await db.execute("SET LOCAL enable_seqscan = off")
        plan = [r[0] for r in await db.fetch("EXPLAIN " + NEAREST.source, {
            "scene": bytes(scene), "scope": w.tree.code, "unit_types": ["guard", "auxiliary", "volunteer", "police"],
            "now": clock.now, "seen_since": clock.now - timedelta(minutes=30), "limit": 10,
        })]
    plan_text = "\n".join(plan)
    assert "ix_unit_positions_location" in plan_text, plan_text
    assert "Order By: (location <->" in plan_text, plan_text  # KNN: the index hands rows over nearest first
    # No full sort of the candidates: at most the few rows past the LIMIT are re-ordered (incremental sort).
    assert not re.search(r"^\s*(->\s*)?Sort\s+\(cost", plan_text, re.M), plan_text
