"""Tests for detectors.contract: the contract v1 event decoder and its JSON Schema.

Table-driven: FIELDS lists every field rule of the contract; valid and invalid
cases are generated from it, run through the decoder, and the same corpus is
run through the JSON Schema to check both agree.
"""

from __future__ import annotations

import copy
import json
import math
import pickle
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from detectors import contract
from detectors.contract import (
    MAX_EVENT_BYTES,
    SCHEMA_VERSION,
    Event,
    InvalidEvent,
    decode,
    format_timestamp,
    from_mapping,
    parse_timestamp,
    record_bytes,
)

CODES = {"json", "utf8", "too_large", "not_object", "missing", "type", "range", "format"}
I64_MAX = 2**63 - 1
I64_MIN = -(2**63)
MISSING = object()  # "delete this field"

MINIMAL = {
    "request_id": "r-1",
    "timestamp": "2026-11-28T09:41:03.123Z",
    "account_id": "acct-42",
    "model": "frontier-large",
    "status_code": 200,
}

SPEC_EXAMPLE = b"""{"request_id":"r-000001","timestamp":"2026-11-28T09:41:03.123Z","account_id":"acct-42",
 "api_key_id":"key-7","client_ip":"203.0.113.7","endpoint":"chat.completions",
 "model":"frontier-large","status_code":200,"latency_ms":1834,"finish_reason":"stop",
 "usage":{"input_tokens":412,"output_tokens":1780},
 "params":{"temperature":0.7,"max_tokens":4096,"n":1,"logprobs":false},
 "prompt":{"messages_count":1,"text":"Explain, step by step, how a B-tree stays balanced."}}"""

FULL = {
    **MINIMAL,
    "api_key_id": "key-7",
    "user_id": "end-user-1",
    "client_ip": "203.0.113.7",
    "user_agent": "python-httpx/0.27",
    "endpoint": "chat.completions",
    "latency_ms": 1834.5,
    "finish_reason": "stop",
    "conversation_id": "conv-9",
    "usage": {"input_tokens": 412, "output_tokens": 1780, "reasoning_tokens": 300},
    "params": {
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 4096,
        "n": 1,
        "logprobs": True,
        "top_logprobs": 5,
        "stream": False,
        "seed": -42,
        "tools_count": 0,
        "response_format": "json_object",
    },
    "prompt": {"messages_count": 3, "text": "Explain, step by step, how a B-tree stays balanced.", "system_sha256": "ab" * 32},
}

# field path -> (Event attribute, kind, lo, hi, required)
FIELDS = {
    "request_id": ("request_id", "str", 1, 128, True),
    "account_id": ("account_id", "str", 1, 128, True),
    "model": ("model", "str", 1, 256, True),
    "status_code": ("status_code", "int", 100, 599, True),
    "api_key_id": ("api_key_id", "str", 0, 1024, False),
    "user_id": ("user_id", "str", 0, 1024, False),
    "client_ip": ("client_ip", "ip", None, None, False),
    "user_agent": ("user_agent", "str", 0, 1024, False),
    "endpoint": ("endpoint", "str", 0, 1024, False),
    "latency_ms": ("latency_ms", "num", 0, None, False),
    "finish_reason": ("finish_reason", "str", 0, 1024, False),
    "conversation_id": ("conversation_id", "str", 0, 1024, False),
    "usage.input_tokens": ("input_tokens", "int", 0, I64_MAX, False),
    "usage.output_tokens": ("output_tokens", "int", 0, I64_MAX, False),
    "usage.reasoning_tokens": ("reasoning_tokens", "int", 0, I64_MAX, False),
    "params.temperature": ("temperature", "num", 0, None, False),
    "params.top_p": ("top_p", "num", 0, 1, False),
    "params.max_tokens": ("max_tokens", "int", 1, I64_MAX, False),
    "params.n": ("n", "int", 1, I64_MAX, False),
    "params.logprobs": ("logprobs", "bool", None, None, False),
    "params.top_logprobs": ("top_logprobs", "int", 0, I64_MAX, False),
    "params.stream": ("stream", "bool", None, None, False),
    "params.seed": ("seed", "int", I64_MIN, I64_MAX, False),
    "params.tools_count": ("tools_count", "int", 0, I64_MAX, False),
    "params.response_format": ("response_format", "str", 0, 1024, False),
    "prompt.messages_count": ("messages_count", "int", 1, I64_MAX, False),
    "prompt.text": ("prompt_text", "str", 0, 1_000_000, False),
    "prompt.system_sha256": ("system_sha256", "str", 0, 1024, False),
}
OBJECTS = ("usage", "params", "prompt")


def dumps(obj: object) -> bytes:
    """JSON bytes; json.dumps for ints beyond 64 bits (orjson refuses to write them)."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, ensure_ascii=False).encode()


def with_(base: dict, path: str, value: object) -> dict:
    """Deep copy of ``base`` with ``path`` set to ``value`` (or removed for MISSING)."""
    obj = copy.deepcopy(base)
    *parents, leaf = path.split(".")
    target = obj
    for part in parents:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    if value is MISSING:
        target.pop(leaf, None)
    else:
        target[leaf] = value
    return obj


def error_of(raw_or_obj: object, **kwargs: object) -> InvalidEvent:
    raw = raw_or_obj if isinstance(raw_or_obj, (bytes, bytearray, memoryview, str)) else dumps(raw_or_obj)
    with pytest.raises(InvalidEvent) as info:
        decode(raw, **kwargs)
    err = info.value
    assert err.code in CODES
    return err


# --------------------------------------------------------------------------- #
# Case tables generated from FIELDS: (path, value, expected code) for invalid,
# (path, value, expected attribute value) for valid.


def _valid_cases() -> list[tuple[str, object, object]]:
    cases = []
    for path, (_attr, kind, lo, hi, required) in FIELDS.items():
        if not required:
            cases.append((path, None, None))
            cases.append((path, MISSING, None))
        if kind == "str":
            cases.append((path, "x" * max(lo, 1), "x" * max(lo, 1)))
            cases.append((path, "y" * hi, "y" * hi))
            if lo == 0:
                cases.append((path, "", ""))
            cases.append((path, "\U0001f600" * min(hi, 128), "\U0001f600" * min(hi, 128)))  # code points, not bytes
            if path in ("request_id", "account_id"):
                cases.append((path, "caf\u00e9 \u00a0\u200d-\u4e2d", "caf\u00e9 \u00a0\u200d-\u4e2d"))  # non-ASCII, no controls
        elif kind == "int":
            cases += [(path, lo, lo), (path, hi, hi), (path, float(hi) if hi < 2**53 else 1e18, hi if hi < 2**53 else 10**18)]
            cases += [(path, float(lo), lo), (path, 100.0 + lo, 100 + lo)] if lo > -(2**53) else [(path, -5.0, -5)]
        elif kind == "num":
            top = 1 if hi == 1 else 1e308
            cases += [(path, 0, 0.0), (path, -0.0, 0.0), (path, 0.5, 0.5), (path, top, float(top)), (path, 1, 1.0)]
        elif kind == "bool":
            cases += [(path, True, True), (path, False, False)]
        elif kind == "ip":
            cases += [
                (path, "203.0.113.7", "203.0.113.7"),
                (path, "0.0.0.0", "0.0.0.0"),
                (path, "255.255.255.255", "255.255.255.255"),
                (path, "2001:DB8:0:0::1", "2001:db8::1"),
                (path, "::1", "::1"),
                (path, "::ffff:198.51.100.9", "198.51.100.9"),  # IPv4-mapped IPv6 stored as IPv4
                (path, "fe80::1", "fe80::1"),
            ]
    return cases


def _invalid_cases() -> list[tuple[str, object, str]]:
    """(path, value, code); values are all JSON-representable."""
    cases = []
    for path, (_attr, kind, lo, hi, required) in FIELDS.items():
        if required:
            cases.append((path, MISSING, "missing"))
            cases.append((path, None, "missing"))
        if kind == "str":
            cases += [(path, 1, "type"), (path, 1.5, "type"), (path, True, "type"), (path, ["x"], "type"), (path, {"x": 1}, "type")]
            cases.append((path, "z" * (hi + 1), "range"))
            if lo == 1:
                cases.append((path, "", "range"))
            if path in ("request_id", "account_id"):  # ids are keys, log fields, labels: no control characters
                cases += [(path, bad, "format") for bad in ("a\x00b", "a\nb", "\x1b[31m", "a\x7f", "caf\u00e9\x85")]
        elif kind == "int":
            cases += [(path, str(lo), "type"), (path, True, "type"), (path, False, "type"), (path, [lo], "type"), (path, {}, "type")]
            cases += [(path, 1.5, "type"), (path, lo + 0.25 if lo > -(2**53) else -0.25, "type")]
            if lo > I64_MIN:
                cases += [(path, lo - 1, "range"), (path, float(lo - 1), "range")]
            else:
                cases += [(path, -(2**64), "range"), (path, -1e19, "range")]  # below signed 64-bit
            cases += [(path, hi + 1, "range"), (path, float(hi) + 1e3 if hi < 2**53 else 1e19, "range")]
        elif kind == "num":
            cases += [(path, "0.5", "type"), (path, True, "type"), (path, False, "type"), (path, [0.5], "type"), (path, {}, "type")]
            cases += [(path, -0.001, "range"), (path, -1, "range")]
            if hi == 1:
                cases += [(path, 1.0001, "range"), (path, 2, "range")]
        elif kind == "bool":
            cases += [(path, 0, "type"), (path, 1, "type"), (path, "true", "type"), (path, "false", "type"), (path, [], "type"), (path, {}, "type")]
        elif kind == "ip":
            cases += [(path, 3405803783, "type"), (path, True, "type"), (path, ["203.0.113.7"], "type")]
            for bad in (
                "", "256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4/24",
                "::g", "1::2::3", "fe80::1%eth0", "::1%", "localhost", "x" * 100, "\uff11.2.3.4", "1.2.3.4\n",
            ):  # fmt: skip
                cases.append((path, bad, "format"))
    for obj in OBJECTS:
        cases += [(obj, [], "type"), (obj, "x", "type"), (obj, 1, "type"), (obj, True, "type")]
    return cases


VALID_CASES = _valid_cases()
INVALID_CASES = _invalid_cases()

TS_VALID = [
    ("2026-11-28T09:41:03.123Z", 1795858863.123),
    ("2026-11-28T09:41:03Z", 1795858863.0),
    ("2026-11-28t09:41:03z", 1795858863.0),
    ("2026-11-28 09:41:03Z", 1795858863.0),
    ("2026-11-28T11:41:03+02:00", 1795858863.0),
    ("2026-11-28T04:11:03.5-05:30", 1795858863.5),
    ("2026-11-28T09:41:03-00:00", 1795858863.0),
    ("2026-11-29T09:40:03+23:59", 1795858863.0),
    ("2026-11-28T09:41:03.1Z", 1795858863.1),
    ("2026-11-28T09:41:03.000001Z", 1795858863.000001),
    ("2026-11-28T09:41:03.123456789123456789Z", 1795858863.123456),  # truncated to microseconds
    ("2016-12-31T23:59:60Z", 1483228800.0),  # leap second rolls over
    ("2016-12-31T23:59:60.5Z", 1483228800.5),
    ("2024-02-29T00:00:00Z", 1709164800.0),
    ("2000-02-29T12:00:00Z", 951825600.0),
    ("2000-01-01T00:00:00Z", 946684800.0),
    ("2000-01-01T00:00:00.000+00:00", 946684800.0),
    ("2099-12-31T23:59:59.999999Z", 4102444799.999999),
    ("2000-01-01T01:00:00+01:00", 946684800.0),
    (1795858863, 1795858863.0),
    (1795858863.123, 1795858863.123),
    (1795858863.0, 1795858863.0),
    (946684800, 946684800.0),
    (4102444799.999, 4102444799.999),
]

TS_INVALID = [
    ("2026-13-01", "format"),
    ("2026-11-28", "format"),
    ("2026-11-28T09:41:03", "format"),  # naive
    ("2026-11-28T09:41:03.123", "format"),  # naive
    ("2026-11-28 09:41", "format"),
    ("2026-11-28T09:41Z", "format"),
    ("2026-11-28T09:41:03+0200", "format"),
    ("2026-11-28T09:41:03+02", "format"),
    ("2026-11-28T09:41:03 +02:00", "format"),
    ("2026-11-28T24:00:00Z", "format"),
    ("2026-11-28T09:60:00Z", "format"),
    ("2026-11-28T09:41:61Z", "format"),
    ("2026-11-28T09:41:03+24:00", "format"),
    ("2026-11-28T09:41:03+02:60", "format"),
    ("2026-02-30T00:00:00Z", "format"),
    ("2023-02-29T00:00:00Z", "format"),
    ("2026-04-31T00:00:00Z", "format"),
    ("2026-00-10T00:00:00Z", "format"),
    ("2026-11-00T00:00:00Z", "format"),
    ("2026-11-28T09:41:03.Z", "format"),
    ("2026-11-28T09:41:03,123Z", "format"),
    ("2026-11-28T09:41:03Z\n", "format"),
    (" 2026-11-28T09:41:03Z", "format"),
    ("2026-11-28_09:41:03Z", "format"),
    ("20261128T094103Z", "format"),
    ("2026-1-28T09:41:03Z", "format"),
    ("2026-W48-6", "format"),
    ("\uff12\uff10\uff12\uff16-11-28T09:41:03Z", "format"),  # full-width digits
    ("2026-11-28T09:41:03Z[UTC]", "format"),
    ("1795858863", "format"),
    ("", "format"),
    ("1999-12-31T23:59:59Z", "range"),
    ("2100-01-01T00:00:00Z", "range"),
    ("1970-01-01T00:00:00Z", "range"),
    ("0000-01-01T00:00:00Z", "range"),
    ("9999-12-31T23:59:59Z", "range"),
    (0, "range"),
    (-1, "range"),
    (946684799.999, "range"),
    (4102444800, "range"),
    (4102444800.0, "range"),
    (1795858863123, "range"),  # milliseconds by mistake
    (True, "type"),
    (False, "type"),
    ([], "type"),
    ({}, "type"),
    (None, "missing"),
    (MISSING, "missing"),
]

# Instants within one UTC offset of the 2000/2100 bounds: the decoder checks the
# real instant, the schema can only check the local year. Decoder verdict first.
TS_SCHEMA_APPROXIMATIONS = [
    ("2000-01-01T00:30:00+01:00", "range"),
    ("2099-12-31T23:00:00-02:00", "range"),
    ("2099-12-31T23:59:60Z", "range"),
    ("1999-12-31T23:30:00-01:00", None),  # valid: 2000-01-01T00:30Z
]


# --------------------------------------------------------------------------- #
# Basics


def test_constants():
    assert SCHEMA_VERSION == 1
    assert MAX_EVENT_BYTES == 1_048_576


def test_spec_example_decodes():
    ev = decode(SPEC_EXAMPLE)
    assert ev == Event(
        request_id="r-000001",
        ts=1795858863.123,
        account_id="acct-42",
        model="frontier-large",
        status_code=200,
        api_key_id="key-7",
        client_ip="203.0.113.7",
        endpoint="chat.completions",
        latency_ms=1834.0,
        finish_reason="stop",
        input_tokens=412,
        output_tokens=1780,
        temperature=0.7,
        max_tokens=4096,
        n=1,
        logprobs=False,
        messages_count=1,
        prompt_text="Explain, step by step, how a B-tree stays balanced.",
    )
    assert format_timestamp(ev.ts) == "2026-11-28T09:41:03.123Z"
    assert ev.user_id is None and ev.reasoning_tokens is None and ev.seed is None
    assert type(ev.latency_ms) is float and type(ev.status_code) is int


def test_full_event_decodes_every_field():
    ev = decode(dumps(FULL))
    assert (ev.user_id, ev.user_agent, ev.conversation_id) == ("end-user-1", "python-httpx/0.27", "conv-9")
    assert (ev.input_tokens, ev.output_tokens, ev.reasoning_tokens) == (412, 1780, 300)
    assert (ev.temperature, ev.top_p, ev.max_tokens, ev.n) == (0.7, 0.9, 4096, 1)
    assert (ev.logprobs, ev.top_logprobs, ev.stream, ev.seed, ev.tools_count) == (True, 5, False, -42, 0)
    assert (ev.response_format, ev.messages_count, ev.system_sha256) == ("json_object", 3, "ab" * 32)
    assert ev.prompt_text == FULL["prompt"]["text"]
    assert from_mapping(FULL) == ev


def test_minimal_event_has_none_for_optionals():
    ev = from_mapping(MINIMAL)
    for name in Event.__slots__:
        if name not in ("request_id", "ts", "account_id", "model", "status_code"):
            assert getattr(ev, name) is None, name


def test_all_input_types_accepted():
    raw = dumps(MINIMAL)
    expected = decode(raw)
    assert decode(bytearray(raw)) == expected
    assert decode(memoryview(raw)) == expected
    assert decode(raw.decode()) == expected
    padded = b" " + raw + b" "
    assert decode(memoryview(padded)[1:-1]) == expected
    assert decode(memoryview(b"".join(bytes([c, 0]) for c in raw))[::2]) == expected  # non-contiguous


def test_event_repr_hides_prompt_text_and_eq():
    ev = from_mapping(FULL)
    text = repr(ev)
    assert "B-tree" not in text and "Explain" not in text
    assert "prompt_text=<redacted>" in text and "request_id='r-1'" in text
    assert ev == from_mapping(copy.deepcopy(FULL))
    assert ev != from_mapping(with_(FULL, "params.seed", 1))
    assert ev != "not an event"
    assert "prompt_text" not in repr(from_mapping(MINIMAL))


def test_event_constructor_defaults_and_slots():
    ev = Event(request_id="r", ts=1795858863.0, account_id="a", model="m", status_code=200)
    assert ev.client_ip is None and ev.prompt_text is None
    with pytest.raises(AttributeError):
        ev.extra = 1  # type: ignore[attr-defined]
    assert pickle.loads(pickle.dumps(ev)) == ev


def test_from_mapping_does_not_mutate_input():
    obj = copy.deepcopy(FULL)
    from_mapping(obj)
    assert obj == FULL


# --------------------------------------------------------------------------- #
# InvalidEvent


def test_error_str_formats():
    err = error_of(with_(MINIMAL, "usage.output_tokens", -3))
    assert (err.field, err.code) == ("usage.output_tokens", "range")
    assert str(err) == "usage.output_tokens: must be an integer >= 0, got -3"
    err = error_of(with_(MINIMAL, "timestamp", "2026-13-01"))
    assert str(err) == "timestamp: not RFC 3339 with offset: '2026-13-01'"
    err = error_of(b"[1]")
    assert err.field is None and str(err) == err.reason


def test_invalid_event_is_value_error_and_pickles():
    err = InvalidEvent("params.n", "must be an integer >= 1, got 0", "range")
    assert isinstance(err, ValueError)
    back = pickle.loads(pickle.dumps(err))
    assert (back.field, back.reason, back.code, str(back)) == (err.field, err.reason, err.code, str(err))
    assert InvalidEvent(None, "x").code in CODES


def test_naive_timestamp_reason_mentions_offset():
    err = error_of(with_(MINIMAL, "timestamp", "2026-11-28T09:41:03"))
    assert err.code == "format" and "offset" in err.reason


def test_prompt_text_never_in_error():
    secret = "my secret prompt about B-trees"
    for value in ([secret], {"t": secret}, secret * 40_000):
        err = error_of(with_(MINIMAL, "prompt.text", value), max_bytes=4_000_000)
        assert err.field == "prompt.text"
        assert "secret" not in str(err)


def test_error_values_truncated():
    err = error_of(with_(MINIMAL, "client_ip", "9" * 5000))
    assert len(str(err)) < 200
    err = error_of(with_(MINIMAL, "timestamp", "x" * 5000))
    assert len(str(err)) < 200


# --------------------------------------------------------------------------- #
# Every field rule, table-driven


@pytest.mark.parametrize(("path", "value", "expected"), VALID_CASES, ids=lambda v: repr(v)[:30])
def test_valid_field_values(path, value, expected):
    attr = FIELDS[path][0]
    obj = with_(FULL, path, value)
    ev = decode(dumps(obj))
    got = getattr(ev, attr)
    assert got == expected
    assert type(got) is type(expected)
    assert from_mapping(obj) == ev


@pytest.mark.parametrize(("path", "value", "code"), INVALID_CASES, ids=lambda v: repr(v)[:30])
def test_invalid_field_values(path, value, code):
    obj = with_(FULL, path, value)
    err = error_of(obj)
    assert (err.field, err.code) == (path, code), str(err)
    assert str(err).startswith(f"{path}: ")
    with pytest.raises(InvalidEvent) as info:
        from_mapping(obj)
    assert (info.value.field, info.value.code) == (path, code)


@pytest.mark.parametrize("path", [p for p, spec in FIELDS.items() if spec[1] in ("int", "num")])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_rejected_by_from_mapping(path, value):
    # Not representable in JSON (orjson refuses them), but a caller may pass them.
    with pytest.raises(InvalidEvent) as info:
        from_mapping(with_(FULL, path, value))
    assert info.value.field == path and info.value.code in ("type", "range")


@pytest.mark.parametrize("path", list(FIELDS) + list(OBJECTS))
def test_null_is_absent_for_optional_fields(path):
    required = path in FIELDS and FIELDS[path][4]
    obj = with_(FULL, path, None)
    if required:
        err = error_of(obj)
        assert (err.field, err.code) == (path, "missing")
    else:
        ev = decode(dumps(obj))
        if path in FIELDS:
            assert getattr(ev, FIELDS[path][0]) is None
        else:
            members = [FIELDS[p][0] for p in FIELDS if p.startswith(path + ".")]
            assert all(getattr(ev, m) is None for m in members)


def test_required_timestamp_missing_and_null():
    for value in (MISSING, None):
        err = error_of(with_(MINIMAL, "timestamp", value))
        assert (err.field, err.code) == ("timestamp", "missing")


def test_integral_floats_become_int():
    ev = decode(b'{"request_id":"r","timestamp":1795858863,"account_id":"a","model":"m","status_code":200.0,'
                b'"usage":{"input_tokens":5.0,"output_tokens":1e3},"params":{"seed":-7.0,"n":2E0}}')  # fmt: skip
    assert (ev.status_code, ev.input_tokens, ev.output_tokens, ev.seed, ev.n) == (200, 5, 1000, -7, 2)
    assert all(type(v) is int for v in (ev.status_code, ev.input_tokens, ev.output_tokens, ev.seed, ev.n))


def test_signed_64_bit_cap():
    assert from_mapping(with_(MINIMAL, "params.seed", I64_MAX)).seed == I64_MAX
    assert from_mapping(with_(MINIMAL, "params.seed", I64_MIN)).seed == I64_MIN
    for value in (I64_MAX + 1, I64_MIN - 1, 2**200, -(2**200)):
        with pytest.raises(InvalidEvent) as info:
            from_mapping(with_(MINIMAL, "params.seed", value))
        assert info.value.code == "range"
    # orjson parses up to unsigned 64-bit as int, beyond as float: both out of range
    for literal in (b"18446744073709551615", b"123456789012345678901234567890"):
        raw = dumps(MINIMAL)[:-1] + b',"usage":{"input_tokens":' + literal + b"}}"
        assert error_of(raw).code == "range"


def test_huge_int_for_number_field():
    with pytest.raises(InvalidEvent) as info:
        from_mapping(with_(MINIMAL, "latency_ms", 10**400))
    assert (info.value.field, info.value.code) == ("latency_ms", "range")
    assert from_mapping(with_(MINIMAL, "params.temperature", 2**64)).temperature == float(2**64)


def test_bools_never_numbers():
    for path, (_a, kind, *_rest) in FIELDS.items():
        if kind in ("int", "num"):
            for value in (True, False):
                assert error_of(with_(MINIMAL, path, value)).code == "type"
    assert error_of(with_(MINIMAL, "timestamp", True)).code == "type"


def test_int_subclasses_from_python_callers():
    class Code(int):
        pass

    class Name(str):
        pass

    ev = from_mapping({**MINIMAL, "status_code": Code(404), "model": Name("m"), "client_ip": Name("::1")})
    assert ev.status_code == 404 and type(ev.status_code) is int
    assert ev.model == "m" and type(ev.model) is str
    assert ev.client_ip == "::1"


_QUADS = [
    "0.0.0.0", "255.255.255.255", "192.168.1.20", "10.0.0.1", "256.1.1.1", "1.2.3.256", "01.2.3.4", "1.2.3.00",
    "1.2.3", "1.2.3.4.", ".1.2.3.4", "1..2.3", "1.2.3.4\n", " 1.2.3.4", "1.2.3.4 ", "1234.1.1.1", "1.2.3.1000",
    "\u0661.2.3.4", "1.2.3.\uff14", "::1", "2001:db8::1", "::ffff:1.2.3.4", "", ".", "1.2.3.4/8",
]


@pytest.mark.parametrize("text", _QUADS)
def test_dotted_quad_is_the_regular_expression(text):
    """Compiled, the IPv4 check is a hand scan; it accepts exactly what the regular expression does."""
    assert contract._dotted_quad(text) == (contract._IPV4_RE.fullmatch(text) is not None)


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(
    st.lists(st.one_of(st.integers(0, 999).map(str), st.text("0123456789", max_size=4)), min_size=1,
             max_size=6).map(".".join),
    st.text("0123456789.:af ", max_size=20),
    st.text(max_size=12),
))
def test_dotted_quad_agrees_with_the_regular_expression_on_generated_text(text):
    assert contract._dotted_quad(text) == (contract._IPV4_RE.fullmatch(text) is not None), repr(text)


def test_printable_ascii_is_isascii_and_isprintable():
    """Compiled, the id check is a C loop over the characters; it says what the two str methods say."""
    for cp in range(0x400):
        for text in (chr(cp), f"acct-{chr(cp)}", f"{chr(cp)}-1", chr(cp) * 3):
            assert contract._printable_ascii(text) == (text.isascii() and text.isprintable()), hex(cp)
    assert contract._printable_ascii("")
    for field in ("request_id", "account_id"):  # and the decoder uses it: a DEL in an id is refused
        assert error_of(with_(MINIMAL, field, "a\x7fb")).code == "format"


# --------------------------------------------------------------------------- #
# Timestamps


@pytest.mark.parametrize(("value", "expected"), TS_VALID, ids=repr)
def test_timestamp_valid(value, expected):
    assert parse_timestamp(value) == pytest.approx(expected, abs=1e-6)
    ev = decode(dumps(with_(MINIMAL, "timestamp", value)))
    assert ev.ts == pytest.approx(expected, abs=1e-6)
    assert type(ev.ts) is float


_TS_PARTS = st.tuples(
    st.integers(1995, 2105), st.integers(0, 13), st.integers(0, 32), st.integers(0, 24), st.integers(0, 60),
    st.integers(0, 61), st.one_of(st.none(), st.text("0123456789", min_size=0, max_size=9)),
    st.sampled_from(["T", "t", " ", "_"]), st.sampled_from(["Z", "z", "+", "-", "", "+0", "Zx"]),
    st.integers(0, 24), st.integers(0, 60),
)


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(_TS_PARTS)
def test_fast_timestamp_parse_is_the_regular_expressions(parts):
    """The hand parser of the common shape gives the regular expression's float or hands the text over."""
    year, month, day, hour, minute, second, frac, sep, zone, off_h, off_m = parts
    text = f"{year:04d}-{month:02d}-{day:02d}{sep}{hour:02d}:{minute:02d}:{second:02d}"
    text += "" if frac is None else f".{frac}"
    text += f"{zone}{off_h:02d}:{off_m:02d}" if zone in ("+", "-") else zone
    fast = contract._parse_ts_fast(text)
    try:
        slow = contract._parse_ts_string(text)
    except InvalidEvent:
        assert fast == -1.0, text
        return
    if fast != -1.0:
        assert fast == slow, text
    else:  # handed over: only what the hand parser leaves to the regular expression
        assert second == 60, text


@pytest.mark.parametrize(("value", "code"), TS_INVALID, ids=repr)
def test_timestamp_invalid(value, code):
    err = error_of(with_(MINIMAL, "timestamp", value))
    assert (err.field, err.code) == ("timestamp", code), str(err)
    if value is not MISSING:
        with pytest.raises(InvalidEvent) as info:
            parse_timestamp(value)
        assert (info.value.field, info.value.code) == ("timestamp", code)
    if code == "range":
        assert "out of range" in err.reason


@pytest.mark.parametrize(("value", "code"), TS_SCHEMA_APPROXIMATIONS, ids=repr)
def test_timestamp_instant_bounds_use_the_offset(value, code):
    if code is None:
        assert parse_timestamp(value) >= 946684800
    else:
        with pytest.raises(InvalidEvent) as info:
            parse_timestamp(value)
        assert info.value.code == code


def test_timestamp_non_finite_numbers():
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(InvalidEvent) as info:
            parse_timestamp(value)
        assert info.value.code == "range"


def test_timestamp_fast_and_slow_paths_agree():
    # 'z' and leap seconds take the exact slow path; results must match the fast path.
    assert parse_timestamp("2026-11-28T09:41:03.123456z") == parse_timestamp("2026-11-28T09:41:03.123456Z")
    assert parse_timestamp("2026-11-28T09:41:03.1234567z") == parse_timestamp("2026-11-28T09:41:03.1234567Z")
    assert contract._parse_ts_slow("2026-11-28T11:41:03.5+02:00") == parse_timestamp("2026-11-28T11:41:03.5+02:00")


def test_format_timestamp():
    assert format_timestamp(1795858863.123) == "2026-11-28T09:41:03.123Z"
    assert format_timestamp(946684800) == "2000-01-01T00:00:00.000Z"
    assert format_timestamp(4102444799.9994) == "2099-12-31T23:59:59.999Z"
    assert format_timestamp(1795858863.9996) == "2026-11-28T09:41:04.000Z"
    for ts in (946684800.0, 1795858863.123, 1483228799.001, 4102444799.999):
        assert parse_timestamp(format_timestamp(ts)) == pytest.approx(ts, abs=5e-4)


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2098, 12, 31)),
    sep=st.sampled_from(["T", "t", " "]),
    frac=st.text(alphabet="0123456789", max_size=12).map(lambda d: "." + d if d else ""),
    offset_min=st.integers(-(23 * 60 + 59), 23 * 60 + 59),
    zulu=st.sampled_from(["", "Z", "z"]),
)
def test_timestamp_strings_parse_to_the_right_instant(moment, sep, frac, offset_min, zulu):
    moment = moment.replace(microsecond=0)
    if zulu:
        suffix, offset = zulu, timedelta(0)
    else:
        sign = "+" if offset_min >= 0 else "-"
        suffix = f"{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"
        offset = timedelta(minutes=offset_min)
    text = f"{moment:%Y-%m-%d}{sep}{moment:%H:%M:%S}{frac}{suffix}"
    micros = int(frac[1:7].ljust(6, "0")) if frac else 0
    expected = (moment - offset).replace(tzinfo=UTC).timestamp() + micros / 1e6
    assert parse_timestamp(text) == pytest.approx(expected, abs=1e-6)
    assert parse_timestamp(text) == contract._parse_ts_slow(text)


# --------------------------------------------------------------------------- #
# Unknown fields


def test_unknown_fields_ignored_everywhere():
    obj = copy.deepcopy(FULL)
    obj["schema"] = "v1"
    obj["extra"] = {"nested": [1, {"deep": None}], "n": "not-an-int"}
    obj["usage"]["cached_tokens"] = "whatever"
    obj["usage"]["total_tokens"] = -1
    obj["params"]["frequency_penalty"] = -2.0
    obj["params"]["tools"] = [{"name": "x"}]
    obj["prompt"]["lang"] = "en"
    obj["prompt"]["messages"] = [{"role": "user", "content": "hi"}]
    obj["n"] = "top-level n is not params.n"
    obj["text"] = 5
    obj["ts"] = "not the timestamp field"
    assert decode(dumps(obj)) == from_mapping(FULL)


def test_unknown_deeply_nested_field_within_orjson_limit():
    raw = dumps(MINIMAL)[:-1] + b',"x":' + b"[" * 500 + b"]" * 500 + b"}"
    assert decode(raw) == from_mapping(MINIMAL)


def test_duplicate_keys_last_wins():
    raw = b'{"status_code":"bad","request_id":"r","timestamp":1795858863,"account_id":"a","model":"m","status_code":201}'
    assert decode(raw).status_code == 201


# --------------------------------------------------------------------------- #
# Whole-event problems


@pytest.mark.parametrize(
    "raw",
    [
        b"", b" ", b"{", b"}", b'{"a":1', b'{"a":1,}', b"{'a':1}", b'{"a":1} x', b'{"a":1}{"b":2}',
        b'{"a":NaN}', b'{"a":Infinity}', b'{"a":-Infinity}', b"NaN", b"Infinity", b'{"a":nan}',
        b'{"a":1e400}', b"\xef\xbb\xbf{}", b'{"a":1 /* c */}', b'{"a":"\\ud800"}', b'{"a":"\\x41"}',
        b"{\"a\":\"tab\there\"}", b"{a:1}", b'{"a":01}', b'{"a":.5}', b'{"a":+1}',
    ],
    ids=repr,
)  # fmt: skip
def test_invalid_json(raw):
    err = error_of(raw)
    assert (err.field, err.code) == (None, "json"), str(err)


def test_nan_literal_inside_valid_event():
    raw = dumps(MINIMAL)[:-1] + b',"latency_ms":NaN}'
    assert error_of(raw).code == "json"


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff", b"\xfe\xff", b'{"a":"\xff"}', b'{"a":"\xc0\xaf"}', b'{"a":"\xed\xa0\x80"}',
        b'{"a":"\xe2\x82"}', b'{"a":"\xf4\x90\x80\x80"}', b'{"request_id":"r\x80"}',
    ],
    ids=repr,
)  # fmt: skip
def test_invalid_utf8(raw):
    err = error_of(raw)
    assert (err.field, err.code) == (None, "utf8"), str(err)


def test_invalid_utf8_inside_valid_event_and_lone_surrogate_str():
    raw = dumps(MINIMAL)[:-1] + b',"user_agent":"bad \xc3\x28 byte"}'
    assert error_of(raw).code == "utf8"
    assert error_of('{"a":"\ud800"}').code == "utf8"


@pytest.mark.parametrize("raw", [b"[]", b"[{}]", b"1", b"-2.5", b'"x"', b"null", b"true", b"false"], ids=repr)
def test_non_object_top_level(raw):
    err = error_of(raw)
    assert (err.field, err.code) == (None, "not_object")
    with pytest.raises(InvalidEvent) as info:
        from_mapping(orjson.loads(raw))
    assert info.value.code == "not_object"


def test_from_mapping_rejects_non_dicts():
    for value in ([MINIMAL], (1, 2), "x", 5, None, {1, 2}):
        with pytest.raises(InvalidEvent) as info:
            from_mapping(value)
        assert info.value.code == "not_object"


@pytest.mark.parametrize("depth", [1025, 5000, 100_000])
def test_deep_nesting(depth):
    assert error_of(b"[" * depth + b"]" * depth).code == "json"
    raw = dumps(MINIMAL)[:-1] + b',"x":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"
    assert error_of(raw).code == "json"


def test_oversized_event():
    raw = dumps(MINIMAL)
    exact = raw + b" " * (MAX_EVENT_BYTES - len(raw))
    assert len(exact) == MAX_EVENT_BYTES
    assert decode(exact) == from_mapping(MINIMAL)
    err = error_of(exact + b" ")
    assert (err.field, err.code) == (None, "too_large")
    assert str(MAX_EVENT_BYTES) in err.reason
    # Size is checked before parsing: an oversized invalid document is too_large, not json.
    assert error_of(b"\xff" * (MAX_EVENT_BYTES + 1)).code == "too_large"
    assert error_of(bytearray(exact + b" ")).code == "too_large"
    assert error_of(memoryview(exact + b" ")).code == "too_large"


def test_max_bytes_override():
    raw = dumps(FULL)
    assert decode(raw, max_bytes=len(raw)) == from_mapping(FULL)
    assert error_of(raw, max_bytes=len(raw) - 1).code == "too_large"
    assert error_of(raw, max_bytes=0).code == "too_large"


def test_oversized_str_counts_utf8_bytes():
    text = dumps(with_(MINIMAL, "user_agent", "\u00e9" * 500)).decode()
    n_bytes = len(text.encode())
    assert len(text) < n_bytes
    assert decode(text, max_bytes=n_bytes).user_agent == "\u00e9" * 500
    err = error_of(text, max_bytes=n_bytes - 1)
    assert err.code == "too_large"


def test_prompt_text_cap_is_independent_of_byte_cap():
    obj = with_(MINIMAL, "prompt.text", "x" * 1_000_001)
    err = error_of(dumps(obj), max_bytes=4_000_000)
    assert (err.field, err.code) == ("prompt.text", "range")
    assert decode(dumps(with_(MINIMAL, "prompt.text", "x" * 1_000_000)), max_bytes=4_000_000).prompt_text


def test_non_bytes_input_is_invalid_event():
    for value in (None, 123, ["x"], {"request_id": "r"}):
        with pytest.raises(InvalidEvent) as info:
            decode(value)  # type: ignore[arg-type]
        err = info.value
        assert (err.field, err.code) == (None, "json")


# --------------------------------------------------------------------------- #
# Decoder and JSON Schema agree


@pytest.fixture(scope="module")
def schema_validator() -> Draft202012Validator:
    with open(contract.SCHEMA_PATH, encoding="utf-8") as f:
        schema = json.load(f)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _corpus() -> list[tuple[str, bytes]]:
    """(name, JSON bytes): every case of the tables that JSON can express."""
    corpus = [("spec example", SPEC_EXAMPLE), ("minimal", dumps(MINIMAL)), ("full", dumps(FULL))]
    for path, value, _ in VALID_CASES:
        corpus.append((f"valid {path}={value!r:.40}", dumps(with_(FULL, path, value))))
    for path, value, code in INVALID_CASES:
        corpus.append((f"invalid[{code}] {path}={value!r:.40}", dumps(with_(FULL, path, value))))
    for base in (MINIMAL, FULL):
        for value, _ in TS_VALID:
            corpus.append((f"ts valid {value!r}", dumps(with_(base, "timestamp", value))))
        for value, code in TS_INVALID:
            corpus.append((f"ts invalid[{code}] {value!r}", dumps(with_(base, "timestamp", value))))
        for path in list(FIELDS) + list(OBJECTS):
            corpus.append((f"null {path}", dumps(with_(base, path, None))))
    unknown = copy.deepcopy(FULL)
    unknown.update({"extra": {"a": [1, None]}, "n": "x"})
    unknown["usage"]["cached"] = "x"
    unknown["params"]["tools"] = [1]
    unknown["prompt"]["messages"] = [{}]
    corpus.append(("unknown fields", dumps(unknown)))
    for raw in (b"[]", b"1", b'"x"', b"null", b"true", b"{}"):
        corpus.append((f"top-level {raw!r}", raw))
    corpus.append(("big ints", dumps(MINIMAL)[:-1] + b',"params":{"seed":18446744073709551615}}'))
    corpus.append(("integral floats", dumps(MINIMAL)[:-1] + b',"usage":{"input_tokens":5.0},"params":{"n":1e0}}'))
    return corpus


CORPUS = _corpus()


def _decoder_valid(raw: bytes) -> bool:
    try:
        decode(raw)
    except InvalidEvent as err:
        assert err.code not in ("json", "utf8", "too_large"), f"corpus entry is not JSON: {err}"
        return False
    return True


def test_corpus_is_substantial():
    assert len(CORPUS) > 500
    valid = sum(_decoder_valid(raw) for _, raw in CORPUS)
    assert 100 < valid < len(CORPUS) - 100


@pytest.mark.parametrize(("name", "raw"), CORPUS, ids=[name[:60] for name, _ in CORPUS])
def test_decoder_and_schema_agree(schema_validator, name, raw):
    instance = orjson.loads(raw)
    decoder_ok = _decoder_valid(raw)
    schema_errors = [e.message[:120] for e in schema_validator.iter_errors(instance)]
    assert decoder_ok == (not schema_errors), (name, schema_errors)


@pytest.mark.parametrize(("value", "code"), TS_SCHEMA_APPROXIMATIONS, ids=repr)
def test_schema_timestamp_approximation_is_documented(schema_validator, value, code):
    # Known, documented divergence: the schema checks the local year only.
    instance = with_(MINIMAL, "timestamp", value)
    assert schema_validator.is_valid(instance) == (code is not None)
    assert "offset" in schema_validator.schema["$comment"]


# --------------------------------------------------------------------------- #
# Properties: decode returns an Event or raises InvalidEvent, nothing else

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
interesting_values = st.one_of(
    json_values,
    st.sampled_from([v for _, v, _ in VALID_CASES if v is not MISSING and not (isinstance(v, str) and len(v) > 300)]),
    st.sampled_from([v for _, v, _ in INVALID_CASES if v is not MISSING and not (isinstance(v, str) and len(v) > 300)]),
    st.sampled_from([v for v, _ in TS_VALID + TS_INVALID if v is not MISSING and not (isinstance(v, str) and len(v) > 300)]),
    st.ip_addresses().map(str),
    st.floats(min_value=946684800, max_value=4102444800),
    st.integers(min_value=-(2**64), max_value=2**64),
)
field_paths = st.sampled_from(list(FIELDS) + ["timestamp", *OBJECTS])
event_like = st.builds(
    lambda base, changes: _apply(base, changes),
    st.sampled_from([MINIMAL, FULL]),
    st.dictionaries(field_paths, st.one_of(interesting_values, st.just(MISSING)), max_size=4),
)


def _apply(base: dict, changes: dict) -> dict:
    obj = base
    for path, value in changes.items():
        obj = with_(obj, path, value)
    return obj


def _decode_or_invalid(raw: object) -> Event | None:
    try:
        return decode(raw)  # type: ignore[arg-type]
    except InvalidEvent as err:
        assert err.code in CODES
        assert isinstance(str(err), str)
        return None


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.one_of(json_values, event_like))
def test_property_decode_json_values(value):
    raw = json.dumps(value).encode()  # json.dumps writes ints beyond 64 bits, which orjson reads as floats
    ev = _decode_or_invalid(raw)
    assert ev is None or isinstance(ev, Event)


@settings(max_examples=1000, deadline=None)
@given(data=st.binary(max_size=200), position=st.integers(min_value=0, max_value=len(SPEC_EXAMPLE)), splice=st.booleans())
def test_property_decode_arbitrary_bytes(data, position, splice):
    raw = SPEC_EXAMPLE[:position] + data + SPEC_EXAMPLE[position:] if splice else data
    _decode_or_invalid(raw)
    _decode_or_invalid(bytearray(raw))
    _decode_or_invalid(memoryview(raw))


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=60), position=st.integers(0, 100))
def test_property_decode_arbitrary_str(text, position):
    base = SPEC_EXAMPLE.decode()
    _decode_or_invalid(text)
    _decode_or_invalid(base[:position] + text + base[position:])


python_scalars = json_scalars | st.floats() | st.integers() | st.tuples(st.integers()) | st.binary(max_size=4)


@settings(max_examples=1000, deadline=None)
@given(
    value=st.one_of(
        st.recursive(python_scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=8),
        st.builds(_apply, st.sampled_from([MINIMAL, FULL]), st.dictionaries(field_paths, python_scalars | interesting_values, max_size=4)),
    )
)
def test_property_from_mapping_python_values(value):
    try:
        ev = from_mapping(value)
    except InvalidEvent as err:
        assert err.code in CODES
    else:
        assert isinstance(ev, Event)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(obj=event_like)
def test_property_decoder_and_schema_agree(schema_validator, obj):
    ts = obj.get("timestamp")
    if isinstance(ts, str) and any(ts == v for v, _ in TS_SCHEMA_APPROXIMATIONS):
        return
    raw = json.dumps(obj).encode()
    try:
        decode(raw)
        decoder_ok = True
    except InvalidEvent as err:
        if err.code in ("json", "utf8", "too_large"):
            return
        decoder_ok = False
    assert decoder_ok == schema_validator.is_valid(orjson.loads(raw)), obj


# -- several events in one message (JSON array, NDJSON) -----------------------------


def _ok(rid: str, account: str = "a") -> dict:
    return {"request_id": rid, "timestamp": 1.8e9, "account_id": account, "model": "m", "status_code": 200}


def test_decode_message_array_keeps_good_events_next_to_bad_ones():
    import orjson

    from detectors.contract import decode_message

    msg = orjson.dumps([_ok("r1"), {"request_id": "r2"}, 42, _ok("r3", "b")])
    out = decode_message(msg)
    assert [type(r).__name__ for _, r in out] == ["Event", "InvalidEvent", "InvalidEvent", "Event"]
    assert out[1][1].code == "missing" and out[2][1].code == "not_object"
    # a rejected element's own bytes, for the DLQ; a valid one's parsed object, its bytes made for re-keying
    assert out[1][0] == orjson.dumps({"request_id": "r2"}) and out[2][0] == b"42"
    assert out[0][0] == _ok("r1") and record_bytes(out[3][0]) == orjson.dumps(_ok("r3", "b"))
    assert record_bytes(b"{}") == b"{}"


def test_decode_message_measures_elements_that_could_outgrow_the_cap():
    """An element within max_bytes in the message can be over it as compact JSON (1e15 comes back as
    1000000000000000.0): where that could happen, the element is measured, and refused."""
    import orjson

    from detectors.contract import decode_message

    text = b"[" + orjson.dumps(_ok("r1"))[:-1] + b',"x":[' + b",".join([b"1e15"] * 50) + b"]}]"
    compact = orjson.dumps(orjson.loads(text)[0])
    assert len(text) < 1000 < len(compact)
    [(data, err)] = decode_message(text, max_bytes=1000)
    assert err.code == "too_large" and data == compact
    [(data, ev)] = decode_message(text, max_bytes=len(compact))
    assert ev.request_id == "r1" and record_bytes(data) == compact


@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.from_regex(r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,24})?([eE][+-]?[0-9]{1,3})?", fullmatch=True))
def test_compact_json_of_a_number_grows_within_the_bound_decode_message_assumes(token):
    """decode_message skips measuring an array's elements when the whole message is within max_bytes / 5:
    nothing in a JSON text grows more than a number does when orjson writes it again."""
    import orjson

    try:
        value = orjson.loads(token)
    except orjson.JSONDecodeError:  # out of range for a double
        return
    assert len(orjson.dumps(value)) <= 4.5 * len(token) <= contract._MAX_GROWTH * len(token), token


def test_decode_message_ndjson_with_crlf_and_blank_lines():
    import orjson

    from detectors.contract import decode_message

    msg = b"\r\n".join([orjson.dumps(_ok("r1")), b"", b"{not json", orjson.dumps(_ok("r2")), b""])
    out = decode_message(msg)
    assert [getattr(r, "request_id", getattr(r, "code", None)) for _, r in out] == ["r1", "json", "r2"]
    assert out[1][0] == b"{not json"


def test_decode_message_single_events_compact_and_pretty_printed():
    import orjson

    from detectors.contract import decode_message

    for msg in (orjson.dumps(_ok("r1")), orjson.dumps(_ok("r1"), option=orjson.OPT_INDENT_2)):
        [(data, ev)] = decode_message(msg)
        assert data == msg and ev.request_id == "r1"
    [(_, err)] = decode_message(b"{broken")
    assert err.code == "json"
    [(_, err)] = decode_message(b"\xff\xfe")
    assert err.code == "utf8"
    [(_, err)] = decode_message(b'"just a string"')
    assert err.code == "not_object"


def test_decode_message_caps():
    import orjson

    from detectors.contract import decode_message

    many = orjson.dumps([_ok(f"r{i}") for i in range(11)])
    [(_, err)] = decode_message(many, max_events=10)
    assert err.code == "too_large" and "11 events" in str(err)
    [(_, err)] = decode_message(many, max_batch_bytes=100)
    assert err.code == "too_large"
    big = dict(_ok("r1"), prompt={"text": "x" * 5000})
    out = decode_message(orjson.dumps([big, _ok("r2")]), max_bytes=1000)
    assert out[0][1].code == "too_large" and out[1][1].request_id == "r2"
    lines = b"\n".join(orjson.dumps(_ok(f"r{i}")) for i in range(11))
    [(_, err)] = decode_message(lines, max_events=10)
    assert err.code == "too_large"


@pytest.mark.parametrize("field", ["request_id", "account_id"])
def test_schema_rejects_an_id_ending_in_a_newline_as_the_decoder_does(schema_validator, field):
    # Python's re (which jsonschema uses) lets `$` match before a final newline; the schema must not
    ev = {"request_id": "r1", "timestamp": "2026-11-28T09:41:03.123Z", "account_id": "acct-42",
          "model": "frontier-large", "status_code": 200}
    ev[field] += "\n"
    assert not schema_validator.is_valid(ev)
    with pytest.raises(InvalidEvent):
        decode(orjson.dumps(ev))
