"""Golden cases: hand-designed traffic and what must happen to it; one loop runs them all.

Each folder under ``tests/golden/`` holds

* ``events.jsonl`` -- contract-v1 events, made once by ``tests/golden/make_cases.py``
  and committed (this test reads the files; it never regenerates them);
* ``expected.yaml`` -- what must happen, written from the case's intent;
* ``README.md`` -- what the case is and why the expectation is right.

Every case is replayed with :func:`streams.replay.replay` (4 partitions, DLQ to
a temporary file) and every expectation is checked; a failure names the case,
the account and what differed, with the account's alerts (or, when it raised
none, its final score and reasons) to read.

``expected.yaml``
-----------------

Case level: ``invalid``, ``duplicates``, ``valid`` (counts), ``invalid_by_code``
(rejects per error code), ``invalid_lines`` (1-based line numbers in the DLQ),
``cluster: true`` (some alert of the case carries a cluster naming related
accounts), and ``accounts``: every account in the events, each with

* ``alerts: none`` -- no alert at all;
* ``max_severity: warning|critical`` -- the account's highest severity is at least this;
* ``max_severity_at_most: info|warning`` -- and never above this;
* ``prefer_no_alerts: true`` -- any alert is reported as a warning, not a failure;
* ``first_warning_within_minutes: N`` -- the first warning-or-above alert comes
  at most N minutes of event time after the account's first event;
* ``no_warning_before: TIME`` -- no warning-or-above alert before TIME;
* ``first_warning_within_minutes_after: {time: TIME, minutes: N}`` -- the first
  warning-or-above alert at or after TIME comes within N minutes of it;
* ``signals_include: [signal, ...]`` -- signals among the reasons of the
  account's first warning-or-above alert;
* ``cluster: true`` -- some alert of the account carries a cluster with related accounts.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from detectors.contract import InvalidEvent, decode
from detectors.pipeline import LocalPipeline
from streams.replay import replay

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "expected.yaml").is_file())

PARTITIONS = 4
LEVEL = {"none": 0, "info": 1, "warning": 2, "critical": 3}
WARNING = LEVEL["warning"]

CASE_KEYS = {"valid", "invalid", "duplicates", "invalid_by_code", "invalid_lines", "cluster", "accounts"}
ACCOUNT_KEYS = {
    "alerts", "max_severity", "max_severity_at_most", "prefer_no_alerts", "first_warning_within_minutes",
    "no_warning_before", "first_warning_within_minutes_after", "signals_include", "cluster",
}  # fmt: skip

# Size limits of the golden set (keep it reviewable and the test fast).
MAX_EVENTS_PER_CASE = 3000
MAX_BYTES_PER_CASE = 700 * 1024
MAX_BYTES_TOTAL = 3 * 1024 * 1024


def _when(value: Any) -> float:
    """Unix seconds of an RFC 3339 string (or a datetime YAML already parsed)."""
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
    else:
        dt = datetime.fromisoformat(str(value))
    return dt.timestamp()


def _read_events(path: Path) -> tuple[dict[str, float], int]:
    """First event time of every account among the valid lines, and the number of records."""
    first: dict[str, float] = {}
    records = 0
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        records += 1
        try:
            ev = decode(line)
        except InvalidEvent:
            continue
        if ev.account_id not in first or ev.ts < first[ev.account_id]:
            first[ev.account_id] = ev.ts
    return first, records


def _describe(alert: dict, first_ts: float | None) -> str:
    at = alert["detected_at"]
    if first_ts is not None:
        at += f" (+{(_when(at) - first_ts) / 60:.1f} min)"
    reasons = ", ".join(f"{r['signal']}={r['evidence']:.2f}" for r in alert["reasons"])
    cluster = " cluster" if alert.get("cluster") else ""
    return (f"{alert['status']} {alert['severity']} score={alert['score']:.3f} "
            f"(content {alert['content']:.2f}, pattern {alert['pattern']:.2f}) at {at}{cluster}; reasons: {reasons}")


def _final_assessment(path: Path, account: str) -> str:
    """The account's score and reasons at its last event (for a failure message only)."""
    pipe = LocalPipeline(partitions=PARTITIONS)
    for line in path.read_bytes().splitlines():
        try:
            pipe.handle(decode(line))
        except InvalidEvent:
            continue
        pipe.alerts.clear()
    state = pipe.states.get(account)
    if state is None:
        return "no valid event of this account"
    ctx = pipe.contexts[pipe.partition(account)]
    _, a = pipe.detector.assess(state, state.last_ts, ctx)
    reasons = ", ".join(f"{r.signal}={r.evidence:.2f}" for r in a.reasons[:6]) or "none"
    return (f"final score {a.score:.3f} (content {a.content:.2f}, pattern {a.pattern:.2f}) "
            f"after {state.n} events; reasons: {reasons}")


def _check_account(case: str, acct: str, exp: dict, alerts: list[dict], first_ts: float | None,
                   events_path: Path) -> list[str]:
    where = f"[{case}] {acct}"
    unknown = set(exp) - ACCOUNT_KEYS
    if unknown:
        return [f"{where}: unknown expectation(s) {sorted(unknown)} in expected.yaml"]
    failures: list[str] = []
    shown = "\n      ".join(_describe(a, first_ts) for a in alerts[:8]) or "(no alerts)"
    if len(alerts) > 8:
        shown += f"\n      ... {len(alerts) - 8} more"
    top = max((LEVEL[a["severity"]] for a in alerts), default=0)
    top_name = next(k for k, v in LEVEL.items() if v == top)
    warn_alerts = [a for a in alerts if LEVEL[a["severity"]] >= WARNING]
    first_warn = warn_alerts[0] if warn_alerts else None

    def fail(msg: str, diagnose: bool = False) -> None:
        extra = f"\n    {_final_assessment(events_path, acct)}" if diagnose and not alerts else ""
        failures.append(f"{where}: {msg}; alerts:\n      {shown}{extra}")

    if exp.get("alerts") == "none" and alerts:
        fail(f"expected no alerts, got {len(alerts)} (highest {top_name})")
    if "max_severity" in exp and top < LEVEL[exp["max_severity"]]:
        fail(f"expected severity at least {exp['max_severity']}, highest was {top_name}", diagnose=True)
    if "max_severity_at_most" in exp and top > LEVEL[exp["max_severity_at_most"]]:
        fail(f"expected severity at most {exp['max_severity_at_most']}, highest was {top_name}")
    if exp.get("prefer_no_alerts") and alerts:
        warnings.warn(f"{where}: ideally no alerts, got {len(alerts)} (highest {top_name}): {shown}", stacklevel=1)
    if "first_warning_within_minutes" in exp:
        limit = float(exp["first_warning_within_minutes"])
        if first_warn is None:
            fail(f"expected a warning within {limit:g} min of the first event, got none", diagnose=True)
        elif first_ts is not None and (_when(first_warn["detected_at"]) - first_ts) / 60 > limit:
            took = (_when(first_warn["detected_at"]) - first_ts) / 60
            fail(f"expected the first warning within {limit:g} min of the first event, it came after {took:.1f} min")
    if "no_warning_before" in exp:
        t = _when(exp["no_warning_before"])
        early = [a for a in warn_alerts if _when(a["detected_at"]) < t]
        if early:
            fail(f"expected no warning before {exp['no_warning_before']}, got {len(early)}: "
                 f"first {_describe(early[0], first_ts)}")
    if "first_warning_within_minutes_after" in exp:
        spec = exp["first_warning_within_minutes_after"]
        t, limit = _when(spec["time"]), float(spec["minutes"])
        later = [a for a in warn_alerts if _when(a["detected_at"]) >= t]
        if not later:
            fail(f"expected a warning within {limit:g} min after {spec['time']}, got none at or after it",
                 diagnose=True)
        elif (_when(later[0]["detected_at"]) - t) / 60 > limit:
            took = (_when(later[0]["detected_at"]) - t) / 60
            fail(f"expected a warning within {limit:g} min after {spec['time']}, the first came after {took:.1f} min")
    if "signals_include" in exp:
        if first_warn is None:
            fail(f"expected signals {exp['signals_include']} in the first warning, got no warning", diagnose=True)
        else:
            got = [r["signal"] for r in first_warn["reasons"]]
            missing = [s for s in exp["signals_include"] if s not in got]
            if missing:
                fail(f"expected signals {missing} among the reasons of the first warning, reasons were {got}")
    if exp.get("cluster") and not any((a.get("cluster") or {}).get("related_accounts") for a in alerts):
        fail("expected an alert carrying a cluster with related accounts, got none")
    return failures


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, tmp_path: Path) -> None:
    folder = GOLDEN / case
    events_path = folder / "events.jsonl"
    expected = yaml.safe_load((folder / "expected.yaml").read_text("utf-8")) or {}
    unknown = set(expected) - CASE_KEYS
    assert not unknown, f"[{case}] unknown case-level expectation(s) {sorted(unknown)} in expected.yaml"

    alerts_path, dlq_path = tmp_path / "alerts.jsonl", tmp_path / "dlq.jsonl"
    stats = replay(events_path, alerts_path, dlq_path=dlq_path, partitions=PARTITIONS)
    alerts = [orjson.loads(line) for line in alerts_path.read_bytes().splitlines()]
    rejects = [orjson.loads(line) for line in dlq_path.read_bytes().splitlines()]
    first_ts, _ = _read_events(events_path)

    failures: list[str] = []
    for key in ("valid", "invalid", "duplicates"):
        if key in expected and getattr(stats, key) != expected[key]:
            failures.append(f"[{case}] expected {key} = {expected[key]}, replay counted {getattr(stats, key)}")
    if "invalid_by_code" in expected:
        got = dict(stats.invalid_by_reason)
        if got != expected["invalid_by_code"]:
            failures.append(f"[{case}] expected rejects by code {expected['invalid_by_code']}, got {got}")
    if "invalid_lines" in expected:
        got_lines = [r["line"] for r in rejects]
        if got_lines != expected["invalid_lines"]:
            detail = "; ".join(f"line {r['line']}: {r['code']} {r['reason']}" for r in rejects)
            failures.append(f"[{case}] expected DLQ lines {expected['invalid_lines']}, got {got_lines} ({detail})")

    by_account: dict[str, list[dict]] = defaultdict(list)
    for a in alerts:
        by_account[a["account_id"]].append(a)
    accounts = expected.get("accounts") or {}
    for acct in sorted(set(first_ts) - set(accounts)):
        failures.append(f"[{case}] {acct} sends events but expected.yaml says nothing about it")
    for acct in sorted(set(by_account) - set(first_ts)):
        failures.append(f"[{case}] {acct} has alerts but no valid event")
    for acct, exp in accounts.items():
        if acct not in first_ts:
            failures.append(f"[{case}] {acct} is in expected.yaml but has no valid event")
            continue
        failures += _check_account(case, acct, exp or {}, by_account.get(acct, []), first_ts.get(acct), events_path)
    if expected.get("cluster") and not any((a.get("cluster") or {}).get("related_accounts") for a in alerts):
        failures.append(f"[{case}] expected some alert to carry a cluster with related accounts, none did "
                        f"({len(alerts)} alerts, statuses {dict(stats.alerts_by_status)})")
    for a in alerts:  # a cluster names other accounts of the case, never the account itself
        related = (a.get("cluster") or {}).get("related_accounts") or []
        strangers = [r for r in related if r == a["account_id"] or r not in first_ts]
        if strangers:
            failures.append(f"[{case}] {a['account_id']}: cluster names {strangers}, not other accounts of the case")

    assert not failures, f"{len(failures)} expectation(s) not met:\n" + "\n".join(failures)


def test_golden_set_is_complete_and_small() -> None:
    assert len(CASES) >= 12, CASES
    total = 0
    for case in CASES:
        folder = GOLDEN / case
        for name in ("events.jsonl", "README.md"):
            assert (folder / name).is_file(), f"[{case}] lacks {name}"
        size = (folder / "events.jsonl").stat().st_size
        _, records = _read_events(folder / "events.jsonl")
        assert records <= MAX_EVENTS_PER_CASE, f"[{case}] {records} events, limit {MAX_EVENTS_PER_CASE}"
        assert size <= MAX_BYTES_PER_CASE, f"[{case}] events.jsonl is {size} bytes, limit {MAX_BYTES_PER_CASE}"
        total += sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    assert total <= MAX_BYTES_TOTAL, f"golden set is {total} bytes, limit {MAX_BYTES_TOTAL}"
