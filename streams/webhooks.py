"""Standard Webhooks signing, verification and delivery (https://www.standardwebhooks.com/).

A delivery is an HTTP POST of the JSON action record with three headers:

- ``webhook-id``: the action's ``action_id``; the same on every retry, so it
  is the receiver's idempotency key;
- ``webhook-timestamp``: Unix seconds when this attempt was signed;
- ``webhook-signature``: ``v1,`` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")),
  where the key is the base64 part of the ``whsec_...`` secret.

:func:`verify` is what a receiver runs (docs/hooks.md shows a complete
receiver); :class:`ReplayCache` rejects a second delivery of an id already
accepted. :class:`WebhookSender` delivers from a bounded queue in the
background, retrying 5xx, 429, timeouts and connection errors with
exponential backoff and full jitter, so the detect agent never waits on a
receiver.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import aiohttp

from .metrics import Metrics

__all__ = [
    "ReplayCache",
    "WebhookSender",
    "WebhookVerificationError",
    "decode_secret",
    "sign",
    "signed_headers",
    "verify",
]

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE = 300  # seconds either side of the receiver's clock


class WebhookVerificationError(ValueError):
    """The delivery is not authentic, or is stale, or a repeat: do not act on it."""


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (the prefix is optional)."""
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret must be 'whsec_' followed by base64") from None
    if len(key) < 16:
        raise ValueError("a webhook secret must hold at least 16 bytes of key (24+ base64 characters)")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The ``webhook-signature`` header value: ``v1,<base64 HMAC-SHA256>``.

    >>> sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
    ...      '{"test": 2432232314}')
    'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
    """
    if isinstance(body, str):
        body = body.encode()
    mac = hmac.new(decode_secret(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def signed_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def verify(secret: str, headers: Mapping[str, str], body: bytes | str, *, now: float,
           tolerance: float = DEFAULT_TOLERANCE) -> str:
    """Check one delivery; return its ``webhook-id`` or raise :class:`WebhookVerificationError`.

    Raises on a missing header, a timestamp more than ``tolerance`` seconds
    from ``now`` (a replay of an old delivery, or a forged future one), or
    no matching ``v1`` signature (a tampered body, id or timestamp, or the
    wrong secret). The header may carry several space-separated signatures
    (during a secret rotation); one match is enough.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id, stamp, signatures = lower["webhook-id"], lower["webhook-timestamp"], lower["webhook-signature"]
    except KeyError as exc:
        raise WebhookVerificationError(f"missing header {exc.args[0]}") from None
    try:
        ts = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    if abs(now - ts) > tolerance:
        raise WebhookVerificationError(f"webhook-timestamp {ts} is outside the {tolerance:g} s replay window")
    expected = sign(secret, msg_id, ts, body).encode()
    for candidate in signatures.split():
        if hmac.compare_digest(candidate.encode(), expected):
            return msg_id
    raise WebhookVerificationError("no valid signature")


class ReplayCache:
    """Remembers accepted ``webhook-id``\\ s for twice the replay window.

    A delivery older than the window fails :func:`verify` anyway, so ids need
    not be kept longer: memory is bounded by the deliveries of one window.
    """

    def __init__(self, tolerance: float = DEFAULT_TOLERANCE):
        self.keep = 2 * tolerance
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, msg_id: str, now: float) -> bool:
        """True the first time ``msg_id`` is offered (and remember it); False for a repeat."""
        while self._seen and next(iter(self._seen.values())) < now - self.keep:
            self._seen.popitem(last=False)
        if msg_id in self._seen:
            return False
        self._seen[msg_id] = now
        return True


def _retryable(status: int) -> bool:
    return status >= 500 or status == 429


class WebhookSender:
    """Background delivery of signed records to every configured URL.

    :meth:`submit` never waits: the record goes on a bounded queue, and when
    the queue is full the delivery counts as failed and is logged (the
    compacted topic still carries the action). ``workers`` tasks deliver
    concurrently; each attempt is re-signed with the current time under the
    same ``webhook-id``.
    """

    def __init__(self, urls: Sequence[str], secret: str, metrics: Metrics, *, queue_size: int = 1000,
                 max_attempts: int = 6, backoff_seconds: float = 0.5, max_backoff_seconds: float = 30.0,
                 timeout_seconds: float = 5.0, workers: int = 4):
        self.urls = list(urls)
        self.secret = secret
        decode_secret(secret)  # fail at start-up, not at the first delivery
        self.metrics = metrics
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.workers = workers
        self.queue: asyncio.Queue[tuple[str, str, bytes]] = asyncio.Queue(maxsize=queue_size)
        self._tasks: list[asyncio.Task] = []
        self._session: aiohttp.ClientSession | None = None

    def submit(self, msg_id: str, body: bytes) -> None:
        for url in self.urls:
            try:
                self.queue.put_nowait((url, msg_id, body))
            except asyncio.QueueFull:
                self.metrics.webhook_deliveries.labels("failed").inc()
                log.error("webhook queue full (%d); delivery %s to %s dropped", self.queue.maxsize, msg_id, url)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self.timeout)
        self._tasks = [asyncio.create_task(self._run(), name=f"webhook-{i}") for i in range(self.workers)]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def drain(self) -> None:
        """Wait until every queued delivery has been delivered or given up."""
        await self.queue.join()

    async def _run(self) -> None:
        while True:
            url, msg_id, body = await self.queue.get()
            try:
                await self.deliver(url, msg_id, body)
            except Exception:  # a bug must not kill the delivery task
                log.exception("webhook delivery %s to %s crashed", msg_id, url)
            finally:
                self.queue.task_done()

    async def deliver(self, url: str, msg_id: str, body: bytes) -> bool:
        """POST until a 2xx, a non-retryable status, or ``max_attempts``; True when delivered."""
        assert self._session is not None, "start() first"
        m = self.metrics.webhook_deliveries
        for attempt in range(1, self.max_attempts + 1):
            headers = signed_headers(self.secret, msg_id, int(time.time()), body)
            t0 = time.perf_counter()
            try:
                async with self._session.post(url, data=body, headers=headers) as resp:
                    status = resp.status
                    await resp.read()
                problem = f"HTTP {status}"
            except (TimeoutError, aiohttp.ClientError) as exc:
                status, problem = None, type(exc).__name__
            self.metrics.webhook_seconds.observe(time.perf_counter() - t0)
            if status is not None and 200 <= status < 300:
                m.labels("delivered").inc()
                return True
            if (status is not None and not _retryable(status)) or attempt == self.max_attempts:
                m.labels("failed").inc()
                log.error("webhook %s to %s failed after %d attempt(s): %s", msg_id, url, attempt, problem)
                return False
            m.labels("retried").inc()
            delay = random.uniform(0, min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1)))
            log.warning("webhook %s to %s: %s; retry %d in %.2f s", msg_id, url, problem, attempt, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable: max_attempts >= 1")
