"""Duty: posts at schools, duty windows and non-school days, shifts, compliance and alerts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, date, datetime
from time import monotonic as time_now
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.auth import Commander, CurrentCaller
from api.deps import AppSettings, Now, Paging, Reads, Tx
from api.schemas import PROBLEM_RESPONSES, CRSName, Day, Instant, LocalTime, Page, PointGeometry, PointIn
from api.schools import CurrentSchool
from domain import alerts, checkins, compliance, events, hazards, posts, shifts
from domain.database import dsn, unit_of_work
from domain.errors import InvalidInput
from domain.locations import read_point

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)
log = logging.getLogger("huxiao.duty")

CodePath = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{2,32}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- schemas -----------------------------------------------------------------------------------------

class Post(BaseModel):
    id: uuid.UUID
    school_id: uuid.UUID
    jurisdiction_code: str
    name: str
    kind: Literal["school_guard", "peak_duty"]
    location: PointGeometry
    radius_m: float = Field(description="Geofence radius in metres around `location`.")
    created_at: datetime


class PostCreate(Strict):
    name: str = Field(min_length=1, max_length=200, examples=["南门护学岗"])
    kind: Literal["school_guard", "peak_duty"] = "school_guard"
    location: PointIn
    radius_m: float = Field(default=posts.RADIUS_DEFAULT_M, ge=posts.RADIUS_MIN_M, le=posts.RADIUS_MAX_M,
                            allow_inf_nan=False)
    crs: CRSName = CRSName.wgs84


class PostPatch(Strict):
    name: str = Field(default=None, min_length=1, max_length=200)
    kind: Literal["school_guard", "peak_duty"] = None
    location: PointIn = None
    radius_m: float = Field(default=None, ge=posts.RADIUS_MIN_M, le=posts.RADIUS_MAX_M, allow_inf_nan=False)
    crs: CRSName = CRSName.wgs84


class Window(Strict):
    name: str = Field(min_length=1, max_length=40, examples=["morning"])
    starts_local: LocalTime = Field(examples=["07:00"])
    ends_local: LocalTime = Field(examples=["08:30"])
    weekdays: list[int] = Field(default=list(shifts.WEEKDAYS_SCHOOL), min_length=1, max_length=7,
                                description="ISO weekdays: 1 Monday … 7 Sunday.")


class WindowsIn(Strict):
    windows: list[Window] = Field(max_length=shifts.WINDOWS_MAX,
                                  description="The whole set; an empty list means inherit again.")


class WindowsOut(BaseModel):
    jurisdiction_code: str
    school_id: uuid.UUID | None
    time_zone: str
    source: Literal["school", "jurisdiction", "default"] = Field(
        description="Where the windows come from: the school's override, a jurisdiction (see "
                    "`source_jurisdiction_code`: this one or the nearest ancestor with windows), or the defaults.")
    source_jurisdiction_code: str | None
    windows: list[Window]


class NonSchoolDay(BaseModel):
    day: Day
    jurisdiction_code: str
    reason: str | None
    own: bool = Field(description="False when the day is inherited from an ancestor jurisdiction.")


class NonSchoolDayIn(Strict):
    day: Day
    reason: str | None = Field(default=None, max_length=200, examples=["国庆节"])


class MakeupDay(BaseModel):
    day: Day
    jurisdiction_code: str
    timetable_weekday: int = Field(description="ISO weekday (1 Monday … 7 Sunday) whose duty windows apply.")
    reason: str | None
    own: bool = Field(description="False when the day is inherited from an ancestor jurisdiction.")


class MakeupDayIn(Strict):
    day: Day
    timetable_weekday: int = Field(default=1, ge=1, le=7, description="ISO weekday whose duty windows apply on "
                                   "this day (a 调休 Saturday following Friday's timetable: 5); default Monday.")
    reason: str | None = Field(default=None, max_length=200, examples=["国庆节调休上课"])


class Shift(BaseModel):
    id: uuid.UUID
    officer_id: uuid.UUID
    post_id: uuid.UUID
    school_id: uuid.UUID
    jurisdiction_code: str
    starts_at: datetime
    ends_at: datetime
    window_name: str | None
    created_at: datetime


class ShiftCreate(Strict):
    officer_id: uuid.UUID
    post_id: uuid.UUID
    starts_at: Instant
    ends_at: Instant
    window_name: str | None = Field(default=None, max_length=40)


class ShiftPatch(Strict):
    officer_id: uuid.UUID = None
    post_id: uuid.UUID = None
    starts_at: Instant = None
    ends_at: Instant = None
    window_name: str | None = Field(default=None, max_length=40)


class ShiftGenerate(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    post_ids: list[uuid.UUID] | None = Field(default=None, max_length=500)
    school_id: uuid.UUID | None = Field(default=None, description="All posts of this school (when no post_ids).")
    officer_ids: list[uuid.UUID] | None = Field(default=None, max_length=200,
                                                description="Officers assigned to every post.")
    assignments: dict[uuid.UUID, list[uuid.UUID]] | None = Field(
        default=None, description="Officers per post id (instead of, or besides, officer_ids).")
    date_from: Day = Field(alias="from", description="First local date.")
    date_to: Day = Field(alias="to", description="Last local date (inclusive).")
    windows: list[str] | None = Field(default=None, description="Only these window names.")


class GenerateAnswer(BaseModel):
    planned: int
    created: int
    existing: int = Field(description="Planned shifts that already existed (same officer, post and start).")
    overlapping: int = Field(description="Planned shifts not made because the officer is busy then: another "
                                         "shift overlaps, or an earlier one of this plan (two posts at once).")
    created_ids: list[uuid.UUID]


class PostBrief(BaseModel):
    id: uuid.UUID
    school_id: uuid.UUID
    name: str
    kind: str
    location: PointGeometry
    radius_m: float


class SchoolBrief(BaseModel):
    id: uuid.UUID
    name: str


class Geofence(BaseModel):
    center: PointGeometry
    radius_m: float


class ShiftWindow(BaseModel):
    name: str | None
    starts_local: LocalTime
    ends_local: LocalTime
    time_zone: str


class MyShift(Shift):
    post: PostBrief
    school: SchoolBrief
    geofence: Geofence
    window: ShiftWindow


class MyShifts(BaseModel):
    date: date
    items: list[MyShift]


Verdict = Literal["kept", "late", "partial", "absent", "upcoming"]


class ShiftCompliance(BaseModel):
    shift_id: uuid.UUID
    officer_id: uuid.UUID
    officer_name: str
    post_id: uuid.UUID
    post_name: str
    school_id: uuid.UUID
    school_name: str
    jurisdiction_code: str
    starts_at: datetime
    ends_at: datetime
    window_name: str | None
    arrived_at: datetime | None
    late_s: float | None
    coverage_ratio: float | None = Field(description="Share of the shift with presence proven by check-ins.")
    left_early_s: float | None
    verdict: Verdict
    in_progress: bool
    checkins: int


class ComplianceGroup(BaseModel):
    key: str
    name: str
    shifts: int
    kept: int
    late: int
    partial: int
    absent: int
    upcoming: int
    in_progress: int
    kept_ratio: float | None
    mean_coverage_ratio: float | None


class ComplianceSummary(BaseModel):
    date: date
    group_by: Literal["school", "jurisdiction"]
    groups: list[ComplianceGroup]


class Alert(BaseModel):
    id: uuid.UUID
    kind: Literal["uncovered_post", "off_post"]
    jurisdiction_code: str
    school_id: uuid.UUID | None
    post_id: uuid.UUID
    shift_id: uuid.UUID | None
    officer_id: uuid.UUID | None
    checkin_id: uuid.UUID | None
    at: datetime
    details: dict[str, Any]
    created_at: datetime
    acknowledged_at: datetime | None = Field(description="When a commander acknowledged it; null while open.")
    acknowledged_by: uuid.UUID | None
    acknowledgement_note: str | None


class AcknowledgeIn(Strict):
    note: str | None = Field(default=None, max_length=500, examples=["已电话联系，民警已返岗"])


# --- posts -----------------------------------------------------------------------------------------------

@router.post("/schools/{school_id}/posts", response_model=Post, status_code=201, tags=["duty"],
             summary="Add a duty post to a school (commander); it must lie within zone radius + 500 m")
async def create_post(school: CurrentSchool, body: PostCreate, caller: Commander, db: Tx) -> dict:
    location = read_point(body.location.model_dump(), crs=body.crs.value)
    return await posts.create(db, caller=caller, school=school, name=body.name, kind=body.kind,
                              location=location, radius_m=body.radius_m)


@router.get("/schools/{school_id}/posts", response_model=Page[Post], tags=["duty"], summary="A school's posts")
async def list_posts(school: CurrentSchool, db: Reads, paging: Paging) -> dict:
    items, nxt = await posts.list_page(db, school_id=school["id"], limit=paging.limit, cursor=paging.cursor)
    return {"items": items, "next_cursor": nxt}


@router.get("/posts/{post_id}", response_model=Post, tags=["duty"])
async def get_post(post_id: uuid.UUID, caller: CurrentCaller, db: Reads) -> dict:
    return await posts.get(db, caller=caller, post_id=post_id)


@router.patch("/posts/{post_id}", response_model=Post, tags=["duty"],
              summary="Rename, move or resize a post (commander); judged check-ins keep their verdicts")
async def patch_post(post_id: uuid.UUID, body: PostPatch, caller: Commander, db: Tx) -> dict:
    _no_nulls(body, ("name", "kind", "location", "radius_m"))
    location = read_point(body.location.model_dump(), crs=body.crs.value) if body.location else None
    return await posts.update(db, caller=caller, post_id=post_id, name=body.name, kind=body.kind,
                              location=location, radius_m=body.radius_m)


@router.delete("/posts/{post_id}", status_code=204, tags=["duty"],
               summary="Retire a post (commander); refused while shifts at it have not ended")
async def delete_post(post_id: uuid.UUID, caller: Commander, db: Tx, now: Now) -> Response:
    await posts.delete(db, caller=caller, post_id=post_id, now=now)
    return Response(status_code=204)


def _no_nulls(body: BaseModel, fields: tuple[str, ...]) -> None:
    """PATCH semantics: an absent field stays; an explicit null for a required field is refused."""
    for name in fields:
        if name in body.model_fields_set and getattr(body, name) is None:
            raise InvalidInput(f"{name} cannot be null; leave it out to keep it", field=name)


# --- windows and calendar ---------------------------------------------------------------------------------

def _windows(body: WindowsIn) -> list[shifts.DutyWindow]:
    return [shifts.DutyWindow(w.name, w.starts_local, w.ends_local, tuple(w.weekdays)) for w in body.windows]


@router.get("/jurisdictions/{code}/duty-windows", response_model=WindowsOut, tags=["duty"],
            summary="The duty windows in force in a jurisdiction (own, inherited or default)")
async def get_jurisdiction_windows(code: str, caller: CurrentCaller, db: Reads) -> dict:
    return await shifts.jurisdiction_windows(db, caller=caller, code=code)


@router.put("/jurisdictions/{code}/duty-windows", response_model=WindowsOut, tags=["duty"],
            summary="Replace a jurisdiction's duty windows (commander); [] inherits again")
async def put_jurisdiction_windows(code: str, body: WindowsIn, caller: Commander, db: Tx) -> dict:
    return await shifts.set_jurisdiction_windows(db, caller=caller, code=code, windows=_windows(body))


@router.get("/schools/{school_id}/duty-windows", response_model=WindowsOut, tags=["duty"],
            summary="The duty windows in force at a school")
async def get_school_windows(school: CurrentSchool, caller: CurrentCaller, db: Reads) -> dict:
    return await shifts.school_windows(db, caller=caller, school=school)


@router.put("/schools/{school_id}/duty-windows", response_model=WindowsOut, tags=["duty"],
            summary="Override a school's duty windows (commander); [] removes the override")
async def put_school_windows(school: CurrentSchool, body: WindowsIn, caller: Commander, db: Tx) -> dict:
    return await shifts.set_school_windows(db, caller=caller, school=school, windows=_windows(body))


@router.get("/jurisdictions/{code}/non-school-days", response_model=Page[NonSchoolDay], tags=["duty"],
            summary="Non-school days holding in a jurisdiction (its own and its ancestors')")
async def list_non_school_days(
    code: str, caller: CurrentCaller, db: Reads, paging: Paging,
    date_from: Annotated[Day | None, Query(alias="from")] = None,
    date_to: Annotated[Day | None, Query(alias="to")] = None,
) -> dict:
    items, nxt = await shifts.non_school_days(db, caller=caller, code=code, date_from=date_from,
                                              date_to=date_to, limit=paging.limit, cursor=paging.cursor)
    return {"items": items, "next_cursor": nxt}


@router.post("/jurisdictions/{code}/non-school-days", response_model=NonSchoolDay, status_code=201, tags=["duty"],
             summary="Mark a non-school day (commander); holds for the jurisdiction and below")
async def add_non_school_day(code: str, body: NonSchoolDayIn, caller: Commander, db: Tx) -> dict:
    return await shifts.add_non_school_day(db, caller=caller, code=code, day=body.day, reason=body.reason)


@router.delete("/jurisdictions/{code}/non-school-days/{day}", status_code=204, tags=["duty"])
async def remove_non_school_day(code: str, day: Day, caller: Commander, db: Tx) -> Response:
    await shifts.remove_non_school_day(db, caller=caller, code=code, day=day)
    return Response(status_code=204)


@router.get("/jurisdictions/{code}/make-up-days", response_model=Page[MakeupDay], tags=["duty"],
            summary="Make-up school days (调休上课日) holding in a jurisdiction (its own and its ancestors')")
async def list_makeup_days(
    code: str, caller: CurrentCaller, db: Reads, paging: Paging,
    date_from: Annotated[Day | None, Query(alias="from")] = None,
    date_to: Annotated[Day | None, Query(alias="to")] = None,
) -> dict:
    items, nxt = await shifts.makeup_days(db, caller=caller, code=code, date_from=date_from, date_to=date_to,
                                          limit=paging.limit, cursor=paging.cursor)
    return {"items": items, "next_cursor": nxt}


@router.post("/jurisdictions/{code}/make-up-days", response_model=MakeupDay, status_code=201, tags=["duty"],
             summary="Mark a make-up school day, e.g. a 调休 Saturday (commander); holds for the jurisdiction "
                     "and below: shifts are generated and alerts raised on it")
async def add_makeup_day(code: str, body: MakeupDayIn, caller: Commander, db: Tx) -> dict:
    return await shifts.add_makeup_day(db, caller=caller, code=code, day=body.day,
                                       timetable_weekday=body.timetable_weekday, reason=body.reason)


@router.delete("/jurisdictions/{code}/make-up-days/{day}", status_code=204, tags=["duty"])
async def remove_makeup_day(code: str, day: Day, caller: Commander, db: Tx) -> Response:
    await shifts.remove_makeup_day(db, caller=caller, code=code, day=day)
    return Response(status_code=204)


# --- shifts ------------------------------------------------------------------------------------------------

@router.post("/shifts", response_model=Shift, status_code=201, tags=["duty"],
             summary="Assign an officer to a post for a time span (commander)")
async def create_shift(body: ShiftCreate, caller: Commander, db: Tx) -> dict:
    return await shifts.create(db, caller=caller, officer_id=body.officer_id, post_id=body.post_id,
                               starts_at=body.starts_at, ends_at=body.ends_at, window_name=body.window_name)


@router.post("/shifts/generate", response_model=GenerateAnswer, tags=["duty"],
             summary="Create shifts from the duty windows for a date range (commander); idempotent")
async def generate_shifts(body: ShiftGenerate, caller: Commander, db: Tx) -> dict:
    assignments: dict[uuid.UUID, list[uuid.UUID]] = {}
    post_ids = list(body.post_ids or [])
    if not post_ids and body.school_id:
        school_posts, _ = await posts.list_page(db, school_id=body.school_id, limit=10_000, cursor=None)
        post_ids = [p["id"] for p in school_posts]
    for pid in post_ids:
        assignments[pid] = list(body.officer_ids or [])
    for pid, officers in (body.assignments or {}).items():
        assignments[pid] = sorted(set(assignments.get(pid, [])) | set(officers))
    assignments = {p: o for p, o in assignments.items() if o}
    if not assignments:
        raise InvalidInput("name posts (post_ids, school_id or assignments) and officers to assign",
                           field="officer_ids")
    return await shifts.generate(db, caller=caller, assignments=assignments, date_from=body.date_from,
                                 date_to=body.date_to, window_names=body.windows)


@router.get("/shifts", response_model=Page[Shift], tags=["duty"],
            summary="Shifts in your jurisdictions (officers: their own), by start")
async def list_shifts(
    caller: CurrentCaller, db: Reads, paging: Paging,
    officer_id: uuid.UUID | None = None, post_id: uuid.UUID | None = None, school_id: uuid.UUID | None = None,
    jurisdiction_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$")] = None,
    starts_from: Annotated[Instant | None, Query(alias="from")] = None,
    starts_to: Annotated[Instant | None, Query(alias="to")] = None,
) -> dict:
    items, nxt = await shifts.list_page(db, caller=caller, limit=paging.limit, cursor=paging.cursor,
                                        officer_id=officer_id, post_id=post_id, school_id=school_id,
                                        jurisdiction_code=jurisdiction_code, starts_from=starts_from,
                                        starts_to=starts_to)
    return {"items": items, "next_cursor": nxt}


@router.get("/shifts/{shift_id}", response_model=Shift, tags=["duty"])
async def get_shift(shift_id: uuid.UUID, caller: CurrentCaller, db: Reads) -> dict:
    return await shifts.get(db, caller=caller, shift_id=shift_id)


@router.patch("/shifts/{shift_id}", response_model=Shift, tags=["duty"],
              summary="Change a shift that has not begun (commander): officer, post, times, window name")
async def patch_shift(shift_id: uuid.UUID, body: ShiftPatch, caller: Commander, db: Tx, now: Now) -> dict:
    _no_nulls(body, ("officer_id", "post_id", "starts_at", "ends_at"))
    changes = body.model_dump(exclude_unset=True)
    return await shifts.update(db, caller=caller, shift_id=shift_id, changes=changes, now=now)


@router.delete("/shifts/{shift_id}", status_code=204, tags=["duty"],
               summary="Cancel a shift that has not begun (commander); a begun shift stays as history")
async def delete_shift(shift_id: uuid.UUID, caller: Commander, db: Tx, now: Now) -> Response:
    await shifts.delete(db, caller=caller, shift_id=shift_id, now=now)
    return Response(status_code=204)


@router.get("/me/shifts", response_model=MyShifts, tags=["duty"],
            summary="The caller's shifts on a local date, with post, school, geofence and window")
async def my_shifts(caller: CurrentCaller, db: Reads, now: Now,
                    day: Annotated[Day | None, Query(alias="date", description="Local date; default today")] = None
                    ) -> dict:
    day = day or await shifts.caller_today(db, caller=caller, now=now)
    return {"date": day, "items": await shifts.my_shifts(db, caller=caller, day=day)}


# --- compliance and alerts ---------------------------------------------------------------------------------

@router.get("/duty/compliance", response_model=Page[ShiftCompliance], tags=["duty"],
            summary="Per shift of a local date: arrival, lateness, coverage, leaving early, verdict")
async def duty_compliance(
    caller: CurrentCaller, db: Reads, paging: Paging, settings: AppSettings, now: Now,
    day: Annotated[Day, Query(alias="date", description="Local date in the shift's jurisdiction")],
    jurisdiction_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$")] = None,
    school_id: uuid.UUID | None = None,
) -> dict:
    items, nxt = await compliance.compliance_page(db, caller=caller, day=day, settings=settings, now=now,
                                                  limit=paging.limit, cursor=paging.cursor,
                                                  jurisdiction_code=jurisdiction_code, school_id=school_id)
    return {"items": items, "next_cursor": nxt}


@router.get("/duty/compliance/summary", response_model=ComplianceSummary, tags=["duty"],
            summary="Verdict counts per school or jurisdiction for a local date")
async def duty_compliance_summary(
    caller: CurrentCaller, db: Reads, settings: AppSettings, now: Now,
    day: Annotated[Day, Query(alias="date")],
    group_by: Literal["school", "jurisdiction"] = "school",
    jurisdiction_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$")] = None,
    school_id: uuid.UUID | None = None,
) -> dict:
    groups = await compliance.summary(db, caller=caller, day=day, group_by=group_by, settings=settings,
                                      now=now, jurisdiction_code=jurisdiction_code, school_id=school_id)
    return {"date": day, "group_by": group_by, "groups": groups}


@router.get("/duty/alerts", response_model=Page[Alert], tags=["duty"],
            summary="Uncovered posts and officers off post, newest first")
async def duty_alerts(
    caller: CurrentCaller, db: Reads, paging: Paging,
    kind: Literal["uncovered_post", "off_post"] | None = None, school_id: uuid.UUID | None = None,
    jurisdiction_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$")] = None,
    at_from: Annotated[Instant | None, Query(alias="from")] = None,
    at_to: Annotated[Instant | None, Query(alias="to")] = None,
    acknowledged: Annotated[bool | None, Query(description="false: only open alerts; true: only acknowledged")] = None,
) -> dict:
    items, nxt = await alerts.list_page(db, caller=caller, limit=paging.limit, cursor=paging.cursor, kind=kind,
                                        school_id=school_id, jurisdiction_code=jurisdiction_code, at_from=at_from,
                                        at_to=at_to, acknowledged=acknowledged)
    return {"items": items, "next_cursor": nxt}


@router.post("/duty/alerts/{alert_id}/acknowledge", response_model=Alert, tags=["duty"],
             summary="Acknowledge a duty alert (commander); the first acknowledgement stands")
async def acknowledge_alert(alert_id: uuid.UUID, caller: Commander, db: Tx, now: Now,
                            body: AcknowledgeIn | None = None) -> dict:
    return await alerts.acknowledge(db, caller=caller, alert_id=alert_id, note=body.note if body else None,
                                    now=now)


# --- background work: partitions ahead, the uncovered-post sweep ------------------------------------------

# The background work runs once per cluster, not once per worker: the worker that holds this session-level
# advisory lock (on a connection of its own) is the leader; the others try again each interval, so when the
# leader's process ends (and its connection with it) another takes over within a minute.
LEADER_LOCK_KEY = 0x6875_7869_616F  # "huxiao"
EVENTS_PRUNE_EVERY_S = 3600


async def _duty_loop(app: FastAPI) -> None:
    interval = app.state.settings.duty_sweep_interval_s
    leader: asyncpg.Connection | None = None
    last_partition_day = None
    last_prune = -EVENTS_PRUNE_EVERY_S
    try:
        while True:
            now = datetime.now(UTC)
            try:
                if leader is None or leader.is_closed():
                    leader = await _try_to_lead(app)
                if leader is not None:
                    async with unit_of_work(app.state.pool) as db:
                        if last_partition_day != now.date():
                            await checkins.ensure_partitions(db, now=now)
                            last_partition_day = now.date()
                        await alerts.sweep_uncovered_posts(db, now)
                    async with unit_of_work(app.state.pool) as db:
                        await hazards.sweep_overdue(db, now)
                    if time_now() - last_prune >= EVENTS_PRUNE_EVERY_S:
                        pruned = await events.prune(app.state.db)
                        last_prune = time_now()
                        if pruned:
                            log.info("pruned %d events older than the replay retention", pruned)
            except Exception:  # the loop must outlive a database restart
                log.warning("duty sweep failed; retrying in %s s", interval, exc_info=True)
                if leader is not None:
                    leader.terminate()
                    leader = None
            await asyncio.sleep(interval)
    finally:
        if leader is not None:
            leader.terminate()


async def _try_to_lead(app: FastAPI) -> asyncpg.Connection | None:
    """A connection holding the leader lock, or None when another worker holds it."""
    conn = await asyncpg.connect(dsn(app.state.settings), timeout=5,
                                 server_settings={"application_name": "huxiao-leader"})
    try:
        if await conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK_KEY):
            return conn
    except BaseException:
        conn.terminate()
        raise
    await conn.close()
    return None


async def start_duty_tasks(app: FastAPI) -> None:
    """Create the check-in partitions ahead now, then sweep for uncovered posts every minute (and make
    partitions again daily) in the background."""
    try:
        async with unit_of_work(app.state.pool) as db:
            await checkins.ensure_partitions(db, now=datetime.now(UTC))
    except Exception:
        log.warning("could not create check-in partitions at startup", exc_info=True)

    async def delayed() -> None:
        await asyncio.sleep(app.state.settings.duty_sweep_interval_s)
        await _duty_loop(app)

    app.state.duty_task = asyncio.create_task(delayed())


async def stop_duty_tasks(app: FastAPI) -> None:
    task = getattr(app.state, "duty_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
