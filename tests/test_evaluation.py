"""Detection-quality evaluation: metric functions with known answers, the
baselines, the events reader, and ``evaluate`` / ``backtest`` end to end."""

from __future__ import annotations

import doctest
import gzip
import importlib
import math
import sys
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simulator
from evaluation import MissingDependency
from evaluation import baselines as B
from evaluation.data import read_alerts, read_labels, scan_events
from evaluation.deps import require
from evaluation.metrics import (
    alert_flags,
    check_targets,
    delay_summary,
    detection_metrics,
    first_detections,
    labels_frame,
    tune_threshold,
)
from evaluation.pipeline import evaluate_frames
from streams.cli import main
from streams.replay import replay

T0 = 1_795_857_600.0  # 2026-11-28T09:20:00Z
PNG = b"\x89PNG\r\n\x1a\n"


def _rfc(t: float) -> str:
    return pd.Timestamp(t, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _label(acct, archetype, label, heavy=False, start=None, net=None):
    return {
        "account_id": acct,
        "archetype": archetype,
        "label": label,
        "heavy": heavy,
        "attack_start": None if start is None else _rfc(start),
        "network_id": net,
    }


@pytest.fixture
def toy_labels() -> pd.DataFrame:
    """4 harvesters (2 in network n1, 1 compromised key starting an hour in) and 6 benign (2 heavy)."""
    return labels_frame(
        [
            _label("h1", "hydra_member", "harvester", start=T0, net="n1"),
            _label("h2", "hydra_member", "harvester", start=T0, net="n1"),
            _label("h3", "template_sweeper", "harvester", start=T0),
            _label("h4", "compromised_key", "harvester", start=T0 + 3600),
            *[_label(f"b{i}", "chat_app", "benign") for i in range(1, 5)],
            _label("b5", "batch_job", "benign", heavy=True),
            _label("b6", "batch_job", "benign", heavy=True),
        ]
    )


def _flags(rows):
    return pd.DataFrame(rows, columns=["account_id", "t"])


# -- metrics -------------------------------------------------------------------------


def test_labels_frame_parses_times_and_indexes_by_account(toy_labels):
    assert list(toy_labels.index[:2]) == ["b1", "b2"]  # sorted by account
    assert toy_labels.loc["h4", "attack_start"] == T0 + 3600
    assert math.isnan(toy_labels.loc["b1", "attack_start"])
    assert toy_labels.loc["b5", "heavy"] and not toy_labels.loc["b1", "heavy"]
    assert toy_labels.loc["h1", "network_id"] == "n1" and pd.isna(toy_labels.loc["h3", "network_id"])
    with pytest.raises(ValueError, match="label"):
        labels_frame([_label("x", "a", "suspicious")])


def test_precision_recall_f1_fpr_and_breakdowns(toy_labels):
    flags = _flags(
        [
            ("h1", T0 + 60),
            ("h1", T0 + 7200),  # detected after 1 min (later flags do not matter)
            ("h2", T0 + 600),  # detected after 10 min
            # h3: never flagged
            ("h4", T0 + 1800),  # only before its takeover: missed + pre-attack false alarm
            ("b1", T0 + 100),
            ("b5", T0 + 100),  # one ordinary and one heavy benign false positive
            ("stranger", T0),  # not in the labels: ignored
        ]
    )
    det = first_detections(flags, toy_labels)
    assert det.loc["h4", "pre_attack_only"] and not det.loc["h4", "flagged"]
    m = detection_metrics(toy_labels, det)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 3, 2, 4)
    assert m["precision"] == pytest.approx(2 / 5)
    assert m["recall"] == pytest.approx(0.5)
    assert m["f1"] == pytest.approx(2 * 0.4 * 0.5 / 0.9)
    assert m["benign_fpr"] == pytest.approx(2 / 6)
    assert m["heavy_benign_fpr"] == pytest.approx(1 / 2)
    assert m["pre_attack_false_alarms"] == 1
    assert m["recall_by_archetype"]["hydra_member"]["recall"] == 1.0
    assert m["recall_by_archetype"]["template_sweeper"]["recall"] == 0.0
    assert m["recall_by_archetype"]["compromised_key"]["recall"] == 0.0
    assert m["min_archetype_recall"] == 0.0
    assert m["fpr_by_benign_archetype"]["batch_job"] == {"accounts": 2, "flagged": 1, "fpr": 0.5, "heavy": True}
    assert m["fpr_by_benign_archetype"]["chat_app"]["fpr"] == pytest.approx(0.25)
    assert m["network_recall"] == 1.0 and m["recall_by_network"]["n1"]["detected"] == 2
    d = m["delay"]
    assert (d["detected"], d["harvesters"]) == (2, 4)
    assert d["median_min"] == pytest.approx(5.5)
    assert d["p90_min"] == pytest.approx(1 + 0.9 * 9)
    assert d["median_all_min"] is None  # half the harvesters were never detected


def test_compromised_key_counts_from_the_takeover(toy_labels):
    flags = _flags([("h4", T0 + 1800), ("h4", T0 + 3600 + 300), ("h1", T0 - 50)])
    det = first_detections(flags, toy_labels)
    assert det.loc["h4", "flagged"] and not det.loc["h4", "pre_attack_only"]
    assert det.loc["h4", "delay_s"] == pytest.approx(300.0)  # from the first flag after the takeover
    # a flag before attack_start of an account harvesting from t0 cannot happen in the simulator, but if
    # it did it would not count as a detection
    assert not det.loc["h1", "flagged"]
    assert math.isnan(det.loc["b1", "delay_s"])


def test_undefined_ratios_are_none_not_zero():
    lab = labels_frame([_label("b1", "chat_app", "benign")])
    m = detection_metrics(lab, first_detections(_flags([]), lab))
    assert m["recall"] is None and m["precision"] is None and m["network_recall"] is None
    assert m["benign_fpr"] == 0.0 and m["heavy_benign_fpr"] is None


def test_delay_summary_median_p90_and_undetected():
    d = delay_summary([60.0 * k for k in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)], 10)
    assert (d["median_min"], d["p90_min"], d["max_min"]) == (5.5, pytest.approx(9.1), 10.0)
    assert d["median_all_min"] == 5.5 and d["p90_all_min"] == pytest.approx(9.1)
    d = delay_summary([0.0, 120.0, 240.0], 4)  # one of four never detected
    assert d["median_min"] == 2.0 and d["median_all_min"] == pytest.approx(3.0)
    assert d["p90_all_min"] is None
    assert delay_summary([], 3)["median_min"] is None


def test_alert_flags_respects_min_severity():
    alerts = pd.DataFrame(
        {
            "account_id": ["a", "a", "b", "c"],
            "severity": ["info", "warning", "critical", "info"],
            "score": [0.3, 0.6, 0.9, 0.4],
            "detected_at": [_rfc(T0), _rfc(T0 + 60), _rfc(T0 + 120), _rfc(T0 + 180)],
        }
    )
    assert sorted(alert_flags(alerts, "warning")["account_id"]) == ["a", "b"]
    assert list(alert_flags(alerts, "critical")["account_id"]) == ["b"]
    assert len(alert_flags(alerts, "info")) == 4
    assert alert_flags(alerts, "warning")["t"].tolist() == [T0 + 60, T0 + 120]
    with pytest.raises(ValueError):
        alert_flags(alerts, "loud")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=400), st.sampled_from([0.0, 0.01, 0.05, 0.3])
)
def test_tune_threshold_is_the_minimal_integer_within_the_rate(values, rate):
    t = tune_threshold(values, rate)
    v = np.asarray(values)
    allowed = math.floor(rate * len(v) + 1e-9)
    if allowed >= len(v):
        assert t == -math.inf
        return
    assert t == int(t)
    assert (v > t).sum() <= allowed  # at most the rate exceeds ...
    assert (v > t - 1).sum() > allowed  # ... and one less would let too many exceed


def test_volume_baseline_threshold_fpr_and_delay():
    benign = [_label(f"b{i:03d}", "chat_app", "benign") for i in range(200)]
    lab = labels_frame([*benign, _label("h", "reasoning_harvester", "harvester", start=T0)])
    hour0 = int(T0 // 3600)
    rows = [{"account_id": f"b{i:03d}", "hour": hour0 + (i % 3), "requests": i + 1} for i in range(200)]
    rows += [{"account_id": f"b{i:03d}", "hour": hour0 + 5, "requests": 1} for i in range(200)]
    rows += [
        {"account_id": "h", "hour": hour0, "requests": 150},
        {"account_id": "h", "hour": hour0 + 1, "requests": 500},
    ]
    hourly = pd.DataFrame(rows)
    t = B.volume_threshold(hourly, lab, 0.01)
    assert t == 198  # maxima 1..200: exactly 2 of 200 (1 %) exceed 198; 197 would let 3 exceed
    maxima = B.account_max(hourly, "requests", lab.index[lab["label"] == "benign"])
    assert (maxima > t).mean() <= 0.01 and (maxima > t - 1).mean() > 0.01
    det = first_detections(B.hour_flags(hourly, t), lab)
    m = detection_metrics(lab, det)
    assert m["benign_fpr"] == pytest.approx(0.01) and m["recall"] == 1.0
    # flagged at the end of its first hour above the threshold (the second hour of the run)
    assert det.loc["h", "delay_s"] == pytest.approx((hour0 + 2) * 3600 - T0)
    # at a benign FPR of 0 the threshold is the largest benign maximum
    assert B.threshold_at_rate(hourly, "requests", lab, 0.0) == 200


def _daily_rows(rng, acct, day, **over):
    row = {
        "account_id": acct,
        "day": day,
        "requests": int(rng.integers(500, 3000)),
        "input_tokens_mean": float(rng.uniform(300, 900)),
        "output_tokens_mean": float(rng.uniform(100, 400)),
        "output_input_ratio": float(rng.uniform(0.2, 0.8)),
        "single_turn_share": float(rng.uniform(0.2, 0.5)),
        "logprobs_share": 0.0,
        "n_gt1_share": 0.0,
        "length_share": float(rng.uniform(0, 0.02)),
        "status_429_share": float(rng.uniform(0, 0.01)),
        "ip_prefixes": int(rng.integers(1, 4)),
        "api_keys": 1,
        "models": int(rng.integers(1, 3)),
        "temperature_mean": float(rng.uniform(0.5, 1.0)),
    }
    row.update(over)
    return row


def test_isolation_forest_flags_an_obvious_outlier():
    rng = np.random.default_rng(3)
    day0 = int(T0 // 86400)
    lab = labels_frame(
        [_label(f"b{i}", "chat_app", "benign") for i in range(60)]
        + [_label("h", "logprob_harvester", "harvester", start=T0)]
    )
    rows = [_daily_rows(rng, f"b{i}", day0 + d) for i in range(60) for d in (0, 1)]
    rows += [
        _daily_rows(
            rng,
            "h",
            day0 + d,
            requests=20000,
            output_tokens_mean=7000,
            output_input_ratio=60.0,
            single_turn_share=1.0,
            logprobs_share=1.0,
            n_gt1_share=0.9,
            length_share=0.6,
            ip_prefixes=40,
            api_keys=6,
            temperature_mean=1.6,
        )
        for d in (0, 1)
    ]
    daily = pd.DataFrame(rows)
    scores = B.isolation_forest_scores(daily, random_state=0)
    assert scores["score"].notna().all()
    again = B.isolation_forest_scores(daily, random_state=0)
    assert np.array_equal(scores["score"].to_numpy(), again["score"].to_numpy())  # deterministic
    per_day_top = scores.loc[scores.groupby("day")["score"].idxmax(), "account_id"]
    assert set(per_day_top) == {"h"}
    t = B.account_day_threshold(scores, lab, 0.01)
    benign_days = scores["account_id"] != "h"
    assert (scores.loc[benign_days, "score"] > t).mean() <= 0.01
    det = first_detections(B.day_flags(scores, t), lab)
    assert det.loc["h", "flagged"]
    assert det.loc["h", "delay_s"] == pytest.approx((day0 + 1) * 86400 - T0)  # end of the first UTC day


def test_check_targets():
    good = {
        "recall": 0.97,
        "benign_fpr": 0.002,
        "heavy_benign_fpr": 0.0,
        "min_archetype_recall": 0.85,
        "network_recall": 0.95,
        "median_delay_min": 9.0,
        "volume_threshold_recall_at_our_fpr": 0.1,
        "isolation_forest_recall_at_our_fpr": 0.97,
    }
    status = {t["target"]: t["status"] for t in check_targets(good)}
    assert status == {
        "recall": "PASS",
        "benign_fpr": "PASS",
        "heavy_benign_fpr": "PASS",
        "min_archetype_recall": "PASS",
        "network_recall": "PASS",
        "median_delay_min": "PASS",
        "beats_volume_threshold": "PASS",
        "beats_isolation_forest": "FAIL",
    }  # a tie is not better
    bad = dict(good, benign_fpr=0.0031, median_delay_min=None, network_recall=None)
    status = {t["target"]: t["status"] for t in check_targets(bad)}
    assert status["benign_fpr"] == "FAIL" and status["median_delay_min"] == "FAIL"
    assert status["network_recall"] == "n/a"


# -- reading events ---------------------------------------------------------------------


def _event(rid, acct, ts, **kw):
    ev = {
        "request_id": rid,
        "timestamp": ts,
        "account_id": acct,
        "model": kw.pop("model", "m1"),
        "status_code": kw.pop("status_code", 200),
    }
    ev.update(kw)
    return orjson.dumps(ev)


def test_scan_events_skips_bad_lines_and_counts_duplicates_once(tmp_path):
    h0 = 3600 * (int(T0) // 3600 + 1)  # a clock-hour boundary
    lines = [
        _event(
            "r1",
            "a",
            _rfc(h0 + 10),
            client_ip="198.51.100.7",
            api_key_id="k1",
            usage={"input_tokens": 100, "output_tokens": 300},
            finish_reason="length",
            params={"temperature": 0.5, "logprobs": True, "n": 2},
            prompt={"messages_count": 1},
        ),
        _event(
            "r2",
            "a",
            h0 + 20.5,
            client_ip="198.51.100.200",
            api_key_id="k2",
            model="m2",
            usage={"input_tokens": 50, "output_tokens": 100},
            params={"temperature": 1.5},
            prompt={"messages_count": 3},
        ),
        _event("r3", "a", _rfc(h0 + 3700), status_code=429, client_ip="2001:db8:1:2::9"),
        _event("r1", "a", _rfc(h0 + 10)),  # duplicate delivery: counted once
        _event("r1", "b", _rfc(h0 + 15)),  # the same request id on another account is another request
        b"",  # blank
        b"{not json",
        b"[1, 2]",
        orjson.dumps({"request_id": "x", "timestamp": _rfc(h0)}),  # no account_id
        orjson.dumps({"request_id": "y", "account_id": "a"}),  # no timestamp
        _event("r9", "a", "2026-11-28T10:00:00"),  # naive time: not an instant
        _event("r9", "a", "yesterday"),
        _event("r9", "a", True),
        _event("r9", "a", 1.0),  # 1970: out of range
    ]
    path = tmp_path / "events.jsonl.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"\n".join(lines) + b"\n")
    agg = scan_events(path, chunk_lines=2)  # tiny chunks: duplicates are found across chunks too
    s = agg.stats
    assert s["events"] == 4 and s["duplicates"] == 1 and s["blank"] == 1
    assert (s["bad_json"], s["not_object"], s["missing_fields"], s["bad_timestamp"]) == (1, 1, 3, 3)
    assert (
        s["lines"]
        == s["events"] + s["duplicates"] + s["bad_json"] + s["not_object"] + s["missing_fields"] + s["bad_timestamp"]
    )
    hourly = agg.hourly.set_index(["account_id", "hour"])["requests"].to_dict()
    assert hourly == {("a", h0 // 3600): 2, ("a", h0 // 3600 + 1): 1, ("b", h0 // 3600): 1}
    assert agg.accounts.loc["a", "events"] == 3 and agg.accounts.loc["a", "first_ts"] == pytest.approx(h0 + 10)
    day = agg.daily.set_index("account_id").loc["a"]
    assert day["requests"] == 3
    assert day["input_tokens_mean"] == pytest.approx(75.0)  # over the two responses with usage
    assert day["output_tokens_mean"] == pytest.approx(200.0)
    assert day["output_input_ratio"] == pytest.approx(400 / 150)
    assert day["single_turn_share"] == pytest.approx(1 / 3)
    assert day["logprobs_share"] == pytest.approx(1 / 3) and day["n_gt1_share"] == pytest.approx(1 / 3)
    assert day["length_share"] == pytest.approx(1 / 3) and day["status_429_share"] == pytest.approx(1 / 3)
    assert day["ip_prefixes"] == 2  # 198.51.100.0/24 and 2001:db8:1::/48
    assert day["api_keys"] == 2 and day["models"] == 2
    assert day["temperature_mean"] == pytest.approx(1.0)


def test_missing_optional_dependency_is_a_clear_error(monkeypatch, tmp_path, capsys):
    for name in ("sklearn", "sklearn.ensemble"):
        monkeypatch.setitem(sys.modules, name, None)  # import -> ImportError, as when not installed
    with pytest.raises(MissingDependency, match=r"scikit-learn.*distillwatch\[eval\]"):
        require("sklearn.ensemble")
    code = main(
        [
            "evaluate",
            "--events",
            str(tmp_path / "e.jsonl"),
            "--labels",
            str(tmp_path / "l.jsonl"),
            "--alerts",
            str(tmp_path / "a.jsonl"),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("distillwatch evaluate:") and "distillwatch[eval]" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "module", ["evaluation.metrics", "evaluation.baselines", "evaluation.data", "evaluation.backtest"]
)
def test_module_doctests(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


# -- end to end ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tiny")
    events, labels, alerts = d / "events.jsonl.gz", d / "labels.jsonl", d / "alerts.jsonl"
    simulator.write_file(simulator.Scenario(seed=1, hours=2, scale=0.1), events, labels_path=labels)
    replay(events, alerts)
    return {"dir": d, "events": events, "labels": labels, "alerts": alerts}


def test_evaluate_end_to_end(tiny_run, tmp_path, capsys):
    out = tmp_path / "eval"
    code = main(
        [
            "evaluate",
            "--events",
            str(tiny_run["events"]),
            "--labels",
            str(tiny_run["labels"]),
            "--alerts",
            str(tiny_run["alerts"]),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "recall" in printed and "benign FPR" in printed and "report.md" in printed
    m = orjson.loads((out / "metrics.json").read_bytes())
    for key in ("ours", "volume_threshold", "isolation_forest", "targets", "population", "events"):
        assert key in m
    assert len(m["targets"]) == 8 and {t["status"] for t in m["targets"]} <= {"PASS", "FAIL", "n/a"}
    assert m["events"]["events"] > 1000 and m["events"]["duplicates"] >= 0
    assert m["ours"]["population"]["harvesters"] > 0 and m["ours"]["population"]["heavy_benign"] > 0
    for name in ("score_distributions.png", "detection_delay_cdf.png", "recall_by_archetype.png"):
        assert (out / name).read_bytes().startswith(PNG), name
    report = (out / "report.md").read_text()
    for name in ("score_distributions.png", "detection_delay_cdf.png", "recall_by_archetype.png"):
        assert f"]({name})" in report
    assert "## Targets" in report and "IsolationForest" in report

    # the numbers agree with the per-account outcomes and with an independent recount from the files
    acc = pd.read_csv(out / "accounts.csv", index_col="account_id")
    harv = acc["label"] == "harvester"
    assert m["ours"]["tp"] == int((harv & acc["ours_flagged"]).sum())
    assert m["ours"]["flagged_benign"] == int((~harv & acc["ours_flagged"]).sum())
    labels = read_labels(tiny_run["labels"])
    alerts = read_alerts(tiny_run["alerts"])
    warn = alerts[alerts["severity"].isin(["warning", "critical"])]
    flagged = set(warn["account_id"])
    benign = set(labels.index[labels["label"] == "benign"]) & set(acc.index)
    assert m["ours"]["benign_fpr"] == pytest.approx(len(flagged & benign) / len(benign))


def test_evaluate_excludes_accounts_without_events(tiny_run):
    labels = read_labels(tiny_run["labels"])
    extra = labels_frame(
        [
            _label("acct-silent", "chat_app", "benign"),
            _label("acct-silent-h", "template_sweeper", "harvester", start=T0),
        ]
    )
    agg = scan_events(tiny_run["events"])
    res = evaluate_frames(
        pd.concat([labels, extra]).sort_index(), read_alerts(tiny_run["alerts"]), agg.hourly, agg.daily, agg.accounts
    )
    pop = res.metrics["population"]
    silent_before = int((~labels.index.isin(agg.accounts.index)).sum())
    assert pop["excluded_no_events"] == silent_before + 2
    assert "acct-silent" not in res.accounts.index and "acct-silent-h" not in res.accounts.index
    assert pop["evaluated_accounts"] == res.metrics["ours"]["population"]["accounts"]


def test_backtest_one_seed_via_cli(tmp_path, capsys):
    out = tmp_path / "bt"
    code = main(["backtest", "--seeds", "1", "--hours", "1", "--scale", "0.05", "--out", str(out)])
    assert code == 0
    captured = capsys.readouterr()
    for stage in ("simulate", "replay", "evaluate"):
        assert f"seed 1: {stage} done" in captured.err, stage
    assert "distillwatch per seed" in captured.out and "baselines per seed" in captured.out and "mean" in captured.out
    seed = out / "seed-1"
    assert (seed / "labels.jsonl").exists() and (seed / "alerts.jsonl").exists()
    assert (seed / "report.md").exists() and (seed / "metrics.json").exists()
    assert not (seed / "events.jsonl.gz").exists()  # deleted without --keep-events
    agg = orjson.loads((out / "metrics.json").read_bytes())
    assert [r["seed"] for r in agg["seeds"]] == [1]
    assert agg["mean"]["recall"] == agg["seeds"][0]["recall"]
    assert agg["machine"]["cpu_count"] and agg["command"].startswith("distillwatch backtest --seeds 1 ")
    report = (out / "report.md").read_text()
    assert "**mean**" in report and "## Targets" in report and agg["machine"]["platform"] in report
    assert all(t["status"] in ("PASS", "FAIL", "n/a") for t in agg["targets"])


def test_backtest_rejects_bad_arguments(tmp_path, capsys):
    assert main(["backtest", "--seeds", "x", "--out", str(tmp_path / "o")]) == 2
    assert "--seeds" in capsys.readouterr().err
    assert main(["backtest", "--seeds", "1", "--hours", "0", "--out", str(tmp_path / "o")]) == 2


@pytest.mark.parametrize("command,phrase", [("evaluate", "heavy benign users"), ("backtest", "PASS/FAIL")])
def test_help(command, phrase, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith(f"usage: distillwatch {command}") and phrase in out and "distillwatch[eval]" in out
