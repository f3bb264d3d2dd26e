"""Prompt text never leaves the detector: a simulator run through a real worker and replay, every output scanned.

``distillwatch simulate`` writes an hour of traffic; its prompt texts give a
few hundred 40-character windows. The events, plus rejects that carry prompt
text (bad status code, cut off mid-prompt, wrapped in an array,
double-encoded), go through a real worker and through ``distillwatch replay``.
Then every output is searched for every window, as UTF-8 and as JSON
``\\u`` escapes: every record (key, value, headers) of every topic the worker
writes — alerts, DLQ, rate-limit actions, fingerprints, evidence, labels and
the changelog of every table — the worker's log, ``/metrics``, the explain
view (JSON and HTML) of every alerted account and others, and replay's
alerts, DLQ, STATS.json and terminal output.

Not scanned, by design: the input topic itself and the re-key topic
(``api-requests-rekeyed``), which carries input events unchanged to the worker
that owns their account and so holds input data under the input topic's
retention and ACLs (docs/reliability.md). A positive control shows the scan
finds the windows where they are (the input topic).
"""

from __future__ import annotations

import json
import time
import urllib.request

import orjson
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from streams.cli import main as cli_main
from tests.conftest import unique_settings
from tests.test_badinput_integration import _events, _produce, _wait

pytestmark = pytest.mark.integration

TOKEN = "leak-scan-admin-token-0123456789abcdef"
WINDOW = 40


def _windows(texts: list[str], want: int = 400) -> list[bytes]:
    """Distinct 40-character windows from the middle of distinct prompts, as UTF-8 and as JSON escapes."""
    out: list[bytes] = []
    step = max(1, len(texts) // want)
    for text in texts[::step]:
        if len(text) < WINDOW + 10:
            continue
        mid = (len(text) - WINDOW) // 2
        w = text[mid : mid + WINDOW]
        out.append(w.encode())
        escaped = json.dumps(w)[1:-1].encode()
        if escaped != w.encode():
            out.append(escaped)
    return out


def _scan(blob: bytes, windows: list[bytes]) -> list[bytes]:
    return [w for w in windows if w in blob]


def _read_topic(bootstrap: str, topic: str) -> bytes:
    """Every record of ``topic`` (keys, values, header names and values) as one blob."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        parts = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or ())]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        chunks: list[bytes] = []
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < end[tp] for tp in parts) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for r in records:
                    chunks += [r.key or b"", r.value or b""]
                    chunks += [k.encode() + b"=" + (v or b"") for k, v in r.headers]
        assert all(consumer.position(tp) >= end[tp] for tp in parts), f"could not read {topic} to its end"
        return b"\n".join(chunks)
    finally:
        consumer.close()


def _rejects_with_prompts(events: list[bytes]) -> list[tuple[bytes, bytes]]:
    """Invalid events built from simulated ones that carry prompt text, in four shapes."""
    out = []
    with_text = [raw for raw in events if b'"text"' in raw][:80]
    for i, raw in enumerate(with_text):
        obj = orjson.loads(raw)
        key = obj["account_id"].encode()
        shape = i % 4
        if shape == 0:
            bad = orjson.dumps({**obj, "request_id": obj["request_id"] + "-bad", "status_code": 700})
        elif shape == 1:
            bad = raw[: raw.index(b'"text"') + 60]  # cut off inside the prompt
        elif shape == 2:  # a batch whose one element is invalid: the element alone goes to the DLQ, redacted
            bad = b"[" + orjson.dumps({**obj, "request_id": obj["request_id"] + "-arr", "status_code": 700}) + b"]"
        else:
            bad = json.dumps(raw.decode()).encode()  # a JSON string holding the event
        out.append((key, bad))
    return out


@pytest.mark.timeout(600)
def test_no_output_of_a_simulated_run_contains_prompt_text(kafka_bootstrap, worker_factory, tmp_path, capsys):
    events_path = tmp_path / "traffic.jsonl"
    assert (
        cli_main(
            ["simulate", "--out", str(events_path), "--hours", "1", "--seed", "21", "--scale", "0.03", "--no-progress"]
        )
        == 0
    )
    events = events_path.read_bytes().splitlines()
    texts = sorted({t for raw in events if (t := (orjson.loads(raw).get("prompt") or {}).get("text"))})
    windows = _windows(texts)
    assert len(texts) >= 300 and len(windows) >= 300, (len(texts), len(windows))
    rejects = _rejects_with_prompts(events)

    # --- the live worker ---
    s = unique_settings(
        kafka_bootstrap,
        tmp_path,
        web_enabled=True,
        admin_token=TOKEN,
        context_checkpoint_seconds=1.0,
    )
    s = s.with_overrides(actions_topic=f"actions-{s.app_id}")  # conftest leaves the actions topic shared
    w = worker_factory(s)
    stream = [(orjson.loads(raw)["account_id"].encode(), raw, None) for raw in events]
    step = len(stream) // (len(rejects) + 1)
    for i, (key, bad) in enumerate(rejects):
        stream.insert((i + 1) * step, (key, bad, None))
    _produce(kafka_bootstrap, s.input_topic, stream)
    values = _wait(s.web_port, lambda v: sum(_events(v, o) for o in ("valid", "invalid", "duplicate")) >= len(stream))
    assert _events(values, "invalid") == len(rejects)
    time.sleep(3.0)  # a checkpoint of every partition context, and the coordination round trip

    outputs: dict[str, bytes] = {}
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    topics = set(admin.list_topics())
    admin.close()
    written = {s.alerts_topic, s.dlq_topic, s.actions_topic, s.fingerprints_topic, s.evidence_topic, s.labels_topic}
    changelogs = {t for t in topics if t.startswith(s.app_id + "-")}
    assert {f"{s.app_id}-account-state-changelog", f"{s.app_id}-partition-context-changelog"} <= changelogs
    for topic in sorted((written & topics) | changelogs):
        outputs[f"topic {topic}"] = _read_topic(kafka_bootstrap, topic)
    assert outputs[f"topic {s.alerts_topic}"], "the run must raise alerts for the scan to mean something"
    assert outputs[f"topic {s.dlq_topic}"].count(b"distillwatch-original-sha256") == len(rejects)

    base = f"http://127.0.0.1:{s.web_port}"
    outputs["/metrics"] = urllib.request.urlopen(f"{base}/metrics", timeout=10).read()
    alerted = {
        orjson.loads(line)["account_id"]
        for line in outputs[f"topic {s.alerts_topic}"].split(b"\n")
        if line.startswith(b"{")
    }
    others = sorted({orjson.loads(raw)["account_id"] for raw in events})[:20]
    for account in sorted(alerted)[:30] + others:
        for accept in ("application/json", "text/html"):
            req = urllib.request.Request(
                f"{base}/explain/{account}", headers={"Authorization": f"Bearer {TOKEN}", "Accept": accept}
            )
            outputs[f"explain {account} {accept}"] = urllib.request.urlopen(req, timeout=10).read()
    outputs["worker log"] = w.proc.log_path.read_bytes()

    # --- replay ---
    replay_in = tmp_path / "replay-in.jsonl"
    replay_in.write_bytes(b"\n".join(v for _, v, _ in stream) + b"\n")
    capsys.readouterr()
    assert (
        cli_main(
            [
                "replay",
                "--input",
                str(replay_in),
                "--alerts",
                str(tmp_path / "alerts.jsonl"),
                "--dlq",
                str(tmp_path / "dlq.jsonl"),
                "--stats",
                str(tmp_path / "stats.json"),
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    outputs["replay terminal"] = (captured.out + captured.err).encode()
    for name in ("alerts.jsonl", "dlq.jsonl", "stats.json"):
        outputs[f"replay {name}"] = (tmp_path / name).read_bytes()
    assert len(outputs["replay dlq.jsonl"].splitlines()) == len(rejects)

    leaks = {name: _scan(blob, windows)[:3] for name, blob in outputs.items()}
    assert not {k: v for k, v in leaks.items() if v}, "prompt text found in outputs"
    # positive control: the same scan finds the windows in the input topic
    assert len(_scan(_read_topic(kafka_bootstrap, s.input_topic), windows)) >= len(windows) // 2
    print(
        f"scanned {len(outputs)} outputs, {sum(map(len, outputs.values())) / 1e6:.1f} MB, "
        f"for {len(windows)} windows of {len(texts)} prompts: {sorted(k for k in outputs if not k.startswith('explain'))}"
    )
