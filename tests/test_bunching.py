"""streams.bunching against the real broker and a real Faust worker (tests/bunching_app.py).

- Every event arrives once, in offset order, in bunches of at most ``max_events``; several events
  that were waiting come in one bunch; once all are acknowledged, a stopping worker commits them all.
- An agent that stops in the middle of a bunch leaves the rest of it unacknowledged: the worker's
  offset commits stop at the last event it acknowledged, and the next worker reads on from there.
  Faust's own ``Stream.take_events`` acknowledges the whole bunch when it is closed, so its commits
  would cover events never processed (``BUNCH_FAUST_TAKE=1`` in tests/bunching_app.py shows it).
- In the distillwatch worker (tests/faulty_worker.py): a message that failed is logged and skipped; a
  message whose re-keyed events were not sent is not committed, nor the messages after it; and after
  the agent fails outside a message, the lone message it had not finished is not committed past.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import pytest

from streams.broker import free_port
from streams.bunching import bunches
from tests.conftest import RunningWorker, unique_settings
from tests.kafkautil import group_offsets, new_topic, produce
from tests.test_actions_integration import metric, scrape
from tests.test_restart import committed

pytestmark = pytest.mark.integration

APP = Path(__file__).with_name("bunching_app.py")


def _topic(bootstrap: str, n: int) -> str:
    topic = new_topic(bootstrap, "bunch", 1)
    produce(bootstrap, topic, ((None, b"%d" % i) for i in range(n)))
    return topic


def _committed(bootstrap: str, group: str, topic: str) -> int | None:
    return group_offsets(bootstrap, group, topic).get(0)


class _Worker:
    def __init__(self, bootstrap: str, topic: str, group: str, tmp: Path, **env: object):
        self.out = tmp / f"bunches-{uuid.uuid4().hex[:6]}.jsonl"
        self.log = tmp / f"{self.out.stem}.log"
        e = dict(os.environ, BUNCH_APP_ID=group, BUNCH_BROKER=bootstrap, BUNCH_TOPIC=topic,
                 BUNCH_DATADIR=str(tmp / "data"), BUNCH_OUT=str(self.out), BUNCH_MAX="50", BUNCH_WITHIN="0.05",
                 BUNCH_WEB_PORT=str(free_port()))
        e.update({k: str(v) for k, v in env.items()})
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, str(APP), "worker", "-l", "info"], env=e,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def bunches(self) -> list[list[int]]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.endswith("]")]

    def wait(self, until, timeout: float = 90.0) -> list[list[int]]:
        deadline = time.monotonic() + timeout
        while not until(got := self.bunches()):
            assert self.proc.poll() is None, "worker exited:\n" + self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"got {got}:\n" + self.log.read_text()[-3000:]
            time.sleep(0.2)
        return got

    def wait_for(self, condition, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, self.log.read_text()[-3000:]
            time.sleep(0.2)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            assert self.proc.wait(30) is not None
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)


def test_every_event_once_in_order_in_bounded_bunches_and_all_committed(kafka_bootstrap, tmp_path):
    n = 400
    topic = _topic(kafka_bootstrap, n)
    group = f"bunch-{uuid.uuid4().hex[:8]}"
    w = _Worker(kafka_bootstrap, topic, group, tmp_path)
    try:
        got = w.wait(lambda b: sum(map(len, b)) >= n)
    finally:
        w.stop()
    assert [o for b in got for o in b] == list(range(n))
    assert max(map(len, got)) == 50  # the bound, reached: the events were all waiting
    assert len(got) < n / 2  # taken in bunches, not one by one
    assert _committed(kafka_bootstrap, group, topic) == n


def test_an_agent_that_leaves_inside_a_bunch_commits_only_what_it_acknowledged(kafka_bootstrap, tmp_path):
    n, k = 200, 7
    topic = _topic(kafka_bootstrap, n)
    group = f"bunch-{uuid.uuid4().hex[:8]}"
    w = _Worker(kafka_bootstrap, topic, group, tmp_path, BUNCH_LEAVE_AFTER=k)
    try:
        first = w.wait(lambda b: len(b) >= 1)[0]
        assert first[0] == 0 and len(first) > k
        w.wait_for(lambda: w.out.read_text().endswith("left\n"))
        time.sleep(3)  # offset commits every 0.5 s go on in the worker
        assert _committed(kafka_bootstrap, group, topic) == k
    finally:
        w.kill()

    again = _Worker(kafka_bootstrap, topic, group, tmp_path)  # the same group reads on from its commit
    try:
        got = again.wait(lambda b: sum(map(len, b)) >= n - k)
    finally:
        again.stop()
    assert [o for b in got for o in b] == list(range(k, n))
    assert _committed(kafka_bootstrap, group, topic) == n


@pytest.mark.parametrize(("max_events", "within"), [(0, 0.1), (10, 0.0), (10, -1.0)])
def test_a_bunch_needs_a_size_and_a_timeout(max_events, within):
    with pytest.raises(ValueError):
        asyncio.run(anext(bunches(None, max_events, within)))


def test_a_message_whose_handling_raises_is_skipped_and_the_rest_of_its_bunch_handled(kafka_bootstrap, tmp_path):
    """A defect in detection (tests/faulty_worker.py raises on one account's events) costs that message only:
    it is logged with its place and acknowledged, as Faust does for ``stream.events()``, and every other
    message of the stream, in the same bunches, is handled and committed; the worker stays up."""
    settings = unique_settings(kafka_bootstrap, tmp_path, web_enabled=True, web_port=free_port())
    worker = RunningWorker(settings, tmp_path / "faulty.log")
    worker.proc.command = (str(Path(__file__).with_name("faulty_worker.py")), "worker")
    worker.proc.env = {"FAULTY_ACCOUNT": "boom"}
    accounts = ["a", "b", "boom", "c"]
    n = 400
    events = [(acct.encode(), orjson.dumps({"request_id": f"r{i}", "timestamp": 1.8e9 + i, "account_id": acct,
                                           "model": "m-1", "status_code": 200}))
              for i in range(n) for acct in [accounts[i % 4]]]
    worker.start()
    try:
        produce(kafka_bootstrap, settings.input_topic, events)  # all at once: they arrive in bunches
        deadline = time.monotonic() + 120
        while committed(kafka_bootstrap, settings) < n:
            assert worker.proc.alive(), worker.proc.log_tail(40)
            assert time.monotonic() < deadline, f"committed {committed(kafka_bootstrap, settings)} of {n}"
            time.sleep(0.5)
        valid = metric(scrape(settings.web_port), "distillwatch_events_total", outcome="valid")
        assert valid == n - n // 4  # every event but the faulty account's
        log = worker.proc.log_path.read_text(errors="replace")
        assert log.count("failed and is skipped") == n // 4
        assert "injected defect for boom" in log and f"{settings.input_topic}/" in log
        assert worker.proc.alive()
    finally:
        worker.stop()


def _rekey_failing_worker(kafka_bootstrap, tmp_path):
    """A worker whose re-key sends raise (tests/faulty_worker.py), four accounts of partition 0, one of
    another partition, an event maker, and partition 0's committed offset."""
    from detectors.engine import partition_for

    settings = unique_settings(kafka_bootstrap, tmp_path, web_enabled=True, web_port=free_port())
    parts = settings.partitions
    here = [a for a in (f"h{i}" for i in range(200)) if partition_for(a.encode(), parts) == 0][:4]
    away = next(a for a in (f"x{i}" for i in range(200)) if partition_for(a.encode(), parts) != 0)

    def event(i: int, account: str) -> bytes:
        return orjson.dumps({"request_id": f"r{i}", "timestamp": 1.8e9 + i, "account_id": account,
                             "model": "m-1", "status_code": 200})

    def offset() -> int | None:
        return group_offsets(kafka_bootstrap, settings.app_id, settings.input_topic).get(0)

    worker = RunningWorker(settings, tmp_path / "faulty-rekey.log")
    worker.proc.command = (str(Path(__file__).with_name("faulty_worker.py")), "worker")
    worker.proc.env = {"FAULTY_REKEY": "1"}
    return settings, worker, here, away, event, offset


def _own(here: list[str], event, numbers) -> list[tuple[bytes, bytes]]:
    return [(here[i % 4].encode(), event(i, here[i % 4])) for i in numbers]


def _until(condition, worker, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert worker.proc.alive(), worker.proc.log_tail(40)
        assert time.monotonic() < deadline, f"{what}\n" + worker.proc.log_tail(40)
        time.sleep(0.5)


def test_a_message_whose_rekeyed_events_were_not_sent_is_not_committed(kafka_bootstrap, tmp_path):
    """Events bound for another partition's account wait in the agent and go out as one re-key message per
    partition for many input messages. The message they came from is acknowledged only once they are handed
    to the producer, and so is every message after it: Faust commits past an unacknowledged message at the head
    of a partition as soon as the next one is acknowledged. tests/faulty_worker.py makes every re-key send
    raise; the partition's commits must stop at that message, with the ten after it in the same bunch."""
    settings, worker, here, away, event, offset = _rekey_failing_worker(kafka_bootstrap, tmp_path)
    worker.start()
    try:
        produce(kafka_bootstrap, settings.input_topic, _own(here, event, range(20)))
        _until(lambda: offset() == 20, worker, 120, "partition 0's own accounts: handled, committed")
        # keyed to partition 0, carrying an event of an account of another partition; then ten of partition 0's own
        produce(kafka_bootstrap, settings.input_topic, [(here[0].encode(), event(20, away))] + _own(here, event, range(21, 31)))
        _until(lambda: "injected re-key send failure" in worker.proc.log_path.read_text(errors="replace"), worker, 60,
               "no injected failure")
        time.sleep(8)  # Faust commits every 2.8 s, and once more when an agent fails
        assert offset() == 20
        valid = metric(scrape(settings.web_port), "distillwatch_events_total", outcome="valid")
        assert valid == 30  # the ten after it were handled, in the same bunch: only their acks wait
    finally:
        worker.stop()


def test_after_the_agent_fails_outside_a_message_its_lone_unfinished_message_is_not_committed(kafka_bootstrap,
                                                                                                tmp_path):
    """When the agent's loop fails outside a message (here: the re-key send of a bunch that held one message),
    Faust restarts the agent in the same process and the message stays unacknowledged. The restarted agent
    handles and acknowledges the next messages; Faust alone would then commit past the lone one (its gap check
    needs two offsets), and that message's events would never be processed. The worker's consumer does not
    commit past a message the agent has taken (streams.app._Consumer)."""
    settings, worker, here, away, event, offset = _rekey_failing_worker(kafka_bootstrap, tmp_path)
    worker.start()
    try:
        produce(kafka_bootstrap, settings.input_topic, _own(here, event, range(20)))
        _until(lambda: offset() == 20, worker, 120, "partition 0's own accounts: handled, committed")
        produce(kafka_bootstrap, settings.input_topic, [(here[0].encode(), event(20, away))])
        _until(lambda: "injected re-key send failure" in worker.proc.log_path.read_text(errors="replace"), worker, 60,
               "no injected failure")
        produce(kafka_bootstrap, settings.input_topic, _own(here, event, range(21, 26)))

        def valid() -> float:
            return metric(scrape(settings.web_port), "distillwatch_events_total", outcome="valid")

        _until(lambda: valid() == 25, worker, 60, "the restarted agent did not handle the next five")
        time.sleep(8)  # commits every 2.8 s
        assert offset() == 20
    finally:
        worker.stop()
