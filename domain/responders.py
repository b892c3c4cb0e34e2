"""Nearest responders to an incident: who is on duty nearby, how soon they can be there, which tiers they can
still make.

Rules:

1. Candidates are active users whose latest position (`unit_positions`, kept by check-in ingest) lies in the
   caller's jurisdictions and who are on a shift now or were seen within `nearest_units_seen_within_s` (30 min).
2. They come nearest first by straight-line geodesic distance from their latest fix to the scene: one KNN
   query (`ORDER BY location <-> scene`) on the GiST index of `unit_positions`.
3. `eta_s = distance_m / speed`, the speed being `vehicle_speed_mps` (8 m/s) for police and `foot_speed_mps`
   (1.4 m/s) for guards, auxiliaries and volunteers. Straight-line distance makes it an optimistic bound.
4. `can_meet_tier` lists the tiers the unit may serve (guards, auxiliaries, volunteers 1–2; police 1–3) whose
   deadline `alarm_at + limit_s` is not before `now + eta_s`. `tier=k` keeps only units that may serve tier k.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain import policies
from domain.arrivals import MAX_TIER_BY_UNIT
from domain.callers import Caller, Role
from domain.database import Db, Query
from domain.paging import decode_cursor, page_of
from domain.settings import Settings

VEHICLE_UNITS = ("police",)

# The KNN walk is the inner query over unit_positions alone, so no join can take the index order away: the
# scope is an InitPlan array and the user check a per-row subplan, both filters on the index scan.
NEAREST = Query("""
    SELECT k.officer_id AS responder_id, u.display_name AS name, u.unit_type, k.jurisdiction_code,
           ST_Distance(k.location, CAST(ST_GeomFromWKB(:scene, 4326) AS geography)) AS distance_m,
           k.recorded_at AS last_seen_at, k.accuracy_m,
           EXISTS (SELECT 1 FROM shifts sh
                   WHERE sh.officer_id = k.officer_id AND sh.starts_at <= :now AND sh.ends_at > :now) AS on_shift
    FROM (
        SELECT up.officer_id, up.jurisdiction_code, up.location, up.recorded_at, up.accuracy_m,
               up.location <-> CAST(ST_GeomFromWKB(:scene, 4326) AS geography) AS knn_m
        FROM unit_positions up
        WHERE up.jurisdiction_code = ANY (ARRAY(SELECT code FROM jurisdictions
                                                WHERE path <@ CAST(:scope AS ltree)))
          AND (SELECT u.active AND u.unit_type = ANY (CAST(:unit_types AS text[]))
               FROM users u WHERE u.id = up.officer_id)
          AND (up.recorded_at >= :seen_since
               OR EXISTS (SELECT 1 FROM shifts sh
                          WHERE sh.officer_id = up.officer_id AND sh.starts_at <= :now AND sh.ends_at > :now))
        ORDER BY up.location <-> CAST(ST_GeomFromWKB(:scene, 4326) AS geography)
        LIMIT :limit
    ) k
    JOIN users u ON u.id = k.officer_id
    ORDER BY k.knn_m, k.officer_id
""")


def speed_mps(unit_type: str, settings: Settings) -> float:
    return settings.vehicle_speed_mps if unit_type in VEHICLE_UNITS else settings.foot_speed_mps


def tiers_within_reach(*, unit_type: str, alarm_at: datetime, now: datetime, eta_s: float,
                       limits: dict[int, float]) -> list[int]:
    """Tiers the unit may serve whose deadline it can still make, arriving at `now + eta_s`."""
    arrive = now + timedelta(seconds=eta_s)
    top = MAX_TIER_BY_UNIT.get(unit_type, 3)
    return [t for t, limit in sorted(limits.items())
            if t <= top and arrive <= alarm_at + timedelta(seconds=limit)]


async def nearest_units(db: Db, *, caller: Caller, incident: dict, limit: int, tier: int | None,
                        now: datetime, settings: Settings) -> list[dict]:
    """The nearest on-duty responders to the incident (rules in the module doc)."""
    policy = await policies.load(db, incident["policy_key"], path=incident["path"])
    unit_types = [u for u, top in MAX_TIER_BY_UNIT.items() if tier is None or top >= tier]
    rows = await db.fetch(NEAREST, {
        "scene": bytes(incident["location_wkb"]), "scope": caller.scope_path, "unit_types": unit_types,
        "now": now, "seen_since": now - timedelta(seconds=settings.nearest_units_seen_within_s), "limit": limit,
    })
    out = []
    for r in rows:
        distance = float(r["distance_m"])
        eta = distance / speed_mps(r["unit_type"], settings)
        out.append({
            **dict(r), "distance_m": round(distance, 2), "eta_s": round(eta, 1),
            "can_meet_tier": tiers_within_reach(unit_type=r["unit_type"], alarm_at=incident["alarm_at"], now=now,
                                                eta_s=eta, limits=dict(policy.tier_limits_s)),
        })
    return out


LATEST_POSITIONS = Query("""
    SELECT up.officer_id AS responder_id, u.display_name AS name, u.unit_type, up.jurisdiction_code,
           CAST(ST_AsGeoJSON(up.location, 7) AS json) AS location, up.accuracy_m, up.recorded_at,
           up.post_id, up.shift_id,
           EXISTS (SELECT 1 FROM shifts sh
                   WHERE sh.officer_id = up.officer_id AND sh.starts_at <= :now AND sh.ends_at > :now) AS on_shift
    FROM unit_positions up
    JOIN users u ON u.id = up.officer_id
    WHERE up.jurisdiction_code = ANY (ARRAY(SELECT code FROM jurisdictions WHERE path <@ CAST(:scope AS ltree)))
      AND u.active
      AND up.recorded_at >= :seen_since
      AND (CAST(:after AS uuid) IS NULL OR up.officer_id > CAST(:after AS uuid))
    ORDER BY up.officer_id
    LIMIT :limit_plus_one
""")


async def latest_positions(db: Db, *, caller: Caller, now: datetime, seen_within_s: int, limit: int,
                           cursor: str | None) -> tuple[list[dict], str | None]:
    """Each active responder's latest fix in the caller's jurisdictions seen within `seen_within_s`, by id
    (commanders and admins only: officers' positions are never shown to viewers or share links)."""
    caller.require(Role.commander)
    after = decode_cursor(cursor, arity=1)
    rows = await db.fetch(LATEST_POSITIONS, {"scope": caller.scope_path, "now": now,
                                             "seen_since": now - timedelta(seconds=seen_within_s),
                                             "after": after[0] if after else None, "limit_plus_one": limit + 1})
    return page_of([dict(r) for r in rows], limit=limit, key=lambda r: [str(r["responder_id"])])
