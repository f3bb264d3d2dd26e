"""Standard Webhooks signing and delivery, checked by a real aiohttp receiver on 127.0.0.1.

The receiver is what docs/hooks.md tells a consumer to run: :func:`verify`
on every request, then :class:`ReplayCache` on the ``webhook-id``. The
sender is the worker's own :class:`WebhookSender`.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
import pytest
from aiohttp import web

from streams.broker import free_port
from streams.metrics import Metrics
from streams.webhooks import ReplayCache, WebhookSender, WebhookVerificationError, sign, signed_headers, verify

# The Standard Webhooks specification's published test vector.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
OTHER_SECRET = "whsec_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ="

ACTION = {"kind": "action", "action_id": "0123456789abcdef0123456789abcdef", "account_id": "acct-1",
          "action": "throttle", "limit_per_minute": 10, "enforced": False}
BODY = orjson.dumps(ACTION)


def vector_headers(**change: str) -> dict[str, str]:
    h = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS), "webhook-signature": VECTOR_SIGNATURE}
    h.update(change)
    return h


# -- sign / verify -------------------------------------------------------------------


def test_sign_reproduces_the_standard_webhooks_test_vector():
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE
    assert verify(VECTOR_SECRET, vector_headers(), VECTOR_BODY, now=VECTOR_TS + 10) == VECTOR_ID


@pytest.mark.parametrize(
    "headers, body, secret, match",
    [
        (vector_headers(), b'{"test": 2432232315}', VECTOR_SECRET, "no valid signature"),  # body
        (vector_headers(**{"webhook-id": "msg_other"}), VECTOR_BODY, VECTOR_SECRET, "no valid signature"),
        (vector_headers(**{"webhook-timestamp": str(VECTOR_TS + 1)}), VECTOR_BODY, VECTOR_SECRET,
         "no valid signature"),
        (vector_headers(**{"webhook-signature": "v1,AAAA" + VECTOR_SIGNATURE[7:]}), VECTOR_BODY, VECTOR_SECRET,
         "no valid signature"),
        (vector_headers(), VECTOR_BODY, OTHER_SECRET, "no valid signature"),  # not our secret
        ({"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS)}, VECTOR_BODY, VECTOR_SECRET,
         "missing header webhook-signature"),
        (vector_headers(**{"webhook-timestamp": "soon"}), VECTOR_BODY, VECTOR_SECRET, "not an integer"),
    ],
)
def test_verify_rejects_tampered_or_incomplete_deliveries(headers, body, secret, match):
    with pytest.raises(WebhookVerificationError, match=match):
        verify(secret, headers, body, now=VECTOR_TS)


@pytest.mark.parametrize("offset", [301, -301, 10**6])
def test_verify_rejects_timestamps_outside_the_replay_window(offset):
    with pytest.raises(WebhookVerificationError, match="replay window"):
        verify(VECTOR_SECRET, vector_headers(), VECTOR_BODY, now=VECTOR_TS + offset)


def test_verify_accepts_any_of_several_signatures_during_rotation():
    both = f"{sign(OTHER_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY)} {VECTOR_SIGNATURE}"
    assert verify(VECTOR_SECRET, vector_headers(**{"webhook-signature": both}), VECTOR_BODY, now=VECTOR_TS)


def test_replay_cache_accepts_an_id_once_and_forgets_it_after_two_windows():
    cache = ReplayCache(tolerance=300)
    assert cache.first_time("a", 1000.0) and not cache.first_time("a", 1100.0)
    assert cache.first_time("b", 1000.0)
    assert cache.first_time("a", 1601.0)  # older than two windows: verify() rejects such a delivery anyway
    assert len(cache._seen) == 1  # and memory is bounded


# -- a real receiver ------------------------------------------------------------------


class Receiver:
    """A consumer's endpoint: verify, then de-duplicate on webhook-id; scripted failures first."""

    def __init__(self, secret: str, *, tolerance: float = 300, script: list[int] | None = None):
        self.secret = secret
        self.tolerance = tolerance
        self.script = list(script or [])
        self.cache = ReplayCache(tolerance)
        self.log: list[dict] = []  # one entry per request: id, outcome, status
        self.raw: list[tuple[dict, bytes]] = []  # accepted requests as sent, to replay them
        self.port = free_port()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        entry = {"id": request.headers.get("webhook-id")}
        self.log.append(entry)
        if self.script:
            entry.update(outcome="scripted", status=self.script.pop(0))
            return web.Response(status=entry["status"])
        now = time.time()
        try:
            msg_id = verify(self.secret, request.headers, body, now=now, tolerance=self.tolerance)
        except WebhookVerificationError as exc:
            entry.update(outcome="rejected", status=400, why=str(exc))
            return web.Response(status=400, text=str(exc))
        if not self.cache.first_time(msg_id, now):
            entry.update(outcome="duplicate", status=200)  # acknowledged so the sender stops, not acted on
            return web.Response(status=200)
        entry.update(outcome="accepted", status=204, body=orjson.loads(body))
        self.raw.append(({k: v for k, v in request.headers.items() if k.lower().startswith("webhook-")}, body))
        return web.Response(status=204)

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def outcomes(self) -> list[str]:
        return [e["outcome"] for e in self.log]


def deliveries(metrics: Metrics) -> dict[str, float]:
    return {o: metrics.webhook_deliveries.labels(o)._value.get() for o in ("delivered", "retried", "failed")}


async def send_once(metrics: Metrics, urls: list[str], secret: str = VECTOR_SECRET, **kw) -> None:
    sender = WebhookSender(urls, secret, metrics, backoff_seconds=0.05, **kw)
    await sender.start()
    try:
        sender.submit(ACTION["action_id"], BODY)
        await asyncio.wait_for(sender.drain(), 30)
    finally:
        await sender.stop()


def test_receiver_verifies_a_delivery_and_rejects_replays_and_tampering():
    async def scenario():
        metrics = Metrics()
        async with Receiver(VECTOR_SECRET, tolerance=2) as rx, aiohttp.ClientSession() as client:
            await send_once(metrics, [rx.url])
            assert rx.outcomes() == ["accepted"]
            assert rx.log[0]["id"] == ACTION["action_id"] and rx.log[0]["body"] == ACTION
            headers, body = rx.raw[0]

            async def resend(h: dict, b: bytes) -> int:
                async with client.post(rx.url, data=b, headers=h) as resp:
                    return resp.status

            assert await resend(headers, body) == 200  # the same delivery again: a duplicate id, not acted on
            tampered_body = body.replace(b'"limit_per_minute":10', b'"limit_per_minute":1000')
            assert tampered_body != body
            assert await resend(headers, tampered_body) == 400
            assert await resend({**headers, "webhook-id": "0" * 32}, body) == 400
            assert await resend({**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)},
                                body) == 400
            forged = signed_headers(OTHER_SECRET, ACTION["action_id"], int(time.time()), tampered_body)
            assert await resend(forged, tampered_body) == 400  # signed, but not with our secret
            await asyncio.sleep(3.2)  # past the receiver's 2 s replay window
            assert await resend(headers, body) == 400
            assert rx.outcomes() == ["accepted", "duplicate", "rejected", "rejected", "rejected", "rejected",
                                     "rejected"]
            assert "replay window" in rx.log[-1]["why"]
        assert deliveries(metrics) == {"delivered": 1, "retried": 0, "failed": 0}

    asyncio.run(scenario())


def test_5xx_is_retried_with_the_same_webhook_id_and_delivered_once():
    async def scenario():
        metrics = Metrics()
        async with Receiver(VECTOR_SECRET, script=[503, 503]) as rx:
            await send_once(metrics, [rx.url])
        assert [e["status"] for e in rx.log] == [503, 503, 204]
        assert {e["id"] for e in rx.log} == {ACTION["action_id"]}  # one idempotency key across attempts
        assert rx.outcomes().count("accepted") == 1
        assert deliveries(metrics) == {"delivered": 1, "retried": 2, "failed": 0}
        assert metrics.webhook_seconds._sum.get() > 0

    asyncio.run(scenario())


def test_4xx_is_not_retried_but_429_is():
    async def scenario():
        metrics = Metrics()
        async with Receiver(VECTOR_SECRET, script=[400]) as rx:
            await send_once(metrics, [rx.url])
        assert len(rx.log) == 1 and deliveries(metrics) == {"delivered": 0, "retried": 0, "failed": 1}
        metrics = Metrics()
        async with Receiver(VECTOR_SECRET, script=[429]) as rx:
            await send_once(metrics, [rx.url])
        assert rx.outcomes() == ["scripted", "accepted"]
        assert deliveries(metrics) == {"delivered": 1, "retried": 1, "failed": 0}

    asyncio.run(scenario())


def test_connection_errors_are_retried_then_given_up():
    async def scenario():
        metrics = Metrics()
        t0 = time.monotonic()
        await send_once(metrics, [f"http://127.0.0.1:{free_port()}/nobody-listens"], max_attempts=3)
        assert deliveries(metrics) == {"delivered": 0, "retried": 2, "failed": 1}
        assert time.monotonic() - t0 < 5  # bounded: backoff 0.05 s, 0.1 s with jitter

    asyncio.run(scenario())


def test_a_full_queue_counts_a_failure_and_never_blocks():
    async def scenario():
        metrics = Metrics()
        sender = WebhookSender(["http://127.0.0.1:9/x"], VECTOR_SECRET, metrics, queue_size=2)
        for i in range(5):  # not started: nothing drains the queue
            sender.submit(f"id-{i}", BODY)
        assert sender.queue.qsize() == 2
        assert deliveries(metrics)["failed"] == 3

    asyncio.run(scenario())


def test_the_receiver_example_in_the_docs_verifies_our_deliveries():
    """docs/hooks.md's copy-pasteable verifier accepts what we sign and rejects tampering and replays."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "hooks.md").read_text()
    code = next(b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if "def verify_webhook" in b)
    ns: dict = {"__name__": "hooks_example"}  # not __main__: the example's server does not start
    exec(compile(code, "docs/hooks.md", "exec"), ns)
    verify_webhook, invalid = ns["verify_webhook"], ns["InvalidWebhook"]
    now = int(time.time())
    headers = signed_headers(ns["SECRET"], ACTION["action_id"], now, BODY)
    assert verify_webhook(ns["SECRET"], headers, BODY, now=now + 5) == ACTION["action_id"]
    assert verify_webhook(VECTOR_SECRET, vector_headers(), VECTOR_BODY, now=VECTOR_TS) == VECTOR_ID
    for h, b, at in [(headers, BODY + b" ", now), ({**headers, "webhook-id": "x"}, BODY, now),
                     (headers, BODY, now + 301), ({k: v for k, v in headers.items() if k != "webhook-id"}, BODY, now)]:
        with pytest.raises(invalid):
            verify_webhook(ns["SECRET"], h, b, now=at)
