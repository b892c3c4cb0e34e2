"""Duty verdicts for one shift, from the officer's check-ins, as pure functions.

A check-in has a time, a kind (``arrive``, ``heartbeat`` or ``depart``) and ``in_geofence``: True (inside the
post's geofence), False (outside) or None (uncertain, e.g. a fix too inaccurate to decide). Times are aware
datetimes; the shift is ``[starts_at, ends_at)`` and may cross midnight in any time zone.

Rules:

1. Only check-ins stamped at or after ``starts_at - EARLY_ALLOWANCE_S`` (900 s), before ``ends_at`` and not after
   ``now`` are considered; all others are ignored.
2. Arrival is the first considered check-in with ``in_geofence`` True, of any kind (arriving up to 15 minutes
   early counts); an uncertain check-in never proves arrival.
3. ``late_s`` is the raw lateness ``max(0, arrived_at - starts_at)`` in seconds, None when the officer never
   arrived; the grace below applies only to the verdict.
4. Each ``arrive`` or ``heartbeat`` check-in inside the geofence proves presence for ``heartbeat_cover_s``
   (default 300 s) after it, cut short by the first check-in at or after it that is a ``depart`` (whatever its
   geofence flag) or that is outside the geofence; a ``depart`` proves presence only at its own instant.
5. An uncertain (None) check-in neither proves presence nor ends it: it is ignored, unless it is a ``depart``.
6. ``coverage_ratio`` is the length of the union of the proven-presence intervals inside
   ``[starts_at, min(now, ends_at)]`` divided by the length of that span, rounded to 3 decimals.
7. ``left_early_s`` is ``max(0, min(now, ends_at) - max(starts_at, last presence end))`` in seconds, where the last
   presence end is the latest end of a proven-presence interval (or the arrival instant); None when never arrived.
8. The verdict is, first match wins: ``absent`` when there is no arrival; ``partial`` when the (rounded)
   ``coverage_ratio`` is below ``COVERAGE_KEPT_RATIO`` (0.8) or ``left_early_s`` exceeds ``LEAVE_GRACE_S``
   (300 s); ``late`` when ``arrived_at`` is more than ``ARRIVAL_GRACE_S`` (300 s) after ``starts_at``; ``kept``
   otherwise. ``partial`` outranks ``late`` because not holding the post is the graver failure, and lateness is
   never lost: ``late_s`` is reported with every verdict.
9. While the shift is in progress (``starts_at < now < ends_at``) every rule is applied as if the shift ended at
   ``now``; the verdict is provisional and ``in_progress`` is True.
10. Before any of the shift has elapsed (``now <= starts_at``) the verdict is ``upcoming`` — a value beyond the
    final ``kept|late|partial|absent`` — with ``coverage_ratio`` and ``left_early_s`` None, and ``arrived_at``
    set when the officer has already arrived early.
11. Off post (脱岗): after arriving, every check-in outside the geofence stamped within ``[starts_at, ends_at)``
    is a time the officer was detected away from the post (see ``off_post_times``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

__all__ = [
    "ARRIVAL_GRACE_S",
    "COVERAGE_KEPT_RATIO",
    "EARLY_ALLOWANCE_S",
    "HEARTBEAT_COVER_S",
    "LEAVE_GRACE_S",
    "CheckIn",
    "CheckInKind",
    "ShiftVerdict",
    "Verdict",
    "duty_verdict",
    "off_post_times",
]

ARRIVAL_GRACE_S = 300
"""An arrival at most this many seconds after the shift starts is not late."""
EARLY_ALLOWANCE_S = 900
"""A check-in up to this many seconds before the shift starts can be the arrival."""
HEARTBEAT_COVER_S = 300
"""How many seconds of presence one in-geofence arrive/heartbeat check-in proves (default)."""
LEAVE_GRACE_S = 300
"""Presence may end at most this many seconds before the shift does without the shift being partial."""
COVERAGE_KEPT_RATIO = 0.8
"""The share of the shift that must be proven present for the post to count as kept."""


class CheckInKind(StrEnum):
    """What the officer's device reported: arriving at the post, still being there, or leaving it."""

    ARRIVE = "arrive"
    HEARTBEAT = "heartbeat"
    DEPART = "depart"


class Verdict(StrEnum):
    """The judgement of a shift; ``upcoming`` only before any of the shift has elapsed."""

    KEPT = "kept"
    LATE = "late"
    PARTIAL = "partial"
    ABSENT = "absent"
    UPCOMING = "upcoming"


@dataclass(frozen=True)
class CheckIn:
    """One check-in of the officer on duty: when, what kind, and whether it fell inside the post's geofence."""

    at: datetime
    kind: CheckInKind
    in_geofence: bool | None

    def __post_init__(self) -> None:
        _require_aware("at", self.at)
        object.__setattr__(self, "kind", CheckInKind(self.kind))

    @property
    def proves_arrival(self) -> bool:
        """A check-in inside the geofence, of any kind, shows the officer was at the post."""
        return self.in_geofence is True

    @property
    def starts_cover(self) -> bool:
        """An arrive or heartbeat check-in inside the geofence proves presence for the cover period after it."""
        return self.in_geofence is True and self.kind != CheckInKind.DEPART

    @property
    def ends_cover(self) -> bool:
        """A depart, or any check-in outside the geofence, ends proven presence at its time."""
        return self.kind == CheckInKind.DEPART or self.in_geofence is False


@dataclass(frozen=True)
class ShiftVerdict:
    """The outcome of one shift; seconds are floats, and None marks what cannot be measured yet or at all."""

    arrived_at: datetime | None
    late_s: float | None
    coverage_ratio: float | None
    left_early_s: float | None
    verdict: Verdict
    in_progress: bool

    @property
    def provisional(self) -> bool:
        """True while the verdict can still change (shift upcoming or in progress)."""
        return self.in_progress or self.verdict == Verdict.UPCOMING


def duty_verdict(
    *,
    starts_at: datetime,
    ends_at: datetime,
    checkins: Iterable[CheckIn],
    now: datetime,
    heartbeat_cover_s: float = HEARTBEAT_COVER_S,
    arrival_grace_s: float = ARRIVAL_GRACE_S,
    early_allowance_s: float = EARLY_ALLOWANCE_S,
    leave_grace_s: float = LEAVE_GRACE_S,
    coverage_kept_ratio: float = COVERAGE_KEPT_RATIO,
) -> ShiftVerdict:
    """Judge one shift from its check-ins as seen at ``now`` (rules in the module doc)."""
    _require_shift(starts_at, ends_at)
    _require_aware("now", now)
    if not heartbeat_cover_s > 0:
        raise ValueError("heartbeat_cover_s must be positive")

    considered = _considered(
        checkins, starts_at=starts_at, ends_at=ends_at, now=now, early_allowance_s=early_allowance_s
    )
    arrival = _arrival(considered)
    arrived_at = arrival.at if arrival else None
    late_s = _seconds(max(timedelta(0), arrived_at - starts_at)) if arrived_at else None

    if now <= starts_at:
        return ShiftVerdict(
            arrived_at=arrived_at,
            late_s=late_s,
            coverage_ratio=None,
            left_early_s=None,
            verdict=Verdict.UPCOMING,
            in_progress=False,
        )

    until = min(now, ends_at)
    in_progress = now < ends_at
    intervals = _presence_intervals(considered, cover=timedelta(seconds=heartbeat_cover_s))
    covered = _union_length(intervals, lo=starts_at, hi=until)
    coverage_ratio = round(covered / (until - starts_at), 3)

    if arrived_at is None:
        return ShiftVerdict(
            arrived_at=None,
            late_s=None,
            coverage_ratio=coverage_ratio,
            left_early_s=None,
            verdict=Verdict.ABSENT,
            in_progress=in_progress,
        )

    presence_end = max([arrived_at, *(end for _, end in intervals)])
    left_early_s = _seconds(max(timedelta(0), until - max(starts_at, presence_end)))

    if coverage_ratio < coverage_kept_ratio or left_early_s > leave_grace_s:
        verdict = Verdict.PARTIAL
    elif late_s > arrival_grace_s:
        verdict = Verdict.LATE
    else:
        verdict = Verdict.KEPT
    return ShiftVerdict(
        arrived_at=arrived_at,
        late_s=late_s,
        coverage_ratio=coverage_ratio,
        left_early_s=left_early_s,
        verdict=verdict,
        in_progress=in_progress,
    )


def off_post_times(
    *,
    starts_at: datetime,
    ends_at: datetime,
    checkins: Iterable[CheckIn],
    early_allowance_s: float = EARLY_ALLOWANCE_S,
) -> tuple[datetime, ...]:
    """The times, ascending, of the out-of-geofence check-ins within the shift after the officer arrived (脱岗)."""
    _require_shift(starts_at, ends_at)
    considered = _considered(
        checkins, starts_at=starts_at, ends_at=ends_at, now=None, early_allowance_s=early_allowance_s
    )
    arrival = _arrival(considered)
    if arrival is None:
        return ()
    return tuple(
        sorted(
            {c.at for c in considered if c.in_geofence is False and c.at > arrival.at and c.at >= starts_at}
        )
    )


def _considered(
    checkins: Iterable[CheckIn],
    *,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime | None,
    early_allowance_s: float,
) -> list[CheckIn]:
    """The check-ins inside ``[starts_at - early allowance, ends_at)`` and not after ``now``, by time."""
    opens_at = starts_at - timedelta(seconds=early_allowance_s)
    return sorted(
        (c for c in checkins if opens_at <= c.at < ends_at and (now is None or c.at <= now)),
        key=lambda c: c.at,
    )


def _arrival(considered: Sequence[CheckIn]) -> CheckIn | None:
    return next((c for c in considered if c.proves_arrival), None)


def _presence_intervals(
    considered: Sequence[CheckIn], *, cover: timedelta
) -> list[tuple[datetime, datetime]]:
    """One ``[start, end)`` per covering check-in, cut at the first ending check-in at or after it."""
    stops = sorted(c.at for c in considered if c.ends_cover)
    intervals = []
    for c in considered:
        if not c.starts_cover:
            continue
        end = c.at + cover
        i = bisect_left(stops, c.at)
        if i < len(stops):
            end = min(end, stops[i])
        if end > c.at:
            intervals.append((c.at, end))
    return intervals


def _union_length(intervals: Iterable[tuple[datetime, datetime]], *, lo: datetime, hi: datetime) -> timedelta:
    """The length of the union of the intervals, clipped to ``[lo, hi]``."""
    total = timedelta(0)
    current_start: datetime | None = None
    current_end: datetime | None = None
    for start, end in sorted(intervals):
        start, end = max(start, lo), min(end, hi)
        if end <= start:
            continue
        if current_end is None or start > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        total += current_end - current_start
    return total


def _seconds(delta: timedelta) -> float:
    return delta.total_seconds()


def _require_shift(starts_at: datetime, ends_at: datetime) -> None:
    _require_aware("starts_at", starts_at)
    _require_aware("ends_at", ends_at)
    if not ends_at > starts_at:
        raise ValueError("a shift must end after it starts")


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
