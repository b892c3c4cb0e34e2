"""Test data that states only what matters: a jurisdiction tree of its own, people with tokens, keys."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import httpx

from domain import jurisdictions, users
from domain.callers import Role, UnitType
from domain.database import unit_of_work

PASSWORD = "correct-horse-battery"


def unique_code(prefix: str = "T") -> str:
    return f"{prefix}{secrets.token_hex(5)}"


@dataclass
class Person:
    id: str
    username: str
    role: str
    jurisdiction_code: str
    token: str = ""
    refresh_token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class County:
    """A county with two stations below it, each test's own corner of the world."""

    code: str
    station_a: str
    station_b: str
    people: dict[str, Person] = field(default_factory=dict)


async def make_tree(app, *, time_zone: str = "Asia/Shanghai") -> County:
    county = unique_code("C")
    a, b = county + "A", county + "B"
    async with unit_of_work(app.state.pool) as db:
        await jurisdictions.ensure(db, new=jurisdictions.NewJurisdiction(county, "Test county", "county",
                                                                             None, time_zone))
        for code, name in ((a, "Station A"), (b, "Station B")):
            await jurisdictions.ensure(db, new=jurisdictions.NewJurisdiction(code, name, "station", county,
                                                                                 time_zone))
    return County(county, a, b)


async def make_person(app, client: httpx.AsyncClient, *, role: str, jurisdiction_code: str,
                      unit_type: str = "police", login: bool = True) -> Person:
    username = f"u{secrets.token_hex(6)}"
    async with unit_of_work(app.state.pool) as db:
        row = await users.ensure(db, new=users.NewUser(
            username=username, display_name=f"Test {role}", role=Role(role), jurisdiction_code=jurisdiction_code,
            password=PASSWORD, unit_type=UnitType(unit_type)))
    person = Person(id=str(row["id"]), username=username, role=role, jurisdiction_code=jurisdiction_code)
    if login:
        r = await client.post("/v1/auth/token", data={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        person.token = r.json()["access_token"]
        person.refresh_token = r.json()["refresh_token"]
    return person


# --- places ----------------------------------------------------------------------------------------

def offset(lon: float, lat: float, *, east_m: float = 0.0, north_m: float = 0.0) -> tuple[float, float]:
    """The point `east_m` east and `north_m` north of (lon, lat), along geodesics (pyproj)."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    if north_m:
        lon, lat, _ = geod.fwd(lon, lat, 0 if north_m > 0 else 180, abs(north_m))
    if east_m:
        lon, lat, _ = geod.fwd(lon, lat, 90 if east_m > 0 else 270, abs(east_m))
    return lon, lat


def rectangle(lon: float, lat: float, *, half_width_m: float, half_height_m: float) -> dict:
    """A GeoJSON Polygon campus centred on (lon, lat), edges running north–south and east–west."""
    w, s = offset(lon, lat, east_m=-half_width_m, north_m=-half_height_m)
    e, n = offset(lon, lat, east_m=half_width_m, north_m=half_height_m)
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


async def make_school(client: httpx.AsyncClient, person: Person, *, jurisdiction_code: str, lon: float,
                      lat: float, campus: dict | None = None, zone_radius_m: float = 200.0,
                      name: str = "Test school", kind: str = "primary", crs: str = "wgs84") -> dict:
    body = {"name": name, "kind": kind, "jurisdiction_code": jurisdiction_code,
            "location": {"type": "Point", "coordinates": [lon, lat]}, "zone_radius_m": zone_radius_m, "crs": crs}
    if campus is not None:
        body["campus"] = campus
    r = await client.post("/v1/schools", headers=person.headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()
