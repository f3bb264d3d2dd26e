"""End to end against a real broker and real worker processes.

The broker is the embedded tansu (tests/conftest.py); the worker is a
``distillwatch worker`` child process; events are produced with kafka-python
and the alerts and rejects are read back from their topics.
"""

from __future__ import annotations

import time
import urllib.request

import orjson
import pytest

import simulator
from detectors.engine import Detector
from streams.app import DLQ_CODE_HEADER, DLQ_FIELD_HEADER, DLQ_REASON_HEADER
from streams.replay import replay
from tests.kafkautil import consume, produce

pytestmark = pytest.mark.integration

INVALID = [
    b"{not json",
    b'{"request_id":"x1","timestamp":"2026-11-28T01:00:00Z","model":"m","status_code":200}',
    b'{"request_id":"x2","timestamp":"2026-11-28T01:00:00Z","account_id":"a","model":"m","status_code":700}',
    b'{"request_id":"x3","timestamp":"yesterday","account_id":"a","model":"m","status_code":200}',
    b"\xff\xfe not utf-8",
    b"[1, 2, 3]",
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
    rekeyed = consume(kafka_bootstrap, s.rekey_topic, until=lambda r: len(r) >= 200, timeout=60)
    assert len(rekeyed) == 200 and {m.key for m in rekeyed} == {b"acct-keyless"}
    _, values = _wait_for_metrics(s, lambda v: v['distillwatch_events_total{outcome="valid"}'] >= 200)
    assert values['distillwatch_events_total{outcome="rekeyed"}'] == 200
    assert values['distillwatch_events_total{outcome="valid"}'] == 200


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
