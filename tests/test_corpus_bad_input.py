"""Bad input, tried everywhere: every query filter of every documented GET, and every field of every write body,
with the values of its kind from tests/corpus/values.json (NUL, lone surrogates, 10^5 characters, injections;
NaN, ±Infinity, 1e308, overflowing numbers, negatives; year 1, year 9999, ±14:00 offsets, impossible dates;
invalid, self-intersecting, 10^5-vertex and wrong-CRS geometries; garbage and forged cursors; half-world boxes),
plus whole bodies (2 MB, deep nesting, bad UTF-8) and an oversize Last-Event-ID.

Every answer is below 500; every refusal is problem+json; a refused write leaves every table as it was.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.database import unit_of_work
from tests.factories import make_person
from tests.test_duty_support import hour_ago, make_shift, make_world

CORPUS = json.loads((Path(__file__).parent / "corpus" / "values.json").read_text())
TABLES = ("checkins", "checkin_keys", "incidents", "arrivals", "schools", "posts", "shifts", "users", "api_keys",
          "jurisdictions", "scoring_policies", "audit_log", "duty_windows", "non_school_days",
          "tracker_devices", "tracker_unknown_devices", "makeup_school_days", "webhooks", "webhook_deliveries",
          "hazards", "hazard_log", "hazard_photos", "venues", "venue_inspections",
          "campaigns", "disputes", "key_persons", "key_person_visits")
RAW = "\u0001RAW\u0001"


def _value(v: Any) -> Any:
    """A corpus entry as a JSON-ready value (RAW: tokens are marked and spliced in by `_dumps`)."""
    if isinstance(v, str):
        if v.startswith("RAW:"):
            return RAW + v[4:] + RAW
        if v.startswith("LONG:"):
            return "x" * int(v[5:])
        if v.startswith("VERTICES:"):
            n = int(v[9:])
            ring = [[108 + 0.001 * (i % 100), 30 + 0.001 * (i // 100)] for i in range(n)] + [[108, 30]]
            return {"type": "Polygon", "coordinates": [ring]}
        if v.startswith("FORGED:"):
            return base64.urlsafe_b64encode(v[7:].encode()).decode().rstrip("=")
    if isinstance(v, dict):
        return {k: _value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_value(x) for x in v]
    return v


def _dumps(body: Any) -> bytes:
    text = json.dumps(body, ensure_ascii=True)
    return re.sub(r'"\\u0001RAW\\u0001(.*?)\\u0001RAW\\u0001"', lambda m: json.loads(f'"{m.group(1)}"'),
                  text).encode()


def _query_value(v: Any) -> str | None:
    """The corpus entry as a query string value (URLs are capped at 64 kB by clients; a lone surrogate cannot
    be written in one: those are None, skipped)."""
    if isinstance(v, str) and v.startswith("LONG:"):
        return "x" * min(int(v[5:]), 60_000)
    v = _value(v)
    if isinstance(v, str) and v.startswith(RAW):
        v = v.strip(RAW)
        if "\\u" in v or "\\ud" in v.lower() or "\\ud" in v:
            return None
        return v.strip('"')
    return v if isinstance(v, str) else json.dumps(v)


async def _counts(app) -> dict[str, int]:
    sql = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in TABLES)
    async with unit_of_work(app.state.pool) as db:
        return {r[0]: r[1] for r in await db.fetch(sql)}


def _assert_clean(r, what: str) -> None:
    assert r.status_code < 500, f"{what}: {r.status_code} {r.text[:300]}"
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json"), f"{what}: {r.headers}"


@pytest.fixture(scope="module")
def corpus_world():
    return {}


async def _world(app, client, cache: dict) -> dict:
    if cache:
        return cache
    w = await make_world(app, client)
    admin = await make_person(app, client, role="admin", jurisdiction_code=w.tree.code)
    start = hour_ago(-2)
    shift = await make_shift(client, w, start, start + timedelta(hours=1))
    inc = (await client.post("/v1/incidents", headers=w.commander.headers, json={
        "category": "other", "severity": 2, "source": "patrol", "alarm_at": hour_ago(0.01).isoformat(),
        "location": {"type": "Point", "coordinates": list(w.gate)}})).json()
    device = (await client.post("/v1/devices", headers=admin.headers, json={"officer_id": w.officer.id})).json()
    hazard = (await client.post("/v1/hazards", headers=w.commander.headers, json={
        "category": "fire", "severity": "general", "description": "x", "found_at": hour_ago(1).isoformat(),
        "deadline": hour_ago(-48).isoformat(), "location": {"type": "Point", "coordinates": list(w.gate)}})).json()
    venue = (await client.post("/v1/venues", headers=w.commander.headers, json={
        "name": "x", "kind": "internet_cafe", "location": {"type": "Point", "coordinates": list(w.gate)}})).json()
    campaign = (await client.post("/v1/campaigns", headers=admin.headers, json={
        "name": "corpus", "starts_on": "2026-01-01", "ends_on": "2026-06-30"})).json()
    person = (await client.post("/v1/key-persons", headers=admin.headers, json={
        "category": "other", "name": "x", "id_number": "11010519491231002X", "school_id": w.school["id"]})).json()
    dispute = (await client.post("/v1/disputes", headers=admin.headers, json={
        "school_id": w.school["id"], "kind": "other", "found_on": "2026-01-02"})).json()
    cache.update(w=w, admin=admin, shift=shift, incident=inc, campaign=campaign, person=person, dispute=dispute,
                 hazard=hazard, venue=venue, device=device)
    return cache


def _kind(name: str, schema: dict) -> str:
    types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
    formats = {schema.get("format")} | {s.get("format") for s in schema.get("anyOf", [])}
    if name == "cursor":
        return "cursor"
    if name == "bbox":
        return "bbox"
    if name == "datetime":
        return "time"
    if "date-time" in formats or "date" in formats:
        return "time"
    if "uuid" in formats:
        return "uuid"
    if types & {"number", "integer"}:
        return "number"
    return "text"


async def test_every_query_filter_survives_the_corpus(app, client, corpus_world):
    world = await _world(app, client, corpus_world)
    w, admin = world["w"], world["admin"]
    spec = (await client.get("/openapi.json")).json()
    ids = {"school_id": w.school["id"], "post_id": w.post["id"], "shift_id": world["shift"]["id"],
           "incident_id": world["incident"]["id"], "user_id": w.officer.id, "code": w.tree.code,
           "checkin_id": str(uuid.uuid4()), "alert_id": str(uuid.uuid4()), "key_id": str(uuid.uuid4()),
           "day": "2026-10-01", "device_id": world["device"]["id"], "collection_id": "incidents",
           "feature_id": world["incident"]["id"], "hazard_id": world["hazard"]["id"], "venue_id": world["venue"]["id"]}
    tried = 0
    for path, ops in spec["paths"].items():
        op = ops.get("get")
        if not op or path in ("/v1/stream",) or not path.startswith(("/v1/", "/ogc")):
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), str(uuid.uuid4())), path)
        for param in op.get("parameters", []):
            if param["in"] != "query":
                continue
            kind = _kind(param["name"], param.get("schema", {}))
            for value in [*CORPUS[kind], "a\u0000b"]:
                text = _query_value(value)
                if text is None:
                    continue
                r = await client.get(url, headers=admin.headers, params={param["name"]: text})
                _assert_clean(r, f"GET {path}?{param['name']}={str(value)[:40]}")
                tried += 1
    print(f"\ncorpus: {tried} query values tried")
    assert tried > 500


def _bodies(world: dict) -> list[tuple[str, str, dict]]:
    w, inc = world["w"], world["incident"]
    point = {"type": "Point", "coordinates": list(w.gate)}
    now = datetime.now(UTC)
    checkin = {"id": str(uuid.uuid4()), "kind": "arrive", "recorded_at": now.isoformat(), "location": point,
               "accuracy_m": 5, "note": "到岗", "device": {"model": "x", "battery": 0.5}}
    return [
        ("POST", "/v1/checkins", checkin),
        ("POST", "/v1/checkins/batch", {"items": [checkin]}),
        ("POST", "/v1/incidents", {"category": "other", "severity": 2, "source": "patrol", "description": "x",
                                   "alarm_at": now.isoformat(), "location": point}),
        ("PATCH", f"/v1/incidents/{inc['id']}", {"description": "y"}),
        ("POST", f"/v1/incidents/{inc['id']}/arrivals", {"tier": 3, "arrived_at": now.isoformat(),
                                                         "location": point, "accuracy_m": 10}),
        ("POST", "/v1/schools", {"name": "x", "kind": "primary", "jurisdiction_code": w.tree.station_a,
                                 "location": point, "zone_radius_m": 200, "address": "x"}),
        ("PATCH", f"/v1/schools/{w.school['id']}", {"address": "z", "zone_radius_m": 200}),
        ("POST", f"/v1/schools/{w.school['id']}/posts", {"name": "x", "location": point, "radius_m": 30}),
        ("POST", "/v1/shifts", {"officer_id": w.officer2.id, "post_id": w.post["id"],
                                "starts_at": (now + timedelta(days=3)).isoformat(),
                                "ends_at": (now + timedelta(days=3, hours=1)).isoformat()}),
        ("POST", "/v1/users", {"username": "corpus" + uuid.uuid4().hex[:8], "display_name": "x", "role": "viewer",
                               "jurisdiction_code": w.tree.code, "password": "long-enough-password"}),
        ("POST", "/v1/api-keys", {"name": "x", "jurisdiction_code": w.tree.code}),
        ("POST", f"/v1/jurisdictions/{w.tree.code}/non-school-days", {"day": "2026-10-02", "reason": "x"}),
        ("POST", f"/v1/jurisdictions/{w.tree.code}/make-up-days", {"day": "2026-10-10", "timetable_weekday": 6,
                                                                   "reason": "x"}),
        ("POST", "/v1/devices", {"officer_id": w.officer.id, "name": "x"}),
        ("PATCH", f"/v1/devices/{world['device']['id']}", {"officer_id": w.officer2.id, "name": "y",
                                                           "active": True}),
        ("PUT", f"/v1/schools/{w.school['id']}/duty-windows", {"windows": [
            {"name": "am", "starts_local": "07:00", "ends_local": "08:00", "weekdays": [1, 2]}]}),
        ("POST", "/v1/scoring/policies", {"name": "p" + uuid.uuid4().hex[:6], "version": 1,
                                          "tier_limits_s": {"1": 60, "2": 180, "3": 300}, "description": "x"}),
        ("PATCH", "/v1/me", {"display_name": "x", "phone": "123"}),
        ("POST", "/v1/hazards", {"category": "fire", "severity": "general", "description": "x",
                                 "found_at": (now - timedelta(hours=1)).isoformat(),
                                 "deadline": (now + timedelta(days=1)).isoformat(), "location": point,
                                 "school_id": w.school["id"], "responsible_unit": "x"}),
        ("PATCH", f"/v1/hazards/{world['hazard']['id']}", {"action_taken": "x", "responsible_unit": "y",
                                                          "deadline": (now + timedelta(days=2)).isoformat()}),
        ("POST", "/v1/venues", {"name": "x", "kind": "ktv", "location": point, "address": "x", "phone": "1",
                                "jurisdiction_code": w.tree.station_a}),
        ("PATCH", f"/v1/venues/{world['venue']['id']}", {"phone": "2", "note": "x", "status": "suspended"}),
        ("POST", f"/v1/venues/{world['venue']['id']}/inspections", {
            "inspected_at": (now - timedelta(hours=1)).isoformat(), "findings": "x", "violations": ["x"],
            "actions": ["fine"], "fine_yuan": 100, "follow_up_on": (now + timedelta(days=3)).date().isoformat()}),
        ("POST", "/v1/campaigns", {"name": "x", "starts_on": "2026-01-01", "ends_on": "2026-06-30",
                                   "jurisdiction_codes": [w.tree.code], "policy_keys": ["1-3-5@v1"],
                                   "report_dues": [{"name": "x", "due": "2026-07-31"}]}),
        ("PATCH", f"/v1/campaigns/{world['campaign']['id']}", {"name": "y", "ends_on": "2026-07-01"}),
        ("POST", "/v1/key-persons", {"category": "drug_user", "name": "x", "id_number": "110105198001011238",
                                     "school_id": w.school["id"], "control_measures": "x"}),
        ("PATCH", f"/v1/key-persons/{world['person']['id']}", {"control_measures": "y", "risk_level": "high"}),
        ("POST", f"/v1/key-persons/{world['person']['id']}/visits", {"visited_at": now.isoformat(),
                                                                     "findings": "x"}),
        ("POST", "/v1/disputes", {"school_id": w.school["id"], "kind": "neighbour", "found_on": "2026-01-03",
                                  "parties": [{"name": "x", "role": "y"}], "summary": "x"}),
        ("PATCH", f"/v1/disputes/{world['dispute']['id']}", {"summary": "y", "mediation_status": "mediating"}),
    ]


def _leaves(value: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    if isinstance(value, dict):
        if value.get("type") in ("Point", "Polygon"):
            return [(path, value)]
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(value, list) and value and isinstance(value[0], (dict, list)):
        return [leaf for n, v in enumerate(value) for leaf in _leaves(v, (*path, n))]
    return [(path, value)]


def _leaf_kind(path: tuple, value: Any) -> str:
    name = str(path[-1]) if path else ""
    if isinstance(value, dict):
        return "geometry"
    if name.endswith("_at") or name in ("day", "from", "to"):
        return "time"
    if name == "id" or name.endswith("_id"):
        return "uuid"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "number"
    return "text"


def _replace(body: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(body))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return copy


async def test_every_write_field_survives_the_corpus_and_a_refusal_writes_nothing(app, client, corpus_world):
    world = await _world(app, client, corpus_world)
    admin = world["admin"]
    tried = refused = 0
    for method, url, body in _bodies(world):
        for path, value in _leaves(body):
            kind = _leaf_kind(path, value)
            for bad in CORPUS[kind]:
                mutated = _replace(body, path, _value(bad))
                for key in ("id",):  # a fresh client id each time: a replay is not what is tried here
                    if isinstance(mutated, dict) and key in mutated and path != (key,):
                        mutated[key] = str(uuid.uuid4())
                before = await _counts(app)
                r = await client.request(method, url, headers={**admin.headers, "Content-Type": "application/json"},
                                         content=_dumps(mutated))
                what = f"{method} {url} {'.'.join(map(str, path))}={str(bad)[:40]}"
                _assert_clean(r, what)
                tried += 1
                if r.status_code >= 400:
                    refused += 1
                    assert await _counts(app) == before, f"{what} was refused but wrote"
    print(f"\ncorpus: {tried} write bodies tried, {refused} refused (every table counted before and after each)")
    assert tried > 300 and refused > tried // 2


async def test_whole_bodies_that_are_too_big_too_deep_or_not_utf8(app, client, corpus_world):
    world = await _world(app, client, corpus_world)
    headers = {**world["admin"].headers, "Content-Type": "application/json"}
    before = await _counts(app)
    bodies = [b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 5000 + b"1" + b"}" * 5000, b"\xff\xfe{\"x\": 1}",
              b'{"category": "\xc3\x28"}', b"x" * (2 * 1024 * 1024 + 1), b"", b"null", b"[]", b'"text"']
    for url in ("/v1/incidents", "/v1/checkins", "/v1/checkins/batch", "/v1/schools", "/v1/shifts"):
        for raw in bodies:
            r = await client.post(url, headers=headers, content=raw)
            _assert_clean(r, f"POST {url} {raw[:20]!r}")
            assert r.status_code >= 400
    assert await _counts(app) == before


async def test_an_oversize_last_event_id_is_a_4xx(app, client, corpus_world):
    world = await _world(app, client, corpus_world)
    for value in ("9" * 30, "9" * 5000, "-1", "1e9", "0x10", "\u0661".encode()):
        r = await client.get("/v1/stream", headers={**world["admin"].headers, "Last-Event-ID": value})
        _assert_clean(r, f"Last-Event-ID {value[:20]}")
        assert r.status_code == 422
    r = await client.get("/v1/stream", headers=world["admin"].headers, params={"last_event_id": "9" * 30})
    assert r.status_code == 422
