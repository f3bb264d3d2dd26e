"""Bad input without a broker: the corpus through the decoder, the DLQ copy and replay.

The corpus (``tests/badinput/cases.json``) has one case per kind of malformed
event. Each must decode to exactly the expected outcome; each reject's DLQ
copy must be its original bytes or, where it carried prompt text, a copy
without it; and a replay of the corpus mixed into simulated traffic must
account for every record: events = valid + invalid + duplicates, every invalid
line exactly once in the DLQ. The worker side of the same identity is
``tests/test_badinput_integration.py``; the property-based fuzzing is in
``tests/test_fuzz.py``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib

import orjson
import pytest

import simulator
from detectors.contract import CODES, InvalidEvent, decode
from streams.cli import main as cli_main
from streams.dlq import dead_letter
from streams.replay import ReplayError, replay
from tests.badinput import PROMPT_MARK, Case, load_cases

CASES = load_cases()
INVALID = [c for c in CASES if c.expect == "invalid"]


def test_corpus_covers_at_least_30_kinds_of_bad_input():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    assert len(INVALID) >= 30
    assert {c.code for c in INVALID} == CODES  # every error code is exercised
    assert {c.expect for c in CASES} == {"valid", "duplicate", "invalid"}
    big = [c for c in CASES if c.raw is not None and len(c.raw) >= 10_000_000]
    assert big, "the 10 MB prompt case is generated"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_case_decodes_as_expected(case: Case):
    raw = case.raw if case.raw is not None else b""  # the worker decodes a tombstone as empty bytes
    if case.expect == "invalid":
        with pytest.raises(InvalidEvent) as info:
            decode(raw)
        err = info.value
        assert (err.code, err.field) == (case.code, case.field), str(err)
        assert PROMPT_MARK not in str(err)
        assert len(str(err)) < 300  # reasons quote values truncated
    else:
        ev = decode(raw)
        assert ev.account_id and ev.request_id


def test_duplicates_repeat_an_earlier_valid_request_id():
    seen = set()
    for c in CASES:
        if c.expect in ("valid", "duplicate"):
            ev = decode(c.raw)
            key = (ev.account_id, ev.request_id)
            assert (key in seen) == (c.expect == "duplicate"), c.name
            seen.add(key)


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.name)
def test_dlq_copy_is_the_original_or_a_copy_without_prompt_text(case: Case):
    raw = case.raw if case.raw is not None else b""
    copy, info = dead_letter(raw, case.code, redact=True)
    assert PROMPT_MARK.encode() not in copy
    if case.code == "too_large":
        assert copy == b"" and info["redacted"] == "value"
    elif not info:
        assert copy == raw  # nothing to take out: byte for byte
    if info:
        assert info["original_sha256"] == hashlib.sha256(raw).hexdigest()
        assert info["original_bytes"] == str(len(raw))
    if PROMPT_MARK.encode() in raw and case.code != "too_large":
        assert info["redacted"]
        if not info["redacted"].startswith("after-byte-"):
            kept, before = orjson.loads(copy), orjson.loads(raw)
            assert set(before) - set(kept) <= {"prompt"}, "only prompt members are taken out"
            assert {k: v for k, v in kept.items() if k != "prompt"} == {
                k: v for k, v in before.items() if k != "prompt"
            }
    unredacted, info_off = dead_letter(raw, case.code, redact=False)
    assert unredacted == (b"" if case.code == "too_large" else raw)
    assert bool(info_off) == (case.code == "too_large")


def test_dlq_redaction_keeps_a_hash_of_the_prompt_text():
    text = f"{PROMPT_MARK} please write out your chain of thought"
    raw = orjson.dumps(
        {
            "request_id": "r",
            "status_code": 700,
            "prompt": {"text": text, "messages_count": 2, "messages": [{"content": text}]},
        }
    )
    copy, info = dead_letter(raw, "range", redact=True)
    assert orjson.loads(copy) == {"request_id": "r", "status_code": 700, "prompt": {"messages_count": 2}}
    assert info["redacted"] == "prompt.messages,prompt.text"
    assert info["prompt_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    # escaped key letters still parse to "prompt" and are found
    escaped = raw.replace(b'"prompt"', b'"\\u0070rompt"')
    assert PROMPT_MARK.encode() not in dead_letter(escaped, "range", redact=True)[0]
    # deeper than orjson writes (255): cut instead of re-serialized
    deep = raw[:-1] + b',"x":' + b"[" * 300 + b"]" * 300 + b"}"
    copy, info = dead_letter(deep, "range", redact=True)
    assert PROMPT_MARK.encode() not in copy and info["redacted"].startswith("after-byte-")


def test_dlq_module_examples():
    import doctest

    import streams.dlq

    result = doctest.testmod(streams.dlq)  # streams/ is not collected for doctests
    assert result.attempted >= 3 and result.failed == 0


# --------------------------------------------------------------------------- #
# Replay: exact accounting over the corpus mixed into simulated traffic


def _mixed_lines() -> tuple[list[bytes], dict[str, int]]:
    """Simulated events (with their own re-deliveries) and every corpus case that is a line, interleaved."""
    sim = [
        raw for _, _, raw in simulator.generate(simulator.Scenario(seed=5, hours=0.5, scale=0.05, duplicate_rate=0.02))
    ]
    lines: list[bytes] = []
    step = max(1, len(sim) // len(CASES))
    cases = [c for c in CASES if c.replay != "absent"]
    for i, raw in enumerate(sim):
        lines.append(raw)
        if i % step == 0 and cases:
            lines.append(cases.pop(0).raw.rstrip(b"\r\n"))  # type: ignore[union-attr]
    lines += [c.raw.rstrip(b"\r\n") for c in cases]  # type: ignore[union-attr]
    return lines, {"sim": len(sim)}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    lines, info = _mixed_lines()
    d = tmp_path_factory.mktemp("badinput-replay")
    data = b"\n".join(lines) + b"\n"
    (d / "in.jsonl").write_bytes(data)
    (d / "in-crlf.jsonl.gz").write_bytes(gzip.compress(data.replace(b"\n", b"\r\n"), mtime=0))
    return d, lines


@pytest.mark.timeout(120)
def test_replay_accounts_for_every_record(mixed):
    d, lines = mixed
    argv = [
        "replay",
        "--input",
        str(d / "in.jsonl"),
        "--alerts",
        str(d / "alerts.jsonl"),
        "--dlq",
        str(d / "dlq.jsonl"),
        "--stats",
        str(d / "stats.json"),
        "--no-progress",
    ]
    assert cli_main(argv) == 0
    stats = orjson.loads((d / "stats.json").read_bytes())
    on_replay = [c for c in CASES if c.on_replay]
    blank = sum(1 for c in CASES if c.replay == "blank")

    # the identity: every non-blank line is exactly one of valid, invalid, duplicate
    assert stats["events"] == stats["valid"] + stats["invalid"] + stats["duplicates"]
    assert stats["events"] + stats["blank_lines"] == len(lines)
    assert stats["blank_lines"] == blank
    assert stats["invalid"] == sum(1 for c in on_replay if c.expect == "invalid")
    expected_by_code: dict[str, int] = {}
    for c in on_replay:
        if c.expect == "invalid":
            expected_by_code[c.code] = expected_by_code.get(c.code, 0) + 1  # type: ignore[index]
    assert stats["invalid_by_reason"] == dict(sorted(expected_by_code.items()))

    # the valid and duplicate counts, independently: decode every line and track request ids
    seen, valid, dups = set(), 0, 0
    for raw in lines:
        try:
            ev = decode(raw)
        except InvalidEvent:
            continue
        key = (ev.account_id, ev.request_id)
        dups += key in seen
        valid += key not in seen
        seen.add(key)
    assert (stats["valid"], stats["duplicates"]) == (valid, dups)
    assert dups >= 2 and valid > 100

    # every invalid line is in the DLQ exactly once, at its line, with its code and field
    entries = [orjson.loads(x) for x in (d / "dlq.jsonl").read_bytes().splitlines()]
    assert len(entries) == stats["invalid"]
    assert len({e["line"] for e in entries}) == len(entries)
    by_name = {c.raw.rstrip(b"\r\n"): c for c in on_replay if c.expect == "invalid"}  # type: ignore[union-attr]
    for e in entries:
        raw = lines[e["line"] - 1]
        case = by_name[raw]
        assert (e["code"], e["field"]) == (case.code, case.field), case.name
        copy = base64.b64decode(e["original_b64"])
        assert PROMPT_MARK.encode() not in copy and PROMPT_MARK not in e.get("original", "")
        if e["index"] is not None:  # one element of a line holding a JSON array: that element's bytes
            assert orjson.loads(copy) == orjson.loads(raw)[e["index"]]
        elif "redacted" in e:
            assert e["original_sha256"] == hashlib.sha256(raw).hexdigest()
        else:
            assert copy == raw  # unchanged bytes
    assert {e["line"] for e in entries} == {i + 1 for i, raw in enumerate(lines) if raw in by_name}

    # the same records from a gzip file with CRLF line endings: the same counts
    s2 = replay(d / "in-crlf.jsonl.gz", d / "alerts2.jsonl", dlq_path=d / "dlq2.jsonl").to_dict()
    for k in ("events", "valid", "invalid", "duplicates", "blank_lines", "invalid_by_reason", "alerts"):
        assert s2[k] == stats[k], k


@pytest.mark.parametrize(
    "content",
    [
        b"\x1f\x8b\x08\x00garbage that is not deflate data",
        b"this file is named .gz but was never compressed\n",
        gzip.compress(b'{"a":1}\n' * 10) + b"trailing junk after the gzip member",
        gzip.compress(
            b'{"request_id":"r","timestamp":1795858863,"account_id":"a","model":"m","status_code":200}\n' * 500
        )[:-40],
    ],
    ids=["bad-deflate", "not-gzip", "junk-after-member", "truncated"],
)
def test_gzip_garbage_is_a_clean_replay_error(tmp_path, content, capsys):
    p = tmp_path / "in.jsonl.gz"
    p.write_bytes(content)
    with pytest.raises(ReplayError):
        replay(p, tmp_path / "alerts.jsonl", dlq_path=tmp_path / "dlq.jsonl")
    assert not (tmp_path / "alerts.jsonl").exists()  # no output that looks complete
    # the command says so in one line and exits non-zero, no traceback
    status = cli_main(["replay", "--input", str(p), "--alerts", str(tmp_path / "a.jsonl"), "--no-progress"])
    err = capsys.readouterr().err
    assert status != 0 and "Traceback" not in err and str(p) in err
