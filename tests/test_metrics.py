"""The worker's Prometheus metrics (streams/metrics.py) without a broker.

Faust's sensor is the real ``faust.sensors.monitor.Monitor``; only the app
around it is a stand-in (what it is asked for is two attributes).
"""

from __future__ import annotations

import math
import time
from types import SimpleNamespace

import pytest
from faust.sensors.monitor import Monitor
from faust.types import TP
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from detectors.engine import Detector
from detectors.state import AccountState
from streams.metrics import FAUST_FAMILIES, STAGES, ClusterTracker, FaustMonitorCollector, Metrics

# format: the input format, one of detectors.adapters.FORMATS; generation: the garbage collector's, 0, 1 or 2
ALLOWED_LABELS = {"outcome", "reason", "severity", "status", "label", "action", "stage", "signal", "partition",
                  "kind", "topic", "format", "generation"}


def _value(m: Metrics, name: str, labels: dict | None = None) -> float | None:
    return m.registry.get_sample_value(name, labels or {})


def test_processing_lag_is_nan_before_any_event_then_grows_with_the_wall_clock():
    m = Metrics()
    assert math.isnan(_value(m, "distillwatch_processing_lag_seconds"))
    now = time.time()
    m.processed(now - 100.0, now)
    m.processed(now - 500.0, now)  # an older event does not move the newest event time back
    assert _value(m, "distillwatch_last_event_timestamp_seconds") == now - 100.0
    assert _value(m, "distillwatch_last_processed_timestamp_seconds") == now
    lag = _value(m, "distillwatch_processing_lag_seconds")
    assert 100.0 <= lag < 110.0
    assert _value(m, "distillwatch_event_lag_seconds_count") == 2


def test_loop_histogram_counts_as_client_pythons_histogram_one_by_one_and_in_batches():
    import random

    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    from streams.metrics import LoopHistogram

    rng = random.Random(4)
    values = [rng.choice([0.0, 0.05, 0.1, 1.0, 3600.0, 1e9, -1.0]) for _ in range(200)]
    values += [rng.expovariate(0.5) for _ in range(2000)] + [math.nan]
    stock, one, many, later, many_later = (CollectorRegistry() for _ in range(5))
    buckets = (0.05, 0.1, 1, 10, 3600)
    h0 = Histogram("lag_seconds", "h", buckets=buckets, registry=stock)
    h1 = LoopHistogram("lag_seconds", "h", buckets=buckets, registry=one)
    h2 = LoopHistogram("lag_seconds", "h", buckets=buckets, registry=many)
    h3 = LoopHistogram("lag_seconds", "h", buckets=buckets, registry=later)
    h4 = LoopHistogram("lag_seconds", "h", buckets=buckets, registry=many_later)
    for v in values:
        h0.observe(v)
        h1.observe(v)
        h3.observe_later(v)  # 2,201 values: folded twice on the way (FOLD_AT), the rest at collection
    h2.observe_many(values[:1000])
    h2.observe_many([])
    h2.observe_many(values[1000:])
    for i in range(0, len(values), 300):
        h4.observe_many_later(values[i : i + 300])

    def samples(registry):
        return [(s.name, s.labels, s.value) for m in registry.collect() for s in m.samples
                if not s.name.endswith(("_created", "_sum"))]

    assert samples(one) == samples(stock) == samples(many) == samples(later) == samples(many_later)
    assert len(samples(stock)) == 7 and samples(stock)[-1][2] == len(values) - 1  # the NaN is in no bucket
    for registry in (stock, one, many, later, many_later):  # the NaN is in the sum, as client_python has it
        assert math.isnan(registry.get_sample_value("lag_seconds_sum"))
        assert b"lag_seconds_sum" in generate_latest(registry)
    finite = CollectorRegistry()
    LoopHistogram("lag_seconds", "h", buckets=(1,), registry=finite).observe_many(values[:-1])
    assert finite.get_sample_value("lag_seconds_sum") == pytest.approx(math.fsum(values[:-1]))


def test_observations_kept_for_later_are_folded_in_by_a_collection_or_once_enough_wait():
    from prometheus_client import CollectorRegistry

    from streams.metrics import LoopHistogram

    r = CollectorRegistry()
    family = LoopHistogram("took_seconds", "s", ["stage"], buckets=(1, 2), registry=r)
    h = family.labels("x")
    for _ in range(LoopHistogram.FOLD_AT - 1):
        h.observe_later(1.5)
    assert sum(b.get() for b in h._buckets) == 0  # kept: nothing has collected yet
    h.observe_later(0.5)  # the FOLD_AT-th: folded without a collection (memory stays bounded)
    assert [b.get() for b in h._buckets] == [1, LoopHistogram.FOLD_AT - 1, 0] and not h._pending
    h.observe_many_later([2.5, 2.5])
    # a collection of the family (what a scrape does) folds its children first
    assert r.get_sample_value("took_seconds_bucket", {"stage": "x", "le": "+Inf"}) == LoopHistogram.FOLD_AT + 2
    assert r.get_sample_value("took_seconds_count", {"stage": "x"}) == LoopHistogram.FOLD_AT + 2


def test_loop_counter_and_gauge_keep_client_pythons_rules_without_its_lock():
    from prometheus_client import CollectorRegistry

    from streams.metrics import LoopCounter, LoopGauge, LoopHistogram

    r = CollectorRegistry()
    c = LoopCounter("things", "t", ["outcome"], registry=r)
    g = LoopGauge("level", "l", registry=r)
    h = LoopHistogram("took_seconds", "s", ["stage"], buckets=(1, 2), registry=r)
    c.labels("a").inc()
    c.labels("a").inc(2.5)
    g.set(7)
    g.inc(1)
    h.labels("x").observe(1.5)
    assert r.get_sample_value("things_total", {"outcome": "a"}) == 3.5
    assert r.get_sample_value("level") == 8
    assert r.get_sample_value("took_seconds_bucket", {"stage": "x", "le": "1.0"}) == 0
    assert r.get_sample_value("took_seconds_bucket", {"stage": "x", "le": "2.0"}) == 1
    with pytest.raises(ValueError):  # counters only go up
        c.labels("a").inc(-1)
    with pytest.raises(ValueError):  # a family with labels is not observed itself
        h.observe(1.0)


def test_processed_many_counts_a_message_of_events():
    m = Metrics()
    now = time.time()
    m.processed_many(3, 2, [now - 5.0, now - 1.0, now + 30.0], now)  # a future event time is lag 0
    assert _value(m, "distillwatch_events_total", {"outcome": "valid"}) == 3
    assert _value(m, "distillwatch_events_total", {"outcome": "duplicate"}) == 2
    assert _value(m, "distillwatch_event_lag_seconds_count") == 3
    assert _value(m, "distillwatch_event_lag_seconds_sum") == pytest.approx(6.0)
    assert _value(m, "distillwatch_event_lag_seconds_bucket", {"le": "0.05"}) == 1
    assert _value(m, "distillwatch_last_event_timestamp_seconds") == now + 30.0
    m.processed_many(0, 4, [], now)  # duplicates only: no lag, the times stay
    assert _value(m, "distillwatch_events_total", {"outcome": "duplicate"}) == 6
    assert _value(m, "distillwatch_event_lag_seconds_count") == 3


def test_scoring_observes_mature_scores_and_counts_behaviour_changes():
    m = Metrics()
    m.declare(["reasoning_elicitation"], partitions=2)
    state = AccountState("acct-1")
    state.n, state.n_scored_at, state.last_score = 20, 20, 0.83
    m.scoring(state, 0, math.nan, partition=1, min_events=12)  # scored now; change_ts still NaN
    assert _value(m, "distillwatch_account_score_count") == 1
    assert _value(m, "distillwatch_account_score_sum") == 0.83
    assert _value(m, "distillwatch_behaviour_changes_total", {"partition": "1"}) == 0
    state.change_ts = 1_800_000_000.0
    m.scoring(state, 20, math.nan, partition=1, min_events=12)  # not scored again; a change detected
    assert _value(m, "distillwatch_account_score_count") == 1
    assert _value(m, "distillwatch_behaviour_changes_total", {"partition": "1"}) == 1
    young = AccountState("acct-2")
    young.n, young.n_scored_at = 5, 5
    m.scoring(young, 0, math.nan, partition=0, min_events=12)  # not yet alerting: no score
    assert _value(m, "distillwatch_account_score_count") == 1


def test_raised_alerts_count_by_top_signal_and_resolved_ones_do_not():
    m = Metrics()
    names = [s.name for s in Detector().rules.signals]
    m.declare(names, partitions=1)
    for name in names:  # every rule has a series from the start
        assert _value(m, "distillwatch_alert_signals_total", {"signal": name}) == 0
    reasons = [{"signal": "logprobs_on_long_outputs"}, {"signal": "single_turn"}]
    m.alert({"severity": "critical", "status": "opened", "reasons": reasons})
    m.alert({"severity": "critical", "status": "resolved", "reasons": reasons})
    assert _value(m, "distillwatch_alert_signals_total", {"signal": "logprobs_on_long_outputs"}) == 1
    assert _value(m, "distillwatch_alert_signals_total", {"signal": "single_turn"}) == 0
    assert _value(m, "distillwatch_alerts_total", {"severity": "critical", "status": "resolved"}) == 1


def test_cluster_tracker_counts_a_cluster_once_and_lets_it_lapse():
    t = ClusterTracker(min_members=3, window_seconds=100.0)
    assert not t.observe(b"a", False, 2, 0.0)
    assert t.observe(b"a", True, 3, 10.0)  # first evidence: formed
    assert not t.observe(b"a", True, 4, 20.0)  # more evidence: the same cluster
    assert t.observe(b"b", True, 5, 30.0)
    assert t.active() == 2
    assert not t.observe(b"b", False, 2, 40.0)  # members lapsed below the minimum
    assert t.active() == 1
    t.observe(b"c", True, 3, 200.0)  # event time moves on: "a" was last seen 180 s before
    assert t.active() == 1


def test_faust_monitor_is_exported_with_consumer_lag_per_source_topic():
    monitor = Monitor()
    app = SimpleNamespace(monitor=monitor, rebalancing_count=3, rebalancing=True)
    m = Metrics()
    m.registry.register(FaustMonitorCollector(app, ["in", "rekey"]))
    monitor.track_tp_end_offset(TP("in", 0), 100)
    monitor.track_tp_end_offset(TP("in", 1), 50)
    monitor.on_tp_commit({TP("in", 1): 20})  # partition 1: nothing read since the commit
    monitor.on_message_in(TP("in", 0), 89, SimpleNamespace(time_in=None))  # partition 0: read up to 89
    monitor.on_commit_completed(None, monitor.time() - 0.25)
    assert _value(m, "distillwatch_consumer_lag_messages", {"topic": "in"}) == 10 + 30
    assert _value(m, "distillwatch_consumer_lag_messages", {"topic": "rekey"}) == 0  # known topic, no data yet
    assert _value(m, "distillwatch_faust_messages_received_total") == 1
    assert _value(m, "distillwatch_rebalances_total") == 3
    assert _value(m, "distillwatch_rebalancing") == 1
    assert 0.2 <= _value(m, "distillwatch_faust_commit_latency_seconds") < 1.0
    assert _value(m, "distillwatch_faust_assignments_total", {"outcome": "completed"}) == 0


def test_every_family_follows_the_naming_rules_and_no_label_can_hold_an_account():
    m = Metrics()
    m.declare(["reasoning_elicitation"], partitions=2)
    m.registry.register(FaustMonitorCollector(SimpleNamespace(monitor=Monitor(), rebalancing_count=0,
                                                              rebalancing=False), ["in"]))
    families = list(text_string_to_metric_families(generate_latest(m.registry).decode()))
    names = {f.name for f in families}
    for stage in STAGES:
        assert _value(m, "distillwatch_stage_seconds_count", {"stage": stage}) == 0
    for name in FAUST_FAMILIES:
        assert name.removesuffix("_total") in names
    for f in families:
        assert f.name.startswith(("distillwatch_", "process_")), f.name
        if f.type == "counter":
            assert any(s.name.endswith("_total") for s in f.samples), f.name
        for s in f.samples:
            assert set(s.labels) <= ALLOWED_LABELS | {"le"}, (f.name, s.labels)
        assert not f.name.endswith(("_ms", "_milliseconds")), f.name


def test_watch_gc_times_each_collection_by_generation_until_taken_off():
    import gc

    m = Metrics()
    assert _value(m, "distillwatch_gc_pause_seconds_count", {"generation": "2"}) == 0
    on_gc = m.watch_gc()
    try:
        gc.collect(2)
        gc.collect(1)
    finally:
        gc.callbacks.remove(on_gc)
    assert _value(m, "distillwatch_gc_pause_seconds_count", {"generation": "2"}) == 1
    assert _value(m, "distillwatch_gc_pause_seconds_count", {"generation": "1"}) >= 1
    assert _value(m, "distillwatch_gc_pause_seconds_sum", {"generation": "2"}) > 0
    gc.collect(2)  # off: not counted
    assert _value(m, "distillwatch_gc_pause_seconds_count", {"generation": "2"}) == 1
