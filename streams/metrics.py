"""Prometheus metrics of a worker, in one object built against a registry.

Names follow Prometheus conventions (``distillwatch_`` prefix, ``_total``
counters, seconds). No label ever holds an account id: per-account data goes
to topics and alerts. Known label values are created up front so every series
exists from the first scrape.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from detectors.contract import InvalidEvent

__all__ = ["Metrics", "INVALID_CODES"]

#: Machine codes of :class:`detectors.contract.InvalidEvent`.
INVALID_CODES = ("json", "utf8", "too_large", "not_object", "missing", "type", "range", "format")
SEVERITY_NAMES = ("info", "warning", "critical")
ALERT_STATUSES = ("opened", "escalated", "resolved", "linked")
#: Rate-limit actions (issue 4): what, and what became of it.
ACTION_TYPES = ("throttle", "block", "release")
ACTION_OUTCOMES = ("shadow", "enforced", "allowlisted", "halted", "paused")
PAUSE_REASONS = ("lag", "recovery", "warmup")
DELIVERY_OUTCOMES = ("delivered", "retried", "failed")


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.events = Counter(
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
        self.event_lag = Histogram(
            "distillwatch_event_lag_seconds",
            "Processing time minus event time, per processed event",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
            registry=r,
        )
        self.process_seconds = Histogram(
            "distillwatch_message_process_seconds",
            "Time to decode, detect and emit one input message",
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
            registry=r,
        )
        self.fingerprints = Counter(
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
        # --- input adapters (detectors/adapters) ---
        self.records_skipped = Counter(
            "distillwatch_input_records_skipped_total",
            "Records in input messages that are not API requests (OTLP spans that are not GenAI model calls), "
            "by input format; neither processed nor rejected",
            ["format"],
            registry=r,
        )

    def observe_contexts(self, contexts) -> None:
        """Model health from the loaded partition contexts."""
        contexts = list(contexts)
        self.model_partitions.set(len(contexts))
        self.model_scorings.set(sum(c.anomaly.n_seen for c in contexts))
        self.model_warm.set(sum(1 for c in contexts if c.anomaly.is_warm))
        self.label_model_labels.labels("abusive").set(sum(c.labels.n_abusive for c in contexts))
        self.label_model_labels.labels("benign").set(sum(c.labels.n_benign for c in contexts))

    def rejected(self, exc: InvalidEvent) -> None:
        self._invalid_total.inc()
        self.invalid.labels(exc.code).inc()

    def alert(self, alert: dict) -> None:
        self.alerts.labels(alert["severity"], alert["status"]).inc()
