"""Per-account alerts pushed to Alertmanager (API v2) while their episode is open.

Each account with an open episode is one Alertmanager alert::

    labels       alertname="DistillationHarvesting", severity, account_id,
                 cluster_id (once the episode is linked to a cluster), service="distillwatch"
    annotations  summary, description (the top reasons against the population
                 baseline), explain_url
    startsAt     the episode's opening (event time)
    generatorURL the explain view of the account

Alertmanager forgets an alert that is not re-sent within its
``resolve_timeout``, so every open episode is re-sent every
``alertmanager_resend_seconds``; when the episode resolves the alert is sent
once more with ``endsAt``. A change of labels (escalation to a higher
severity, a cluster found) makes a new alert in Alertmanager, so the old label
set is ended at once instead of lingering until its timeout.

The open set is a changelog-backed table (``alertmanager-open``, account id →
the alert as last sent, JSON), written from the detect agent like the account
state, so a restarted or rebalanced worker recovers it and carries on
re-sending. Sending never blocks the agent: alerts go into a bounded queue
that a background task posts in batches, with retries and exponential
backoff. When the queue is full an alert is dropped (and counted); a firing
alert is re-sent at the next interval anyway, and a dropped resolution
resolves in Alertmanager by its timeout, since the alert is no longer re-sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import quote

import aiohttp
import faust
import orjson

from detectors.contract import format_timestamp, parse_timestamp
from detectors.engine import partition_for

from .metrics import Metrics
from .settings import Settings

__all__ = ["alertmanager_alert", "explain_url", "Alertmanager", "OPEN_TABLE", "ALERTNAME"]

log = logging.getLogger(__name__)

OPEN_TABLE = "alertmanager-open"
ALERTNAME = "DistillationHarvesting"
QUEUE_SIZE = 10_000
BATCH = 100
MAX_ATTEMPTS = 5
POST_TIMEOUT = 10.0


def explain_url(base_url: str, account_id: str) -> str:
    """The worker's explain view of ``account_id`` (any characters: quoted as one path segment)."""
    return f"{base_url}/explain/{quote(account_id, safe='')}"


def _describe(reason: dict) -> str:
    text = f"{reason['signal']} {reason['value']:.3g} (counts from {reason['threshold']:.3g})"
    base = reason.get("baseline")
    if base:
        text += f" vs population median {base['median']:.3g}, p90 {base['p90']:.3g}, p99 {base['p99']:.3g}"
    return text


def alertmanager_alert(alert: dict, base_url: str, previous: dict | None = None) -> dict[str, Any]:
    """The Alertmanager v2 alert for a distillwatch alert (firing: no ``endsAt``).

    ``previous`` is the alert last sent for this episode: its ``cluster_id``
    is kept when this transition carries no cluster, so the label set does
    not flap between alerts of one episode.
    """
    account = alert["account_id"]
    labels = {"alertname": ALERTNAME, "severity": alert["severity"], "account_id": account,
              "service": "distillwatch"}
    cluster_id = (alert.get("cluster") or {}).get("cluster_id") or (previous or {}).get("labels", {}).get("cluster_id")
    if cluster_id:
        labels["cluster_id"] = cluster_id
    link = explain_url(base_url, account)
    reasons = alert.get("reasons") or []
    return {
        "labels": labels,
        "annotations": {
            "summary": f"account {account}: {alert['severity']} distillation harvesting, score {alert['score']:.2f}",
            "description": "; ".join(_describe(r) for r in reasons) or "no reasons recorded",
            "explain_url": link,
        },
        "startsAt": alert["episode_opened_at"],
        "generatorURL": link,
    }


def _ended(payload: dict, at: float) -> dict:
    """``payload`` resolved at ``at`` (never before it started: Alertmanager rejects that)."""
    start = parse_timestamp(payload["startsAt"])
    return {**payload, "endsAt": format_timestamp(max(at, start))}


class Alertmanager:
    """Keeps the open set and feeds the sender; built by :meth:`install`."""

    def __init__(self, app: faust.App, settings: Settings, metrics: Metrics, table: faust.Table):
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.table = table
        self.url = f"{settings.alertmanager_url}/api/v2/alerts"
        self.queue: asyncio.Queue[dict] | None = None  # made in the worker's event loop

    @classmethod
    def install(cls, app: faust.App, settings: Settings, metrics: Metrics, raw_table) -> Alertmanager | None:
        """Register the open-set table, the re-send timer and the sender task; None when no URL is set."""
        if not settings.alertmanager_url:
            return None
        am = cls(app, settings, metrics, raw_table(OPEN_TABLE))
        app.timer(interval=settings.alertmanager_resend_seconds, name="alertmanager-resend")(am.resend)
        app.task(am.sender)
        return am

    def on_alert(self, account_key: bytes, alert: dict) -> None:
        """Update the open set for one alert (from the detect agent) and queue what to send."""
        raw = self.table.get(account_key)
        previous = orjson.loads(raw) if raw else None
        now = time.time()
        if alert["status"] == "resolved":
            payload = previous or alertmanager_alert(alert, self.settings.base_url)
            # resolved at the event time of the resolution, or now if that is ahead of the wall clock
            self._enqueue(_ended(payload, min(parse_timestamp(alert["detected_at"]), now)))
            if previous is not None:
                del self.table[account_key]
            return
        payload = alertmanager_alert(alert, self.settings.base_url, previous)
        if previous is not None and previous["labels"] != payload["labels"]:
            self._enqueue(_ended(previous, now))  # superseded label set: end it now
        self.table[account_key] = orjson.dumps(payload)
        self._enqueue(payload)

    async def resend(self) -> None:
        """Re-send every open episode of the partitions this worker owns (standby copies are not ours)."""
        parts = self.settings.partitions
        topic = self.settings.input_topic
        owned = {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topic}
        n = 0
        for key, raw in list(self.table.items()):
            if raw and partition_for(key, parts) in owned:
                self._enqueue(orjson.loads(raw))
                n += 1
        self.metrics.alertmanager_active.set(n)

    def _enqueue(self, payload: dict) -> None:
        if self.queue is None:
            self.queue = asyncio.Queue(QUEUE_SIZE)
        try:
            self.queue.put_nowait(payload)
        except asyncio.QueueFull:
            self.metrics.alertmanager_dropped.inc()
            log.warning("Alertmanager queue full (%d); alert for account=%s dropped",
                        QUEUE_SIZE, payload["labels"]["account_id"])

    async def sender(self) -> None:
        """Post queued alerts in batches for as long as the worker runs."""
        if self.queue is None:
            self.queue = asyncio.Queue(QUEUE_SIZE)
        timeout = aiohttp.ClientTimeout(total=POST_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                batch = [await self.queue.get()]
                while len(batch) < BATCH and not self.queue.empty():
                    batch.append(self.queue.get_nowait())
                await self._post(session, batch)

    async def _post(self, session: aiohttp.ClientSession, batch: list[dict]) -> None:
        delay = 0.5
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                async with session.post(self.url, json=batch) as resp:
                    if resp.status < 300:
                        self.metrics.alertmanager_posts.labels("ok").inc()
                        return
                    problem = f"HTTP {resp.status}: {(await resp.text())[:200]}"
            except (TimeoutError, aiohttp.ClientError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            self.metrics.alertmanager_posts.labels("error").inc()
            if attempt == MAX_ATTEMPTS:
                log.error("Alertmanager POST failed %d times (%s); %d alerts dropped until the next re-send",
                          attempt, problem, len(batch))
                return
            log.warning("Alertmanager POST failed (%s); retrying in %.1fs", problem, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
