"""The worker's send buffer (streams.app._ProducerBuffer): when Faust's conductor holds a fetched message back
for the buffer to drain, the wait is timed for distillwatch_producer_buffer_wait_seconds and is not logged as a
WARNING. Faust's real buffer service runs here; only its ``_send_pending`` (the hand-over to the Kafka client,
which these are not about) is replaced by one that takes a millisecond. The end-to-end check against a real
broker is tests/test_integration.py::test_producer_back_pressure_is_a_metric_not_a_warning."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

from streams.app import _ProducerBuffer


def _run(queued: int) -> tuple[list[float], int]:
    """Queue ``queued`` records, then wait as the conductor would; the waits reported and the records left."""

    async def go():
        waits: list[float] = []
        buf = _ProducerBuffer(loop=asyncio.get_running_loop())
        buf.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False), producer_buffer_waited=waits.append)

        async def send(_fut) -> None:
            await asyncio.sleep(0.001)

        buf._send_pending = send  # before start: the buffer's sending task binds it then
        for i in range(queued):
            buf.put(i)
        await buf.start()
        try:
            await buf.wait_until_ebb()
            left = buf.size
        finally:
            buf.pending = asyncio.Queue()  # nothing owed to a broker here; stop without draining
            await buf.stop()
        return waits, left

    return asyncio.run(go())


def test_a_wait_for_the_buffer_is_timed_and_not_a_warning(caplog):
    with caplog.at_level(logging.DEBUG):
        waits, left = _run(250)
    assert len(waits) == 1 and waits[0] > 0
    assert left <= 150  # up to 100 records sent (Faust's flush_atmost) before the message goes on
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "producer send buffer held 250 records" in caplog.text  # at DEBUG


def test_no_wait_while_the_buffer_is_within_faust_limit():
    waits, left = _run(100)
    assert waits == [] and left == 100
