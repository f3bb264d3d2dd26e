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
