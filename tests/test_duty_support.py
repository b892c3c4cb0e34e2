"""Shared setup for the duty and check-in tests: a county with a school, a gate post, officers, shifts."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from tests.factories import County, Person, make_person, make_school, make_tree, offset, rectangle

CAMPUS_HALF_W_M, CAMPUS_HALF_H_M = 80.0, 60.0


@dataclass
class World:
    tree: County
    commander: Person
    officer: Person
    officer2: Person
    school: dict
    post: dict
    lon: float
    lat: float

    @property
    def gate(self) -> tuple[float, float]:
        return tuple(self.post["location"]["coordinates"])

    def near_post(self, *, north_m: float = 0.0, east_m: float = 0.0) -> tuple[float, float]:
        return offset(*self.gate, north_m=north_m, east_m=east_m)


def somewhere() -> tuple[float, float]:
    """A random place in China, so that no other test's school zone covers this test's school."""
    return round(random.uniform(100.0, 115.0), 6), round(random.uniform(24.0, 36.0), 6)


async def make_world(app, client: httpx.AsyncClient, *, time_zone: str = "Asia/Shanghai") -> World:
    lon, lat = somewhere()
    tree = await make_tree(app, time_zone=time_zone)
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    officer2 = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    school = await make_school(client, commander, jurisdiction_code=tree.station_a, lon=lon, lat=lat,
                               campus=rectangle(lon, lat, half_width_m=CAMPUS_HALF_W_M, half_height_m=CAMPUS_HALF_H_M))
    gate = offset(lon, lat, north_m=CAMPUS_HALF_H_M)
    r = await client.post(f"/v1/schools/{school['id']}/posts", headers=commander.headers, json={
        "name": "北门护学岗", "kind": "school_guard", "location": {"type": "Point", "coordinates": list(gate)}})
    assert r.status_code == 201, r.text
    return World(tree, commander, officer, officer2, school, r.json(), lon, lat)


def hour_ago(hours: float = 1.0) -> datetime:
    now = datetime.now(UTC).replace(microsecond=0)
    return now - timedelta(hours=hours)


async def make_shift(client: httpx.AsyncClient, w: World, starts_at: datetime, ends_at: datetime,
                     officer: Person | None = None, post_id: str | None = None) -> dict:
    r = await client.post("/v1/shifts", headers=w.commander.headers, json={
        "officer_id": (officer or w.officer).id, "post_id": post_id or w.post["id"],
        "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat()})
    assert r.status_code == 201, r.text
    return r.json()


def checkin_body(w: World, at: datetime, *, north_m: float = 0.0, east_m: float = 0.0, kind: str = "arrive",
                 accuracy_m: float = 5.0, **over) -> dict:
    body = {"id": str(uuid.uuid4()), "kind": kind, "recorded_at": at.isoformat(),
            "location": {"type": "Point", "coordinates": list(w.near_post(north_m=north_m, east_m=east_m))},
            "accuracy_m": accuracy_m}
    body.update(over)
    return body


async def check_in(client: httpx.AsyncClient, person: Person, body: dict, *, expect: int = 201) -> dict:
    r = await client.post("/v1/checkins", headers=person.headers, json=body)
    assert r.status_code == expect, r.text
    return r.json()


async def batch(client: httpx.AsyncClient, person: Person, items: list, *, expect: int = 200) -> dict:
    r = await client.post("/v1/checkins/batch", headers=person.headers, json={"items": items})
    assert r.status_code == expect, r.text
    return r.json()
