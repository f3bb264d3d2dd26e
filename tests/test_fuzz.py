"""Property-based fuzzing of the decoder and the detector behind it.

Invariant, for any input: :func:`detectors.contract.decode` returns an
:class:`~detectors.contract.Event` that satisfies the contract, or raises
:class:`~detectors.contract.InvalidEvent` with a known code — never another
exception, never a hang (pytest-timeout) — and the detector
(:class:`detectors.pipeline.LocalPipeline`, what replay runs) processes every
accepted event without an exception.

These properties mutate *real* events (the simulator's, of every archetype,
and the bad-input corpus) at the byte level (3,000 cases) and at the
structure level (3,000), and build events at every edge the contract allows
(2,000, all of which must be accepted). Together with the properties in
``tests/test_contract.py`` (arbitrary bytes, arbitrary str, arbitrary JSON
values, field-table mutations, Python values, schema agreement: 5,300 cases)
every CI run fuzzes 13,300 cases, in about 25 s.
"""

from __future__ import annotations

import copy
import json
import math
from ipaddress import ip_address

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simulator
from detectors.contract import (
    CODES,
    ID_MAX_CHARS,
    MODEL_MAX_CHARS,
    PROMPT_TEXT_MAX_CHARS,
    STR_MAX_CHARS,
    TS_MAX,
    TS_MIN,
    Event,
    InvalidEvent,
    decode,
)
from detectors.engine import Detector
from detectors.pipeline import LocalPipeline
from tests.badinput import load_cases

I64 = (-(2**63), 2**63 - 1)
STRINGS = {
    "request_id": (1, ID_MAX_CHARS), "account_id": (1, ID_MAX_CHARS), "model": (1, MODEL_MAX_CHARS),
    "api_key_id": (0, STR_MAX_CHARS), "user_id": (0, STR_MAX_CHARS), "user_agent": (0, STR_MAX_CHARS),
    "endpoint": (0, STR_MAX_CHARS), "finish_reason": (0, STR_MAX_CHARS), "conversation_id": (0, STR_MAX_CHARS),
    "response_format": (0, STR_MAX_CHARS), "system_sha256": (0, STR_MAX_CHARS), "prompt_text": (0, PROMPT_TEXT_MAX_CHARS),
}  # fmt: skip
INTS = {
    "status_code": (100, 599), "input_tokens": (0, I64[1]), "output_tokens": (0, I64[1]),
    "reasoning_tokens": (0, I64[1]), "max_tokens": (1, I64[1]), "n": (1, I64[1]), "top_logprobs": (0, I64[1]),
    "seed": I64, "tools_count": (0, I64[1]), "messages_count": (1, I64[1]),
}  # fmt: skip
FLOATS = {"latency_ms": math.inf, "temperature": math.inf, "top_p": 1.0}
BOOLS = ("logprobs", "stream")
REQUIRED = ("request_id", "ts", "account_id", "model", "status_code")


def assert_contract(ev: Event) -> None:
    """The invariants every accepted event satisfies (docs/contract.md)."""
    assert type(ev.ts) is float and TS_MIN <= ev.ts < TS_MAX
    for name in REQUIRED:
        assert getattr(ev, name) is not None, name
    for name, (lo, hi) in STRINGS.items():
        v = getattr(ev, name)
        assert v is None or (type(v) is str and lo <= len(v) <= hi), name
    for name in ("request_id", "account_id"):
        assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in getattr(ev, name)), name
    for name, (lo, hi) in INTS.items():
        v = getattr(ev, name)
        assert v is None or (type(v) is int and lo <= v <= hi), name
    for name, hi in FLOATS.items():
        v = getattr(ev, name)
        assert v is None or (type(v) is float and math.isfinite(v) and 0 <= v <= hi), name
    for name in BOOLS:
        assert getattr(ev, name) in (None, True, False), name
    if ev.client_ip is not None:
        assert str(ip_address(ev.client_ip)) == ev.client_ip


PIPELINE = LocalPipeline(Detector(), partitions=4)


def check(raw: bytes) -> Event | None:
    """Decode ``raw``; an accepted event must satisfy the contract and go through the detector."""
    try:
        ev = decode(raw)
    except InvalidEvent as err:
        assert err.code in CODES
        str(err)
        return None
    assert_contract(ev)
    PIPELINE.handle(ev)  # raises on any detector bug
    PIPELINE.alerts.clear()
    return ev


def _seed_events() -> list[bytes]:
    sim = [raw for _, _, raw in simulator.generate(simulator.Scenario(seed=11, hours=0.25, scale=0.1))]
    picked = sim[:: max(1, len(sim) // 150)]
    corpus = [c.raw for c in load_cases() if c.raw is not None and len(c.raw) < 5000]
    return picked + corpus


SEEDS = _seed_events()


def _accepts(raw: bytes) -> bool:
    try:
        decode(raw)
    except InvalidEvent:
        return False
    return True


VALID_SEEDS = [orjson.loads(raw) for raw in SEEDS if _accepts(raw)]


def test_seed_events_are_real_and_varied():
    assert len(VALID_SEEDS) >= 100
    assert len({ev["account_id"] for ev in VALID_SEEDS}) >= 20
    assert sum(1 for ev in VALID_SEEDS if (ev.get("prompt") or {}).get("text")) >= 50


# --------------------------------------------------------------------------- #
# Byte-level mutations of real events

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 40)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=12)),
    st.tuples(
        st.just("insert"),
        st.integers(0, 10**6),
        st.sampled_from(
            [
                b"NaN",
                b"-Infinity",
                b"1e400",
                b"null",
                b"true",
                b"\\ud800",
                b"\\u0000",
                b"\xff",
                b"\xc0\xaf",
                b"\xef\xbb\xbf",
                b"{",
                b"]",
                b'"',
                b",",
                b"\r\n",
                b"99999999999999999999",
            ]
        ),
    ),
    st.tuples(st.just("duplicate"), st.integers(0, 10**6), st.integers(1, 60)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
)


def _mutate(raw: bytes, op: tuple) -> bytes:
    kind, pos, arg = op
    pos %= len(raw) + 1
    if kind == "flip" and raw:
        pos %= len(raw)
        return raw[:pos] + bytes([raw[pos] ^ arg]) + raw[pos + 1 :]
    if kind == "delete":
        return raw[:pos] + raw[pos + arg :]
    if kind == "insert":
        return raw[:pos] + arg + raw[pos:]
    if kind == "duplicate":
        return raw[:pos] + raw[pos : pos + arg] + raw[pos:]
    return raw[:pos]


@pytest.mark.timeout(120)
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(SEEDS), ops=st.lists(mutation, min_size=1, max_size=4))
def test_property_byte_mutations_of_real_events(base, ops):
    raw = base
    for op in ops:
        raw = _mutate(raw, op)
    check(raw)


# --------------------------------------------------------------------------- #
# Structure-level mutations: field deletions, type swaps, extreme numbers, random unicode

EXTREME_NUMBERS = [
    0, -0.0, -1, 1, 99, 100, 599, 600, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63), -(2**63) - 1, 2**200,
    1.5, 0.1, 5e-324, 1e308, -1e308, 1e-9, 946684799.999, 946684800, 4102444799.999, 4102444800,
]  # fmt: skip
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(EXTREME_NUMBERS),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "Co"]), max_size=8),
    st.sampled_from(
        [
            "2026-11-28T09:41:03Z",
            "2026-11-28T09:41:03",
            "2150-01-01T00:00:00Z",
            "::1",
            "1.2.3.4",
            "fe80::1%eth0",
            "",
            "x" * 129,
            "y" * 1025,
        ]
    ),
)
json_value = st.recursive(
    json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=6
)


def _paths(obj: dict) -> list[tuple[str, ...]]:
    out = []
    for k, v in obj.items():
        out.append((k,))
        if isinstance(v, dict):
            out += [(k, *p) for p in _paths(v)]
    return out


KNOWN = [
    ("request_id",),
    ("timestamp",),
    ("account_id",),
    ("model",),
    ("status_code",),
    ("client_ip",),
    ("latency_ms",),
    ("usage", "input_tokens"),
    ("usage", "output_tokens"),
    ("params", "temperature"),
    ("params", "top_p"),
    ("params", "n"),
    ("params", "logprobs"),
    ("params", "seed"),
    ("prompt", "text"),
    ("prompt", "messages_count"),
    ("usage",),
    ("params",),
    ("prompt",),
]
edit = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 1000), st.none()),
    st.tuples(st.just("set"), st.integers(0, 1000), json_value),
    st.tuples(st.just("set_known"), st.sampled_from(range(len(KNOWN))), json_value),
    st.tuples(st.just("unicode"), st.integers(0, 1000), st.text(alphabet=st.characters(codec=None), max_size=40)),
)


def _edit(obj: dict, op: tuple) -> None:
    kind, index, value = op
    if kind == "set_known":
        path = KNOWN[index]
    else:
        paths = _paths(obj)
        if not paths:
            return
        path = paths[index % len(paths)]
    target = obj
    for part in path[:-1]:
        nxt = target.get(part)
        if not isinstance(nxt, dict):
            nxt = target[part] = {}
        target = nxt
    if kind == "delete":
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value


@pytest.mark.timeout(120)
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(VALID_SEEDS), ops=st.lists(edit, min_size=1, max_size=4), ascii_only=st.booleans())
def test_property_structural_mutations_of_real_events(base, ops, ascii_only):
    obj = copy.deepcopy(base)
    for op in ops:
        _edit(obj, op)
    # json.dumps writes any int, infinities as Infinity, lone surrogates as \udxxx (ASCII) or as CESU-8
    # bytes: all of which the decoder must refuse cleanly
    check(json.dumps(obj, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))


# --------------------------------------------------------------------------- #
# Legal but extreme: the detector gets events at every edge the contract allows

id_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), min_size=1, max_size=ID_MAX_CHARS
)
legal = st.fixed_dictionaries(
    {
        "request_id": id_text,
        "account_id": st.one_of(id_text, st.sampled_from(["acct-a", "acct-b", "acct-c"])),
        "timestamp": st.one_of(st.floats(TS_MIN, TS_MAX, exclude_max=True), st.sampled_from([TS_MIN, TS_MAX - 1e-3])),
        "model": st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=MODEL_MAX_CHARS),
        "status_code": st.integers(100, 599),
    },
    optional={
        "client_ip": st.ip_addresses().map(str),
        "latency_ms": st.floats(0, 1e308),
        "finish_reason": st.sampled_from(["stop", "length", "", "x" * STR_MAX_CHARS]),
        "usage": st.fixed_dictionaries(
            {}, optional={k: st.integers(0, I64[1]) for k in ("input_tokens", "output_tokens", "reasoning_tokens")}
        ),
        "params": st.fixed_dictionaries(
            {},
            optional={
                "temperature": st.floats(0, 1e308),
                "top_p": st.floats(0, 1),
                "max_tokens": st.integers(1, I64[1]),
                "n": st.integers(1, I64[1]),
                "logprobs": st.booleans(),
                "top_logprobs": st.integers(0, I64[1]),
                "seed": st.integers(*I64),
                "tools_count": st.integers(0, I64[1]),
            },
        ),
        "prompt": st.fixed_dictionaries(
            {},
            optional={
                "messages_count": st.integers(1, I64[1]),
                "text": st.one_of(
                    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
                    st.integers(0, 300_000).map(lambda n: "step by step " * (n // 13)),
                ),
                "system_sha256": st.text(max_size=64),
            },
        ),
    },
)


@pytest.mark.timeout(120)
@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(obj=legal)
def test_property_extreme_legal_events_are_accepted_and_processed(obj):
    ev = check(orjson.dumps(obj))
    assert ev is not None, obj
