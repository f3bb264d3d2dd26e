"""A bare Faust agent that only decodes: the floor of any Faust worker on this machine.

Started by ``bench/stream_throughput.py`` (through :func:`streamkit.faust_decode`) as
``python bench/faust_bare.py worker -l info`` with ``BENCH_*`` variables. Same
Faust settings as the distillwatch worker where they matter to consuming (raw bytes,
earliest offsets, session timeout), no tables. It iterates ``stream.events()`` as the
worker's ``detect`` agent does, runs ``decode_message`` on each value, and when it
has seen ``BENCH_EVENTS`` events writes the count, the time from its first event
to its last, and its progress every 1,000 events (for the steady rate,
:func:`streamkit.steady_rate`) to ``BENCH_OUT``; the caller then stops it.
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

env = os.environ
Path(env["BENCH_DATADIR"]).mkdir(parents=True, exist_ok=True)
app = faust.App(
    env["BENCH_APP_ID"], broker=f"kafka://{env['BENCH_BROKER']}", store="memory://",
    datadir=env["BENCH_DATADIR"], topic_partitions=int(env["BENCH_PARTITIONS"]), broker_session_timeout=6.0,
    broker_heartbeat_interval=1.5, consumer_auto_offset_reset="earliest", web_enabled=False,
    web_port=int(env["BENCH_WEB_PORT"]), web_tables_enabled=False,
)
raw = dict(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
topic = app.topic(env["BENCH_TOPIC"], partitions=int(env["BENCH_PARTITIONS"]), **raw)
target = int(env["BENCH_EVENTS"])


@app.agent(topic, name="decode")
async def decode(stream):
    n = 0
    t0 = 0.0
    points = []  # (seconds since the first event, events done) every 1,000 events or more
    mark = 0
    async for event in stream.events():
        if n == 0:
            t0 = time.perf_counter()
        n += len(decode_message(event.message.value or b""))
        if n >= mark:
            points.append((time.perf_counter() - t0, n))
            mark = n + 1000
        if n >= target:
            dt = time.perf_counter() - t0
            Path(env["BENCH_OUT"]).write_text(json.dumps(
                {"events": n, "seconds": round(dt, 3), "events_per_s": round(n / dt), "points": points}))


if __name__ == "__main__":
    app.main()
