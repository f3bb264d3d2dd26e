"""Prometheus metrics of a worker, in one object built against a registry.

Names follow Prometheus conventions (``distillwatch_`` prefix, ``_total``
counters, seconds). No label ever holds an account id: per-account data goes
to topics and alerts. Known label values are created up front so every series
exists from the first scrape.

The families the worker changes for every message are :class:`LoopCounter`,
:class:`LoopGauge` and :class:`LoopHistogram`: client_python's own, without its
lock, and the histograms keep their observations until the next collection. Change
and collect them on the event-loop thread only (the worker does).
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from detectors.adapters import FORMATS
from detectors.contract import InvalidEvent
from detectors.engine import CLUSTER_KINDS as _CLUSTER_KIND_CODES

__all__ = ["Metrics", "INVALID_CODES", "ClusterTracker", "FaustMonitorCollector", "LoopCounter", "LoopGauge",
           "LoopHistogram"]

#: Machine codes of :class:`detectors.contract.InvalidEvent`.
INVALID_CODES = ("json", "utf8", "too_large", "not_object", "missing", "type", "range", "format")
SEVERITY_NAMES = ("info", "warning", "critical")
ALERT_STATUSES = ("opened", "escalated", "resolved", "linked")
#: Rate-limit actions (issue 4): what, and what became of it.
ACTION_TYPES = ("throttle", "block", "release")
ACTION_OUTCOMES = ("shadow", "enforced", "allowlisted", "halted", "paused")
PAUSE_REASONS = ("lag", "recovery", "warmup")
DELIVERY_OUTCOMES = ("delivered", "retried", "failed")
#: Stages of one input message, timed separately (issue 4).
STAGES = ("decode", "detect", "state_write", "emit")
CLUSTER_KINDS = tuple(_CLUSTER_KIND_CODES)  # template, prefix
#: Faust's own sensor (``app.monitor``), exported by :class:`FaustMonitorCollector`.
FAUST_FAMILIES = (
    "distillwatch_faust_messages_received_total",
    "distillwatch_faust_messages_active",
    "distillwatch_faust_events_total",
    "distillwatch_faust_events_active",
    "distillwatch_faust_messages_sent_total",
    "distillwatch_faust_send_errors_total",
    "distillwatch_faust_commit_latency_seconds",
    "distillwatch_faust_send_latency_seconds",
    "distillwatch_faust_assignments_total",
    "distillwatch_rebalances_total",
    "distillwatch_rebalancing",
    "distillwatch_consumer_lag_messages",
)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.events = LoopCounter(
            "distillwatch_events_total",
            "Input events by outcome: valid, invalid, duplicate, or rekeyed (forwarded to the re-key topic)",
            ["outcome"],
            registry=r,
        )
        self.invalid = Counter(
            "distillwatch_invalid_events_total", "Rejected events by reason code", ["reason"], registry=r
        )
        self.alerts = Counter(
            "distillwatch_alerts_total", "Alerts emitted by severity and episode status", ["severity", "status"],
            registry=r,
        )
        self.event_lag = LoopHistogram(
            "distillwatch_event_lag_seconds",
            "Processing time minus event time, per processed event",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
            registry=r,
        )
        self.process_seconds = LoopHistogram(
            "distillwatch_message_process_seconds",
            "Time to decode, detect and emit one input message",
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
            registry=r,
        )
        self.fingerprints = LoopCounter(
            "distillwatch_fingerprints_total", "Account fingerprints published for coordination", registry=r
        )
        self.cluster_links = Counter(
            "distillwatch_cluster_evidence_sent_total", "Cluster evidence records sent to member accounts",
            registry=r,
        )
        self.evidence = Counter(
            "distillwatch_cluster_evidence_applied_total", "Cluster evidence records applied to account state",
            registry=r,
        )
        self.evidence_deferred = Counter(
            "distillwatch_cluster_evidence_deferred_total",
            "Cluster evidence records sent round their topic again because the account's state had not yet "
            "reached the fingerprint they answer (a state restored after a crash)",
            registry=r,
        )
        self.labels = Counter(
            "distillwatch_analyst_labels_total",
            "Analyst labels by outcome: abusive or benign (learned), invalid, unknown_account (no state to join)",
            ["outcome"],
            registry=r,
        )
        for outcome in ("abusive", "benign", "invalid", "unknown_account"):
            self.labels.labels(outcome)
        self.model_scorings = Gauge(
            "distillwatch_anomaly_model_scorings",
            "Scorings the anomaly models of this worker's loaded partitions have seen (survives restarts)",
            registry=r,
        )
        self.model_warm = Gauge(
            "distillwatch_anomaly_model_warm_partitions", "Loaded partitions whose anomaly model is warm", registry=r
        )
        self.model_partitions = Gauge(
            "distillwatch_model_partitions_loaded", "Partition contexts (online models) loaded in this worker",
            registry=r,
        )
        self.label_model_labels = Gauge(
            "distillwatch_label_model_labels", "Labels the label models of the loaded partitions have learned",
            ["label"], registry=r,
        )
        self.accounts = Gauge(
            "distillwatch_accounts_tracked", "Accounts with state in this worker's table partitions", registry=r
        )
        # --- rate-limit actions and their deliveries (streams/actions.py) ---
        self.actions = Counter(
            "distillwatch_actions_total",
            "Rate-limit actions decided, by type and outcome: shadow (published, not enforced), enforced, "
            "allowlisted (never actioned), halted (circuit breaker open), paused (fail-open: lag, recovery, warm-up)",
            ["action", "outcome"],
            registry=r,
        )
        for a in ACTION_TYPES:
            for o in ACTION_OUTCOMES:
                self.actions.labels(a, o)
        self.actions_halted = Gauge(
            "distillwatch_actions_halted",
            "1 while the circuit breaker halts automated actions (too large a share of active accounts would be "
            "actioned)",
            registry=r,
        )
        self.enforcement_paused = Gauge(
            "distillwatch_enforcement_paused",
            "1 while new throttles are withheld (fail open), by reason",
            ["reason"],
            registry=r,
        )
        for reason in PAUSE_REASONS:
            self.enforcement_paused.labels(reason)
        self.webhook_deliveries = Counter(
            "distillwatch_webhook_deliveries_total",
            "Signed webhook delivery attempts by outcome: delivered, retried (will try again), failed (gave up)",
            ["outcome"],
            registry=r,
        )
        for o in DELIVERY_OUTCOMES:
            self.webhook_deliveries.labels(o)
        self.webhook_seconds = Histogram(
            "distillwatch_webhook_delivery_seconds",
            "Time of one webhook delivery attempt",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        # --- Alertmanager (streams/alerting.py) ---
        self.alertmanager_posts = Counter(
            "distillwatch_alertmanager_posts_total",
            "POSTs of alerts to the Alertmanager API v2 by outcome: ok or error",
            ["outcome"],
            registry=r,
        )
        for o in ("ok", "error"):
            self.alertmanager_posts.labels(o)
        self.alertmanager_active = Gauge(
            "distillwatch_alertmanager_active_alerts",
            "Open per-account episodes this worker keeps firing in Alertmanager",
            registry=r,
        )
        # Children bound once: .labels() costs a lock and a dict lookup per call.
        self.valid = self.events.labels("valid")
        self.duplicate = self.events.labels("duplicate")
        self.rekeyed = self.events.labels("rekeyed")
        self._invalid_total = self.events.labels("invalid")
        for code in INVALID_CODES:
            self.invalid.labels(code)
        for sev in SEVERITY_NAMES:
            for status in ALERT_STATUSES:
                self.alerts.labels(sev, status)
        # --- Alertmanager, explain view (streams/alerting.py) ---
        self.alertmanager_dropped = Counter(
            "distillwatch_alertmanager_dropped_total",
            "Alerts dropped because the Alertmanager send queue was full (firing ones are re-sent at the next "
            "interval)",
            registry=r,
        )
        # --- operations (issue 4 point 1: lag, stages, scores, signals, models, clusters, state, process) ---
        self.last_event_ts = LoopGauge(
            "distillwatch_last_event_timestamp_seconds",
            "Event time of the newest event this worker processed (Unix seconds)",
            registry=r,
        )
        self.last_processed_ts = LoopGauge(
            "distillwatch_last_processed_timestamp_seconds",
            "Wall-clock time when this worker last processed a valid event (Unix seconds)",
            registry=r,
        )
        self.processing_lag = Gauge(
            "distillwatch_processing_lag_seconds",
            "Now minus the event time of the newest processed event, computed at scrape time: keeps growing "
            "while the pipeline (or its input) stands still; NaN before the first event",
            registry=r,
        )
        self._newest_event_ts = -math.inf
        self.processing_lag.set_function(self._processing_lag)
        self.stage_seconds = LoopHistogram(
            "distillwatch_stage_seconds",
            "Time of one stage of an input message: decode, detect (state load and Detector.process), "
            "state_write (serialise and write the changed states, once per offset commit), "
            "emit (alerts and fingerprints to their topics)",
            ["stage"],
            buckets=(0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25),
            registry=r,
        )
        self.stage = {name: self.stage_seconds.labels(name) for name in STAGES}
        self.scores = LoopHistogram(
            "distillwatch_account_score",
            "Score (0..1) of an account at each scheduled scoring, once it has min_events events",
            buckets=(0.05, 0.1, 0.2, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
            registry=r,
        )
        self.alert_signals = Counter(
            "distillwatch_alert_signals_total",
            "Raised alerts (opened, escalated, linked) by their top signal, a rule name of the rules file",
            ["signal"],
            registry=r,
        )
        self.behaviour_changes = LoopCounter(
            "distillwatch_behaviour_changes_total",
            "Behaviour changes (Page-Hinkley drift in an account's content evidence) detected, by partition",
            ["partition"],
            registry=r,
        )
        self.model_learned = Gauge(
            "distillwatch_anomaly_model_learned",
            "Observations the anomaly models of this worker's loaded partitions have learned (training count)",
            registry=r,
        )
        self.clusters_formed = Counter(
            "distillwatch_clusters_formed_total",
            "Coordination clusters formed (first evidence sent to their members), by kind: template, prefix",
            ["kind"],
            registry=r,
        )
        self.clusters_active = Gauge(
            "distillwatch_clusters_active",
            "Coordination clusters with enough recent members among the fingerprints this worker indexes",
            registry=r,
        )
        for kind in CLUSTER_KINDS:
            self.clusters_formed.labels(kind)
        self.state_bytes = LoopHistogram(
            "distillwatch_account_state_bytes",
            "Serialised size of an account's state at each table write (once per offset commit for a changed state)",
            buckets=(256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536),
            registry=r,
        )
        # --- bad input (docs/reliability.md) ---
        self.rekey_misrouted = Counter(
            "distillwatch_rekey_misrouted_total",
            "Messages on the re-key topic keyed for another account than their own, so not written there by "
            "distillwatch: dropped (counted here so every message read is accounted for)",
            registry=r,
        )
        # --- bounded state ---
        self.expired = Counter(
            "distillwatch_accounts_expired_total",
            "Accounts forgotten after DISTILLWATCH_ACCOUNT_IDLE_SECONDS of event time without a request",
            registry=r,
        )
        for label in ("abusive", "benign"):  # exists before the first timer tick reports the models
            self.label_model_labels.labels(label)
        ProcessCollector(registry=r)  # process_cpu_seconds_total, process_resident_memory_bytes, start time
        self.gc_pause = Histogram(
            "distillwatch_gc_pause_seconds",
            "Pauses of Python's garbage collector, by generation (2: a full collection, which walks every object "
            "made since start-up; the worker keeps its start-up heap out of it); timed once watch_gc() runs",
            ["generation"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=r,
        )
        for generation in ("0", "1", "2"):
            self.gc_pause.labels(generation)
        self.producer_buffer_wait = Histogram(
            "distillwatch_producer_buffer_wait_seconds",
            "Waits of Faust's conductor, which holds fetched messages back from the agent while more than 100 "
            "records (account-state changelog at each offset commit, alerts, re-keyed events) wait in the "
            "producer's send buffer: back-pressure from the broker. The agent works on through the messages "
            "it already has (up to 4,096), so it stops only when those run out",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        # --- input adapters (detectors/adapters) ---
        self.records_skipped = Counter(
            "distillwatch_input_records_skipped_total",
            "Records in input messages that are not API requests (OTLP spans that are not GenAI model calls), "
            "by input format; neither processed nor rejected",
            ["format"],
            registry=r,
        )
        for fmt in FORMATS:
            self.records_skipped.labels(fmt)

    def declare(self, signals: Iterable[str], partitions: int) -> None:
        """Create the children whose label values come from the rules file and the
        partition count, so every series exists (at zero) from the first scrape."""
        for name in signals:
            self.alert_signals.labels(name)
        for p in range(partitions):
            self.behaviour_changes.labels(str(p))

    def watch_faust(self, app, topics: Iterable[str]) -> None:
        """Export Faust's own sensor of ``app`` from this registry; consumer lag
        for each of ``topics`` (the worker's sources)."""
        self.registry.register(FaustMonitorCollector(app, topics))

    def processed(self, event_ts: float, now: float) -> None:
        """A valid event was processed at ``now``: count, lag histogram and the newest event time."""
        self.processed_many(1, 0, [event_ts], now)

    def processed_many(self, valid: int, duplicate: int, event_times: Sequence[float], now: float,
                       newest: float | None = None) -> None:
        """The events of one input message were processed by ``now``: ``valid`` new ones, at
        ``event_times`` (one lag observation each, ``now`` minus event time), and ``duplicate``
        re-deliveries. One metrics update per message, not per event. ``newest``: the largest of
        ``event_times``, when the caller has it."""
        if valid:
            self.valid.inc(valid)
        if duplicate:
            self.duplicate.inc(duplicate)
        if event_times:
            self.event_lag.observe_many_later(now - ts if now > ts else 0.0 for ts in event_times)
            self.last_processed_ts.set(now)
            if newest is None:
                newest = max(event_times)
            if not newest <= self._newest_event_ts:
                self._newest_event_ts = newest
                self.last_event_ts.set(newest)

    def watch_gc(self):
        """Time every garbage collection of this process into :attr:`gc_pause` (once per process: the worker
        calls it at start-up); returns the ``gc.callbacks`` entry, which takes it off again when removed. A
        collection runs in whichever thread allocates, so these are client_python's locked histograms."""
        import gc

        started = [0.0]
        children = [self.gc_pause.labels(str(g)) for g in range(3)]

        def on_gc(phase: str, info: dict) -> None:
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                children[info["generation"]].observe(time.perf_counter() - started[0])

        gc.callbacks.append(on_gc)
        return on_gc

    def scoring(self, state, n_scored_at: int, change_ts: float, partition: int, min_events: int) -> None:
        """What ``Detector.process`` did to ``state``, from the fields it changes
        (``n_scored_at`` and ``change_ts`` as they were before): a scheduled
        scoring of a mature account, a detected behaviour change. Read from the
        state so the pure detectors need no hook."""
        if state.n_scored_at != n_scored_at and state.n >= min_events:
            self.scores.observe_later(state.last_score)
        if state.change_ts != change_ts and not math.isnan(state.change_ts):
            self.behaviour_changes.labels(str(partition)).inc()

    def _processing_lag(self) -> float:
        if self._newest_event_ts == -math.inf:
            return math.nan
        return max(0.0, time.time() - self._newest_event_ts)
    def observe_contexts(self, contexts) -> None:
        """Model health from the loaded partition contexts."""
        contexts = list(contexts)
        self.model_partitions.set(len(contexts))
        self.model_scorings.set(sum(c.anomaly.n_seen for c in contexts))
        self.model_warm.set(sum(1 for c in contexts if c.anomaly.is_warm))
        self.model_learned.set(sum(c.anomaly.n_learned for c in contexts))
        self.label_model_labels.labels("abusive").set(sum(c.labels.n_abusive for c in contexts))
        self.label_model_labels.labels("benign").set(sum(c.labels.n_benign for c in contexts))

    def rejected(self, exc: InvalidEvent) -> None:
        self._invalid_total.inc()
        self.invalid.labels(exc.code).inc()

    def alert(self, alert: dict) -> None:
        self.alerts.labels(alert["severity"], alert["status"]).inc()
        if alert["status"] != "resolved" and alert["reasons"]:
            self.alert_signals.labels(alert["reasons"][0]["signal"]).inc()


class _LoopValue:
    """A metric's value without client_python's lock, for the metrics only the worker's event-loop
    thread changes and collects (its agents, timers and web views all run there, ``/metrics`` too;
    collecting a :class:`LoopHistogram` folds its kept observations in, so it is a change as well).
    ``MutexValue`` takes a lock per change: 0.3 µs a counter increment and 0.7 µs a histogram
    observation in ``timeit``, more between two messages, when nothing is in the cache
    (docs/BENCHMARKS.md)."""

    __slots__ = ("_value", "_exemplar")
    _multiprocess = False

    def __init__(self, *args, **kwargs):
        self._value = 0.0
        self._exemplar = None

    def inc(self, amount):
        self._value += amount

    def set(self, value, timestamp=None):
        self._value = value

    def set_exemplar(self, exemplar):
        self._exemplar = exemplar

    def get(self):
        return self._value

    def get_exemplar(self):
        return self._exemplar


class LoopCounter(Counter):
    """client_python's Counter with :class:`_LoopValue`: change it on the event-loop thread only."""

    def _metric_init(self) -> None:
        super()._metric_init()
        self._value = _LoopValue()


class LoopGauge(Gauge):
    """client_python's Gauge with :class:`_LoopValue`: change it on the event-loop thread only."""

    def _metric_init(self) -> None:
        super()._metric_init()
        self._value = _LoopValue()


class LoopHistogram(Histogram):
    """client_python's Histogram with :class:`_LoopValue` (change it on the event-loop thread only),
    its bucket found by bisection, and a batch of observations taken at once as if each had been
    observed in turn (the worker observes the lag of every event, up to ~10,000 in one message).

    :meth:`observe_later` and :meth:`observe_many_later` only keep the amounts; they go into the
    buckets at the next collection (a scrape, ``get_sample_value``) or once :attr:`FOLD_AT` wait, in
    one bulk pass. The worker's per-message timings and lags take this path: a list append where an
    observation touches the sum, the bounds and a bucket, each missing the cache that Faust's
    per-message path cleared (docs/BENCHMARKS.md). tests/test_metrics.py checks every path against
    client_python's own Histogram."""

    #: Observations kept before they are folded in without waiting for a collection.
    FOLD_AT = 1024

    def _metric_init(self) -> None:
        super()._metric_init()
        self._sum = _LoopValue()
        self._buckets = [_LoopValue() for _ in self._upper_bounds]
        self._pending: list[float] = []

    def observe(self, amount: float, exemplar=None) -> None:
        if exemplar:  # client_python's path keeps the exemplar with its bucket
            super().observe(amount, exemplar)
            return
        self._raise_if_not_observable()
        self._sum._value += amount
        if amount == amount:  # a NaN goes in no bucket, as observe() finds none for it
            self._buckets[bisect_left(self._upper_bounds, amount)]._value += 1  # first bound >= amount

    def observe_many(self, amounts: Sequence[float]) -> None:
        self._raise_if_not_observable()
        if not amounts:
            return
        bounds = self._upper_bounds  # ascending, the last +Inf
        counts = [0] * len(bounds)
        total = 0.0
        for amount in amounts:
            total += amount
            if amount == amount:  # as in observe()
                counts[bisect_left(bounds, amount)] += 1
        self._sum._value += total
        for i, n in enumerate(counts):
            if n:
                self._buckets[i]._value += n

    def observe_later(self, amount: float) -> None:
        """:meth:`observe` at the next collection (of a child: a family with labels has no values)."""
        pending = self._pending
        pending.append(amount)
        if len(pending) >= self.FOLD_AT:
            self.fold()

    def observe_many_later(self, amounts: Iterable[float]) -> None:
        """:meth:`observe_many` at the next collection."""
        pending = self._pending
        pending.extend(amounts)
        if len(pending) >= self.FOLD_AT:
            self.fold()

    def fold(self) -> None:
        """Put the observations kept for later into the buckets."""
        if self._pending:
            pending, self._pending = self._pending, []
            self.observe_many(pending)

    def _child_samples(self):
        self.fold()
        return super()._child_samples()


class ClusterTracker:
    """Which fingerprints this worker indexes form a cluster, for the metrics: a
    cluster becomes active when it first sends evidence to its members, and stays
    active while it keeps enough members and is observed within ``window_seconds``
    of event time (as members lapse from the index). Counts what this worker saw
    since it started."""

    def __init__(self, min_members: int, window_seconds: float):
        self.min_members = min_members
        self.window_seconds = window_seconds
        self._last: dict[bytes, float] = {}  # fingerprint key -> event time of its last observation
        self._newest = -math.inf

    def observe(self, key: bytes, sent_evidence: bool, members: int, ts: float) -> bool:
        """Record one observation of the fingerprint; True when it formed a new cluster."""
        self._newest = max(self._newest, ts)
        if members < self.min_members:
            self._last.pop(key, None)
            return False
        formed = sent_evidence and key not in self._last
        if sent_evidence or key in self._last:
            self._last[key] = ts
        return formed

    def active(self) -> int:
        horizon = self._newest - self.window_seconds
        for key in [k for k, ts in self._last.items() if ts < horizon]:
            del self._last[key]
        return len(self._last)


class FaustMonitorCollector:
    """The useful parts of Faust's own sensor (``app.monitor``), read at scrape time.

    Faust keeps these counts anyway; reading them per scrape costs nothing per
    message (``faust.sensors.prometheus`` would add a second sensor call per
    message and table key, with millisecond units and unconventional names).
    Latencies are the median of Faust's recent history (its deques).
    """

    def __init__(self, app, topics: Iterable[str]):
        self.app = app
        self.topics = tuple(dict.fromkeys(topics))  # every source topic has a lag series, 0 until Faust knows more

    def describe(self):
        return []  # names are only known at collect time; nothing to check at register time

    def collect(self):
        m = self.app.monitor
        yield _counter("distillwatch_faust_messages_received_total", "Messages Faust received",
                       m.messages_received_total)
        yield _gauge("distillwatch_faust_messages_active", "Messages received and not yet acknowledged",
                     m.messages_active)
        yield _counter("distillwatch_faust_events_total", "Stream events Faust started", m.events_total)
        yield _gauge("distillwatch_faust_events_active", "Stream events in progress", m.events_active)
        yield _counter("distillwatch_faust_messages_sent_total", "Messages Faust produced", m.messages_sent)
        yield _counter("distillwatch_faust_send_errors_total", "Messages Faust failed to produce", m.send_errors)
        yield _gauge("distillwatch_faust_commit_latency_seconds", "Median recent offset-commit latency",
                     _median(m.commit_latency))
        yield _gauge("distillwatch_faust_send_latency_seconds", "Median recent produce latency",
                     _median(m.send_latency))
        assignments = CounterMetricFamily("distillwatch_faust_assignments", "Partition assignments by outcome",
                                          labels=["outcome"])
        assignments.add_metric(["completed"], m.assignments_completed)
        assignments.add_metric(["failed"], m.assignments_failed)
        yield assignments
        yield _counter("distillwatch_rebalances", "Consumer-group rebalances this worker went through",
                       self.app.rebalancing_count)
        yield _gauge("distillwatch_rebalancing", "1 while this worker is rebalancing or recovering tables",
                     1.0 if self.app.rebalancing else 0.0)
        lag = GaugeMetricFamily("distillwatch_consumer_lag_messages",
                                "Messages not yet read in this worker's assigned partitions (high water minus "
                                "read offset), by topic", labels=["topic"])
        known = _consumer_lag(m)
        for topic in self.topics:
            lag.add_metric([topic], known.get(topic, 0.0))
        yield lag


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name.removesuffix("_total"), doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _median(values) -> float:
    v = sorted(values)
    return v[len(v) // 2] if v else 0.0


def _consumer_lag(monitor) -> dict[str, float]:
    """Per topic: high water (next offset) minus the next offset to read, over the
    partitions whose end offset Faust has seen."""
    out: dict[str, float] = {}
    read = monitor.tp_read_offsets
    committed = monitor.tp_committed_offsets
    for tp, end in list(monitor.tp_end_offsets.items()):
        position = read[tp] + 1 if tp in read else committed.get(tp, 0)
        out[tp.topic] = out.get(tp.topic, 0.0) + max(0, end - position)
    return out
