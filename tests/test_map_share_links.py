"""Share links: an admin mints an expiring, read-only viewer key for one jurisdiction's map, usable in a URL;
it sees no officer positions, is revocable at once, audited, and never written to the logs."""

from __future__ import annotations

import logging
import time
import types
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from api.observability import RedactKeys, redact_keys
from domain import credentials
from tests.factories import make_person, make_tree
from tests.test_duty_support import check_in, checkin_body, make_world


def _in(days: float = 7) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def _mint(client, admin, code: str, **over) -> dict:
    body = {"jurisdiction_code": code, "name": "教育局大屏", "expires_at": _in(), **over}
    r = await client.post("/v1/share-links", headers=admin.headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def test_admin_mints_a_link_that_opens_the_map_and_reads_with_key_in_the_url(app, client):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    link = await _mint(client, admin, tree.station_a)
    assert link["active"] is True and link["revoked_at"] is None
    assert link["jurisdiction_code"] == tree.station_a and link["created_by"] == admin.id
    url = urlsplit(link["url"])
    assert url.path == "/map" and parse_qs(url.query) == {"key": [link["key"]]}
    assert link["key"].startswith(f"hx_{link['prefix']}_")

    # The key in the query string works on GET endpoints, scoped to the link's jurisdiction.
    key = link["key"]
    assert (await client.get(f"/v1/jurisdictions/{tree.station_a}", params={"key": key})).status_code == 200
    assert (await client.get(f"/v1/jurisdictions/{tree.station_b}", params={"key": key})).status_code == 404
    r = await client.get("/v1/jurisdictions", params={"key": key})
    assert [j["code"] for j in r.json()["items"]] == [tree.station_a]
    # … and as the header, like any dashboard key.
    assert (await client.get("/v1/schools", headers={"X-API-Key": key})).status_code == 200
    # Never on writes: a key in a URL must not be able to change anything (and a viewer may not anyway).
    r = await client.post("/v1/jurisdictions", params={"key": key},
                          json={"code": tree.station_a + "Z", "name": "x", "level": "station",
                                "parent_code": tree.station_a})
    assert r.status_code == 401
    # The page itself: no Referer leaves it, so the key in its URL goes nowhere else.
    page = await client.get("/map", params={"key": key})
    assert page.status_code == 200 and page.headers["referrer-policy"] == "no-referrer"


async def test_share_link_sees_no_officer_positions_or_checkins(app, client):
    w = await make_world(app, client)
    await check_in(client, w.officer, checkin_body(w, datetime.now(UTC) - timedelta(minutes=1)))
    admin = await make_person(app, client, role="admin", jurisdiction_code=w.tree.code)
    key = (await _mint(client, admin, w.tree.code))["key"]
    for path in ("/v1/checkins", "/v1/units/positions"):
        r = await client.get(path, params={"key": key})
        assert r.status_code == 403, (path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    # The commander sees them.
    r = await client.get("/v1/units/positions", headers=w.commander.headers)
    assert r.status_code == 200
    assert [p["responder_id"] for p in r.json()["items"]] == [w.officer.id]
    # A viewer person is no different from a viewer key.
    viewer = await make_person(app, client, role="viewer", jurisdiction_code=w.tree.code)
    assert (await client.get("/v1/checkins", headers=viewer.headers)).status_code == 403


async def test_only_admins_mint_and_links_end_within_ninety_days(app, client):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.station_a)
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    body = {"jurisdiction_code": tree.station_a, "name": "x", "expires_at": _in()}
    assert (await client.post("/v1/share-links", headers=commander.headers, json=body)).status_code == 403
    assert (await client.get("/v1/share-links", headers=commander.headers)).status_code == 403

    for expires, fragment in ((_in(-1), "future"), (_in(91), "90 days")):
        r = await client.post("/v1/share-links", headers=admin.headers, json={**body, "expires_at": expires})
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "expires_at" and fragment in r.json()["detail"]
    r = await client.post("/v1/share-links", headers=admin.headers, json={k: v for k, v in body.items()
                                                                          if k != "expires_at"})
    assert r.status_code == 422 and "expires_at" in r.text
    r = await client.post("/v1/share-links", headers=admin.headers, json={**body, "expires_at": "2027-01-01T00:00:00"})
    assert r.status_code == 422, "a time without offset is refused"
    # Not above the admin's own jurisdiction.
    r = await client.post("/v1/share-links", headers=admin.headers, json={**body, "jurisdiction_code": tree.code})
    assert r.status_code in (403, 404, 422), r.text
    assert (await client.get("/v1/share-links", headers=admin.headers)).json()["items"] == []


async def test_revoking_stops_the_link_at_once_and_both_are_audited(app, client):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    link = await _mint(client, admin, tree.code, name="临时查看")
    other = await _mint(client, admin, tree.station_b)
    key = link["key"]
    assert (await client.get("/v1/schools", params={"key": key})).status_code == 200  # cached from now on

    listed = (await client.get("/v1/share-links", headers=admin.headers)).json()["items"]
    assert [i["id"] for i in listed] == [other["id"], link["id"]]  # newest first
    assert all("key" not in i for i in listed)

    r = await client.delete(f"/v1/share-links/{link['id']}", headers=admin.headers)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None and r.json()["active"] is False
    assert (await client.get("/v1/schools", params={"key": key})).status_code == 401
    assert (await client.get("/v1/schools", headers={"X-API-Key": key})).status_code == 401
    assert (await client.get("/v1/schools", params={"key": other["key"]})).status_code == 200

    active = (await client.get("/v1/share-links", params={"active": "true"}, headers=admin.headers)).json()
    assert [i["id"] for i in active["items"]] == [other["id"]]
    revoked = (await client.get("/v1/share-links", params={"active": "false"}, headers=admin.headers)).json()
    assert [i["id"] for i in revoked["items"]] == [link["id"]]
    # A plain dashboard key is not a share link.
    plain = (await client.post("/v1/api-keys", headers=admin.headers,
                               json={"name": "dash", "jurisdiction_code": tree.code})).json()
    assert (await client.delete(f"/v1/share-links/{plain['id']}", headers=admin.headers)).status_code == 404

    log = (await client.get("/v1/audit", params={"entity": "share_link", "entity_id": link["id"]},
                            headers=admin.headers)).json()["items"]
    assert [(e["action"], e["actor_id"]) for e in log] == [("revoke", admin.id), ("create", admin.id)]
    assert log[1]["changes"]["name"] == "临时查看" and key not in str(log)


async def test_an_expired_link_stops_even_while_cached(app, client, db, monkeypatch):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    link = await _mint(client, admin, tree.code, expires_at=_in(1))
    assert (await client.get("/v1/schools", params={"key": link["key"]})).status_code == 200  # now cached
    # Two days on, for the process clock and the database alike (no credential change is notified: the
    # cached caller must notice its end date by itself).
    later = time.time() + 2 * 86400
    monkeypatch.setattr(credentials, "time", types.SimpleNamespace(time=lambda: later, monotonic=time.monotonic))
    await db.execute("UPDATE api_keys SET expires_at = now() - interval '1 day' WHERE id = :id", {"id": link["id"]})
    assert (await client.get("/v1/schools", params={"key": link["key"]})).status_code == 401


async def test_the_key_never_reaches_the_logs(app, client, caplog):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    key = (await _mint(client, admin, tree.code))["key"]
    with caplog.at_level(logging.INFO, logger="huxiao.request"):
        assert (await client.get("/v1/schools", params={"key": key, "limit": 5})).status_code == 200
        assert (await client.get("/map", params={"key": key})).status_code == 200
        assert (await client.get("/v1/nowhere", params={"key": key})).status_code == 404
    lines = [r for r in caplog.records if r.name == "huxiao.request"]
    assert {r.path for r in lines} >= {"/v1/schools", "/map"}
    assert not any(key in r.getMessage() or key in str(vars(r)) for r in caplog.records)

    # uvicorn's access log is off; should someone turn it on, its lines are redacted.
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", f"/map?key={key}&x=1", "1.1", 200), None)
    assert RedactKeys().filter(record) and key not in record.getMessage()
    assert "/map?key=[redacted]&x=1" in record.getMessage()
    assert redact_keys(f"/ogc/collections?f=json&key={key}") == "/ogc/collections?f=json&key=[redacted]"
    assert any(isinstance(f, RedactKeys) for f in logging.getLogger("uvicorn.access").filters)
