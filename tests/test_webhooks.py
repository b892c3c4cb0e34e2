"""Webhooks, the registry and the outbox: an admin registers an endpoint per jurisdiction and gets its secret once;
the URL must be https to a public address; an event becomes one outbox row per matching webhook in the writer's
transaction, never for another county's webhooks; other tenants' webhook ids are 404."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from api.deps import server_now
from domain import tier_misses, webhooks
from domain.errors import InvalidInput
from domain.settings import Settings
from tests.factories import make_person, make_tree
from tests.test_incidents_support import arrive, count, make_world, report

PUBLIC_URL = "https://93.184.215.14/hooks/huxiao"  # a public address literal: no DNS needed


async def register(client, admin, code: str, *, url: str = PUBLIC_URL, events=None, expect: int = 201,
                   **over) -> dict:
    body = {"jurisdiction_code": code, "url": url,
            "events": events or ["incident.created", "incident.tier_missed", "duty.uncovered_post",
                                 "duty.off_post"], **over}
    r = await client.post("/v1/webhooks", headers=admin.headers, json=body)
    assert r.status_code == expect, r.text
    return r.json()


async def test_admin_registers_a_webhook_and_sees_its_secret_only_once(app, client, db):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    hook = await register(client, admin, tree.station_a, description="县指挥中心")
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) > 30
    assert hook["jurisdiction_code"] == tree.station_a and hook["active"] is True
    assert hook["events"] == sorted(["incident.created", "incident.tier_missed", "duty.uncovered_post",
                                     "duty.off_post"])
    # Stored encrypted, never in the clear; it decrypts to what was shown.
    sealed = await db.fetchval("SELECT secret_enc FROM webhooks WHERE id = :id", {"id": uuid.UUID(hook["id"])})
    assert hook["secret"].encode() not in bytes(sealed)
    assert webhooks.open_secret(app.state.settings, sealed) == hook["secret"]
    # Never shown again.
    got = (await client.get(f"/v1/webhooks/{hook['id']}", headers=admin.headers)).json()
    assert "secret" not in got and got["url"] == PUBLIC_URL
    listed = (await client.get("/v1/webhooks", headers=admin.headers)).json()["items"]
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
    # Rotation shows a new one once.
    rotated = await client.post(f"/v1/webhooks/{hook['id']}/secret", headers=admin.headers)
    assert rotated.status_code == 200 and rotated.json()["secret"] not in (hook["secret"], None)
    assert await count(app, "SELECT count(*) FROM audit_log WHERE entity = 'webhook' AND entity_id::text = :id",
                       id=hook["id"]) == 2  # create, rotate_secret


async def test_patch_and_delete(app, client, db):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    hook = await register(client, admin, tree.code)
    r = await client.patch(f"/v1/webhooks/{hook['id']}", headers=admin.headers,
                           json={"events": ["duty.off_post"], "active": False, "description": None})
    assert r.status_code == 200, r.text
    assert r.json()["events"] == ["duty.off_post"] and r.json()["active"] is False
    r = await client.patch(f"/v1/webhooks/{hook['id']}", headers=admin.headers, json={"url": "http://93.184.215.14/"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "url"
    r = await client.delete(f"/v1/webhooks/{hook['id']}", headers=admin.headers)
    assert r.status_code == 204
    assert (await client.get(f"/v1/webhooks/{hook['id']}", headers=admin.headers)).status_code == 404
    assert await db.fetchval("SELECT count(*) FROM webhooks WHERE id = :id", {"id": uuid.UUID(hook["id"])}) == 0


@pytest.mark.parametrize("url, why", [
    ("http://93.184.215.14/hook", "https"),
    ("ftp://93.184.215.14/hook", "https"),
    ("https://127.0.0.1/hook", "loopback"),
    ("https://10.1.2.3/hook", "private"),
    ("https://192.168.1.10:8443/hook", "private"),
    ("https://169.254.169.254/latest/meta-data", "link-local"),
    ("https://100.64.0.1/hook", "shared"),
    ("https://[::1]/hook", "loopback"),
    ("https://[::ffff:127.0.0.1]/hook", "mapped loopback"),
    ("https://[fe80::1]/hook", "link-local"),
    ("https://0.0.0.0/hook", "unspecified"),
    ("https://224.0.0.1/hook", "multicast"),
    ("https://localhost/hook", "resolves to loopback"),
    ("https://user:pw@93.184.215.14/hook", "credentials"),
    ("https:///hook", "no host"),
    ("not a url", "garbage"),
    ("https://does-not-exist.invalid/hook", "does not resolve"),
])
async def test_bad_target_urls_are_422_naming_the_field(app, client, db, url, why):
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    r = await client.post("/v1/webhooks", headers=admin.headers,
                          json={"jurisdiction_code": tree.code, "url": url, "events": ["incident.created"]})
    assert r.status_code == 422, (why, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]][-1] in ("url", "body.url"), r.json()
    assert await db.fetchval("SELECT count(*) FROM webhooks WHERE jurisdiction_code = :c", {"c": tree.code}) == 0


async def test_private_targets_and_http_only_with_the_settings():
    strict = Settings(webhook_allow_private=False, webhook_allow_http=False)
    lenient = Settings(webhook_allow_private=True, webhook_allow_http=True)
    with pytest.raises(InvalidInput):
        await webhooks.check_target("http://127.0.0.1:9/x", strict)
    target = await webhooks.check_target("http://127.0.0.1:9/x", lenient)
    assert target.addresses == ("127.0.0.1",) and target.port == 9
    public = await webhooks.check_target("https://93.184.215.14/x", strict)
    assert public.addresses == ("93.184.215.14",) and public.port == 443


async def test_unknown_events_and_foreign_jurisdictions_are_refused(app, client):
    tree = await make_tree(app)
    other = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    r = await client.post("/v1/webhooks", headers=admin.headers,
                          json={"jurisdiction_code": tree.code, "url": PUBLIC_URL, "events": ["checkin.created"]})
    assert r.status_code == 422
    r = await client.post("/v1/webhooks", headers=admin.headers,
                          json={"jurisdiction_code": other.code, "url": PUBLIC_URL, "events": ["incident.created"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "jurisdiction_code"


async def test_only_admins_manage_webhooks(app, client):
    tree = await make_tree(app)
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    r = await client.post("/v1/webhooks", headers=commander.headers,
                          json={"jurisdiction_code": tree.code, "url": PUBLIC_URL, "events": ["incident.created"]})
    assert r.status_code == 403
    assert (await client.get("/v1/webhooks", headers=commander.headers)).status_code == 403


async def test_another_countys_webhooks_are_404_and_never_get_its_events(app, client, db):
    w = await make_world(app, client)
    other = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=w.tree.code)
    other_admin = await make_person(app, client, role="admin", jurisdiction_code=other.code)
    mine = await register(client, admin, w.tree.station_a)
    theirs = await register(client, other_admin, other.code)
    sibling = await register(client, admin, w.tree.station_b)  # the incident is in station A, not B
    for path in ("", "/deliveries"):
        assert (await client.get(f"/v1/webhooks/{theirs['id']}{path}", headers=admin.headers)).status_code == 404
    for method, path in (("PATCH", ""), ("DELETE", ""), ("POST", "/ping"), ("POST", "/secret"),
                         ("POST", f"/deliveries/{uuid.uuid4()}/replay")):
        r = await client.request(method, f"/v1/webhooks/{theirs['id']}{path}", headers=admin.headers,
                                 json={"active": False} if method == "PATCH" else None)
        assert r.status_code == 404, (method, path, r.text)
    assert [h["id"] for h in (await client.get("/v1/webhooks", headers=admin.headers)).json()["items"]] == [
        mine["id"], sibling["id"]]

    incident = await report(client, w, w.commander, datetime.now(UTC) - timedelta(seconds=5))
    rows = await db.fetch("SELECT webhook_id, event, event_key, body FROM webhook_deliveries "
                          "WHERE webhook_id = ANY(CAST(:ids AS uuid[]))",
                          {"ids": [uuid.UUID(h["id"]) for h in (mine, theirs, sibling)]})
    assert [(str(r["webhook_id"]), r["event"]) for r in rows] == [(mine["id"], "incident.created")]
    body = __import__("json").loads(rows[0]["body"])
    assert body["type"] == "incident.created" and body["id"] == rows[0]["event_key"]
    assert body["data"]["id"] == incident["id"] and body["jurisdiction_code"] == w.tree.station_a


async def test_event_and_its_outbox_rows_commit_or_roll_back_together(app, db):
    tree = await make_tree(app)
    hook_id = uuid.uuid4()
    await db.execute("INSERT INTO webhooks (id, jurisdiction_code, url, events, secret_enc) "
                     "VALUES (:id, :code, 'https://93.184.215.14/', ARRAY['duty.off_post'], '\\x00')",
                     {"id": hook_id, "code": tree.code})
    from domain.database import unit_of_work
    from domain.events import Event, publish
    payload = {"kind": "off_post", "post_id": str(uuid.uuid4())}
    with pytest.raises(RuntimeError):
        async with unit_of_work(app.state.pool) as tx:
            await publish(tx, [Event("duty.alert", tree.station_a, payload)])
            raise RuntimeError("the writer fails after publishing")
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = :id", {"id": hook_id}) == 0
    async with unit_of_work(app.state.pool) as tx:
        await publish(tx, [Event("duty.alert", tree.station_a, {**payload, "kind": "uncovered_post"}),
                           Event("checkin.created", tree.station_a, {}),
                           Event("duty.alert", tree.station_a, payload)])
    rows = await db.fetch("SELECT d.event, e.kind, e.payload->>'kind' AS alert FROM webhook_deliveries d "
                          "JOIN events e ON 'evt_' || e.id = d.event_key WHERE d.webhook_id = :id", {"id": hook_id})
    assert [(r["event"], r["kind"], r["alert"]) for r in rows] == [("duty.off_post", "duty.alert", "off_post")]


def test_the_kind_mapping():
    assert webhooks.webhook_event("incident.created", {}) == "incident.created"
    assert webhooks.webhook_event("duty.alert", {"kind": "uncovered_post"}) == "duty.uncovered_post"
    assert webhooks.webhook_event("duty.alert", {"kind": "off_post"}) == "duty.off_post"
    assert webhooks.webhook_event("incident.tier_missed", {"tier": 1}) == "incident.tier_missed"
    assert webhooks.webhook_event("checkin.created", {}) is None
    assert webhooks.webhook_event("duty.alert_acknowledged", {"kind": "off_post"}) is None


async def test_a_tier_missed_is_queued_once_whether_at_report_by_a_late_arrival_or_by_the_sweep(app, client, db):
    w = await make_world(app, client)
    admin = await make_person(app, client, role="admin", jurisdiction_code=w.tree.code)
    hook = await register(client, admin, w.tree.code, events=["incident.tier_missed"])
    alarm = datetime.now(UTC) - timedelta(seconds=100)
    # Reported 100 s after the alarm: tier 1 (60 s) is missed already; tiers 2 and 3 are pending.
    incident = await report(client, w, w.commander, alarm)

    async def missed() -> list[int]:
        rows = await db.fetch("SELECT body::jsonb->'data'->>'tier' AS tier FROM webhook_deliveries "
                              "WHERE webhook_id = :id ORDER BY created_at, event_key", {"id": uuid.UUID(hook["id"])})
        return [int(r["tier"]) for r in rows]

    assert await missed() == [1]
    # At 200 s an auxiliary arrives (tier 2) after tier 2's limit: the arrival turns tier 2 missed.
    app.dependency_overrides[server_now] = lambda: alarm + timedelta(seconds=200)
    try:
        await arrive(client, w.commander, incident, w.aux, 2, 190)
    finally:
        app.dependency_overrides.pop(server_now, None)
    assert await missed() == [1, 2]
    # Tier 3's deadline passes with no police on scene: the sweep announces it, once, however many run.
    later = alarm + timedelta(seconds=400)
    await asyncio.gather(*(tier_misses.sweep(db, now=later) for _ in range(3)))
    await tier_misses.sweep(db, now=later)
    assert await missed() == [1, 2, 3]
    states = await db.fetchrow("SELECT tier1_state, tier2_state, tier3_state FROM incident_scores sc JOIN "
                               "incidents i ON i.id = sc.incident_id AND i.policy_key = sc.policy_key "
                               "WHERE i.id = :id", {"id": uuid.UUID(incident["id"])})
    assert tuple(states) == ("missed", "missed", "missed")
