"""Test data that states only what matters: a jurisdiction tree of its own, people with tokens, keys."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import httpx

from domain import jurisdictions, users
from domain.callers import Role, UnitType
from domain.database import session_scope

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
    async for session in session_scope(app.state.sessionmaker):
        await jurisdictions.ensure(session, new=jurisdictions.NewJurisdiction(county, "Test county", "county",
                                                                             None, time_zone))
        for code, name in ((a, "Station A"), (b, "Station B")):
            await jurisdictions.ensure(session, new=jurisdictions.NewJurisdiction(code, name, "station", county,
                                                                                 time_zone))
    return County(county, a, b)


async def make_person(app, client: httpx.AsyncClient, *, role: str, jurisdiction_code: str,
                      unit_type: str = "police", login: bool = True) -> Person:
    username = f"u{secrets.token_hex(6)}"
    async for session in session_scope(app.state.sessionmaker):
        row = await users.ensure(session, new=users.NewUser(
            username=username, display_name=f"Test {role}", role=Role(role), jurisdiction_code=jurisdiction_code,
            password=PASSWORD, unit_type=UnitType(unit_type)))
    person = Person(id=str(row["id"]), username=username, role=role, jurisdiction_code=jurisdiction_code)
    if login:
        r = await client.post("/v1/auth/token", data={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        person.token = r.json()["access_token"]
        person.refresh_token = r.json()["refresh_token"]
    return person
