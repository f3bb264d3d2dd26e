"""End to end against a real broker and real worker processes.

The broker is the embedded tansu (tests/conftest.py); the worker is a
``distillwatch worker`` child process; events are produced with kafka-python
and the alerts and rejects are read back from their topics.
"""

from __future__ import annotations

import re
import time
import urllib.request

import orjson
import pytest

import simulator
from detectors.contract import decode_message
from detectors.engine import Detector, partition_for
from streams.app import DLQ_CODE_HEADER, DLQ_FIELD_HEADER, DLQ_INDEX_HEADER, DLQ_REASON_HEADER
from streams.replay import replay
from tests.kafkautil import consume, produce

pytestmark = pytest.mark.integration

INVALID = [
    b"{not json",
    b'{"request_id":"x1","timestamp":"2026-11-28T01:00:00Z","model":"m","status_code":200}',
    b'{"request_id":"x2","timestamp":"2026-11-28T01:00:00Z","account_id":"a","model":"m","status_code":700}',
    b'{"request_id":"x3","timestamp":"yesterday","account_id":"a","model":"m","status_code":200}',
    b"\xff\xfe not utf-8",
    b'"a JSON string, not an object"',
]


def simulated_events(seed: int = 3, hours: float = 2.0, scale: float = 0.05) -> list[tuple[str, bytes]]:
    sc = simulator.Scenario(seed=seed, hours=hours, scale=scale, duplicate_rate=0.01)
    return [(acct, raw) for _, acct, raw in simulator.generate(sc)]


@pytest.fixture(scope="module")
def traffic(tmp_path_factory):
    """Simulated events plus malformed ones, and what replay makes of them."""
    events = simulated_events()
    lines = [raw for _, raw in events]
    # malformed events spread through the stream
    step = len(lines) // (len(INVALID) + 1)
    for i, bad in enumerate(INVALID):
        lines.insert((i + 1) * step, bad)
    d = tmp_path_factory.mktemp("replay")
    (d / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    # the workers in these tests run 4 partitions (conftest.unique_settings): replay emulates the same
    stats = replay(d / "in.jsonl", d / "alerts.jsonl", dlq_path=d / "dlq.jsonl", detector=Detector(), partitions=4)
    alerts = [orjson.loads(x) for x in (d / "alerts.jsonl").read_bytes().splitlines()]
    assert stats.alerts >= 5, "the scenario must raise alerts for the comparison to mean something"
    assert stats.duplicates > 0 and stats.invalid == len(INVALID)
    return dict(lines=lines, stats=stats, alerts=alerts)


def _key_for(raw: bytes) -> bytes | None:
    try:
        return orjson.loads(raw)["account_id"].encode()
    except Exception:
        return None


def test_worker_and_replay_raise_the_same_alerts(worker_factory, kafka_bootstrap, traffic):
    w = worker_factory(web_enabled=True)
    s = w.settings
    # its start-up heap is out of the full collections' way (streams.cli.freeze_heap)
    assert re.search(r"\b\d{5,} start-up objects kept out of the garbage collector", w.proc.log_path.read_text())
    produce(kafka_bootstrap, s.input_topic, ((_key_for(raw), raw) for raw in traffic["lines"]))

    expected = traffic["alerts"]
    records = consume(kafka_bootstrap, s.alerts_topic, until=lambda r: len(r) >= len(expected), timeout=240)
    got = [orjson.loads(m.value) for m in records]
    assert sorted(a["alert_id"] for a in got) == sorted(a["alert_id"] for a in expected)
    by_id = {a["alert_id"]: a for a in expected}
    for msg, alert in zip(records, got):
        assert alert == by_id[alert["alert_id"]]  # the whole alert, not only its id
        assert msg.key == alert["account_id"].encode()

    dlq = consume(kafka_bootstrap, s.dlq_topic, until=lambda r: len(r) >= len(INVALID), timeout=60)
    assert sorted(m.value for m in dlq) == sorted(INVALID)  # original bytes, unchanged
    for m in dlq:
        headers = dict(m.headers)
        assert headers[DLQ_REASON_HEADER] and headers[DLQ_CODE_HEADER]
    by_value = {m.value: dict(m.headers) for m in dlq}
    assert by_value[INVALID[1]][DLQ_FIELD_HEADER] == b"account_id"
    assert by_value[INVALID[2]][DLQ_FIELD_HEADER] == b"status_code"
    assert by_value[INVALID[2]][DLQ_CODE_HEADER] == b"range"
    assert by_value[INVALID[4]][DLQ_CODE_HEADER] == b"utf8"

    # exact accounting from the worker's own metrics: every event is valid, invalid or a duplicate
    stats = traffic["stats"]
    text, values = _wait_for_metrics(s, lambda v: _outcomes(v) >= stats.events)
    assert values['distillwatch_events_total{outcome="valid"}'] == stats.valid
    assert values['distillwatch_events_total{outcome="invalid"}'] == stats.invalid
    assert values['distillwatch_events_total{outcome="duplicate"}'] == stats.duplicates
    assert values['distillwatch_alerts_total{severity="critical",status="opened"}'] == sum(
        1 for a in expected if a["severity"] == "critical" and a["status"] == "opened"
    )
    assert "prompt" not in text.lower()
    # ?name[]= renders only the series asked for (what a poller of one counter reads)
    url = f"http://127.0.0.1:{s.web_port}/metrics?name[]=distillwatch_events_total&name[]=distillwatch_alerts_total"
    only = urllib.request.urlopen(url, timeout=10).read().decode()
    series = {line.split("{")[0].split(" ")[0] for line in only.splitlines() if line and not line.startswith("#")}
    assert series == {"distillwatch_events_total", "distillwatch_alerts_total"}
    assert f'distillwatch_events_total{{outcome="valid"}} {float(stats.valid)}' in only


def test_keyless_and_miskeyed_messages_are_rekeyed_by_account(worker_factory, kafka_bootstrap):
    w = worker_factory(web_enabled=True)
    s = w.settings
    msgs = []
    for i in range(200):
        ev = {
            "request_id": f"k-{i}",
            "timestamp": 1795860000.0 + 3 * i,
            "account_id": "acct-keyless",
            "model": "frontier-large",
            "status_code": 200,
            "finish_reason": "length",
            "usage": {"input_tokens": 40, "output_tokens": 1500},
            "prompt": {"messages_count": 1, "text": "Show your chain of thought step by step."},
        }
        key = None if i % 2 == 0 else b"some-other-account"
        msgs.append((key, orjson.dumps(ev)))
    produce(kafka_bootstrap, s.input_topic, msgs)
    records = consume(kafka_bootstrap, s.alerts_topic, until=lambda r: len(r) >= 1, timeout=120)
    assert records, "no alert for an account whose events all arrived without its key"
    assert records[0].key == b"acct-keyless"
    _, values = _wait_for_metrics(s, lambda v: v['distillwatch_events_total{outcome="valid"}'] >= 200)
    assert values['distillwatch_events_total{outcome="valid"}'] == 200  # each processed once
    # the ones that arrived on another partition than the account's went through the re-key topic
    n = int(values['distillwatch_events_total{outcome="rekeyed"}'])
    assert 50 <= n <= 200
    # gathered over the input messages: fewer re-key messages than events, each event once
    rekeyed = consume(kafka_bootstrap, s.rekey_topic, timeout=60,
                      until=lambda r: sum(len(decode_message(m.value)) for m in r) >= n)
    events = [ev for m in rekeyed for _, ev in decode_message(m.value)]
    assert len(events) == n and len({ev.request_id for ev in events}) == n
    assert {ev.account_id for ev in events} == {"acct-keyless"}
    assert len(rekeyed) < n
    home = partition_for(b"acct-keyless", s.partitions)
    assert {m.partition for m in rekeyed} == {home}


def test_batched_messages_json_arrays_and_ndjson(worker_factory, kafka_bootstrap):
    """Log shippers send many events per message, keyless: each event is processed once, in its
    account's partition (the rest re-routed there as batches), and a bad element goes to the DLQ
    alone with its position."""
    w = worker_factory(web_enabled=True)
    s = w.settings
    events = []
    for i in range(600):
        acct = "acct-b7" if i % 3 == 0 else f"acct-b{i % 30}"  # one harvester, 200 of the events
        hot = acct == "acct-b7"
        events.append({
            "request_id": f"b-{i}", "timestamp": 1795860000.0 + 2 * i, "account_id": acct,
            "model": "frontier-large", "status_code": 200,
            "finish_reason": "length" if hot else "stop",
            "usage": {"input_tokens": 40, "output_tokens": 1500 if hot else 90},
            "prompt": {"messages_count": 1 if hot else 4,
                       "text": "Show your chain of thought step by step." if hot else "thanks, and the next one?"},
        })
    msgs = []
    for j in range(0, len(events), 20):
        chunk = events[j:j + 20]
        if (j // 20) % 2:
            msgs.append((None, orjson.dumps(chunk)))
        else:
            msgs.append((None, b"\n".join(orjson.dumps(e) for e in chunk) + b"\n"))
    msgs.append((None, orjson.dumps([{"request_id": "bad-1"}, 7, dict(events[0], request_id="b-extra")])))
    produce(kafka_bootstrap, s.input_topic, msgs)
    _, values = _wait_for_metrics(s, lambda v: v['distillwatch_events_total{outcome="valid"}'] >= 601)
    assert values['distillwatch_events_total{outcome="valid"}'] == 601
    assert values['distillwatch_events_total{outcome="invalid"}'] == 2
    assert values['distillwatch_events_total{outcome="duplicate"}'] == 0
    assert values['distillwatch_events_total{outcome="rekeyed"}'] > 0
    dlq = consume(kafka_bootstrap, s.dlq_topic, until=lambda r: len(r) >= 2, timeout=60)
    got = sorted((dict(m.headers)[DLQ_INDEX_HEADER], m.value) for m in dlq)
    assert got == [(b"0", b'{"request_id":"bad-1"}'), (b"1", b"7")]
    alerts = consume(kafka_bootstrap, s.alerts_topic, until=lambda r: len(r) >= 1, timeout=120)
    assert {m.key for m in alerts} == {b"acct-b7"}


def _gathered(worker_factory, kafka_bootstrap, events: list[dict], per_message: int, **limits) -> list:
    """``events`` as keyless NDJSON messages of ``per_message`` through a worker with ``limits``: all of them
    valid, none rejected; the re-key messages that carried the re-routed ones."""
    s = worker_factory(web_enabled=True, **limits).settings
    produce(kafka_bootstrap, s.input_topic, [(None, b"\n".join(orjson.dumps(e) for e in events[j:j + per_message]))
                                            for j in range(0, len(events), per_message)])
    _, values = _wait_for_metrics(s, lambda v: v['distillwatch_events_total{outcome="valid"}'] >= len(events))
    assert values['distillwatch_events_total{outcome="valid"}'] == len(events)
    assert values['distillwatch_events_total{outcome="invalid"}'] == 0
    n = int(values['distillwatch_events_total{outcome="rekeyed"}'])
    rekeyed = consume(kafka_bootstrap, s.rekey_topic, timeout=60,
                      until=lambda r: sum(len(decode_message(m.value)) for m in r) >= n)
    assert sum(len(decode_message(m.value)) for m in rekeyed) == n
    return rekeyed


def test_rekeyed_events_of_many_messages_are_gathered_within_the_message_limits(worker_factory, kafka_bootstrap):
    """The events bound for each partition are sent together for many input messages, in re-key messages that
    the worker reads back like input: none outgrows ``max_message_events`` or ``max_event_bytes``."""
    events = [{"request_id": f"g-{i}", "timestamp": 1795860000.0 + i, "account_id": f"acct-g{i % 13}",
               "model": "frontier-large", "status_code": 200} for i in range(240)]
    size = len(orjson.dumps(events[0]))
    assert 20 * (size + 1) > 1024 > 2 * (size + 1)  # the byte limit splits before the count does
    rekeyed = _gathered(worker_factory, kafka_bootstrap, events, 20, max_message_events=20, max_event_bytes=1024)
    assert all(len(m.value) <= 1024 for m in rekeyed), sorted(len(m.value) for m in rekeyed)[-5:]
    assert max(len(decode_message(m.value)) for m in rekeyed) > 1  # gathered, then split at the limit
    # the count limit, with the default byte limit
    rekeyed = _gathered(worker_factory, kafka_bootstrap, events[:120], 2, max_message_events=2)
    assert {len(decode_message(m.value)) for m in rekeyed} <= {1, 2}
    assert len(rekeyed) < sum(len(decode_message(m.value)) for m in rekeyed)


def test_worker_refuses_an_input_topic_with_the_wrong_partition_count(kafka_bootstrap, tmp_path):
    import subprocess
    import sys

    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    from tests.conftest import unique_settings

    s = unique_settings(kafka_bootstrap, tmp_path)
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(s.input_topic, 3, 1)])
    admin.close()
    env = {f"DISTILLWATCH_{k.upper()}": str(v) for k, v in s.model_dump().items() if v is not None}
    import os

    proc = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "has 3 partitions" in proc.stderr and "DISTILLWATCH_PARTITIONS" in proc.stderr


def _outcomes(values: dict[str, float]) -> float:
    return sum(values[f'distillwatch_events_total{{outcome="{o}"}}'] for o in ("valid", "invalid", "duplicate"))


def _wait_for_metrics(settings, predicate, timeout: float = 120.0) -> tuple[str, dict[str, float]]:
    """Scrape the worker's /metrics until ``predicate(values)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        url = f"http://127.0.0.1:{settings.web_port}/metrics"
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        values = _samples(text)
        if predicate(values) or time.monotonic() > deadline:
            return text, values
        time.sleep(0.5)


def _samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def _hydra_events(members: int = 8, per_member: int = 30) -> list[tuple[bytes, bytes]]:
    """A harvesting network: quiet accounts sharing one prompt template and prefix, taking turns."""
    topics = ["graph theory", "organic chemistry", "tax law", "compilers", "genetics", "game theory"]
    msgs = []
    t = 1795910400.0  # 2026-11-28T12:00:00Z
    for i in range(per_member):
        for m in range(members):
            acct = f"acct-hydra-{m}"
            ev = {
                "request_id": f"h-{m}-{i}",
                "timestamp": t,
                "account_id": acct,
                "model": "frontier-large",
                "status_code": 200,
                "client_ip": f"203.0.113.{10 + m}",
                "finish_reason": "length",
                "usage": {"input_tokens": 60, "output_tokens": 3000},
                "params": {"max_tokens": 3000, "temperature": 0.7},
                "prompt": {
                    "messages_count": 1,
                    "text": f"As a leading expert in {topics[(i + m) % len(topics)]}, solve problem {i}. "
                    "Write out your internal reasoning step by step before the final answer.",
                },
            }
            msgs.append((acct.encode(), orjson.dumps(ev)))
            t += 7.0
    return msgs


def test_live_coordination_links_a_quiet_network_and_labels_teach_the_model(worker_factory, kafka_bootstrap):
    w = worker_factory(web_enabled=True)
    s = w.settings
    msgs = _hydra_events()
    produce(kafka_bootstrap, s.input_topic, msgs)

    def clustered(records) -> set[str]:
        return {a["account_id"] for a in (orjson.loads(m.value) for m in records) if a.get("cluster")}

    records = consume(kafka_bootstrap, s.alerts_topic, until=lambda r: len(clustered(r)) >= 5, timeout=180)
    members = clustered(records)
    assert len(members) >= 5, f"cluster evidence reached only {members}"
    alert = next(orjson.loads(m.value) for m in records if orjson.loads(m.value).get("cluster"))
    cluster = alert["cluster"]
    assert cluster["size"] >= 5 and len(cluster["related_accounts"]) >= 4
    assert alert["account_id"] not in cluster["related_accounts"]
    assert all(a.startswith("acct-hydra-") for a in cluster["related_accounts"])

    labels = [
        (b"acct-hydra-0", orjson.dumps({"account_id": "acct-hydra-0", "label": "abusive", "analyst": "jd",
                                        "time": "2026-11-28T14:00:00Z", "note": "confirmed"})),
        (None, orjson.dumps({"account_id": "acct-hydra-1", "label": "abusive", "analyst": "jd", "time": 1795917600})),
        (b"acct-nobody", orjson.dumps({"account_id": "acct-nobody", "label": "benign", "analyst": "jd",
                                       "time": 1795917600})),
        (b"acct-hydra-2", b'{"account_id":"acct-hydra-2","label":"maybe","analyst":"jd","time":1795917600}'),
    ]
    produce(kafka_bootstrap, s.labels_topic, labels)
    key = 'distillwatch_analyst_labels_total{outcome="%s"}'
    _, values = _wait_for_metrics(
        s, lambda v: v[key % "abusive"] + v[key % "unknown_account"] + v[key % "invalid"] >= 4
    )
    assert values[key % "abusive"] == 2  # one keyless label re-keyed, then learned
    assert values[key % "unknown_account"] == 1
    assert values[key % "invalid"] == 1
    assert values["distillwatch_cluster_evidence_applied_total"] >= 5


def test_restart_recovers_account_state_and_models_from_the_changelogs(worker_factory, kafka_bootstrap, tmp_path):
    from tests.conftest import RunningWorker, unique_settings

    s = unique_settings(kafka_bootstrap, tmp_path, web_enabled=True, context_checkpoint_seconds=1.0)
    events = simulated_events(seed=5, hours=1.0, scale=0.05)
    first, later = events[: len(events) // 2], events[len(events) // 2 :]
    w1 = RunningWorker(s, tmp_path / "w1.log").start()
    try:
        produce(kafka_bootstrap, s.input_topic, ((a.encode(), raw) for a, raw in first))
        _, v1 = _wait_for_metrics(s, lambda v: _outcomes(v) >= len(first))
        time.sleep(1.5)  # past the checkpoint interval: the next events write the contexts
        produce(kafka_bootstrap, s.input_topic, ((a.encode(), raw) for a, raw in later[:400]))
        # the model gauges are set by a 5 s timer: wait for the tick after the events too
        _, v1 = _wait_for_metrics(s, lambda v: _outcomes(v) >= len(first) + 400
                                  and v["distillwatch_anomaly_model_scorings"] > 0)
        scorings = v1["distillwatch_anomaly_model_scorings"]
        assert scorings > 0
    finally:
        assert w1.stop() == 0
    w2 = RunningWorker(s, tmp_path / "w2.log").start()
    try:
        # the last events again (well within each account's 64-id dedup ring): the restored
        # account states know their request ids, so every one is a duplicate
        produce(kafka_bootstrap, s.input_topic, ((a.encode(), raw) for a, raw in later[360:400]))
        _, v2 = _wait_for_metrics(s, lambda v: _outcomes(v) >= 40)
        assert v2['distillwatch_events_total{outcome="duplicate"}'] == 40
        assert v2['distillwatch_events_total{outcome="valid"}'] == 0
        # new events: the models carry on from their checkpoint instead of relearning from zero
        produce(kafka_bootstrap, s.input_topic, ((a.encode(), raw) for a, raw in later[400:]))
        _, v2 = _wait_for_metrics(s, lambda v: v['distillwatch_events_total{outcome="valid"}'] > 0
                                  and v["distillwatch_anomaly_model_scorings"] > 0, timeout=60)
        time.sleep(6)  # one more metrics tick
        _, v2 = _wait_for_metrics(s, lambda v: True)
        assert v2["distillwatch_anomaly_model_scorings"] >= scorings * 0.5
    finally:
        w2.stop()


def test_idle_accounts_expire_in_the_worker(worker_factory, kafka_bootstrap):
    """An account idle past account_idle_seconds (event time) is forgotten: its open episode resolved
    first, its state deleted from the table (a tombstone in the changelog), counted in the metrics."""
    w = worker_factory(web_enabled=True, account_idle_seconds=600.0, expiry_sweep_seconds=1.0)
    s = w.settings
    t0 = 1795860000.0

    def event(acct: str, i: int, ts: float, hot: bool) -> bytes:
        return orjson.dumps({
            "request_id": f"{acct}-{i}", "timestamp": ts, "account_id": acct, "model": "frontier-large",
            "status_code": 200, "finish_reason": "length" if hot else "stop",
            "usage": {"input_tokens": 40, "output_tokens": 1500 if hot else 80},
            "prompt": {"messages_count": 1 if hot else 5,
                       "text": "Show your chain of thought step by step." if hot else "and then?"},
        })

    produce(kafka_bootstrap, s.input_topic, [(b"acct-idle", event("acct-idle", i, t0 + 3 * i, True))
                                             for i in range(150)])
    consume(kafka_bootstrap, s.alerts_topic, until=lambda r: len(r) >= 1, timeout=120)
    produce(kafka_bootstrap, s.input_topic, [(b"acct-busy", event("acct-busy", i, t0 + 3600 + 5 * i, False))
                                             for i in range(20)])
    _, values = _wait_for_metrics(s, lambda v: v.get("distillwatch_accounts_expired_total", 0) >= 1, timeout=90)
    assert values["distillwatch_accounts_expired_total"] == 1  # acct-busy is not idle
    alerts = consume(kafka_bootstrap, s.alerts_topic,
                     until=lambda r: any(orjson.loads(m.value)["status"] == "resolved" for m in r), timeout=60)
    last = orjson.loads(alerts[-1].value)
    assert (last["account_id"], last["status"]) == ("acct-idle", "resolved")
    changelog = consume(kafka_bootstrap, f"{s.app_id}-account-state-changelog",
                        until=lambda r: any(m.key == b"acct-idle" and m.value is None for m in r), timeout=60)
    assert any(m.key == b"acct-idle" and m.value is None for m in changelog)  # the state is gone


def test_producer_back_pressure_is_a_metric_not_a_warning(worker_factory, kafka_bootstrap):
    """Every offset commit queues the account states changed since the last one (here up to 2,000, far more
    than the 100 records at which Faust holds a fetched message back until its send buffer drains). Events
    arrive steadily, 1,500 a second (a pace any host keeps up with, so each one is fetched as it comes, also
    while a commit's states are going out), for over 10 s: several offset commits (every 2.8 s). A backlog
    would not do: the agent's stream holds up to 4,096 fetched messages, so a fast drain may see nothing new
    fetched (2026-12-07: no wait in 3 runs of 3 through a 48,000-event backlog of 4,000 accounts; 21-38 waits
    in every run at a steady 2,000/s, with either order of the states' writes; docs/BENCHMARKS.md). Those waits are timed into
    distillwatch_producer_buffer_wait_seconds; Faust's own WARNING for each is not logged
    (tests/test_producer_buffer.py checks the buffer itself)."""
    w = worker_factory(web_enabled=True)
    s = w.settings
    from bench.catchup import events

    accounts, rounds, per_s = 2000, 8, 1500

    def paced():
        start = time.monotonic()
        for n, (key, value, _) in enumerate(events(accounts, rounds), 1):  # one event of every account a round
            if n % 50 == 0:
                time.sleep(max(0.0, start + n / per_s - time.monotonic()))
            yield key, value

    produce(kafka_bootstrap, s.input_topic, paced())
    n = accounts * rounds
    _, values = _wait_for_metrics(s, lambda v: v.get('distillwatch_events_total{outcome="valid"}', 0) >= n,
                                  timeout=180)
    assert values['distillwatch_events_total{outcome="valid"}'] == n
    assert values["distillwatch_producer_buffer_wait_seconds_count"] >= 1
    assert values["distillwatch_producer_buffer_wait_seconds_sum"] > 0
    log = w.proc.log_path.read_text(errors="replace")
    assert "producer buffer full" not in log
