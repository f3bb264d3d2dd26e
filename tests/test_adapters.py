"""Input adapters: producer-shaped fixtures become the expected contract v1 events.

The fixtures (tests/fixtures/adapters/, sources in its README) are what the
OpenTelemetry Collector's Kafka exporter and LiteLLM's generic API logger
write; each test states the events a reader of docs/adapters.md would expect.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.adapters import Decoded, decoder, joiner
from detectors.contract import CODES, Event, InvalidEvent, from_mapping, record_bytes

FIXTURES = Path(__file__).parent / "fixtures" / "adapters"
OTLP = (FIXTURES / "otlp_genai_spans.json").read_bytes()
LITELLM = (FIXTURES / "litellm_standard_logging.ndjson").read_bytes()
T0 = 1795858863.123  # 2026-11-28T09:41:03.123Z, the fixtures' first start time
SYSTEM_SHA = hashlib.sha256(b"You are a helpful assistant.").hexdigest()
BTREE = "Explain, step by step, how a B-tree stays balanced."


def events(d: Decoded) -> list[Event]:
    return [ev for _, ev in d.items if isinstance(ev, Event)]


def rejects(d: Decoded) -> list[tuple[InvalidEvent, bytes]]:
    return [(ev, raw) for raw, ev in d.items if isinstance(ev, InvalidEvent)]


def approx_equal(got: Event, want: dict) -> None:
    """Equal to the v1 event ``want``, with float times compared to the microsecond."""
    expected = from_mapping(want)
    assert got.ts == pytest.approx(expected.ts, abs=1e-6)
    assert got.latency_ms == pytest.approx(expected.latency_ms, abs=1e-3)
    got.ts, got.latency_ms = expected.ts, expected.latency_ms
    assert got == expected


# --------------------------------------------------------------------------- OTLP JSON


def test_otlp_fixture_gives_the_genai_spans_as_events_and_skips_the_rest():
    d = decoder("otlp_json")(OTLP)
    assert d.skipped == 2  # the HTTP client span and the execute_tool span
    assert len(d.items) == 4
    first, limited, mini = events(d)
    approx_equal(first, {
        "request_id": "chatcmpl-AV1b9x2pQk7cQ2f0e1b2c3d4", "timestamp": T0, "account_id": "acct-42",
        "model": "gpt-4o", "status_code": 200, "client_ip": "203.0.113.7", "endpoint": "chat",
        "latency_ms": 1834, "finish_reason": "length", "conversation_id": "conv_5j66UpCpwteGg4YSxUnt7lPY",
        "usage": {"input_tokens": 412, "output_tokens": 1780, "reasoning_tokens": 0},
        "params": {"temperature": 0.7, "top_p": 1.0, "max_tokens": 4096, "n": 1, "seed": 42,
                   "response_format": "text"},
        "prompt": {"messages_count": 1, "text": BTREE, "system_sha256": SYSTEM_SHA},
    })
    # rate limited: status ERROR with error.type 429; no response id, so trace and span id
    approx_equal(limited, {
        "request_id": "5b8efff798038103d269b633813fc60c:d1f9a3c2b4e5f607", "timestamp": T0 + 2,
        "account_id": "acct-42", "model": "gpt-4o", "status_code": 429, "endpoint": "chat", "latency_ms": 120,
        "params": {"temperature": 1.2, "max_tokens": 4096},
    })
    # the account only on the resource (user.id, the second default attribute); two choices, two tools
    approx_equal(mini, {
        "request_id": "chatcmpl-AV1c0", "timestamp": T0 + 5, "account_id": "acct-99", "model": "gpt-4o-mini",
        "status_code": 200, "endpoint": "chat", "latency_ms": 2500, "finish_reason": "stop",
        "usage": {"input_tokens": 55, "output_tokens": 300},
        "params": {"temperature": 0.0, "n": 2, "tools_count": 2},
    })


def test_otlp_bad_span_is_rejected_alone_with_the_source_field_and_its_own_bytes():
    d = decoder("otlp_json")(OTLP)
    ((exc, raw),) = rejects(d)
    assert (exc.field, exc.code) == ("gen_ai.usage.output_tokens", "range")
    assert "-5" in exc.reason
    # the DLQ record is a complete export request holding just that span, with its resource and scope
    alone = decoder("otlp_json")(raw)
    assert len(alone.items) == 1 and alone.skipped == 0
    assert isinstance(alone.items[0][1], InvalidEvent)
    (rs,) = orjson.loads(raw)["resourceSpans"]
    assert rs["scopeSpans"][0]["scope"]["name"] == "opentelemetry.instrumentation.openai_v2"
    assert rs["scopeSpans"][0]["spans"][0]["spanId"] == "a3ce929d0e0e4736"


def test_otlp_each_valid_record_decodes_alone_to_the_same_event():
    """What the worker forwards to the re-key topic (one span per message) decodes the same."""
    d = decoder("otlp_json")(OTLP)
    for raw, ev in d.items:
        if isinstance(ev, Event):
            ((_, again),) = decoder("otlp_json")(raw).items
            assert again == ev


def test_otlp_account_attribute_is_configurable_and_missing_account_is_rejected():
    d = decoder("otlp_json", otlp_account_attributes=("service.name",))(OTLP)
    assert {ev.account_id for ev in events(d)} == {"chat-gateway", "batch-worker"}  # resource attribute
    d = decoder("otlp_json", otlp_account_attributes=("tenant.id",))(OTLP)
    assert not events(d)
    assert {(e.field, e.code) for e, _ in rejects(d)} >= {("tenant.id", "missing")}


@pytest.mark.parametrize(
    ("raw", "field", "code"),
    [
        (b"{not json", None, "json"),
        (b"\xff\xfe", None, "utf8"),
        (b"[1, 2]", None, "not_object"),
        (b'{"resourceLogs": []}', "resourceSpans", "missing"),
    ],
)
def test_otlp_unreadable_message_is_one_reject_with_the_whole_message(raw, field, code):
    d = decoder("otlp_json")(raw)
    ((record, exc),) = d.items
    assert (exc.field, exc.code) == (field, code) and record == raw


def test_otlp_message_over_the_cap_is_rejected_whole():
    d = decoder("otlp_json", max_message_bytes=1000)(OTLP)
    ((_, exc),) = d.items
    assert exc.code == "too_large"


def test_otlp_span_types_and_times_are_checked_per_span():
    def span(**over):
        s = {"traceId": "ab" * 16, "spanId": "cd" * 8, "startTimeUnixNano": "1795858863123000000",
             "endTimeUnixNano": "1795858864123000000",
             "attributes": [{"key": "gen_ai.request.model", "value": {"stringValue": "m"}},
                            {"key": "enduser.id", "value": {"stringValue": "a"}}]}
        s.update(over)
        return s

    def attr(key, value):
        return span(attributes=span()["attributes"] + [{"key": key, "value": value}])

    good = span()
    msg = orjson.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": [
        good,
        span(startTimeUnixNano="yesterday"),
        span(endTimeUnixNano="1795858862123000000"),  # ends before it starts
        attr("gen_ai.request.max_tokens", {"intValue": "lots"}),
        attr("gen_ai.request.temperature", {"doubleValue": "NaN"}),
        "not a span",
    ]}]}]})
    d = decoder("otlp_json")(msg)
    got = [(ev.field, ev.code) if isinstance(ev, InvalidEvent) else "ok" for _, ev in d.items]
    assert got == [
        "ok",
        ("startTimeUnixNano", "format"),
        ("endTimeUnixNano", "range"),
        ("gen_ai.request.max_tokens", "type"),
        ("gen_ai.request.temperature", "range"),
        ("spans", "not_object"),
    ]
    assert events(d)[0].request_id == "ab" * 16 + ":" + "cd" * 8


# --------------------------------------------------------------------------- LiteLLM


def test_litellm_fixture_gives_one_event_per_line():
    d = decoder("litellm")(LITELLM)
    assert d.skipped == 0 and len(d.items) == 4
    ok, limited, streamed = events(d)
    key_hash = "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"
    approx_equal(ok, {
        "request_id": "chatcmpl-AV1b9x2pQk7cQ2f0e1b2c3d4", "timestamp": T0, "account_id": "team-acme",
        "model": "gpt-4o", "status_code": 200, "api_key_id": key_hash, "client_ip": "203.0.113.7",
        "user_agent": "OpenAI/Python 1.99.1", "endpoint": "chat.completions", "latency_ms": 1834,
        "finish_reason": "length", "usage": {"input_tokens": 412, "output_tokens": 1780, "reasoning_tokens": 0},
        "params": {"temperature": 0.7, "max_tokens": 4096, "n": 1, "logprobs": True, "top_logprobs": 5,
                   "stream": False, "seed": 42, "tools_count": 1, "response_format": "json_object"},
        "prompt": {"messages_count": 1, "text": BTREE, "system_sha256": SYSTEM_SHA},
    })
    approx_equal(limited, {
        "request_id": "c3a5f0b2-rate-limited", "timestamp": T0 + 2, "account_id": "team-acme", "model": "gpt-4o",
        "status_code": 429, "api_key_id": key_hash, "client_ip": "203.0.113.7",
        "user_agent": "OpenAI/Python 1.99.1", "endpoint": "chat.completions", "latency_ms": 120,
        "usage": {"input_tokens": 0, "output_tokens": 0},
        "params": {"temperature": 1.2, "max_tokens": 4096, "stream": False},
        "prompt": {"messages_count": 1, "text": "Think step by step: 2+2?"},
    })
    # no team on the key: the default falls back to the key hash; message logging was off
    approx_equal(streamed, {
        "request_id": "chatcmpl-AV1c0", "timestamp": T0 + 5, "account_id": "4f2c9d7e1b0a", "model": "gpt-4o-mini",
        "status_code": 200, "api_key_id": "4f2c9d7e1b0a", "client_ip": "2001:db8::7",
        "user_agent": "OpenAI/Python 1.99.1", "endpoint": "chat.completions", "latency_ms": 2500,
        "finish_reason": "stop", "usage": {"input_tokens": 55, "output_tokens": 300, "reasoning_tokens": 0},
        "params": {"temperature": 0.0, "n": 2, "stream": True},
    })


def test_litellm_bad_line_is_rejected_alone_with_its_line():
    d = decoder("litellm")(LITELLM)
    ((exc, raw),) = rejects(d)
    assert (exc.field, exc.code) == ("completion_tokens", "range")
    assert raw == LITELLM.split(b"\n")[2]


@pytest.mark.parametrize(
    ("fields", "account"),
    [(("org_id",), "org-1"), (("key_hash",), "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"),
     (("user_id",), "user-5")],
)
def test_litellm_account_field_is_configurable(fields, account):
    first = events(decoder("litellm", litellm_account_fields=fields)(LITELLM))[0]
    assert first.account_id == account


def test_litellm_without_the_account_field_is_rejected_naming_it():
    d = decoder("litellm", litellm_account_fields=("org_id",))(LITELLM)
    assert [(e.field, e.code) for e, _ in rejects(d)][-1] == ("metadata.user_api_key_org_id", "missing")


def test_litellm_json_array_body_is_read_too():
    """The generic API logger's default log_format, json_array."""
    lines = [orjson.loads(line) for line in LITELLM.split(b"\n")]
    d = decoder("litellm")(orjson.dumps(lines))
    assert [type(ev) for _, ev in d.items] == [Event, Event, InvalidEvent, Event]


@pytest.mark.parametrize(
    ("line", "code"),
    [(b"{oops", "json"), (b"\xc3\x28", "utf8"), (b'"a string"', "not_object"), (b"x" * 300, "json")],
)
def test_litellm_bad_lines_do_not_stop_the_good_ones(line, code):
    good = LITELLM.split(b"\n")[0]
    d = decoder("litellm")(good + b"\n" + line + b"\n\n" + good)
    assert [ev.code if isinstance(ev, InvalidEvent) else "ok" for _, ev in d.items] == ["ok", code, "ok"]


def test_litellm_line_over_the_event_cap_is_too_large():
    d = decoder("litellm", max_event_bytes=1000)(LITELLM)
    assert {ev.code for _, ev in d.items} == {"too_large"}


def test_v1_is_the_default_contract_one_event_per_message():
    raw = (b'{"request_id":"r","timestamp":1795858863,"account_id":"a","model":"m","status_code":200}')
    ((record, ev),) = decoder("v1")(raw).items
    assert isinstance(ev, Event) and record is raw
    ((_, exc),) = decoder("v1")(b"{}").items
    assert exc.code == "missing"


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown input format"):
        decoder("protobuf")


# --------------------------------------------------------------------------- nothing is dropped unseen


@pytest.mark.parametrize(
    ("message", "rejected_fields"),
    [
        (b'{"resourceSpans": [7]}', ["resourceSpans"]),
        (b'{"resourceSpans": [{"scopeSpans": {"spans": []}}]}', ["resourceSpans"]),
        (b'{"resourceSpans": [{"scopeSpans": [1, {"spans": 5}, {"spans": null}]}]}', ["scopeSpans", "scopeSpans"]),
        (b'{"resourceSpans": []}', []),  # an empty export request: no records at all
    ],
)
def test_otlp_malformed_structure_is_rejected_with_its_fragment(message, rejected_fields):
    d = decoder("otlp_json")(message)
    assert [exc.field for _, exc in d.items] == rejected_fields and d.skipped == 0
    for raw, exc in d.items:
        assert isinstance(exc, InvalidEvent) and raw and raw != message


def test_litellm_empty_message_is_one_reject_not_nothing():
    for message in (b"", b" \n\n"):
        ((raw, exc),) = decoder("litellm")(message).items
        assert exc.code == "json" and raw == message


SCALAR = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=20)
JSON = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
ANY_VALUE = st.dictionaries(
    st.sampled_from(["stringValue", "intValue", "doubleValue", "boolValue", "arrayValue", "kvlistValue", "bytesValue"]),
    JSON, max_size=2,
)
ATTR_KEYS = st.sampled_from([
    "gen_ai.request.model", "gen_ai.response.model", "gen_ai.operation.name", "enduser.id", "user.id",
    "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.request.temperature",
    "gen_ai.request.max_tokens", "gen_ai.request.choice.count", "gen_ai.response.finish_reasons",
    "gen_ai.input.messages", "gen_ai.system_instructions", "gen_ai.tool.definitions", "error.type",
    "http.response.status_code", "client.address",
])
SPAN = st.fixed_dictionaries({}, optional={
    "traceId": JSON, "spanId": st.text(max_size=16) | JSON,
    "startTimeUnixNano": st.integers(-(2**64), 2**64).map(str) | JSON,
    "endTimeUnixNano": st.integers(0, 2**64).map(str) | JSON,
    "status": st.fixed_dictionaries({"code": st.integers(0, 3) | JSON}) | JSON,
    "attributes": st.lists(st.fixed_dictionaries({"key": ATTR_KEYS, "value": ANY_VALUE}), max_size=8) | JSON,
})
OTLP_MESSAGE = st.fixed_dictionaries({"resourceSpans": st.lists(
    st.fixed_dictionaries({"resource": JSON, "scopeSpans": st.lists(
        st.fixed_dictionaries({"spans": st.lists(SPAN | JSON, max_size=4)}) | JSON, max_size=3) | JSON}) | JSON,
    max_size=3)})
LITELLM_KEYS = st.sampled_from([
    "id", "startTime", "endTime", "model", "status", "metadata", "prompt_tokens", "completion_tokens", "messages",
    "response", "model_parameters", "error_information", "call_type", "stream", "end_user", "requester_ip_address",
])
# any JSON but a top-level array: a message starting with "[" is the json_array form
LITELLM_LINE = st.dictionaries(LITELLM_KEYS, JSON, max_size=10) | st.dictionaries(st.text(), JSON) | SCALAR


def _check(d: Decoded) -> None:
    assert d.skipped >= 0
    for raw, ev in d.items:
        assert isinstance(ev, Event | InvalidEvent) and isinstance(raw, bytes)
        if isinstance(ev, InvalidEvent):
            assert ev.code in CODES


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OTLP_MESSAGE)
def test_otlp_never_raises_whatever_the_message_holds(message):
    _check(decoder("otlp_json")(orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS)))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LITELLM_LINE, min_size=1, max_size=4), st.booleans())
def test_litellm_never_raises_and_gives_one_item_per_line(lines, as_array):
    encoded = [orjson.dumps(x, option=orjson.OPT_NON_STR_KEYS) for x in lines]
    message = orjson.dumps(lines, option=orjson.OPT_NON_STR_KEYS) if as_array else b"\n".join(encoded)
    d = decoder("litellm")(message)
    _check(d)
    assert len(d.items) == len(lines)  # every payload is accounted for: valid or rejected


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_decoded_or_rejected(raw):
    for fmt in ("otlp_json", "litellm"):
        _check(decoder(fmt)(raw))


@pytest.mark.parametrize(("fmt", "message"), [
    ("otlp_json", OTLP),
    ("litellm", LITELLM),
    ("v1", b'[{"request_id":"a","timestamp":1795858863,"account_id":"x","model":"m","status_code":200},'
           b'{"request_id":"b","timestamp":1795858864,"account_id":"y","model":"m","status_code":429}]'),
])
def test_joined_records_decode_to_the_same_results(fmt, message):
    """What the worker sends to the re-key topic for one partition reads back record for record."""
    decode_message = decoder(fmt)
    items = decode_message(message).items
    again = decode_message(joiner(fmt)([record_bytes(raw) for raw, _ in items])).items  # as the worker joins them
    assert [(raw, str(ev) if isinstance(ev, InvalidEvent) else ev) for raw, ev in again] == [
        (raw, str(ev) if isinstance(ev, InvalidEvent) else ev) for raw, ev in items
    ]
    assert len(items) >= 2
