"""Key persons (重点人员) and disputes (矛盾纠纷): only commanders and admins in scope; identity numbers validated,
encrypted at rest, masked everywhere, unmasked only for an admin with a reason; every read audited."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import InvalidInput
from domain.identity_numbers import IdentityCipher, check_character, mask, validate
from tests.factories import make_person, make_school, make_tree


def id_number(first17: str = "11010519491231002") -> str:
    return first17 + check_character(first17)


PLAIN = id_number("11010519800101123")
MASKED = PLAIN[:3] + "*" * 11 + PLAIN[-4:]


def wrong_check(number: str) -> str:
    return number[:17] + next(c for c in "0123456789X" if c != number[17])


async def _world(app, client):
    tree = await make_tree(app)
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    school = await make_school(client, commander, jurisdiction_code=tree.station_a, lon=108.17, lat=29.29)
    return tree, commander, admin, school


async def _person(client, who, school, number=PLAIN, **extra):
    r = await client.post("/v1/key-persons", headers=who.headers, json={
        "category": "threatening_revenge", "name": "张某", "id_number": number, "school_id": school["id"],
        "control_measures": "每周走访，联系家属", "risk_level": "high", **extra})
    assert r.status_code == 201, r.text
    return r.json()


async def _audit(app, entity: str, entity_id: str) -> list[dict]:
    rows = await app.state.db.fetch("SELECT action, actor_id, changes FROM audit_log WHERE entity = :e AND "
                                    "entity_id = :i ORDER BY id", {"e": entity, "i": entity_id})
    return [dict(r) for r in rows]


def test_identity_numbers_are_validated_with_their_check_character():
    assert validate(PLAIN) == PLAIN and PLAIN[17].isdigit()
    assert validate("11010519491231002x") == "11010519491231002X"  # GB 11643's own example, lower-case x
    assert mask(PLAIN) == MASKED and mask(PLAIN).startswith("110***********")
    for bad in (wrong_check(PLAIN), "1101051949123100", "1101051949123100211",
                id_number("11010519491331002"), "ABCDEFGHIJKLMNOPQR", ""):
        with pytest.raises(InvalidInput) as err:
            validate(bad)
        assert err.value.field == "id_number"


def test_ciphertext_is_bound_to_its_record():
    cipher = IdentityCipher(b"k" * 32)
    a, b = uuid.uuid4(), uuid.uuid4()
    blob = cipher.encrypt(PLAIN, record_id=a)
    assert PLAIN.encode() not in blob and cipher.decrypt(blob, record_id=a) == PLAIN
    assert cipher.encrypt(PLAIN, record_id=a) != blob  # a fresh nonce each time
    with pytest.raises(ValueError):
        cipher.decrypt(blob, record_id=b)
    assert cipher.digest(PLAIN) == cipher.digest(PLAIN) != IdentityCipher(b"j" * 32).digest(PLAIN)


async def test_a_key_person_is_stored_encrypted_and_answered_masked(app, client):
    tree, commander, admin, school = await _world(app, client)
    p = await _person(client, commander, school)
    assert p["id_number"] == MASKED and p["id_number_masked"] is True
    assert p["jurisdiction_code"] == tree.station_a and p["school_name"] == school["name"]
    stored = await app.state.db.fetchrow("SELECT id_number_cipher, id_number_digest, id_number_masked FROM "
                                         "key_persons WHERE id = :id", {"id": uuid.UUID(p["id"])})
    assert PLAIN.encode() not in bytes(stored["id_number_cipher"]) and len(stored["id_number_cipher"]) > 18
    assert PLAIN.encode() not in bytes(stored["id_number_digest"])
    assert stored["id_number_masked"] == MASKED
    row = await app.state.db.fetchrow("SELECT to_jsonb(k)::text AS t FROM key_persons k WHERE id = :id",
                                      {"id": uuid.UUID(p["id"])})
    assert PLAIN not in row["t"]
    # masked in every answer
    answers = [await client.get("/v1/key-persons", headers=commander.headers),
               await client.get(f"/v1/key-persons/{p['id']}", headers=commander.headers),
               await client.get(f"/v1/key-persons/{p['id']}", headers=admin.headers),
               await client.patch(f"/v1/key-persons/{p['id']}", headers=commander.headers,
                                  json={"control_measures": "每日电话"}),
               await client.post(f"/v1/key-persons/{p['id']}/visits", headers=commander.headers,
                                 json={"visited_at": datetime.now(UTC).isoformat(), "findings": "情绪稳定"}),
               await client.get(f"/v1/key-persons/{p['id']}/visits", headers=commander.headers),
               await client.get("/v1/audit", headers=admin.headers, params={"entity": "key_person"})]
    for r in answers:
        assert r.status_code in (200, 201), r.text
        assert PLAIN not in r.text
    audit_text = await app.state.db.fetchval("SELECT string_agg(changes::text, ' ') FROM audit_log")
    assert PLAIN not in audit_text


async def test_officers_viewers_and_keys_are_refused(app, client):
    tree, commander, admin, school = await _world(app, client)
    p = await _person(client, commander, school)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    viewer = await make_person(app, client, role="viewer", jurisdiction_code=tree.code)
    key = (await client.post("/v1/api-keys", headers=admin.headers,
                             json={"name": "wall", "jurisdiction_code": tree.code})).json()["key"]
    d = (await client.post("/v1/disputes", headers=commander.headers, json={
        "school_id": school["id"], "kind": "school_parent", "found_on": "2026-11-01"})).json()
    for headers in (officer.headers, viewer.headers, {"X-API-Key": key}):
        for path in ("/v1/key-persons", f"/v1/key-persons/{p['id']}", f"/v1/key-persons/{p['id']}/visits",
                     "/v1/disputes", f"/v1/disputes/{d['id']}"):
            r = await client.get(path, headers=headers)
            assert r.status_code == 403, (path, r.status_code)
            assert PLAIN not in r.text and "张某" not in r.text
        r = await client.post("/v1/key-persons", headers=headers, json={})
        assert r.status_code == 403  # refused before the body is even read
        r = await client.post("/v1/disputes", headers=headers, json={})
        assert r.status_code == 403
    outsider = await make_person(app, client, role="commander", jurisdiction_code=(await make_tree(app)).code)
    assert (await client.get(f"/v1/key-persons/{p['id']}", headers=outsider.headers)).status_code == 404
    assert (await client.get("/v1/key-persons", headers=outsider.headers)).json()["items"] == []


async def test_every_read_is_audited(app, client):
    tree, commander, admin, school = await _world(app, client)
    p = await _person(client, commander, school)
    before = await app.state.db.fetchval("SELECT count(*) FROM audit_log WHERE entity = 'key_person' "
                                         "AND entity_id = 'list' AND actor_id = :a", {"a": commander.id})
    listed = await client.get("/v1/key-persons", headers=commander.headers, params={"category": "threatening_revenge"})
    assert [x["id"] for x in listed.json()["items"]] == [p["id"]]
    entries = await app.state.db.fetch("SELECT changes FROM audit_log WHERE entity = 'key_person' AND entity_id = "
                                       "'list' AND actor_id = :a ORDER BY id", {"a": commander.id})
    assert len(entries) == before + 1
    assert entries[-1]["changes"]["ids"] == [p["id"]]
    assert entries[-1]["changes"]["filter"] == {"category": "threatening_revenge"}
    await client.get(f"/v1/key-persons/{p['id']}", headers=commander.headers)
    await client.get(f"/v1/key-persons/{p['id']}/visits", headers=commander.headers)
    actions = [e["action"] for e in await _audit(app, "key_person", p["id"])]
    assert actions == ["create", "read", "read_visits"]
    d = (await client.post("/v1/disputes", headers=commander.headers, json={
        "school_id": school["id"], "kind": "school_parent", "found_on": "2026-11-01"})).json()
    await client.get(f"/v1/disputes/{d['id']}", headers=commander.headers)
    await client.get("/v1/disputes", headers=commander.headers)
    assert [e["action"] for e in await _audit(app, "dispute", d["id"])] == ["create", "read"]
    last = await app.state.db.fetchrow("SELECT changes FROM audit_log WHERE entity = 'dispute' AND entity_id = "
                                       "'list' AND actor_id = :a ORDER BY id DESC LIMIT 1", {"a": commander.id})
    assert last["changes"]["ids"] == [d["id"]]


async def test_only_an_admin_with_a_reason_unmasks_and_that_is_audited(app, client):
    tree, commander, admin, school = await _world(app, client)
    p = await _person(client, commander, school)
    r = await client.get(f"/v1/key-persons/{p['id']}", headers=commander.headers,
                         params={"unmask": "true", "reason": "核实身份"})
    assert r.status_code == 403
    r = await client.get(f"/v1/key-persons/{p['id']}", headers=admin.headers, params={"unmask": "true"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = await client.get(f"/v1/key-persons/{p['id']}", headers=admin.headers,
                         params={"unmask": "true", "reason": "协查通报核实身份"})
    assert r.status_code == 200
    assert r.json()["id_number"] == PLAIN and r.json()["id_number_masked"] is False
    unmasks = [e for e in await _audit(app, "key_person", p["id"]) if e["action"] == "unmask"]
    assert len(unmasks) == 1
    assert unmasks[0]["actor_id"] == admin.id and unmasks[0]["changes"] == {"reason": "协查通报核实身份"}


async def test_bad_identity_numbers_and_duplicates(app, client):
    tree, commander, admin, school = await _world(app, client)
    for bad in (wrong_check(PLAIN), PLAIN[:17], id_number("11010520491231002")):
        r = await client.post("/v1/key-persons", headers=commander.headers, json={
            "category": "drug_user", "name": "x", "id_number": bad, "school_id": school["id"]})
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "id_number"
    await _person(client, commander, school)
    r = await client.post("/v1/key-persons", headers=commander.headers, json={
        "category": "drug_user", "name": "x", "id_number": PLAIN.lower(), "school_id": school["id"]})
    assert r.status_code == 409
    r = await client.post("/v1/key-persons", headers=commander.headers, json={
        "category": "drug_user", "name": "x", "id_number": id_number("50024319800101123"),
        "school_id": str(uuid.uuid4())})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "school_id"
    n = await app.state.db.fetchval("SELECT count(*) FROM key_persons WHERE jurisdiction_code LIKE :c || '%'",
                                    {"c": tree.code})
    assert n == 1


async def test_the_visit_log_keeps_the_latest_visit(app, client):
    tree, commander, admin, school = await _world(app, client)
    p = await _person(client, commander, school, category="severe_mental_disorder")
    t1 = datetime.now(UTC) - timedelta(days=3)
    t2 = datetime.now(UTC) - timedelta(days=1)
    for t, dangerous in ((t2, True), (t1, False)):
        r = await client.post(f"/v1/key-persons/{p['id']}/visits", headers=commander.headers, json={
            "visited_at": t.isoformat(), "findings": "走访", "dangerous_items_found": dangerous})
        assert r.status_code == 201, r.text
    visits = (await client.get(f"/v1/key-persons/{p['id']}/visits", headers=commander.headers)).json()
    assert [v["dangerous_items_found"] for v in visits] == [True, False]
    assert visits[0]["visited_by"] == commander.id
    got = (await client.get(f"/v1/key-persons/{p['id']}", headers=commander.headers)).json()
    assert datetime.fromisoformat(got["last_visit_at"]) == t2
    r = await client.post(f"/v1/key-persons/{p['id']}/visits", headers=commander.headers, json={
        "visited_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "visited_at"


async def test_dispute_mediation_moves_forward_and_resolution_is_final(app, client):
    tree, commander, admin, school = await _world(app, client)
    r = await client.post("/v1/disputes", headers=commander.headers, json={
        "school_id": school["id"], "kind": "school_parent", "found_on": "2026-11-01",
        "parties": [{"name": "李某", "role": "学生家长"}, {"name": "某小学", "role": "学校"}],
        "summary": "家长与学校因学生受伤赔偿发生纠纷", "responsible_officer_id": commander.id})
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["jurisdiction_code"] == tree.station_a and d["mediation_status"] == "registered"
    assert d["resolved_at"] is None and len(d["parties"]) == 2
    r = await client.patch(f"/v1/disputes/{d['id']}", headers=commander.headers, json={"mediation_status": "mediating"})
    assert r.status_code == 200 and r.json()["resolved_at"] is None
    r = await client.patch(f"/v1/disputes/{d['id']}", headers=commander.headers,
                           json={"mediation_status": "resolved", "closing_note": "双方达成调解协议"})
    assert r.status_code == 200 and r.json()["resolved_at"] is not None
    for status in ("mediating", "referred"):
        r = await client.patch(f"/v1/disputes/{d['id']}", headers=commander.headers,
                               json={"mediation_status": status})
        assert r.status_code == 409
    listed = (await client.get("/v1/disputes", headers=commander.headers,
                               params={"mediation_status": "resolved", "school_id": school["id"]})).json()
    assert [x["id"] for x in listed["items"]] == [d["id"]]
    r = await client.post("/v1/disputes", headers=commander.headers, json={
        "school_id": school["id"], "kind": "school_parent", "found_on": "2026-11-01",
        "responsible_officer_id": str(uuid.uuid4())})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "responsible_officer_id"
