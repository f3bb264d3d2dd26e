"""``distillwatch backtest``: simulate, replay and evaluate several seeds; aggregate.

Per seed N, in ``OUT/seed-N/``: ``events.jsonl.gz`` (deleted after the
evaluation unless ``keep_events``), ``labels.jsonl``, ``alerts.jsonl``,
``replay-stats.json`` and the evaluation (``report.md``, ``metrics.json``,
``accounts.csv``, PNGs). Then ``OUT/report.md`` and ``OUT/metrics.json``:
per-seed rows, their mean, PASS/FAIL per target on the mean, how many seeds
pass each target, the command line, the date and the machine.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from .deps import check_eval_dependencies
from .metrics import check_targets
from .report import evaluate_files, fmt_min, fmt_num, fmt_pct, fmt_target_value, write_json

__all__ = ["run_backtest", "aggregate", "render_aggregate_markdown", "machine_info", "parse_seeds"]

Log = Callable[[str], None]


def parse_seeds(text: str) -> list[int]:
    """``"1,2,3"`` or ``"1-3"`` (or a mix) -> [1, 2, 3]; duplicates dropped, order kept.

    Seeds are non-negative integers (``-`` marks a range).

    >>> parse_seeds("1,2,3"), parse_seeds("5-7,2"), parse_seeds(" 4 ")
    ([1, 2, 3], [5, 6, 7, 2], [4])
    """
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            a, b = int(lo), int(hi)
            if b < a:
                raise ValueError(f"empty seed range {part!r}")
            seeds.extend(range(a, b + 1))
        else:
            seeds.append(int(part))
    out = list(dict.fromkeys(seeds))
    if not out:
        raise ValueError("no seeds given")
    return out


def fmt_count(x: float | None) -> str:
    """A count, or the mean of counts, to the nearest integer."""
    return "—" if x is None else f"{round(x):,}"


def machine_info() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


def detector_info() -> dict[str, Any]:
    """Which detection code and rules were measured."""
    from importlib import resources

    from detectors.engine import DETECTOR_VERSION

    try:
        rules = resources.files("detectors").joinpath("rules.yaml").read_bytes()
        rules_sha = hashlib.sha256(rules).hexdigest()[:16]
    except OSError:
        rules_sha = None
    return {"detector": DETECTOR_VERSION, "rules_yaml_sha256_16": rules_sha}


def _stderr_log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_backtest(
    seeds: Sequence[int],
    *,
    hours: float,
    scale: float,
    out: str | Path,
    min_severity: str = "warning",
    keep_events: bool = False,
    command: str | None = None,
    log: Log = _stderr_log,
    console: Console | None = None,
) -> dict[str, Any]:
    """Run the backtest; returns the aggregate metrics (also written to ``out``/metrics.json)."""
    import simulator
    from detectors.engine import Detector
    from streams.replay import replay

    check_eval_dependencies("distillwatch backtest")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    per_seed: list[dict[str, Any]] = []
    for seed in seeds:
        d = out / f"seed-{seed}"
        d.mkdir(parents=True, exist_ok=True)
        events, labels, alerts = d / "events.jsonl.gz", d / "labels.jsonl", d / "alerts.jsonl"
        timings: dict[str, float] = {}

        log(f"seed {seed}: simulate {hours:g} h at scale {scale:g} -> {events}")
        t = time.perf_counter()
        counts = simulator.write_file(
            simulator.Scenario(seed=seed, hours=hours, scale=scale), events, labels_path=labels
        )
        timings["simulate"] = time.perf_counter() - t
        log(
            f"seed {seed}: simulate done: {counts['events']:,} events, {counts['accounts']:,} accounts "
            f"({counts['harvesters']:,} harvesters) in {timings['simulate']:.1f} s"
        )

        log(f"seed {seed}: replay (default Detector) -> {alerts}")
        t = time.perf_counter()
        detector = detector_info()  # per seed: the rules file is read again for every Detector()
        stats = replay(events, alerts, detector=Detector())
        timings["replay"] = time.perf_counter() - t
        replay_stats = stats.to_dict()
        write_json(d / "replay-stats.json", replay_stats)
        log(
            f"seed {seed}: replay done: {stats.valid:,} valid events, {stats.alerts:,} alerts in "
            f"{timings['replay']:.1f} s ({replay_stats['events_per_second'] or 0:,} events/s)"
        )

        log(f"seed {seed}: evaluate -> {d / 'report.md'}")
        t = time.perf_counter()
        m = evaluate_files(
            events, labels, alerts, d, min_severity=min_severity, title=f"distillwatch detection quality — seed {seed}"
        )
        timings["evaluate"] = time.perf_counter() - t
        o = m["ours"]
        log(
            f"seed {seed}: evaluate done in {timings['evaluate']:.1f} s: recall {fmt_num(o['recall'])}, "
            f"benign FPR {fmt_pct(o['benign_fpr'], 2)}, heavy FPR {fmt_pct(o['heavy_benign_fpr'], 2)}, "
            f"median delay {fmt_min(o['delay']['median_min'])}"
        )
        if not keep_events:
            events.unlink(missing_ok=True)
            m["inputs"]["events_deleted"] = True
            write_json(d / "metrics.json", m)  # record that the events file is gone
        per_seed.append(
            {
                "seed": seed,
                "metrics": m,
                "replay": replay_stats,
                "simulate": counts,
                "detector": detector,
                "timings_seconds": {k: round(v, 2) for k, v in timings.items()},
            }
        )

    agg = aggregate(per_seed)
    agg.update(
        command=command,
        invoked_as=shlex.join(sys.argv),
        started_at=started,
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        runtime_seconds=round(time.perf_counter() - t_all, 1),
        machine=machine_info(),
        detector=detector_info(),
        settings={
            "seeds": list(seeds),
            "hours": hours,
            "scale": scale,
            "min_severity": min_severity,
            "keep_events": keep_events,
        },
    )
    write_json(out / "metrics.json", agg)
    (out / "report.md").write_text(render_aggregate_markdown(agg), encoding="utf-8")
    log(f"backtest done in {agg['runtime_seconds']:.1f} s: {out / 'report.md'}")
    if console is not None:
        print_aggregate(agg, console)
    return agg


# -- aggregation ---------------------------------------------------------------------

# (key in a row, how to get it from one seed's metrics)
ROW_FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "harvesters": lambda m: m["ours"]["population"]["harvesters"],
    "benign": lambda m: m["ours"]["population"]["benign"],
    "heavy_benign": lambda m: m["ours"]["population"]["heavy_benign"],
    "recall": lambda m: m["ours"]["recall"],
    "precision": lambda m: m["ours"]["precision"],
    "f1": lambda m: m["ours"]["f1"],
    "benign_fpr": lambda m: m["ours"]["benign_fpr"],
    "heavy_benign_fpr": lambda m: m["ours"]["heavy_benign_fpr"],
    "min_archetype_recall": lambda m: m["ours"]["min_archetype_recall"],
    "network_recall": lambda m: m["ours"]["network_recall"],
    "median_delay_min": lambda m: m["ours"]["delay"]["median_min"],
    "p90_delay_min": lambda m: m["ours"]["delay"]["p90_min"],
    "volume_threshold": lambda m: m["volume_threshold"]["threshold"],
    "volume_threshold_recall": lambda m: m["volume_threshold"]["recall"],
    "volume_threshold_benign_fpr": lambda m: m["volume_threshold"]["benign_fpr"],
    "volume_threshold_heavy_benign_fpr": lambda m: m["volume_threshold"]["heavy_benign_fpr"],
    "volume_threshold_median_delay_min": lambda m: m["volume_threshold"]["delay"]["median_min"],
    "volume_threshold_recall_at_our_fpr": lambda m: m["volume_threshold"]["at_our_fpr"]["recall"],
    "volume_threshold_benign_fpr_at_our_fpr": lambda m: m["volume_threshold"]["at_our_fpr"]["benign_fpr"],
    "isolation_forest_recall": lambda m: m["isolation_forest"]["recall"],
    "isolation_forest_benign_fpr": lambda m: m["isolation_forest"]["benign_fpr"],
    "isolation_forest_heavy_benign_fpr": lambda m: m["isolation_forest"]["heavy_benign_fpr"],
    "isolation_forest_median_delay_min": lambda m: m["isolation_forest"]["delay"]["median_min"],
    "isolation_forest_recall_at_our_fpr": lambda m: m["isolation_forest"]["at_our_fpr"]["recall"],
    "isolation_forest_benign_fpr_at_our_fpr": lambda m: m["isolation_forest"]["at_our_fpr"]["benign_fpr"],
}


def _mean(values: list[Any]) -> float | None:
    v = [float(x) for x in values if x is not None]
    return float(np.mean(v)) if v else None


def aggregate(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-seed rows, their mean, per-archetype recall, and the targets on the mean."""
    rows = []
    for s in per_seed:
        m = s["metrics"]
        row = {"seed": s["seed"], "events": m["events"]["events"]}
        row.update({k: f(m) for k, f in ROW_FIELDS.items()})
        row["targets"] = {t["target"]: t["status"] for t in m["targets"]}
        row["timings_seconds"] = s["timings_seconds"]
        row["detector"] = s.get("detector")
        rows.append(row)
    mean = {k: _mean([r[k] for r in rows]) for k in ["events", *ROW_FIELDS]}

    archetypes: dict[str, dict[str, Any]] = {}
    for method in ("ours", "volume_threshold", "isolation_forest"):
        for s in per_seed:
            for arch, v in s["metrics"][method]["recall_by_archetype"].items():
                a = archetypes.setdefault(arch, {}).setdefault(method, {"per_seed": {}, "detected": 0, "accounts": 0})
                a["per_seed"][str(s["seed"])] = v["recall"]
                a["detected"] += v["detected"]
                a["accounts"] += v["accounts"]
    for arch, methods in archetypes.items():
        for v in methods.values():
            v["mean"] = _mean(list(v["per_seed"].values()))
            v["pooled"] = v["detected"] / v["accounts"] if v["accounts"] else None
    mean["min_archetype_recall"] = min(
        (v["ours"]["mean"] for v in archetypes.values() if v["ours"]["mean"] is not None), default=None
    )
    targets = check_targets(mean)
    for t in targets:
        t["seeds_passing"] = sum(1 for r in rows if r["targets"].get(t["target"]) == "PASS")
        t["seeds"] = len(rows)
    versions = {_detector_key(r.get("detector")) for r in rows}
    return {
        "seeds": rows,
        "mean": mean,
        "recall_by_archetype": archetypes,
        "targets": targets,
        "same_detector_for_all_seeds": len(versions) <= 1,
    }


def _detector_key(d: dict[str, Any] | None) -> str:
    return repr(sorted((d or {}).items()))


# -- output --------------------------------------------------------------------------------


def render_aggregate_markdown(agg: dict[str, Any]) -> str:
    st = agg.get("settings", {})
    mach = agg.get("machine", {})
    det = agg.get("detector", {})
    L = [
        "# distillwatch backtest",
        "",
        f"- command: `{agg.get('command')}`",
        f"- invoked as: `{agg.get('invoked_as')}`",
        f"- date: {agg.get('started_at')} → {agg.get('finished_at')} (UTC), runtime {agg.get('runtime_seconds')} s",
        f"- machine: {mach.get('platform')}, {mach.get('machine')}, {mach.get('cpu_count')} CPUs, "
        f"Python {mach.get('python')}",
        f"- detector: {det.get('detector')} (rules.yaml sha256 {det.get('rules_yaml_sha256_16')}…), default Detector",
        *(
            []
            if agg.get("same_detector_for_all_seeds", True)
            else [
                "- **WARNING: the detection rules changed during the run; the seeds measured different detectors "
                "(see `detector` per seed in metrics.json)**"
            ]
        ),
        f"- scenario: seeds {', '.join(map(str, st.get('seeds', [])))}; {st.get('hours')} simulated hours; "
        f"scale {st.get('scale')}; flagged = alert severity ≥ {st.get('min_severity')}",
        "",
        "Per-seed reports: " + ", ".join(f"[seed {r['seed']}](seed-{r['seed']}/report.md)" for r in agg["seeds"]),
        "",
        "## distillwatch vs baselines, per seed",
        "",
        "Baselines at their own operating point (≤ 1 % benign accounts for volume/hour, ≤ 1 % benign "
        "account-days for IsolationForest) and re-tuned to distillwatch's benign FPR (@ ours).",
        "",
        "| seed | events | harvesters | recall | precision | F1 | benign FPR | heavy FPR | lowest arch. recall "
        "| network recall | median delay | p90 delay | vol recall | vol FPR | vol recall @ ours | IF recall | IF FPR "
        "| IF recall @ ours |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def line(label: str, r: dict[str, Any]) -> str:
        return (
            f"| {label} | {fmt_count(r['events'])} | {fmt_count(r['harvesters'])} | {fmt_num(r['recall'])} | "
            f"{fmt_num(r['precision'])} | {fmt_num(r['f1'])} | {fmt_pct(r['benign_fpr'], 2)} | "
            f"{fmt_pct(r['heavy_benign_fpr'], 2)} | {fmt_num(r['min_archetype_recall'])} | "
            f"{fmt_num(r['network_recall'])} | {fmt_min(r['median_delay_min'])} | {fmt_min(r['p90_delay_min'])} | "
            f"{fmt_num(r['volume_threshold_recall'])} | {fmt_pct(r['volume_threshold_benign_fpr'], 2)} | "
            f"{fmt_num(r['volume_threshold_recall_at_our_fpr'])} | {fmt_num(r['isolation_forest_recall'])} | "
            f"{fmt_pct(r['isolation_forest_benign_fpr'], 2)} | {fmt_num(r['isolation_forest_recall_at_our_fpr'])} |"
        )

    for r in agg["seeds"]:
        L.append(line(str(r["seed"]), r))
    L.append(line("**mean**", agg["mean"]))

    L += [
        "",
        "## Targets (on the mean over seeds)",
        "",
        "| target | mean | result | seeds passing |",
        "|---|---|---|---|",
    ]
    for t in agg["targets"]:
        L.append(
            f"| {t['description']} | {fmt_target_value(t)} | **{t['status']}** | {t['seeds_passing']}/{t['seeds']} |"
        )
    L += ["", '"lowest archetype recall" on the mean is the lowest per-archetype mean recall (table below).', ""]

    seeds = [str(r["seed"]) for r in agg["seeds"]]
    L += [
        "## Recall per harvester archetype",
        "",
        "| archetype | accounts (all seeds) | distillwatch " + " ".join(f"s{s}" for s in seeds) + " | mean | pooled "
        "| volume/hour mean | IsolationForest mean |",
        "|---|---|---|---|---|---|---|",
    ]
    for arch, v in sorted(agg["recall_by_archetype"].items()):
        o = v["ours"]
        per = " / ".join(fmt_num(o["per_seed"].get(s)) for s in seeds)
        L.append(
            f"| {arch} | {o['accounts']} | {per} | {fmt_num(o['mean'])} | {fmt_num(o['pooled'])} | "
            f"{fmt_num(v['volume_threshold']['mean'])} | {fmt_num(v['isolation_forest']['mean'])} |"
        )

    L += ["", "## Timings (seconds)", "", "| seed | simulate | replay | evaluate |", "|---|---|---|---|"]
    for r in agg["seeds"]:
        t = r["timings_seconds"]
        L.append(f"| {r['seed']} | {t.get('simulate')} | {t.get('replay')} | {t.get('evaluate')} |")
    L += [
        "",
        'How each number is measured: see "How this is measured" in any per-seed report. The '
        "baselines' thresholds are tuned on the ground-truth labels, which flatters them.",
        "",
    ]
    return "\n".join(L)


def print_aggregate(agg: dict[str, Any], console: Console) -> None:
    rows = [(str(r["seed"]), r) for r in agg["seeds"]] + [("mean", agg["mean"])]
    ours = Table(title="distillwatch per seed")
    for col in ("seed", "recall", "precision", "benign FPR", "heavy FPR", "min arch.", "network", "median delay"):
        ours.add_column(col, justify="right")
    for label, r in rows:
        ours.add_row(
            label,
            fmt_num(r["recall"]),
            fmt_num(r["precision"]),
            fmt_pct(r["benign_fpr"], 2),
            fmt_pct(r["heavy_benign_fpr"], 2),
            fmt_num(r["min_archetype_recall"]),
            fmt_num(r["network_recall"]),
            fmt_min(r["median_delay_min"]),
        )
    console.print(ours)
    base = Table(title="baselines per seed: recall (benign FPR); @ours = re-tuned to our benign FPR")
    for col in ("seed", "volume/hour", "volume @ours", "IForest", "IForest @ours"):
        base.add_column(col, justify="right")
    for label, r in rows:
        base.add_row(
            label,
            f"{fmt_num(r['volume_threshold_recall'])} ({fmt_pct(r['volume_threshold_benign_fpr'], 2)})",
            f"{fmt_num(r['volume_threshold_recall_at_our_fpr'])} ({fmt_pct(r['volume_threshold_benign_fpr_at_our_fpr'], 2)})",
            f"{fmt_num(r['isolation_forest_recall'])} ({fmt_pct(r['isolation_forest_benign_fpr'], 2)})",
            f"{fmt_num(r['isolation_forest_recall_at_our_fpr'])} ({fmt_pct(r['isolation_forest_benign_fpr_at_our_fpr'], 2)})",
        )
    console.print(base)
    for t in agg["targets"]:
        style = "green" if t["status"] == "PASS" else ("yellow" if t["status"] == "n/a" else "red")
        console.print(
            f"[{style}]{t['status']:>4}[/] {t['description']} ({t['seeds_passing']}/{t['seeds']} seeds)",
            highlight=False,
        )
