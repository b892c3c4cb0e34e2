"""Duty verdicts for one shift (domain.duty): pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.duty import (
    ARRIVAL_GRACE_S,
    COVERAGE_KEPT_RATIO,
    EARLY_ALLOWANCE_S,
    HEARTBEAT_COVER_S,
    LEAVE_GRACE_S,
    CheckIn,
    CheckInKind,
    Verdict,
    duty_verdict,
    off_post_times,
)

START = datetime(2024, 9, 2, 8, 0, tzinfo=UTC)
END = START + timedelta(hours=2)
MIN = 60


def t(minutes: float) -> datetime:
    """An instant ``minutes`` after the shift starts."""
    return START + timedelta(minutes=minutes)


def ci(minutes: float, kind: str = "heartbeat", inside: bool | None = True) -> CheckIn:
    return CheckIn(at=t(minutes), kind=CheckInKind(kind), in_geofence=inside)


def every_5_min(first: float, last: float) -> list[CheckIn]:
    """An arrive at ``first`` then heartbeats every 5 minutes up to ``last`` (inclusive), all inside."""
    times = [first + 5 * i for i in range(int((last - first) // 5) + 1)]
    return [ci(m, "arrive" if i == 0 else "heartbeat") for i, m in enumerate(times)]


def judge(checkins, now=END + timedelta(hours=1), starts_at=START, ends_at=END, **kwargs):
    return duty_verdict(starts_at=starts_at, ends_at=ends_at, checkins=checkins, now=now, **kwargs)


def test_the_documented_constants():
    assert (ARRIVAL_GRACE_S, EARLY_ALLOWANCE_S, HEARTBEAT_COVER_S, LEAVE_GRACE_S) == (300, 900, 300, 300)
    assert COVERAGE_KEPT_RATIO == 0.8


# --- kept / late / absent -----------------------------------------------------------------------------------


def test_on_time_with_heartbeats_every_5_minutes_is_kept_with_full_coverage():
    v = judge(every_5_min(0, 115))
    assert v.verdict == Verdict.KEPT == "kept"
    assert v.arrived_at == START
    assert (v.late_s, v.coverage_ratio, v.left_early_s) == (0.0, 1.0, 0.0)
    assert v.in_progress is False and v.provisional is False


def test_ten_minutes_late_is_late_with_late_s_600():
    v = judge(every_5_min(10, 115))
    assert v.verdict == "late"
    assert v.late_s == 600.0
    assert v.arrived_at == t(10)
    assert v.coverage_ratio == round(110 / 120, 3)


def test_arriving_exactly_at_the_grace_limit_is_kept_but_lateness_is_reported():
    v = judge(every_5_min(5, 115))
    assert v.verdict == "kept"
    assert v.late_s == 300.0


def test_arriving_one_second_after_the_grace_limit_is_late():
    v = judge([ci(5 + 1 / 60, "arrive"), *every_5_min(10, 115)])
    assert v.verdict == "late"
    assert v.late_s == 301.0


def test_no_checkins_is_absent():
    v = judge([])
    assert v.verdict == "absent"
    assert (v.arrived_at, v.late_s, v.left_early_s) == (None, None, None)
    assert v.coverage_ratio == 0.0


def test_arriving_up_to_15_minutes_early_counts_as_on_time():
    v = judge([ci(-15, "arrive"), *every_5_min(0, 115)])
    assert v.arrived_at == t(-15)
    assert v.late_s == 0.0
    assert v.verdict == "kept"


def test_a_checkin_more_than_15_minutes_before_the_shift_is_not_the_arrival():
    v = judge([ci(-16, "arrive"), *every_5_min(10, 115)])
    assert v.arrived_at == t(10)
    assert v.verdict == "late"


def test_checkins_after_the_shift_end_are_ignored():
    assert judge([ci(120, "arrive"), ci(125)]).verdict == "absent"


# --- partial ------------------------------------------------------------------------------------------------


def test_leaving_30_minutes_early_with_a_depart_is_partial_with_left_early_s_1800():
    v = judge([*every_5_min(0, 85), ci(90, "depart")])
    assert v.verdict == "partial"
    assert v.left_early_s == 1800.0
    assert v.coverage_ratio == 0.75


def test_heartbeats_that_stop_30_minutes_early_are_partial_with_left_early_s_1800():
    v = judge(every_5_min(0, 85))
    assert v.verdict == "partial"
    assert v.left_early_s == 1800.0


def test_a_depart_ends_coverage_at_its_time_even_right_after_a_heartbeat():
    v = judge([*every_5_min(0, 110), ci(112, "depart")])
    assert v.left_early_s == 8 * MIN
    assert v.verdict == "partial"


def test_leaving_within_the_leave_grace_is_kept():
    v = judge([*every_5_min(0, 110), ci(115, "depart")])
    assert v.left_early_s == 300.0
    assert v.verdict == "kept"


def test_heartbeats_with_a_20_minute_gap_are_partial():
    hour = START + timedelta(hours=1)
    checkins = [ci(m) for m in (0, 5, 10, 30, 35, 40, 45, 50, 55)]  # silent from 15 to 30
    v = judge(checkins, ends_at=hour)
    assert v.coverage_ratio == 0.75
    assert v.left_early_s == 0.0
    assert v.verdict == "partial"


def test_coverage_of_exactly_the_kept_ratio_is_kept():
    hour = START + timedelta(hours=1)
    v = judge([ci(m) for m in (0, 5, 10, 15, 20, 25, 30, 35, 52, 55)], ends_at=hour)  # 40..52 uncovered
    assert v.coverage_ratio == 0.8
    assert v.verdict == "kept"


def test_late_and_partial_together_is_partial_and_still_reports_lateness():
    v = judge([*every_5_min(40, 115)])
    assert v.verdict == "partial"
    assert v.late_s == 2400.0
    assert v.coverage_ratio == round(80 / 120, 3)


def test_the_heartbeat_cover_is_configurable():
    every_10 = [ci(m) for m in range(0, 120, 10)]
    assert judge(every_10).coverage_ratio == 0.5
    v = judge(every_10, heartbeat_cover_s=600)
    assert (v.coverage_ratio, v.verdict) == (1.0, "kept")


# --- geofence -----------------------------------------------------------------------------------------------


def test_checkins_outside_the_geofence_do_not_count():
    outside = [ci(m, inside=False) for m in range(0, 120, 5)]
    v = judge(outside)
    assert v.verdict == "absent"
    assert v.coverage_ratio == 0.0


def test_a_checkin_outside_the_geofence_ends_coverage_at_its_time():
    checkins = [*every_5_min(0, 115), ci(61, inside=False)]
    assert judge(checkins).coverage_ratio == round(116 / 120, 3)


def test_an_uncertain_checkin_does_not_prove_arrival():
    v = judge([ci(0, "arrive", inside=None), *every_5_min(10, 115)])
    assert v.arrived_at == t(10)
    assert v.verdict == "late"
    assert judge([ci(m, inside=None) for m in range(0, 120, 5)]).verdict == "absent"


def test_an_uncertain_checkin_neither_extends_nor_ends_coverage():
    hour = START + timedelta(hours=1)
    base = [ci(m) for m in range(0, 60, 5)]
    assert judge([*base, ci(2, inside=None)], ends_at=hour).coverage_ratio == 1.0
    gap = [ci(m) for m in range(0, 60, 5) if m not in (20, 25)]
    with_uncertain = [*gap, ci(20, inside=None), ci(25, inside=None)]
    assert judge(with_uncertain, ends_at=hour).coverage_ratio == judge(gap, ends_at=hour).coverage_ratio


def test_an_uncertain_depart_still_ends_coverage():
    v = judge([*every_5_min(0, 85), ci(87, "depart", inside=None)])
    assert v.left_early_s == 33 * MIN
    assert v.verdict == "partial"


def test_kinds_may_be_given_as_strings():
    assert CheckIn(at=START, kind="arrive", in_geofence=True).kind is CheckInKind.ARRIVE
    with pytest.raises(ValueError):
        CheckIn(at=START, kind="teleport", in_geofence=True)


# --- time ---------------------------------------------------------------------------------------------------


def test_a_shift_crossing_midnight_utc_with_checkins_in_beijing_time_works():
    beijing = timezone(timedelta(hours=8))
    starts_at = datetime(2024, 9, 2, 22, 0, tzinfo=UTC)
    ends_at = datetime(2024, 9, 3, 2, 0, tzinfo=UTC)
    checkins = [
        CheckIn(at=(starts_at + timedelta(minutes=m)).astimezone(beijing), kind="heartbeat", in_geofence=True)
        for m in range(3, 240, 5)
    ]
    v = duty_verdict(
        starts_at=starts_at, ends_at=ends_at, checkins=checkins, now=ends_at + timedelta(minutes=1)
    )
    assert v.arrived_at == starts_at + timedelta(minutes=3)
    assert v.late_s == 180.0
    assert v.coverage_ratio == round(237 / 240, 3)
    assert v.left_early_s == 0.0
    assert v.verdict == "kept"


def test_an_in_progress_shift_counts_coverage_only_up_to_now():
    now = t(30)
    v = judge(every_5_min(0, 25), now=now)
    assert v.in_progress is True and v.provisional is True
    assert (v.coverage_ratio, v.left_early_s, v.verdict) == (1.0, 0.0, "kept")


def test_an_in_progress_shift_is_judged_as_if_it_ended_now():
    v = judge(every_5_min(0, 10), now=t(30))  # silent for the last 15 minutes
    assert v.in_progress is True
    assert v.coverage_ratio == 0.5
    assert v.left_early_s == 15 * MIN
    assert v.verdict == "partial"
    not_yet = judge([], now=t(3))
    assert (not_yet.verdict, not_yet.in_progress) == ("absent", True)


def test_checkins_stamped_after_now_are_ignored():
    v = judge(every_5_min(0, 115), now=t(30))
    assert v.coverage_ratio == 1.0
    assert v.verdict == "kept"
    assert judge([ci(20, "arrive")], now=t(10)).verdict == "absent"


def test_the_shift_end_is_final():
    v = judge(every_5_min(0, 115), now=END)
    assert v.in_progress is False
    assert v.verdict == "kept"


def test_before_the_shift_starts_the_verdict_is_upcoming():
    v = judge([], now=t(-30))
    assert v.verdict == Verdict.UPCOMING == "upcoming"
    assert (v.arrived_at, v.late_s, v.coverage_ratio, v.left_early_s, v.in_progress) == (
        None,
        None,
        None,
        None,
        False,
    )
    assert v.provisional is True
    early = judge([ci(-10, "arrive")], now=START)
    assert (early.verdict, early.arrived_at, early.late_s) == ("upcoming", t(-10), 0.0)


def test_naive_datetimes_and_empty_shifts_are_refused():
    with pytest.raises(ValueError):
        judge([], starts_at=datetime(2024, 9, 2, 8, 0))
    with pytest.raises(ValueError):
        judge([], ends_at=START)
    with pytest.raises(ValueError):
        CheckIn(at=datetime(2024, 9, 2, 8, 0), kind="arrive", in_geofence=True)
    with pytest.raises(ValueError):
        judge([], heartbeat_cover_s=0)


# --- off post -----------------------------------------------------------------------------------------------


def off_post(checkins):
    return off_post_times(starts_at=START, ends_at=END, checkins=checkins)


def test_off_post_lists_the_outside_checkins_after_arrival_within_the_shift():
    checkins = [
        ci(-12, inside=False),  # before the shift and before arriving
        ci(-10, "arrive"),
        ci(-5, inside=False),  # after arriving, but before the shift starts
        ci(0),
        ci(40, inside=False),
        ci(45, inside=None),  # uncertain is no alert
        ci(50, inside=False),
        ci(125, inside=False),  # after the shift
    ]
    assert off_post(checkins) == (t(40), t(50))


def test_off_post_is_empty_when_the_officer_never_arrived():
    assert off_post([ci(m, inside=False) for m in range(0, 120, 5)]) == ()


def test_off_post_ignores_order():
    checkins = [ci(50, inside=False), ci(40, inside=False), ci(0, "arrive")]
    assert off_post(checkins) == (t(40), t(50))


# --- properties ---------------------------------------------------------------------------------------------

checkin_st = st.builds(
    lambda seconds, kind, inside: CheckIn(
        at=START + timedelta(seconds=seconds), kind=kind, in_geofence=inside
    ),
    st.integers(min_value=-20 * MIN, max_value=130 * MIN),
    st.sampled_from(list(CheckInKind)),
    st.sampled_from([True, True, True, False, None]),
)
checkins_st = st.lists(checkin_st, max_size=30)
now_st = st.integers(min_value=1, max_value=130 * MIN).map(lambda s: START + timedelta(seconds=s))


@settings(max_examples=200, deadline=None)
@given(checkins=checkins_st, now=now_st, data=st.data())
def test_checkin_order_does_not_change_the_verdict(checkins, now, data):
    shuffled = data.draw(st.permutations(checkins))
    assert judge(shuffled, now=now) == judge(checkins, now=now)
    assert off_post(shuffled) == off_post(checkins)


@settings(max_examples=200, deadline=None)
@given(checkins=checkins_st, now=now_st)
def test_verdict_fields_are_consistent(checkins, now):
    v = judge(checkins, now=now)
    assert 0.0 <= v.coverage_ratio <= 1.0
    assert v.in_progress == (now < END)
    assert (v.verdict == "absent") == (v.arrived_at is None)
    if v.arrived_at is None:
        assert v.late_s is None and v.left_early_s is None and v.coverage_ratio == 0.0
    else:
        assert v.late_s >= 0.0 and v.left_early_s >= 0.0
        if v.verdict == "kept":
            assert v.late_s <= ARRIVAL_GRACE_S
            assert v.coverage_ratio >= COVERAGE_KEPT_RATIO and v.left_early_s <= LEAVE_GRACE_S


@settings(max_examples=200, deadline=None)
@given(checkins=checkins_st, now=now_st)
def test_outside_and_uncertain_heartbeats_never_add_coverage(checkins, now):
    noise = [
        CheckIn(at=c.at, kind="heartbeat", in_geofence=inside) for c in checkins for inside in (False, None)
    ]
    with_noise = judge([*checkins, *noise], now=now)
    assert with_noise.coverage_ratio <= judge(checkins, now=now).coverage_ratio
    assert with_noise.arrived_at == judge(checkins, now=now).arrived_at
