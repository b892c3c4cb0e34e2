"""Demo incidents: a month of alarms around the demo schools, with arrivals that meet, partly meet and miss
the 1/3/5-minute rule, moved through the status lifecycle. Idempotent: ids are uuid5 of a fixed name, and an
incident that exists is left as it is.

Everything goes through the domain services (zone decision, scoring, events), as a system caller at each
county, so the demo shows exactly what the API would have recorded.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pyproj import Geod
from shapely.geometry import Point

from domain import arrivals, incidents
from domain.callers import system_caller
from domain.database import Db
from domain.settings import get_settings

from .demo_data import SCHOOLS_FILE

DEMO_NAMESPACE = uuid.UUID("5b1f3a57-6c1e-4f0e-9d55-2f1f5e0a6e01")
COUNTIES = ("500243", "341504")
DAYS = 30
LOCAL = ZoneInfo("Asia/Shanghai")
# Peak duty windows (local time) when most school incidents happen: arrival, noon, dismissal, evening study.
PEAKS = ((7, 20), (11, 50), (16, 30), (19, 40))
CATEGORY_WEIGHTS = {
    "suspicious_person": 8, "traffic": 7, "dispute": 5, "bullying": 4, "school_disturbance": 2, "fraud": 2,
    "theft_robbery": 2, "food_safety": 1, "weapons": 1, "violence": 2, "vice_gambling_drugs": 1, "key_person": 2,
    "other": 2,
}
SOURCES = ("one_button_alarm", "call_110", "patrol", "school_report")
TIER_OF_UNIT = {"guard": 1, "auxiliary": 2, "volunteer": 2, "police": 3}
_geod = Geod(ellps="WGS84")


def _move(lon: float, lat: float, rng: random.Random, lo_m: float, hi_m: float) -> tuple[float, float]:
    lon2, lat2, _ = _geod.fwd(lon, lat, rng.uniform(0, 360), rng.uniform(lo_m, hi_m))
    return lon2, lat2


# Arrival plans, seconds after the alarm per tier; None means that tier's unit never came.
SCENARIOS = {
    "meets": ((25, 58), (90, 175), (150, 295)),
    "partly": ((62, 120), (100, 178), (200, 300)),
    "late_police": ((30, 59), (185, 260), (320, 540)),
    "police_first": (None, None, (35, 58)),
    "no_show": ((70, 140), None, None),
}
SCENARIO_WEIGHTS = {"meets": 50, "partly": 25, "late_police": 12, "police_first": 6, "no_show": 7}


async def _schools(db: Db, county: str) -> list[dict]:
    external_ids = [f["properties"]["external_id"]
                    for f in json.loads(SCHOOLS_FILE.read_text(encoding="utf-8"))["features"]]
    rows = await db.fetch("""
        SELECT s.id, ST_X(CAST(s.location AS geometry)) AS lon, ST_Y(CAST(s.location AS geometry)) AS lat
        FROM schools s JOIN jurisdictions j ON j.code = s.jurisdiction_code
        WHERE s.external_id = ANY(CAST(:ids AS text[])) AND j.path <@ CAST(:county AS ltree)
          AND s.deleted_at IS NULL
        ORDER BY s.external_id
    """, {"ids": external_ids, "county": county})
    return [dict(r) for r in rows]


async def _responders(db: Db, county: str) -> dict[int, list[uuid.UUID]]:
    rows = await db.fetch("""
        SELECT u.id, u.unit_type FROM users u JOIN jurisdictions j ON j.code = u.jurisdiction_code
        WHERE u.active AND u.role = 'officer' AND j.path <@ CAST(:county AS ltree) ORDER BY u.username
    """, {"county": county})
    out: dict[int, list[uuid.UUID]] = {1: [], 2: [], 3: []}
    for r in rows:
        out[TIER_OF_UNIT[r["unit_type"]]].append(r["id"])
    return out


async def seed_incidents(db: Db, *, now: datetime) -> int:
    """Add the demo month of incidents before `now` (those already present are kept); returns how many were
    added. Needs the demo jurisdictions, people and schools."""
    settings = get_settings()
    made = 0
    for county in COUNTIES:
        path = await db.fetchval("SELECT path::text FROM jurisdictions WHERE code = :c", {"c": county})
        if path is None:
            continue
        caller = system_caller(county, path, name="demo")
        school_rows = await _schools(db, county)
        responders = await _responders(db, county)
        if not school_rows or not responders[1] or not responders[3]:
            continue
        for day in range(DAYS, 0, -1):
            rng = random.Random(f"{county}-{day}")
            local_day = (now.astimezone(LOCAL) - timedelta(days=day)).date()
            for k in range(rng.choice((1, 2, 2, 3, 4))):
                incident_id = uuid.uuid5(DEMO_NAMESPACE, f"{county}/{day}/{k}")
                # Decide every random draw first, so a kept incident never shifts the ones after it.
                hour, minute = rng.choice(PEAKS)
                alarm_local = datetime(local_day.year, local_day.month, local_day.day, hour, minute,
                                       tzinfo=LOCAL) + timedelta(seconds=rng.randint(0, 40 * 60))
                alarm_at = alarm_local.astimezone(now.tzinfo)
                school = rng.choice(school_rows)
                outside = rng.random() < 0.1
                lon, lat = _move(school["lon"], school["lat"], rng, *((350, 900) if outside else (10, 120)))
                category = rng.choices(list(CATEGORY_WEIGHTS), weights=list(CATEGORY_WEIGHTS.values()))[0]
                severity = rng.choices((1, 2, 3, 4), weights=(5, 4, 2, 1))[0]
                source = rng.choice(SOURCES)
                scenario = rng.choices(list(SCENARIOS), weights=list(SCENARIO_WEIGHTS.values()))[0]
                plan = []
                for tier, window in zip((1, 2, 3), SCENARIOS[scenario], strict=True):
                    if window is not None:
                        plan.append((tier, rng.uniform(*window), rng.choice(responders[tier] or responders[3])))
                far_one = rng.random() < 0.08
                if alarm_at > now - timedelta(hours=1):
                    continue
                exists = await db.fetchrow("SELECT 1 FROM incidents WHERE id = :id", {"id": incident_id})
                if exists:
                    continue
                await _one(db, caller=caller, incident_id=incident_id, alarm_at=alarm_at, lon=lon, lat=lat,
                           category=category, severity=severity, source=source, plan=plan, far_one=far_one,
                           rng=rng, now=now, settings=settings)
                made += 1
    return made


async def _one(db: Db, *, caller, incident_id: uuid.UUID, alarm_at: datetime, lon: float,
               lat: float, category: str, severity: int, source: str, plan: list, far_one: bool,
               rng: random.Random, now: datetime, settings) -> None:
    body = {"id": str(incident_id), "category": category, "severity": severity, "source": source,
            "location": [lon, lat], "alarm_at": alarm_at.isoformat()}
    await incidents.create(db, caller=caller, client_id=incident_id, request_hash=incidents.body_hash(body),
                           now=now, incident=incidents.IncidentInput(
                               category=category, severity=severity, source=source, alarm_at=alarm_at,
                               location=Point(lon, lat), description=f"演示警情 {category}"))
    await incidents.update(db, caller=caller, incident_id=incident_id, changes={"status": "dispatched"},
                           now=alarm_at + timedelta(seconds=rng.randint(10, 40)))
    if far_one:  # a phone that reported arrival from the wrong street: stored, flagged, not counted
        plan = [*plan, (3, 45.0, plan[-1][2], 400.0)]
    for n, (tier, seconds, responder_id, *far) in enumerate(plan):
        alon, alat = _move(lon, lat, rng, *((far[0], far[0] + 50) if far else (5, 60)))
        arrival_id = uuid.uuid5(incident_id, f"arrival/{n}")
        arrival = arrivals.ArrivalInput(responder_id=responder_id, tier=tier, location=Point(alon, alat),
                                        arrived_at=alarm_at + timedelta(seconds=round(seconds, 1)),
                                        accuracy_m=round(rng.uniform(5, 30), 1))
        await arrivals.record(db, caller=caller, incident_id=incident_id, arrival=arrival,
                              client_id=arrival_id, request_hash=incidents.body_hash({"arrival": str(arrival_id)}),
                              now=now, settings=settings)
    if alarm_at < now - timedelta(hours=3):
        await incidents.update(db, caller=caller, incident_id=incident_id, changes={"status": "controlled"},
                               now=alarm_at + timedelta(minutes=rng.randint(8, 25)))
        await incidents.update(db, caller=caller, incident_id=incident_id, changes={"status": "closed"},
                               now=alarm_at + timedelta(minutes=rng.randint(30, 90)))
