"""A worker reading OTLP/JSON spans or LiteLLM payloads from a real broker (tests/conftest.py).

Simulated traffic, re-encoded in the source format several records per
message (tests/adapter_traffic.py), goes through a ``distillwatch worker``
with ``DISTILLWATCH_INPUT_FORMAT`` set; the alerts must be exactly those
``replay --format`` raises from the same messages. Then the producer fixture
(tests/fixtures/adapters) arrives without a key on a partition that owns none
of its accounts: its bad record must reach the DLQ alone with the source field
and its position named, its good records be routed through the re-key topic
(joined in the source format, one message per target partition) and
processed, and (OTLP) its non-GenAI spans be counted as skipped.
"""

from __future__ import annotations

import orjson
import pytest
from kafka import KafkaProducer

import simulator
from detectors.adapters import decoder
from detectors.contract import Event
from detectors.engine import Detector, partition_for
from streams.app import DLQ_CODE_HEADER, DLQ_FIELD_HEADER, DLQ_INDEX_HEADER
from streams.replay import replay
from tests.adapter_traffic import ENCODERS, batched
from tests.kafkautil import consume, produce
from tests.test_adapters import LITELLM, OTLP
from tests.test_integration import _outcomes, _wait_for_metrics

pytestmark = pytest.mark.integration

CASES = {
    # format: (fixture message, source field of its bad record, skipped records in it)
    "otlp_json": (OTLP, b"gen_ai.usage.output_tokens", 2),
    "litellm": (LITELLM, b"completion_tokens", 0),
}


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_worker_reads_the_format_and_raises_the_alerts_replay_raises(worker_factory, kafka_bootstrap, tmp_path, fmt):
    fixture, bad_field, fixture_skipped = CASES[fmt]
    sc = simulator.Scenario(seed=3, hours=2.0, scale=0.05, duplicate_rate=0.01)
    messages = list(batched((raw for _, _, raw in simulator.generate(sc)), ENCODERS[fmt]))
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(m for _, m in messages) + b"\n")
    stats = replay(tmp_path / "in.jsonl", tmp_path / "alerts.jsonl", detector=Detector(), partitions=4,
                   decode_message=worker_settings_decoder(fmt))
    expected = [orjson.loads(x) for x in (tmp_path / "alerts.jsonl").read_bytes().splitlines()]
    assert len(expected) >= 5 and stats.invalid == 0

    w = worker_factory(web_enabled=True, input_format=fmt)
    s = w.settings
    produce(kafka_bootstrap, s.input_topic, messages)
    records = consume(kafka_bootstrap, s.alerts_topic, until=lambda r: len(r) >= len(expected), timeout=240)
    got = [orjson.loads(m.value) for m in records]
    assert sorted(a["alert_id"] for a in got) == sorted(a["alert_id"] for a in expected)
    by_id = {a["alert_id"]: a for a in expected}
    assert all(alert == by_id[alert["alert_id"]] for alert in got)
    _, values = _wait_for_metrics(s, lambda v: _outcomes(v) >= stats.events)
    assert values['distillwatch_events_total{outcome="valid"}'] == stats.valid
    assert values['distillwatch_events_total{outcome="duplicate"}'] == stats.duplicates

    # the producer's own output, keyless, after the stream (so it cannot change the alerts above),
    # on a partition that owns none of its accounts
    accounts = {ev.account_id for _, ev in decoder(fmt)(fixture).items if isinstance(ev, Event)}
    homes = {partition_for(a.encode(), s.partitions) for a in accounts}
    elsewhere = min(set(range(s.partitions)) - homes)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(s.input_topic, value=fixture, partition=elsewhere).get(timeout=30)
    producer.close()
    (dlq,) = consume(kafka_bootstrap, s.dlq_topic, until=lambda r: len(r) >= 1, timeout=60)
    headers = dict(dlq.headers)
    assert headers[DLQ_FIELD_HEADER] == bad_field and headers[DLQ_CODE_HEADER] == b"range"
    assert headers[DLQ_INDEX_HEADER] == b"2"  # the third record of the message
    assert dlq.value != fixture and b"-5" in dlq.value  # the bad record alone, not the whole message
    _, values = _wait_for_metrics(s, lambda v: v['distillwatch_events_total{outcome="valid"}'] >= stats.valid + 3)
    assert values['distillwatch_events_total{outcome="rekeyed"}'] == 3
    assert values['distillwatch_events_total{outcome="valid"}'] == stats.valid + 3
    assert values['distillwatch_events_total{outcome="invalid"}'] == 1
    assert values[f'distillwatch_input_records_skipped_total{{format="{fmt}"}}'] == fixture_skipped
    # the re-key topic carries the records in the input format, joined per target partition
    rekeyed = consume(kafka_bootstrap, s.rekey_topic, until=lambda r: len(r) >= 1, timeout=60)
    records = [(m.partition, ev) for m in rekeyed for _, ev in decoder(fmt)(m.value).items]
    assert len(records) == 3 and all(isinstance(ev, Event) for _, ev in records)
    assert all(p == partition_for(ev.account_id.encode(), s.partitions) for p, ev in records)
    assert len(rekeyed) < 3  # the two records of one account travelled as one message


def worker_settings_decoder(fmt: str):
    """The decoder a worker with default settings and this input format uses."""
    from streams.settings import Settings

    return Settings(input_format=fmt).input_decoder()
