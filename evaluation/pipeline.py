"""One evaluation on in-memory frames: our detector and both baselines, same population.

No file I/O and no plotting: :func:`evaluate_frames` takes the labels, the
alerts and the event aggregates and returns every number as a JSON-ready
dict plus a per-account frame (for plots and ``accounts.csv``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import baselines as B
from .metrics import (
    SEVERITIES,
    alert_flags,
    check_targets,
    detection_metrics,
    first_detections,
    max_alert_score,
    score_reliability,
)

__all__ = ["EvaluationResult", "evaluate_frames", "BASELINE_BENIGN_RATE", "METHODS"]

BASELINE_BENIGN_RATE = 0.01  # the baselines' own operating point: <= 1 % benign (accounts / account-days)

# key in metrics.json -> human name
METHODS = {
    "ours": "distillwatch",
    "volume_threshold": "hourly volume threshold",
    "isolation_forest": "daily IsolationForest",
}


@dataclass
class EvaluationResult:
    metrics: dict[str, Any]
    accounts: pd.DataFrame  # one row per evaluated account: labels + per-method outcome


def _population(labels: pd.DataFrame, accounts: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Labelled accounts that can be evaluated: they sent events, and harvesters
    sent at least one at or after their attack start."""
    last = accounts["last_ts"].reindex(labels.index)
    has_events = last.notna()
    harvester = labels["label"] == "harvester"
    attacked = ~harvester | labels["attack_start"].isna() | (last >= labels["attack_start"])
    keep = has_events & attacked
    excluded = labels[~keep]
    info = {
        "labelled_accounts": int(len(labels)),
        "evaluated_accounts": int(keep.sum()),
        "excluded_no_events": int((~has_events).sum()),
        "excluded_no_attack_events": int((has_events & ~attacked).sum()),
        "excluded_by_archetype": {str(k): int(v) for k, v in excluded.groupby("archetype").size().items()},
        "unlabelled_accounts_with_events": int((~accounts.index.isin(labels.index)).sum()),
    }
    return labels[keep], info


def evaluate_frames(
    labels: pd.DataFrame,
    alerts: pd.DataFrame,
    hourly: pd.DataFrame,
    daily: pd.DataFrame,
    accounts: pd.DataFrame,
    *,
    min_severity: str = "warning",
    random_state: int = 0,
    score_bands: tuple[float, ...] | None = None,
) -> EvaluationResult:
    """Evaluate our detector's alerts and both baselines against ``labels``.

    ``labels`` as from :func:`evaluation.metrics.labels_frame`; ``alerts`` with
    ``account_id``, ``severity``, ``score``, ``detected_at``; the aggregates as
    from :func:`evaluation.data.scan_events`. ``score_bands`` are the score
    boundaries of the reliability table (default: the default rules' severity
    thresholds).
    """
    if min_severity not in SEVERITIES:
        raise ValueError(f"min_severity must be one of {', '.join(SEVERITIES)}")
    pop, pop_info = _population(labels, accounts)
    hourly = hourly[hourly["account_id"].isin(pop.index)]
    alerts_known = alerts[alerts["account_id"].isin(pop.index)] if not alerts.empty else alerts

    # -- ours
    flags = alert_flags(alerts_known, min_severity)
    ours_det = first_detections(flags, pop)
    ours = detection_metrics(pop, ours_det)
    ours["min_severity"] = min_severity
    our_fpr = ours["benign_fpr"] or 0.0

    # -- baseline 1: hourly volume
    t1 = B.volume_threshold(hourly, pop, BASELINE_BENIGN_RATE)
    b1_det = first_detections(B.hour_flags(hourly, t1), pop)
    b1 = detection_metrics(pop, b1_det)
    b1["threshold"] = t1
    b1["threshold_rule"] = "smallest integer hourly count exceeded by at most 1 % of benign accounts (tuned on labels)"
    t1_ours = B.threshold_at_rate(hourly, "requests", pop, our_fpr)
    b1_at = detection_metrics(pop, first_detections(B.hour_flags(hourly, t1_ours), pop))
    b1["at_our_fpr"] = _operating_point(b1_at, t1_ours if np.isfinite(t1_ours) else None)

    # -- baseline 2: daily IsolationForest (fitted on every account-day of the population)
    dpop = daily[daily["account_id"].isin(pop.index)].reset_index(drop=True)
    scores = B.isolation_forest_scores(dpop, random_state=random_state)
    t2 = B.account_day_threshold(scores, pop, BASELINE_BENIGN_RATE)
    b2_det = first_detections(B.day_flags(scores, t2), pop)
    b2 = detection_metrics(pop, b2_det)
    benign_days = scores["account_id"].isin(pop.index[pop["label"] == "benign"])
    b2["threshold"] = float(t2)
    b2["threshold_rule"] = "anomaly score above which at most 1 % of benign account-days fall (tuned on labels)"
    b2["benign_account_days"] = int(benign_days.sum())
    b2["flagged_benign_account_days"] = int((benign_days & (scores["score"] > t2)).sum())
    b2["benign_account_day_fpr"] = (
        b2["flagged_benign_account_days"] / b2["benign_account_days"] if b2["benign_account_days"] else None
    )
    b2["account_days"] = int(len(scores))
    b2["days"] = int(scores["day"].nunique())
    b2["features"] = [c for c, _ in B.IF_FEATURES]
    b2["random_state"] = random_state
    t2_ours = B.threshold_at_rate(scores.dropna(subset=["score"]), "score", pop, our_fpr)
    b2_at = detection_metrics(pop, first_detections(B.day_flags(scores, t2_ours), pop))
    b2["at_our_fpr"] = _operating_point(b2_at, float(t2_ours) if np.isfinite(t2_ours) else None)

    values = {
        "recall": ours["recall"],
        "benign_fpr": ours["benign_fpr"],
        "heavy_benign_fpr": ours["heavy_benign_fpr"],
        "min_archetype_recall": ours["min_archetype_recall"],
        "network_recall": ours["network_recall"],
        "median_delay_min": ours["delay"]["median_min"],
        "volume_threshold_recall_at_our_fpr": b1["at_our_fpr"]["recall"],
        "isolation_forest_recall_at_our_fpr": b2["at_our_fpr"]["recall"],
    }
    peak = max_alert_score(alerts_known, pop.index)
    if score_bands is None:
        from detectors.rules import Rules

        score_bands = Rules.default().thresholds
    ours["score_reliability"] = score_reliability(peak, pop, score_bands)
    metrics = {
        "population": pop_info,
        "ours": ours,
        "volume_threshold": b1,
        "isolation_forest": b2,
        "targets": check_targets(values),
    }

    per = pop.copy()
    per["ours_flagged"] = ours_det["flagged"]
    per["ours_delay_s"] = ours_det["delay_s"]
    per["ours_pre_attack_only"] = ours_det["pre_attack_only"]
    per["ours_max_alert_score"] = peak
    per["volume_flagged"] = b1_det["flagged"]
    per["volume_delay_s"] = b1_det["delay_s"]
    per["volume_max_hourly"] = B.account_max(hourly, "requests", pop.index)
    per["iforest_flagged"] = b2_det["flagged"]
    per["iforest_delay_s"] = b2_det["delay_s"]
    per["iforest_max_score"] = B.account_max(scores.dropna(subset=["score"]), "score", pop.index)
    per["events"] = accounts["events"].reindex(pop.index).fillna(0).astype(np.int64)
    return EvaluationResult(metrics=metrics, accounts=per)


def _operating_point(m: dict[str, Any], threshold: float | None) -> dict[str, Any]:
    """The headline numbers of a baseline re-tuned to our benign FPR."""
    return {
        "threshold": threshold,
        "threshold_rule": "re-tuned on labels so that its benign account FPR is at most ours",
        "recall": m["recall"],
        "precision": m["precision"],
        "benign_fpr": m["benign_fpr"],
        "heavy_benign_fpr": m["heavy_benign_fpr"],
        "network_recall": m["network_recall"],
        "min_archetype_recall": m["min_archetype_recall"],
        "recall_by_archetype": {k: v["recall"] for k, v in m["recall_by_archetype"].items()},
        "median_delay_min": m["delay"]["median_min"],
    }
