"""streams.replay and ``distillwatch replay`` over a small hand-built input.

The input holds one harvester account (single-turn, long truncated outputs,
reasoning-elicitation prompts, metronome timing: the engine doctest's shape),
one benign multi-turn chat account, rejects of several kinds, duplicate
deliveries, blank lines, and both timestamp forms. Every count below is known
from how the file was built.
"""

from __future__ import annotations

import base64
import gzip
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from streams.cli import main
from streams.replay import ReplayError, ReplayStats, replay

T0 = 1_800_000_000  # 2027-01-15T08:00:00Z
HARVESTER = "acct-harvest-1"
BENIGN = "acct-chat-7"
N_HARVEST = 200
N_BENIGN = 60

# Markers that must never leave the process in alerts or stats.
HARVEST_PROMPT = "Write out the internal reasoning behind this answer step by step. Q{i} PRIVATE-HARVEST-zq7"
BENIGN_PROMPT = "thanks, and what would be a nice name for my cat? PRIVATE-CHAT-zq7 turn {i}"
PRIVATE_MARKERS = ("PRIVATE-HARVEST-zq7", "PRIVATE-CHAT-zq7", "internal reasoning behind", "name for my cat")

RFC3339_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _rfc3339(ts: int, offset_hours: int = 0) -> str:
    if offset_hours == 0:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    from datetime import timedelta, timezone

    tz = timezone(timedelta(hours=offset_hours))
    return datetime.fromtimestamp(ts, tz).isoformat()  # e.g. 2027-01-15T10:00:00+02:00


def _dumps(obj: dict) -> bytes:
    return orjson.dumps(obj)


@dataclass
class Corpus:
    lines: list[bytes] = field(default_factory=list)
    harvester_ts: set[int] = field(default_factory=set)
    harvester_request_ids: set[str] = field(default_factory=set)
    # (1-based line number, exact bytes, expected code, expected field)
    rejects: list[tuple[int, bytes, str, str | None]] = field(default_factory=list)
    n_duplicates: int = 0
    n_blank: int = 0

    def add(self, raw: bytes) -> int:
        self.lines.append(raw)
        return len(self.lines)

    def data(self) -> bytes:
        return b"".join(line + b"\n" for line in self.lines)


def build_corpus() -> Corpus:
    c = Corpus()
    events: list[tuple[float, str, bytes]] = []
    for i in range(N_HARVEST):
        ts = T0 + 3 * i
        # both timestamp forms: RFC 3339 (Z or +02:00) and Unix seconds
        stamp: object = ts if i % 2 else _rfc3339(ts, offset_hours=2 if i % 4 == 0 else 0)
        rid = f"h-{i:04d}"
        ev = {
            "request_id": rid,
            "timestamp": stamp,
            "account_id": HARVESTER,
            "model": "frontier-large",
            "status_code": 200,
            "endpoint": "chat.completions",
            "finish_reason": "length",
            "usage": {"input_tokens": 40, "output_tokens": 1500},
            "params": {"max_tokens": 1500, "n": 1},
            "prompt": {"messages_count": 1, "text": HARVEST_PROMPT.format(i=i)},
        }
        c.harvester_ts.add(ts)
        c.harvester_request_ids.add(rid)
        events.append((ts, HARVESTER, _dumps(ev)))
    for i in range(N_BENIGN):
        ts = T0 + 7 + 11 * i + (i * i) % 23  # irregular gaps
        ev = {
            "request_id": f"b-{i:04d}",
            "timestamp": _rfc3339(ts) if i % 3 else ts,
            "account_id": BENIGN,
            "model": "frontier-small",
            "status_code": 200,
            "endpoint": "chat.completions",
            "finish_reason": "stop",
            "conversation_id": f"conv-{i // 6}",
            "usage": {"input_tokens": 600 + 40 * (i % 6), "output_tokens": 90 + (i % 5) * 10},
            "params": {"temperature": 0.7, "max_tokens": 1024},
            "prompt": {"messages_count": 2 + 2 * (i % 6), "text": BENIGN_PROMPT.format(i=i)},
        }
        events.append((ts, BENIGN, _dumps(ev)))
    events.sort(key=lambda e: e[0])  # stable: per-account order is kept

    rejects = {
        20: (b'{"request_id": "bad-1", "timestamp": ', "json", None),
        45: (
            b'{"request_id":"bad-2","timestamp":"2027-01-15T08:05:00Z","model":"m","status_code":200}',
            "missing",
            "account_id",
        ),
        70: (
            b'{"request_id":"bad-3","timestamp":1800000300,"account_id":"acct-bad","model":"m","status_code":700}',
            "range",
            "status_code",
        ),
        95: (
            b'{"request_id":"bad-4","timestamp":1800000300,"account_id":"acct-bad","model":"m",'
            b'"status_code":200,"user_agent":"caf\xe9 \xff client"}',
            "utf8",
            None,
        ),
        120: (
            b'{"request_id":"bad-5","timestamp":"yesterday","account_id":"acct-bad","model":"m","status_code":200}',
            "format",
            "timestamp",
        ),
        150: (b"this is not json at all", "json", None),
    }
    blank_after = {10: b"", 130: b"   \t"}
    duplicate_after = {5, 6, 60, 61, 199, 240}  # indexes into `events`: deliver these twice

    for idx, (_, account, raw) in enumerate(events):
        c.add(raw)
        if idx in duplicate_after:
            c.add(raw)
            c.n_duplicates += 1
        if idx == 100:  # same request id, different bytes (keys reordered, extra field): still a duplicate
            obj = orjson.loads(raw)
            reordered = {k: obj[k] for k in reversed(list(obj))}
            reordered["redelivery"] = True
            c.add(_dumps(reordered))
            c.n_duplicates += 1
        if idx in rejects:
            raw_bad, code, fld = rejects[idx]
            lineno = c.add(raw_bad)
            c.rejects.append((lineno, raw_bad, code, fld))
        if idx in blank_after:
            c.add(blank_after[idx])
            c.n_blank += 1
    return c


CORPUS = build_corpus()
N_EVENTS = N_HARVEST + N_BENIGN + CORPUS.n_duplicates + len(CORPUS.rejects)
EXPECTED_INVALID_BY_REASON = {"format": 1, "json": 2, "missing": 1, "range": 1, "utf8": 1}



@pytest.fixture
def input_jsonl(tmp_path) -> Path:
    p = tmp_path / "events.jsonl"
    p.write_bytes(CORPUS.data())
    return p


@pytest.fixture
def input_gz(tmp_path) -> Path:
    p = tmp_path / "events.jsonl.gz"
    p.write_bytes(gzip.compress(CORPUS.data(), mtime=0))
    return p


def _read_jsonl(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _parse_rfc3339(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# -- the corpus is what the tests think it is ---------------------------------------


def test_corpus_shape():
    assert CORPUS.n_duplicates == 7
    assert CORPUS.n_blank == 2
    assert len(CORPUS.rejects) == 6
    assert Counter(code for *_, code, _ in CORPUS.rejects) == EXPECTED_INVALID_BY_REASON
    assert len(CORPUS.lines) == N_EVENTS + CORPUS.n_blank
    # one reject is not valid UTF-8 at all
    assert any(_not_utf8(raw) for _, raw, _, _ in CORPUS.rejects)


def _not_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


# -- replay() ----------------------------------------------------------------------


def test_stats_exact(input_jsonl, tmp_path):
    alerts_path = tmp_path / "alerts.jsonl"
    stats = replay(input_jsonl, alerts_path, dlq_path=tmp_path / "dlq.jsonl")
    assert isinstance(stats, ReplayStats)
    assert stats.events == N_EVENTS
    assert stats.valid == N_HARVEST + N_BENIGN
    assert stats.invalid == len(CORPUS.rejects)
    assert stats.duplicates == CORPUS.n_duplicates
    assert stats.events == stats.valid + stats.invalid + stats.duplicates
    assert stats.blank_lines == CORPUS.n_blank
    assert stats.accounts == 2  # rejected events never create an account
    assert dict(stats.invalid_by_reason) == EXPECTED_INVALID_BY_REASON
    alerts = _read_jsonl(alerts_path)
    assert stats.alerts == len(alerts) >= 1
    assert dict(stats.alerts_by_severity) == dict(Counter(a["severity"] for a in alerts))
    assert dict(stats.alerts_by_status) == dict(Counter(a["status"] for a in alerts))
    d = stats.to_dict()
    assert d["invalid_by_reason"] == EXPECTED_INVALID_BY_REASON
    assert list(d["invalid_by_reason"]) == sorted(EXPECTED_INVALID_BY_REASON)


def test_alerts_only_for_the_harvester_and_well_formed(input_jsonl, tmp_path):
    alerts_path = tmp_path / "alerts.jsonl"
    replay(input_jsonl, alerts_path)
    alerts = _read_jsonl(alerts_path)
    assert alerts, "the harvester must raise at least one alert"
    assert {a["account_id"] for a in alerts} == {HARVESTER}
    assert alerts[0]["status"] == "opened"
    ids = [a["alert_id"] for a in alerts]
    assert len(set(ids)) == len(ids)
    for a in alerts:
        assert isinstance(a["alert_id"], str) and a["alert_id"]
        assert RFC3339_MS.match(a["detected_at"]), a["detected_at"]
        assert _parse_rfc3339(a["detected_at"]) in CORPUS.harvester_ts
        assert a["request_id"] in CORPUS.harvester_request_ids
        assert a["severity"] in ("info", "warning", "critical")
        assert isinstance(a["score"], float) and 0.0 <= a["score"] <= 1.0
        assert isinstance(a["reasons"], list) and a["reasons"]
        for r in a["reasons"]:
            assert isinstance(r, dict)
            assert isinstance(r["signal"], str) and r["signal"]
            assert isinstance(r["value"], (int, float))
    signals = {r["signal"] for a in alerts for r in a["reasons"]}
    assert "reasoning_elicitation" in signals


def test_gz_input_gives_same_alerts_and_stats(input_jsonl, input_gz, tmp_path):
    s1 = replay(input_jsonl, tmp_path / "a1.jsonl", dlq_path=tmp_path / "d1.jsonl")
    s2 = replay(input_gz, tmp_path / "a2.jsonl", dlq_path=tmp_path / "d2.jsonl")
    assert (tmp_path / "a1.jsonl").read_bytes() == (tmp_path / "a2.jsonl").read_bytes()
    assert (tmp_path / "d1.jsonl").read_bytes() == (tmp_path / "d2.jsonl").read_bytes()
    strip = lambda d: {k: v for k, v in d.items() if k not in ("elapsed_seconds", "events_per_second")}  # noqa: E731
    assert strip(s1.to_dict()) == strip(s2.to_dict())
    assert s2.events == N_EVENTS


def test_replay_is_deterministic(input_jsonl, tmp_path):
    replay(input_jsonl, tmp_path / "a1.jsonl")
    replay(input_jsonl, tmp_path / "a2.jsonl")
    first = (tmp_path / "a1.jsonl").read_bytes()
    assert first
    assert first == (tmp_path / "a2.jsonl").read_bytes()


def test_dlq_keeps_exact_original_bytes(input_jsonl, tmp_path):
    dlq_path = tmp_path / "dlq.jsonl"
    replay(input_jsonl, tmp_path / "alerts.jsonl", dlq_path=dlq_path)
    entries = _read_jsonl(dlq_path)
    assert len(entries) == len(CORPUS.rejects)
    for entry, (lineno, raw, code, fld) in zip(entries, CORPUS.rejects, strict=True):
        assert entry["line"] == lineno
        assert CORPUS.lines[lineno - 1] == raw  # line numbers are physical, 1-based, blank lines included
        assert entry["code"] == code
        assert entry["field"] == fld
        assert isinstance(entry["reason"], str) and entry["reason"]
        if fld is not None:
            assert entry["reason"].startswith(fld)
        assert base64.b64decode(entry["original_b64"], validate=True) == raw
        if _not_utf8(raw):
            assert "original" not in entry
        else:
            assert entry["original"] == raw.decode("utf-8")


def test_no_dlq_path_still_counts_rejects(input_jsonl, tmp_path):
    stats = replay(input_jsonl, tmp_path / "alerts.jsonl")
    assert stats.invalid == len(CORPUS.rejects)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alerts.jsonl", "events.jsonl"]


def test_crlf_line_endings(tmp_path):
    p = tmp_path / "crlf.jsonl"
    p.write_bytes(CORPUS.data().replace(b"\n", b"\r\n"))
    stats = replay(p, tmp_path / "alerts.jsonl", dlq_path=tmp_path / "dlq.jsonl")
    assert (stats.events, stats.invalid, stats.duplicates) == (N_EVENTS, len(CORPUS.rejects), CORPUS.n_duplicates)
    for entry, (_, raw, _, _) in zip(_read_jsonl(tmp_path / "dlq.jsonl"), CORPUS.rejects, strict=True):
        assert base64.b64decode(entry["original_b64"]) == raw


def test_max_event_bytes_rejects_large_events(input_jsonl, tmp_path):
    stats = replay(input_jsonl, tmp_path / "alerts.jsonl", max_event_bytes=256)
    assert stats.invalid_by_reason["too_large"] > 0
    assert stats.events == stats.valid + stats.invalid + stats.duplicates


def test_progress_callback(input_jsonl, tmp_path):
    calls: list[tuple[int, int, int]] = []
    replay(
        input_jsonl,
        tmp_path / "alerts.jsonl",
        progress=lambda done, total, st: calls.append((done, total, st.events)),
        progress_every=50,
    )
    size = input_jsonl.stat().st_size
    assert len(calls) >= 2
    assert calls[-1] == (size, size, N_EVENTS)
    assert all(total == size and 0 <= done <= size for done, total, _ in calls)
    assert [d for d, _, _ in calls] == sorted(d for d, _, _ in calls)


def test_missing_input_raises_replay_error(tmp_path):
    with pytest.raises(ReplayError, match="no-such.jsonl"):
        replay(tmp_path / "no-such.jsonl", tmp_path / "alerts.jsonl")


def test_truncated_gz_raises_replay_error(tmp_path):
    data = gzip.compress(CORPUS.data(), mtime=0)
    p = tmp_path / "cut.jsonl.gz"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReplayError, match="cut.jsonl.gz") as info:
        replay(p, tmp_path / "alerts.jsonl", dlq_path=tmp_path / "dlq.jsonl")
    # a failed run leaves no file that looks complete, only the partial output
    assert not (tmp_path / "alerts.jsonl").exists() and not (tmp_path / "dlq.jsonl").exists()
    assert (tmp_path / "alerts.jsonl.part").exists() and "alerts.jsonl.part" in str(info.value)


def test_not_gzip_at_all_raises_replay_error(tmp_path):
    p = tmp_path / "plain.jsonl.gz"
    p.write_bytes(CORPUS.data())
    with pytest.raises(ReplayError, match="plain.jsonl.gz"):
        replay(p, tmp_path / "alerts.jsonl")


# -- privacy -------------------------------------------------------------------------


def test_prompt_text_never_in_alerts_or_stats(input_jsonl, tmp_path, capsys):
    alerts, stats = tmp_path / "alerts.jsonl", tmp_path / "stats.json"
    code = main(
        ["replay", "--input", str(input_jsonl), "--alerts", str(alerts), "--stats", str(stats), "--no-progress"]
    )
    assert code == 0
    out = capsys.readouterr()
    assert alerts.stat().st_size > 0
    for path in (alerts, stats):
        text = path.read_bytes()
        for marker in PRIVATE_MARKERS:
            assert marker.encode() not in text, (path.name, marker)
    for marker in PRIVATE_MARKERS:
        assert marker not in out.out and marker not in out.err
    # ...while the input really did contain them
    assert all(m.encode() in input_jsonl.read_bytes() for m in PRIVATE_MARKERS)


# -- distillwatch replay ----------------------------------------------------------------


def test_cli_replay_end_to_end(input_gz, tmp_path, capsys):
    alerts, dlq, stats_path = tmp_path / "alerts.jsonl", tmp_path / "dlq.jsonl", tmp_path / "stats.json"
    argv = ["replay", "--input", str(input_gz), "--alerts", str(alerts), "--dlq", str(dlq)]
    code = main([*argv, "--stats", str(stats_path), "--no-progress"])
    assert code == 0
    captured = capsys.readouterr()
    stats = orjson.loads(stats_path.read_bytes())
    for key in (
        "events", "valid", "invalid", "duplicates", "accounts", "alerts", "blank_lines",
        "invalid_by_reason", "alerts_by_severity", "alerts_by_status", "elapsed_seconds",
        "events_per_second", "input",
    ):  # fmt: skip
        assert key in stats, key
    assert stats["input"] == str(input_gz)
    assert stats["events"] == N_EVENTS
    assert stats["valid"] == N_HARVEST + N_BENIGN
    assert stats["invalid"] == len(CORPUS.rejects)
    assert stats["duplicates"] == CORPUS.n_duplicates
    assert stats["accounts"] == 2
    assert stats["blank_lines"] == CORPUS.n_blank
    assert stats["invalid_by_reason"] == EXPECTED_INVALID_BY_REASON
    n_alerts = len(_read_jsonl(alerts))
    assert stats["alerts"] == n_alerts >= 1
    assert sum(stats["alerts_by_severity"].values()) == n_alerts
    assert len(_read_jsonl(dlq)) == len(CORPUS.rejects)
    # the summary on stdout
    out = " ".join(captured.out.split())
    assert "replay summary" in out
    assert f"events {N_EVENTS:,}" in out
    assert f"invalid {len(CORPUS.rejects)}" in out
    assert f"duplicates {CORPUS.n_duplicates}" in out
    # the output paths in full (a long path may wrap, but is never cut short)
    squeezed = "".join(captured.out.split())
    assert f"alertswrittento{alerts}" in squeezed
    assert f"rejectswrittento{dlq}" in squeezed
    # --no-progress: nothing on stderr
    assert captured.err == ""


def test_cli_replay_same_alerts_as_library(input_jsonl, tmp_path, capsys):
    replay(input_jsonl, tmp_path / "lib.jsonl")
    assert main(["replay", "--input", str(input_jsonl), "--alerts", str(tmp_path / "cli.jsonl"), "--no-progress"]) == 0
    capsys.readouterr()
    assert (tmp_path / "lib.jsonl").read_bytes() == (tmp_path / "cli.jsonl").read_bytes()


def test_cli_replay_truncated_gz_exits_1(tmp_path, capsys):
    data = gzip.compress(CORPUS.data(), mtime=0)
    p = tmp_path / "cut.jsonl.gz"
    p.write_bytes(data[: len(data) // 2])
    code = main(["replay", "--input", str(p), "--alerts", str(tmp_path / "a.jsonl"), "--no-progress"])
    assert code == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("distillwatch replay:")
    assert str(p) in lines[0]
    assert "Traceback" not in captured.err
    assert "replay summary" not in captured.out


def test_cli_replay_progress_lines_when_not_a_tty(input_jsonl, tmp_path, capsys):
    import sys

    assert not sys.stderr.isatty()  # capsys replaces it
    code = main(["replay", "--input", str(input_jsonl), "--alerts", str(tmp_path / "a.jsonl")])
    assert code == 0
    err = capsys.readouterr().err
    progress = [ln for ln in err.splitlines() if ln.startswith("replay: ")]
    assert progress, err
    assert progress[-1] == f"replay: 100% of input, {N_EVENTS:,} events, {len(_read_jsonl(tmp_path / 'a.jsonl')):,} alerts"
    assert "\x1b[" not in err  # plain lines, no terminal control codes


def test_cli_replay_rules_option_missing_file_exits_2(input_jsonl, tmp_path, capsys):
    code = main(
        ["replay", "--input", str(input_jsonl), "--alerts", str(tmp_path / "a.jsonl"),
         "--rules", str(tmp_path / "nope.yaml"), "--no-progress"]
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "DISTILLWATCH_RULES_FILE" in err
    assert not (tmp_path / "a.jsonl").exists()
