"""Shared setup for the ledger suites (hazards, venues, inspections, imports): a county with two stations, a
school with a campus in station A, people of every role, and small helpers."""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from PIL import Image

from domain.database import unit_of_work
from tests.factories import County, Person, make_person, make_school, make_tree, offset, rectangle

_places = itertools.count()


def fresh_place() -> tuple[float, float]:
    """A school site ~50 km from every other ledger world's, away from the other suites' sites."""
    n = next(_places)
    return 116.0 + (n % 12) * 0.5, 38.0 + (n // 12) * 0.5


@dataclass
class LedgerWorld:
    tree: County
    admin: Person  # county admin
    commander: Person  # county commander
    officer: Person  # station A officer
    outsider: Person  # station B officer
    viewer: Person  # county viewer
    school: dict  # station A school, campus 160 m × 120 m
    lon: float
    lat: float

    def near(self, *, north_m: float = 100.0, east_m: float = 0.0) -> dict:
        """A GeoJSON point `north_m` north of the school's centre (60 m to its campus edge)."""
        return {"type": "Point", "coordinates": list(offset(self.lon, self.lat, north_m=north_m, east_m=east_m))}


async def make_ledger_world(app, client: httpx.AsyncClient) -> LedgerWorld:
    tree = await make_tree(app)
    admin = await make_person(app, client, role="admin", jurisdiction_code=tree.code)
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    officer = await make_person(app, client, role="officer", jurisdiction_code=tree.station_a)
    outsider = await make_person(app, client, role="officer", jurisdiction_code=tree.station_b)
    viewer = await make_person(app, client, role="viewer", jurisdiction_code=tree.code)
    lon, lat = fresh_place()
    school = await make_school(client, commander, jurisdiction_code=tree.station_a, lon=lon, lat=lat,
                               name="测试小学", campus=rectangle(lon, lat, half_width_m=80, half_height_m=60))
    return LedgerWorld(tree, admin, commander, officer, outsider, viewer, school, lon, lat)


def ago(**delta: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(**delta)


def hazard_body(w: LedgerWorld, **over: Any) -> dict:
    body = {"category": "facilities_physical", "severity": "general", "description": "北门防冲撞柱缺失",
            "found_at": ago(hours=2).isoformat(), "deadline": (ago(hours=2) + timedelta(days=7)).isoformat(),
            "location": w.near(), "responsible_unit": "学校保卫处"}
    body.update(over)
    return body


async def report_hazard(client: httpx.AsyncClient, person: Person, body: dict, *, expect: int = 201) -> dict:
    r = await client.post("/v1/hazards", headers=person.headers, json=body)
    assert r.status_code == expect, r.text
    return r.json()


def png(width: int = 40, height: int = 30, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


def jpeg(width: int = 64, height: int = 48) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buf, format="JPEG")
    return buf.getvalue()


async def count(app, sql: str, **params: Any) -> int:
    async with unit_of_work(app.state.pool) as db:
        return await db.fetchval(sql, params)
