"""The 1/3/5-minute rule (domain.scoring): pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.scoring import (
    POLICY_135_V1,
    Arrival,
    Policy,
    Tier,
    TierState,
    next_deadline,
    score_response,
)

ALARM = datetime(2024, 9, 2, 7, 30, tzinfo=UTC)
GUARD, AID, POLICE = Tier.ONSITE_GUARD, Tier.MUTUAL_AID, Tier.POLICE


def at(seconds: float) -> datetime:
    return ALARM + timedelta(seconds=seconds)


def arrive(tier: int, seconds: float, counts: bool = True) -> Arrival:
    return Arrival(tier=tier, arrived_at=at(seconds), counts=counts)


def score(arrivals, now_s: float, **kwargs):
    return score_response(alarm_at=ALARM, arrivals=arrivals, now=at(now_s), **kwargs)


def states(s) -> dict[int, str]:
    return {t.tier: t.state for t in s.tiers}


def elapsed(s) -> dict[int, float | None]:
    return {t.tier: t.elapsed_s for t in s.tiers}


# --- examples -----------------------------------------------------------------------------------------------


def test_police_first_at_50s_meets_all_three_tiers():
    s = score([arrive(POLICE, 50)], now_s=50)
    assert states(s) == {1: "met", 2: "met", 3: "met"}
    assert elapsed(s) == {1: 50.0, 2: 50.0, 3: 50.0}
    assert s.compliant is True


def test_only_a_guard_at_70s_misses_tier_1_and_leaves_tiers_2_and_3_pending():
    s = score([arrive(GUARD, 70)], now_s=70)
    assert states(s) == {1: "missed", 2: "pending", 3: "pending"}
    assert elapsed(s) == {1: 70.0, 2: None, 3: None}
    assert s.compliant is False


def test_after_a_late_guard_a_nearby_patrol_meets_tier_2_and_tier_3_waits_for_police():
    s = score([arrive(GUARD, 70), arrive(AID, 150)], now_s=150)
    assert states(s) == {1: "missed", 2: "met", 3: "pending"}
    s = score([arrive(GUARD, 70), arrive(AID, 150), arrive(POLICE, 290)], now_s=290)
    assert states(s) == {1: "missed", 2: "met", 3: "met"}
    assert s.compliant is False


def test_after_a_late_guard_tier_3_is_missed_once_the_clock_passes_300s_without_police():
    s = score([arrive(GUARD, 70), arrive(AID, 150)], now_s=301)
    assert states(s) == {1: "missed", 2: "met", 3: "missed"}
    assert elapsed(s)[3] is None


def test_every_tier_met_in_time_is_compliant():
    s = score([arrive(GUARD, 45), arrive(AID, 170), arrive(POLICE, 280)], now_s=400)
    assert states(s) == {1: "met", 2: "met", 3: "met"}
    assert elapsed(s) == {1: 45.0, 2: 170.0, 3: 280.0}
    assert s.compliant is True


@pytest.mark.parametrize(("tier", "limit_s"), [(GUARD, 60.0), (AID, 180.0), (POLICE, 300.0)])
def test_an_arrival_exactly_at_the_limit_meets(tier, limit_s):
    s = score([arrive(tier, limit_s)], now_s=limit_s)
    assert s.tier(tier).state == "met"
    assert s.tier(tier).elapsed_s == limit_s


def test_an_arrival_one_microsecond_after_the_limit_misses_and_still_reports_its_time():
    s = score([arrive(GUARD, 60.000001)], now_s=61)
    assert s.tier(1).state == "missed"
    assert s.tier(1).elapsed_s == pytest.approx(60.000001)


def test_a_late_arrival_of_a_higher_tier_misses_the_lower_tiers_it_serves():
    s = score([arrive(POLICE, 200)], now_s=200)
    assert states(s) == {1: "missed", 2: "missed", 3: "met"}
    assert elapsed(s) == {1: 200.0, 2: 200.0, 3: 200.0}


def test_a_lower_tier_never_serves_a_higher_tier():
    s = score([arrive(GUARD, 10), arrive(AID, 20)], now_s=30)
    assert states(s) == {1: "met", 2: "met", 3: "pending"}


def test_arrivals_far_from_the_scene_are_ignored():
    s = score([arrive(POLICE, 30, counts=False)], now_s=30)
    assert states(s) == {1: "pending", 2: "pending", 3: "pending"}
    assert elapsed(s) == {1: None, 2: None, 3: None}
    s = score([arrive(POLICE, 30, counts=False), arrive(GUARD, 55)], now_s=55)
    assert states(s) == {1: "met", 2: "pending", 3: "pending"}


def test_arrivals_before_the_alarm_are_ignored():
    s = score([arrive(POLICE, -5)], now_s=10)
    assert states(s) == {1: "pending", 2: "pending", 3: "pending"}


def test_an_arrival_at_the_alarm_instant_counts_with_zero_seconds():
    s = score([arrive(GUARD, 0)], now_s=0)
    assert s.tier(1).state == "met"
    assert s.tier(1).elapsed_s == 0.0


def test_pending_becomes_missed_only_once_now_is_past_the_deadline():
    assert states(score([], now_s=60)) == {1: "pending", 2: "pending", 3: "pending"}
    assert states(score([], now_s=60.000001)) == {1: "missed", 2: "pending", 3: "pending"}
    assert states(score([], now_s=180.5)) == {1: "missed", 2: "missed", 3: "pending"}
    s = score([], now_s=3600)
    assert states(s) == {1: "missed", 2: "missed", 3: "missed"}
    assert s.compliant is False


def test_compliant_is_none_while_any_tier_is_pending_and_none_is_missed():
    s = score([arrive(GUARD, 30)], now_s=30)
    assert states(s) == {1: "met", 2: "pending", 3: "pending"}
    assert s.compliant is None


def test_arrivals_with_other_time_zones_are_compared_as_instants():
    beijing = timezone(timedelta(hours=8))
    s = score([Arrival(tier=POLICE, arrived_at=at(50).astimezone(beijing))], now_s=50)
    assert s.compliant is True
    assert elapsed(s)[1] == 50.0


def test_arrivals_stamped_after_now_are_still_scored_from_their_own_time():
    s = score([arrive(GUARD, 40)], now_s=10)
    assert s.tier(1).state == "met"


def test_as_dict_has_exactly_the_stored_shape():
    s = score([arrive(GUARD, 45)], now_s=200)
    assert s.as_dict() == {
        "policy": "1-3-5@v1",
        "tiers": [
            {"tier": 1, "limit_s": 60, "elapsed_s": 45.0, "state": "met"},
            {"tier": 2, "limit_s": 180, "elapsed_s": None, "state": "missed"},
            {"tier": 3, "limit_s": 300, "elapsed_s": None, "state": "pending"},
        ],
        "compliant": False,
    }
    row = s.as_dict()["tiers"][0]
    assert type(row["tier"]) is int and type(row["state"]) is str


def test_policy_key_names_policy_and_version():
    assert POLICY_135_V1.key == "1-3-5@v1"
    assert Policy("1-3-5", 2, {1: 60}).key == "1-3-5@v2"
    assert score([], now_s=0).policy == "1-3-5@v1"


def test_the_shared_policy_cannot_be_mutated():
    with pytest.raises(TypeError):
        POLICY_135_V1.tier_limits_s[1] = 999  # type: ignore[index]
    assert hash(POLICY_135_V1) == hash(Policy("1-3-5", 1, {1: 60, 2: 180, 3: 300}))


def test_a_policy_can_narrow_the_tiers_by_severity():
    policy = Policy("1-3-5", 9, {1: 60, 2: 180, 3: 300}, tiers_by_severity={1: (1,), 2: (1, 2)})
    s = score([arrive(GUARD, 30)], now_s=30, policy=policy, severity=1)
    assert [t.tier for t in s.tiers] == [1]
    assert s.compliant is True
    assert [t.tier for t in score([], now_s=0, policy=policy, severity=2).tiers] == [1, 2]
    assert [t.tier for t in score([], now_s=0, policy=policy, severity=3).tiers] == [1, 2, 3]
    assert [t.tier for t in score([], now_s=0, policy=policy).tiers] == [1, 2, 3]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tier_limits_s": {}},
        {"tier_limits_s": {1: 0}},
        {"tier_limits_s": {0: 60}},
        {"tier_limits_s": {1: 60}, "tiers_by_severity": {1: (2,)}},
        {"tier_limits_s": {1: 60}, "tiers_by_severity": {1: ()}},
    ],
)
def test_an_inconsistent_policy_is_refused(kwargs):
    with pytest.raises(ValueError):
        Policy("bad", 1, **kwargs)


def test_next_deadline_is_the_earliest_pending_limit():
    s = score([arrive(GUARD, 30)], now_s=30)
    assert next_deadline(s, alarm_at=ALARM) == at(180)
    s = score([arrive(GUARD, 30), arrive(AID, 100)], now_s=100)
    assert next_deadline(s, alarm_at=ALARM) == at(300)
    assert next_deadline(score([arrive(POLICE, 30)], now_s=30), alarm_at=ALARM) is None


def test_rescoring_just_after_next_deadline_flips_that_tier_to_missed():
    s = score([arrive(GUARD, 30)], now_s=30)
    deadline = next_deadline(s, alarm_at=ALARM)
    later = score_response(
        alarm_at=ALARM, arrivals=[arrive(GUARD, 30)], now=deadline + timedelta(microseconds=1)
    )
    assert later.tier(2).state == "missed"


def test_naive_datetimes_are_refused():
    naive = datetime(2024, 9, 2, 7, 30)
    with pytest.raises(ValueError):
        score_response(alarm_at=naive, arrivals=[], now=ALARM)
    with pytest.raises(ValueError):
        Arrival(tier=1, arrived_at=naive)


# --- properties ---------------------------------------------------------------------------------------------

arrival_st = st.builds(
    lambda tier, ms, counts: arrive(tier, ms / 1000, counts),
    st.integers(min_value=1, max_value=3),
    st.integers(min_value=-60_000, max_value=600_000),
    st.booleans(),
)
arrivals_st = st.lists(arrival_st, max_size=8)
now_st = st.integers(min_value=0, max_value=600_000).map(lambda ms: ms / 1000)


@settings(max_examples=200, deadline=None)
@given(arrivals=arrivals_st, now_s=now_st, data=st.data())
def test_arrival_order_does_not_change_the_score(arrivals, now_s, data):
    shuffled = data.draw(st.permutations(arrivals))
    assert score(shuffled, now_s) == score(arrivals, now_s)


@settings(max_examples=200, deadline=None)
@given(arrivals=arrivals_st, now_s=now_st)
def test_states_follow_elapsed_time_and_limits(arrivals, now_s):
    s = score(arrivals, now_s)
    for t in s.tiers:
        if t.elapsed_s is not None:
            assert t.state == ("met" if t.elapsed_s <= t.limit_s else "missed")
        else:
            assert t.state == ("missed" if now_s > t.limit_s else "pending")
    found = set(states(s).values())
    assert s.compliant == (False if "missed" in found else None if "pending" in found else True)


@settings(max_examples=200, deadline=None)
@given(arrivals=arrivals_st, now_s=now_st)
def test_higher_tiers_are_never_reached_sooner_than_lower_ones(arrivals, now_s):
    times = elapsed(score(arrivals, now_s))
    for lower, higher in [(1, 2), (2, 3)]:
        if times[higher] is not None:
            assert times[lower] is not None and times[lower] <= times[higher]


@settings(max_examples=200, deadline=None)
@given(arrivals=arrivals_st, now_s=now_st, tier=st.integers(1, 3), ms=st.integers(0, 60_000))
def test_an_arrival_of_tier_j_within_60s_meets_every_tier_up_to_j(arrivals, now_s, tier, ms):
    s = score([*arrivals, arrive(tier, ms / 1000)], now_s)
    for k in range(1, tier + 1):
        assert s.tier(k).state == "met"
    if tier == 3:
        assert s.compliant is True


@settings(max_examples=200, deadline=None)
@given(arrivals=arrivals_st, more=arrivals_st, now_s=now_st)
def test_adding_arrivals_never_unmeets_a_tier(arrivals, more, now_s):
    before = states(score(arrivals, now_s))
    after = states(score([*arrivals, *more], now_s))
    for tier, state in before.items():
        if state == TierState.MET:
            assert after[tier] == TierState.MET


@settings(max_examples=200, deadline=None)
@given(arrivals=arrivals_st, now_s=now_st, later_s=now_st)
def test_time_passing_only_turns_pending_into_missed(arrivals, now_s, later_s):
    now_s, later_s = sorted([now_s, later_s])
    before = states(score(arrivals, now_s))
    after = states(score(arrivals, later_s))
    for tier, state in before.items():
        if state != TierState.PENDING:
            assert after[tier] == state
        else:
            assert after[tier] in (TierState.PENDING, TierState.MISSED)


@settings(max_examples=200, deadline=None)
@given(arrivals=arrivals_st, ignored=arrivals_st, now_s=now_st)
def test_arrivals_that_do_not_count_never_change_the_score(arrivals, ignored, now_s):
    far = [Arrival(a.tier, a.arrived_at, counts=False) for a in ignored]
    early = [Arrival(a.tier, ALARM - timedelta(seconds=1 + i)) for i, a in enumerate(ignored)]
    assert score([*arrivals, *far, *early], now_s) == score(arrivals, now_s)
