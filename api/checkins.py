"""Check-ins from phones: one at a time online, or replayed in batches after being offline."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from starlette.responses import Response

from api import lean
from api.auth import Officer, authenticate
from api.deps import Paging, Reads
from api.problems import DOMAIN_STATUS, PROBLEM_TYPE_BASE
from api.schemas import (
    BBOX_SCHEMA,
    PROBLEM_RESPONSES,
    CRSName,
    Instant,
    Page,
    PointGeometry,
    PointIn,
    Problem,
)
from domain import checkins
from domain.callers import Caller, Role
from domain.errors import DomainError, InvalidInput
from domain.locations import read_bbox, read_position

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)
# The hot endpoints (api/lean.py), included ahead of every other router.
lean_router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)

DEVICE_MAX_CHARS = 2000


class Visible(BaseModel):
    """三见: whether the police vehicle and its lights were visible at the post."""

    model_config = ConfigDict(extra="forbid")
    vehicle: bool | None = None
    lights: bool | None = None


class CheckinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: uuid.UUID = Field(description="The client's own UUID; a replay with the same body returns the first answer.")
    kind: Literal["arrive", "heartbeat", "depart"]
    recorded_at: Instant = Field(description="Device time of the fix, RFC 3339 with offset.")
    location: PointIn
    crs: CRSName = CRSName.wgs84
    accuracy_m: float = Field(gt=0, le=100_000, allow_inf_nan=False, description="Fix accuracy (metres, > 0).")
    shift_id: uuid.UUID | None = None
    post_id: uuid.UUID | None = None
    visible: Visible | None = None
    note: str | None = Field(default=None, max_length=500)
    mock_location: bool = Field(default=False, description="The OS reported a mock (fake) location.")
    device: dict[str, Any] | None = Field(default=None, description="Free device info (model, OS, app version).")

    @field_validator("device")
    @classmethod
    def _small_device(cls, v: dict | None) -> dict | None:
        if v is not None and len(orjson.dumps(v)) > DEVICE_MAX_CHARS:
            raise ValueError(f"device info must be at most {DEVICE_MAX_CHARS} bytes of JSON")
        return v


class CheckinBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Any] = Field(min_length=1, max_length=checkins.BATCH_MAX,
                             description="Up to 500 check-ins (each as in `POST /v1/checkins`), judged one by one.")


class VisibleOut(BaseModel):
    vehicle: bool | None
    lights: bool | None


class Checkin(BaseModel):
    id: uuid.UUID
    officer_id: uuid.UUID
    jurisdiction_code: str
    kind: Literal["arrive", "heartbeat", "depart"]
    recorded_at: datetime = Field(description="Device time (stored as given, shown in UTC).")
    received_at: datetime = Field(description="Server time when first received.")
    location: PointGeometry
    accuracy_m: float
    crs: str
    shift_id: uuid.UUID | None
    post_id: uuid.UUID | None
    school_id: uuid.UUID | None = Field(description="The school whose zone holds the point (nearest), or null.")
    distance_to_school_m: float | None
    in_school_zone: bool
    distance_to_post_m: float | None
    geofence: Literal["inside", "outside", "uncertain"] | None = Field(
        description="inside: distance + accuracy ≤ radius; outside: distance − accuracy > radius; else uncertain.")
    in_post_geofence: bool | None = Field(description="true inside, false outside, null uncertain or no post.")
    in_duty_window: bool
    flags: list[str]
    visible: VisibleOut
    mock_location: bool
    note: str | None
    source: Literal["api", "traccar"] = Field(
        description="api: posted to /v1/checkins; traccar: a position from a Traccar Client tracker.")


class BatchResult(BaseModel):
    id: Any = None
    status: Literal["created", "duplicate", "rejected"]
    checkin: Checkin | dict[str, Any] | None = Field(
        default=None, description="The check-in as judged; with `?fields=` only the fields named there.")
    error: Problem | None = None


RESULT_FIELDS = ("id", "status", "error", "checkin")
CHECKIN_FIELDS = tuple(Checkin.model_fields)


class BatchQuery(BaseModel):
    fields: str | None = Field(
        default=None, max_length=1000,
        description="Compact answer for phones: comma-separated fields to keep. `id` and `status` are always there "
                    "and `error` on a rejected item; name `checkin` for the whole check-in, or check-in fields "
                    "(e.g. `fields=id,status,geofence,flags`) for just those under `checkin`; `fields=id,status` "
                    "gives no check-in at all.")


def read_fields(raw: str | None) -> set[str] | None:
    """The `fields` of a batch answer, or None for the whole answer; an unknown name is 422 naming `fields`."""
    if raw is None:
        return None
    names = {n.strip() for n in raw.split(",") if n.strip()}
    unknown = sorted(names - set(RESULT_FIELDS) - set(CHECKIN_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r}; known: {', '.join(RESULT_FIELDS + CHECKIN_FIELDS)}",
                           field="fields")
    return names


def compact(result: dict[str, Any], fields: set[str] | None) -> dict[str, Any]:
    """A batch result cut down to `fields` (see `BatchQuery`)."""
    if fields is None or "checkin" in fields or "checkin" not in result:
        return result
    out = {k: v for k, v in result.items() if k != "checkin"}
    kept = {k: result["checkin"][k] for k in CHECKIN_FIELDS if k in fields and k not in RESULT_FIELDS}
    if kept:
        out["checkin"] = kept
    return out


class BatchAnswer(BaseModel):
    results: list[BatchResult]


def problem_body(exc: DomainError, *, status: int | None = None, kind: str | None = None,
                 title: str | None = None) -> dict:
    """The problem+json body of a domain error, for one item of a batch."""
    status = status or next((s for cls, s in DOMAIN_STATUS.items() if isinstance(exc, cls)), 400)
    title = title or exc.title
    body = {"type": PROBLEM_TYPE_BASE + (kind or title.lower().replace(" ", "-")), "title": title, "status": status,
            "detail": exc.detail}
    if exc.errors:
        body["errors"] = exc.errors
    return body


def _item_error(err: ValidationError) -> InvalidInput:
    errors = [{"field": ".".join(str(p) for p in e["loc"]) or "item", "message": e["msg"], "type": e["type"]}
              for e in err.errors()]
    exc = InvalidInput(f"Invalid input: {', '.join(sorted({e['field'] for e in errors}))}", errors=errors)
    exc.validation = True
    return exc


def to_input(body: CheckinIn, *, settings, now: datetime) -> checkins.CheckinInput:
    """A validated body as the domain's input: WGS-84 point, recorded_at range checked, body hash."""
    location = read_position(body.location.model_dump(), crs=body.crs.value)
    refusal = None
    try:
        checkins.check_recorded_at(body.recorded_at, now=now, settings=settings)
    except InvalidInput as exc:  # stands unless this replays a check-in stored when it was still fresh
        refusal = exc
    visible = body.visible or Visible()
    return checkins.CheckinInput(
        id=body.id, kind=body.kind, recorded_at=body.recorded_at, location=location, crs=body.crs.value,
        accuracy_m=body.accuracy_m, body_hash=checkins.body_hash(body.model_dump(mode="json")),
        shift_id=body.shift_id, post_id=body.post_id, vehicle=visible.vehicle, lights=visible.lights,
        note=body.note, mock_location=body.mock_location, device=body.device, refusal=refusal)


CHECKIN_BODY = TypeAdapter(CheckinIn)
BATCH_BODY = TypeAdapter(CheckinBatchIn)


def _zone_index(request: Request):
    """The worker's zone index when it is ready (check-ins are then judged against it, not in PostGIS)."""
    state = request.app.state.zone_index
    return state.current() if state is not None else None


def _officer(caller: Caller) -> Caller:
    caller.require(Role.officer, Role.commander)
    return caller


@lean_router.post("/checkins", response_model=Checkin, status_code=201, tags=["checkins"],
                  summary="Check in (officer): judged on arrival; a replay of the same id and body answers 200",
                  responses={200: {"model": Checkin, "description": "A replay: the original answer"}},
                  openapi_extra=lean.documented(body_model=CheckinIn))
async def create_checkin(request: Request) -> Response:
    caller = _officer(await authenticate(request))
    body = await lean.body(request, CHECKIN_BODY)
    state = request.app.state
    item = to_input(body, settings=state.settings, now=lean.now(request))
    outcome = (await checkins.ingest(state.db, caller=caller, items=[item], settings=state.settings, online=True,
                                     ingest_db=state.ingest_db, zone_index=_zone_index(request)))[0]
    if outcome.error is not None:
        raise outcome.error
    return lean.json_response(outcome.checkin, status_code=200 if outcome.status == "duplicate" else 201)


@lean_router.post("/checkins/batch", response_model=BatchAnswer, tags=["checkins"],
                  summary="Up to 500 check-ins (e.g. replayed after being offline); one result per item, in order",
                  openapi_extra=lean.documented(BatchQuery, body_model=CheckinBatchIn))
async def create_checkins_batch(request: Request) -> Response:
    caller = _officer(await authenticate(request))
    fields = read_fields(lean.query(request, BatchQuery).fields)
    body = await lean.body(request, BATCH_BODY)
    state = request.app.state
    now = lean.now(request)
    inputs: list[checkins.CheckinInput | DomainError] = []
    for raw in body.items:
        raw_id = raw.get("id") if isinstance(raw, dict) else None
        try:
            if not isinstance(raw, dict):
                raise InvalidInput("each item must be a JSON object", field="item")
            item = to_input(CheckinIn.model_validate(raw), settings=state.settings, now=now)
        except ValidationError as err:
            item = _item_error(err)
        except DomainError as err:
            item = err
        if isinstance(item, DomainError):
            item.item_id = raw_id if isinstance(raw_id, str | int) else None
        inputs.append(item)
    # A batch is judged in PostgreSQL whole (set-wise, in C): cheaper than 500 zone measurements in Python.
    outcomes = await checkins.ingest(state.db, caller=caller, items=inputs, settings=state.settings, online=False,
                                     ingest_db=state.ingest_db)
    results = []
    for o in outcomes:
        result: dict[str, Any] = {"id": o.id, "status": o.status}
        if o.checkin is not None:
            result["checkin"] = o.checkin
        if o.error is not None:
            if getattr(o.error, "validation", False):
                result["error"] = problem_body(o.error, status=422, kind="validation-error", title="Validation error")
            else:
                result["error"] = problem_body(o.error)
        results.append(compact(result, fields))
    return lean.json_response({"results": results})


@router.get("/checkins/{checkin_id}", response_model=Checkin, tags=["checkins"],
            summary="One check-in as it was judged (officers: their own; never viewers)")
async def get_checkin(checkin_id: uuid.UUID, caller: Officer, db: Reads) -> dict:
    return await checkins.get(db, caller=caller, checkin_id=checkin_id)


@router.get("/checkins", response_model=Page[Checkin], tags=["checkins"],
            summary="Check-ins by device time (officers: their own; commanders, admins: their jurisdictions; never viewers)")
async def list_checkins(
    caller: Officer, db: Reads, paging: Paging,
    officer_id: uuid.UUID | None = None, school_id: uuid.UUID | None = None, post_id: uuid.UUID | None = None,
    shift_id: uuid.UUID | None = None,
    jurisdiction_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$")] = None,
    recorded_from: Annotated[Instant | None, Query(alias="from")] = None,
    recorded_to: Annotated[Instant | None, Query(alias="to")] = None,
    bbox: Annotated[str | None, Query(description="`minlon,minlat,maxlon,maxlat`",
                                                   json_schema_extra=BBOX_SCHEMA)] = None,
    flags: Annotated[list[str] | None, Query(description="Any of these flags (repeat or comma-separate)")] = None,
    crs: CRSName = CRSName.wgs84,
) -> dict:
    box = read_bbox(bbox, crs=crs.value) if bbox else None
    wanted = checkins.read_flags(flags)
    items, nxt = await checkins.list_page(db, caller=caller, limit=paging.limit, cursor=paging.cursor,
                                          officer_id=officer_id, school_id=school_id, post_id=post_id,
                                          shift_id=shift_id, jurisdiction_code=jurisdiction_code,
                                          recorded_from=recorded_from, recorded_to=recorded_to, bbox=box, flags=wanted)
    return {"items": items, "next_cursor": nxt}
