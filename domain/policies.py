"""Versioned scoring policies (rows of `scoring_policies`) and rescoring a period under a chosen policy.

A policy is immutable once created: its key `name@vN` is stored with every score, so a score can always be
explained by the limits it was computed against. Policies belong to a jurisdiction (`''`: built in, seen by all):
a key resolves, for an incident, to the definition of the nearest jurisdiction at or above the incident's, so a
county's policy is inherited by its stations unless a station defines its own. A key already visible at a
jurisdiction (built in, or defined there or above) cannot be defined there again (409): so a resolution, once
made, never changes, and each process may remember it. A changed rule is a new version; `recompute` scores past
incidents under it into new `incident_scores` rows (keyed by incident and policy) and never touches the rows
of other policies.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from domain import audit, jurisdictions
from domain.callers import Caller, Role
from domain.database import Db, Query
from domain.errors import Conflict, InvalidInput
from domain.scoring import POLICY_135_V1, Arrival, Policy, Score, score_response

KEY_PATTERN = re.compile(r"^(?P<name>[A-Za-z0-9_\-]{1,40})@v(?P<version>[1-9][0-9]{0,5})$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{1,40}$")
DEFAULT_POLICY_KEY = POLICY_135_V1.key
RECOMPUTE_MAX_INCIDENTS = 100_000

# (key, jurisdiction path) -> the policy it resolves to. A resolution never changes once made (see above).
_cache: dict[tuple[str, str], Policy] = {(POLICY_135_V1.key, ""): POLICY_135_V1}

RESOLVE = Query("""
    SELECT p.jurisdiction_code, p.name, p.version, p.tier_limits_s, p.tiers_by_severity
    FROM scoring_policies p LEFT JOIN jurisdictions j ON j.code = p.jurisdiction_code
    WHERE p.name = :name AND p.version = :version
      AND (p.jurisdiction_code = '' OR j.path @> CAST(:path AS ltree))
    ORDER BY nlevel(j.path) DESC NULLS LAST
    LIMIT 1
""")


def parse_key(key: str, *, field: str = "policy") -> tuple[str, int]:
    """`"1-3-5@v1"` → `("1-3-5", 1)`; anything else is invalid input naming `field`."""
    m = KEY_PATTERN.match(key or "")
    if not m:
        raise InvalidInput("policy must look like name@vN, e.g. 1-3-5@v1", field=field)
    return m["name"], int(m["version"])


def policy_from_row(row: Any) -> Policy:
    limits = row["tier_limits_s"]
    by_severity = row["tiers_by_severity"]
    if isinstance(limits, str):
        limits = json.loads(limits)
    if isinstance(by_severity, str):
        by_severity = json.loads(by_severity)
    return Policy(
        name=row["name"], version=int(row["version"]),
        tier_limits_s={int(k): float(v) for k, v in limits.items()},
        tiers_by_severity=({int(k): tuple(int(t) for t in v) for k, v in by_severity.items()}
                           if by_severity else None),
    )


def policy_out(row: Any) -> dict:
    p = policy_from_row(row)
    return {
        "key": p.key, "name": p.name, "version": p.version,
        "jurisdiction_code": (row.get("jurisdiction_code") if hasattr(row, "get") else None) or None,
        "tier_limits_s": {str(k): v for k, v in p.tier_limits_s.items()},
        "tiers_by_severity": ({str(k): list(v) for k, v in p.tiers_by_severity.items()}
                              if p.tiers_by_severity else None),
        "description": row["description"], "created_at": row["created_at"],
    }


async def load(db: Db, key: str, *, path: str = "", field: str = "policy") -> Policy:
    """The policy `key` means at the jurisdiction with ltree `path` (its own, else the nearest ancestor's, else the
    built-in one); an unknown key is invalid input naming `field`."""
    hit = _cache.get((key, path))
    if hit is not None:
        return hit
    name, version = parse_key(key, field=field)
    row = await db.fetchrow(RESOLVE, {"name": name, "version": version, "path": path})
    if row is None:
        raise InvalidInput(f"no scoring policy {key!r} here", field=field)
    # a built-in policy is the one object every path shares (answers are the same wherever it was read)
    policy = (_cache.get((key, "")) if row["jurisdiction_code"] == "" else None) or policy_from_row(row)
    _cache[(key, path)] = policy
    if row["jurisdiction_code"] == "":
        _cache.setdefault((key, ""), policy)
    return policy


async def load_many(db: Db, keys: Iterable[str], *, path: str = "") -> dict[str, Policy]:
    return {k: await load(db, k, path=path) for k in set(keys)}


async def list_policies(db: Db, *, caller: Caller) -> list[dict]:
    """The built-in policies and those of the caller's jurisdictions, above and below."""
    rows = await db.fetch("""
        SELECT p.jurisdiction_code, p.name, p.version, p.tier_limits_s, p.tiers_by_severity, p.description,
               p.created_at
        FROM scoring_policies p LEFT JOIN jurisdictions j ON j.code = p.jurisdiction_code
        WHERE p.jurisdiction_code = '' OR j.path @> CAST(:scope AS ltree) OR j.path <@ CAST(:scope AS ltree)
        ORDER BY p.name, p.version, nlevel(j.path) NULLS FIRST, p.jurisdiction_code
    """, {"scope": caller.scope_path})
    return [policy_out(r) for r in rows]


async def create(db: Db, *, caller: Caller, name: str, version: int,
                 tier_limits_s: dict[Any, Any], tiers_by_severity: dict[Any, Any] | None,
                 description: str | None, jurisdiction_code: str | None = None) -> dict:
    """Add a policy version for a jurisdiction of the caller's (admins; default the caller's own). Limits are
    positive seconds per tier; a key already visible there (built in, or defined there or above) is a
    conflict."""
    caller.require(Role.admin)
    code = jurisdiction_code or caller.jurisdiction_code
    path = (await jurisdictions.in_scope(db, caller=caller, code=code))["path"]
    if not NAME_PATTERN.match(name or ""):
        raise InvalidInput("name must be 1–40 characters of A–Z, a–z, 0–9, - or _", field="name")
    try:
        limits = {int(k): float(v) for k, v in tier_limits_s.items()}
        if any(t not in (1, 2, 3) for t in limits):
            raise ValueError("tiers are 1, 2 and 3")
        by_severity = ({int(k): tuple(int(t) for t in v) for k, v in tiers_by_severity.items()}
                       if tiers_by_severity else None)
        if by_severity and any(s not in (1, 2, 3, 4) for s in by_severity):
            raise ValueError("severities are 1–4")
        policy = Policy(name=name, version=version, tier_limits_s=limits, tiers_by_severity=by_severity)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"not a valid policy: {exc}", field="tier_limits_s") from exc
    # One statement under a per-key lock: two admins defining the same key along one line cannot both pass.
    await db.execute("SELECT pg_advisory_xact_lock(hashtext('huxiao-policy:' || :key))", {"key": policy.key})
    row = await db.fetchrow("""
        INSERT INTO scoring_policies (jurisdiction_code, name, version, tier_limits_s, tiers_by_severity,
                                      description)
        SELECT CAST(:code AS varchar), CAST(:name AS varchar), CAST(:version AS int), CAST(:limits AS jsonb),
               CAST(:by_severity AS jsonb), CAST(:description AS varchar)
        WHERE NOT EXISTS (
            SELECT 1 FROM scoring_policies p LEFT JOIN jurisdictions j ON j.code = p.jurisdiction_code
            WHERE p.name = CAST(:name AS varchar) AND p.version = CAST(:version AS int)
              AND (p.jurisdiction_code = '' OR j.path @> CAST(:path AS ltree)))
        RETURNING jurisdiction_code, name, version, tier_limits_s, tiers_by_severity, description, created_at
    """, {
        "code": code, "path": path, "name": name, "version": version,
        "limits": json.dumps({str(k): v for k, v in policy.tier_limits_s.items()}),
        "by_severity": (json.dumps({str(k): list(v) for k, v in policy.tiers_by_severity.items()})
                        if policy.tiers_by_severity else None),
        "description": description,
    })
    if row is None:
        raise Conflict(f"policy {policy.key} is already defined for {code} or above it; policies never change, "
                       "add a new version", field="version")
    await audit.record(db, caller=caller, entity="scoring_policy", entity_id=policy.key, action="create",
                       jurisdiction_code=code, changes={"tier_limits_s": tier_limits_s})
    return policy_out(row)


# --- storing scores ---------------------------------------------------------------------------------

UPSERT_SCORES = Query("""
    INSERT INTO incident_scores AS s (incident_id, policy_key, computed_at, compliant, tiers,
                                      tier1_elapsed_s, tier2_elapsed_s, tier3_elapsed_s,
                                      tier1_state, tier2_state, tier3_state,
                                      alarm_at, jurisdiction_code, school_id, category)
    SELECT u.incident_id, :policy_key, now(), u.compliant, u.tiers, u.e1, u.e2, u.e3, u.s1, u.s2, u.s3,
           i.alarm_at, i.jurisdiction_code, i.zone_school_ids[1], i.category  -- the facts statistics read
    FROM unnest(CAST(:ids AS uuid[]), CAST(:compliant AS boolean[]), CAST(:tiers AS jsonb[]),
                CAST(:e1 AS float8[]), CAST(:e2 AS float8[]), CAST(:e3 AS float8[]),
                CAST(:s1 AS text[]), CAST(:s2 AS text[]), CAST(:s3 AS text[]))
         AS u(incident_id, compliant, tiers, e1, e2, e3, s1, s2, s3)
    JOIN incidents i ON i.id = u.incident_id
    ON CONFLICT (incident_id, policy_key) DO UPDATE SET
        computed_at = EXCLUDED.computed_at, compliant = EXCLUDED.compliant, tiers = EXCLUDED.tiers,
        tier1_elapsed_s = EXCLUDED.tier1_elapsed_s, tier2_elapsed_s = EXCLUDED.tier2_elapsed_s,
        tier3_elapsed_s = EXCLUDED.tier3_elapsed_s, tier1_state = EXCLUDED.tier1_state,
        tier2_state = EXCLUDED.tier2_state, tier3_state = EXCLUDED.tier3_state
""")


async def store_scores(db: Db, *, policy_key: str, scores: list[tuple[uuid.UUID, Score]]) -> None:
    """Upsert one `incident_scores` row per (incident, policy) in one statement."""
    if not scores:
        return

    def col(f):
        return [f(s) for _, s in scores]

    def elapsed(k):
        return col(lambda s: s.tier(k).elapsed_s if s.tier(k) else None)

    def state(k):
        return col(lambda s: str(s.tier(k).state) if s.tier(k) else None)

    await db.execute(UPSERT_SCORES, {
        "policy_key": policy_key, "ids": [i for i, _ in scores], "compliant": col(lambda s: s.compliant),
        "tiers": col(lambda s: json.dumps([t.as_dict() for t in s.tiers])),
        "e1": elapsed(1), "e2": elapsed(2), "e3": elapsed(3), "s1": state(1), "s2": state(2), "s3": state(3),
    })


def score_from_stored(*, policy: Policy, alarm_at: datetime, severity: int | None,
                      tiers: list[dict] | None, now: datetime) -> Score:
    """A stored score re-evaluated at `now`: the stored elapsed times stand for the earliest qualifying
    arrivals (tier k's elapsed is already the minimum over tiers >= k), so pending tiers turn missed exactly
    as `score_response` would turn them."""
    arrivals = [Arrival(tier=int(t["tier"]), arrived_at=alarm_at + timedelta(seconds=float(t["elapsed_s"])))
                for t in (tiers or []) if t.get("elapsed_s") is not None]
    return score_response(alarm_at=alarm_at, arrivals=arrivals, now=now, policy=policy, severity=severity)


# --- recompute ---------------------------------------------------------------------------------------

async def recompute(db: Db, *, caller: Caller, policy_key: str, from_: datetime, to: datetime,
                    jurisdiction_code: str | None, now: datetime) -> dict:
    """Score every incident with `from_ <= alarm_at < to` in the caller's jurisdictions (or the given one)
    under `policy_key`, into that policy's rows; scores under other policies stay as they were."""
    caller.require(Role.commander)
    if to <= from_:
        raise InvalidInput("to must be after from", field="to")
    scope = await jurisdictions.narrowed_scope(db, caller=caller, code=jurisdiction_code)
    policy = await load(db, policy_key, path=scope)
    rows = await db.fetch("""
        SELECT i.id, i.alarm_at, i.severity,
               COALESCE((SELECT json_agg(json_build_object('tier', a.tier, 'arrived_at', a.arrived_at))
                         FROM arrivals a WHERE a.incident_id = i.id AND a.counts), '[]') AS arrivals
        FROM incidents i JOIN jurisdictions j ON j.code = i.jurisdiction_code
        WHERE j.path <@ CAST(:scope AS ltree) AND i.alarm_at >= :from_ AND i.alarm_at < :to
        ORDER BY i.alarm_at
        LIMIT :cap
    """, {"scope": scope, "from_": from_, "to": to, "cap": RECOMPUTE_MAX_INCIDENTS + 1})
    if len(rows) > RECOMPUTE_MAX_INCIDENTS:
        raise InvalidInput(f"more than {RECOMPUTE_MAX_INCIDENTS} incidents; recompute a shorter period",
                           field="to")
    scores = []
    for r in rows:
        arrivals = r["arrivals"] if not isinstance(r["arrivals"], str) else json.loads(r["arrivals"])
        scores.append((r["id"], score_response(
            alarm_at=r["alarm_at"], now=now, policy=policy, severity=r["severity"],
            arrivals=[Arrival(tier=a["tier"], arrived_at=datetime.fromisoformat(a["arrived_at"]))
                      for a in arrivals])))
    await store_scores(db, policy_key=policy.key, scores=scores)
    await audit.record(db, caller=caller, entity="scoring_policy", entity_id=policy.key, action="recompute",
                       jurisdiction_code=jurisdiction_code or caller.jurisdiction_code,
                       changes={"from": from_, "to": to, "incidents": len(scores)})
    return {
        "policy": policy.key, "from": from_, "to": to, "incidents": len(scores),
        "compliant": sum(s.compliant is True for _, s in scores),
        "not_compliant": sum(s.compliant is False for _, s in scores),
        "pending": sum(s.compliant is None for _, s in scores),
    }
