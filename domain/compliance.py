"""Duty compliance: for each shift of a local day, whether the post was kept, from the officer's check-ins.

The verdict per shift is `domain.duty.duty_verdict` (rules in its module doc). A shift belongs to the local day
on which it starts, in the time zone of its post's jurisdiction. The check-ins of a shift are those stored with
its `shift_id`, plus the officer's check-ins at the shift's post that carry no shift. All check-ins of a page of
shifts are read in one query.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from domain import jurisdictions
from domain.callers import Caller, Role
from domain.database import Db, Query
from domain.duty import EARLY_ALLOWANCE_S, CheckIn, Verdict, duty_verdict
from domain.errors import InvalidInput
from domain.paging import decode_cursor, page_of
from domain.settings import Settings

SUMMARY_MAX_SHIFTS = 100_000
GROUPS = ("school", "jurisdiction")

SHIFTS_OF_DAY = """
    SELECT sh.id AS shift_id, sh.officer_id, u.display_name AS officer_name, sh.post_id, p.name AS post_name,
           p.school_id, s.name AS school_name, sh.jurisdiction_code, j.name AS jurisdiction_name, j.time_zone,
           sh.starts_at, sh.ends_at, sh.window_name
    FROM shifts sh
    JOIN posts p ON p.id = sh.post_id
    JOIN schools s ON s.id = p.school_id
    JOIN users u ON u.id = sh.officer_id
    JOIN jurisdictions j ON j.code = sh.jurisdiction_code
    WHERE j.path <@ CAST(:scope AS ltree)
      AND sh.starts_at >= :lo AND sh.starts_at < :hi
      AND CAST(sh.starts_at AT TIME ZONE j.time_zone AS date) = :day
      AND (CAST(:school AS uuid) IS NULL OR p.school_id = :school)
      AND (CAST(:officer AS uuid) IS NULL OR sh.officer_id = :officer)
      AND (CAST(:a_at AS timestamptz) IS NULL
           OR (sh.starts_at, sh.id) > (CAST(:a_at AS timestamptz), CAST(:a_id AS uuid)))
    ORDER BY sh.starts_at, sh.id
    LIMIT :n
"""

# One row per (shift, officer, post) with that group's check-ins as arrays in time order: a county-day has tens of
# thousands of check-ins, and reading them as arrays costs far less than one row (and one mapping) each.
CHECKINS_OF_SHIFTS = Query("""
    SELECT c.shift_id, c.officer_id, c.post_id,
           array_agg(c.recorded_at ORDER BY c.recorded_at, c.id) AS ats,
           array_agg(c.kind ORDER BY c.recorded_at, c.id) AS kinds,
           array_agg(c.in_post_geofence ORDER BY c.recorded_at, c.id) AS fences
    FROM checkins c
    WHERE c.recorded_at >= :lo AND c.recorded_at < :hi
      AND (c.shift_id = ANY(CAST(:shifts AS uuid[]))
           OR (c.shift_id IS NULL AND c.officer_id = ANY(CAST(:officers AS uuid[]))
               AND c.post_id = ANY(CAST(:posts AS uuid[]))))
    GROUP BY c.shift_id, c.officer_id, c.post_id
""")


async def _shifts(db: Db, *, caller: Caller, day: date, jurisdiction_code: str | None,
                  school_id: uuid.UUID | None, limit: int, after: list | None) -> list[dict]:
    scope = await jurisdictions.narrowed_scope(db, caller=caller, code=jurisdiction_code)
    lo = datetime.combine(day, time(0), tzinfo=UTC) - timedelta(days=1)
    rows = await db.fetch(SHIFTS_OF_DAY, {
        "scope": scope, "lo": lo, "hi": lo + timedelta(days=3), "day": day, "school": school_id,
        "officer": caller.user_id if caller.role is Role.officer else None,
        "a_at": datetime.fromisoformat(after[0]) if after else None, "a_id": after[1] if after else None,
        "n": limit,
    })
    return [dict(r) for r in rows]


async def _judge(db: Db, *, shifts: list[dict], now: datetime, settings: Settings) -> list[dict]:
    """Each shift with its verdict; the check-ins of all of them come from one query."""
    if not shifts:
        return []
    found = await db.fetch(CHECKINS_OF_SHIFTS, {
        "lo": min(s["starts_at"] for s in shifts) - timedelta(seconds=EARLY_ALLOWANCE_S),
        "hi": max(s["ends_at"] for s in shifts),
        "shifts": [s["shift_id"] for s in shifts], "officers": list({s["officer_id"] for s in shifts}),
        "posts": list({s["post_id"] for s in shifts}),
    })
    by_shift: dict[Any, list[CheckIn]] = defaultdict(list)
    loose: dict[tuple, list[CheckIn]] = defaultdict(list)
    for shift_id, officer_id, post_id, ats, kinds, fences in found:
        cis = [CheckIn(at=at, kind=kind, in_geofence=fence) for at, kind, fence in zip(ats, kinds, fences, strict=True)]
        if shift_id is not None:
            by_shift[shift_id].extend(cis)
        else:
            loose[(officer_id, post_id)].extend(cis)
    out = []
    for s in shifts:
        cks = by_shift[s["shift_id"]] + loose[(s["officer_id"], s["post_id"])]
        v = duty_verdict(starts_at=s["starts_at"], ends_at=s["ends_at"], checkins=cks, now=now,
                         heartbeat_cover_s=settings.heartbeat_cover_s)
        out.append({**s, "arrived_at": v.arrived_at, "late_s": v.late_s, "coverage_ratio": v.coverage_ratio,
                    "left_early_s": v.left_early_s, "verdict": v.verdict.value, "in_progress": v.in_progress,
                    "checkins": len(cks)})
    return out


async def compliance_page(db: Db, *, caller: Caller, day: date, settings: Settings, now: datetime,
                          limit: int, cursor: str | None, jurisdiction_code: str | None = None,
                          school_id: uuid.UUID | None = None) -> tuple[list[dict], str | None]:
    """The verdict of each shift of the local `day` in the caller's jurisdictions (officers: their own), by start."""
    after = decode_cursor(cursor, arity=2)
    shifts = await _shifts(db, caller=caller, day=day, jurisdiction_code=jurisdiction_code,
                           school_id=school_id, limit=limit + 1, after=after)
    items, nxt = page_of(shifts, limit=limit, key=lambda r: [r["starts_at"].isoformat(), str(r["shift_id"])])
    return await _judge(db, shifts=items, now=now, settings=settings), nxt


async def summary(db: Db, *, caller: Caller, day: date, group_by: str, settings: Settings,
                  now: datetime, jurisdiction_code: str | None = None,
                  school_id: uuid.UUID | None = None) -> list[dict]:
    """Counts of verdicts per school or per jurisdiction (the post's) for the local `day`; `kept_ratio` is kept
    shifts over shifts already started, `mean_coverage_ratio` the mean over the same shifts."""
    if group_by not in GROUPS:
        raise InvalidInput(f"group_by must be one of {', '.join(GROUPS)}", field="group_by")
    shifts = await _shifts(db, caller=caller, day=day, jurisdiction_code=jurisdiction_code,
                           school_id=school_id, limit=SUMMARY_MAX_SHIFTS, after=None)
    judged = await _judge(db, shifts=shifts, now=now, settings=settings)
    groups: dict[Any, dict] = {}
    for s in judged:
        key, name = ((s["school_id"], s["school_name"]) if group_by == "school"
                     else (s["jurisdiction_code"], s["jurisdiction_name"]))
        g = groups.setdefault(key, {"key": str(key), "name": name, "shifts": 0, "in_progress": 0,
                                    **{v.value: 0 for v in Verdict}, "_cov": []})
        g["shifts"] += 1
        g[s["verdict"]] += 1
        g["in_progress"] += int(s["in_progress"])
        if s["coverage_ratio"] is not None:
            g["_cov"].append(s["coverage_ratio"])
    out = []
    for g in sorted(groups.values(), key=lambda g: (g["name"], g["key"])):
        started = g["shifts"] - g["upcoming"]
        cov = g.pop("_cov")
        out.append({**g, "kept_ratio": round(g["kept"] / started, 3) if started else None,
                    "mean_coverage_ratio": round(sum(cov) / len(cov), 3) if cov else None})
    return out
