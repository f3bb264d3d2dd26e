"""``distillwatch evaluate``: read the files, compute, write report.md, metrics.json and plots.

Everything the report shows comes from the metrics dict that is also written
to ``metrics.json``; the per-account outcomes go to ``accounts.csv``.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
from rich.console import Console
from rich.table import Table

from .data import read_alerts, read_labels, scan_events
from .deps import check_eval_dependencies, require
from .pipeline import METHODS, EvaluationResult, evaluate_frames

__all__ = ["evaluate_files", "write_plots", "render_markdown", "print_summary", "fmt_pct", "fmt_min", "write_json"]

PLOTS = {
    "score_distributions": "score_distributions.png",
    "detection_delay_cdf": "detection_delay_cdf.png",
    "recall_by_archetype": "recall_by_archetype.png",
}
COLORS = {"ours": "#1f77b4", "volume_threshold": "#ff7f0e", "isolation_forest": "#2ca02c"}

METHOD_NOTES = [
    "Population: every labelled account that sent at least one event; a harvester also needs at least one "
    "event at or after its attack_start. Excluded accounts are counted under 'population'.",
    "distillwatch: an account is flagged when it has an alert with severity >= the minimum severity. "
    "For a harvester only alerts at or after its attack_start count. A compromised_key account alerted "
    "only before its takeover is a missed harvester and a false alarm on benign traffic: it counts as a "
    "false positive in precision ('pre-attack false alarms'), not in the benign FPR, whose denominator is "
    "the accounts labelled benign.",
    "Delay: first counting flag's event time minus attack_start, clipped at 0. Median/p90 are over the "
    "detected harvesters (per account, so the many members of coordinated networks weigh heavily); "
    "'incl. undetected' treats missed harvesters as never detected (undefined when too few were detected).",
    "Hourly volume threshold: requests per account per clock hour (event time, duplicates once); flagged "
    "at the end of any hour above the threshold. Threshold = smallest integer that at most 1 % of benign "
    "accounts ever exceed, tuned on the ground-truth labels: optimistic for the baseline.",
    "Daily IsolationForest: per account and UTC day: requests, mean input/output tokens, output/input "
    "ratio, single-turn, logprobs, n>1, finish_reason=length and 429 shares, distinct client /24 (IPv4) or "
    "/48 (IPv6) prefixes, API keys and models, mean temperature (log1p on counts and token sizes). One "
    "forest per day (200 trees, random_state 0) on that day's account-days; anomaly score = "
    "-score_samples. Flagged at the end of the UTC day when the score is above a threshold tuned on the "
    "labels so that at most 1 % of benign account-days are flagged (optimistic for the baseline).",
    "'@ our FPR': each baseline re-tuned on the labels so that its benign account FPR is at most "
    "distillwatch's; the 'better recall at equal or lower FPR' targets compare against these.",
    "Events: lines that fail orjson or lack account_id/timestamp are skipped (counted); a request_id "
    "repeated for the same account counts once.",
]


# -- formatting ------------------------------------------------------------------


def fmt_pct(x: float | None, digits: int = 1) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.{digits}f} %"


def fmt_min(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if x >= 120:
        return f"{x / 60:.1f} h"
    return f"{x:.1f} min"


def fmt_num(x: Any, digits: int = 3) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        if math.isinf(x):
            return "∞" if x > 0 else "−∞"
        return f"{x:.{digits}f}" if abs(x) < 1000 else f"{x:,.0f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def _frac(k: int, n: int, x: float | None, digits: int = 1) -> str:
    return f"{fmt_pct(x, digits)} ({k}/{n})" if n else "—"


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _clean(o: Any) -> Any:
    """Non-finite floats -> None (JSON has no inf/NaN)."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, (float, np.floating)):
        return float(o) if math.isfinite(o) else None
    return o


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_bytes(orjson.dumps(_clean(data), default=_json_default, option=orjson.OPT_INDENT_2) + b"\n")


# -- the command ------------------------------------------------------------------


def evaluate_files(
    events: str | Path,
    labels: str | Path,
    alerts: str | Path,
    out: str | Path,
    *,
    min_severity: str = "warning",
    console: Console | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """Evaluate one run; write ``out``/report.md, metrics.json, accounts.csv and the PNGs.

    Prints the summary table on ``console`` when given. Returns the metrics dict.
    """
    check_eval_dependencies()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    lab = read_labels(labels)
    al = read_alerts(alerts)
    agg = scan_events(events)
    t_read = time.perf_counter() - t0
    result = evaluate_frames(lab, al, agg.hourly, agg.daily, agg.accounts, min_severity=min_severity)
    m = result.metrics
    m["inputs"] = {"events": str(events), "labels": str(labels), "alerts": str(alerts), "alerts_read": int(len(al))}
    m["events"] = agg.stats
    m["generated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    m["method_notes"] = METHOD_NOTES
    plots = write_plots(result, out)
    m["plots"] = plots
    m["timings_seconds"] = {"read": round(t_read, 3), "total": round(time.perf_counter() - t0, 3)}
    write_json(out / "metrics.json", m)
    write_accounts_csv(result.accounts, out / "accounts.csv")
    (out / "report.md").write_text(render_markdown(m, title=title), encoding="utf-8")
    if console is not None:
        print_summary(m, console)
    return m


def write_accounts_csv(accounts: pd.DataFrame, path: Path) -> None:
    """Per-account outcomes; times as RFC 3339, delays in minutes."""
    df = accounts.copy()
    df["attack_start"] = pd.to_datetime(df["attack_start"], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for col in [c for c in df.columns if c.endswith("_delay_s")]:
        df[col.removesuffix("_s") + "_min"] = (df.pop(col) / 60.0).round(3)
    df.to_csv(path)


# -- plots --------------------------------------------------------------------------


def _figure(width: float, height: float):
    require("matplotlib", "the evaluation plots")
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # the Agg backend, no global pyplot state
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def write_plots(result: EvaluationResult, out: Path) -> dict[str, str]:
    """The three PNGs beside the report; returns name -> file name."""
    acc = result.accounts
    m = result.metrics
    harv = acc["label"] == "harvester"

    # 1. score distributions: ours and both baselines, benign vs harvester
    fig = _figure(14, 4.2)
    axes = fig.subplots(1, 3)
    panels = [
        (
            "ours",
            "ours_max_alert_score",
            "max alert score per account (0 = no alert)",
            np.linspace(0, 1, 41),
            False,
            None,
        ),
        (
            "volume_threshold",
            "volume_max_hourly",
            "max requests in one clock hour",
            None,
            True,
            m["volume_threshold"]["threshold"],
        ),
        (
            "isolation_forest",
            "iforest_max_score",
            "max daily anomaly score",
            None,
            False,
            m["isolation_forest"]["threshold"],
        ),
    ]
    for ax, (key, col, xlabel, bins, logx, thr) in zip(axes, panels):
        v = acc[col].astype(float)
        if bins is None:
            lo, hi = float(v[v > 0].min()) if (v > 0).any() else 1e-3, float(v.max()) if len(v) else 1.0
            hi = max(hi, lo * 1.01)
            bins = np.geomspace(lo, hi, 41) if logx else np.linspace(min(v.min(), lo), hi, 41)
        ax.hist(v[~harv], bins=bins, alpha=0.6, label=f"benign (n={int((~harv).sum())})", color="#7f7f7f")
        ax.hist(v[harv], bins=bins, alpha=0.7, label=f"harvester (n={int(harv.sum())})", color="#d62728")
        if logx:
            ax.set_xscale("log")
        if thr is not None and np.isfinite(thr):
            ax.axvline(thr, color="k", ls="--", lw=1, label="threshold (≤1 % benign)")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("accounts")
        ax.set_title(METHODS[key])
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / PLOTS["score_distributions"])

    # 2. detection-delay CDF over all harvesters (tops out at recall)
    fig = _figure(7.5, 4.8)
    ax = fig.subplots()
    n = int(harv.sum())
    floor = 0.1
    hi = floor * 10
    for key, col in (
        ("ours", "ours_delay_s"),
        ("volume_threshold", "volume_delay_s"),
        ("isolation_forest", "iforest_delay_s"),
    ):
        d = np.sort(acc.loc[harv, col].dropna().to_numpy(dtype=float) / 60.0)
        d = np.maximum(d, floor)
        if d.size:
            hi = max(hi, float(d[-1]))
            xs = np.concatenate([[floor], d])
            ys = np.concatenate([[0.0], np.arange(1, d.size + 1) / max(n, 1)])
            ax.step(
                xs, ys, where="post", color=COLORS[key], label=f"{METHODS[key]} (recall {fmt_pct(m[key]['recall'])})"
            )
        else:
            ax.plot([], [], color=COLORS[key], label=f"{METHODS[key]} (nothing detected)")
    ax.axvline(15, color="k", ls=":", lw=1, label="15 min target")
    ax.set_xscale("log")
    ax.set_xlim(floor, hi * 1.5)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"minutes from attack start to first flag (event time; < {floor} min drawn at {floor})")
    ax.set_ylabel(f"share of all {n} harvesters detected")
    ax.set_title("detection delay (CDF)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(out / PLOTS["detection_delay_cdf"])

    # 3. recall per harvester archetype (+ network members), grouped bars
    fig = _figure(10, 4.8)
    ax = fig.subplots()
    archs = sorted(m["ours"]["recall_by_archetype"])
    groups = archs + ["network members"]
    width = 0.27
    x = np.arange(len(groups))
    for i, key in enumerate(("ours", "volume_threshold", "isolation_forest")):
        vals = [m[key]["recall_by_archetype"][a]["recall"] or 0.0 for a in archs] + [m[key]["network_recall"] or 0.0]
        ax.bar(x + (i - 1) * width, vals, width, color=COLORS[key], label=METHODS[key])
    counts = [m["ours"]["recall_by_archetype"][a]["accounts"] for a in archs]
    counts.append(m["ours"]["population"]["network_members"])
    ax.set_xticks(x, [f"{g}\n(n={c})" for g, c in zip(groups, counts)], fontsize=8)
    ax.axhline(0.8, color="k", ls=":", lw=1, label="0.8 target")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("recall")
    ax.set_title("recall per harvester archetype (baselines at their ≤1 % benign operating point)")
    ax.legend(fontsize=8, loc="upper right", bbox_to_anchor=(1.0, -0.15), ncol=4)
    fig.tight_layout()
    fig.savefig(out / PLOTS["recall_by_archetype"])
    return dict(PLOTS)


# -- markdown ------------------------------------------------------------------------


def fmt_target_value(t: dict[str, Any]) -> str:
    """A target's measured value as the reports show it."""
    v = t["value"]
    if isinstance(v, dict):
        return f"ours {fmt_num(v['ours'])} vs baseline {fmt_num(v['baseline'])}"
    if t["target"] in ("benign_fpr", "heavy_benign_fpr"):
        return fmt_pct(v, 2)
    if t["target"] == "median_delay_min":
        return fmt_min(v)
    return fmt_num(v)


def _targets_md(targets: list[dict[str, Any]]) -> list[str]:
    lines = ["| target | value | result |", "|---|---|---|"]
    for t in targets:
        lines.append(f"| {t['description']} | {fmt_target_value(t)} | **{t['status']}** |")
    return lines


def render_markdown(m: dict[str, Any], title: str | None = None) -> str:
    ours, b1, b2 = m["ours"], m["volume_threshold"], m["isolation_forest"]
    pop = ours["population"]
    ev = m.get("events", {})
    L: list[str] = [f"# {title or 'distillwatch detection quality'}", ""]
    inp = m.get("inputs", {})
    L += [
        f"- events: `{inp.get('events')}` — {ev.get('events', 0):,} events "
        f"({ev.get('duplicates', 0):,} duplicate deliveries counted once; skipped: {ev.get('bad_json', 0):,} not JSON, "
        f"{ev.get('not_object', 0):,} not an object, {ev.get('missing_fields', 0):,} without account_id/timestamp, "
        f"{ev.get('bad_timestamp', 0):,} bad timestamp)",
        f"- labels: `{inp.get('labels')}`; alerts: `{inp.get('alerts')}` ({inp.get('alerts_read', 0):,} alerts)",
        f"- flagged by distillwatch: an alert with severity ≥ **{ours['min_severity']}**",
        f"- population: {pop['accounts']:,} accounts — {pop['benign']:,} benign ({pop['heavy_benign']:,} heavy: "
        f"batch jobs, eval runners, coding agents), {pop['harvesters']:,} harvesters "
        f"({pop['network_members']:,} in coordinated networks); excluded: "
        f"{m['population']['excluded_no_events']} without events, {m['population']['excluded_no_attack_events']} "
        f"harvesters without events after attack start; {m['population']['unlabelled_accounts_with_events']} "
        "unlabelled accounts ignored",
        f"- generated {m.get('generated_at', '')}",
        "",
        "## Summary",
        "",
        "| | distillwatch | volume/hour (≤1 % benign accts) | volume/hour @ our FPR "
        "| IsolationForest (≤1 % benign acct-days) | IsolationForest @ our FPR |",
        "|---|---|---|---|---|---|",
    ]
    a1, a2 = b1["at_our_fpr"], b2["at_our_fpr"]
    nb, nh = pop["benign"], pop["heavy_benign"]

    def row(name: str, *cells: str) -> None:
        L.append(f"| {name} | " + " | ".join(cells) + " |")

    row(
        "threshold",
        f"severity ≥ {ours['min_severity']}",
        fmt_num(b1["threshold"]),
        fmt_num(a1["threshold"]),
        fmt_num(b2["threshold"]),
        fmt_num(a2["threshold"]),
    )
    row("recall", *(fmt_num(x) for x in (ours["recall"], b1["recall"], a1["recall"], b2["recall"], a2["recall"])))
    row(
        "precision",
        *(fmt_num(x) for x in (ours["precision"], b1["precision"], a1["precision"], b2["precision"], a2["precision"])),
    )
    row("F1", fmt_num(ours["f1"]), fmt_num(b1["f1"]), "—", fmt_num(b2["f1"]), "—")
    row(
        "TP / FP / FN",
        *(f"{x['tp']} / {x['fp']} / {x['fn']}" for x in (ours, b1)),
        "—",
        f"{b2['tp']} / {b2['fp']} / {b2['fn']}",
        "—",
    )
    for title, flagged, rate, total in (
        ("benign FPR", "flagged_benign", "benign_fpr", nb),
        ("heavy-benign FPR", "flagged_heavy_benign", "heavy_benign_fpr", nh),
    ):
        row(
            title,
            _frac(ours[flagged], total, ours[rate], 2),
            _frac(b1[flagged], total, b1[rate], 2),
            fmt_pct(a1[rate], 2),
            _frac(b2[flagged], total, b2[rate], 2),
            fmt_pct(a2[rate], 2),
        )
    row(
        "pre-attack false alarms",
        str(ours["pre_attack_false_alarms"]),
        str(b1["pre_attack_false_alarms"]),
        "—",
        str(b2["pre_attack_false_alarms"]),
        "—",
    )
    row(
        "network-member recall",
        *(
            fmt_num(x)
            for x in (
                ours["network_recall"],
                b1["network_recall"],
                a1["network_recall"],
                b2["network_recall"],
                a2["network_recall"],
            )
        ),
    )
    row(
        "lowest archetype recall",
        *(
            fmt_num(x)
            for x in (
                ours["min_archetype_recall"],
                b1["min_archetype_recall"],
                a1["min_archetype_recall"],
                b2["min_archetype_recall"],
                a2["min_archetype_recall"],
            )
        ),
    )
    row(
        "median delay",
        fmt_min(ours["delay"]["median_min"]),
        fmt_min(b1["delay"]["median_min"]),
        fmt_min(a1["median_delay_min"]),
        fmt_min(b2["delay"]["median_min"]),
        fmt_min(a2["median_delay_min"]),
    )
    row(
        "p90 delay",
        fmt_min(ours["delay"]["p90_min"]),
        fmt_min(b1["delay"]["p90_min"]),
        "—",
        fmt_min(b2["delay"]["p90_min"]),
        "—",
    )
    if b2.get("benign_account_days"):
        L += [
            "",
            f"IsolationForest: {b2['account_days']:,} account-days over {b2['days']} UTC day(s); "
            f"{b2['flagged_benign_account_days']} of {b2['benign_account_days']} benign account-days flagged "
            f"({fmt_pct(b2['benign_account_day_fpr'], 2)}).",
        ]

    L += ["", "## Targets", "", *_targets_md(m["targets"])]

    L += [
        "",
        "## Recall per harvester archetype",
        "",
        "| archetype | accounts | distillwatch | median delay | volume/hour | volume/hour @ our FPR "
        "| IsolationForest | IsolationForest @ our FPR |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arch, v in sorted(ours["recall_by_archetype"].items()):
        w1, w2 = b1["recall_by_archetype"][arch], b2["recall_by_archetype"][arch]
        L.append(
            f"| {arch} | {v['accounts']} | {_frac(v['detected'], v['accounts'], v['recall'])} | "
            f"{fmt_min(v['median_delay_min'])} | {_frac(w1['detected'], w1['accounts'], w1['recall'])} | "
            f"{fmt_pct(a1['recall_by_archetype'].get(arch))} | {_frac(w2['detected'], w2['accounts'], w2['recall'])} | "
            f"{fmt_pct(a2['recall_by_archetype'].get(arch))} |"
        )
    L += ["", f"![recall per archetype]({PLOTS['recall_by_archetype']})"]

    L += [
        "",
        "## False positives per benign archetype",
        "",
        "| archetype | heavy | accounts | distillwatch | volume/hour | IsolationForest |",
        "|---|---|---|---|---|---|",
    ]
    for arch, v in sorted(ours["fpr_by_benign_archetype"].items()):
        w1, w2 = b1["fpr_by_benign_archetype"][arch], b2["fpr_by_benign_archetype"][arch]
        L.append(
            f"| {arch} | {'yes' if v['heavy'] else 'no'} | {v['accounts']} | "
            f"{_frac(v['flagged'], v['accounts'], v['fpr'])} | {_frac(w1['flagged'], w1['accounts'], w1['fpr'])} | "
            f"{_frac(w2['flagged'], w2['accounts'], w2['fpr'])} |"
        )

    if ours["recall_by_network"]:
        L += [
            "",
            "## Coordinated networks",
            "",
            "| network | members | distillwatch | volume/hour | IsolationForest |",
            "|---|---|---|---|---|",
        ]
        for net, v in ours["recall_by_network"].items():
            w1, w2 = b1["recall_by_network"][net], b2["recall_by_network"][net]
            L.append(
                f"| {net} | {v['accounts']} | {_frac(v['detected'], v['accounts'], v['recall'])} | "
                f"{_frac(w1['detected'], w1['accounts'], w1['recall'])} | "
                f"{_frac(w2['detected'], w2['accounts'], w2['recall'])} |"
            )

    L += [
        "",
        "## Detection delay",
        "",
        "Event time from attack start to the first counting flag.",
        "",
        "| | detected | median | p90 | mean | max | median incl. undetected | p90 incl. undetected |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in ("ours", "volume_threshold", "isolation_forest"):
        d = m[key]["delay"]
        L.append(
            f"| {METHODS[key]} | {d['detected']}/{d['harvesters']} | {fmt_min(d['median_min'])} | "
            f"{fmt_min(d['p90_min'])} | {fmt_min(d['mean_min'])} | {fmt_min(d['max_min'])} | "
            f"{fmt_min(d['median_all_min'])} | {fmt_min(d['p90_all_min'])} |"
        )
    L += [
        "",
        f"![detection delay CDF]({PLOTS['detection_delay_cdf']})",
        "",
        "## Score distributions",
        "",
        f"![score distributions]({PLOTS['score_distributions']})",
        "",
    ]
    rel = m["ours"].get("score_reliability")
    if rel:
        L += [
            "Reliability of the score (calibration check): accounts by the highest score any of their alerts "
            "carried, and how many of them are harvesters. Bands are the severity thresholds.",
            "",
            "| peak score | accounts | harvesters | harvester share |",
            "|---|---|---|---|",
            *(f"| {r['band']} | {r['accounts']} | {r['harvesters']} | {fmt_pct(r['harvester_share'])} |" for r in rel),
            "",
        ]
    L += [
        "## How this is measured",
        "",
    ]
    L += [f"- {note}" for note in m.get("method_notes", METHOD_NOTES)]
    L += [
        "",
        "Per-account outcomes (flags, delays, scores) are in `accounts.csv`; every number above is in `metrics.json`.",
        "",
    ]
    return "\n".join(L)


# -- console ----------------------------------------------------------------------------


def print_summary(m: dict[str, Any], console: Console) -> None:
    ours, b1, b2 = m["ours"], m["volume_threshold"], m["isolation_forest"]
    a1, a2 = b1["at_our_fpr"], b2["at_our_fpr"]
    table = Table(title=f"detection quality (flag: severity ≥ {ours['min_severity']})")
    table.add_column("", style="bold")
    for name in ("ours", "vol/h", "vol/h@ours", "IForest", "IForest@ours"):
        table.add_column(name, justify="right")
    table.add_row(
        "recall", *(fmt_num(x) for x in (ours["recall"], b1["recall"], a1["recall"], b2["recall"], a2["recall"]))
    )
    table.add_row(
        "precision",
        *(fmt_num(x) for x in (ours["precision"], b1["precision"], a1["precision"], b2["precision"], a2["precision"])),
    )
    table.add_row("F1", fmt_num(ours["f1"]), fmt_num(b1["f1"]), "", fmt_num(b2["f1"]), "")
    table.add_row(
        "benign FPR",
        *(
            fmt_pct(x, 2)
            for x in (ours["benign_fpr"], b1["benign_fpr"], a1["benign_fpr"], b2["benign_fpr"], a2["benign_fpr"])
        ),
    )
    table.add_row(
        "heavy FPR",
        *(
            fmt_pct(x, 2)
            for x in (
                ours["heavy_benign_fpr"],
                b1["heavy_benign_fpr"],
                a1["heavy_benign_fpr"],
                b2["heavy_benign_fpr"],
                a2["heavy_benign_fpr"],
            )
        ),
    )
    table.add_row(
        "network recall",
        *(
            fmt_num(x)
            for x in (
                ours["network_recall"],
                b1["network_recall"],
                a1["network_recall"],
                b2["network_recall"],
                a2["network_recall"],
            )
        ),
    )
    table.add_row(
        "min arch. recall",
        *(
            fmt_num(x)
            for x in (
                ours["min_archetype_recall"],
                b1["min_archetype_recall"],
                a1["min_archetype_recall"],
                b2["min_archetype_recall"],
                a2["min_archetype_recall"],
            )
        ),
    )
    table.add_row(
        "median delay",
        *(
            fmt_min(x)
            for x in (
                ours["delay"]["median_min"],
                b1["delay"]["median_min"],
                a1["median_delay_min"],
                b2["delay"]["median_min"],
                a2["median_delay_min"],
            )
        ),
    )
    table.add_row(
        "p90 delay",
        fmt_min(ours["delay"]["p90_min"]),
        fmt_min(b1["delay"]["p90_min"]),
        "",
        fmt_min(b2["delay"]["p90_min"]),
        "",
    )
    console.print(table)
    for t in m["targets"]:
        style = "green" if t["status"] == "PASS" else ("yellow" if t["status"] == "n/a" else "red")
        console.print(f"[{style}]{t['status']:>4}[/] {t['description']}", highlight=False)
