"""A distillwatch worker with an injected defect, for tests/test_bunching.py and tests/test_restart.py.

Started like ``distillwatch worker`` (settings from ``DISTILLWATCH_*``), with ``FAULTY_ACCOUNT`` naming
the account whose every event makes ``Detector.process`` raise (a defect in the middle of a bunch), or
``FAULTY_REKEY=1``: every send to the re-key topic raises (events bound for another partition cannot be
handed to the producer), or ``FAULTY_HOLD_TOPIC`` naming a topic whose records never leave the worker: the
first one's publish waits forever, as if the process had died just before the producer took it. Faust's send
buffer publishes in order, so whatever was queued behind that record waits too. (tests/test_restart.py)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectors.engine import Detector  # noqa: E402
from detectors.rules import Rules  # noqa: E402


class FaultyDetector(Detector):
    def __init__(self, rules: Rules, account: str):
        super().__init__(rules)
        self.faulty_account = account

    def process(self, state, ev, alerts, ctx, fps):
        if ev.account_id == self.faulty_account:
            raise RuntimeError(f"injected defect for {ev.account_id}")
        return super().process(state, ev, alerts, ctx, fps)


def main() -> None:
    from streams.app import build_app
    from streams.cli import _setup_logging, new_worker
    from streams.settings import load_settings
    from streams.topics import ensure_topics

    settings = load_settings(None)
    _setup_logging(settings.log_level)
    ensure_topics(settings)
    detector = FaultyDetector(Rules.load(settings.rules_file), os.environ.get("FAULTY_ACCOUNT", ""))
    if os.environ.get("FAULTY_REKEY") == "1":
        import faust.topics

        send_soon = faust.topics.Topic.send_soon

        def failing_send_soon(self, *args, **kwargs):
            if self.get_topic_name() == settings.rekey_topic:
                raise RuntimeError("injected re-key send failure")
            return send_soon(self, *args, **kwargs)

        faust.topics.Topic.send_soon = failing_send_soon
    held = os.environ.get("FAULTY_HOLD_TOPIC")
    if held:
        import asyncio
        import logging

        import faust.topics

        publish = faust.topics.Topic.publish_message

        async def held_publish(self, fut, wait: bool = False):
            if self.get_topic_name() == held:
                logging.getLogger("faulty_worker").warning("FAULTY: holding a record for %s for good", held)
                await asyncio.Event().wait()
            return await publish(self, fut, wait=wait)

        faust.topics.Topic.publish_message = held_publish
    new_worker(build_app(settings, detector=detector).app, settings.log_level).execute_from_commandline()


if __name__ == "__main__":
    main()
