"""Demo duty data: a post at every demo school's gate, today's shifts for the demo officers, and a morning of
check-ins in which most officers kept their post, some came late, one left early and some never came.

Idempotent: posts are found by school and name, shifts are unique per (officer, post, start) and check-ins have
deterministic ids, so a second run replays them as duplicates.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from domain import checkins, posts
from domain.callers import Caller, Role, system_caller
from domain.database import Db
from domain.errors import DomainError
from domain.locations import read_point, read_position
from domain.settings import get_settings
from domain.shifts import DEFAULT_WINDOWS, local_span

DATA_DIR = Path(__file__).resolve().parent / "demo_data"
GATE_POST_NAME = "校门护学岗"
NAMESPACE = uuid.UUID("6f1c1d7e-5b0e-4f7a-9a39-2f1d2d6b0c55")
HEARTBEAT_EVERY = timedelta(minutes=4)


def _pattern(index: int) -> str:
    """How officer number `index` behaves this morning: mostly kept, some late, one leaving early, some absent."""
    return {3: "late", 5: "partial", 7: "absent", 11: "late", 14: "absent"}.get(index, "kept")


def _offset_north(lon: float, lat: float, metres: float) -> tuple[float, float]:
    return lon, lat + metres / 111_320.0


async def _gate_posts(db: Db, schools_geojson: dict) -> list[dict]:
    """A school-guard post at each demo school's gate (created once)."""
    external = {f["properties"]["external_id"]: f["properties"]["gate"] for f in schools_geojson["features"]
                if f["properties"].get("gate") and f["properties"].get("external_id")}
    rows = await db.fetch("""
        SELECT s.id, s.external_id, s.jurisdiction_code, s.zone_radius_m, j.path::text AS path
        FROM schools s JOIN jurisdictions j ON j.code = s.jurisdiction_code
        WHERE s.external_id = ANY(CAST(:ids AS text[])) AND s.deleted_at IS NULL ORDER BY s.external_id
    """, {"ids": list(external)})
    out = []
    for school in rows:
        existing = await db.fetchrow("""
            SELECT id, school_id, jurisdiction_code FROM posts
            WHERE school_id = :s AND name = :n AND deleted_at IS NULL
        """, {"s": school["id"], "n": GATE_POST_NAME})
        if existing is None:
            caller = system_caller(school["jurisdiction_code"], school["path"], name="demo")
            gate = read_point({"type": "Point", "coordinates": external[school["external_id"]]}, crs="wgs84")
            try:
                existing = await posts.create(db, caller=caller, school=dict(school), name=GATE_POST_NAME,
                                              kind="school_guard", location=gate)
            except DomainError:
                continue
        out.append({**dict(existing), "gate": external[school["external_id"]], "external_id": school["external_id"]})
    return out


async def seed_duty(db: Db, *, today_local: date, now: datetime | None = None,
                    schools_geojson: dict | None = None, people: list[dict] | None = None) -> dict:
    """Seed posts, today's shifts and this morning's check-ins for the demo officers (see the module doc)."""
    now = now or datetime.now(UTC)
    settings = get_settings()
    schools_geojson = schools_geojson or json.loads((DATA_DIR / "schools.geojson").read_text())
    people = people or json.loads((DATA_DIR / "people.json").read_text())
    gate_posts = await _gate_posts(db, schools_geojson)
    usernames = [p["username"] for p in people if p["role"] == "officer"]
    officers = await db.fetch("""
        SELECT u.id, u.username, u.jurisdiction_code, j.path::text AS path, j.time_zone
        FROM users u JOIN jurisdictions j ON j.code = u.jurisdiction_code
        WHERE lower(u.username) = ANY(CAST(:names AS text[])) AND u.active
    """, {"names": [u.lower() for u in usernames]})
    officers = sorted(officers, key=lambda o: o["username"])
    taken: set = set()
    made_shifts = stored = 0
    for index, officer in enumerate(officers):
        county = officer["path"].split(".")[0]
        station_area = officer["jurisdiction_code"][:9]
        candidates = [p for p in gate_posts if p["id"] not in taken and p["jurisdiction_code"].startswith(county)]
        near = [p for p in candidates if p["jurisdiction_code"].startswith(station_area)]
        if not (near or candidates):
            continue
        post = (near or candidates)[0]
        taken.add(post["id"])
        tz = ZoneInfo(officer["time_zone"])
        morning = None
        for window in DEFAULT_WINDOWS:
            starts_at, ends_at = local_span(today_local, window, tz)
            made_shifts += await db.execute("""
                INSERT INTO shifts (id, officer_id, post_id, jurisdiction_code, starts_at, ends_at, window_name)
                VALUES (:id, :o, :p, :c, :s, :e, :w)
                ON CONFLICT (officer_id, post_id, starts_at) DO NOTHING
            """, {"id": uuid.uuid4(), "o": officer["id"], "p": post["id"], "c": post["jurisdiction_code"],
                   "s": starts_at, "e": ends_at, "w": window.name})
            if window.name == "morning":
                morning = (starts_at, ends_at)
        stored += await _morning_checkins(db, officer=officer, post=post, morning=morning,
                                          pattern=_pattern(index), now=now, settings=settings)
    return {"posts": len(gate_posts), "shifts_created": made_shifts, "checkins_created": stored}


async def _morning_checkins(db: Db, *, officer: dict, post: dict, morning: tuple[datetime, datetime],
                            pattern: str, now: datetime, settings) -> int:
    starts_at, ends_at = morning
    if pattern == "absent":
        return 0
    first = starts_at + (timedelta(minutes=12) if pattern == "late" else -timedelta(minutes=3))
    last = starts_at + timedelta(minutes=35) if pattern == "partial" else ends_at - timedelta(minutes=1)
    times = []
    t = first
    while t <= last:
        times.append(t)
        t += HEARTBEAT_EVERY
    oldest = now - timedelta(seconds=settings.checkin_max_age_s) + timedelta(minutes=5)
    caller = Caller(kind="user", id=officer["id"], name=officer["username"], role=Role.officer,
                    jurisdiction_code=officer["jurisdiction_code"], scope_path=officer["path"])
    items = []
    for n, at in enumerate(times + [last + timedelta(minutes=1)]):
        if not oldest <= at <= now:
            continue
        kind = "arrive" if n == 0 else "depart" if n == len(times) else "heartbeat"
        lon, lat = _offset_north(*post["gate"], 3.0 + (n % 4))
        body = {"id": str(uuid.uuid5(NAMESPACE, f"{officer['username']}:{at.isoformat()}")), "kind": kind,
                "recorded_at": at.isoformat(), "location": {"type": "Point", "coordinates": [lon, lat]},
                "crs": "wgs84", "accuracy_m": 8.0, "visible": {"vehicle": n == 0, "lights": n == 0}}
        items.append(checkins.CheckinInput(
            id=uuid.UUID(body["id"]), kind=kind, recorded_at=at, location=read_position(body["location"], crs="wgs84"),
            crs="wgs84", accuracy_m=8.0, body_hash=checkins.body_hash(body), vehicle=n == 0, lights=n == 0))
    if not items:
        return 0
    outcomes = await checkins.ingest(db, caller=caller, items=items, settings=settings)
    return sum(o.status == "created" for o in outcomes)
