"""A Faust worker whose agent reads with :func:`streams.bunching.bunches`, for tests/test_bunching.py.

Run as ``python tests/bunching_app.py worker -l info`` with ``BUNCH_*`` variables. The agent appends
one line per bunch to ``BUNCH_OUT``: the offsets of its events, as JSON, and acknowledges every event.
With ``BUNCH_LEAVE_AFTER=K`` it acknowledges only the first K events of its first bunch, writes that
bunch, leaves the loop (the bunches are closed) and idles: an agent that stopped in the middle of a
bunch.
``BUNCH_FAUST_TAKE=1`` reads with Faust's own ``Stream.take_events`` instead (to show the difference).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import faust  # noqa: E402

from streams.bunching import bunches  # noqa: E402


def main() -> None:
    env = os.environ
    app = faust.App(
        env["BUNCH_APP_ID"], broker=f"kafka://{env['BUNCH_BROKER']}", store="memory://",
        datadir=env["BUNCH_DATADIR"], topic_partitions=1, broker_session_timeout=6.0,
        broker_heartbeat_interval=1.5, consumer_auto_offset_reset="earliest", web_enabled=False,
        producer_max_batch_size=1, broker_commit_interval=0.5,
        # Faust's worker command starts its web server all the same: on 127.0.0.1 and a port of the test's,
        # not on Faust's default 0.0.0.0:6066, which two test runs on one machine would both want
        web_bind="127.0.0.1", web_host="127.0.0.1", web_port=int(env["BUNCH_WEB_PORT"]),
    )
    topic = app.topic(env["BUNCH_TOPIC"], partitions=1, key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")
    out = Path(env["BUNCH_OUT"])
    leave_after = int(env.get("BUNCH_LEAVE_AFTER", "-1"))

    @app.agent(topic, name="bunched")
    async def bunched(stream):
        size, within = int(env["BUNCH_MAX"]), float(env["BUNCH_WITHIN"])
        if env.get("BUNCH_FAUST_TAKE") == "1":
            it = stream.take_events(size, within=within)
        else:
            it = bunches(stream, size, within)
        async for events in it:
            offsets = [event.message.offset for event in events]
            if leave_after >= 0:
                for event in events[:leave_after]:
                    await stream.ack(event)
                with out.open("a") as f:
                    f.write(json.dumps(offsets) + "\n")
                break
            for event in events:
                await stream.ack(event)
            with out.open("a") as f:
                f.write(json.dumps(offsets) + "\n")
        await it.aclose()  # what the event loop does to an async generator dropped unfinished
        with out.open("a") as f:
            f.write("left\n")
        await asyncio.Event().wait()

    app.main()


if __name__ == "__main__":
    main()
