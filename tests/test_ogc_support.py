"""Shared test data for the OGC API suites: a county with schools, zones, posts, incidents and check-ins, the
credentials that read them (viewer key, commander token and key, officer), and a foreign county."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from tests.factories import County, Person, make_person, make_school, make_tree, offset, rectangle

CATEGORIES = ("suspicious_person", "bullying", "traffic", "school_disturbance", "fraud")


@dataclass
class OgcWorld:
    tree: County
    admin: Person
    commander: Person
    officer: Person
    viewer_key: str
    commander_key: str
    lon: float
    lat: float
    schools: list[dict] = field(default_factory=list)  # station A: 3, station B: 1
    posts: list[dict] = field(default_factory=list)
    incidents: list[dict] = field(default_factory=list)
    checkins: list[dict] = field(default_factory=list)
    foreign_school: dict | None = None
    foreign_incident: dict | None = None

    @property
    def viewer(self) -> dict[str, str]:
        return {"X-API-Key": self.viewer_key}

    @property
    def commander_by_key(self) -> dict[str, str]:
        return {"X-API-Key": self.commander_key}


def somewhere() -> tuple[float, float]:
    """A random place in China, so that no other test's school zone covers this world's schools."""
    return round(random.uniform(100.0, 115.0), 6), round(random.uniform(24.0, 36.0), 6)


async def make_key(client: httpx.AsyncClient, admin: Person, *, jurisdiction_code: str, role: str = "viewer") -> str:
    body = {"name": f"{role} screen", "jurisdiction_code": jurisdiction_code, "role": role}
    if role == "commander":  # a commander key reads officers' positions: it needs an end date
        body["expires_at"] = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    r = await client.post("/v1/api-keys", headers=admin.headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()["key"]


async def report(client: httpx.AsyncClient, person: Person, *, lon: float, lat: float, alarm_at: datetime,
                 category: str = "suspicious_person", severity: int = 2) -> dict:
    r = await client.post("/v1/incidents", headers=person.headers, json={
        "category": category, "severity": severity, "source": "one_button_alarm", "description": "校门口可疑人员",
        "location": {"type": "Point", "coordinates": [lon, lat]}, "alarm_at": alarm_at.isoformat()})
    assert r.status_code == 201, r.text
    return r.json()


async def check_in(client: httpx.AsyncClient, officer: Person, *, lon: float, lat: float, at: datetime,
                   kind: str = "heartbeat") -> dict:
    r = await client.post("/v1/checkins", headers=officer.headers, json={
        "id": str(uuid.uuid4()), "kind": kind, "recorded_at": at.isoformat(),
        "location": {"type": "Point", "coordinates": [lon, lat]}, "accuracy_m": 8})
    assert r.status_code == 201, r.text
    return r.json()


async def make_ogc_world(app, client: httpx.AsyncClient, *, incidents: int = 5, checkins: int = 3) -> OgcWorld:
    lon, lat = somewhere()
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    w = OgcWorld(tree, admin, commander, officer,
                 viewer_key=await make_key(client, admin, jurisdiction_code=tree.code),
                 commander_key=await make_key(client, admin, jurisdiction_code=tree.code, role="commander"),
                 lon=lon, lat=lat)
    w.schools.append(await make_school(client, commander, jurisdiction_code=tree.station_a, lon=lon, lat=lat,
                                       name="第一小学", campus=rectangle(lon, lat, half_width_m=80, half_height_m=60)))
    for i, east in enumerate((1500, 3000)):
        x, y = offset(lon, lat, east_m=east)
        w.schools.append(await make_school(client, commander, jurisdiction_code=tree.station_a, lon=x, lat=y,
                                           name=f"第{i + 2}中学", kind="middle"))
    x, y = offset(lon, lat, north_m=5000)
    w.schools.append(await make_school(client, commander, jurisdiction_code=tree.station_b, lon=x, lat=y,
                                       name="乙站幼儿园", kind="kindergarten"))
    for name, north in (("北门护学岗", 60), ("南门护学岗", -60)):
        x, y = offset(lon, lat, north_m=north)
        r = await client.post(f"/v1/schools/{w.schools[0]['id']}/posts", headers=commander.headers, json={
            "name": name, "kind": "school_guard", "location": {"type": "Point", "coordinates": [x, y]}})
        assert r.status_code == 201, r.text
        w.posts.append(r.json())
    now = datetime.now(UTC).replace(microsecond=0)
    for i in range(incidents):
        x, y = offset(lon, lat, north_m=100 + 10 * i, east_m=(i % 7) * 400)
        w.incidents.append(await report(client, commander, lon=x, lat=y, alarm_at=now - timedelta(hours=1 + i),
                                        category=CATEGORIES[i % len(CATEGORIES)], severity=1 + i % 4))
    for i in range(checkins):
        x, y = offset(lon, lat, north_m=60, east_m=5 * i)
        w.checkins.append(await check_in(client, officer, lon=x, lat=y, at=now - timedelta(minutes=30 - i),
                                         kind=("arrive", "heartbeat", "depart")[i % 3]))
    # Another county: its rows are never anyone's here.
    other = await make_tree(app)
    other_commander = await make_person(app, client, role="commander", jurisdiction_code=other.code)
    fx, fy = offset(lon, lat, east_m=700)
    w.foreign_school = await make_school(client, other_commander, jurisdiction_code=other.code, lon=fx, lat=fy,
                                         name="外县学校")
    w.foreign_incident = await report(client, other_commander, lon=fx, lat=fy, alarm_at=now - timedelta(hours=2))
    return w
