"""An agent's events in bunches, each acknowledged by the agent once it has processed it.

With one event per Kafka message, Faust's own path for a message (consumer, conductor, queues,
stream) costs the worker more than detection does, and when it runs between every two events it
evicts from the CPU caches what detection had in them: detection took 19.2–21.1 µs per single
event when the agent read ``stream.events()``, 13.3–14.6 µs when it processed the events that had
arrived in one go (docs/BENCHMARKS.md, "2026-12-05 (night)"). :func:`bunches` lets Faust's stream
run ahead and fill a buffer, and hands the agent what is there.

Faust's own ``Stream.take_events`` does the same but acknowledges a bunch in a ``finally``: when
the agent leaves its loop in the middle of a bunch (a ``break``, an exception caught around the
loop, a cancelled task), the events it had not processed are acknowledged too, and the next offset
commit skips them (tests/test_bunching.py shows it). Here nothing is acknowledged on the agent's
behalf: the agent calls ``await stream.ack(event)`` after each event, so an offset becomes
committable exactly when it would with ``async for event in stream.events()``, and an event the
agent never finished is read again after a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from faust.types import EventT, StreamT

__all__ = ["bunches"]


async def bunches(stream: StreamT, max_events: int, within: float,
                  on_take: Callable[[EventT], None] | None = None) -> AsyncIterator[list[EventT]]:
    """The events of ``stream`` as lists of at most ``max_events``, none acknowledged.

    A list is handed over as soon as ``max_events`` are waiting, or at most ``within`` seconds
    after the first of fewer arrived; an idle stream is waited on without a timeout. While a full
    list waits for the agent, the stream waits too. The agent must acknowledge every event it has
    processed (``await stream.ack(event)``), and should do so event by event: an event left
    unacknowledged holds back its partition's offset commits. ``on_take`` is called with each event
    as it is taken from the stream's channel (from then on only these bunches hold it).

    Faust's current event is not set in the agent's task: before a table write the agent sets it
    itself, or names the partition (:func:`streams.states.in_partition`).
    """
    if max_events < 1:
        raise ValueError("max_events must be >= 1")
    if within <= 0:
        raise ValueError("within must be > 0: without a timeout, a bunch short of max_events would wait forever")
    buffer: list[EventT] = []
    arrived = asyncio.Event()  # the buffer is not empty
    full = asyncio.Event()
    taken = asyncio.Event()

    async def add(value):
        event = stream.current_event
        if event is None:  # Faust sets it for every message it passes to processors
            raise RuntimeError("bunches: the stream passed a value without its event")
        buffer.append(event)
        if on_take is not None:
            on_take(event)
        arrived.set()
        if len(buffer) >= max_events:
            full.set()
            taken.clear()
            await stream.wait(taken)  # not more than max_events: the agent takes these first
        return value

    # The agent acknowledges (messages Faust skips itself, it still acks). Not restored when the bunches
    # end: Faust's stream goes on draining its channel in the background, and what it drains after the
    # agent stopped taking bunches was not processed.
    stream.enable_acks = False
    stream.add_processor(add)
    stream._enable_passive(aiter(stream.channel))  # Faust's stream drains the channel in its own task
    try:
        while not stream.should_stop:
            if not buffer:  # an idle worker sleeps until an event comes, then waits for more up to within
                arrived.clear()
                if await stream.wait_for_stopped(arrived):
                    break
            await stream.wait_for_stopped(full, timeout=within)
            if buffer:
                events = buffer[:]
                buffer.clear()
                full.clear()
                taken.set()
                yield events
    finally:
        stream._processors.remove(add)
