"""The 1/3/5-minute rapid-response rule (一分钟保安到场、三分钟互助增援、五分钟民警到场), as pure functions.

Rules (policy "1-3-5@v1"):

1. Tier 1 is the on-site guard, tier 2 mutual aid / nearby patrol, tier 3 police reinforcement; tier k must be
   reached within the policy's limit for k (60 s, 180 s, 300 s), counted from the incident's ``alarm_at``.
2. An arrival counts unless it is flagged far from the scene (``counts=False``) or stamped before ``alarm_at``.
3. Tier k is served by any counting arrival of tier k or higher (police arriving at 50 s meets all three tiers).
4. ``elapsed_s`` of tier k is the number of seconds from ``alarm_at`` to the earliest counting arrival of tier >= k,
   or None when there is none.
5. Tier k is ``met`` when ``elapsed_s <= limit_s`` (an arrival exactly at the limit meets), ``missed`` when that
   earliest arrival came after the limit (its ``elapsed_s`` is still reported) or when there is no arrival and
   ``now`` is past ``alarm_at + limit_s``, and ``pending`` otherwise.
6. ``compliant`` is False when any applicable tier is missed, True when all are met, None while any is pending.
7. The applicable tiers are ``policy.tiers_by_severity[severity]`` when the policy declares that mapping and lists
   the severity, and every tier of the policy otherwise (an unknown severity gets the full standard).
8. The order of arrivals never matters, and ``now`` only decides when a tier without an arrival stops being pending:
   an arrival stamped after ``now`` is still scored from its own time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from types import MappingProxyType
from typing import Any

__all__ = [
    "POLICY_135_V1",
    "Arrival",
    "Policy",
    "Score",
    "Tier",
    "TierScore",
    "TierState",
    "next_deadline",
    "score_response",
]


class Tier(IntEnum):
    """Who arrives: the higher the tier, the stronger the response (a higher tier also serves the lower ones)."""

    ONSITE_GUARD = 1
    MUTUAL_AID = 2
    POLICE = 3


class TierState(StrEnum):
    """Where one tier stands: reached in time, not reached in time, or still within its limit."""

    MET = "met"
    MISSED = "missed"
    PENDING = "pending"


@dataclass(frozen=True)
class Policy:
    """A versioned set of per-tier limits in seconds after the alarm, optionally narrowed by severity."""

    name: str
    version: int
    tier_limits_s: Mapping[int, float]
    tiers_by_severity: Mapping[int, tuple[int, ...]] | None = None

    def __post_init__(self) -> None:
        if not self.tier_limits_s:
            raise ValueError("a policy needs at least one tier")
        limits = {int(tier): limit for tier, limit in sorted(self.tier_limits_s.items())}
        for tier, limit in limits.items():
            if tier < 1:
                raise ValueError(f"tier {tier} must be >= 1")
            if not limit > 0:
                raise ValueError(f"the limit of tier {tier} must be positive, got {limit!r}")
        # Frozen copies: a shared policy constant must not be mutable through its dicts.
        object.__setattr__(self, "tier_limits_s", MappingProxyType(limits))
        if self.tiers_by_severity is not None:
            by_severity: dict[int, tuple[int, ...]] = {}
            for severity, tiers in self.tiers_by_severity.items():
                tiers = tuple(sorted({int(t) for t in tiers}))
                unknown = [t for t in tiers if t not in limits]
                if not tiers or unknown:
                    raise ValueError(
                        f"severity {severity}: tiers {tiers} must be a non-empty subset of {tuple(limits)}"
                    )
                by_severity[int(severity)] = tiers
            object.__setattr__(self, "tiers_by_severity", MappingProxyType(by_severity))

    def __hash__(self) -> int:
        return hash(self.key)

    @property
    def key(self) -> str:
        """The identifier stored with every score, e.g. ``"1-3-5@v1"``."""
        return f"{self.name}@v{self.version}"

    @property
    def tiers(self) -> tuple[int, ...]:
        """Every tier the policy knows, ascending."""
        return tuple(self.tier_limits_s)

    def applies_to(self, severity: int | None = None) -> tuple[int, ...]:
        """The tiers scored for an incident of this severity (all tiers unless the policy narrows them)."""
        if self.tiers_by_severity is None or severity is None:
            return self.tiers
        return self.tiers_by_severity.get(severity, self.tiers)


POLICY_135_V1 = Policy("1-3-5", 1, {Tier.ONSITE_GUARD: 60, Tier.MUTUAL_AID: 180, Tier.POLICE: 300})


@dataclass(frozen=True)
class Arrival:
    """One responder reaching the scene; ``counts=False`` marks an arrival recorded far from the scene."""

    tier: int
    arrived_at: datetime
    counts: bool = True

    def __post_init__(self) -> None:
        if self.tier < 1:
            raise ValueError(f"tier {self.tier} must be >= 1")
        _require_aware("arrived_at", self.arrived_at)


@dataclass(frozen=True)
class TierScore:
    """The outcome of one tier: its limit, the seconds to its earliest qualifying arrival, and its state."""

    tier: int
    limit_s: float
    elapsed_s: float | None
    state: TierState

    def as_dict(self) -> dict[str, Any]:
        return {
            "tier": int(self.tier),
            "limit_s": self.limit_s,
            "elapsed_s": self.elapsed_s,
            "state": str(self.state),
        }


@dataclass(frozen=True)
class Score:
    """The outcome of one incident under one policy: a score per applicable tier and the overall verdict."""

    policy: str
    tiers: tuple[TierScore, ...]
    compliant: bool | None

    def tier(self, tier: int) -> TierScore | None:
        """The score of one tier, or None when the tier does not apply."""
        return next((t for t in self.tiers if t.tier == tier), None)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape stored and served: ``{"policy", "tiers": [...], "compliant"}``."""
        return {
            "policy": self.policy,
            "tiers": [t.as_dict() for t in self.tiers],
            "compliant": self.compliant,
        }


def score_response(
    *,
    alarm_at: datetime,
    arrivals: Iterable[Arrival],
    now: datetime,
    policy: Policy = POLICY_135_V1,
    severity: int | None = None,
) -> Score:
    """Score an incident's arrivals against the policy's tier limits as seen at ``now`` (rules in the module doc)."""
    _require_aware("alarm_at", alarm_at)
    _require_aware("now", now)
    since_alarm_s = (now - alarm_at).total_seconds()
    counting = [
        (arrival.tier, (arrival.arrived_at - alarm_at).total_seconds())
        for arrival in arrivals
        if arrival.counts and arrival.arrived_at >= alarm_at
    ]

    scores = []
    for tier in policy.applies_to(severity):
        limit_s = policy.tier_limits_s[tier]
        elapsed_s = min((elapsed for by_tier, elapsed in counting if by_tier >= tier), default=None)
        if elapsed_s is not None:
            state = TierState.MET if elapsed_s <= limit_s else TierState.MISSED
        else:
            state = TierState.MISSED if since_alarm_s > limit_s else TierState.PENDING
        scores.append(TierScore(tier=tier, limit_s=limit_s, elapsed_s=elapsed_s, state=state))

    return Score(policy=policy.key, tiers=tuple(scores), compliant=_compliant(scores))


def next_deadline(score: Score, *, alarm_at: datetime) -> datetime | None:
    """The earliest instant at which a pending tier of ``score`` turns missed, or None when nothing is pending.

    Rescoring with a ``now`` just past this instant (and no new arrival) flips that tier to ``missed``.
    """
    _require_aware("alarm_at", alarm_at)
    pending = [t.limit_s for t in score.tiers if t.state == TierState.PENDING]
    if not pending:
        return None
    return alarm_at + timedelta(seconds=min(pending))


def _compliant(scores: Iterable[TierScore]) -> bool | None:
    states = {s.state for s in scores}
    if TierState.MISSED in states:
        return False
    if TierState.PENDING in states:
        return None
    return True


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
