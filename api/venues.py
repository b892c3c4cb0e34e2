"""Venues near schools and their inspections (场所检查台账)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.auth import CurrentCaller, Officer
from api.deps import Now, Paging, Reads, Tx
from api.hazards import SPREADSHEET_BODY, ImportAnswer, read_upload
from api.schemas import PROBLEM_RESPONSES, CRSName, Day, Instant, Page, PointGeometry, PointIn
from domain import campaigns, ledger_import, venues
from domain.errors import InvalidInput, NotFound
from domain.incidents import body_hash
from domain.locations import read_point

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)

Kind = Literal[tuple(venues.KINDS)]  # type: ignore[valid-type]
Status = Literal[tuple(venues.STATUSES)]  # type: ignore[valid-type]
Action = Literal[tuple(venues.ACTIONS)]  # type: ignore[valid-type]
CodeField = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{2,32}$")]
KIND_DOC = "; ".join(f"`{k}` {v}" for k, v in venues.KINDS.items())
STATUS_DOC = "; ".join(f"`{k}` {v}" for k, v in venues.STATUSES.items())
ACTION_DOC = "; ".join(f"`{k}` {v}" for k, v in venues.ACTIONS.items())


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Venue(BaseModel):
    id: uuid.UUID
    jurisdiction_code: str
    name: str
    kind: Kind = Field(description=KIND_DOC)
    address: str | None
    location: PointGeometry
    crs: str
    school_id: uuid.UUID | None = Field(description="The nearest of your schools whose zone holds it.")
    school_name: str | None
    zone_school_ids: list[uuid.UUID] = Field(description="Your schools whose zone holds it, nearest first.")
    outside_zone: bool = Field(description="In no school's zone: allowed, but flagged.")
    flags: list[str]
    operator_name: str | None
    licence_no: str | None
    phone: str | None
    status: Status = Field(description=STATUS_DOC)
    closed_at: datetime | None
    note: str | None
    external_ref: str | None
    last_inspected_at: datetime | None
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class VenueCreate(Strict):
    id: uuid.UUID | None = Field(default=None, description="Client UUID for idempotent replay.")
    name: str = Field(min_length=1, max_length=200, examples=["星空网咖"])
    kind: Kind = Field(description=KIND_DOC)
    location: PointIn
    crs: CRSName = CRSName.wgs84
    address: str | None = Field(default=None, max_length=500)
    operator_name: str | None = Field(default=None, max_length=200)
    licence_no: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    note: str | None = Field(default=None, max_length=2000)
    jurisdiction_code: CodeField | None = Field(default=None, description="Default: the nearest zone school's, "
                                                                          "else yours.")


class VenuePatch(Strict):
    name: str = Field(default=None, min_length=1, max_length=200)
    kind: Kind = None
    address: str | None = Field(default=None, max_length=500)
    operator_name: str | None = Field(default=None, max_length=200)
    licence_no: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    note: str | None = Field(default=None, max_length=2000)
    status: Status = Field(default=None, description="`closed` is final.")


class Inspection(BaseModel):
    id: uuid.UUID
    venue_id: uuid.UUID
    venue_name: str
    venue_kind: Kind
    jurisdiction_code: str
    inspected_at: datetime
    inspector_id: uuid.UUID | None
    inspector_name: str
    findings: str | None
    violations: list[str]
    actions: list[Action] = Field(description=ACTION_DOC)
    fine_yuan: float | None
    follow_up_on: date | None
    flags: list[str] = Field(description="`outside_zone`: the venue lies in no school zone.")
    created_by: uuid.UUID | None
    created_at: datetime


class InspectionCreate(Strict):
    id: uuid.UUID | None = Field(default=None, description="Client UUID for idempotent replay.")
    inspected_at: Instant
    inspector_name: str | None = Field(default=None, max_length=200, description="Default: your name.")
    findings: str | None = Field(default=None, max_length=4000)
    violations: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list,
                                                                                  max_length=20)
    actions: list[Action] = Field(default_factory=list, max_length=4, description=ACTION_DOC)
    fine_yuan: float | None = Field(default=None, ge=0, le=9_999_999_999.99, allow_inf_nan=False,
                                    description="With the action `fine`.")
    follow_up_on: Day | None = Field(default=None, description="Follow-up inspection day; not before this one.")


@router.post("/venues", response_model=Venue, status_code=201, tags=["ledgers"],
             summary="Register a venue near schools (officers, commanders); placed against the zones at once",
             responses={200: {"description": "Replay of a known `id` with the same body", "model": Venue}})
async def create_venue(body: VenueCreate, caller: Officer, db: Tx, now: Now, response: Response) -> dict:
    new = venues.VenueInput(
        name=body.name, kind=body.kind, location=read_point(body.location.model_dump(), crs=body.crs.value),
        crs=body.crs.value, address=body.address, operator_name=body.operator_name, licence_no=body.licence_no,
        phone=body.phone, note=body.note, jurisdiction_code=body.jurisdiction_code)
    out, created = await venues.create(db, caller=caller, venue=new, client_id=body.id,
                                       request_hash=body_hash(body.model_dump(mode="json")), now=now)
    if not created:
        response.status_code = 200
    return out


@router.get("/venues", response_model=Page[Venue], tags=["ledgers"],
            summary="Venues in your jurisdictions; `school_id` + `not_inspected_since` (or "
                    "`not_inspected_in_campaign`) for those not inspected")
async def list_venues(
    caller: CurrentCaller, db: Reads, paging: Paging,
    jurisdiction_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$")] = None,
    school_id: Annotated[uuid.UUID | None, Query(description="Venues in this school's zone")] = None,
    kind: Kind | None = None,
    status: Status | None = None,
    outside_zone: bool | None = None,
    not_inspected_since: Annotated[Instant | None, Query(description="Venues with no inspection at or after "
                                                                     "this time (e.g. the campaign's start)")] = None,
    not_inspected_in_campaign: Annotated[uuid.UUID | None, Query(
        description="Venues with no inspection during this campaign's period (a campaign you see)")] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="Part of the name")] = None,
) -> dict:
    until = None
    if not_inspected_in_campaign is not None:
        if not_inspected_since is not None:
            raise InvalidInput("give not_inspected_since or not_inspected_in_campaign, not both",
                               field="not_inspected_in_campaign")
        try:
            period = (await campaigns.get(db, caller=caller, campaign_id=not_inspected_in_campaign))["period"]
        except NotFound as exc:
            raise InvalidInput(f"no campaign {not_inspected_in_campaign} that you can see",
                               field="not_inspected_in_campaign") from exc
        not_inspected_since, until = period["from"], period["to"]
    f = venues.VenueFilter(jurisdiction_code=jurisdiction_code, school_id=school_id, kind=kind, status=status,
                           outside_zone=outside_zone, not_inspected_since=not_inspected_since,
                           not_inspected_until=until, q=q)
    items, nxt = await venues.list_page(db, caller=caller, f=f, limit=paging.limit, cursor=paging.cursor)
    return {"items": items, "next_cursor": nxt}


@router.get("/venues/{venue_id}", response_model=Venue, tags=["ledgers"])
async def get_venue(venue_id: uuid.UUID, caller: CurrentCaller, db: Reads) -> dict:
    return await venues.get(db, caller=caller, venue_id=venue_id)


@router.patch("/venues/{venue_id}", response_model=Venue, tags=["ledgers"],
              summary="Edit a venue or change its status (officers, commanders); a closed venue never changes")
async def update_venue(venue_id: uuid.UUID, body: VenuePatch, caller: Officer, db: Tx, now: Now) -> dict:
    return await venues.update(db, caller=caller, venue_id=venue_id, changes=body.model_dump(exclude_unset=True),
                               now=now)


@router.post("/venues/{venue_id}/inspections", response_model=Inspection, status_code=201, tags=["ledgers"],
             summary="Record an inspection of a venue (officers, commanders)",
             responses={200: {"description": "Replay of a known `id` with the same body", "model": Inspection}})
async def create_inspection(venue_id: uuid.UUID, body: InspectionCreate, caller: Officer, db: Tx, now: Now,
                            response: Response) -> dict:
    new = venues.InspectionInput(
        inspected_at=body.inspected_at, inspector_name=body.inspector_name, findings=body.findings,
        violations=list(body.violations), actions=list(body.actions), fine_yuan=body.fine_yuan,
        follow_up_on=body.follow_up_on)
    out, created = await venues.record_inspection(
        db, caller=caller, venue_id=venue_id, inspection=new, client_id=body.id,
        request_hash=body_hash(body.model_dump(mode="json")), now=now)
    if not created:
        response.status_code = 200
    return out


@router.get("/venues/{venue_id}/inspections", response_model=Page[Inspection], tags=["ledgers"],
            summary="A venue's inspections, newest first")
async def list_venue_inspections(venue_id: uuid.UUID, caller: CurrentCaller, db: Reads, paging: Paging) -> dict:
    await venues.fetch(db, caller=caller, venue_id=venue_id)
    items, nxt = await venues.list_inspections(db, caller=caller, f=venues.InspectionFilter(venue_id=venue_id),
                                               limit=paging.limit, cursor=paging.cursor)
    return {"items": items, "next_cursor": nxt}


@router.get("/inspections", response_model=Page[Inspection], tags=["ledgers"],
            summary="Venue inspections in your jurisdictions, newest first")
async def list_inspections(
    caller: CurrentCaller, db: Reads, paging: Paging,
    jurisdiction_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$")] = None,
    venue_id: uuid.UUID | None = None,
    school_id: Annotated[uuid.UUID | None, Query(description="Of venues in this school's zone")] = None,
    action: Action | None = None,
    from_: Annotated[Instant | None, Query(alias="from", description="inspected_at ≥ from")] = None,
    to: Annotated[Instant | None, Query(description="inspected_at < to")] = None,
) -> dict:
    f = venues.InspectionFilter(jurisdiction_code=jurisdiction_code, venue_id=venue_id, school_id=school_id,
                                action=action, from_=from_, to=to)
    items, nxt = await venues.list_inspections(db, caller=caller, f=f, limit=paging.limit, cursor=paging.cursor)
    return {"items": items, "next_cursor": nxt}


@router.post("/venues/import", response_model=ImportAnswer, tags=["ledgers"],
             summary="Import venues from an XLSX/CSV ledger with Chinese headers, one result per row",
             openapi_extra={"requestBody": SPREADSHEET_BODY})
async def import_venues(
    request: Request, caller: Officer, now: Now,
    crs: Annotated[CRSName, Query(description="Of 经度/纬度 unless a 坐标系 column says otherwise")] = CRSName.wgs84,
    jurisdiction_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$")] = None,
    dry_run: Annotated[bool, Query(description="Check every row, write nothing")] = False,
) -> dict:
    data = await read_upload(request)
    async with request.app.state.db.atomic() as db:
        return await ledger_import.import_venues(db, caller=caller, data=data, crs=crs.value,
                                                 jurisdiction_code=jurisdiction_code, dry_run=dry_run, now=now)


@router.post("/inspections/import", response_model=ImportAnswer, tags=["ledgers"],
             summary="Import venue inspections from an XLSX/CSV ledger with Chinese headers, one result per row",
             openapi_extra={"requestBody": SPREADSHEET_BODY})
async def import_inspections(
    request: Request, caller: Officer, now: Now,
    jurisdiction_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$",
                                                   description="Its time zone reads the dates")] = None,
    dry_run: Annotated[bool, Query(description="Check every row, write nothing")] = False,
) -> dict:
    data = await read_upload(request)
    async with request.app.state.db.atomic() as db:
        return await ledger_import.import_inspections(db, caller=caller, data=data,
                                                      jurisdiction_code=jurisdiction_code, dry_run=dry_run,
                                                      now=now)
