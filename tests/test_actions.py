"""detectors.actions: the ladder, allowlist, circuit breaker, fail-open guard, expiry and reversal (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.actions import (
    ActionPolicy,
    ActionsError,
    BreakerConfig,
    Health,
    Ladder,
    manual_release,
)
from detectors.contract import format_timestamp, parse_timestamp

T0 = parse_timestamp("2026-11-28T12:00:00Z")
LADDER = Ladder.default()
NO_BREAKER = BreakerConfig(min_active_accounts=10**9)  # can never trip


def alert(account="acct-1", *, status="opened", severity="critical", score=0.9, t=0.0, n=1, episode="e1"):
    return {
        "alert_id": f"{account}-{episode}-{n}",
        "account_id": account,
        "episode_id": episode,
        "status": status,
        "severity": severity,
        "score": score,
        "detected_at": format_timestamp(T0 + t),
        "reasons": [{"signal": s, "value": 0.9, "description": "x"} for s in ("a", "b", "c", "d")],
    }


def policy(**kw) -> ActionPolicy:
    kw.setdefault("breaker_config", NO_BREAKER)
    return ActionPolicy(LADDER, **kw)


# -- ladder ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "severity, score, action, limit",
    [
        ("info", 0.99, None, None),
        ("warning", 0.7, "throttle", 60),
        ("critical", 0.85, "throttle", 10),
        ("critical", 0.97, "block", None),
        ("warning", 0.97, "throttle", 60),  # a block needs critical severity too
    ],
)
def test_ladder_maps_severity_and_score_to_a_rung(severity, score, action, limit):
    d = policy().decide(alert(severity=severity, score=score), Health())
    assert d.action == action
    if action is None:
        assert d.record is None and d.outcome is None
    else:
        assert d.record["action"] == action and d.record["limit_per_minute"] == limit


def test_action_record_fields_shadow_by_default_and_no_text():
    d = policy().decide(alert(), Health())
    rec = d.record
    assert d.outcome == "shadow"
    assert set(rec) == {"kind", "version", "action_id", "account_id", "action", "limit_per_minute", "reason",
                        "alert_id", "episode_id", "issued_at", "expires_at", "enforced", "shadow", "reverses"}
    assert rec["enforced"] is False and rec["shadow"] is True and rec["reverses"] is None
    assert rec["issued_at"] == "2026-11-28T12:00:00.000Z"
    assert rec["expires_at"] == "2026-11-28T13:00:00.000Z"  # the rung's TTL, 3600 s
    assert rec["reason"] == {"rung": "throttle-hard", "severity": "critical", "score": 0.9,
                             "signals": ["a", "b", "c"]}  # names only, never descriptions or values
    assert len(rec["action_id"]) == 32


def test_enforcing_mode_marks_records_enforced():
    d = policy(shadow=False).decide(alert(), Health())
    assert d.outcome == "enforced" and d.record["enforced"] is True and d.record["shadow"] is False


def test_action_ids_are_deterministic_and_distinct_per_alert_and_type():
    a, b = policy(), policy()
    first = a.decide(alert(), Health()).record["action_id"]
    assert first == b.decide(alert(), Health()).record["action_id"]  # same alert, same id (idempotency key)
    assert first != policy().decide(alert(n=2), Health()).record["action_id"]


def test_escalation_issues_a_stricter_action_but_not_a_repeat():
    p = policy()
    assert p.decide(alert(severity="warning", score=0.7, n=1), Health()).record["limit_per_minute"] == 60
    assert p.decide(alert(severity="warning", score=0.7, n=2, status="linked", t=10), Health()).record is None
    d = p.decide(alert(severity="critical", score=0.9, n=3, status="escalated", t=20), Health())
    assert d.record["limit_per_minute"] == 10
    assert p.decide(alert(severity="critical", score=0.99, n=4, status="linked", t=30), Health()).record["action"] \
        == "block"


def test_bad_ladders_are_rejected():
    good = {"version": 1, "rungs": [{"name": "t", "min_severity": "warning", "action": "throttle",
                                      "limit_per_minute": 5, "ttl_seconds": 60}]}
    assert Ladder.from_dict(good).rungs[0].limit_per_minute == 5
    for change in ({"action": "ban"}, {"limit_per_minute": None}, {"ttl_seconds": 0}, {"min_severity": "info"},
                   {"action": "block"}):
        bad = {"version": 1, "rungs": [{**good["rungs"][0], **change}]}
        with pytest.raises(ActionsError):
            Ladder.from_dict(bad)
    with pytest.raises(ActionsError, match="at least one rung"):
        Ladder.from_dict({"version": 1, "rungs": []})


# -- allowlist -----------------------------------------------------------------------


def test_allowlisted_accounts_are_never_actioned_nor_count_towards_the_breaker():
    p = policy(allowlist=frozenset({"vip"}), breaker_config=BreakerConfig(min_active_accounts=1, trip_share=0.5,
                                                                         close_share=0.1))
    p.seen("other", T0)
    d = p.decide(alert("vip"), Health())
    assert d.outcome == "allowlisted" and d.record is None and d.action == "throttle"
    assert not p.breaker.is_open  # 1 of 2 accounts would trip a 50 % breaker if the allowlisted one counted


# -- fail open ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "health, reason",
    [
        (Health(recovering=True), "recovery"),
        (Health(lag_seconds=301), "lag"),
        (Health(warming=True), "warmup"),
        (Health(lag_seconds=301, warming=True, recovering=True), "recovery"),
        (Health(lag_seconds=299), None),
        (Health(lag_seconds=-301), "lag"),  # event time implausibly ahead of the wall clock
    ],
)
def test_fail_open_pauses_new_throttles(health, reason):
    d = policy(max_lag_seconds=300).decide(alert(), health)
    assert d.pause_reason == reason
    if reason:
        assert d.outcome == "paused" and d.record is None
    else:
        assert d.outcome == "shadow"


def test_releases_go_through_while_paused_or_halted():
    p = policy()
    issued = p.decide(alert(), Health()).record
    d = p.decide(alert(status="resolved", severity="critical", score=0.1, n=2, t=60), Health(recovering=True))
    assert d.outcome == "shadow" and d.record["action"] == "release" and d.record["reverses"] == issued["action_id"]

    p = policy(breaker_config=BreakerConfig(min_active_accounts=2, trip_share=0.5, close_share=0.1))
    for acct in ("a", "b", "c", "d"):
        p.seen(acct, T0)
    issued = p.decide(alert("a"), Health()).record
    assert issued is not None
    assert p.decide(alert("b"), Health()).outcome == "shadow"
    assert p.decide(alert("c"), Health()).outcome == "halted"
    assert p.breaker.is_open
    d = p.decide(alert("a", status="resolved", score=0.1, n=2, t=5), Health())
    assert d.record["action"] == "release" and d.record["reverses"] == issued["action_id"]


# -- expiry and reversal ----------------------------------------------------------------


def test_resolved_episode_releases_the_active_action_once():
    p = policy()
    issued = p.decide(alert(), Health()).record
    d = p.decide(alert(status="resolved", score=0.1, n=2, t=100), Health())
    rec = d.record
    assert rec["action"] == "release" and rec["reverses"] == issued["action_id"]
    assert rec["reason"]["cause"] == "episode_resolved" and rec["limit_per_minute"] is None
    assert p.decide(alert(status="resolved", score=0.1, n=3, t=200), Health()).record is None  # nothing active


def test_an_expired_action_is_not_released_and_a_new_alert_acts_again():
    p = policy()
    p.decide(alert(), Health())
    assert p.decide(alert(status="resolved", score=0.1, n=2, t=3601), Health()).record is None
    p.decide(alert(n=3, t=4000), Health())
    assert "acct-1" in p.active
    p.tick(T0 + 4000 + 3600)
    assert "acct-1" not in p.active  # tick drops expired actions (bounded memory)


def test_manual_release_reverses_the_latest_unexpired_action():
    issued = policy().decide(alert(), Health()).record
    rel = manual_release("acct-1", issued, now=T0 + 60, shadow=True, ttl_seconds=86400, note="ticket 42")
    assert rel["action"] == "release" and rel["reverses"] == issued["action_id"]
    assert rel["reason"] == {"cause": "manual", "note": "ticket 42"}
    assert rel["issued_at"] == format_timestamp(T0 + 60) and rel["enforced"] is False
    again = manual_release("acct-1", issued, now=T0 + 90, shadow=True, ttl_seconds=86400)
    assert again["action_id"] == rel["action_id"]  # releasing the same action twice: one idempotency key
    late = manual_release("acct-1", issued, now=T0 + 3601, shadow=False, ttl_seconds=86400)
    assert late["reverses"] is None and late["enforced"] is True  # expired: nothing to reverse
    assert manual_release("acct-1", None, now=T0, shadow=True, ttl_seconds=1)["reverses"] is None


# -- circuit breaker -------------------------------------------------------------------


def test_breaker_trips_above_the_share_halts_and_closes_with_hysteresis():
    cfg = BreakerConfig(trip_share=0.05, close_share=0.025, window_seconds=600, min_active_accounts=50)
    p = policy(breaker_config=cfg)
    accounts = [f"acct-{i:03d}" for i in range(100)]
    for a in accounts:
        p.seen(a, T0)
    outcomes = []
    trips = []
    for i, a in enumerate(accounts):
        d = p.decide(alert(a, t=1 + i * 0.1), Health())
        outcomes.append(d.outcome)
        if d.breaker:
            trips.append(d.breaker)
    assert outcomes == ["shadow"] * 5 + ["halted"] * 95  # 5 of 100 is not more than 5 %; the 6th is
    assert [t["state"] for t in trips] == ["open"]
    assert trips[0]["active_accounts"] == 100 and trips[0]["actioned_accounts"] == 6 and trips[0]["share"] == 0.06
    # the broken scorer stops; healthy traffic goes on; the demand ages out of the window
    for a in accounts:
        p.seen(a, T0 + 500)
    assert p.tick(T0 + 590) is None  # still inside the window: still open
    assert p.breaker.is_open
    closed = p.tick(T0 + 700)
    assert closed["state"] == "closed" and p.breaker.is_open is False
    assert p.decide(alert("acct-050", n=2, t=701), Health()).outcome == "shadow"  # it was halted before


def test_breaker_hysteresis_keeps_it_open_between_the_shares():
    cfg = BreakerConfig(trip_share=0.1, close_share=0.05, window_seconds=100, min_active_accounts=10)
    p = policy(breaker_config=cfg)
    for i in range(20):
        p.seen(f"x{i}", T0)
    for i in range(3):
        p.decide(alert(f"x{i}"), Health())
    assert p.breaker.is_open  # 3 of 20 = 15 % > 10 %
    for i in range(20, 40):
        p.seen(f"x{i}", T0 + 1)  # 3 of 40 = 7.5 %: below the trip share, above the close share
    assert p.tick(T0 + 1) is None and p.breaker.is_open
    for i in range(40, 60):
        p.seen(f"x{i}", T0 + 2)  # 3 of 60 = 5 %: at the close share
    assert p.tick(T0 + 2)["state"] == "closed"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([f"a{i}" for i in range(8)]), st.floats(-900, 900)), max_size=60),
       st.integers(1, 20))
def test_seen_many_is_seen_one_by_one(events, chunk):
    """The worker reports a message's events at once: the breaker's window (which accounts, each at its
    latest time, in order of last sighting) and clock end as they would one event at a time."""
    cfg = BreakerConfig(window_seconds=300, min_active_accounts=1)
    one, many = policy(breaker_config=cfg), policy(breaker_config=cfg)
    for a, t in events:
        one.seen(a, T0 + t)
    for i in range(0, len(events), chunk):
        part = events[i : i + chunk]
        many.seen_many([a for a, _ in part], [T0 + t for _, t in part])
    assert list(many.breaker.active._last.items()) == list(one.breaker.active._last.items())
    assert many.breaker.now == one.breaker.now
    assert many.breaker.active.count(T0) == one.breaker.active.count(T0)


def test_seen_many_leaves_out_event_times_far_ahead_of_the_wall_clock():
    """An event stamped far in the future would push every other account out of the breaker's window."""
    p = policy(breaker_config=BreakerConfig(window_seconds=600), max_lag_seconds=300)
    p.seen_many(["a", "b", "c"], [T0, T0 + 10_000, T0 + 299], now=T0)
    assert sorted(p.breaker.active._last) == ["a", "c"] and p.breaker.now == T0 + 299
    p.seen_many(["d"], [T0 + 10_000], now=T0)
    assert "d" not in p.breaker.active._last and p.breaker.active.count(p.breaker.now) == 2
    p.seen("e", T0 + 301, now=T0)
    assert "e" not in p.breaker.active._last


def test_breaker_cannot_trip_in_a_small_population():
    p = policy(breaker_config=BreakerConfig(min_active_accounts=20))
    for i in range(10):
        p.seen(f"s{i}", T0)
    assert [p.decide(alert(f"s{i}"), Health()).outcome for i in range(10)] == ["shadow"] * 10
    assert not p.breaker.is_open


@settings(max_examples=200, deadline=None)
@given(
    n_accounts=st.integers(20, 300),
    trip_share=st.floats(0.01, 0.5),
    scores=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=300),
    order_seed=st.randoms(use_true_random=False),
)
def test_property_never_more_than_the_share_of_active_accounts_is_actioned(n_accounts, trip_share, scores,
                                                                            order_seed):
    """Whatever a (broken) model scores, at most trip_share x active accounts get a throttle or block."""
    cfg = BreakerConfig(trip_share=trip_share, close_share=trip_share / 2, window_seconds=600,
                        min_active_accounts=20)
    p = policy(breaker_config=cfg)
    accounts = [f"p{i}" for i in range(n_accounts)]
    for a in accounts:
        p.seen(a, T0)
    order_seed.shuffle(accounts)
    actioned = set()
    for i, score in enumerate(scores):
        a = accounts[i % n_accounts]
        severity = "critical" if score >= 0.82 else "warning" if score >= 0.65 else "info"
        d = p.decide(alert(a, severity=severity, score=score, n=i, t=i * 0.01), Health())
        if d.record is not None:
            actioned.add(a)
    assert len(actioned) <= int(trip_share * n_accounts + 1e-9)


def test_lagging_or_future_dated_alerts_do_not_move_the_breaker_clock():
    p = policy(breaker_config=BreakerConfig(min_active_accounts=10, window_seconds=600))
    for i in range(20):
        p.seen(f"a{i}", T0)
    d = p.decide(alert("a0", t=10**6), Health(lag_seconds=-10**6))
    assert d.outcome == "paused" and d.pause_reason == "lag"
    assert p.breaker.now == T0 and p.breaker.active.count(p.breaker.now) == 20  # the population is still there


def test_breaker_counts_demand_while_models_warm_up():
    """A broken model during warm-up still trips the breaker: once open, warm-up ending changes nothing."""
    p = policy(breaker_config=BreakerConfig(min_active_accounts=10, trip_share=0.1, close_share=0.05))
    for i in range(20):
        p.seen(f"w{i}", T0)
    outcomes = [p.decide(alert(f"w{i}"), Health(warming=True)).outcome for i in range(5)]
    assert outcomes == ["paused", "paused", "halted", "halted", "halted"]
    assert p.decide(alert("w9"), Health()).outcome == "halted"
