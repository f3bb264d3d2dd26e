"""The worker's producer keeps what its tables queued until the broker acknowledged it
(streams.app._Producer; the commit waits on it). Faust's send path is not what these are
about, so the base class's ``send_soon`` is replaced by a recorder; the end-to-end proof
against the real broker is tests/test_restart.py's slow-link commit test."""

from __future__ import annotations

import asyncio

import pytest
from faust.exceptions import ProducerSendError

from streams.app import _Producer


@pytest.fixture
def producer(monkeypatch):
    sent: list = []
    monkeypatch.setattr("faust.transport.drivers.aiokafka.Producer.send_soon", lambda self, fut: sent.append(fut))
    p = _Producer.__new__(_Producer)  # no transport: only the bookkeeping is exercised
    p._queued, p._prune_at = [], 4096
    p.sent = sent
    return p


def test_delivered_waits_for_every_queued_record_and_forgets_them(producer):
    async def go():
        loop = asyncio.get_running_loop()
        a, b = loop.create_future(), loop.create_future()
        producer.send_soon(a)
        producer.send_soon(b)
        assert producer.sent == [a, b]  # still handed on to Faust
        waiter = asyncio.ensure_future(producer.delivered())
        a.set_result(None)
        await asyncio.sleep(0)
        assert not waiter.done()  # b is not acknowledged yet
        b.set_result(None)
        await asyncio.wait_for(waiter, 1)
        assert producer._queued == []
        await asyncio.wait_for(producer.delivered(), 1)  # nothing owed

    asyncio.run(go())


def test_delivered_raises_a_failed_send(producer):
    async def go():
        fut = asyncio.get_running_loop().create_future()
        fut.set_exception(OSError("broker gone"))
        producer.send_soon(fut)
        with pytest.raises(OSError, match="broker gone"):
            await producer.delivered()

    asyncio.run(go())


def test_without_commits_only_what_is_still_owed_is_kept(producer):
    async def go():
        loop = asyncio.get_running_loop()
        done = []
        for _ in range(5000):
            f = loop.create_future()
            f.set_result(None)
            done.append(f)
            producer.send_soon(f)
        pending = loop.create_future()
        failed = loop.create_future()
        failed.set_exception(OSError("x"))
        producer.send_soon(pending)
        producer.send_soon(failed)
        for _ in range(5000):
            f = loop.create_future()
            f.set_result(None)
            producer.send_soon(f)
        assert len(producer._queued) < 4100  # pruned, not grown without bound
        assert pending in producer._queued and failed in producer._queued  # what is owed or failed stays
        failed_seen = []
        pending.set_result(None)
        try:
            await producer.delivered()
        except OSError as exc:
            failed_seen.append(exc)
        assert failed_seen, "a failed send must fail the commit that waits on it"

    asyncio.run(go())


def test_a_record_never_settled_fails_the_commit_in_time_and_stays_owed(producer):
    async def go():
        loop = asyncio.get_running_loop()
        settled, open_ = loop.create_future(), loop.create_future()
        settled.set_result(None)
        producer.send_soon(settled)
        producer.send_soon(open_)  # e.g. its send was cancelled: Faust never settles it
        with pytest.raises(ProducerSendError, match="1 changelog records not acknowledged"):
            await asyncio.wait_for(producer.delivered(timeout=0.05), 5)
        assert producer._queued == [open_]  # the next commit still waits for it
        open_.set_result(None)
        await asyncio.wait_for(producer.delivered(timeout=1), 5)
        assert producer._queued == []

    asyncio.run(go())


def test_a_cancelled_record_fails_the_commit(producer):
    async def go():
        fut = asyncio.get_running_loop().create_future()
        fut.cancel()
        producer.send_soon(fut)
        with pytest.raises(ProducerSendError, match="cancelled"):
            await producer.delivered(timeout=1)

    asyncio.run(go())
