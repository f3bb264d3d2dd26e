"""The adapters over simulated traffic: what survives the source formats, and ``replay --format``."""

from __future__ import annotations

import base64

import orjson
import pytest

import simulator
from detectors.adapters import decoder, redactor
from detectors.contract import Event, InvalidEvent, decode
from streams.cli import main
from tests.adapter_traffic import ENCODERS, batched
from tests.test_adapters import LITELLM, OTLP

#: Contract fields each source format has no place for (docs/adapters.md, "lost").
LOST = {
    "otlp_json": {"api_key_id", "user_id", "logprobs", "top_logprobs", "stream", "endpoint", "system_sha256"},
    "litellm": {"conversation_id", "endpoint", "system_sha256"},
}


@pytest.fixture(scope="module")
def simulated() -> list[bytes]:
    sc = simulator.Scenario(seed=5, hours=2.0, scale=0.05, duplicate_rate=0.01)
    return [raw for _, _, raw in simulator.generate(sc)]


@pytest.mark.parametrize("fmt", ["otlp_json", "litellm"])
def test_simulated_requests_survive_the_round_trip_but_for_the_documented_losses(simulated, fmt):
    originals = {}
    for raw in simulated:
        try:
            ev = decode(raw)
        except InvalidEvent:
            continue
        originals[ev.request_id] = ev
    decode_message = decoder(fmt)
    n = 0
    for _, message in batched(simulated, ENCODERS[fmt]):
        for _, ev in decode_message(message).items:
            assert isinstance(ev, Event), ev
            want = originals[ev.request_id]
            for name in Event.__slots__:
                if name in LOST[fmt]:
                    continue
                got, expected = getattr(ev, name), getattr(want, name)
                if isinstance(expected, float):
                    assert got == pytest.approx(expected, abs=1e-3), name
                else:
                    assert got == expected, name
            n += 1
    assert n >= len(originals)  # duplicate deliveries are re-sent as well
    assert n > 1000


@pytest.mark.parametrize(("fmt", "fixture", "stats"), [
    ("otlp_json", OTLP, {"events": 4, "valid": 3, "invalid": 1, "skipped": 2}),
    ("litellm", LITELLM, {"events": 4, "valid": 3, "invalid": 1, "skipped": 0}),
])
def test_replay_format_reads_the_producer_fixture(tmp_path, capsys, fmt, fixture, stats):
    # one line per Kafka message: the OTLP request as one line, the LiteLLM payloads one per line
    (tmp_path / "in.jsonl").write_bytes(fixture.strip() + b"\n")
    argv = ["replay", "--format", fmt, "--input", str(tmp_path / "in.jsonl"), "--alerts", str(tmp_path / "a.jsonl"),
            "--dlq", str(tmp_path / "dlq.jsonl"), "--stats", str(tmp_path / "s.json"), "--no-progress"]
    assert main(argv) == 0
    got = orjson.loads((tmp_path / "s.json").read_bytes())
    assert {k: got[k] for k in stats} == stats
    (reject,) = [orjson.loads(x) for x in (tmp_path / "dlq.jsonl").read_bytes().splitlines()]
    assert reject["code"] == "range" and reject["field"] in ("gen_ai.usage.output_tokens", "completion_tokens")
    if fmt == "otlp_json":
        assert "skipped (not API requests)" in capsys.readouterr().out


@pytest.mark.parametrize("fmt", ["otlp_json", "litellm"])
def test_replay_format_over_simulated_traffic_raises_alerts(simulated, tmp_path, fmt):
    lines = [message for _, message in batched(simulated, ENCODERS[fmt])]
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")  # a LiteLLM message: one line per payload
    argv = ["replay", "--format", fmt, "--input", str(tmp_path / "in.jsonl"), "--alerts", str(tmp_path / "a.jsonl"),
            "--stats", str(tmp_path / "s.json"), "--no-progress", "--partitions", "4"]
    assert main(argv) == 0
    stats = orjson.loads((tmp_path / "s.json").read_bytes())
    assert stats["invalid"] == 0 and stats["valid"] > 1000 and stats["duplicates"] > 0
    assert stats["alerts"] >= 5


def test_replay_format_default_comes_from_the_setting(tmp_path, monkeypatch):
    (tmp_path / "in.jsonl").write_bytes(OTLP)
    monkeypatch.setenv("DISTILLWATCH_INPUT_FORMAT", "otlp_json")
    argv = ["replay", "--input", str(tmp_path / "in.jsonl"), "--alerts", str(tmp_path / "a.jsonl"),
            "--stats", str(tmp_path / "s.json"), "--no-progress"]
    assert main(argv) == 0
    assert orjson.loads((tmp_path / "s.json").read_bytes())["valid"] == 3


@pytest.mark.parametrize(("field", "value", "message"), [
    ("input_format", "protobuf", "DISTILLWATCH_INPUT_FORMAT"),
    ("otlp_account_attribute", "", "DISTILLWATCH_OTLP_ACCOUNT_ATTRIBUTE"),
    ("litellm_account_field", "", "DISTILLWATCH_LITELLM_ACCOUNT_FIELD"),
    ("litellm_account_field", "team_id,team", "'team_id', 'org_id', 'key_hash', 'user_id' or 'end_user'"),
])
def test_input_format_settings_refuse_what_no_adapter_can_use(monkeypatch, capsys, field, value, message):
    monkeypatch.setenv(f"DISTILLWATCH_{field.upper()}", value)
    assert main(["settings"]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["otlp_json", "litellm"])
def test_rejected_records_reach_the_dlq_without_their_prompt_text(tmp_path, fmt):
    """A reject that carries content (opt-in OTLP message attributes, LiteLLM messages and response)
    is copied to the DLQ without it, and says what was taken out."""
    if fmt == "otlp_json":
        request = orjson.loads(OTLP)
        spans = request["resourceSpans"][0]["scopeSpans"][0]["spans"]
        spans[:] = [s for s in spans if s["spanId"] != "a3ce929d0e0e4736"]  # the fixture's own bad span
        span = spans[0]
        next(a for a in span["attributes"] if a["key"] == "gen_ai.usage.output_tokens")["value"] = {"intValue": "-1"}
        line = orjson.dumps(request)
        removed = "gen_ai.input.messages,gen_ai.system_instructions"
    else:
        payload = orjson.loads(LITELLM.split(b"\n")[0])
        payload["completion_tokens"] = -1
        line = orjson.dumps(payload)
        removed = "messages,response"
    assert b"B-tree" in line
    (tmp_path / "in.jsonl").write_bytes(line + b"\n")
    argv = ["replay", "--format", fmt, "--input", str(tmp_path / "in.jsonl"), "--alerts", str(tmp_path / "a.jsonl"),
            "--dlq", str(tmp_path / "dlq.jsonl"), "--no-progress"]
    assert main(argv) == 0
    dlq = (tmp_path / "dlq.jsonl").read_bytes()
    (entry,) = [orjson.loads(x) for x in dlq.splitlines()]
    assert entry["code"] == "range" and entry["redacted"] == removed
    assert b"B-tree" not in dlq and b"helpful assistant" not in dlq and b"Step 1" not in dlq
    assert b"B-tree" not in base64.b64decode(entry["original_b64"])
    # with redaction off, the exact record
    assert main([*argv, "--config", str(_config(tmp_path, "dlq_redact_prompt = false"))]) == 0
    assert b"B-tree" in base64.b64decode(orjson.loads((tmp_path / "dlq.jsonl").read_bytes())["original_b64"])


def _config(tmp_path, text: str):
    path = tmp_path / "settings.toml"
    path.write_text(text + "\n")
    return path


@pytest.mark.parametrize(("fmt", "record", "kept"), [
    ("otlp_json", b'{"resourceSpans": [{"attributes": [{"key": "gen_ai.input.messages", "value": {"strin',
     b'{"resourceSpans": [{"attributes": [{"key": "'),
    ("litellm", b'{"id": "x", "messages": [{"role": "user", "content": "secr', b'{"id": "x", '),
])
def test_unparseable_records_are_cut_before_their_content(fmt, record, kept):
    copy, info = redactor(fmt)(record)
    assert copy == kept and info["redacted"].startswith("after-byte-")
