"""A coroutine run in the calling task until it first has to wait: asyncio's eager task start.

Faust's consumer hands every Kafka message to the conductor through ``Service.wait_first(callback(message),
suspend_flow.wait())``, so that a rebalance or a stop can abandon a delivery that waits (for flow control,
for the producer's buffer to ebb, for room in a full stream buffer). ``wait_first`` makes four tasks per
message (the delivery, the suspension, the service's stopped and crashed events), waits for the first to
finish and cancels the other three: several turns of the event loop for every message, although the
delivery almost never waits. That cost about 47 µs per message on the development machine, a sixth of a
bare Faust agent's whole path for a single-event message (docs/BENCHMARKS.md, *late evening*).

:func:`start` runs the delivery in the calling task up to its first real wait (Python 3.12 added this as
``asyncio.eager_task_factory``; the project supports 3.11). When it finishes without waiting, as it almost
always does, no task is made. When it must wait, the rest of it becomes a task, and the caller races that
against the suspension exactly as before (:meth:`streams.app._Consumer._drain_messages`, which also gives the
event loop one turn per message, as ``wait_first`` gave it several).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

__all__ = ["start"]


def start(coro: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """Step ``coro`` in the calling task: ``(True, result)`` if it returned without waiting, else
    ``(False, future)``, the future a task running the rest of it. An exception it raises before its first
    wait propagates from here, as it would from ``await coro``."""
    try:
        waited = coro.send(None)
    except StopIteration as stop:
        return True, stop.value
    return False, asyncio.ensure_future(_rest(coro, waited))


async def _rest(coro: Coroutine[Any, Any, Any], waited: Any) -> Any:
    """Drive ``coro`` on from where :func:`start` left it, the way an asyncio task does: it yielded the
    future it waits for (``waited``), or None for a bare yield (``asyncio.sleep(0)``). Cancelling this task
    cancels that future and raises ``CancelledError`` into ``coro``, as cancelling its own task would."""
    while True:
        try:
            if waited is None:
                await asyncio.sleep(0)
            else:
                waited._asyncio_future_blocking = False  # as Task.__step does before it waits on one
                if not waited.done():
                    await asyncio.wait((waited,))  # its outcome is coro's to read, not raised here
        except asyncio.CancelledError as exc:
            if waited is not None:
                waited.cancel()
            try:
                waited = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
            continue
        try:
            waited = coro.send(None)
        except StopIteration as stop:
            return stop.value
