"""Hazards (安全隐患): the ledger, its status lifecycle, overdue flags and photo evidence."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.auth import CurrentCaller, Officer
from api.deps import AppSettings, Now, Paging, Reads, Tx
from api.schemas import PROBLEM_RESPONSES, CRSName, Instant, Page, PointGeometry, PointIn
from domain import hazards, ledger_import, photos
from domain.errors import UnsupportedMedia
from domain.incidents import body_hash
from domain.locations import read_point

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)

Category = Literal[tuple(hazards.CATEGORIES)]  # type: ignore[valid-type]
Severity = Literal[tuple(hazards.SEVERITIES)]  # type: ignore[valid-type]
Status = Literal[hazards.STATUSES]  # type: ignore[valid-type]
CodeField = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{2,32}$")]

CATEGORY_DOC = "; ".join(f"`{k}` {v}" for k, v in hazards.CATEGORIES.items())
SEVERITY_DOC = "; ".join(f"`{k}` {v}" for k, v in hazards.SEVERITIES.items())
STATUS_DOC = "; ".join(f"`{k}` {v}" for k, v in hazards.STATUS_NAMES.items())
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HazardLogEntry(BaseModel):
    kind: Literal["created", "status", "deadline", "action", "imported"]
    at: datetime = Field(description="When it took effect.")
    recorded_at: datetime = Field(description="When it was written (figures as of a moment read only these).")
    status: Status = Field(description="The status after this entry.")
    deadline: datetime = Field(description="The deadline after this entry.")
    note: str | None = Field(description="The action taken, the escalation reason or the closing note.")
    actor_id: uuid.UUID | None
    actor_name: str | None


class HazardPhoto(BaseModel):
    id: uuid.UUID
    hazard_id: uuid.UUID
    content_type: Literal[PHOTO_TYPES]  # type: ignore[valid-type]
    size_bytes: int
    width: int
    height: int
    uploaded_by: uuid.UUID | None
    uploaded_by_name: str | None
    uploaded_at: datetime


class Hazard(BaseModel):
    id: uuid.UUID
    jurisdiction_code: str
    school_id: uuid.UUID | None = Field(description="The school it was found at, or whose zone holds it.")
    school_name: str | None
    location: PointGeometry
    crs: str
    flags: list[str] = Field(description="`outside_zone`: in no zone of its school (or of any of your schools); "
                                         "`location_from_school`: no location was sent, the school's gate stands "
                                         "for it.")
    category: Category = Field(description=CATEGORY_DOC)
    severity: Severity = Field(description=SEVERITY_DOC)
    description: str
    found_by: uuid.UUID | None
    found_by_name: str
    found_at: datetime
    responsible_unit: str | None
    deadline: datetime = Field(description="Rectification deadline (整改期限).")
    status: Status = Field(description=STATUS_DOC)
    overdue: bool = Field(description="Not closed and the deadline has passed.")
    escalation_reason: str | None
    escalated_at: datetime | None
    closing_note: str | None
    closing_photo_ids: list[uuid.UUID]
    closed_by: uuid.UUID | None
    closed_by_name: str | None
    closed_at: datetime | None
    external_ref: str | None = Field(description="The unit's own number for it (隐患编号), from an import.")
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    log: list[HazardLogEntry] | None = Field(default=None, description="Status changes and actions taken, oldest "
                                                                       "first (on a single hazard; null in lists).")
    photos: list[HazardPhoto] | None = Field(default=None, description="On a single hazard; null in lists.")


class HazardCreate(Strict):
    id: uuid.UUID | None = Field(default=None, description="Client UUID: replaying it with the same body answers "
                                                           "the stored hazard (200); another body is 409.")
    category: Category = Field(description=CATEGORY_DOC)
    severity: Severity = Field(description=SEVERITY_DOC)
    description: str = Field(min_length=1, max_length=4000)
    found_at: Instant = Field(description="When it was found; at most 120 s in the future.")
    deadline: Instant = Field(description="Rectification deadline; not before found_at.")
    location: PointIn | None = Field(default=None, description="Where; without it, the school's gate (give "
                                                               "school_id).")
    crs: CRSName = CRSName.wgs84
    school_id: uuid.UUID | None = Field(default=None, description="The school it was found at (in your scope); "
                                                                  "default: the nearest of your schools whose zone "
                                                                  "holds the location.")
    responsible_unit: str | None = Field(default=None, max_length=200, description="责任单位")
    found_by_name: str | None = Field(default=None, max_length=200, description="Default: your name.")
    jurisdiction_code: CodeField | None = Field(default=None, description="Default: the school's, else yours.")


class HazardPatch(Strict):
    status: Status = Field(default=None, description="open → rectifying → closed, or escalated (with "
                                                     "escalation_reason) from open or rectifying; escalated → "
                                                     "rectifying or closed. Closing needs closing_note.")
    escalation_reason: str | None = Field(default=None, max_length=2000)
    closing_note: str | None = Field(default=None, max_length=4000, description="Closing evidence: what was done.")
    closing_photo_ids: list[uuid.UUID] | None = Field(default=None, max_length=20,
                                                      description="Photos uploaded to this hazard before.")
    deadline: Instant = Field(default=None, description="A new deadline (not before found_at); re-arms the "
                                                        "overdue alert.")
    action_taken: str | None = Field(default=None, max_length=4000, description="Appended to the log.")
    responsible_unit: str | None = Field(default=None, max_length=200)
    severity: Severity = None
    description: str = Field(default=None, min_length=1, max_length=4000)


# --- hazards ------------------------------------------------------------------------------------------------

@router.post("/hazards", response_model=Hazard, status_code=201, tags=["ledgers"],
             summary="Record a hazard (officers, commanders); placed against the school zones at once",
             responses={200: {"description": "Replay of a known `id` with the same body", "model": Hazard}})
async def create_hazard(body: HazardCreate, caller: Officer, db: Tx, now: Now, response: Response) -> dict:
    new = hazards.HazardInput(
        category=body.category, severity=body.severity, description=body.description, found_at=body.found_at,
        deadline=body.deadline, crs=body.crs.value, school_id=body.school_id,
        location=read_point(body.location.model_dump(), crs=body.crs.value) if body.location else None,
        responsible_unit=body.responsible_unit, found_by_name=body.found_by_name,
        jurisdiction_code=body.jurisdiction_code)
    out, created = await hazards.create(db, caller=caller, hazard=new, client_id=body.id,
                                        request_hash=body_hash(body.model_dump(mode="json")), now=now)
    if not created:
        response.status_code = 200
    return out


@router.get("/hazards", response_model=Page[Hazard], tags=["ledgers"],
            summary="Hazards in your jurisdictions, most recently found first; `overdue=true` for the overdue")
async def list_hazards(
    caller: CurrentCaller, db: Reads, paging: Paging, now: Now,
    jurisdiction_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$")] = None,
    school_id: uuid.UUID | None = None,
    status: Status | None = None,
    category: Category | None = None,
    severity: Severity | None = None,
    overdue: Annotated[bool | None, Query(description="Not closed and past the deadline (or, false, not)")] = None,
    from_: Annotated[Instant | None, Query(alias="from", description="found_at ≥ from")] = None,
    to: Annotated[Instant | None, Query(description="found_at < to")] = None,
) -> dict:
    f = hazards.HazardFilter(jurisdiction_code=jurisdiction_code, school_id=school_id, status=status,
                             category=category, severity=severity, overdue=overdue, from_=from_, to=to)
    items, nxt = await hazards.list_page(db, caller=caller, f=f, limit=paging.limit, cursor=paging.cursor, now=now)
    return {"items": items, "next_cursor": nxt}


@router.get("/hazards/{hazard_id}", response_model=Hazard, tags=["ledgers"],
            summary="One hazard with its log (status changes, actions taken) and photos")
async def get_hazard(hazard_id: uuid.UUID, caller: CurrentCaller, db: Reads, now: Now) -> dict:
    return await hazards.get(db, caller=caller, hazard_id=hazard_id, now=now)


@router.patch("/hazards/{hazard_id}", response_model=Hazard, tags=["ledgers"],
              summary="Move the status, the deadline, log an action taken, or edit (officers, commanders)")
async def update_hazard(hazard_id: uuid.UUID, body: HazardPatch, caller: Officer, db: Tx, now: Now) -> dict:
    return await hazards.update(db, caller=caller, hazard_id=hazard_id, changes=body.model_dump(exclude_unset=True),
                                now=now)


# --- photos -----------------------------------------------------------------------------------------------

PHOTO_BODY = {"required": True, "description": "The image itself (JPEG, PNG or WebP; decided by its content), "
                                               "at most `HUXIAO_PHOTO_MAX_BYTES` (default 10 MB).",
              "content": {t: {"schema": {"type": "string", "format": "binary"}}
                          for t in (*PHOTO_TYPES, "application/octet-stream")}}


@router.post("/hazards/{hazard_id}/photos", response_model=HazardPhoto, status_code=201, tags=["ledgers"],
             summary="Upload a photo to a hazard (the raw image as the body); 413 over the limit, 415 not an image",
             openapi_extra={"requestBody": PHOTO_BODY})
async def upload_hazard_photo(hazard_id: uuid.UUID, request: Request, caller: Officer, settings: AppSettings,
                              now: Now) -> dict:
    data = await request.body()  # capped by the body-size middleware at the photo limit
    if not data:
        raise UnsupportedMedia("send the image as the body", field="body")
    async with request.app.state.db.atomic() as db:
        return await photos.add(db, caller=caller, store=request.app.state.photo_store, hazard_id=hazard_id,
                                data=data, max_bytes=settings.photo_max_bytes,
                                max_pixels=settings.photo_max_pixels, now=now)


@router.get("/hazards/{hazard_id}/photos/{photo_id}", tags=["ledgers"], response_class=Response,
            summary="Download a hazard's photo (whoever sees the hazard)",
            responses={200: {"description": "The image", "content": {t: {} for t in PHOTO_TYPES}}})
async def download_hazard_photo(hazard_id: uuid.UUID, photo_id: uuid.UUID, request: Request,
                                caller: CurrentCaller, db: Reads) -> Response:
    data, content_type = await photos.read(db, caller=caller, store=request.app.state.photo_store,
                                           hazard_id=hazard_id, photo_id=photo_id)
    return Response(data, media_type=content_type, headers={"Cache-Control": "private, max-age=3600",
                                                            "Content-Disposition": f'inline; filename="{photo_id}"'})


# --- import -------------------------------------------------------------------------------------------------

SPREADSHEET_BODY = {"required": True, "description": "The spreadsheet itself: XLSX, or CSV in UTF-8 or GB18030 "
                                                     "(decided by its content). Column mapping: README.md.",
                    "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in (
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "text/csv",
                        "application/octet-stream")}}


class ImportRowResult(BaseModel):
    row: int = Field(description="The row's number in the file (the header row is 1 when it is the first).")
    status: Literal["created", "duplicate", "rejected"]
    id: uuid.UUID | None = None
    errors: list[dict] | None = Field(default=None, description="`{field, message}`, the field as the column "
                                                                "is headed in the file.")


class ImportAnswer(BaseModel):
    kind: Literal["hazards", "venues", "inspections"]
    dry_run: bool
    created: int
    duplicate: int
    rejected: int
    ignored_columns: list[str]
    results: list[ImportRowResult]


async def read_upload(request: Request) -> bytes:
    data = await request.body()  # capped by the body-size middleware (the batch limit)
    if not data:
        raise UnsupportedMedia("send the XLSX or CSV file as the body", field="body")
    return data


@router.post("/hazards/import", response_model=ImportAnswer, tags=["ledgers"],
             summary="Import hazards from an XLSX/CSV ledger with Chinese headers, one result per row",
             openapi_extra={"requestBody": SPREADSHEET_BODY})
async def import_hazards(
    request: Request, caller: Officer, now: Now,
    crs: Annotated[CRSName, Query(description="Of 经度/纬度 unless a 坐标系 column says otherwise")] = CRSName.wgs84,
    jurisdiction_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$",
                                                   description="Default for the rows; its time zone reads "
                                                               "the dates")] = None,
    dry_run: Annotated[bool, Query(description="Check every row, write nothing")] = False,
) -> dict:
    data = await read_upload(request)
    async with request.app.state.db.atomic() as db:
        return await ledger_import.import_hazards(db, caller=caller, data=data, crs=crs.value,
                                                  jurisdiction_code=jurisdiction_code, dry_run=dry_run, now=now)
