"""The lean hot endpoints (api/lean.py) answer exactly what their OpenAPI response models describe — every field,
no other, each of the declared type — and treat bad input as every other route does: 401 before anything
else, then 400/422 problem+json naming the field, nothing written."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, TypeAdapter

from api.checkins import BatchAnswer, Checkin
from api.identity import User
from api.incidents import Incident
from api.schools import ZoneLookup, ZoneSchool
from tests.test_duty_support import checkin_body, make_world
from tests.test_incidents_support import incident_body
from tests.test_incidents_support import make_world as make_incident_world


def _exactly(model: type[BaseModel], body: dict) -> None:
    assert set(body) == set(model.model_fields), set(body) ^ set(model.model_fields)
    TypeAdapter(model).validate_python(body)


async def test_me_lookup_and_checkin_answer_their_response_models_exactly(app, client):
    w = await make_world(app, client)
    me = await client.get("/v1/me", headers=w.officer.headers)
    assert me.status_code == 200
    _exactly(User, me.json())

    lon, lat = w.gate
    found = await client.get("/v1/zones/lookup", headers=w.officer.headers, params={"lon": lon, "lat": lat})
    assert found.status_code == 200
    _exactly(ZoneLookup, found.json())
    assert found.json()["schools"], found.json()
    for school in found.json()["schools"]:
        _exactly(ZoneSchool, school)

    body = checkin_body(w, datetime.now(UTC) - timedelta(minutes=1))
    made = await client.post("/v1/checkins", headers=w.officer.headers, json=body)
    assert made.status_code == 201, made.text
    _exactly(Checkin, made.json())
    again = await client.post("/v1/checkins", headers=w.officer.headers, json=body)
    assert again.status_code == 200 and again.json() == made.json()

    batch = await client.post("/v1/checkins/batch", headers=w.officer.headers,
                              json={"items": [checkin_body(w, datetime.now(UTC) - timedelta(minutes=2))]})
    assert batch.status_code == 200
    _exactly(BatchAnswer, batch.json())


async def test_incident_report_answers_its_response_model_exactly(app, client):
    w = await make_incident_world(app, client)
    r = await client.post("/v1/incidents", headers=w.officer.headers,
                          json=incident_body(w, datetime.now(UTC) - timedelta(seconds=30), id=str(uuid.uuid4())))
    assert r.status_code == 201, r.text
    _exactly(Incident, r.json())


async def test_without_credentials_bad_input_is_still_401(client):
    assert (await client.get("/v1/zones/lookup", params={"lon": "x"})).status_code == 401
    assert (await client.post("/v1/checkins", content=b"{", headers={"Content-Type": "application/json"})
            ).status_code == 401
    assert (await client.post("/v1/incidents", json={})).status_code == 401


async def test_bad_input_on_lean_routes_is_problem_json_naming_the_field(app, client):
    w = await make_world(app, client)
    r = await client.get("/v1/zones/lookup", headers=w.officer.headers, params={"lon": "200", "lat": "29"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == ["lon"]
    r = await client.post("/v1/checkins", headers={**w.officer.headers, "Content-Type": "application/json"},
                          content=b'{"id": ')
    assert r.status_code == 400 and r.json()["type"].endswith("/malformed-json")
    body = checkin_body(w, datetime.now(UTC), accuracy_m=-1)
    r = await client.post("/v1/checkins", headers=w.officer.headers, json=body)
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["accuracy_m"]
    assert (await client.get(f"/v1/checkins/{body['id']}", headers=w.officer.headers)).status_code == 404
    r = await client.post("/v1/checkins/batch", headers=w.officer.headers, json={"items": []})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "items"
