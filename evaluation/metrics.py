"""Detection-quality metrics: pure functions on pandas DataFrames, no I/O.

Frames used here
----------------
``labels``
    One row per account, **indexed by account_id** (see :func:`labels_frame`):
    ``archetype``, ``label`` (``benign`` | ``harvester``), ``heavy`` (bool),
    ``attack_start`` (float Unix seconds, NaN for benign accounts) and
    ``network_id`` (str, or missing — NA — outside coordinated networks).
``flags``
    The moments at which a method flagged an account: columns ``account_id``
    and ``t`` (float Unix seconds of event time). For our detector these are
    the alerts at or above the minimum severity (``t`` = ``detected_at``); for
    the hourly baseline the ends of the hours above the threshold; for the
    daily baseline the ends of the flagged days.

Counting rules (the same for every method)
------------------------------------------
* A **harvester** counts as detected when it has a flag at or after its
  ``attack_start``; its delay is the first such flag's time minus
  ``attack_start`` (clipped at 0). Flags before ``attack_start`` are possible
  only for ``compromised_key`` accounts (normal traffic before the takeover):
  they never count as detections. An account whose only flags are before the
  takeover is a missed harvester *and* a false alarm on benign traffic
  (``pre_attack_only``): it is a false positive in precision, reported
  separately, and not part of the benign FPR (whose denominator is the
  accounts labelled benign).
* A **benign** account counts as a false positive when it has any flag.
* ``heavy`` benign accounts (batch jobs, eval runners, coding agents) have
  their own FPR.
* The population is whatever ``labels`` holds; callers drop accounts that sent
  no events (see :func:`evaluation.pipeline.evaluate_frames`).

>>> lab = labels_frame([
...     {"account_id": "h1", "archetype": "sweeper", "label": "harvester", "heavy": False,
...      "attack_start": "2026-01-01T00:00:00Z", "network_id": None},
...     {"account_id": "b1", "archetype": "chat_app", "label": "benign", "heavy": False,
...      "attack_start": None, "network_id": None}])
>>> t0 = lab.loc["h1", "attack_start"]
>>> det = first_detections(pd.DataFrame({"account_id": ["h1"], "t": [t0 + 120.0]}), lab)
>>> m = detection_metrics(lab, det)
>>> m["recall"], m["benign_fpr"], m["delay"]["median_min"]
(1.0, 0.0, 2.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "SEVERITIES",
    "TARGETS",
    "alert_flags",
    "check_targets",
    "delay_summary",
    "detection_metrics",
    "first_detections",
    "labels_frame",
    "max_alert_score",
    "ratio",
    "to_unix_seconds",
    "tune_threshold",
]

SEVERITIES = ("info", "warning", "critical")
_RANK = {s: i for i, s in enumerate(SEVERITIES)}
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")

LABEL_COLUMNS = ("archetype", "label", "heavy", "attack_start", "network_id")


# -- inputs --------------------------------------------------------------------


def to_unix_seconds(values: Iterable[Any] | pd.Series) -> pd.Series:
    """RFC 3339 strings, datetimes or Unix seconds -> float Unix seconds (NaN when absent).

    >>> to_unix_seconds(["2026-11-28T09:20:00.000Z", None, 1795857600.5]).tolist()
    [1795857600.0, nan, 1795857600.5]
    """
    s = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if pd.api.types.is_datetime64_any_dtype(s):
        dt = s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")
        return (dt - _EPOCH).dt.total_seconds().astype(float)
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    out = pd.Series(np.nan, index=s.index, dtype=float)
    is_num = s.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
    out[is_num] = s[is_num].astype(float)
    is_str = s.map(lambda v: isinstance(v, str))
    if is_str.any():
        dt = pd.to_datetime(s[is_str], utc=True, format="ISO8601", errors="coerce")
        out[is_str] = (dt - _EPOCH).dt.total_seconds()
    return out


def labels_frame(records: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Ground-truth labels (``AccountLabel.to_dict()`` rows) as a frame indexed by account_id.

    ``attack_start`` becomes float Unix seconds; ``heavy`` a bool; a missing
    ``network_id`` NA.
    """
    df = records.copy() if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))
    if df.empty:
        df = pd.DataFrame(columns=["account_id", *LABEL_COLUMNS])
    missing = [c for c in ("account_id", "archetype", "label") if c not in df.columns]
    if missing:
        raise ValueError(f"labels lack column(s): {', '.join(missing)}")
    for col, default in (("heavy", False), ("attack_start", None), ("network_id", None)):
        if col not in df.columns:
            df[col] = default
    bad = sorted(set(df["label"]) - {"benign", "harvester"})
    if bad:
        raise ValueError(f"unknown label value(s): {bad}")
    if df["account_id"].duplicated().any():
        raise ValueError(
            f"duplicate account_id in labels: {df.loc[df['account_id'].duplicated(), 'account_id'].iloc[0]}"
        )
    out = pd.DataFrame(
        {
            "archetype": df["archetype"].astype(str).to_numpy(),
            "label": df["label"].astype(str).to_numpy(),
            "heavy": df["heavy"].fillna(False).astype(bool).to_numpy(),
            "attack_start": to_unix_seconds(df["attack_start"].reset_index(drop=True)).to_numpy(),
            "network_id": [v if isinstance(v, str) and v else None for v in df["network_id"]],
        },
        index=pd.Index(df["account_id"].astype(str).to_numpy(), name="account_id"),
    )
    return out.sort_index()


def alert_flags(alerts: pd.DataFrame, min_severity: str = "warning") -> pd.DataFrame:
    """Alerts at or above ``min_severity`` as flags (``account_id``, ``t``, ``score``).

    >>> a = pd.DataFrame({"account_id": ["x", "x", "y"], "severity": ["info", "critical", "warning"],
    ...                   "score": [0.3, 0.9, 0.5],
    ...                   "detected_at": ["2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"]})
    >>> alert_flags(a, "critical")[["account_id", "score"]].values.tolist()
    [['x', 0.9]]
    """
    if min_severity not in _RANK:
        raise ValueError(f"min_severity must be one of {', '.join(SEVERITIES)}")
    if alerts.empty:
        return pd.DataFrame(
            {"account_id": pd.Series(dtype=object), "t": pd.Series(dtype=float), "score": pd.Series(dtype=float)}
        )
    rank = alerts["severity"].map(_RANK)
    keep = alerts[rank.fillna(-1) >= _RANK[min_severity]]
    return pd.DataFrame(
        {
            "account_id": keep["account_id"].astype(str).to_numpy(),
            "t": to_unix_seconds(keep["detected_at"].reset_index(drop=True)).to_numpy(),
            "score": pd.to_numeric(keep.get("score", pd.Series(np.nan, index=keep.index)), errors="coerce").to_numpy(),
        }
    )


def max_alert_score(alerts: pd.DataFrame, index: pd.Index) -> pd.Series:
    """Per account, the highest score of any alert (any severity, any time); 0 without alerts."""
    if alerts.empty:
        return pd.Series(0.0, index=index, name="max_alert_score")
    s = pd.to_numeric(alerts["score"], errors="coerce").groupby(alerts["account_id"].astype(str)).max()
    return s.reindex(index).fillna(0.0).rename("max_alert_score")


def score_reliability(peak: pd.Series, labels: pd.DataFrame, edges: Iterable[float]) -> list[dict[str, Any]]:
    """How often an account whose peak score fell in each band is a harvester.

    ``edges`` are the band boundaries (the policy's severity thresholds); the
    first band holds accounts that never reached the lowest one. This is the
    calibration check of the score: a band's harvester share should grow with
    the score, and the top band should be almost all harvesters.

    >>> labels = pd.DataFrame({"label": ["benign", "benign", "harvester", "harvester"]}, index=list("abcd"))
    >>> rows = score_reliability(pd.Series([0.0, 0.5, 0.7, 0.9], index=list("abcd")), labels, [0.45, 0.65, 0.82])
    >>> [(r["band"], r["accounts"], r["harvester_share"]) for r in rows]
    [('< 0.45', 1, 0.0), ('0.45-0.65', 1, 0.0), ('0.65-0.82', 1, 1.0), ('>= 0.82', 1, 1.0)]
    """
    edges = sorted(edges)
    bounds = [-np.inf, *edges, np.inf]
    peak = peak.reindex(labels.index).fillna(0.0)
    harvester = labels["label"] == "harvester"
    rows = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        inside = (peak >= lo) & (peak < hi)
        n, k = int(inside.sum()), int((inside & harvester).sum())
        band = f"< {hi:g}" if lo == -np.inf else (f">= {lo:g}" if hi == np.inf else f"{lo:g}-{hi:g}")
        rows.append({"band": band, "accounts": n, "harvesters": k, "harvester_share": ratio(k, n)})
    return rows


# -- per-account detections ------------------------------------------------------


def first_detections(flags: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Per labelled account: was it detected, when, with what delay.

    Returns a frame indexed like ``labels`` with ``flagged`` (bool),
    ``detected_at`` (float, NaN when not flagged), ``delay_s`` (harvesters
    only, clipped at 0) and ``pre_attack_only`` (flags only before
    ``attack_start``). Flags of accounts not in ``labels`` are ignored.
    """
    f = flags[["account_id", "t"]].dropna(subset=["t"])
    f = f[f["account_id"].isin(labels.index)]
    start = labels["attack_start"].reindex(f["account_id"]).to_numpy()
    eligible = np.isnan(start) | (f["t"].to_numpy() >= start)
    first = f[eligible].groupby("account_id")["t"].min()
    before = set(f.loc[~eligible, "account_id"])
    out = pd.DataFrame(index=labels.index)
    out["detected_at"] = first.reindex(labels.index).astype(float)
    out["flagged"] = out["detected_at"].notna()
    harvester = (labels["label"] == "harvester").to_numpy()
    delay = (out["detected_at"] - labels["attack_start"]).clip(lower=0.0)
    out["delay_s"] = delay.where(harvester & out["flagged"].to_numpy())
    out["pre_attack_only"] = labels.index.isin(before) & ~out["flagged"].to_numpy()
    return out


# -- metrics -----------------------------------------------------------------------


def ratio(num: float, den: float) -> float | None:
    """``num / den``, or None when ``den`` is 0 (undefined, not zero)."""
    return float(num) / float(den) if den else None


def _f1(p: float | None, r: float | None) -> float | None:
    if p is None or r is None:
        return None
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def delay_summary(delays_s: Iterable[float], n_harvesters: int) -> dict[str, Any]:
    """Summary of detection delays (seconds in, minutes out).

    ``median_min`` and ``p90_min`` are over the detected harvesters (linear
    interpolation between ranks, numpy's default). ``median_all_min`` and
    ``p90_all_min`` count the undetected ones as never detected (infinite
    delay): None when fewer than half (a tenth) of all harvesters were
    detected.

    >>> d = delay_summary([60.0 * m for m in range(1, 11)], 10)
    >>> d["median_min"], d["p90_min"], d["median_all_min"]
    (5.5, 9.1, 5.5)
    >>> delay_summary([60.0, 120.0], 5)["median_all_min"] is None
    True
    """
    d = np.sort(np.asarray([x for x in delays_s if x is not None and not math.isnan(x)], dtype=float)) / 60.0
    out: dict[str, Any] = {"detected": int(d.size), "harvesters": int(n_harvesters)}
    if d.size:
        out.update(
            median_min=float(np.median(d)),
            p90_min=float(np.percentile(d, 90)),
            mean_min=float(d.mean()),
            min_min=float(d[0]),
            max_min=float(d[-1]),
        )
    else:
        out.update(median_min=None, p90_min=None, mean_min=None, min_min=None, max_min=None)
    if n_harvesters:
        # undetected harvesters sort last with an infinite delay; a quantile that
        # needs one of them is undefined (None)
        n = max(int(n_harvesters), int(d.size))
        for key, q in (("median_all_min", 50), ("p90_all_min", 90)):
            pos = q / 100.0 * (n - 1)
            lo, hi = math.floor(pos), math.ceil(pos)
            if hi >= d.size:
                out[key] = None
            else:
                out[key] = float(d[lo] + (d[hi] - d[lo]) * (pos - lo))
    else:
        out["median_all_min"] = out["p90_all_min"] = None
    return out


def detection_metrics(labels: pd.DataFrame, det: pd.DataFrame) -> dict[str, Any]:
    """All account-level metrics of one method (see the module docstring for the rules)."""
    lab = labels.join(det[["flagged", "delay_s", "pre_attack_only"]], how="left")
    lab["flagged"] = lab["flagged"].fillna(False).astype(bool)
    lab["pre_attack_only"] = lab["pre_attack_only"].fillna(False).astype(bool)
    harv = lab["label"] == "harvester"
    ben = lab["label"] == "benign"
    heavy = ben & lab["heavy"]
    flagged = lab["flagged"]
    tp = int((harv & flagged).sum())
    fn = int((harv & ~flagged).sum())
    fp_benign = int((ben & flagged).sum())
    pre = int((harv & lab["pre_attack_only"]).sum())
    fp = fp_benign + pre
    tn = int((ben & ~flagged).sum())
    precision = ratio(tp, tp + fp)
    recall = ratio(tp, tp + fn)

    by_arch: dict[str, Any] = {}
    for arch, g in lab[harv].groupby("archetype", sort=True):
        n, k = len(g), int(g["flagged"].sum())
        d = delay_summary(g["delay_s"].dropna(), n)
        by_arch[str(arch)] = {
            "accounts": n,
            "detected": k,
            "recall": ratio(k, n),
            "median_delay_min": d["median_min"],
            "pre_attack_only": int(g["pre_attack_only"].sum()),
        }
    fpr_arch: dict[str, Any] = {}
    for arch, g in lab[ben].groupby("archetype", sort=True):
        n, k = len(g), int(g["flagged"].sum())
        fpr_arch[str(arch)] = {"accounts": n, "flagged": k, "fpr": ratio(k, n), "heavy": bool(g["heavy"].all())}

    members = harv & lab["network_id"].notna()
    by_net: dict[str, Any] = {}
    for net, g in lab[members].groupby("network_id", sort=True):
        n, k = len(g), int(g["flagged"].sum())
        by_net[str(net)] = {"accounts": n, "detected": k, "recall": ratio(k, n)}
    n_members, k_members = int(members.sum()), int((members & flagged).sum())

    return {
        "population": {
            "accounts": int(len(lab)),
            "benign": int(ben.sum()),
            "heavy_benign": int(heavy.sum()),
            "harvesters": int(harv.sum()),
            "network_members": n_members,
        },
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "flagged_benign": fp_benign,
        "benign_fpr": ratio(fp_benign, int(ben.sum())),
        "flagged_heavy_benign": int((heavy & flagged).sum()),
        "heavy_benign_fpr": ratio(int((heavy & flagged).sum()), int(heavy.sum())),
        "pre_attack_false_alarms": pre,
        "recall_by_archetype": by_arch,
        "min_archetype_recall": min((v["recall"] for v in by_arch.values()), default=None),
        "fpr_by_benign_archetype": fpr_arch,
        "network_recall": ratio(k_members, n_members),
        "network_members_detected": k_members,
        "recall_by_network": by_net,
        "delay": delay_summary(lab.loc[harv & flagged, "delay_s"], int(harv.sum())),
    }


def tune_threshold(values: Iterable[float], max_rate: float) -> float:
    """Smallest threshold ``t`` such that at most ``max_rate`` of ``values`` are ``> t``.

    With integer values (hourly request counts) the result is the smallest
    such integer: ``t - 1`` would let at least one more value exceed. With
    ``k = floor(max_rate * n)`` values allowed above, ``t`` is the
    ``(k+1)``-th largest value. ``-inf`` when every value may exceed (``k >= n``).

    >>> tune_threshold([1, 5, 9, 9, 3], 0.2)     # 1 of 5 may exceed: 9 is the 2nd largest
    9.0
    >>> tune_threshold([1, 5, 9, 10, 3], 0.2)
    9.0
    >>> tune_threshold(range(1, 201), 0.01)      # 2 of 200 may exceed
    198.0
    """
    v = np.sort(np.asarray(list(values), dtype=float))[::-1]
    k = math.floor(max_rate * v.size + 1e-9)
    if k >= v.size:
        return -math.inf
    return float(v[k])


# -- targets --------------------------------------------------------------------------

# (key, description, comparison, target value)
TARGETS = (
    ("recall", "recall ≥ 0.95", ">=", 0.95),
    ("benign_fpr", "benign FPR ≤ 0.3 %", "<=", 0.003),
    ("heavy_benign_fpr", "heavy-benign FPR ≤ 1 %", "<=", 0.01),
    ("min_archetype_recall", "recall ≥ 0.8 for every harvester archetype", ">=", 0.8),
    ("network_recall", "recall ≥ 0.9 for members of coordinated networks", ">=", 0.9),
    ("median_delay_min", "median detection delay ≤ 15 min (event time, detected harvesters)", "<=", 15.0),
    ("beats_volume_threshold", "recall > hourly-volume baseline's recall at ≤ our benign FPR", "gt", None),
    ("beats_isolation_forest", "recall > daily IsolationForest's recall at ≤ our benign FPR", "gt", None),
)


def check_targets(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """PASS/FAIL per target from a flat mapping of values.

    ``values`` holds ``recall``, ``benign_fpr``, ``heavy_benign_fpr``,
    ``min_archetype_recall``, ``network_recall``, ``median_delay_min`` and, for
    the baseline comparisons, ``volume_threshold_recall_at_our_fpr`` and
    ``isolation_forest_recall_at_our_fpr``. A missing (None) value fails,
    except that no network members (or no archetype) makes that target "n/a".
    """
    rows = []
    for key, desc, op, target in TARGETS:
        if op == "gt":
            base_key = "volume_threshold" if key == "beats_volume_threshold" else "isolation_forest"
            ours, base = values.get("recall"), values.get(f"{base_key}_recall_at_our_fpr")
            value = {"ours": ours, "baseline": base}
            ok = ours is not None and base is not None and ours > base
            status = "PASS" if ok else "FAIL"
        else:
            value = values.get(key)
            if value is None:
                status = "n/a" if key in ("network_recall", "min_archetype_recall") else "FAIL"
            else:
                ok = value >= target if op == ">=" else value <= target
                status = "PASS" if ok else "FAIL"
        rows.append({"target": key, "description": desc, "threshold": target, "value": value, "status": status})
    return rows
