"""OWASP API5:2023 — broken function level authorization: officers, viewers and dashboard keys on commanders'
and admins' functions are 403; a key never writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import make_person, make_tree

ADMIN_ONLY = [("GET", "/v1/users"), ("POST", "/v1/users"), ("GET", "/v1/api-keys"), ("POST", "/v1/api-keys"),
              ("GET", "/v1/audit"), ("POST", "/v1/jurisdictions"), ("POST", "/v1/scoring/policies"),
              ("POST", "/v1/share-links"), ("GET", "/v1/share-links"), ("GET", "/v1/devices"),
              ("POST", "/v1/devices"), ("GET", "/v1/devices/unknown"), ("POST", "/v1/webhooks"),
              ("GET", "/v1/webhooks")]
COMMANDER_ONLY = [("POST", "/v1/schools"), ("POST", "/v1/shifts"), ("POST", "/v1/shifts/generate"),
                  ("POST", "/v1/schools/import"), ("POST", "/v1/scoring/recompute"), ("POST", "/v1/campaigns"),
                  ("GET", "/v1/key-persons"), ("POST", "/v1/key-persons"), ("GET", "/v1/disputes"),
                  ("POST", "/v1/disputes")]
BODIES = {
    "/v1/users": {"username": "fnlevel01", "display_name": "x", "role": "admin", "jurisdiction_code": "X1",
                  "password": "long-enough-password"},
    "/v1/api-keys": {"name": "x", "jurisdiction_code": "X1"},
    "/v1/devices": {"officer_id": "00000000-0000-0000-0000-000000000001"},
    "/v1/jurisdictions": {"code": "X2", "name": "x", "level": "county", "parent_code": "X1"},
    "/v1/scoring/policies": {"name": "x", "version": 1, "tier_limits_s": {"1": 60}},
    "/v1/share-links": {"jurisdiction_code": "X1", "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
    "/v1/webhooks": {"jurisdiction_code": "X1", "url": "https://93.184.215.14/", "events": ["incident.created"]},
}


@pytest.fixture
async def callers(app, client):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    viewer = await make_person(app, client, role="viewer", jurisdiction_code=tree.code)
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    key = (await client.post("/v1/api-keys", headers=admin.headers,
                             json={"name": "wall", "jurisdiction_code": tree.code})).json()["key"]
    return {"officer": officer.headers, "viewer": viewer.headers, "viewer key": {"X-API-Key": key},
            "commander": commander.headers}


@pytest.mark.parametrize("method,path", ADMIN_ONLY)
async def test_admin_functions_refuse_everyone_else(client, callers, method, path):
    for who, headers in callers.items():
        r = await client.request(method, path, headers=headers, json=BODIES.get(path) if method == "POST" else None)
        assert r.status_code == 403, (who, method, path, r.status_code, r.text[:200])
        assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("method,path", COMMANDER_ONLY)
async def test_commander_functions_refuse_officers_viewers_and_keys(client, callers, method, path):
    for who in ("officer", "viewer", "viewer key"):
        r = await client.request(method, path, headers=callers[who], json={})
        assert r.status_code in (403, 422), (who, method, path, r.status_code)
        if r.status_code == 422:  # validation ran first: the same call with a valid body must still be refused
            assert who != "viewer key"


async def test_officers_and_viewers_cannot_acknowledge_alerts_or_change_incidents(client, callers):
    for who in ("officer", "viewer", "viewer key"):
        r = await client.post("/v1/duty/alerts/00000000-0000-0000-0000-000000000001/acknowledge",
                              headers=callers[who], json={})
        assert r.status_code in (403, 404), (who, r.status_code)
        r = await client.patch("/v1/incidents/00000000-0000-0000-0000-000000000001", headers=callers[who],
                               json={"status": "closed"})
        assert r.status_code in (403, 404), (who, r.status_code)


async def test_viewers_never_read_officers_positions(client, callers):
    for who in ("viewer", "viewer key"):
        for path in ("/v1/checkins", "/v1/exports/checkins", "/v1/units/positions",
                     "/ogc/collections/checkins/items"):
            r = await client.get(path, headers=callers[who])
            assert r.status_code in (403, 404), (who, path, r.status_code)
    assert (await client.get("/v1/exports/checkins", headers=callers["commander"])).status_code == 200
