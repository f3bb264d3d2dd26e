"""Crash and restart guarantees, against the real embedded broker and real workers.

What is proved here (docs/guarantees.md states it for users):

- A worker killed with SIGKILL in the middle of a stream and started again gets
  its per-account state and its online models back from the changelogs, raises
  every alert an uninterrupted run raises, and raises no alert the
  uninterrupted run does not. Events processed after the last offset commit
  are read again (at least once); the account states skip the ones they
  already absorbed by offset, so each account ends with exactly the state of
  the uninterrupted run. An alert can reach ``abuse-alerts`` twice, always with
  the same ``alert_id``, so a consumer that de-duplicates on ``alert_id`` sees
  exactly the uninterrupted run's alerts.
- The same when the broker becomes unreachable for longer than the session
  timeout under a running worker that is not restarted.
- No offset is committed before the account states that absorbed its events
  are acknowledged in the changelog, also on a link slow enough that Faust's
  own producer flush would give up waiting.
- What handling a message produces (alerts, actions, cluster evidence) reaches the producer before any
  table write that records the message as handled: a record held at the producer for good holds back that
  state too, so a crash loses neither.
- A restarted worker reads on from its committed offsets and commits to the
  end (Faust resumes stream partitions before seeking them: faust-streaming
  issue #596; the worker holds them until the seek).
- Why that outage is made at the network and not by restarting tansu: tansu's
  s3:// storage loses acknowledged records across a restart (strict xfail).
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from detectors.engine import Detector, PartitionContext
from detectors.state import AccountState
from streams.app import CONTEXT_TABLE, TABLE_NAME
from streams.broker import EmbeddedBroker, free_port
from streams.replay import replay
from tests.conftest import RunningWorker, unique_settings
from tests.kafkautil import consume, group_offsets, produce
from tests.s3server import S3rver
from tests.tcpproxy import TcpProxy
from tests.test_integration import _outcomes, _wait_for_metrics, simulated_events

pytestmark = pytest.mark.integration

#: 6,271 events of 35 accounts over 4 partitions; replay raises 10 alerts from them
#: (opened, escalated and cluster-linked ones)
SEED, HOURS, SCALE = 3, 1.0, 0.1
#: the worker refreshes its model gauges on a 5 s timer
METRICS_TICK = 5.5


@pytest.fixture(scope="module")
def stream(tmp_path_factory) -> dict:
    """The events and what replay (the same detection code, partitions emulated) raises from them."""
    events = simulated_events(seed=SEED, hours=HOURS, scale=SCALE)
    d = tmp_path_factory.mktemp("restart-replay")
    (d / "in.jsonl").write_bytes(b"\n".join(raw for _, raw in events) + b"\n")
    replay(d / "in.jsonl", d / "alerts.jsonl", detector=Detector(), partitions=4)
    alerts = [orjson.loads(x) for x in (d / "alerts.jsonl").read_bytes().splitlines()]
    assert len(alerts) >= 5 and any(a["cluster"] for a in alerts), "too few alerts for the comparison to mean much"
    return dict(events=[(acct.encode(), raw) for acct, raw in events], alerts=alerts,
                first_evidence=_first_evidence([raw for _, raw in events]))


def _first_evidence(raws: list[bytes]) -> int:
    """The position of the event after which replay first sends cluster evidence (a cluster forms)."""
    from detectors.contract import decode
    from detectors.pipeline import LocalPipeline

    pipe = LocalPipeline(Detector(), partitions=4)
    for i, raw in enumerate(raws):
        pipe.handle(decode(raw))
        if any(told > float("-inf") for index in pipe.indexes.values() for _, _, told, _ in index.members.values()):
            return i
    raise AssertionError("no cluster forms in the stream")


def restart_settings(bootstrap: str, tmp_path: Path, **overrides):
    """Per-test topics (the actions topic too), the metrics endpoint on, models checkpointed every second."""
    s = unique_settings(bootstrap, tmp_path, web_enabled=True, context_checkpoint_seconds=1.0, **overrides)
    return s.model_copy(update={"actions_topic": f"actions-{s.app_id}"})


def committed_offsets(bootstrap: str, settings) -> dict[int, int]:
    """The worker's committed input offset (the next to read) per partition."""
    return {p: o for p, o in group_offsets(bootstrap, settings.app_id, settings.input_topic).items() if o > 0}


def committed(bootstrap: str, settings) -> int:
    """Input events the worker's consumer group has committed (offsets are 0-based: the sum is a count).

    Committed offsets, not end offsets: tansu's ListOffsets is wrong for batches of several records.
    """
    return sum(committed_offsets(bootstrap, settings).values())


def wait_committed(bootstrap: str, settings, n: int, worker: RunningWorker, timeout: float = 150.0) -> None:
    """Until the worker has committed ``n`` input events."""
    deadline = time.monotonic() + timeout
    while (done := committed(bootstrap, settings)) < n:
        assert worker.proc.alive(), "worker died:\n" + worker.proc.log_tail(40)
        assert time.monotonic() < deadline, (
            f"worker committed {done} of {n} events in {timeout:.0f}s:\n" + worker.proc.log_tail(60))
        time.sleep(0.3)


def read_alerts(bootstrap: str, settings, want: set[str], timeout: float = 90.0) -> list[dict]:
    """Every alert on the topic, once ``want`` has arrived and two more seconds stayed quiet."""
    records = consume(bootstrap, settings.alerts_topic, timeout=timeout,
                      until=lambda r: want <= {orjson.loads(m.value)["alert_id"] for m in r})
    records += consume(bootstrap, settings.alerts_topic, until=lambda r: False, timeout=2.0)[len(records):]
    return [orjson.loads(m.value) for m in records]


def assert_same_alerts_up_to_repeats(got: list[dict], expected: list[dict]) -> Counter:
    """The at-least-once guarantee for alerts: de-duplicated on ``alert_id``, exactly the expected
    alerts; every repeat is the same transition of the same episode. Returns the repeat counts."""
    ids = Counter(a["alert_id"] for a in got)
    assert set(ids) == {a["alert_id"] for a in expected}, (
        f"missing {sorted({a['alert_id'] for a in expected} - set(ids))}, "
        f"unexpected {sorted(set(ids) - {a['alert_id'] for a in expected})}"
    )
    by_id = {a["alert_id"]: a for a in expected}
    for a in got:  # a repeat may carry other scores (models resumed from a checkpoint), never another meaning
        want = by_id[a["alert_id"]]
        for field in ("account_id", "episode_id", "status", "severity", "episode_opened_at"):
            assert a[field] == want[field], (field, a, want)
    return Counter({k: n - 1 for k, n in ids.items() if n > 1})


def changelog(bootstrap: str, settings, table: str) -> dict[bytes, list[bytes]]:
    """Every value a table's changelog topic holds, per key, oldest first."""
    records = consume(bootstrap, f"{settings.app_id}-{table}-changelog", until=lambda r: False, timeout=1.5)
    out: dict[bytes, list[bytes]] = {}
    for m in records:
        out.setdefault(m.key, []).append(m.value)
    return out


def events_absorbed(bootstrap: str, settings) -> dict[bytes, int]:
    """Per account, how many events its latest changelogged state has absorbed."""
    return {k: AccountState.from_bytes(k.decode(), v[-1]).n
            for k, v in changelog(bootstrap, settings, TABLE_NAME).items()}


def test_worker_sigkill_mid_stream_recovers_state_and_models_and_loses_no_alert(
    worker_factory, kafka_bootstrap, tmp_path, stream
):
    events, expected = stream["events"], stream["alerts"]
    want = {a["alert_id"] for a in expected}

    # run A: one uninterrupted worker
    a = worker_factory(restart_settings(kafka_bootstrap, tmp_path))
    produce(kafka_bootstrap, a.settings.input_topic, events)
    wait_committed(kafka_bootstrap, a.settings, len(events), a)
    alerts_a = read_alerts(kafka_bootstrap, a.settings, want)
    assert sorted(x["alert_id"] for x in alerts_a) == sorted(want)  # uninterrupted: each alert once
    time.sleep(METRICS_TICK)
    scorings_a = _wait_for_metrics(a.settings, lambda v: True)[1]["distillwatch_anomaly_model_scorings"]
    a.stop()
    events_absorbed_a = events_absorbed(kafka_bootstrap, a.settings)

    # run B: the same stream; the worker is SIGKILLed while it works through it, then started again.
    # The kill lands before the first cluster forms (the head ends there): evidence on its topic at a crash is
    # applied at another point of its account's events than in an uninterrupted run, so the alerts after it
    # can legitimately differ (docs/guarantees.md); test_a_record_that_never_left_the_worker_... and
    # test_evidence_ahead_of_the_account_state_... cover evidence across a crash.
    s = restart_settings(kafka_bootstrap, tmp_path)
    b1 = worker_factory(s)
    head, tail = events[: stream["first_evidence"]], events[stream["first_evidence"]:]
    # the first part of the head, until a commit and a model checkpoint; then the rest, killed part-way
    first = len(events) // 4
    produce(kafka_bootstrap, s.input_topic, head[:first])
    _wait_for_metrics(s, lambda v: _outcomes(v) >= first, timeout=120)
    wait_committed(kafka_bootstrap, s, 1, b1, timeout=30)  # Faust commits every 2.8 s
    assert consume(kafka_bootstrap, f"{s.app_id}-{CONTEXT_TABLE}-changelog", timeout=30,  # a model checkpoint
                   until=lambda r: any(PartitionContext.from_bytes(m.value).anomaly.n_seen for m in r))
    produce(kafka_bootstrap, s.input_topic, head[first:])
    processed_at_kill = _outcomes(_wait_for_metrics(s, lambda v: _outcomes(v) >= first + 300, timeout=60)[1])
    os.killpg(b1.proc.proc.pid, signal.SIGKILL)
    b1.proc.proc.wait(10)
    committed_at_kill = committed(kafka_bootstrap, s)
    assert 0 < committed_at_kill < len(head), "the kill must land mid-stream, after a commit"
    assert not consume(kafka_bootstrap, s.evidence_topic, until=lambda r: False, timeout=1.0), "no cluster yet"
    contexts_at_kill = changelog(kafka_bootstrap, s, CONTEXT_TABLE)
    seen_at_kill = {k: PartitionContext.from_bytes(v[-1]).anomaly.n_seen for k, v in contexts_at_kill.items()}
    produce(kafka_bootstrap, s.input_topic, tail)  # traffic goes on while the worker is down

    t0 = time.monotonic()
    b2 = worker_factory(s)
    ready = time.monotonic() - t0
    wait_committed(kafka_bootstrap, s, len(events), b2)
    caught_up = time.monotonic() - t0
    alerts_b = read_alerts(kafka_bootstrap, s, want)
    time.sleep(METRICS_TICK)
    _, after = _wait_for_metrics(s, lambda v: True)
    b2.stop()

    # the restarted worker resumed at the committed offsets: it read everything after them once more
    assert _outcomes(after) >= len(events) - committed_at_kill
    # per-account state came back from the changelog: the restored dedup rings recognised re-read events
    recognised = after['distillwatch_events_total{outcome="duplicate"}']
    assert recognised > 0
    # model state came back from its checkpoint: the models end up having scored about as often as run A's.
    # Only what they learnt between the last checkpoint and the kill is lost; models started afresh would
    # lack all of the checkpoint's scorings.
    scorings_b = after["distillwatch_anomaly_model_scorings"]
    assert scorings_b > scorings_a - sum(seen_at_kill.values()), (scorings_a, scorings_b, seen_at_kill)
    # every account absorbed each event exactly once, as in run A: re-read events are skipped by the
    # offsets the restored state knows, also those long out of the account's 64-id dedup ring
    assert events_absorbed(kafka_bootstrap, s) == events_absorbed_a

    repeats = assert_same_alerts_up_to_repeats(alerts_b, expected)
    print(f"\nSIGKILL: restarted worker ready (tables recovered) in {ready:.1f} s, all committed in {caught_up:.1f} s; "
          f"committed at kill {committed_at_kill}, read after restart {_outcomes(after):.0f}, "
          f"processed before the kill {processed_at_kill:.0f}, recognised as duplicates {recognised:.0f}; "
          f"model scorings A {scorings_a:.0f} B {scorings_b:.0f} (checkpoint {sum(seen_at_kill.values())}); "
          f"alerts A {len(alerts_a)} "
          f"B {len(alerts_b)}, repeats {sum(repeats.values())}; evidence deferred "
          f"{after.get('distillwatch_cluster_evidence_deferred_total', 0):.0f} times")


@pytest.fixture
def proxied_broker(tmp_path):
    """A broker of this test's own behind a TCP proxy (which the broker advertises) that can cut the link."""
    broker_port = free_port()
    proxy = TcpProxy(broker_port).start()
    try:
        with EmbeddedBroker(port=broker_port, advertised_port=proxy.port, log_path=tmp_path / "tansu.log"):
            yield proxy
    finally:
        proxy.close()


def test_broker_outage_under_a_running_worker_loses_no_alert(proxied_broker, tmp_path, stream):
    """Every connection to the broker drops and none is possible for twice the session timeout, while
    events flow; then the broker is reachable again, with its data.

    The worker is not restarted: its fetches, sends, heartbeats and commits fail meanwhile, and it
    must reconnect and carry on by itself. (tansu keeps the group member through the outage, so no
    rebalance follows here; a broker that expires it makes the worker rejoin and re-read from the
    committed offsets, as after a crash.) (A real restart of tansu on
    s3:// storage loses acknowledged records here, so the outage is made at the network: see
    docs/guarantees.md.)
    """
    events, expected = stream["events"], stream["alerts"]
    want = {a["alert_id"] for a in expected}
    proxy = proxied_broker
    bootstrap = proxy.bootstrap
    s = restart_settings(bootstrap, tmp_path)
    head, tail = events[: len(events) // 2], events[len(events) // 2:]
    w = RunningWorker(s, tmp_path / "worker.log").start()
    try:
        produce(bootstrap, s.input_topic, head)
        _wait_for_metrics(s, lambda v: _outcomes(v) >= len(events) * 0.25, timeout=120)
        proxy.cut()
        try:
            time.sleep(2 * s.session_timeout)
            _, during = _wait_for_metrics(s, lambda v: True)
            assert w.proc.alive(), w.proc.log_tail(40)
        finally:
            proxy.restore()
        produce(bootstrap, s.input_topic, tail)
        wait_committed(bootstrap, s, len(events), w, timeout=170)
        alerts = read_alerts(bootstrap, s, want)
        _, values = _wait_for_metrics(s, lambda v: True)
    finally:
        w.stop()
    # mid-stream: after a quarter of the events, before the tail (a fast worker may have read the whole head)
    assert len(events) * 0.25 <= _outcomes(during) <= len(head), "the outage must land mid-stream"
    assert _outcomes(values) >= len(events)
    repeats = assert_same_alerts_up_to_repeats(alerts, expected)
    log = w.proc.log_path.read_text(errors="replace")
    assert "Unable connect to node" in log, "the worker must have felt the outage"
    print(f"\nbroker outage: events read {_outcomes(values):.0f} of {len(events)} "
          f"({_outcomes(during):.0f} when the link came back), "
          f"group joins {log.count('Joined group')}, alerts {len(alerts)}, repeats {sum(repeats.values())}")


def repeated_request_ids(values) -> set[int]:
    """Positions of the events (raw values, in stream order) whose request id an earlier one had: the
    detector drops them as duplicates (retries repeat the same bytes, so positions, not values)."""
    seen: set[str] = set()
    out: set[int] = set()
    for i, raw in enumerate(values):
        rid = orjson.loads(raw)["request_id"]
        if rid in seen:
            out.add(i)
        seen.add(rid)
    return out


def test_no_offset_is_committed_before_the_account_states_it_covers(proxied_broker, tmp_path, stream):
    """Account states reach the changelog once per commit (streams.states), so the commit must wait
    until every one of those writes is acknowledged: else a crash right after it loses the events the
    unwritten states had absorbed (their offsets are committed; they are never read again).

    Every answer the broker sends the worker is held back 0.2 s, so a flush's changelog writes take
    seconds, longer than Faust's own producer flush waits for its buffer (0.1 s without a send). The
    worker is frozen (SIGSTOP) as soon as a new commit is seen; at that moment the changelog must hold,
    for every account, a state that has absorbed its newest event below the committed offsets.
    """
    events = stream["events"]
    proxy = proxied_broker
    bootstrap = proxy.bootstrap
    s = restart_settings(bootstrap, tmp_path)
    w = RunningWorker(s, tmp_path / "worker.log").start()
    pid = w.proc.proc.pid
    stopped = False
    try:
        head = events[: len(events) // 3]
        produce(bootstrap, s.input_topic, head)
        wait_committed(bootstrap, s, len(head), w, timeout=120)
        proxy.slow_down(0.2)  # the worker's connections, not this test's
        produce(bootstrap, s.input_topic, events[len(head):])
        before = committed_offsets(bootstrap, s)
        deadline = time.monotonic() + 60
        while (now := committed_offsets(bootstrap, s)) == before:
            assert w.proc.alive(), w.proc.log_tail(40)
            assert time.monotonic() < deadline, "no commit in 60 s on the slow link:\n" + w.proc.log_tail(40)
            time.sleep(0.02)
        os.kill(pid, signal.SIGSTOP)  # frozen: nothing more it holds reaches the broker
        stopped = True
        records = consume(bootstrap, s.input_topic, until=lambda r: len(r) >= len(events), timeout=30)
        states = changelog(bootstrap, s, TABLE_NAME)
    finally:
        if stopped:
            os.kill(pid, signal.SIGCONT)
        w.stop()
    # per account, the offset of its newest event below the commit; a repeated request id is a duplicate
    # the state does not absorb (nor record the offset of), so it is left out
    records.sort(key=lambda m: (m.partition, m.offset))  # an account's events are in one partition, in order
    repeats = repeated_request_ids(m.value for m in records)
    newest: dict[bytes, int] = {}
    for i, m in enumerate(records):
        if m.offset < now.get(m.partition, 0) and i not in repeats:
            newest[m.key] = max(newest.get(m.key, -1), m.offset)
    assert newest, now
    absorbed = {k: AccountState.from_bytes(k.decode(), v[-1]).input_offset for k, v in states.items()}
    behind = {k.decode(): (off, absorbed.get(k)) for k, off in newest.items() if absorbed.get(k, -1) < off}
    assert not behind, (f"committed {now} (was {before}) before these accounts' states reached the changelog "
                        f"(newest event offset, changelogged state's offset): {behind}")
    print(f"\nslow link: commit {before} -> {now} with every covered state in the changelog "
          f"({len(newest)} accounts)")


def test_a_restarted_worker_reads_on_from_its_committed_offsets_and_commits_to_the_end(
    proxied_broker, tmp_path, stream
):
    """After a rebalance Faust resumes the stream partitions before it seeks them to their committed
    offsets (faust-streaming issue #596). Records fetched in that window used to leave Faust's ack
    bookkeeping counting offsets twice, after which the commit of that partition moved one offset per
    commit interval: the worker read everything and committed almost nothing (seen in the SIGKILL
    test about one run in five). On a slow link, every broker answer 0.1 s late, the window is wide.
    """
    events = stream["events"]
    proxy = proxied_broker
    bootstrap = proxy.bootstrap
    s = restart_settings(bootstrap, tmp_path)
    head, tail = events[: len(events) // 2], events[len(events) // 2:]
    w1 = RunningWorker(s, tmp_path / "worker-1.log").start()
    try:
        produce(bootstrap, s.input_topic, head)
        wait_committed(bootstrap, s, len(head), w1, timeout=120)
    finally:
        w1.stop()
    produce(bootstrap, s.input_topic, tail)
    proxy.slow_down(0.1, new_connections=True)
    t0 = time.monotonic()
    w2 = RunningWorker(s, tmp_path / "worker-2.log").start()
    try:
        wait_committed(bootstrap, s, len(events), w2, timeout=90)
        took = time.monotonic() - t0
        _, values = _wait_for_metrics(s, lambda v: _outcomes(v) >= len(tail), timeout=30)
    finally:
        w2.stop()
    # it read on from the commit: every tail event once, nothing of the head again (the only duplicates
    # are the stream's own repeated request ids)
    repeats = repeated_request_ids(raw for _, raw in events)
    assert _outcomes(values) == len(tail)
    assert values['distillwatch_events_total{outcome="duplicate"}'] == sum(i >= len(head) for i in repeats)
    print(f"\nrestart on a slow link: {len(tail)} events read and committed in {took:.1f} s")


@pytest.mark.xfail(
    strict=True, raises=AssertionError,
    reason="tansu 0.6.0 on s3:// storage resumes a partition at a stale high watermark after a restart and "
    "overwrites acknowledged records (docs/guarantees.md)",
)
def test_tansu_on_s3_storage_keeps_every_acknowledged_record_across_a_restart(tmp_path):
    """Why the broker-outage test cuts the network instead of restarting tansu.

    A broker restart under a running worker needs a broker that keeps its data; tansu's only persistent
    storage in this build is s3://. Here it is given a real S3 service (s3rver), records are produced
    and acknowledged, tansu is stopped gracefully and started again on the same storage, more records
    are produced, and all are read back. Seen (Nov 2026): hundreds of the first records are gone and
    offsets repeat. Strict: the day tansu keeps them, this test fails and the outage test can become
    a real restart.
    """
    s3 = S3rver(tmp_path / "s3", tmp_path / "s3rver.log").start("tansu")
    broker = EmbeddedBroker(log_path=tmp_path / "tansu.log", storage="s3://tansu/", env=s3.env())
    try:
        broker.start()
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        admin.create_topics([NewTopic("t", 4, 1)])
        admin.close()
        first = [(b"k%d" % (i % 13), b"%d" % i) for i in range(3000)]
        produce(broker.bootstrap, "t", first)
        broker.stop()  # SIGTERM: a clean shutdown
        broker.start()
        produce(broker.bootstrap, "t", [(b"k%d" % (i % 13), b"%d" % i) for i in range(3000, 6000)])
        got = {int(m.value) for m in consume(broker.bootstrap, "t", until=lambda r: len(r) >= 6000, timeout=15)}
    finally:
        broker.stop()
        s3.stop()
    assert got == set(range(6000)), f"{6000 - len(got)} acknowledged records lost"


def _batched(events: list[tuple[bytes, bytes]], parts: int, size: int = 200) -> list[tuple[bytes, bytes]]:
    """The stream as JSON arrays of up to ``size`` events of one partition, keyed to it, in stream order."""
    from detectors.engine import partition_for

    by_part: dict[int, list[tuple[bytes, bytes]]] = {}
    for key, raw in events:
        by_part.setdefault(partition_for(key, parts), []).append((key, raw))
    out = []
    for items in by_part.values():
        for i in range(0, len(items), size):
            chunk = items[i : i + size]
            out.append((chunk[0][0], b"[" + b",".join(raw for _, raw in chunk) + b"]"))
    return out


def _settled(bootstrap: str, settings, messages: int, worker: RunningWorker, timeout: float = 150.0) -> None:
    """Until the worker has committed every input message and everything on the fingerprint and evidence
    topics (which carry the cluster links), and the two have stayed so over a commit."""
    deadline = time.monotonic() + timeout

    def done() -> bool:
        if committed(bootstrap, settings) < messages:
            return False
        for topic in (settings.fingerprints_topic, settings.evidence_topic):
            n = len(consume(bootstrap, topic, until=lambda r: False, timeout=1.0))
            if sum(group_offsets(bootstrap, settings.app_id, topic).values()) < n:
                return False
        return True

    while not (done() and (time.sleep(3.0) or done())):
        assert worker.proc.alive(), "worker died:\n" + worker.proc.log_tail(40)
        assert time.monotonic() < deadline, "worker did not settle:\n" + worker.proc.log_tail(60)
        time.sleep(0.5)


@pytest.mark.parametrize("held", ["evidence", "fingerprints", "actions"])
def test_a_record_that_never_left_the_worker_holds_back_the_state_that_records_it(
    held, worker_factory, kafka_bootstrap, tmp_path, stream
):
    """What handling a message produces (alerts, rate-limit actions, cluster evidence) must be handed to the
    producer before any table write that records the message as handled: otherwise a crash between the two
    leaves state that skips the message when it is read again, and its output is never produced.

    tests/faulty_worker.py holds the first record for one topic at the producer for good (the process died
    just before sending it); the worker is then SIGKILLed two commits later and restarted as it ships. Held
    evidence: the coordinating agent must not write the fingerprint index (which remembers whom it told)
    ahead of the evidence; the cluster-linked alerts would be lost. Held fingerprints (gathered over messages,
    streams.app._Gathered): the detect agent must send them before the account states that record them as
    published reach the changelog. Held action: the detect agent must not
    let the account states of a message reach the changelog ahead of its actions; the action, and alerts
    after it in the message, would be lost. Input is batched (arrays of 200 events of one partition), so a
    message carries several accounts' alerts. Compared with an uninterrupted worker on the same input."""
    events = _batched(stream["events"], 4)
    overrides = dict(actions_warmup_guard=False, actions_max_lag_seconds=1e9)  # an action for each alert

    def alerts_and_actions(s) -> tuple[set[str], set[str]]:
        alerts = consume(kafka_bootstrap, s.alerts_topic, until=lambda r: False, timeout=2.0)
        actions = consume(kafka_bootstrap, s.actions_topic, until=lambda r: False, timeout=2.0)
        return ({orjson.loads(m.value)["alert_id"] for m in alerts},
                {a["action_id"] for a in (orjson.loads(m.value) for m in actions) if "action_id" in a})

    a = worker_factory(restart_settings(kafka_bootstrap, tmp_path, **overrides))
    produce(kafka_bootstrap, a.settings.input_topic, events)
    _settled(kafka_bootstrap, a.settings, len(events), a)
    alerts_a, actions_a = alerts_and_actions(a.settings)
    a.stop()
    assert any(a["cluster"] for a in stream["alerts"]) and actions_a, (alerts_a, actions_a)

    s = restart_settings(kafka_bootstrap, tmp_path, **overrides)
    b1 = RunningWorker(s, tmp_path / "held.log")
    b1.proc.command = (str(Path(__file__).with_name("faulty_worker.py")), "worker")
    b1.proc.env = {"FAULTY_HOLD_TOPIC": {"evidence": s.evidence_topic, "fingerprints": s.fingerprints_topic,
                                         "actions": s.actions_topic}[held]}
    b1.start()
    try:
        produce(kafka_bootstrap, s.input_topic, events)
        deadline = time.monotonic() + 120
        while "FAULTY: holding a record" not in b1.proc.log_path.read_text(errors="replace"):
            assert b1.proc.alive() and time.monotonic() < deadline, b1.proc.log_tail(40)
            time.sleep(0.3)
        time.sleep(2 * 2.8 + 1)  # two offset commits (Faust commits every 2.8 s)
        os.killpg(b1.proc.proc.pid, signal.SIGKILL)
        b1.proc.proc.wait(10)
    finally:
        b1.stop()

    b2 = worker_factory(s)
    _settled(kafka_bootstrap, s, len(events), b2)
    alerts_b, actions_b = alerts_and_actions(s)
    assert alerts_b == alerts_a, (f"missing {sorted(alerts_a - alerts_b)}, unexpected {sorted(alerts_b - alerts_a)}")
    assert actions_a <= actions_b, f"actions missing {sorted(actions_a - actions_b)}"


def test_evidence_ahead_of_the_account_state_waits_for_it(worker_factory, kafka_bootstrap, tmp_path, stream):
    """After a crash an account state comes back from its last changelogged write, while cluster evidence
    about a fingerprint it published later is already on the evidence topic, and can be read before the
    events that published the fingerprint are read again. Applied then, the link lands on the older state:
    no alert is open yet, so no ``linked`` alert is raised, and none later (the account is linked already).
    The worker sends such evidence round its topic until the state has published that fingerprint.

    Made here without a crash: an uninterrupted worker gives the evidence an account received (and its
    ``linked`` alert); a second worker gets the stream up to that account's first event, then that evidence
    record, then the rest of the stream."""
    events = stream["events"]
    a = worker_factory(restart_settings(kafka_bootstrap, tmp_path))
    produce(kafka_bootstrap, a.settings.input_topic, events)
    _settled(kafka_bootstrap, a.settings, len(events), a)
    linked = {orjson.loads(m.value)["account_id"] for m in
              consume(kafka_bootstrap, a.settings.alerts_topic, until=lambda r: False, timeout=2.0)
              if orjson.loads(m.value)["status"] == "linked"}
    # each evidence record is a JSON array: the evidence of one fingerprint record for one partition's accounts
    evidence = [item
                for m in consume(kafka_bootstrap, a.settings.evidence_topic, until=lambda r: False, timeout=2.0)
                for item in orjson.loads(m.value) if item["account_id"] in linked]
    a.stop()
    assert evidence, linked
    item = evidence[0]
    account = item["account_id"]
    assert item["member_ts"] > 0

    s = restart_settings(kafka_bootstrap, tmp_path)
    b = worker_factory(s)
    first = next(i for i, (key, _) in enumerate(events) if key == account.encode()) + 1
    produce(kafka_bootstrap, s.input_topic, events[:first])
    wait_committed(kafka_bootstrap, s, first, b)
    produce(kafka_bootstrap, s.evidence_topic, [(account.encode(), orjson.dumps([item]))])  # the account's partition
    _wait_for_metrics(s, lambda v: v.get("distillwatch_cluster_evidence_deferred_total", 0) >= 1, timeout=30)
    produce(kafka_bootstrap, s.input_topic, events[first:])
    _settled(kafka_bootstrap, s, len(events), b)
    _, values = _wait_for_metrics(s, lambda v: True)
    alerts = [orjson.loads(m.value) for m in
              consume(kafka_bootstrap, s.alerts_topic, until=lambda r: False, timeout=2.0)]
    mine = [(x["status"], x["severity"]) for x in alerts if x["account_id"] == account]
    assert ("linked" in {st for st, _ in mine}), (account, mine)
    print(f"\nearly evidence for {account}: deferred "
          f"{values['distillwatch_cluster_evidence_deferred_total']:.0f} times; its alerts {mine}")
