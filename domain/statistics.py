"""Response-time statistics under a scoring policy, per jurisdiction, school, category or local hour.

Definitions (per group and tier k, over incidents with `from <= alarm_at < to` scored under the policy):

- `incidents`: incidents in the group with a score under the policy.
- A tier's state is the stored one, except that a stored `pending` whose deadline `alarm_at + limit_s` has passed
  by `now` counts as `missed` (the same rule `score_response` applies).
- `met`, `missed`, `pending`: incidents in each state; `missed_no_arrival`: missed with no qualifying arrival at
  all (these have no `elapsed_s`). Tiers a policy does not apply to an incident's severity are not counted.
- `met_ratio = met / (met + missed)`; pending incidents are left out; None when nothing is decided.
- `p50_s`, `p90_s`: the continuous 50th/90th percentiles (`percentile_cont`) of `elapsed_s` over decided incidents
  that had a qualifying arrival (met, or missed by a late arrival).
- `p90_compliant` (NFPA 1710 style "90th-percentile performance"): True when at least 90 % of decided incidents
  met the tier, i.e. the 90th percentile of the response time, with no-arrival incidents counted as never
  arriving, is within `limit_s`. None when nothing is decided.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain import jurisdictions, policies
from domain.callers import Caller
from domain.database import Db, Query
from domain.errors import InvalidInput

GROUPS = {
    "jurisdiction": "s.jurisdiction_code",
    "school": "CAST(s.school_id AS text)",
    "category": "s.category",
    "hour": "CAST(EXTRACT(hour FROM s.alarm_at AT TIME ZONE j.time_zone) AS integer)::text",
}
LABELS = {
    "jurisdiction": "(SELECT name FROM jurisdictions WHERE code = g.group_key)",
    # The key back to a uuid (not the id to text), so each label is a primary-key lookup, not a scan of schools.
    "school": "(SELECT name FROM schools WHERE id = CAST(g.group_key AS uuid))",
    "category": "NULL",
    "hour": "NULL",
}
P90_TARGET_RATIO = 0.9
TIERS = (1, 2, 3)


def _tier_columns(k: int) -> str:
    return f"""
           s.tier{k}_elapsed_s AS e{k},
           CASE WHEN s.tier{k}_state = 'pending'
                     AND :now > s.alarm_at + make_interval(secs => CAST(:limit{k} AS float8))
                THEN 'missed' ELSE s.tier{k}_state END AS st{k}"""


# Both percentiles of a tier from one sort (`percentile_cont(ARRAY[...])`): the same exact values, half the sorting.
def _tier_aggregates(k: int) -> str:
    return f"""
           count(*) FILTER (WHERE st{k} = 'met') AS t{k}_met,
           count(*) FILTER (WHERE st{k} = 'missed') AS t{k}_missed,
           count(*) FILTER (WHERE st{k} = 'missed' AND e{k} IS NULL) AS t{k}_missed_no_arrival,
           count(*) FILTER (WHERE st{k} = 'pending') AS t{k}_pending,
           percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY e{k})
               FILTER (WHERE st{k} IN ('met', 'missed')) AS t{k}_pct"""


def response_times_sql(group_by: str) -> str:
    """ONE statement over the score rows alone (they carry the incident's alarm time, jurisdiction, school and
    category; a covering index holds every column read): a row per group with every tier's figures."""
    zone = "JOIN jurisdictions j ON j.code = s.jurisdiction_code" if group_by == "hour" else ""
    return f"""
    WITH base AS (
        SELECT {GROUPS[group_by]} AS group_key,{",".join(_tier_columns(k) for k in TIERS)}
        FROM incident_scores s {zone}
        WHERE s.policy_key = :policy_key AND s.jurisdiction_code = ANY(CAST(:codes AS text[]))
          AND s.alarm_at >= :from_ AND s.alarm_at < :to
    )
    SELECT g.*, {LABELS[group_by]} AS label
    FROM (
        SELECT group_key, count(*) AS incidents,{",".join(_tier_aggregates(k) for k in TIERS)}
        FROM base GROUP BY group_key
    ) g
    ORDER BY g.group_key NULLS LAST
    """


SCOPE_CODES = Query("SELECT COALESCE(array_agg(code), '{}') FROM jurisdictions WHERE path <@ CAST(:scope AS ltree)")


def _ratio(met: int, missed: int) -> float | None:
    decided = met + missed
    return round(met / decided, 4) if decided else None


def _round(v: Any) -> float | None:
    return round(float(v), 1) if v is not None else None


async def response_times(db: Db, *, caller: Caller, from_: datetime, to: datetime, group_by: str,
                         policy_key: str | None, jurisdiction_code: str | None, now: datetime) -> dict:
    """Per group: incident count and, per tier, met/missed/pending counts, met_ratio, p50_s, p90_s,
    p90_compliant (definitions in the module doc)."""
    if group_by not in GROUPS:
        raise InvalidInput(f"group_by must be one of {', '.join(GROUPS)}", field="group_by")
    if to <= from_:
        raise InvalidInput("to must be after from", field="to")
    scope = await jurisdictions.narrowed_scope(db, caller=caller, code=jurisdiction_code)
    policy = await policies.load(db, policy_key or policies.DEFAULT_POLICY_KEY, path=scope)
    # The scope as its list of codes: PostgreSQL estimates `jurisdiction_code = ANY(codes)` from its statistics
    # (an ltree `<@` join it cannot), and then hashes the scores instead of looking each one up (10^6 incidents:
    # 7.0 -> 5.0 s on this machine).
    codes = await db.fetchval(SCOPE_CODES, {"scope": scope})
    rows = await db.fetch(response_times_sql(group_by), {
        "policy_key": policy.key, "codes": codes, "from_": from_, "to": to, "now": now,
        **{f"limit{k}": policy.tier_limits_s.get(k) for k in TIERS},
    })
    groups = []
    for r in rows:
        tiers = []
        for k, limit in policy.tier_limits_s.items():
            met, missed = r[f"t{k}_met"], r[f"t{k}_missed"]
            ratio = _ratio(met, missed)
            tiers.append({
                "tier": k, "limit_s": limit, "met": met, "missed": missed,
                "missed_no_arrival": r[f"t{k}_missed_no_arrival"], "pending": r[f"t{k}_pending"],
                "met_ratio": ratio, "p50_s": _round(pct[0] if (pct := r[f"t{k}_pct"]) else None),
                "p90_s": _round(pct[1] if pct else None),
                "p90_compliant": None if ratio is None else ratio >= P90_TARGET_RATIO,
            })
        groups.append({"group": r["group_key"], "label": r["label"], "incidents": r["incidents"], "tiers": tiers})
    return {"policy": policy.key, "from": from_, "to": to, "group_by": group_by, "groups": groups}
