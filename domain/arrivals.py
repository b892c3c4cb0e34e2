"""Arrivals (到场) at an incident: verified against the scene, then the incident is rescored.

Rules:

1. An arrival is `far_from_scene` when its distance to the incident minus its reported accuracy exceeds
   `arrival_max_distance_m` (150 m): a fix that might be within the limit is given the benefit of the doubt.
   A far arrival is stored (it is evidence) but does not count toward the score.
2. `arrived_at` may not precede `alarm_at`, may not come more than `arrival_max_delay_s` (6 h) after it, and may
   not lie more than `ARRIVAL_FUTURE_TOLERANCE_S` (120 s) after the server clock: each is a 422 naming
   `arrived_at`.
3. Officers record their own arrivals (another responder is 403). Commanders and admins may record one for a
   responder in their jurisdictions (audited with `on_behalf_of`). The responder must be an active user in
   the caller's jurisdictions, and may only claim a tier its unit can serve: guards, auxiliaries and
   volunteers tiers 1–2 (on-site or mutual aid), police any tier.
4. An arrival on a closed incident is a conflict (409); a replayed client id answers the stored arrival (200)
   even after closure, and the same id with another body is a conflict.
5. Every new arrival rescoring the incident under its policy stores the score and publishes `incident.arrival`,
   plus `incident.score` when the score changed. The first counting arrival moves an open or dispatched
   incident to `on_scene`; `on_scene_at` is the earliest counting arrival's time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shapely.geometry import Point

from domain import audit, incidents, policies, tier_misses
from domain.callers import Caller, Role
from domain.database import Db, Query
from domain.errors import Conflict, Forbidden, InvalidInput
from domain.events import Event, publish
from domain.locations import wkb
from domain.scoring import score_response
from domain.settings import Settings

ARRIVAL_FUTURE_TOLERANCE_S = 120
ACCURACY_MAX_M = 10_000.0
TIERS = (1, 2, 3)
# The highest tier each kind of unit can serve; a higher tier also serves the lower ones.
MAX_TIER_BY_UNIT = {"guard": 2, "auxiliary": 2, "volunteer": 2, "police": 3}


@dataclass
class ArrivalInput:
    responder_id: uuid.UUID
    tier: int
    arrived_at: datetime
    location: Point
    crs: str = "wgs84"
    accuracy_m: float | None = None


COLUMNS = """
    a.id, a.incident_id, a.responder_id, u.display_name AS responder_name, u.unit_type, a.tier, a.arrived_at,
    CAST(ST_AsGeoJSON(a.location, 7) AS json) AS location, a.accuracy_m, a.crs, a.distance_m, a.far_from_scene,
    a.counts, a.flags, a.created_at, EXTRACT(EPOCH FROM a.arrived_at - i.alarm_at)::float8 AS elapsed_s
"""
FROM = """
    FROM arrivals a JOIN users u ON u.id = a.responder_id JOIN incidents i ON i.id = a.incident_id
"""


def _out(row: Any) -> dict:
    r = dict(row)
    r["distance_m"] = round(float(r["distance_m"]), 2)
    r["flags"] = list(r["flags"] or [])
    return r


def check_arrival(a: ArrivalInput, *, alarm_at: datetime, now: datetime, settings: Settings) -> None:
    if isinstance(a.tier, bool) or a.tier not in TIERS:
        raise InvalidInput("tier must be 1 (on-site guard), 2 (mutual aid) or 3 (police)", field="tier")
    if a.arrived_at.tzinfo is None:
        raise InvalidInput("arrived_at needs a UTC offset", field="arrived_at")
    if a.arrived_at < alarm_at:
        raise InvalidInput("arrived_at is before the incident's alarm_at", field="arrived_at")
    if a.arrived_at > alarm_at + timedelta(seconds=settings.arrival_max_delay_s):
        raise InvalidInput(f"arrived_at is more than {settings.arrival_max_delay_s} s after the alarm",
                           field="arrived_at")
    if a.arrived_at > now + timedelta(seconds=ARRIVAL_FUTURE_TOLERANCE_S):
        raise InvalidInput("arrived_at lies in the future", field="arrived_at")
    if a.accuracy_m is not None and not 0 < a.accuracy_m <= ACCURACY_MAX_M:
        raise InvalidInput(f"accuracy_m must be in (0, {ACCURACY_MAX_M:g}]", field="accuracy_m")


async def list_for(db: Db, *, caller: Caller, incident_id: uuid.UUID) -> list[dict]:
    await incidents.fetch(db, caller=caller, incident_id=incident_id)
    rows = await db.fetch(f"""
        SELECT {COLUMNS} {FROM} WHERE a.incident_id = :id ORDER BY a.arrived_at, a.id
    """, {"id": incident_id})
    return [_out(r) for r in rows]


INSERT = Query("""
    WITH p AS (SELECT CAST(ST_GeomFromWKB(:location, 4326) AS geography) AS g,
                      CAST(:accuracy_m AS float8) AS accuracy_m),
    d AS (
        SELECT p.g, p.accuracy_m, ST_Distance(i.location, p.g) AS distance_m,
               ST_Distance(i.location, p.g) - COALESCE(p.accuracy_m, 0) > :max_distance_m AS far
        FROM incidents i, p WHERE i.id = :incident_id
    )
    INSERT INTO arrivals AS a (id, incident_id, responder_id, tier, arrived_at, location, accuracy_m, crs,
                               distance_m, far_from_scene, counts, flags, body_hash, created_by)
    SELECT :id, :incident_id, :responder_id, :tier, :arrived_at, d.g, d.accuracy_m, :crs, d.distance_m, d.far,
           NOT d.far, CASE WHEN d.far THEN ARRAY['far_from_scene'] ELSE CAST('{}' AS text[]) END,
           :body_hash, :created_by
    FROM d
    ON CONFLICT (id) DO NOTHING
    RETURNING a.id, a.counts
""")


async def record(db: Db, *, caller: Caller, incident_id: uuid.UUID, arrival: ArrivalInput,
                 client_id: uuid.UUID | None, request_hash: bytes, now: datetime,
                 settings: Settings) -> tuple[dict, bool]:
    """Record an arrival (officers, commanders) and rescore the incident; answers (arrival, created)."""
    caller.require(Role.officer, Role.commander)
    # The incident row lock serialises arrivals of one incident, so each rescoring sees all earlier ones.
    incident = await incidents.fetch(db, caller=caller, incident_id=incident_id, lock=True)
    arrival_id = client_id or uuid.uuid4()
    if client_id is not None:
        replayed = await _replay(db, arrival_id=arrival_id, incident_id=incident_id, request_hash=request_hash)
        if replayed is not None:
            return replayed, False
    if incident["status"] == "closed":
        raise Conflict("the incident is closed; it takes no more arrivals", field="incident_id")
    if caller.role is Role.officer and arrival.responder_id != caller.user_id:
        raise Forbidden("officers record their own arrivals; a commander may record one for a responder",
                        field="responder_id")
    check_arrival(arrival, alarm_at=incident["alarm_at"], now=now, settings=settings)
    responder = await db.fetchrow("""
        SELECT u.id, u.unit_type FROM users u JOIN jurisdictions j ON j.code = u.jurisdiction_code
        WHERE u.id = :id AND u.active AND j.path <@ CAST(:scope AS ltree)
    """, {"id": arrival.responder_id, "scope": caller.scope_path})
    if responder is None:
        raise InvalidInput(f"no active responder {arrival.responder_id} in your jurisdictions", field="responder_id")
    if arrival.tier > MAX_TIER_BY_UNIT.get(responder["unit_type"], 3):
        raise InvalidInput(f"a {responder['unit_type']} cannot arrive as tier {arrival.tier}; only police serve "
                           "tier 3", field="tier")
    inserted = await db.fetchrow(INSERT, {
        "id": arrival_id, "incident_id": incident_id, "responder_id": arrival.responder_id, "tier": arrival.tier,
        "arrived_at": arrival.arrived_at, "location": wkb(arrival.location), "accuracy_m": arrival.accuracy_m,
        "crs": arrival.crs, "max_distance_m": settings.arrival_max_distance_m, "body_hash": request_hash,
        "created_by": caller.user_id,
    })
    if inserted is None:  # the same id went to another incident at the same moment
        raise Conflict(f"arrival id {arrival_id} was already used with another body", field="id")

    if inserted["counts"] and incident["status"] in ("open", "dispatched", "on_scene"):
        await db.execute("""
            UPDATE incidents SET status = CASE WHEN status IN ('open', 'dispatched') THEN 'on_scene' ELSE status END,
                   on_scene_at = LEAST(COALESCE(on_scene_at, :at), :at), updated_at = now()
            WHERE id = :id
        """, {"id": incident_id, "at": arrival.arrived_at})

    policy = await policies.load(db, incident["policy_key"], path=incident["path"])
    before = policies.score_from_stored(policy=policy, alarm_at=incident["alarm_at"], severity=incident["severity"],
                                        tiers=incident["score_tiers"], now=now)
    score = score_response(alarm_at=incident["alarm_at"], now=now, policy=policy, severity=incident["severity"],
                           arrivals=await incidents.counting_arrivals(db, incident_id=incident_id))
    await policies.store_scores(db, policy_key=policy.key, scores=[(incident_id, score)])

    out = _out(await db.fetchrow(f"SELECT {COLUMNS} {FROM} WHERE a.id = :id", {"id": arrival_id}))
    code = incident["jurisdiction_code"]
    events = [Event("incident.arrival", code, {
        "incident_id": str(incident_id), "arrival_id": str(arrival_id), "responder_id": str(arrival.responder_id),
        "tier": arrival.tier, "arrived_at": arrival.arrived_at.isoformat(), "elapsed_s": out["elapsed_s"],
        "distance_m": out["distance_m"], "far_from_scene": out["far_from_scene"], "counts": out["counts"],
        "score": score.as_dict()})]
    await publish(db, events)
    if score.as_dict() != before.as_dict():
        # A separate call: one batch's ids need not follow its order, and the feed should show arrival, then score.
        await publish(db, [Event("incident.score", code, {"incident_id": str(incident_id),
                                                               "score": score.as_dict()})])
    # A tier whose stored state was still pending and is missed now (the arrival came late): announced here,
    # under the incident lock, so the deadline sweep (domain/tier_misses.py) does not announce it again.
    await publish(db, tier_misses.missed_events(code=code, incident_id=incident_id, alarm_at=incident["alarm_at"],
                                                before=incident["score_tiers"], after=score))
    await audit.record(db, caller=caller, entity="arrival", entity_id=arrival_id, action="create",
                       jurisdiction_code=code,
                       changes={"incident_id": incident_id, "tier": arrival.tier, "counts": out["counts"],
                                "responder_id": arrival.responder_id,
                                "on_behalf_of": arrival.responder_id != caller.user_id})
    return out, True


async def _replay(db: Db, *, arrival_id: uuid.UUID, incident_id: uuid.UUID,
                  request_hash: bytes) -> dict | None:
    stored = await db.fetchrow("SELECT incident_id, body_hash FROM arrivals WHERE id = :id", {"id": arrival_id})
    if stored is None:
        return None
    if stored["incident_id"] != incident_id or stored["body_hash"] != request_hash:
        raise Conflict(f"arrival id {arrival_id} was already used with another body", field="id")
    row = await db.fetchrow(f"SELECT {COLUMNS} {FROM} WHERE a.id = :id", {"id": arrival_id})
    return _out(row)
