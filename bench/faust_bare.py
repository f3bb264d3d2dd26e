"""A bare Faust agent that only decodes: the floor of any Faust worker on this machine.

Started by ``bench/stream_throughput.py`` (through :func:`streamkit.faust_decode`) as
``python bench/faust_bare.py worker -l info`` with ``BENCH_*`` variables. Same
Faust settings as the distillwatch worker where they matter to consuming (raw bytes,
earliest offsets, session timeout), no tables. It iterates ``stream.events()``, Faust's
plain path, runs ``decode_message`` on each value, and when it
has seen ``BENCH_EVENTS`` events writes the count, the time from its first event
to its last, and its progress every 1,000 events (for the steady rate,
:func:`streamkit.steady_rate`) to ``BENCH_OUT``; the caller then stops it.

With ``BENCH_BUNCHES=1`` it reads as the worker's agent reads since 2026-12-05: the events that have
arrived in bunches (:func:`streams.bunching.bunches`, the worker's bunch size and wait), acknowledging
each. That is not a bare Faust agent any more, but the same path without detection: the worker's
floor on that path (``bench/stream_throughput.py --bare-bunched``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import faust  # noqa: E402

from detectors.contract import decode_message  # noqa: E402
from streams.app import BUNCH_EVENTS, BUNCH_WAIT_SECONDS  # noqa: E402
from streams.bunching import bunches  # noqa: E402

env = os.environ
Path(env["BENCH_DATADIR"]).mkdir(parents=True, exist_ok=True)
app = faust.App(
    env["BENCH_APP_ID"], broker=f"kafka://{env['BENCH_BROKER']}", store="memory://",
    datadir=env["BENCH_DATADIR"], topic_partitions=int(env["BENCH_PARTITIONS"]), broker_session_timeout=6.0,
    broker_heartbeat_interval=1.5, consumer_auto_offset_reset="earliest", web_enabled=False,
    web_port=int(env["BENCH_WEB_PORT"]), web_bind="127.0.0.1", web_host="127.0.0.1", web_tables_enabled=False,
)
raw = dict(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
topic = app.topic(env["BENCH_TOPIC"], partitions=int(env["BENCH_PARTITIONS"]), **raw)
target = int(env["BENCH_EVENTS"])


class _Progress:
    def __init__(self) -> None:
        self.n = 0
        self.t0 = 0.0
        self.points: list = []  # (seconds since the first event, events done) every 1,000 events or more
        self.mark = 0

    def decoded(self, value: bytes | None) -> None:
        if self.n == 0:
            self.t0 = time.perf_counter()
        self.n += len(decode_message(value or b""))
        if self.n >= self.mark:
            self.points.append((time.perf_counter() - self.t0, self.n))
            self.mark = self.n + 1000
        if self.n >= target:
            dt = time.perf_counter() - self.t0
            Path(env["BENCH_OUT"]).write_text(json.dumps(
                {"events": self.n, "seconds": round(dt, 3), "events_per_s": round(self.n / dt),
                 "points": self.points}))


@app.agent(topic, name="decode")
async def decode(stream):
    progress = _Progress()
    if env.get("BENCH_BUNCHES") == "1":
        async for events in bunches(stream, BUNCH_EVENTS, BUNCH_WAIT_SECONDS):
            for event in events:
                progress.decoded(event.message.value)
                await stream.ack(event)
    else:
        async for event in stream.events():
            progress.decoded(event.message.value)


if __name__ == "__main__":
    app.main()
