"""Shared test data for the incident suites: a county with a school, people, a movable server clock."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from api.deps import server_now
from domain.database import unit_of_work
from tests.factories import County, Person, make_person, make_school, make_tree, offset, rectangle

T0 = datetime(2026, 9, 1, 7, 30, tzinfo=UTC)


class Clock:
    """The server clock the API sees; tests move it."""

    def __init__(self, now: datetime):
        self.now = now

    def at(self, seconds: float) -> datetime:
        return self.now + timedelta(seconds=seconds)


@pytest.fixture
def clock(app):
    c = Clock(T0)
    app.dependency_overrides[server_now] = lambda: c.now
    try:
        yield c
    finally:
        app.dependency_overrides.pop(server_now, None)


_places = itertools.count()


def fresh_place() -> tuple[float, float]:
    """A school site ~50 km from every other world's (the test database is shared and zone decisions span all
    schools), away from the other suites' sites."""
    n = next(_places)
    return 80.0 + (n % 30) * 0.6, 30.0 + (n // 30) * 0.5


@dataclass
class World:
    tree: County
    commander: Person  # county commander
    officer: Person  # station A officer
    guard: Person  # station A school guard (responder, no login)
    police: Person  # station A police officer (responder)
    aux: Person  # station A auxiliary
    outsider: Person  # station B police (outside station A)
    school: dict
    lon: float
    lat: float

    def scene(self, *, east_m: float = 0.0, north_m: float = 100.0) -> tuple[float, float]:
        """`north_m` north of the school's centre (60 m to its campus edge): 100 m north is in the zone."""
        return offset(self.lon, self.lat, east_m=east_m, north_m=north_m)


async def make_world(app, client) -> World:
    tree = await make_tree(app)
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    guard = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a, unit_type="guard",
                              login=False)
    police = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a, login=False)
    aux = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a, unit_type="auxiliary",
                            login=False)
    outsider = await make_person(app, client, role="officer", jurisdiction_code=tree.station_b)
    lon, lat = fresh_place()
    school = await make_school(client, commander, jurisdiction_code=tree.station_a, lon=lon, lat=lat,
                               campus=rectangle(lon, lat, half_width_m=80, half_height_m=60))
    return World(tree, commander, officer, guard, police, aux, outsider, school, lon, lat)


def point(lon: float, lat: float) -> dict:
    return {"type": "Point", "coordinates": [lon, lat]}


def incident_body(w: World, alarm_at: datetime, /, *, where: tuple[float, float] | None = None, **over) -> dict:
    lon, lat = where or w.scene()
    body = {"category": "suspicious_person", "severity": 2, "source": "one_button_alarm",
            "description": "可疑人员在校门口徘徊", "location": point(lon, lat), "alarm_at": alarm_at.isoformat()}
    body.update(over)
    return body


async def report(client, w: World, person: Person, alarm_at: datetime, /, **over) -> dict:
    r = await client.post("/v1/incidents", headers=person.headers, json=incident_body(w, alarm_at, **over))
    assert r.status_code == 201, r.text
    return r.json()


def arrival_body(incident: dict, responder: Person, tier: int, seconds: float, *, east_m: float = 0.0,
                 **over) -> dict:
    lon, lat = incident["location"]["coordinates"]
    if east_m:
        lon, lat = offset(lon, lat, east_m=east_m)
    alarm = datetime.fromisoformat(incident["alarm_at"])
    body = {"id": str(uuid.uuid4()), "responder_id": responder.id, "tier": tier,
            "arrived_at": (alarm + timedelta(seconds=seconds)).isoformat(), "location": point(lon, lat)}
    body.update(over)
    return body


async def arrive(client, person: Person, incident: dict, responder: Person, tier: int, seconds: float,
                 **over) -> dict:
    r = await client.post(f"/v1/incidents/{incident['id']}/arrivals", headers=person.headers,
                          json=arrival_body(incident, responder, tier, seconds, **over))
    assert r.status_code == 201, r.text
    return r.json()


async def count(app, sql: str, **params) -> int:
    async with unit_of_work(app.state.pool) as db:
        return int(await db.fetchval(sql, params))


def states(score: dict) -> dict[int, str]:
    return {t["tier"]: t["state"] for t in score["tiers"]}
