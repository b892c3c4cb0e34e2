"""Duty windows (local time, school days), the calendar of non-school days, and shifts of officers at posts.

Windows are local times of the school's jurisdiction (`jurisdictions.time_zone`); shifts are stored in UTC.
Which windows apply to a school: its own override when it has one, else those of the nearest jurisdiction on its
path (itself, then its ancestors) that has any, else the built-in defaults. A non-school day listed for a
jurisdiction holds for every school in it and below it.

A make-up school day (调休上课日) listed for a jurisdiction makes that day a school day for every school in it and
below it, with the windows of its `timetable_weekday` (a 调休 Saturday usually follows a named weekday's
timetable; default Monday): shifts are generated on it and check-ins on it fall in the duty windows. When
jurisdictions on a school's path list the same day, the nearest one's timetable weekday holds; a non-school day
anywhere on the path wins over a make-up day (a closed school is closed).
"""

from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from domain import audit, jurisdictions, posts
from domain.callers import Caller, Role
from domain.database import Db
from domain.errors import Conflict, InvalidInput, NotFound
from domain.paging import decode_cursor, page_of

WEEKDAYS_SCHOOL = (1, 2, 3, 4, 5)
"""ISO weekdays (Monday = 1 … Sunday = 7) on which a window applies unless it says otherwise."""
WINDOWS_MAX = 10
SHIFT_MAX_S = 24 * 3600
GENERATE_MAX_DAYS = 92
GENERATE_MAX_SHIFTS = 20_000
PRIORITY_SCHOOL = 0
PRIORITY_DEFAULT = 100_000


@dataclass(frozen=True)
class DutyWindow:
    """A local-time window of duty on the given ISO weekdays, e.g. morning arrival 07:00–08:30 Mon–Fri."""

    name: str
    starts_local: time
    ends_local: time
    weekdays: tuple[int, ...] = WEEKDAYS_SCHOOL


DEFAULT_WINDOWS = (
    DutyWindow("morning", time(7, 0), time(8, 30)),
    DutyWindow("noon", time(11, 30), time(12, 30)),
    DutyWindow("afternoon", time(16, 0), time(18, 0)),
)


def _time_sql(t: time) -> str:
    return f"make_time({t.hour}, {t.minute}, {t.second})"


def window_candidates_sql(*, school: str, path: str) -> str:
    """Every window that could apply to a school (`school` a uuid expression, may be NULL) whose jurisdiction
    path is `path`, with `prio` (lower wins): the school's own 0, a jurisdiction's 1000 − depth, defaults 100000."""
    defaults = "\n        UNION ALL ".join(
        f"SELECT CAST('{w.name}' AS varchar), {_time_sql(w.starts_local)}, {_time_sql(w.ends_local)}, "
        f"CAST(ARRAY[{','.join(map(str, w.weekdays))}] AS smallint[]), {PRIORITY_DEFAULT}, CAST(NULL AS varchar)"
        for w in DEFAULT_WINDOWS)
    return f"""
        SELECT w.name, w.starts_local, w.ends_local, w.weekdays,
               CASE WHEN w.school_id IS NOT NULL THEN {PRIORITY_SCHOOL} ELSE 1000 - nlevel(wj.path) END AS prio,
               w.jurisdiction_code AS owner
        FROM duty_windows w JOIN jurisdictions wj ON wj.code = w.jurisdiction_code
        WHERE w.school_id = {school} OR (w.school_id IS NULL AND wj.path @> {path})
        UNION ALL {defaults}
    """


def in_duty_window_sql(*, school: str, path: str, time_zone: str, at: str) -> str:
    """A boolean SQL expression: `at` (timestamptz) falls, in local time, inside one of the windows that apply
    to the school on a school day (a listed weekday — or a make-up day's timetable weekday — that no
    jurisdiction on the school's path marks non-school)."""
    local = f"({at} AT TIME ZONE {time_zone})"
    weekday = f"""COALESCE(
        (SELECT m.timetable_weekday FROM makeup_school_days m JOIN jurisdictions mj ON mj.code = m.jurisdiction_code
         WHERE m.day = CAST({local} AS date) AND mj.path @> {path} ORDER BY nlevel(mj.path) DESC LIMIT 1),
        CAST(EXTRACT(ISODOW FROM {local}) AS smallint))"""
    return f"""(
        EXISTS (
            SELECT 1 FROM (
                SELECT c.*, min(c.prio) OVER () AS best
                FROM ({window_candidates_sql(school=school, path=path)}) AS c(name, starts_local, ends_local, weekdays, prio, owner)
            ) ew
            WHERE ew.prio = ew.best
              AND {weekday} = ANY(ew.weekdays)
              AND CAST({local} AS time) >= ew.starts_local AND CAST({local} AS time) < ew.ends_local
        )
        AND NOT EXISTS (
            SELECT 1 FROM non_school_days n JOIN jurisdictions nj ON nj.code = n.jurisdiction_code
            WHERE n.day = CAST({local} AS date) AND nj.path @> {path}
        )
    )"""


# --- windows ---------------------------------------------------------------------------------------

def check_windows(windows: list[DutyWindow]) -> list[DutyWindow]:
    """At most 10 windows with distinct names; each ends after it starts (no crossing local midnight), runs on
    some of the ISO weekdays 1–7, and no two overlap on a shared weekday."""
    if len(windows) > WINDOWS_MAX:
        raise InvalidInput(f"at most {WINDOWS_MAX} windows", field="windows")
    names = set()
    for i, w in enumerate(windows):
        if not w.name or len(w.name) > 40:
            raise InvalidInput("name must be 1–40 characters", field=f"windows.{i}.name")
        if w.name in names:
            raise InvalidInput(f"window name {w.name!r} repeats", field=f"windows.{i}.name")
        names.add(w.name)
        if not w.ends_local > w.starts_local:
            raise InvalidInput("ends_local must be after starts_local (a window cannot cross local midnight)",
                               field=f"windows.{i}.ends_local")
        if not w.weekdays or any(d not in range(1, 8) for d in w.weekdays) or len(set(w.weekdays)) != len(w.weekdays):
            raise InvalidInput("weekdays must be distinct ISO weekdays 1 (Monday) … 7 (Sunday)",
                               field=f"windows.{i}.weekdays")
        for j, other in enumerate(windows[:i]):
            if set(w.weekdays) & set(other.weekdays) and w.starts_local < other.ends_local \
                    and other.starts_local < w.ends_local:
                raise InvalidInput(f"window {w.name!r} overlaps window {j} ({other.name!r})",
                                   field=f"windows.{i}.starts_local")
    return windows


def _window_out(row: Any) -> dict:
    return {"name": row["name"], "starts_local": row["starts_local"], "ends_local": row["ends_local"],
            "weekdays": list(row["weekdays"])}


async def _effective(db: Db, *, school_id: uuid.UUID | None, path: str) -> tuple[list[dict], int, str | None]:
    rows = await db.fetch(f"""
        SELECT c.* FROM ({window_candidates_sql(school='CAST(:school AS uuid)', path='CAST(:path AS ltree)')})
             AS c(name, starts_local, ends_local, weekdays, prio, owner)
        ORDER BY c.prio, c.starts_local
    """, {"school": school_id, "path": path})
    best = rows[0]["prio"]
    chosen = [r for r in rows if r["prio"] == best]
    return [_window_out(r) for r in chosen], best, chosen[0]["owner"]


def _source(prio: int, owner: str | None) -> dict:
    if prio == PRIORITY_SCHOOL:
        return {"source": "school", "source_jurisdiction_code": None}
    if prio == PRIORITY_DEFAULT:
        return {"source": "default", "source_jurisdiction_code": None}
    return {"source": "jurisdiction", "source_jurisdiction_code": owner}


async def jurisdiction_windows(db: Db, *, caller: Caller, code: str) -> dict:
    """The windows that apply in a jurisdiction: its own, else the nearest ancestor's, else the defaults."""
    j = await jurisdictions.get(db, code=code, caller=caller)
    windows, prio, owner = await _effective(db, school_id=None, path=j["path"])
    return {"jurisdiction_code": code, "school_id": None, "time_zone": j["time_zone"], **_source(prio, owner),
            "windows": windows}


async def school_windows(db: Db, *, caller: Caller, school: dict) -> dict:
    """The windows that apply at a school: its override, else its jurisdiction's effective windows."""
    j = await jurisdictions.get(db, code=school["jurisdiction_code"], caller=None)
    windows, prio, owner = await _effective(db, school_id=school["id"], path=j["path"])
    return {"jurisdiction_code": school["jurisdiction_code"], "school_id": school["id"], "time_zone": j["time_zone"],
            **_source(prio, owner), "windows": windows}


async def _replace(db: Db, *, code: str, school_id: uuid.UUID | None, windows: list[DutyWindow]) -> None:
    await db.execute("""
        DELETE FROM duty_windows WHERE jurisdiction_code = :code
          AND school_id IS NOT DISTINCT FROM CAST(:school AS uuid)
    """, {"code": code, "school": school_id})
    if windows:
        await db.execute("""
            INSERT INTO duty_windows (id, jurisdiction_code, school_id, name, starts_local, ends_local, weekdays)
            SELECT gen_random_uuid(), :code, CAST(:school AS uuid), w.name, w.s, w.e,
                   CAST(string_to_array(w.wd, ',') AS smallint[])
            FROM unnest(CAST(:names AS text[]), CAST(:starts AS time[]), CAST(:ends AS time[]), CAST(:wds AS text[]))
                 AS w(name, s, e, wd)
        """, {"code": code, "school": school_id, "names": [w.name for w in windows],
               "starts": [w.starts_local for w in windows], "ends": [w.ends_local for w in windows],
               "wds": [",".join(map(str, w.weekdays)) for w in windows]})


async def set_jurisdiction_windows(db: Db, *, caller: Caller, code: str,
                                   windows: list[DutyWindow]) -> dict:
    """Replace a jurisdiction's own windows (commanders); an empty list makes it inherit again."""
    caller.require(Role.commander)
    await jurisdictions.get(db, code=code, caller=caller)
    await _replace(db, code=code, school_id=None, windows=check_windows(windows))
    await audit.record(db, caller=caller, entity="duty_windows", entity_id=code, action="replace",
                       jurisdiction_code=code, changes={"windows": [w.__dict__ for w in windows]})
    return await jurisdiction_windows(db, caller=caller, code=code)


async def set_school_windows(db: Db, *, caller: Caller, school: dict,
                             windows: list[DutyWindow]) -> dict:
    """Replace a school's override windows (commanders); an empty list removes the override."""
    caller.require(Role.commander)
    await _replace(db, code=school["jurisdiction_code"], school_id=school["id"], windows=check_windows(windows))
    await audit.record(db, caller=caller, entity="duty_windows", entity_id=school["id"], action="replace",
                       jurisdiction_code=school["jurisdiction_code"],
                       changes={"windows": [w.__dict__ for w in windows]})
    return await school_windows(db, caller=caller, school=school)


# --- the calendar ------------------------------------------------------------------------------------

async def non_school_days(db: Db, *, caller: Caller, code: str, date_from: date | None,
                          date_to: date | None, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
    """The non-school days that hold in a jurisdiction (its own and its ancestors'), by day."""
    j = await jurisdictions.get(db, code=code, caller=caller)
    after = decode_cursor(cursor, arity=2)
    rows = await db.fetch("""
        SELECT n.day, n.jurisdiction_code, n.reason, n.jurisdiction_code = :code AS own
        FROM non_school_days n JOIN jurisdictions nj ON nj.code = n.jurisdiction_code
        WHERE nj.path @> CAST(:path AS ltree)
          AND (CAST(:d0 AS date) IS NULL OR n.day >= :d0) AND (CAST(:d1 AS date) IS NULL OR n.day <= :d1)
          AND (CAST(:after_day AS date) IS NULL OR (n.day, n.jurisdiction_code) > (CAST(:after_day AS date), :after_code))
        ORDER BY n.day, n.jurisdiction_code LIMIT :n
    """, {"code": code, "path": j["path"], "d0": date_from, "d1": date_to,
           "after_day": date.fromisoformat(after[0]) if after else None, "after_code": after[1] if after else None,
           "n": limit + 1})
    return page_of([dict(r) for r in rows], limit=limit, key=lambda r: [r["day"].isoformat(), r["jurisdiction_code"]])


async def add_non_school_day(db: Db, *, caller: Caller, code: str, day: date,
                             reason: str | None) -> dict:
    """Mark a day as having no school in the jurisdiction and below it (commanders); repeating it updates the reason."""
    caller.require(Role.commander)
    await jurisdictions.get(db, code=code, caller=caller)
    if await db.fetchval("SELECT 1 FROM makeup_school_days WHERE jurisdiction_code = :code AND day = :day",
                         {"code": code, "day": day}):
        raise Conflict(f"{day} is a make-up school day of {code}; remove it first", field="day")
    row = await db.fetchrow("""
        INSERT INTO non_school_days (jurisdiction_code, day, reason) VALUES (:code, :day, :reason)
        ON CONFLICT (jurisdiction_code, day) DO UPDATE SET reason = EXCLUDED.reason
        RETURNING day, jurisdiction_code, reason, true AS own
    """, {"code": code, "day": day, "reason": reason})
    await audit.record(db, caller=caller, entity="non_school_day", entity_id=f"{code}:{day}", action="set",
                       jurisdiction_code=code, changes={"reason": reason})
    return dict(row)


async def remove_non_school_day(db: Db, *, caller: Caller, code: str, day: date) -> None:
    caller.require(Role.commander)
    await jurisdictions.get(db, code=code, caller=caller)
    deleted = await db.execute("DELETE FROM non_school_days WHERE jurisdiction_code = :code AND day = :day",
                               {"code": code, "day": day})
    if not deleted:
        raise NotFound(f"{day} is not a non-school day of {code}")
    await audit.record(db, caller=caller, entity="non_school_day", entity_id=f"{code}:{day}", action="delete",
                       jurisdiction_code=code)


async def makeup_weekdays(db: Db, *, path: str, date_from: date, date_to: date) -> dict[date, int]:
    """The make-up days holding at a jurisdiction path between two dates, each with its timetable weekday (the
    nearest jurisdiction's when several on the path list the day)."""
    rows = await db.fetch("""
        SELECT DISTINCT ON (m.day) m.day, m.timetable_weekday
        FROM makeup_school_days m JOIN jurisdictions mj ON mj.code = m.jurisdiction_code
        WHERE mj.path @> CAST(:path AS ltree) AND m.day BETWEEN :d0 AND :d1
        ORDER BY m.day, nlevel(mj.path) DESC
    """, {"path": path, "d0": date_from, "d1": date_to})
    return {r["day"]: r["timetable_weekday"] for r in rows}


async def makeup_days(db: Db, *, caller: Caller, code: str, date_from: date | None, date_to: date | None,
                      limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
    """The make-up school days that hold in a jurisdiction (its own and its ancestors'), by day."""
    j = await jurisdictions.get(db, code=code, caller=caller)
    after = decode_cursor(cursor, arity=2)
    rows = await db.fetch("""
        SELECT m.day, m.jurisdiction_code, m.timetable_weekday, m.reason, m.jurisdiction_code = :code AS own
        FROM makeup_school_days m JOIN jurisdictions mj ON mj.code = m.jurisdiction_code
        WHERE mj.path @> CAST(:path AS ltree)
          AND (CAST(:d0 AS date) IS NULL OR m.day >= :d0) AND (CAST(:d1 AS date) IS NULL OR m.day <= :d1)
          AND (CAST(:after_day AS date) IS NULL OR (m.day, m.jurisdiction_code) > (CAST(:after_day AS date), :after_code))
        ORDER BY m.day, m.jurisdiction_code LIMIT :n
    """, {"code": code, "path": j["path"], "d0": date_from, "d1": date_to,
           "after_day": date.fromisoformat(after[0]) if after else None, "after_code": after[1] if after else None,
           "n": limit + 1})
    return page_of([dict(r) for r in rows], limit=limit, key=lambda r: [r["day"].isoformat(), r["jurisdiction_code"]])


async def add_makeup_day(db: Db, *, caller: Caller, code: str, day: date, timetable_weekday: int,
                         reason: str | None) -> dict:
    """Mark a make-up school day in the jurisdiction and below it (commanders); repeating it updates the timetable
    weekday and reason. A day the same jurisdiction lists as non-school is refused (409): remove that first."""
    caller.require(Role.commander)
    await jurisdictions.get(db, code=code, caller=caller)
    if timetable_weekday not in range(1, 8):
        raise InvalidInput("timetable_weekday must be an ISO weekday 1 (Monday) … 7 (Sunday)",
                           field="timetable_weekday")
    clash = await db.fetchval("SELECT 1 FROM non_school_days WHERE jurisdiction_code = :code AND day = :day",
                              {"code": code, "day": day})
    if clash:
        raise Conflict(f"{day} is a non-school day of {code}; remove it first", field="day")
    row = await db.fetchrow("""
        INSERT INTO makeup_school_days (jurisdiction_code, day, timetable_weekday, reason)
        VALUES (:code, :day, :weekday, :reason)
        ON CONFLICT (jurisdiction_code, day) DO UPDATE
            SET timetable_weekday = EXCLUDED.timetable_weekday, reason = EXCLUDED.reason
        RETURNING day, jurisdiction_code, timetable_weekday, reason, true AS own
    """, {"code": code, "day": day, "weekday": timetable_weekday, "reason": reason})
    await audit.record(db, caller=caller, entity="makeup_school_day", entity_id=f"{code}:{day}", action="set",
                       jurisdiction_code=code, changes={"timetable_weekday": timetable_weekday, "reason": reason})
    return dict(row)


async def remove_makeup_day(db: Db, *, caller: Caller, code: str, day: date) -> None:
    caller.require(Role.commander)
    await jurisdictions.get(db, code=code, caller=caller)
    deleted = await db.execute("DELETE FROM makeup_school_days WHERE jurisdiction_code = :code AND day = :day",
                               {"code": code, "day": day})
    if not deleted:
        raise NotFound(f"{day} is not a make-up school day of {code}")
    await audit.record(db, caller=caller, entity="makeup_school_day", entity_id=f"{code}:{day}", action="delete",
                       jurisdiction_code=code)


# --- shifts -------------------------------------------------------------------------------------------

SHIFT_COLUMNS = """
    sh.id, sh.officer_id, sh.post_id, p.school_id, sh.jurisdiction_code, sh.starts_at, sh.ends_at,
    sh.window_name, sh.created_at
"""


async def officers_in_scope(db: Db, *, caller: Caller, officer_ids: list[uuid.UUID],
                            field: str = "officer_id") -> None:
    """Every id is an active officer (or commander) in the caller's jurisdictions, else 422 naming the field."""
    found = {r["id"] for r in await db.fetch("""
        SELECT u.id FROM users u JOIN jurisdictions j ON j.code = u.jurisdiction_code
        WHERE u.id = ANY(CAST(:ids AS uuid[])) AND u.active AND u.role IN ('officer', 'commander')
          AND j.path <@ CAST(:scope AS ltree)
    """, {"ids": list(set(officer_ids)), "scope": caller.scope_path})}
    for oid in officer_ids:
        if oid not in found:
            raise InvalidInput(f"no active officer {oid} in your jurisdictions", field=field)


async def _lock_officers(db: Db, officer_ids: list[uuid.UUID]) -> None:
    """Serialise shift writes per officer until the transaction ends, so two concurrent assignments cannot
    both pass the overlap check (ids sorted, so two writers never wait on each other in a cycle)."""
    await db.execute("""
        SELECT pg_advisory_xact_lock(hashtextextended('shift-officer:' || o::text, 0))
        FROM unnest(CAST(:ids AS uuid[])) AS o ORDER BY o
    """, {"ids": sorted(set(officer_ids))})


async def _refuse_overlap(db: Db, *, officer_id: uuid.UUID, starts_at: datetime, ends_at: datetime,
                          ignore: uuid.UUID | None = None) -> None:
    """409 when the officer already has another shift overlapping [starts_at, ends_at): nobody stands at two
    posts at once. Shifts that merely touch (one ends when the other starts) do not overlap."""
    clash = await db.fetchrow("""
        SELECT sh.id, sh.post_id, sh.starts_at, sh.ends_at FROM shifts sh
        WHERE sh.officer_id = :officer AND sh.starts_at < :e AND sh.ends_at > :s
          AND sh.id IS DISTINCT FROM CAST(:ignore AS uuid)
        ORDER BY sh.starts_at LIMIT 1
    """, {"officer": officer_id, "s": starts_at, "e": ends_at, "ignore": ignore})
    if clash is not None:
        raise Conflict(f"the officer already has shift {clash['id']} at post {clash['post_id']} from "
                       f"{clash['starts_at'].isoformat()} to {clash['ends_at'].isoformat()}", field="starts_at")


def _check_span(starts_at: datetime, ends_at: datetime) -> None:
    if not ends_at > starts_at:
        raise InvalidInput("ends_at must be after starts_at", field="ends_at")
    if (ends_at - starts_at).total_seconds() > SHIFT_MAX_S:
        raise InvalidInput("a shift lasts at most 24 hours", field="ends_at")


async def create(db: Db, *, caller: Caller, officer_id: uuid.UUID, post_id: uuid.UUID,
                 starts_at: datetime, ends_at: datetime, window_name: str | None = None) -> dict:
    """Assign an officer of the caller's jurisdictions to a post of its jurisdictions for [starts_at, ends_at).
    An officer's shifts never overlap (409 naming the one in the way)."""
    caller.require(Role.commander)
    _check_span(starts_at, ends_at)
    post = await posts.get(db, caller=caller, post_id=post_id, field="post_id")
    await officers_in_scope(db, caller=caller, officer_ids=[officer_id])
    await _lock_officers(db, [officer_id])
    await _refuse_overlap(db, officer_id=officer_id, starts_at=starts_at, ends_at=ends_at)
    shift_id = uuid.uuid4()
    try:
        async with db.transaction():
            await db.execute("""
                INSERT INTO shifts (id, officer_id, post_id, jurisdiction_code, starts_at, ends_at, window_name, created_by)
                VALUES (:id, :officer, :post, :code, :s, :e, :w, :by)
            """, {"id": shift_id, "officer": officer_id, "post": post_id, "code": post["jurisdiction_code"],
                   "s": starts_at, "e": ends_at, "w": window_name, "by": caller.user_id})
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise Conflict("this officer already has a shift at this post starting then", field="starts_at") from exc
    await audit.record(db, caller=caller, entity="shift", entity_id=shift_id, action="create",
                       jurisdiction_code=post["jurisdiction_code"],
                       changes={"officer_id": officer_id, "post_id": post_id, "starts_at": starts_at, "ends_at": ends_at})
    return await get(db, caller=caller, shift_id=shift_id)


async def get(db: Db, *, caller: Caller, shift_id: uuid.UUID) -> dict:
    row = await db.fetchrow(f"""
        SELECT {SHIFT_COLUMNS}, j.path::text AS path
        FROM shifts sh JOIN posts p ON p.id = sh.post_id JOIN jurisdictions j ON j.code = sh.jurisdiction_code
        WHERE sh.id = :id
    """, {"id": shift_id})
    if row is None or not (caller.sees_path(row["path"]) or row["officer_id"] == caller.user_id):
        raise NotFound(f"no shift {shift_id}")
    out = dict(row)
    out.pop("path")
    return out


SHIFT_PATCHABLE = ("officer_id", "post_id", "starts_at", "ends_at", "window_name")


async def _editable(db: Db, *, caller: Caller, shift_id: uuid.UUID, now: datetime) -> dict:
    """A shift the commander may still change: in scope (else 404) and not begun (else 409)."""
    caller.require(Role.commander)
    current = await get(db, caller=caller, shift_id=shift_id)
    if not caller.sees_path(await jurisdictions.path_of(db, code=current["jurisdiction_code"]) or ""):
        raise NotFound(f"no shift {shift_id}")
    if current["starts_at"] <= now:
        raise Conflict("the shift has begun: its record stays as it is for compliance (end it early by "
                       "creating no further shifts; change only shifts still to come)", field="starts_at")
    return current


async def update(db: Db, *, caller: Caller, shift_id: uuid.UUID, changes: dict, now: datetime) -> dict:
    """Change a shift that has not begun (commanders): officer, post, times or window name."""
    current = await _editable(db, caller=caller, shift_id=shift_id, now=now)
    merged = {k: changes.get(k, current[k]) for k in SHIFT_PATCHABLE}
    _check_span(merged["starts_at"], merged["ends_at"])
    if merged["starts_at"] <= now:
        raise InvalidInput("a shift can only be moved to start in the future", field="starts_at")
    post = await posts.get(db, caller=caller, post_id=merged["post_id"], field="post_id")
    if merged["officer_id"] != current["officer_id"]:
        await officers_in_scope(db, caller=caller, officer_ids=[merged["officer_id"]])
    await _lock_officers(db, [merged["officer_id"]])
    await _refuse_overlap(db, officer_id=merged["officer_id"], starts_at=merged["starts_at"],
                          ends_at=merged["ends_at"], ignore=shift_id)
    try:
        async with db.transaction():
            await db.execute("""
                UPDATE shifts SET officer_id = :officer, post_id = :post, jurisdiction_code = :code,
                       starts_at = :s, ends_at = :e, window_name = :w
                WHERE id = :id
            """, {"id": shift_id, "officer": merged["officer_id"], "post": merged["post_id"],
                   "code": post["jurisdiction_code"], "s": merged["starts_at"], "e": merged["ends_at"],
                   "w": merged["window_name"]})
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise Conflict("this officer already has a shift at this post starting then", field="starts_at") from exc
    await audit.record(db, caller=caller, entity="shift", entity_id=shift_id, action="update",
                       jurisdiction_code=post["jurisdiction_code"],
                       changes={k: v for k, v in merged.items() if v != current[k]})
    return await get(db, caller=caller, shift_id=shift_id)


async def delete(db: Db, *, caller: Caller, shift_id: uuid.UUID, now: datetime) -> None:
    """Cancel a shift that has not begun (commanders); a begun shift is history and stays."""
    current = await _editable(db, caller=caller, shift_id=shift_id, now=now)
    await db.execute("DELETE FROM shifts WHERE id = :id", {"id": shift_id})
    await audit.record(db, caller=caller, entity="shift", entity_id=shift_id, action="delete",
                       jurisdiction_code=current["jurisdiction_code"],
                       changes={"officer_id": current["officer_id"], "post_id": current["post_id"],
                                "starts_at": current["starts_at"], "ends_at": current["ends_at"]})


def local_span(day: date, window: DutyWindow, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants at which a window opens and closes on a local day."""
    return (datetime.combine(day, window.starts_local, tzinfo=tz).astimezone(UTC),
            datetime.combine(day, window.ends_local, tzinfo=tz).astimezone(UTC))


def _as_window(w: dict) -> DutyWindow:
    return DutyWindow(w["name"], w["starts_local"], w["ends_local"], tuple(w["weekdays"]))


def planned_spans(*, windows: list[DutyWindow], date_from: date, date_to: date, closed: set[date],
                  time_zone: str, makeup: dict[date, int] | None = None) -> list[tuple[datetime, datetime, str]]:
    """Each window's (start, end, name) in UTC on each school day from `date_from` to `date_to` inclusive: days
    on the window's weekdays that are not in `closed` (non-school days); a make-up day (`makeup`: day → its
    timetable weekday) counts as that weekday."""
    tz = ZoneInfo(time_zone)
    makeup = makeup or {}
    spans = []
    day = date_from
    while day <= date_to:
        if day not in closed:
            weekday = makeup.get(day, day.isoweekday())
            for w in windows:
                if weekday in w.weekdays:
                    spans.append((*local_span(day, w, tz), w.name))
        day += timedelta(days=1)
    return spans


async def generate(db: Db, *, caller: Caller, assignments: dict[uuid.UUID, list[uuid.UUID]],
                   date_from: date, date_to: date, window_names: list[str] | None = None) -> dict:
    """Create a shift for each assigned officer at each post in each window on each school day from `date_from`
    to `date_to` (local dates). Shifts that already exist are kept, so running it twice changes nothing."""
    caller.require(Role.commander)
    if date_to < date_from:
        raise InvalidInput("to must not be before from", field="to")
    if (date_to - date_from).days >= GENERATE_MAX_DAYS:
        raise InvalidInput(f"at most {GENERATE_MAX_DAYS} days at once", field="to")
    officer_ids = sorted({o for officers in assignments.values() for o in officers})
    await officers_in_scope(db, caller=caller, officer_ids=officer_ids, field="assignments")
    plan: list[tuple[uuid.UUID, uuid.UUID, str, datetime, datetime, str]] = []
    for post_id, officers in assignments.items():
        post = await posts.get(db, caller=caller, post_id=post_id, field="post_ids")
        school = {"id": post["school_id"], "jurisdiction_code": post["jurisdiction_code"]}
        windows = [_as_window(w) for w in (await school_windows(db, caller=caller, school=school))["windows"]]
        if window_names:
            windows = [w for w in windows if w.name in window_names]
        closed = {r["day"] for r in await db.fetch("""
            SELECT n.day FROM non_school_days n JOIN jurisdictions nj ON nj.code = n.jurisdiction_code
            WHERE nj.path @> CAST(:path AS ltree) AND n.day BETWEEN :d0 AND :d1
        """, {"path": post["path"], "d0": date_from, "d1": date_to})}
        makeup = await makeup_weekdays(db, path=post["path"], date_from=date_from, date_to=date_to)
        spans = planned_spans(windows=windows, date_from=date_from, date_to=date_to, closed=closed,
                              time_zone=post["time_zone"], makeup=makeup)
        plan += [(o, post_id, post["jurisdiction_code"], s, e, name) for o in officers for s, e, name in spans]
    if len(plan) > GENERATE_MAX_SHIFTS:
        raise InvalidInput(f"this would make {len(plan)} shifts; at most {GENERATE_MAX_SHIFTS} at once", field="to")
    created: list[uuid.UUID] = []
    existing = 0
    if plan:
        await _lock_officers(db, officer_ids)
        columns = {"o": [x[0] for x in plan], "p": [x[1] for x in plan], "c": [x[2] for x in plan],
                   "s": [x[3] for x in plan], "e": [x[4] for x in plan], "w": [x[5] for x in plan],
                   "first": first_in_plan([(x[0], x[3], x[4]) for x in plan])}
        # A planned shift is made unless that very shift exists, or the officer is already busy then (another
        # post, another span) or earlier in this plan (an officer assigned to two posts gets the first one).
        rows = await db.fetchrow("""
            WITH x AS (
                SELECT x.*
                FROM unnest(CAST(:o AS uuid[]), CAST(:p AS uuid[]), CAST(:c AS text[]), CAST(:s AS timestamptz[]),
                            CAST(:e AS timestamptz[]), CAST(:w AS text[]), CAST(:first AS boolean[]))
                     AS x(o, p, c, s, e, w, first_in_plan)
            ),
            judged AS (
                SELECT x.*,
                       EXISTS (SELECT 1 FROM shifts sh WHERE sh.officer_id = x.o AND sh.post_id = x.p
                                                         AND sh.starts_at = x.s) AS same,
                       EXISTS (SELECT 1 FROM shifts sh WHERE sh.officer_id = x.o AND sh.starts_at < x.e
                                                         AND sh.ends_at > x.s) AS busy
                FROM x
            ),
            made AS (
                INSERT INTO shifts (id, officer_id, post_id, jurisdiction_code, starts_at, ends_at, window_name,
                                    created_by)
                SELECT gen_random_uuid(), o, p, c, s, e, w, CAST(:by AS uuid) FROM judged
                WHERE NOT busy AND first_in_plan
                RETURNING id
            )
            SELECT (SELECT array_agg(id) FROM made) AS created,
                   (SELECT count(*) FROM judged WHERE same) AS existing
        """, {**columns, "by": caller.user_id})
        created, existing = list(rows["created"] or []), rows["existing"]
    overlapping = len(plan) - len(created) - existing
    await audit.record(db, caller=caller, entity="shift", entity_id="generate", action="generate",
                       jurisdiction_code=caller.jurisdiction_code,
                       changes={"from": date_from, "to": date_to, "planned": len(plan), "created": len(created),
                                "overlapping": overlapping})
    return {"planned": len(plan), "created": len(created), "existing": existing, "overlapping": overlapping,
            "created_ids": created}


def first_in_plan(spans: list[tuple[uuid.UUID, datetime, datetime]]) -> list[bool]:
    """For each (officer, start, end) in order: False when it overlaps an earlier kept span of the same officer.

    Kept spans of an officer are disjoint, so sorted by start they are sorted by end too: only the last one
    starting before `end` can reach past `start`."""
    kept: dict[uuid.UUID, list[tuple[datetime, datetime]]] = {}
    out = []
    for officer, start, end in spans:
        mine = kept.setdefault(officer, [])
        i = bisect.bisect_left(mine, (end,))
        ok = i == 0 or mine[i - 1][1] <= start
        if ok:
            bisect.insort(mine, (start, end))
        out.append(ok)
    return out


async def list_page(db: Db, *, caller: Caller, limit: int, cursor: str | None,
                    officer_id: uuid.UUID | None = None, post_id: uuid.UUID | None = None,
                    school_id: uuid.UUID | None = None, jurisdiction_code: str | None = None,
                    starts_from: datetime | None = None, starts_to: datetime | None = None) -> tuple[list[dict], str | None]:
    """Shifts by (starts_at, id); officers see only their own, others those in their jurisdictions."""
    after = decode_cursor(cursor, arity=2)
    scope = await jurisdictions.narrowed_scope(db, caller=caller, code=jurisdiction_code)
    if caller.role is Role.officer:
        officer_id = caller.user_id
    rows = await db.fetch(f"""
        SELECT {SHIFT_COLUMNS}
        FROM shifts sh JOIN posts p ON p.id = sh.post_id JOIN jurisdictions j ON j.code = sh.jurisdiction_code
        WHERE (j.path <@ CAST(:scope AS ltree) OR sh.officer_id = CAST(:me AS uuid))
          AND (CAST(:officer AS uuid) IS NULL OR sh.officer_id = :officer)
          AND (CAST(:post AS uuid) IS NULL OR sh.post_id = :post)
          AND (CAST(:school AS uuid) IS NULL OR p.school_id = :school)
          AND (CAST(:s0 AS timestamptz) IS NULL OR sh.starts_at >= :s0)
          AND (CAST(:s1 AS timestamptz) IS NULL OR sh.starts_at < :s1)
          AND (CAST(:a_at AS timestamptz) IS NULL OR (sh.starts_at, sh.id) > (CAST(:a_at AS timestamptz), CAST(:a_id AS uuid)))
        ORDER BY sh.starts_at, sh.id LIMIT :n
    """, {"scope": scope, "me": caller.user_id, "officer": officer_id, "post": post_id, "school": school_id,
           "s0": starts_from, "s1": starts_to, "a_at": datetime.fromisoformat(after[0]) if after else None,
           "a_id": after[1] if after else None, "n": limit + 1})
    return page_of([dict(r) for r in rows], limit=limit, key=lambda r: [r["starts_at"].isoformat(), str(r["id"])])


async def caller_today(db: Db, *, caller: Caller, now: datetime) -> date:
    """Today's date in the time zone of the caller's jurisdiction."""
    tz = await db.fetchval("SELECT time_zone FROM jurisdictions WHERE code = :c", {"c": caller.jurisdiction_code})
    return now.astimezone(ZoneInfo(tz or jurisdictions.DEFAULT_TIME_ZONE)).date()


async def my_shifts(db: Db, *, caller: Caller, day: date) -> list[dict]:
    """The caller's shifts starting on `day` (local date of each shift's jurisdiction), with post, school,
    geofence and window: what the phone shows."""
    lo = datetime.combine(day, time(0), tzinfo=UTC) - timedelta(days=1)
    rows = await db.fetch(f"""
        SELECT {SHIFT_COLUMNS}, p.name AS post_name, p.kind AS post_kind,
               CAST(ST_AsGeoJSON(p.location, 7) AS json) AS post_location, p.radius_m,
               s.name AS school_name, j.time_zone,
               CAST(sh.starts_at AT TIME ZONE j.time_zone AS time) AS starts_local,
               CAST(sh.ends_at AT TIME ZONE j.time_zone AS time) AS ends_local
        FROM shifts sh JOIN posts p ON p.id = sh.post_id JOIN schools s ON s.id = p.school_id
        JOIN jurisdictions j ON j.code = sh.jurisdiction_code
        WHERE sh.officer_id = :me AND sh.starts_at >= :lo AND sh.starts_at < :hi
          AND CAST(sh.starts_at AT TIME ZONE j.time_zone AS date) = :day
        ORDER BY sh.starts_at, sh.id
    """, {"me": caller.user_id, "lo": lo, "hi": lo + timedelta(days=3), "day": day})
    return [{
        "id": r["id"], "officer_id": r["officer_id"], "post_id": r["post_id"], "school_id": r["school_id"],
        "jurisdiction_code": r["jurisdiction_code"], "starts_at": r["starts_at"], "ends_at": r["ends_at"],
        "window_name": r["window_name"], "created_at": r["created_at"],
        "post": {"id": r["post_id"], "school_id": r["school_id"], "name": r["post_name"], "kind": r["post_kind"],
                 "location": r["post_location"], "radius_m": r["radius_m"]},
        "school": {"id": r["school_id"], "name": r["school_name"]},
        "geofence": {"center": r["post_location"], "radius_m": r["radius_m"]},
        "window": {"name": r["window_name"], "starts_local": r["starts_local"], "ends_local": r["ends_local"],
                   "time_zone": r["time_zone"]},
    } for r in rows]
