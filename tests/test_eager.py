"""streams.eager runs a coroutine in the calling task until it first waits, and the rest as a task that
behaves as the coroutine's own task would: what it awaits is handed back to it (results and exceptions),
and cancelling it cancels what it waits for and raises CancelledError inside it. The worker's consumer
delivers every Kafka message through it (streams.app._Consumer._drain_messages)."""

from __future__ import annotations

import asyncio
import hashlib
import inspect

import pytest

from streams.eager import start


def test_a_coroutine_that_never_waits_finishes_in_the_call_without_a_task():
    async def ready():
        return 1

    async def add(a, b):
        return a + b + await ready() - 1  # an await that does not suspend

    async def go():
        before = len(asyncio.all_tasks())
        done, value = start(add(2, 3))
        assert (done, value) == (True, 5)
        assert len(asyncio.all_tasks()) == before

    asyncio.run(go())


def test_an_exception_before_the_first_wait_is_raised_by_start():
    async def bad():
        raise KeyError("x")

    async def go():
        with pytest.raises(KeyError):
            start(bad())

    asyncio.run(go())


def test_the_rest_runs_as_a_task_that_sees_each_awaited_result_and_exception():
    seen = []

    async def deliver(first, second):
        seen.append("before")
        seen.append(await first)
        try:
            await second
        except ValueError as exc:
            seen.append(f"caught {exc}")
        await asyncio.sleep(0)  # a bare yield in between
        return "finished"

    async def go():
        loop = asyncio.get_running_loop()
        first, second = loop.create_future(), loop.create_future()
        done, rest = start(deliver(first, second))
        assert not done and seen == ["before"]
        assert isinstance(rest, asyncio.Future) and not rest.done()
        first.set_result(7)
        await asyncio.sleep(0.01)
        assert seen == ["before", 7] and not rest.done()
        second.set_exception(ValueError("no"))
        assert await asyncio.wait_for(rest, 1) == "finished"
        assert seen == ["before", 7, "caught no"]

    asyncio.run(go())


def test_an_exception_the_coroutine_does_not_catch_ends_the_rest_with_it():
    async def deliver(fut):
        await fut
        raise RuntimeError("after the wait")

    async def go():
        fut = asyncio.get_running_loop().create_future()
        done, rest = start(deliver(fut))
        fut.set_result(None)
        with pytest.raises(RuntimeError, match="after the wait"):
            await asyncio.wait_for(rest, 1)

    asyncio.run(go())


def test_cancelling_the_rest_cancels_what_it_waits_for_and_raises_inside_the_coroutine():
    cleaned = []

    async def deliver(fut):
        try:
            await fut
        finally:
            cleaned.append("finally")

    async def go():
        fut = asyncio.get_running_loop().create_future()
        done, rest = start(deliver(fut))
        await asyncio.sleep(0)
        rest.cancel()
        with pytest.raises(asyncio.CancelledError):
            await rest
        assert fut.cancelled() and cleaned == ["finally"]

    asyncio.run(go())


def test_a_rest_raced_by_wait_first_is_abandoned_when_the_flow_is_suspended():
    """The worker's consumer races a delivery that waits against the flow's suspension, as Faust does."""
    from mode import Service
    from mode.utils.locks import Event

    class _Service(Service):
        pass

    reached = []

    async def deliver(blocked):
        try:
            await blocked  # e.g. a full stream buffer
            reached.append("delivered")
        except asyncio.CancelledError:
            reached.append("abandoned")
            raise

    async def go():
        service, suspend = _Service(), Event()
        blocked = asyncio.get_running_loop().create_future()
        done, rest = start(deliver(blocked))
        assert not done
        asyncio.get_running_loop().call_later(0.05, suspend.set)
        suspension = suspend.wait()
        result = await asyncio.wait_for(service.wait_first(rest, suspension), 2)
        assert result.done == [suspension]  # the suspension won
        await asyncio.sleep(0.01)
        assert reached == ["abandoned"] and blocked.cancelled()

    asyncio.run(go())


#: sha256 of faust's Consumer._drain_messages source, the loop streams.app._Consumer._drain_messages copies
FAUST_DRAIN_SHA256 = "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"


def test_the_copied_drain_loop_is_faust_s_own():
    """streams.app._Consumer._drain_messages is faust-streaming 0.15's loop with the delivery made eager. A
    Faust release that changes its loop fails here, so that the copy is reviewed against it."""
    from faust.transport.consumer import Consumer

    source = inspect.getsource(Consumer._drain_messages)
    assert "callback(message), self.suspend_flow.wait()" in source  # the delivery the copy makes eager
    assert hashlib.sha256(source.encode()).hexdigest() == FAUST_DRAIN_SHA256
