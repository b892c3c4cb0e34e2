"""Incidents and the 1/3/5 rule: reports, status, arrivals, scores, nearest units, scoring policies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from starlette.responses import Response

from api import lean
from api.auth import Admin, Commander, CurrentCaller, Officer, authenticate
from api.deps import AppSettings, Now, Paging, Reads, Tx
from api.schemas import (
    BBOX_SCHEMA,
    NEAR_SCHEMA,
    PROBLEM_RESPONSES,
    CRSName,
    Instant,
    Page,
    PointGeometry,
    PointIn,
)
from domain import arrivals, incidents, policies, responders
from domain.callers import Role
from domain.errors import InvalidInput
from domain.locations import read_bbox, read_lonlat, read_point

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)
# The hot endpoints (api/lean.py), included ahead of every other router.
lean_router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)

Category = Literal[incidents.CATEGORIES]  # type: ignore[valid-type]
Source = Literal[incidents.SOURCES]  # type: ignore[valid-type]
Status = Literal[incidents.STATUSES]  # type: ignore[valid-type]
CodeField = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{2,32}$")]
PolicyKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,40}@v[1-9][0-9]{0,5}$", examples=["1-3-5@v1"])]


# --- schemas ---------------------------------------------------------------------------------------------

class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TierScoreOut(BaseModel):
    tier: int
    limit_s: float
    elapsed_s: float | None = Field(description="Seconds from the alarm to the earliest counting arrival of this "
                                                "tier or higher; null when there is none.")
    state: Literal["met", "missed", "pending"]


class ScoreOut(BaseModel):
    policy: str = Field(examples=["1-3-5@v1"])
    tiers: list[TierScoreOut]
    compliant: bool | None = Field(description="False when a tier is missed, true when all are met, "
                                                "null while any is pending.")


class NearestSchool(BaseModel):
    school_id: uuid.UUID
    name: str
    distance_m: float = Field(description="Geodesic metres to the campus boundary (0 inside the campus).")


class Incident(BaseModel):
    id: uuid.UUID
    jurisdiction_code: str
    category: Category
    severity: int
    source: Source
    description: str | None
    location: PointGeometry
    crs: str
    alarm_at: datetime
    received_at: datetime
    in_zone: bool
    zone_school_ids: list[uuid.UUID] = Field(description="Schools whose zone holds the scene, nearest first.")
    nearest_school: NearestSchool | None = Field(description="The nearest school boundary within 20 km.")
    status: Status
    dispatched_at: datetime | None
    on_scene_at: datetime | None
    controlled_at: datetime | None
    closed_at: datetime | None
    policy_key: str
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    score: ScoreOut | None


class IncidentCreate(Strict):
    id: uuid.UUID | None = Field(default=None, description="Client UUID: replaying it with the same body answers "
                                                           "the stored incident (200); another body is 409.")
    category: Category
    severity: int = Field(ge=1, le=4, strict=True)
    source: Source
    description: str | None = Field(default=None, max_length=4000)
    location: PointIn
    crs: CRSName = CRSName.wgs84
    alarm_at: Instant = Field(description="When the alarm was raised; at most 120 s in the future.")
    jurisdiction_code: CodeField | None = Field(
        default=None, description="Defaults to the jurisdiction of the nearest zone school in your scope, "
                                  "else your own.")


class IncidentPatch(Strict):
    status: Status = Field(default=None, description="Forward only: open → dispatched → on_scene → "
                                                            "controlled → closed (stages may be skipped).")
    description: str | None = Field(default=None, max_length=4000)


class IncidentFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: PointGeometry
    properties: dict[str, Any]


class IncidentFeatureCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[IncidentFeature]
    next_cursor: str | None = None


class ArrivalCreate(Strict):
    id: uuid.UUID | None = Field(default=None, description="Client UUID for idempotent replay.")
    responder_id: uuid.UUID | None = Field(
        default=None, description="Who arrived; default and, for officers, only: the caller. Commanders may "
                                  "record for a responder in their jurisdictions (audited).")
    tier: int = Field(ge=1, le=3, strict=True, description="1 on-site guard, 2 mutual aid, 3 police reinforcement")
    arrived_at: Instant
    location: PointIn
    crs: CRSName = CRSName.wgs84
    accuracy_m: float | None = Field(default=None, gt=0, le=10_000, allow_inf_nan=False)


class ArrivalOut(BaseModel):
    id: uuid.UUID
    incident_id: uuid.UUID
    responder_id: uuid.UUID
    responder_name: str
    unit_type: str
    tier: int
    arrived_at: datetime
    elapsed_s: float = Field(description="Seconds from the incident's alarm to this arrival.")
    location: PointGeometry
    accuracy_m: float | None
    crs: str
    distance_m: float = Field(description="Geodesic metres from the scene.")
    far_from_scene: bool = Field(description="distance_m − accuracy_m > 150 m: stored, but does not count.")
    counts: bool
    flags: list[str]
    created_at: datetime


class NearestUnit(BaseModel):
    responder_id: uuid.UUID
    name: str
    unit_type: str
    jurisdiction_code: str
    distance_m: float
    last_seen_at: datetime
    accuracy_m: float
    on_shift: bool
    eta_s: float = Field(description="distance_m / speed: 8 m/s for police (vehicle), 1.4 m/s on foot.")
    can_meet_tier: list[int] = Field(description="Tiers this unit may serve whose deadline it can still make.")


class PolicyOut(BaseModel):
    key: str
    name: str
    version: int
    jurisdiction_code: str | None = Field(description="Whose policy it is (inherited below it unless a "
                                                      "jurisdiction defines its own); null: built in, for all.")
    tier_limits_s: dict[str, float]
    tiers_by_severity: dict[str, list[int]] | None
    description: str | None
    created_at: datetime


class PolicyCreate(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,40}$", examples=["1-3-5"])
    version: int = Field(ge=1, le=999_999)
    tier_limits_s: dict[Literal["1", "2", "3"], Annotated[float, Field(gt=0, le=86_400, allow_inf_nan=False)]] = Field(
        min_length=1, examples=[{"1": 60, "2": 180, "3": 300}])
    tiers_by_severity: dict[Literal["1", "2", "3", "4"], list[Literal[1, 2, 3]]] | None = None
    description: str | None = Field(default=None, max_length=500)
    jurisdiction_code: CodeField | None = Field(default=None, description="Whose policy (default: yours); "
                                                "inherited by the jurisdictions below it unless they define their own.")


class RecomputeRequest(Strict):
    from_: Instant = Field(alias="from")
    to: Instant
    policy: PolicyKey
    jurisdiction_code: CodeField | None = None


class RecomputeAnswer(BaseModel):
    policy: str
    from_: datetime = Field(alias="from")
    to: datetime
    incidents: int
    compliant: int
    not_compliant: int
    pending: int


# --- dependencies -----------------------------------------------------------------------------------------

async def current_incident(incident_id: uuid.UUID, caller: CurrentCaller, db: Reads) -> dict:
    """Load-or-404: the incident exists and lies in the caller's jurisdictions."""
    return await incidents.fetch(db, caller=caller, incident_id=incident_id)


CurrentIncident = Annotated[dict, Depends(current_incident)]


# --- incidents -------------------------------------------------------------------------------------------

INCIDENT_BODY = TypeAdapter(IncidentCreate)


@lean_router.post("/incidents", response_model=Incident, status_code=201, tags=["incidents"],
                  summary="Report an incident (officers, commanders); placed against the school zones at once",
                  responses={200: {"description": "Replay of a known `id` with the same body", "model": Incident}},
                  openapi_extra=lean.documented(body_model=IncidentCreate))
async def create_incident(request: Request) -> Response:
    caller = await authenticate(request)
    caller.require(Role.officer, Role.commander)
    body = await lean.body(request, INCIDENT_BODY)
    new = incidents.IncidentInput(
        category=body.category, severity=body.severity, source=body.source, alarm_at=body.alarm_at,
        location=read_point(body.location.model_dump(), crs=body.crs.value), crs=body.crs.value,
        description=body.description, jurisdiction_code=body.jurisdiction_code)
    async with request.app.state.db.atomic() as db:
        out, created = await incidents.create(db, caller=caller, incident=new, client_id=body.id,
                                              request_hash=incidents.body_hash(body.model_dump(mode="json")),
                                              now=lean.now(request))
    return lean.json_response(out, status_code=201 if created else 200)


@router.get("/incidents", response_model=Page[Incident] | IncidentFeatureCollection, tags=["incidents"],
            summary="Incidents in your jurisdictions, newest alarm first; `format=geojson` for a FeatureCollection")
async def list_incidents(
    caller: CurrentCaller, db: Reads, paging: Paging, now: Now,
    school_id: Annotated[uuid.UUID | None, Query(description="Incidents in this school's zone")] = None,
    near: Annotated[str | None, Query(description="`lon,lat`; with `radius_m`", examples=["108.1655,29.2951"],
                                                   json_schema_extra=NEAR_SCHEMA)] = None,
    radius_m: Annotated[float | None, Query(gt=0, le=100_000)] = None,
    bbox: Annotated[str | None, Query(description="`minlon,minlat,maxlon,maxlat`",
                                                   json_schema_extra=BBOX_SCHEMA)] = None,
    from_: Annotated[Instant | None, Query(alias="from", description="alarm_at ≥ from")] = None,
    to: Annotated[Instant | None, Query(description="alarm_at < to")] = None,
    category: Category | None = None,
    status: Status | None = None,
    in_zone: bool | None = None,
    jurisdiction_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$")] = None,
    crs: CRSName = CRSName.wgs84,
    format: Literal["json", "geojson"] = "json",
) -> dict:
    near_point = read_lonlat(near, crs=crs.value) if near else None
    if near_point is not None and radius_m is None:
        raise InvalidInput("near needs radius_m", field="radius_m")
    f = incidents.IncidentFilter(
        school_id=school_id, near=near_point, radius_m=radius_m,
        bbox=read_bbox(bbox, crs=crs.value) if bbox else None, from_=from_, to=to, category=category,
        status=status, in_zone=in_zone, jurisdiction_code=jurisdiction_code)
    items, nxt = await incidents.list_page(db, caller=caller, f=f, limit=paging.limit, cursor=paging.cursor,
                                           now=now)
    if format == "geojson":
        return {"type": "FeatureCollection", "features": [incidents.as_feature(Incident.model_validate(i).model_dump(
            mode="json")) for i in items], "next_cursor": nxt}
    return {"items": items, "next_cursor": nxt}


@router.get("/incidents/{incident_id}", response_model=Incident, tags=["incidents"])
async def get_incident(incident_id: uuid.UUID, caller: CurrentCaller, db: Reads, now: Now) -> dict:
    return await incidents.get(db, caller=caller, incident_id=incident_id, now=now)


@router.patch("/incidents/{incident_id}", response_model=Incident, tags=["incidents"],
              summary="Move the status forward or edit the description (commanders)")
async def update_incident(incident_id: uuid.UUID, body: IncidentPatch, caller: Commander, db: Tx,
                          now: Now) -> dict:
    changes = body.model_dump(exclude_unset=True)
    return await incidents.update(db, caller=caller, incident_id=incident_id, changes=changes, now=now)


# --- arrivals, score, nearest units ---------------------------------------------------------------------

@router.post("/incidents/{incident_id}/arrivals", response_model=ArrivalOut, status_code=201, tags=["incidents"],
             summary="Record a responder's arrival (officers, commanders); rescores the incident",
             responses={200: {"description": "Replay of a known `id` with the same body", "model": ArrivalOut}})
async def create_arrival(incident_id: uuid.UUID, body: ArrivalCreate, caller: Officer, db: Tx,
                         now: Now, settings: AppSettings, response: Response) -> dict:
    new = arrivals.ArrivalInput(
        responder_id=body.responder_id or caller.user_id, tier=body.tier, arrived_at=body.arrived_at,
        location=read_point(body.location.model_dump(), crs=body.crs.value), crs=body.crs.value,
        accuracy_m=body.accuracy_m)
    out, created = await arrivals.record(
        db, caller=caller, incident_id=incident_id, arrival=new, client_id=body.id,
        request_hash=incidents.body_hash(body.model_dump(mode="json")), now=now, settings=settings)
    if not created:
        response.status_code = 200
    return out


@router.get("/incidents/{incident_id}/arrivals", response_model=list[ArrivalOut], tags=["incidents"])
async def list_arrivals(incident_id: uuid.UUID, caller: CurrentCaller, db: Reads) -> list[dict]:
    return await arrivals.list_for(db, caller=caller, incident_id=incident_id)


@router.get("/incidents/{incident_id}/score", response_model=ScoreOut, tags=["incidents"],
            summary="The 1/3/5 score now: pending tiers become missed as their deadlines pass")
async def incident_score(incident_id: uuid.UUID, caller: CurrentCaller, db: Reads, now: Now,
                         policy: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_\-]{1,40}@v[1-9][0-9]{0,5}$",
                                                             description="Default: the incident's policy")] = None,
                         ) -> dict:
    return await incidents.current_score(db, caller=caller, incident_id=incident_id, now=now,
                                         policy_key=policy)


@router.get("/incidents/{incident_id}/nearest-units", response_model=list[NearestUnit], tags=["incidents"],
            summary="On-duty responders nearest the scene, with ETA and the tiers they can still meet")
async def nearest_units(incident: CurrentIncident, caller: Officer, db: Reads, now: Now,
                        settings: AppSettings,
                        limit: Annotated[int, Query(ge=1, le=100)] = 10,
                        tier: Annotated[int | None, Query(ge=1, le=3, description="Only units that may serve "
                                                                                  "this tier")] = None,
                        ) -> list[dict]:
    return await responders.nearest_units(db, caller=caller, incident=incident, limit=limit, tier=tier,
                                          now=now, settings=settings)


# --- scoring policies -----------------------------------------------------------------------------------

@router.get("/scoring/policies", response_model=list[PolicyOut], tags=["scoring"])
async def list_policies(caller: CurrentCaller, db: Reads) -> list[dict]:
    return await policies.list_policies(db, caller=caller)


@router.post("/scoring/policies", response_model=PolicyOut, status_code=201, tags=["scoring"],
             summary="Add a policy version for one of your jurisdictions (admins); policies never change once "
                     "written")
async def create_policy(body: PolicyCreate, caller: Admin, db: Tx) -> dict:
    return await policies.create(db, caller=caller, name=body.name, version=body.version,
                                 tier_limits_s=body.tier_limits_s, tiers_by_severity=body.tiers_by_severity,
                                 description=body.description, jurisdiction_code=body.jurisdiction_code)


@router.post("/scoring/recompute", response_model=RecomputeAnswer, tags=["scoring"],
             summary="Rescore a period under a policy (commanders); other policies' scores are kept")
async def recompute(body: RecomputeRequest, caller: Commander, db: Tx, now: Now) -> dict:
    return await policies.recompute(db, caller=caller, policy_key=body.policy, from_=body.from_, to=body.to,
                                    jurisdiction_code=body.jurisdiction_code, now=now)
