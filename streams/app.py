"""The Faust application: input topic → decode → per-account state → alerts.

::

    api-requests ──────────┐  (all keyed by account_id, co-partitioned with the tables)
    api-requests-rekeyed ──┤
    distillwatch-evidence ─┤
    analyst-labels ────────┴─► detect agent
        │ invalid ─────────────────────► api-requests-dlq (original bytes, reason in headers)
        │ key missing / not the account ► api-requests-rekeyed (key = account_id)
        │ Detector.process(state, event, ctx) — the code replay runs
        ├─► account-state table, partition-context table (changelog-backed, versioned bytes)
        ├─► abuse-alerts (JSON, key = account_id)
        ├─► alert-history table (explain view), alertmanager-open table ─► Alertmanager (streams/alerting.py)
        ├─► rate-limit decisions (streams/actions.py) ─► rate-limit-actions (compacted), webhooks;
        │   action-history table (explain view)
        └─► distillwatch-fingerprints (key = fingerprint)
                 └─► coordinate agent (fingerprint-index table) ─► distillwatch-evidence

The agent is thin: it decodes, calls :class:`detectors.engine.Detector`, and
emits; all detection logic lives in ``detectors/``. The web server has
``/metrics`` and ``/healthz`` (open) and the admin views of
:mod:`streams.explain` (bearer token). The table is keyed by the
account id and co-partitioned with the input: an event reaches the worker that
owns its account's state, because it is keyed by account on the input topic or
re-keyed through the re-key topic first.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import faust
import orjson

from detectors.contract import InvalidEvent, decode
from detectors.coordination import Evidence, Fingerprint, FingerprintIndex
from detectors.engine import Detector, PartitionContext
from detectors.labels import decode_label
from detectors.rules import Rules

from .actions import Actions
from .alerting import Alertmanager
from .explain import ACTION_HISTORY_TABLE, HISTORY_TABLE, ActionHistory, AlertHistory, install_views
from .metrics import Metrics
from .settings import Settings

__all__ = ["build_app", "Components", "DLQ_REASON_HEADER", "DLQ_FIELD_HEADER", "DLQ_CODE_HEADER"]

log = logging.getLogger(__name__)

DLQ_REASON_HEADER = "distillwatch-error"
DLQ_FIELD_HEADER = "distillwatch-error-field"
DLQ_CODE_HEADER = "distillwatch-error-code"
TABLE_NAME = "account-state"
CONTEXT_TABLE = "partition-context"
FINGERPRINT_TABLE = "fingerprint-index"


@dataclass
class Components:
    """What :func:`build_app` built, for the CLI and the tests."""

    app: faust.App
    detector: Detector
    metrics: Metrics
    table: faust.Table


def _faust_settings(settings: Settings) -> dict:
    datadir = settings.datadir.resolve()
    datadir.mkdir(parents=True, exist_ok=True)  # Faust does not create parents
    return dict(
        broker=settings.faust_broker,
        store=settings.store,
        datadir=str(datadir / settings.app_id),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=max(0.5, settings.session_timeout / 4),
        producer_max_batch_size=settings.producer_max_batch_size,
        web_enabled=settings.web_enabled,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_tables_enabled=False,  # would serve table contents over HTTP
        consumer_auto_offset_reset="earliest",
    )


def build_app(settings: Settings, *, metrics: Metrics | None = None, detector: Detector | None = None) -> Components:
    """Build the Faust app from validated settings (nothing global)."""
    detector = detector or Detector(Rules.load(settings.rules_file))
    metrics = metrics or Metrics()
    app = faust.App(settings.app_id, **_faust_settings(settings))

    raw_kw = dict(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    raw = faust.Schema(**raw_kw)
    parts = settings.partitions
    source = app.topic(settings.input_topic, settings.rekey_topic, settings.evidence_topic, settings.labels_topic,
                       partitions=parts, **raw_kw)
    labels_topic = app.topic(settings.labels_topic, partitions=parts, **raw_kw)
    rekey = app.topic(settings.rekey_topic, partitions=parts, **raw_kw)
    evidence_topic = app.topic(settings.evidence_topic, partitions=parts, **raw_kw)
    fingerprints_topic = app.topic(settings.fingerprints_topic, partitions=parts, **raw_kw)
    dlq = app.topic(settings.dlq_topic, **raw_kw)
    alerts_topic = app.topic(settings.alerts_topic, **raw_kw)

    def raw_table(name: str) -> faust.Table:
        # key_type/value_type bytes make Faust's changelog serializer "raw" (the schema alone does not)
        return app.Table(name, default=None, partitions=parts, key_type=bytes, value_type=bytes, schema=raw)

    table = raw_table(TABLE_NAME)  # account id -> AccountState bytes (versioned, detectors.state)
    contexts_table = raw_table(CONTEXT_TABLE)  # b"p<N>" -> PartitionContext bytes (models, baselines)
    fingerprint_table = raw_table(FINGERPRINT_TABLE)  # fingerprint -> FingerprintIndex bytes
    history = AlertHistory(raw_table(HISTORY_TABLE))  # account id -> its last alerts (explain view)
    action_history = ActionHistory(raw_table(ACTION_HISTORY_TABLE))  # account id -> its last action decisions
    alertmanager = Alertmanager.install(app, settings, metrics, raw_table)  # None when no URL is set
    contexts = ContextCache(detector, contexts_table, settings.context_checkpoint_seconds)
    actions = Actions(settings, app, metrics, contexts.loaded) if settings.actions_enabled else None
    max_bytes = settings.max_event_bytes
    rekey_name = settings.rekey_topic
    evidence_name = settings.evidence_topic
    labels_name = settings.labels_topic

    async def emit(account_key: bytes, alerts: list[dict], fps: list) -> None:
        for alert in alerts:
            metrics.alert(alert)
            log.info(
                "alert %s account=%s severity=%s status=%s score=%.3f",
                alert["alert_id"], alert["account_id"], alert["severity"], alert["status"], alert["score"],
            )
            await alerts_topic.send(key=account_key, value=orjson.dumps(alert))
            # [actions] hook: rate-limit ladder for this alert
            if actions is not None:
                decision = await actions.handle(alert)
                if decision.outcome is not None:
                    action_history.record(account_key, alert, decision)
            # [alerting] hook: Alertmanager push for this alert
            history.record(account_key, alert)
            if alertmanager is not None:
                alertmanager.on_alert(account_key, alert)
        for fp in fps:
            metrics.fingerprints.inc()
            await fingerprints_topic.send(key=fp.key, value=orjson.dumps(fp.to_dict()))

    async def handle_evidence(message) -> None:
        try:
            ev = Evidence.from_dict(orjson.loads(message.value))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.error("unreadable evidence record at %s/%s/%s", message.topic, message.partition, message.offset)
            return
        account_key = ev.account_id.encode()
        data = table.get(account_key)
        if data is None:
            return  # the account expired since it published the fingerprint
        state = detector.load_state(ev.account_id, data)
        alerts: list[dict] = []
        detector.apply_evidence(state, ev, alerts, contexts.get(message.partition))
        table[account_key] = state.to_bytes()
        metrics.evidence.inc()
        await emit(account_key, alerts, ())

    async def handle_label(message) -> None:
        try:
            label = decode_label(message.value or b"")
        except InvalidEvent as exc:
            metrics.labels.labels("invalid").inc()
            log.warning("rejected analyst label at %s/%s: %s", message.partition, message.offset, exc)
            return
        account_key = label.account_id.encode()
        if message.key != account_key:  # re-key once, onto the same topic
            await labels_topic.send(key=account_key, value=message.value)
            return
        data = table.get(account_key)
        if data is None:
            metrics.labels.labels("unknown_account").inc()
            log.warning("analyst label for an account without state; not learned")
            return
        state = detector.load_state(label.account_id, data)
        detector.learn_label(state, label.abusive, contexts.get(message.partition))
        metrics.labels.labels("abusive" if label.abusive else "benign").inc()
        log.info("learned analyst label %s for account=%s from %s",
                 "abusive" if label.abusive else "benign", label.account_id, label.analyst)

    async def handle(message) -> None:
        if message.topic == evidence_name:
            await handle_evidence(message)
            return
        if message.topic == labels_name:
            await handle_label(message)
            return
        value = message.value
        key = message.key
        try:
            ev = decode(value if value is not None else b"", max_bytes=max_bytes)
        except InvalidEvent as exc:
            metrics.rejected(exc)
            headers = [
                (DLQ_REASON_HEADER, str(exc).encode()),
                (DLQ_CODE_HEADER, exc.code.encode()),
                ("distillwatch-source", f"{message.topic}/{message.partition}/{message.offset}".encode()),
            ]
            if exc.field:
                headers.append((DLQ_FIELD_HEADER, exc.field.encode()))
            await dlq.send(key=key, value=value, headers=headers)
            return
        account_key = ev.account_id.encode()
        if key != account_key:
            if message.topic == rekey_name:  # never loop: we keyed it ourselves
                log.error("re-keyed message with key %r for another account; dropped", key)
                return
            metrics.rekeyed.inc()
            await rekey.send(key=account_key, value=value)
            return
        state = detector.load_state(ev.account_id, table.get(account_key))
        # Faust commits offsets every few seconds: after a crash the events since the last commit are read
        # again. The state knows the offsets it has absorbed, so those count as duplicates, exactly once.
        offset_field = "next_rekey_offset" if message.topic == rekey_name else "next_input_offset"
        if message.offset < getattr(state, offset_field):
            metrics.duplicate.inc()
            return
        setattr(state, offset_field, message.offset + 1)
        alerts: list[dict] = []
        fps: list = []
        ctx = contexts.get(message.partition)
        if not detector.process(state, ev, alerts, ctx, fps):
            metrics.duplicate.inc()
            return
        metrics.valid.inc()
        if actions is not None:
            actions.seen(ev.account_id, ev.ts)  # the circuit breaker's count of active accounts
        metrics.event_lag.observe(max(0.0, time.time() - ev.ts))
        table[account_key] = state.to_bytes()
        contexts.maybe_checkpoint(message.partition)
        await emit(account_key, alerts, fps)

    @app.agent(source, name="detect")
    async def detect(stream):
        async for event in stream.events():
            t0 = time.perf_counter()
            await handle(event.message)
            metrics.process_seconds.observe(time.perf_counter() - t0)

    @app.agent(fingerprints_topic, name="coordinate")
    async def coordinate(stream):
        """Repartitioned by fingerprint: which accounts share it; evidence back to them."""
        async for event in stream.events():
            message = event.message
            try:
                fp = Fingerprint.from_dict(orjson.loads(message.value))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                log.error("unreadable fingerprint record at %s/%s", message.partition, message.offset)
                continue
            index = FingerprintIndex.from_bytes(fingerprint_table.get(message.key) or b"", detector.coordination)
            out = index.observe(fp)
            fingerprint_table[message.key] = index.to_bytes()
            for e in out:
                metrics.cluster_links.inc()
                await evidence_topic.send(key=e.account_id.encode(), value=orjson.dumps(e.to_dict()))

    @app.on_partitions_revoked.connect
    async def on_revoked(app, revoked, **kwargs) -> None:
        contexts.forget(tp.partition for tp in revoked if tp.topic == settings.input_topic)

    @app.timer(interval=5.0)
    async def report_state():
        metrics.accounts.set(len(table))
        metrics.observe_contexts(contexts.loaded())

    @app.page("/metrics")
    async def metrics_view(web, request):
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return web.bytes(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    install_views(app, settings, detector, table, contexts, history, action_history, labels_topic)

    @app.page("/healthz")
    async def healthz(web, request):
        return web.json({"status": "ok", "app_id": settings.app_id})

    return Components(app=app, detector=detector, metrics=metrics, table=table)


class ContextCache:
    """Partition contexts in memory, loaded from and checkpointed to their table.

    A context is written back at most every ``checkpoint_seconds`` (wall
    clock), from an event of its own partition, so its changelog entry lands in
    that partition. A revoked partition's copy is dropped: whoever owns the
    partition next reloads the table entry.
    """

    def __init__(self, detector: Detector, table, checkpoint_seconds: float):
        self.detector = detector
        self.table = table
        self.checkpoint_seconds = checkpoint_seconds
        self._contexts: dict[int, PartitionContext] = {}
        self._saved: dict[int, float] = {}

    @staticmethod
    def key(partition: int) -> bytes:
        return f"p{partition}".encode()

    def get(self, partition: int) -> PartitionContext:
        ctx = self._contexts.get(partition)
        if ctx is None:
            data = self.table.get(self.key(partition))
            ctx = self.detector.load_context(data)
            self._contexts[partition] = ctx
            self._saved[partition] = time.monotonic()
        return ctx

    def maybe_checkpoint(self, partition: int) -> None:
        now = time.monotonic()
        if now - self._saved.get(partition, 0.0) >= self.checkpoint_seconds and partition in self._contexts:
            self.table[self.key(partition)] = self._contexts[partition].to_bytes()
            self._saved[partition] = now

    def loaded(self):
        return self._contexts.values()

    def forget(self, partitions) -> None:
        for p in partitions:
            self._contexts.pop(p, None)
            self._saved.pop(p, None)
