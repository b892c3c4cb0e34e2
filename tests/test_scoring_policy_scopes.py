"""Scoring policies are per jurisdiction: a key is unique per jurisdiction, inherited by the jurisdictions below
unless they define their own; another tenant neither sees nor uses it; what is visible cannot be redefined."""

from __future__ import annotations

import secrets

from domain import policies
from domain.database import unit_of_work
from tests.factories import make_person, make_tree


def _body(name: str, first: float, **over) -> dict:
    return {"name": name, "version": 1, "tier_limits_s": {"1": first, "2": 180, "3": 300}, **over}


async def _limits(app, key: str, code: str) -> dict:
    async with unit_of_work(app.state.pool) as db:
        path = await db.fetchval("SELECT path::text FROM jurisdictions WHERE code = :c", {"c": code})
        return (await policies.load(db, key, path=path)).tier_limits_s


async def test_a_countys_policy_is_its_own_and_inherited_below(app, client):
    county, other = await make_tree(app), await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=county.code)
    stranger = await make_person(app, client, role="admin", jurisdiction_code=other.code)
    name = f"local-{secrets.token_hex(3)}"
    r = await client.post("/v1/scoring/policies", headers=admin.headers, json=_body(name, 45))
    assert r.status_code == 201 and r.json()["jurisdiction_code"] == county.code
    key = f"{name}@v1"
    assert (await _limits(app, key, county.station_a))[1] == 45  # inherited by the stations
    # another tenant neither sees it nor resolves it …
    listed = (await client.get("/v1/scoring/policies", headers=stranger.headers)).json()
    assert key not in {p["key"] for p in listed} and "1-3-5@v1" in {p["key"] for p in listed}
    async with unit_of_work(app.state.pool) as db:
        path = await db.fetchval("SELECT path::text FROM jurisdictions WHERE code = :c", {"c": other.code})
        try:
            await policies.load(db, key, path=path)
            raise AssertionError("a foreign policy resolved")
        except policies.InvalidInput:
            pass
    # … and may define the same key for itself, with its own limits
    r = await client.post("/v1/scoring/policies", headers=stranger.headers, json=_body(name, 90))
    assert r.status_code == 201
    assert (await _limits(app, key, other.station_b))[1] == 90
    assert (await _limits(app, key, county.station_b))[1] == 45


async def test_what_is_visible_cannot_be_redefined_and_a_station_may_define_its_own(app, client):
    county = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=county.code)
    station_admin = await make_person(app, client, role="admin", jurisdiction_code=county.station_a)
    assert (await client.post("/v1/scoring/policies", headers=admin.headers,
                              json={**_body("1-3-5", 30)})).status_code == 409  # built in
    name = f"mine-{secrets.token_hex(3)}"
    # the station defines x@v1 first; the county may define it after (the station keeps its own)
    assert (await client.post("/v1/scoring/policies", headers=station_admin.headers,
                              json=_body(name, 20))).status_code == 201
    assert (await client.post("/v1/scoring/policies", headers=admin.headers, json=_body(name, 50))).status_code == 201
    key = f"{name}@v1"
    assert (await _limits(app, key, county.station_a))[1] == 20
    assert (await _limits(app, key, county.station_b))[1] == 50
    # now visible at the station (its own) and everywhere below the county: no redefinition along that line
    assert (await client.post("/v1/scoring/policies", headers=station_admin.headers,
                              json=_body(name, 10))).status_code == 409
    r = await client.post("/v1/scoring/policies", headers=station_admin.headers,
                          json=_body(name, 10, jurisdiction_code=county.code))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "jurisdiction_code"  # not the station's


async def test_recompute_uses_the_policy_of_the_jurisdiction_asked(app, client):
    county, other = await make_tree(app), await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=county.code)
    commander = await make_person(app, client, role="commander", jurisdiction_code=other.code)
    name = f"trial-{secrets.token_hex(3)}"
    await client.post("/v1/scoring/policies", headers=admin.headers, json=_body(name, 45))
    r = await client.post("/v1/scoring/recompute", headers=commander.headers, json={
        "from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "policy": f"{name}@v1"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "policy"
