"""Campaign reports (专项行动工作总结): the figures of a campaign's period per jurisdiction and per school, as of an
instant, from a list of section providers.

Rules:

1. The report covers the campaign's jurisdictions (and everything below them) that the caller sees, narrowed to
   `jurisdiction_code` when given (which must overlap the campaign's coverage, else 422 naming it). A caller
   outside the coverage gets an empty report, not an error.
2. The period is the campaign's `[from, to)` (local dates of its owner, `domain.campaigns.period_instants`).
3. **Reproducible**: a report is computed as of `as_of` (default now; not in the future). It counts only what
   happened in the period at or before `as_of` *and was recorded at or before `as_of`* (check-ins by
   `received_at`, incidents by `received_at`, arrivals, shifts, disputes, schools and posts by `created_at`), so
   the same campaign, scope and `as_of` always give the same figures, whatever was recorded since. An `as_of`
   before the period starts gives empty figures.
4. Each **section** (duty, check-ins, incidents, disputes; hazards and venues are added by their modules through
   `register_section`) answers additive counts per jurisdiction (the record's own) and per school; a
   jurisdiction's row rolls up its whole subtree, the totals add every jurisdiction once, and ratios are derived
   after adding (`Section.derive`).
5. Duty: each shift that started in the period before `as_of` gets the verdict of `domain.duty.duty_verdict`
   computed in SQL over its check-ins recorded by `as_of` (arrival, presence intervals from in-geofence
   arrive/heartbeat check-ins cut by the next depart or outside check-in, coverage, leaving early; the same
   constants). `posts_staffed` counts posts with at least one such shift.
6. Incidents: each incident whose alarm lies in the period is scored under the campaign's first policy from the
   arrivals recorded by `as_of` (rules of `domain.scoring.score_response`, `now = as_of`), by category, jurisdiction
   and the school whose zone holds it (nearest first).
7. Disputes: `registered` — found (local date of its jurisdiction) in the period; `resolved` — resolved in the
   period; both recorded by `as_of`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from domain import campaigns, hazards, jurisdictions, policies, venues
from domain.callers import Caller
from domain.database import Db, Query
from domain.duty import ARRIVAL_GRACE_S, COVERAGE_KEPT_RATIO, EARLY_ALLOWANCE_S, LEAVE_GRACE_S
from domain.errors import InvalidInput
from domain.exports import Column
from domain.scoring import Policy

AS_OF_FUTURE_TOLERANCE_S = 60
SETTLE_MARGIN_S = 3600
"""A shift is settled once it ended more than the check-in max age and this margin ago."""
REPORT_WORK_MEM = "64MB"
"""Memory per sort of the report's statements: a county-year of check-ins sorts in memory, not on disk."""
TIERS = (1, 2, 3)


@dataclass(frozen=True)
class ReportWindow:
    """What a section provider is asked for: the subtree `scope_path`, the period `[start, end)` and the instant
    `as_of` (count what happened in the period at or before `as_of` and was recorded at or before it)."""

    scope_path: str
    start: datetime
    end: datetime
    as_of: datetime
    policy: Policy
    heartbeat_cover_s: float
    settled_before: datetime | None = None
    """Shifts ending before this are settled (`SETTLE_SQL`): their kept verdicts may be read."""


Figures = dict[str, Any]
"""A section's answer: {"totals": {col: n}, "by_jurisdiction": {code: {col: n}}, "by_school": {school_id: {col: n}},
optionally "by_category": {category: {col: n}}}; values additive counts (None or missing = 0)."""


@dataclass(frozen=True)
class Section:
    key: str
    zh: str
    en: str
    columns: tuple[Column, ...]
    provider: Callable[[Db, ReportWindow], Awaitable[Figures]]
    derive: Callable[[dict], None] | None = None
    per_school: bool = True

    def title(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


SECTIONS: list[Section] = []
"""The report's sections, in order. Add one with `register_section`."""


def register_section(section: Section) -> None:
    """Add (or replace, by key) a section of every campaign report."""
    for n, s in enumerate(SECTIONS):
        if s.key == section.key:
            SECTIONS[n] = section
            return
    SECTIONS.append(section)


def simple_section(key: str, zh: str, en: str, columns: tuple[Column, ...],
                   figures: Callable[..., Awaitable[Figures]], derive: Callable[[dict], None] | None = None,
                   per_school: bool = True) -> Section:
    """A section from a function `figures(db, *, scope_path, start, end, as_of) -> Figures` (the shape above),
    e.g. `domain.hazards.report_figures`."""

    async def provider(db: Db, w: ReportWindow) -> Figures:
        return await figures(db, scope_path=w.scope_path, start=w.start, end=w.end, as_of=w.as_of)

    return Section(key, zh, en, columns, provider, derive, per_school)


def _ratio(figures: dict, out: str, num: str, den: str | tuple[str, ...], digits: int = 4) -> None:
    d = sum(figures.get(k) or 0 for k in ((den,) if isinstance(den, str) else den))
    figures[out] = round((figures.get(num) or 0) / d, digits) if d else None


SCOPE_CODES = Query("SELECT COALESCE(array_agg(code), '{}') FROM jurisdictions WHERE path <@ CAST(:scope AS ltree)")


async def _codes(db: Db, scope_path: str) -> list[str]:
    return list(await db.fetchval(SCOPE_CODES, {"scope": scope_path}))


def _split(rows: list[Any], columns: tuple[str, ...]) -> Figures:
    """GROUPING SETS rows ((jurisdiction_code), (school_id)[, (category)]) into a Figures dict."""
    out: Figures = {"totals": {}, "by_jurisdiction": {}, "by_school": {}, "by_category": {}}
    for r in rows:
        values = {c: r[c] for c in columns}
        if r["g"] == "j":
            out["by_jurisdiction"][r["jurisdiction_code"]] = values
        elif r["g"] == "s" and r["school_id"] is not None:
            out["by_school"][str(r["school_id"])] = values
        elif r["g"] == "c":
            out["by_category"][r["category"]] = values
    return out


def _pairs(rows: list[Any], columns: tuple[str, ...]) -> Figures:
    """Rows per (jurisdiction_code, school_id) added up per jurisdiction and per school."""
    out: Figures = {"totals": {}, "by_jurisdiction": {}, "by_school": {}}
    for r in rows:
        values = {c: r[c] for c in columns}
        _add(out["by_jurisdiction"].setdefault(r["jurisdiction_code"], {}), values)
        if r["school_id"] is not None:
            _add(out["by_school"].setdefault(str(r["school_id"]), {}), values)
    return out


# --- duty (护学岗 / 高峰勤务) -----------------------------------------------------------------------------

def _judging(shifts: str) -> str:
    """The CTEs judging the shifts of `codes` starting in `[start, end)` that also meet `shifts`, as of `:as_of`,
    ending in `verdicts` (shift_id, jurisdiction_code, school_id, post_id, coverage, verdict)."""
    return f"""
    sh AS (
        SELECT sh.id, sh.officer_id, sh.post_id, p.school_id, sh.jurisdiction_code, sh.created_at, sh.starts_at AS s,
               sh.ends_at AS e, LEAST(sh.ends_at, CAST(:as_of AS timestamptz)) AS u
        FROM shifts sh JOIN posts p ON p.id = sh.post_id
        WHERE sh.jurisdiction_code = ANY(CAST(:codes AS text[])) AND sh.starts_at >= :start AND sh.starts_at < :end
          AND {shifts}
    ),
    c AS (
        SELECT sh.id AS shift_id, sh.s, sh.u, c.recorded_at AS at, c.kind, c.in_post_geofence AS fence
        FROM sh JOIN checkins c ON c.shift_id = sh.id
        WHERE c.recorded_at >= CAST(:start AS timestamptz) - interval '{EARLY_ALLOWANCE_S} seconds'
          AND c.recorded_at < CAST(:end AS timestamptz) + interval '1 day'
          AND c.recorded_at >= sh.s - interval '{EARLY_ALLOWANCE_S} seconds' AND c.recorded_at < sh.e
          AND c.recorded_at >= (SELECT min(s) FROM sh) - interval '{EARLY_ALLOWANCE_S} seconds'
          AND c.recorded_at < (SELECT max(e) FROM sh)
          AND c.recorded_at <= :as_of AND c.received_at <= :as_of
        UNION ALL
        SELECT sh.id, sh.s, sh.u, c.recorded_at, c.kind, c.in_post_geofence
        FROM sh JOIN checkins c ON c.shift_id IS NULL AND c.officer_id = sh.officer_id AND c.post_id = sh.post_id
        WHERE c.recorded_at >= CAST(:start AS timestamptz) - interval '{EARLY_ALLOWANCE_S} seconds'
          AND c.recorded_at < CAST(:end AS timestamptz) + interval '1 day'
          AND c.recorded_at >= sh.s - interval '{EARLY_ALLOWANCE_S} seconds' AND c.recorded_at < sh.e
          AND c.recorded_at >= (SELECT min(s) FROM sh) - interval '{EARLY_ALLOWANCE_S} seconds'
          AND c.recorded_at < (SELECT max(e) FROM sh)
          AND c.recorded_at <= :as_of AND c.received_at <= :as_of
    ),
    -- One sort of the check-ins by (shift, time), then stacked windows in that same order (no second sort):
    -- each in-geofence arrive/heartbeat covers cover_s, cut at the first ending check-in at or after it; clipped
    -- to [start, min(end, as_of)]; the union's length adds, per interval in start order, what lies beyond the
    -- latest end before it (ordering by `at` orders the clipped starts too).
    iv AS (
        SELECT shift_id, s, u, at, fence,
               CASE WHEN fence IS TRUE AND kind <> 'depart'
                    THEN LEAST(at + make_interval(secs => CAST(:cover_s AS float8)),
                               COALESCE(min(at) FILTER (WHERE kind = 'depart' OR fence IS FALSE) OVER w_after,
                                        'infinity'))
               END AS cover_end
        FROM c
        WINDOW w_after AS (PARTITION BY shift_id ORDER BY at RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)
    ),
    clipped AS (
        SELECT shift_id, at, fence, cover_end, cs, ce, counts,
               max(ce) FILTER (WHERE counts) OVER (PARTITION BY shift_id ORDER BY at
                                                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
        FROM (SELECT iv.*, GREATEST(at, s) AS cs, LEAST(cover_end, u) AS ce,
                     COALESCE(cover_end > at AND LEAST(cover_end, u) > GREATEST(at, s), false) AS counts
              FROM iv) x
    ),
    per_shift AS (  -- arrival, the last presence, and the length of the union of the clipped intervals
        SELECT shift_id, min(at) FILTER (WHERE fence IS TRUE) AS arrived_at,
               max(cover_end) FILTER (WHERE cover_end > at) AS presence_end,
               sum(EXTRACT(epoch FROM GREATEST(interval '0', ce - GREATEST(cs, COALESCE(prev_end, cs)))))
                   FILTER (WHERE counts) AS covered_s
        FROM clipped GROUP BY shift_id
    ),
    judged AS (
        SELECT sh.id AS shift_id, sh.jurisdiction_code, sh.school_id, sh.post_id, sh.s, sh.e, sh.created_at,
               ps.arrived_at,
               round(CAST(COALESCE(ps.covered_s, 0) / EXTRACT(epoch FROM sh.u - sh.s) AS numeric), 3) AS coverage,
               EXTRACT(epoch FROM ps.arrived_at - sh.s) AS late_s,
               GREATEST(0, EXTRACT(epoch FROM sh.u - GREATEST(sh.s, ps.arrived_at, ps.presence_end))) AS left_early_s
        FROM sh LEFT JOIN per_shift ps ON ps.shift_id = sh.id
    ),
    verdicts AS (
        SELECT shift_id, jurisdiction_code, school_id, post_id, s, e, created_at, coverage,
               CASE WHEN arrived_at IS NULL THEN 'absent'
                    WHEN coverage < {COVERAGE_KEPT_RATIO} OR left_early_s > {LEAVE_GRACE_S} THEN 'partial'
                    WHEN late_s > {ARRIVAL_GRACE_S} THEN 'late'
                    ELSE 'kept' END AS verdict
        FROM judged
    )"""


# Settled shifts (ended more than the check-in max age before as_of: no check-in of theirs can still arrive) are
# judged once and kept in `shift_verdicts`; the report reads those and judges only the others.
SETTLE_SQL = Query(f"""
    WITH {_judging("sh.ends_at < :settled AND NOT EXISTS (SELECT 1 FROM shift_verdicts v "
                   "WHERE v.shift_id = sh.id AND v.cover_s = :cover_s)")}
    INSERT INTO shift_verdicts (shift_id, cover_s, jurisdiction_code, school_id, post_id, starts_at, ends_at,
                                shift_created_at, verdict, coverage)
    SELECT shift_id, :cover_s, jurisdiction_code, school_id, post_id, s, e, created_at, verdict, coverage
    FROM verdicts
    ON CONFLICT DO NOTHING
""")

# The shifts still open to late check-ins are judged live; the settled ones are read from shift_verdicts (which the
# report fills first, for every settled shift of the period). One row per (jurisdiction, school, post).
DUTY_SQL = Query(f"""
    WITH {_judging("sh.starts_at < :as_of AND sh.created_at <= :as_of AND sh.ends_at >= :settled "
                   "AND sh.starts_at >= CAST(:settled AS timestamptz) - interval '1 day'")},
    every AS (
        SELECT jurisdiction_code, school_id, post_id, coverage, verdict FROM verdicts
        UNION ALL
        SELECT v.jurisdiction_code, v.school_id, v.post_id, v.coverage, v.verdict
        FROM shift_verdicts v
        WHERE v.cover_s = :cover_s AND v.jurisdiction_code = ANY(CAST(:codes AS text[]))
          AND v.starts_at >= :start AND v.starts_at < :end AND v.starts_at < :as_of AND v.shift_created_at <= :as_of
          AND v.ends_at < :settled
    )
    SELECT jurisdiction_code, school_id, post_id, count(*) AS shifts,
           count(*) FILTER (WHERE verdict = 'kept') AS kept, count(*) FILTER (WHERE verdict = 'late') AS late,
           count(*) FILTER (WHERE verdict = 'partial') AS partial,
           count(*) FILTER (WHERE verdict = 'absent') AS absent,
           CAST(sum(coverage) AS float8) AS coverage_sum
    FROM every
    GROUP BY jurisdiction_code, school_id, post_id
""")


POSTS_SQL = Query("""
    SELECT CASE WHEN GROUPING(p.jurisdiction_code) = 0 THEN 'j' ELSE 's' END AS g, p.jurisdiction_code, p.school_id,
           count(*) AS posts
    FROM posts p
    WHERE p.jurisdiction_code = ANY(CAST(:codes AS text[])) AND p.created_at <= :as_of AND p.created_at < :end
      AND (p.deleted_at IS NULL OR p.deleted_at > :start)
    GROUP BY GROUPING SETS ((p.jurisdiction_code), (p.school_id))
""")

DUTY_COLUMNS = ("posts_staffed", "shifts", "kept", "late", "partial", "absent", "coverage_sum")


async def duty_figures(db: Db, w: ReportWindow) -> Figures:
    codes = await _codes(db, w.scope_path)
    params = {"codes": codes, "start": w.start, "end": w.end, "as_of": w.as_of}
    settled = w.settled_before or (w.as_of - timedelta(days=3650))
    rows = await db.fetch(DUTY_SQL, {**params, "cover_s": w.heartbeat_cover_s, "settled": settled})
    out = _pairs([{**r, "posts_staffed": 1} for r in rows], DUTY_COLUMNS)  # a row per staffed post
    posts = _split(await db.fetch(POSTS_SQL, params), ("posts",))
    for level in ("by_jurisdiction", "by_school"):
        for key, values in posts[level].items():
            out[level].setdefault(key, {}).update(values)
    return out


def _derive_duty(f: dict) -> None:
    _ratio(f, "kept_ratio", "kept", "shifts", 3)
    f["mean_coverage_ratio"] = round(f["coverage_sum"] / f["shifts"], 3) if f.get("shifts") else None
    _ratio(f, "staffed_ratio", "posts_staffed", "posts", 3)


DUTY = Section("duty", "护学岗勤务", "Duty at posts", (
    Column("posts", "岗位数", "Posts", "int"),
    Column("posts_staffed", "有勤务岗位数", "Posts staffed", "int"),
    Column("staffed_ratio", "岗位勤务覆盖率", "Share of posts staffed", "float", digits=3),
    Column("shifts", "班次数", "Shifts", "int"),
    Column("kept", "履职", "Kept", "int"),
    Column("late", "迟到", "Late", "int"),
    Column("partial", "脱岗/早退", "Partial", "int"),
    Column("absent", "缺岗", "Absent", "int"),
    Column("kept_ratio", "履职率", "Kept ratio", "float", digits=3),
    Column("mean_coverage_ratio", "平均在岗率", "Mean coverage", "float", digits=3),
), duty_figures, _derive_duty)


# --- check-ins ---------------------------------------------------------------------------------------------

# A plain GROUP BY (PostgreSQL aggregates it in parallel, GROUPING SETS it cannot); `_pairs` adds it up per
# jurisdiction and per school.
CHECKINS_SQL = Query("""
    SELECT c.jurisdiction_code, c.school_id,
           count(*) AS checkins, count(*) FILTER (WHERE c.in_post_geofence) AS in_post_geofence,
           count(*) FILTER (WHERE c.in_school_zone) AS in_school_zone,
           count(*) FILTER (WHERE c.vehicle OR c.lights) AS visible_policing,
           count(*) FILTER (WHERE cardinality(c.flags) > 0) AS flagged
    FROM checkins c
    WHERE c.jurisdiction_code = ANY(CAST(:codes AS text[]))
      AND c.recorded_at >= :start AND c.recorded_at < :end AND c.recorded_at <= :as_of AND c.received_at <= :as_of
    GROUP BY c.jurisdiction_code, c.school_id
""")




async def checkin_figures(db: Db, w: ReportWindow) -> Figures:
    codes = await _codes(db, w.scope_path)
    return _pairs(await db.fetch(CHECKINS_SQL, {"codes": codes, "start": w.start, "end": w.end, "as_of": w.as_of}),
                  ("checkins", "in_post_geofence", "in_school_zone", "visible_policing", "flagged"))


CHECKINS = Section("checkins", "签到", "Check-ins", (
    Column("checkins", "签到次数", "Check-ins", "int"),
    Column("in_post_geofence", "岗位围栏内", "Inside the post geofence", "int"),
    Column("in_school_zone", "护校区内", "In a school zone", "int"),
    Column("visible_policing", "见警车/警灯", "Vehicle or lights seen", "int"),
    Column("flagged", "有标记", "Flagged", "int"),
), checkin_figures)


# --- incidents and 1/3/5 -------------------------------------------------------------------------------------

def _tier_state(k: int) -> str:
    return f"""CASE WHEN NOT ((i.severity || '-{k}') = ANY(CAST(:applies AS text[]))) THEN NULL
                    WHEN a.t{k} IS NOT NULL AND EXTRACT(epoch FROM a.t{k} - i.alarm_at) <= CAST(:l{k} AS float8)
                         THEN 'met'
                    WHEN a.t{k} IS NOT NULL
                         OR CAST(:as_of AS timestamptz) > i.alarm_at + make_interval(secs => CAST(:l{k} AS float8))
                         THEN 'missed'
                    ELSE 'pending' END AS st{k}"""


INCIDENTS_SQL = Query(f"""
    WITH i AS (
        SELECT i.id, i.jurisdiction_code, i.zone_school_ids[1] AS school_id, i.category, i.severity, i.alarm_at,
               i.in_zone
        FROM incidents i
        WHERE i.jurisdiction_code = ANY(CAST(:codes AS text[]))
          AND i.alarm_at >= :start AND i.alarm_at < :end AND i.alarm_at <= :as_of AND i.received_at <= :as_of
    ),
    a AS (
        SELECT a.incident_id, min(a.arrived_at) AS t1, min(a.arrived_at) FILTER (WHERE a.tier >= 2) AS t2,
               min(a.arrived_at) FILTER (WHERE a.tier >= 3) AS t3
        FROM arrivals a JOIN i ON i.id = a.incident_id
        WHERE a.counts AND a.created_at <= :as_of AND a.arrived_at >= i.alarm_at
        GROUP BY a.incident_id
    ),
    scored AS (
        SELECT i.jurisdiction_code, i.school_id, i.category, i.in_zone,
               {", ".join(_tier_state(k) for k in TIERS)}
        FROM i LEFT JOIN a ON a.incident_id = i.id
    ),
    verdicts AS (
        SELECT s.*, CASE WHEN 'missed' IN (st1, st2, st3) THEN false
                         WHEN 'pending' IN (st1, st2, st3) THEN NULL ELSE true END AS compliant
        FROM scored s
    )
    SELECT CASE WHEN GROUPING(jurisdiction_code) = 0 THEN 'j' WHEN GROUPING(school_id) = 0 THEN 's' ELSE 'c' END AS g,
           jurisdiction_code, school_id, category, count(*) AS incidents,
           count(*) FILTER (WHERE in_zone) AS in_zone,
           count(*) FILTER (WHERE compliant) AS compliant,
           count(*) FILTER (WHERE compliant IS FALSE) AS not_compliant,
           count(*) FILTER (WHERE compliant IS NULL) AS pending,
           {", ".join(f"count(*) FILTER (WHERE st{k} = 'met') AS tier{k}_met, "
                      f"count(*) FILTER (WHERE st{k} = 'missed') AS tier{k}_missed" for k in TIERS)}
    FROM verdicts
    GROUP BY GROUPING SETS ((jurisdiction_code), (school_id), (category))
""")

INCIDENT_COUNTS = ("incidents", "in_zone", "compliant", "not_compliant", "pending",
                   *(f"tier{k}_{s}" for k in TIERS for s in ("met", "missed")))


async def incident_figures(db: Db, w: ReportWindow) -> Figures:
    codes = await _codes(db, w.scope_path)
    limits = {f"l{k}": w.policy.tier_limits_s.get(k, 1e12) for k in TIERS}
    applies = [f"{sev}-{k}" for sev in range(1, 5) for k in w.policy.applies_to(sev) if k in TIERS]
    rows = await db.fetch(INCIDENTS_SQL, {"codes": codes, "start": w.start, "end": w.end, "as_of": w.as_of,
                                          "applies": applies, **limits})
    return _split(rows, INCIDENT_COUNTS)


def _derive_incidents(f: dict) -> None:
    _ratio(f, "compliant_ratio", "compliant", ("compliant", "not_compliant"))
    for k in TIERS:
        _ratio(f, f"tier{k}_met_ratio", f"tier{k}_met", (f"tier{k}_met", f"tier{k}_missed"))


INCIDENTS = Section("incidents", "涉校警情与1、3、5分钟响应", "Incidents and the 1/3/5 response", (
    Column("incidents", "警情数", "Incidents", "int"),
    Column("in_zone", "护校区内", "In a school zone", "int"),
    Column("compliant", "1/3/5达标", "1/3/5 compliant", "int"),
    Column("not_compliant", "1/3/5未达标", "Not compliant", "int"),
    Column("pending", "待定", "Pending", "int"),
    Column("compliant_ratio", "达标率", "Compliant ratio", "float", digits=4),
    *(c for k, zh in zip(TIERS, ("1分钟", "3分钟", "5分钟"), strict=True) for c in (
        Column(f"tier{k}_met", f"{zh}到场达标", f"Tier {k} met", "int"),
        Column(f"tier{k}_missed", f"{zh}到场未达标", f"Tier {k} missed", "int"),
        Column(f"tier{k}_met_ratio", f"{zh}达标率", f"Tier {k} met ratio", "float", digits=4))),
), incident_figures, _derive_incidents)


# --- disputes ------------------------------------------------------------------------------------------------

DISPUTES_SQL = Query("""
    SELECT CASE WHEN GROUPING(d.jurisdiction_code) = 0 THEN 'j' ELSE 's' END AS g, d.jurisdiction_code, d.school_id,
           count(*) FILTER (WHERE d.found_on >= CAST(CAST(:start AS timestamptz) AT TIME ZONE j.time_zone AS date)
                              AND d.found_on < CAST(CAST(:end AS timestamptz) AT TIME ZONE j.time_zone AS date)
                              AND d.found_on <= CAST(CAST(:as_of AS timestamptz) AT TIME ZONE j.time_zone AS date))
               AS registered,
           count(*) FILTER (WHERE d.resolved_at >= :start AND d.resolved_at < :end AND d.resolved_at <= :as_of)
               AS resolved
    FROM disputes d JOIN jurisdictions j ON j.code = d.jurisdiction_code
    WHERE d.jurisdiction_code = ANY(CAST(:codes AS text[])) AND d.created_at <= :as_of
    GROUP BY GROUPING SETS ((d.jurisdiction_code), (d.school_id))
""")


async def dispute_figures(db: Db, w: ReportWindow) -> Figures:
    codes = await _codes(db, w.scope_path)
    return _split(await db.fetch(DISPUTES_SQL, {"codes": codes, "start": w.start, "end": w.end, "as_of": w.as_of}),
                  ("registered", "resolved"))


DISPUTES = Section("disputes", "涉校矛盾纠纷", "Disputes involving schools", (
    Column("registered", "排查登记", "Registered", "int"),
    Column("resolved", "化解", "Resolved", "int"),
), dispute_figures)

# --- hazards and venues (the ledgers' own figures, as they stood at as_of) -------------------------------------

def _ledger_figures(rows: list[dict], columns: tuple[str, ...]) -> Figures:
    """Per-school rows of a ledger (`school_id` None: records outside every zone) as this report's shape: per
    school, and per jurisdiction summed over its rows."""
    by_jurisdiction: dict[str, dict] = {}
    by_school: dict[str, dict] = {}
    for r in rows:
        values = {c: int(r[c] or 0) for c in columns}  # sums of bigint come back as numeric
        _add(by_jurisdiction.setdefault(r["jurisdiction_code"], {}), values)
        if r["school_id"] is not None:
            _add(by_school.setdefault(str(r["school_id"]), {}), values)
    return {"by_jurisdiction": by_jurisdiction, "by_school": by_school}


HAZARD_COLUMNS = (
    Column("found", "发现隐患", "Found", "int"),
    Column("closed", "整改销号", "Closed", "int"),
    Column("found_and_closed", "当期发现已销号", "Found and closed", "int"),
    Column("open", "未销号", "Open", "int"),
    Column("overdue", "逾期未改", "Overdue", "int"),
    Column("escalated", "提请上级", "Escalated", "int"),
)


async def hazard_figures(db: Db, w: ReportWindow) -> Figures:
    rows = await hazards.report_figures(db, scope_path=w.scope_path, start=w.start, end=w.end, as_of=w.as_of)
    return _ledger_figures(rows, tuple(c.key for c in HAZARD_COLUMNS))


HAZARDS = Section("hazards", "安全隐患排查整改", "Hazards found and rectified", HAZARD_COLUMNS, hazard_figures)

VENUE_COLUMNS = (
    Column("venues", "周边场所", "Venues", "int"),
    Column("inspected", "已检查场所", "Inspected", "int"),
    Column("not_inspected", "未检查场所", "Not inspected", "int"),
    Column("inspections", "检查次数", "Inspections", "int"),
    Column("with_violations", "发现违规", "With violations", "int"),
    Column("warnings", "警告", "Warnings", "int"),
    Column("fines", "罚款", "Fines", "int"),
    Column("closures", "关停", "Closures", "int"),
    Column("rectification_orders", "责令整改", "Rectification orders", "int"),
)


async def venue_figures(db: Db, w: ReportWindow) -> Figures:
    rows = await venues.report_figures(db, scope_path=w.scope_path, start=w.start, end=w.end, as_of=w.as_of)
    return _ledger_figures(rows, tuple(c.key for c in VENUE_COLUMNS))


# A venue inside two schools' zones counts for each school (and so twice in its jurisdiction's row).
VENUES = Section("venues", "校园周边场所检查", "Venues around schools inspected", VENUE_COLUMNS, venue_figures)

for _section in (DUTY, CHECKINS, INCIDENTS, HAZARDS, VENUES, DISPUTES):
    register_section(_section)


# --- the report ----------------------------------------------------------------------------------------------

@dataclass
class Report:
    campaign: dict
    as_of: datetime
    start: datetime
    end: datetime
    policy: str
    scope_codes: list[str]
    sections: list[Section]
    totals: dict[str, dict]
    jurisdictions: list[dict]
    schools: list[dict]
    by_category: list[dict]
    generated_by: str = ""
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "campaign": {k: self.campaign[k] for k in ("id", "name", "jurisdiction_code", "starts_on", "ends_on",
                                                       "time_zone", "report_dues", "policy_keys")},
            "as_of": self.as_of, "period": {"from": self.start, "to": self.end}, "policy": self.policy,
            "jurisdiction_codes": self.scope_codes,
            "sections": [{"key": s.key, "title": s.zh, "title_en": s.en,
                          "columns": [{"key": c.key, "title": c.zh, "title_en": c.en, "kind": c.kind}
                                      for c in s.columns]} for s in self.sections],
            "totals": self.totals, "jurisdictions": self.jurisdictions, "schools": self.schools,
            "incidents_by_category": self.by_category,
        }


async def _roots(db: Db, *, caller: Caller, campaign: dict, jurisdiction_code: str | None) -> list[str]:
    """The ltree paths the report covers: campaign coverage ∩ the caller's scope ∩ `jurisdiction_code` (rule 1)."""
    rows = await db.fetch("SELECT path::text AS path FROM jurisdictions WHERE code = ANY(CAST(:codes AS text[]))",
                          {"codes": campaign["jurisdiction_codes"]})

    def meet(a: str, b: str) -> str | None:
        if a == "" or b == a or b.startswith(a + "."):
            return b
        if b == "" or a.startswith(b + "."):
            return a
        return None

    roots = [r for r in (meet(row["path"], caller.scope_path) for row in rows) if r is not None]
    if jurisdiction_code:
        wanted = (await jurisdictions.in_scope(db, caller=caller, code=jurisdiction_code))["path"]
        roots = [r for r in (meet(root, wanted) for root in roots) if r is not None]
        if not roots:
            raise InvalidInput(f"{jurisdiction_code} is not covered by this campaign", field="jurisdiction_code")
    return sorted(set(roots))


SPINE_JURISDICTIONS = Query("""
    SELECT code, name, level, path::text AS path FROM jurisdictions
    WHERE path <@ ANY(CAST(:roots AS ltree[])) ORDER BY path
""")
SPINE_SCHOOLS = Query("""
    SELECT s.id, s.name, s.kind, s.jurisdiction_code FROM schools s JOIN jurisdictions j ON j.code = s.jurisdiction_code
    WHERE j.path <@ ANY(CAST(:roots AS ltree[])) AND s.created_at <= :as_of AND s.created_at < :end
      AND (s.deleted_at IS NULL OR s.deleted_at > :start)
    ORDER BY j.path, s.name, s.id
""")


def _add(into: dict, values: dict) -> None:
    for k, v in values.items():
        if isinstance(v, int | float) and not isinstance(v, bool):
            into[k] = (into.get(k) or 0) + v


def _finish(section: Section, values: dict) -> dict:
    """The section's declared columns: counts (0 when missing), then the derived ratios."""
    out = dict(values)
    for c in section.columns:
        if c.kind == "int":
            out[c.key] = out.get(c.key) or 0
    if section.derive:
        section.derive(out)
    return {c.key: out.get(c.key) for c in section.columns}


async def settle_shifts(db: Db, *, roots: list[str], start: datetime, end: datetime, now: datetime,
                        heartbeat_cover_s: float, checkin_max_age_s: float) -> int:
    """Judge, once, the shifts of the period that are settled (no check-in of theirs can still be accepted) and
    keep their verdicts (`shift_verdicts`); returns how many were added."""
    settled = now - timedelta(seconds=checkin_max_age_s + SETTLE_MARGIN_S)
    if settled <= start:
        return 0
    added = 0
    async with db.atomic() as tx:
        await tx.execute(f"SET LOCAL jit = off; SET LOCAL work_mem = '{REPORT_WORK_MEM}'")
        for root in roots:
            added += await tx.execute(SETTLE_SQL, {
                "codes": await _codes(tx, root), "start": start, "end": end, "as_of": now, "settled": settled,
                "cover_s": heartbeat_cover_s})
    return added


async def campaign_report(db: Db, *, caller: Caller, campaign_id: uuid.UUID, as_of: datetime, now: datetime,
                          heartbeat_cover_s: float, checkin_max_age_s: float = 7 * 24 * 3600,
                          jurisdiction_code: str | None = None) -> Report:
    """The campaign's figures as of `as_of` (rules in the module doc): the settled shifts judged once first, then
    every figure read in one read-only snapshot (REPEATABLE READ), so the sections agree with each other."""
    if as_of.tzinfo is None:
        raise InvalidInput("as_of needs a UTC offset", field="as_of")
    campaign = await campaigns.get(db, caller=caller, campaign_id=campaign_id)
    roots = await _roots(db, caller=caller, campaign=campaign, jurisdiction_code=jurisdiction_code)
    if roots and as_of > campaign["period"]["from"]:
        await settle_shifts(db, roots=roots, start=campaign["period"]["from"], end=campaign["period"]["to"],
                            now=now, heartbeat_cover_s=heartbeat_cover_s, checkin_max_age_s=checkin_max_age_s)
    async with db.atomic() as tx:
        if isinstance(db.conn, asyncpg.Pool):  # a transaction of our own: a read-only snapshot
            await tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        await tx.execute(f"SET LOCAL jit = off; SET LOCAL work_mem = '{REPORT_WORK_MEM}'")
        settled = min(as_of, now) - timedelta(seconds=checkin_max_age_s + SETTLE_MARGIN_S)
        return await _report(tx, caller=caller, campaign_id=campaign_id, as_of=as_of, now=now,
                             heartbeat_cover_s=heartbeat_cover_s, jurisdiction_code=jurisdiction_code,
                             settled_before=settled)


async def _report(db: Db, *, caller: Caller, campaign_id: uuid.UUID, as_of: datetime, now: datetime,
                  heartbeat_cover_s: float, jurisdiction_code: str | None, settled_before: datetime) -> Report:
    if as_of.tzinfo is None:
        raise InvalidInput("as_of needs a UTC offset", field="as_of")
    if as_of > now + timedelta(seconds=AS_OF_FUTURE_TOLERANCE_S):
        raise InvalidInput("as_of lies in the future: a report states what was known at an instant that has "
                           "passed", field="as_of")
    campaign = await campaigns.get(db, caller=caller, campaign_id=campaign_id)
    start, end = campaign["period"]["from"], campaign["period"]["to"]
    owner_path = await jurisdictions.path_of(db, code=campaign["jurisdiction_code"])
    policy = await policies.load(db, campaign["policy_keys"][0], path=owner_path or "")
    roots = await _roots(db, caller=caller, campaign=campaign, jurisdiction_code=jurisdiction_code)
    spine_j = [dict(r) for r in await db.fetch(SPINE_JURISDICTIONS, {"roots": roots})] if roots else []
    spine_s = ([dict(r) for r in await db.fetch(SPINE_SCHOOLS, {"roots": roots, "as_of": as_of, "start": start,
                                                                 "end": end})] if roots else [])
    sections = list(SECTIONS)
    raw_j: dict[str, dict[str, dict]] = {s.key: {} for s in sections}
    raw_s: dict[str, dict[str, dict]] = {s.key: {} for s in sections}
    raw_c: dict[str, dict] = {}
    if as_of >= start:
        for root in roots:
            w = ReportWindow(scope_path=root, start=start, end=end, as_of=as_of, policy=policy,
                             heartbeat_cover_s=heartbeat_cover_s, settled_before=settled_before)
            for s in sections:
                f = await s.provider(db, w)
                for code, values in (f.get("by_jurisdiction") or {}).items():
                    _add(raw_j[s.key].setdefault(code, {}), values)
                for school_id, values in (f.get("by_school") or {}).items():
                    _add(raw_s[s.key].setdefault(str(school_id), {}), values)
                for category, values in (f.get("by_category") or {}).items():
                    if s.key == "incidents":
                        _add(raw_c.setdefault(category, {}), values)
    paths = {j["code"]: j["path"] for j in spine_j}
    school_counts: dict[str, int] = {}
    for sc in spine_s:
        school_counts[sc["jurisdiction_code"]] = school_counts.get(sc["jurisdiction_code"], 0) + 1

    def rolled(section_key: str, path: str) -> dict:
        total: dict = {}
        for code, values in raw_j[section_key].items():
            p = paths.get(code)
            if p is not None and (p == path or p.startswith(path + ".")):
                _add(total, values)
        return total

    j_rows = []
    for j in spine_j:
        schools_n = sum(n for code, n in school_counts.items()
                        if paths.get(code) == j["path"] or paths.get(code, "").startswith(j["path"] + "."))
        j_rows.append({"code": j["code"], "name": j["name"], "level": j["level"], "schools": schools_n,
                       "figures": {s.key: _finish(s, rolled(s.key, j["path"])) for s in sections}})
    totals = {"schools": {"schools": len(spine_s)}}
    for s in sections:
        total: dict = {}
        for code, values in raw_j[s.key].items():
            if code in paths:
                _add(total, values)
        totals[s.key] = _finish(s, total)
    s_rows = [{"school_id": sc["id"], "name": sc["name"], "kind": sc["kind"],
               "jurisdiction_code": sc["jurisdiction_code"],
               "figures": {s.key: _finish(s, raw_s[s.key].get(str(sc["id"]), {})) for s in sections if s.per_school}}
              for sc in spine_s]
    incidents_section = next((s for s in sections if s.key == "incidents"), None)
    by_category = ([{"category": cat, **_finish(incidents_section, values)} for cat, values in sorted(raw_c.items())]
                   if incidents_section else [])
    return Report(campaign=campaign, as_of=as_of, start=start, end=end, policy=policy.key,
                  scope_codes=[j["code"] for j in spine_j if j["path"] in roots], sections=sections, totals=totals,
                  jurisdictions=j_rows, schools=s_rows, by_category=by_category)
