"""Rate-limit actions in the worker: alerts in, actions out to a compacted topic and signed webhooks.

Thin wiring around :class:`detectors.actions.ActionPolicy` (which decides):
``streams/app.py`` calls :meth:`Actions.seen` for every valid event (the
breaker's count of active accounts) and :meth:`Actions.handle` for every
alert. A decided action goes to ``settings.actions_topic`` (compacted, key =
account id) and to every ``settings.webhook_urls`` through
:class:`streams.webhooks.WebhookSender`. Circuit breaker changes go to the
same topic under the key ``__circuit_breaker__``, set
``distillwatch_actions_halted`` and are logged at CRITICAL when it opens.
What consumers see: ``docs/hooks.md``.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterable

import faust
import mode
import orjson

from detectors.actions import BREAKER_KEY, ActionPolicy, BreakerConfig, Decision, Health, Ladder, action_id
from detectors.contract import parse_timestamp
from detectors.engine import PartitionContext

from .metrics import PAUSE_REASONS, Metrics
from .settings import Settings
from .webhooks import WebhookSender

__all__ = ["Actions", "build_policy"]

log = logging.getLogger(__name__)


def build_policy(settings: Settings) -> ActionPolicy:
    """The action policy the settings describe (also used by ``distillwatch release``)."""
    return ActionPolicy(
        Ladder.load(settings.actions_file),
        BreakerConfig(
            trip_share=settings.actions_breaker_share,
            close_share=settings.actions_breaker_close_share,
            window_seconds=settings.actions_breaker_window_seconds,
            min_active_accounts=settings.actions_breaker_min_active,
        ),
        shadow=settings.actions_shadow,
        allowlist=settings.allowlisted_accounts,
        max_lag_seconds=settings.actions_max_lag_seconds,
    )


class _DeliveryService(mode.Service):
    """Starts and stops the webhook sender with the Faust app."""

    def __init__(self, sender: WebhookSender, **kwargs):
        self.sender = sender
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        await self.sender.start()

    async def on_stop(self) -> None:
        await self.sender.stop()


class Actions:
    """One worker's rate-limit action component (state is per worker, in memory)."""

    def __init__(self, settings: Settings, app: faust.App, metrics: Metrics,
                 contexts: Callable[[], Iterable[PartitionContext]]):
        self.policy = build_policy(settings)
        self.app = app
        self.metrics = metrics
        self.contexts = contexts
        self.warmup_guard = settings.actions_warmup_guard
        self._paused: str | None = None
        self.worker = f"{socket.gethostname()}:{os.getpid()}"  # whose breaker: each worker has its own
        self.topic = app.topic(settings.actions_topic, key_type=bytes, value_type=bytes, key_serializer="raw",
                               value_serializer="raw")
        self.sender = None
        if settings.webhook_urls:
            self.sender = WebhookSender(
                settings.webhook_urls, settings.webhook_signing_secret, metrics,
                queue_size=settings.webhook_queue_size, max_attempts=settings.webhook_max_attempts,
                timeout_seconds=settings.webhook_timeout_seconds,
            )
            app.service(_DeliveryService(self.sender))
        app.timer(interval=5.0, name="actions-tick")(self.tick)
        log.info("rate-limit actions on: topic %s, %s, %d webhook URL(s), %d allowlisted account(s)",
                 settings.actions_topic, "shadow mode" if settings.actions_shadow else "ENFORCING",
                 len(settings.webhook_urls), len(self.policy.allowlist))

    def seen_many(self, accounts: list[str], times: list[float], now: float | None = None) -> None:
        """Valid events of ``accounts`` at ``times``, in order (``now``: the wall clock, when the caller
        has read it; far-future event times are left out)."""
        self.policy.seen_many(accounts, times, time.time() if now is None else now)

    def health(self, event_ts: float) -> Health:
        """Fail-open inputs, from the worker's own view of itself."""
        warming = False
        if self.warmup_guard:
            loaded = list(self.contexts())
            warming = not loaded or any(not c.anomaly.is_warm for c in loaded)
        return Health(
            lag_seconds=time.time() - event_ts,
            recovering=bool(self.app.in_recovery or self.app.rebalancing),
            warming=warming,
        )

    def handle(self, alert: dict) -> Decision:
        """Decide, count, log, publish and deliver; returns the decision (for the explain view's history).

        Synchronous: the action goes into the producer's send buffer (``send_soon``), which publishes in
        order and whose delivery the next offset commit awaits. The caller hands everything a message
        produced to that buffer before it yields, so no table write that records the message as handled
        (account states, written at a commit) can reach the broker ahead of its actions
        (docs/guarantees.md)."""
        decision = self.policy.decide(alert, self.health(parse_timestamp(alert["detected_at"])))
        if decision.breaker is not None:
            self._breaker_changed(decision.breaker)
        if decision.outcome is None:
            return decision
        if decision.action != "release" and decision.outcome in ("paused", "shadow", "enforced"):
            self._show_pause(decision.pause_reason)  # a decision that looked at the worker's health
        self.metrics.actions.labels(decision.action, decision.outcome).inc()
        if decision.record is None:
            log.info("no %s for account=%s (alert %s): %s%s", decision.action, alert["account_id"],
                     alert["alert_id"], decision.outcome, f" ({decision.pause_reason})" if decision.pause_reason else "")
            return decision
        rec = decision.record
        body = orjson.dumps(rec)
        self.topic.send_soon(key=rec["account_id"].encode(), value=body)
        if self.sender is not None:
            self.sender.submit(rec["action_id"], body)
        log.info("action %s %s account=%s limit=%s expires=%s (%s)", rec["action_id"], rec["action"],
                 rec["account_id"], rec["limit_per_minute"], rec["expires_at"], decision.outcome)
        return decision

    async def tick(self) -> None:
        """Every few seconds: expire actions, let the breaker close as event time moves on."""
        change = self.policy.tick()
        if change is not None:
            self._breaker_changed(change)
        latest = self.policy.breaker.now  # event time of the newest event seen
        if latest > float("-inf"):
            self._show_pause(self.health(latest).pause_reason(self.policy.max_lag_seconds))

    def _show_pause(self, reason: str | None) -> None:
        """Gauge per reason, and one log line when enforcement pauses or resumes (not one per alert)."""
        for r in PAUSE_REASONS:
            self.metrics.enforcement_paused.labels(r).set(1 if r == reason else 0)
        if reason != self._paused:
            if reason:
                log.warning("enforcement paused (%s): fail open, no new throttles or blocks; releases still go out",
                            reason)
            else:
                log.warning("enforcement resumed (was paused for %s)", self._paused)
            self._paused = reason

    def _breaker_changed(self, record: dict) -> None:
        opened = record["state"] == "open"
        self.metrics.actions_halted.set(1 if opened else 0)
        log.log(
            logging.CRITICAL if opened else logging.WARNING,
            "circuit breaker %s: %d of %d active accounts (%.1f %%) would be actioned within %g s; "
            "automated throttles and blocks are %s",
            record["state"].upper(), record["actioned_accounts"], record["active_accounts"], 100 * record["share"],
            record["window_seconds"], "HALTED" if opened else "resumed",
        )
        record = {**record, "worker": self.worker}
        record["breaker_id"] = action_id(BREAKER_KEY, record["state"], record["at"], self.worker)
        body = orjson.dumps(record)
        self.topic.send_soon(key=BREAKER_KEY.encode(), value=body)
        if self.sender is not None:
            self.sender.submit(record["breaker_id"], body)


def release_account(settings: Settings, account_id: str, *, note: str = "", now: float | None = None,
                    timeout_s: float = 30.0) -> dict:
    """``distillwatch release``: publish a manual release of the account's latest action (and deliver it).

    Reads the actions topic from the start to find the account's latest record
    (the topic is compacted, so this is about one record per account), then
    publishes the release under the account's key and sends it to the
    configured webhooks. Returns the release record.
    """
    import asyncio

    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    from detectors.actions import manual_release

    from .kafka_security import kafka_client_kwargs

    security = kafka_client_kwargs(settings)
    consumer = KafkaConsumer(bootstrap_servers=settings.broker, enable_auto_commit=False, group_id=None,
                             consumer_timeout_ms=1000, **security)
    latest = None
    try:
        parts = consumer.partitions_for_topic(settings.actions_topic) or set()
        tps = [TopicPartition(settings.actions_topic, p) for p in parts]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        key = account_id.encode()
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in tps) and time.monotonic() < deadline:
            for msg in consumer:
                if msg.key == key:
                    latest = orjson.loads(msg.value)
    finally:
        consumer.close()
    ttl = Ladder.load(settings.actions_file).release_ttl_seconds
    record = manual_release(account_id, latest, now=time.time() if now is None else now,
                            shadow=settings.actions_shadow, ttl_seconds=ttl, note=note)
    body = orjson.dumps(record)
    producer = KafkaProducer(bootstrap_servers=settings.broker, **security)
    try:
        producer.send(settings.actions_topic, key=account_id.encode(), value=body).get(timeout=timeout_s)
    finally:
        producer.close()
    if settings.webhook_urls:
        asyncio.run(_deliver_now(settings, record["action_id"], body))
    return record


async def _deliver_now(settings: Settings, msg_id: str, body: bytes) -> None:
    sender = WebhookSender(settings.webhook_urls, settings.webhook_signing_secret, Metrics(),
                           max_attempts=settings.webhook_max_attempts,
                           timeout_seconds=settings.webhook_timeout_seconds)
    await sender.start()
    try:
        sender.submit(msg_id, body)
        await sender.drain()
    finally:
        await sender.stop()
