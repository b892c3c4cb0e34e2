"""Exports as CSV or XLSX: `GET /v1/exports/{dataset}?format=csv|xlsx&lang=zh|en&<the list's filters>`.

Each dataset takes the filters of its list endpoint and keeps what that list would show the same caller
(rules in `domain/exports.py`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from api.auth import CurrentCaller, Officer
from api.deps import AppSettings, Now, Reads
from api.incidents import Category, Status
from api.schemas import BBOX_SCHEMA, NEAR_SCHEMA, PROBLEM_RESPONSES, CRSName, Day, Instant
from domain import checkins, exports, incidents
from domain.callers import Caller
from domain.errors import InvalidInput
from domain.locations import read_bbox, read_lonlat

router = APIRouter(prefix="/v1/exports", responses=PROBLEM_RESPONSES, tags=["exports"])

Format = Annotated[Literal["csv", "xlsx"], Query(description="`csv` (UTF-8 with BOM, streamed) or `xlsx`")]
Lang = Annotated[Literal["zh", "en"], Query(description="Column headers: `zh` (Chinese) or `en` (English)")]
Code = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$")]
Columns = Annotated[list[str] | None, Query(
    description="Only these columns, in this order: their keys (e.g. `id,alarm_at,status`), repeated or "
                "comma-separated; default all")]

FILE = {200: {
    "description": "The file, as an attachment (`Content-Disposition`). Times are the local time of each row's "
                   "jurisdiction (column `time_zone`); the `X-Export-Id` header names the audit entry.",
    "content": {"text/csv": {"schema": {"type": "string"}},
                exports.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
}}


def _slots(request: Request) -> exports.Slots:
    state = request.app.state
    slots = getattr(state, "export_slots", None)
    if slots is None:
        slots = state.export_slots = exports.Slots(state.settings.export_max_concurrent)
    return slots


async def _send(request: Request, export: exports.Export, caller: Caller) -> Response:
    """Stream the CSV as PostgreSQL writes it, or build the XLSX in a worker thread and stream the file."""
    state = request.app.state
    headers = {"Content-Disposition": f'attachment; filename="{export.filename}"', "Cache-Control": "no-store",
               "X-Content-Type-Options": "nosniff", "X-Export-Id": str(export.id)}
    if export.format == "csv":
        stream = await exports.open_csv(state.pool, export, caller=caller, settings=state.settings,
                                        slots=_slots(request))
        return StreamingResponse(stream.chunks(), media_type=export.media_type, headers=headers)
    book = await exports.build_xlsx(state.pool, export, caller=caller, settings=state.settings,
                                    slots=_slots(request))
    headers.update({"Content-Length": str(book.size), "X-Export-Rows": str(book.rows),
                    "X-Export-Sheets": str(book.sheets)})
    return StreamingResponse(book.chunks(), media_type=export.media_type, headers=headers)


@router.get("/incidents", response_class=Response, responses=FILE,
            summary="Incidents as CSV or XLSX: the filters of `GET /v1/incidents`, newest alarm first")
async def export_incidents(
    request: Request, caller: CurrentCaller, db: Reads, now: Now,
    format: Format = "csv", lang: Lang = "zh", columns: Columns = None,
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
    jurisdiction_code: Code = None,
    crs: CRSName = CRSName.wgs84,
) -> Response:
    near_point = read_lonlat(near, crs=crs.value) if near else None
    if near_point is not None and radius_m is None:
        raise InvalidInput("near needs radius_m", field="radius_m")
    f = incidents.IncidentFilter(
        school_id=school_id, near=near_point, radius_m=radius_m,
        bbox=read_bbox(bbox, crs=crs.value) if bbox else None, from_=from_, to=to, category=category,
        status=status, in_zone=in_zone, jurisdiction_code=jurisdiction_code)
    export = await exports.incidents_export(db, caller=caller, f=f, now=now, format=format, lang=lang)
    return await _send(request, exports.choose_columns(export, columns), caller)


@router.get("/checkins", response_class=Response, responses=FILE,
            summary="Check-ins as CSV or XLSX: the filters of `GET /v1/checkins` (officers: their own)")
async def export_checkins(
    request: Request, caller: Officer, db: Reads,
    format: Format = "csv", lang: Lang = "zh", columns: Columns = None,
    officer_id: uuid.UUID | None = None, school_id: uuid.UUID | None = None, post_id: uuid.UUID | None = None,
    shift_id: uuid.UUID | None = None,
    jurisdiction_code: Code = None,
    recorded_from: Annotated[Instant | None, Query(alias="from")] = None,
    recorded_to: Annotated[Instant | None, Query(alias="to")] = None,
    bbox: Annotated[str | None, Query(description="`minlon,minlat,maxlon,maxlat`",
                                                   json_schema_extra=BBOX_SCHEMA)] = None,
    flags: Annotated[list[str] | None, Query(description="Any of these flags (repeat or comma-separate)")] = None,
    crs: CRSName = CRSName.wgs84,
) -> Response:
    box = read_bbox(bbox, crs=crs.value) if bbox else None
    wanted = checkins.read_flags(flags)
    export = await exports.checkins_export(
        db, caller=caller, format=format, lang=lang, jurisdiction_code=jurisdiction_code, officer_id=officer_id,
        school_id=school_id, post_id=post_id, shift_id=shift_id, recorded_from=recorded_from,
        recorded_to=recorded_to, bbox=box, flags=wanted)
    return await _send(request, exports.choose_columns(export, columns), caller)


@router.get("/duty-compliance", response_class=Response, responses=FILE,
            summary="Duty compliance of a local date as CSV or XLSX: the filters of `GET /v1/duty/compliance`")
async def export_duty_compliance(
    request: Request, caller: CurrentCaller, db: Reads, settings: AppSettings, now: Now,
    day: Annotated[Day, Query(alias="date", description="Local date in the shift's jurisdiction")],
    format: Format = "csv", lang: Lang = "zh", columns: Columns = None,
    jurisdiction_code: Code = None,
    school_id: uuid.UUID | None = None,
) -> Response:
    export = await exports.compliance_export(db, caller=caller, day=day, settings=settings, now=now, format=format,
                                             lang=lang, jurisdiction_code=jurisdiction_code, school_id=school_id)
    return await _send(request, exports.choose_columns(export, columns), caller)


@router.get("/duty-alerts", response_class=Response, responses=FILE,
            summary="Duty alerts as CSV or XLSX: the filters of `GET /v1/duty/alerts`, newest first")
async def export_duty_alerts(
    request: Request, caller: CurrentCaller, db: Reads,
    format: Format = "csv", lang: Lang = "zh", columns: Columns = None,
    kind: Literal["uncovered_post", "off_post"] | None = None, school_id: uuid.UUID | None = None,
    jurisdiction_code: Code = None,
    at_from: Annotated[Instant | None, Query(alias="from")] = None,
    at_to: Annotated[Instant | None, Query(alias="to")] = None,
    acknowledged: Annotated[bool | None, Query(description="false: only open alerts; true: only acknowledged")] = None,
) -> Response:
    export = await exports.alerts_export(db, caller=caller, format=format, lang=lang,
                                         jurisdiction_code=jurisdiction_code, kind=kind, school_id=school_id,
                                         at_from=at_from, at_to=at_to, acknowledged=acknowledged)
    return await _send(request, exports.choose_columns(export, columns), caller)


@router.get("/response-times", response_class=Response, responses=FILE,
            summary="Response-time statistics as CSV or XLSX (one row per group and tier): the parameters of "
                    "`GET /v1/stats/response-times`")
async def export_response_times(
    request: Request, caller: CurrentCaller, db: Reads, now: Now,
    from_: Annotated[Instant, Query(alias="from", description="alarm_at ≥ from")],
    to: Annotated[Instant, Query(description="alarm_at < to")],
    format: Format = "csv", lang: Lang = "zh", columns: Columns = None,
    group_by: Literal["jurisdiction", "school", "category", "hour"] = "jurisdiction",
    policy: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_\-]{1,40}@v[1-9][0-9]{0,5}$",
                                        description="Default 1-3-5@v1")] = None,
    jurisdiction_code: Code = None,
) -> Response:
    export = await exports.response_times_export(db, caller=caller, from_=from_, to=to, group_by=group_by,
                                                 policy_key=policy, jurisdiction_code=jurisdiction_code, now=now,
                                                 format=format, lang=lang)
    return await _send(request, exports.choose_columns(export, columns), caller)
