"""The two comparison detectors, as pure functions on per-account aggregates.

Both are built from the same events the detector saw (see
:func:`evaluation.data.scan_events` for how the aggregates are made) and
produce *flags* (``account_id``, ``t``, ``score``) that
:func:`evaluation.metrics.first_detections` turns into detections with the
same counting rules as our detector.

1. **Hourly volume threshold** — requests per account per clock hour of event
   time; an account is flagged at the end of every hour whose count is above
   the threshold. The threshold is tuned *on the labels* (optimistic for the
   baseline): the smallest integer that at most 1 % of benign accounts ever
   exceed in any hour.
2. **Daily IsolationForest** — per account and UTC day, the aggregates in
   :data:`IF_FEATURES`; one ``sklearn.ensemble.IsolationForest``
   (fixed ``random_state``) is fitted per day on that day's account-days (a
   daily batch job) and scores them; an account-day is flagged at the end of
   the day when its anomaly score (``-score_samples``, higher = more
   anomalous) is above the threshold, tuned *on the labels* so that at most
   1 % of benign account-days are flagged.

For the "better at equal or lower FPR" comparison both baselines are also
re-tuned to the benign account FPR of our detector (:func:`threshold_at_rate`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .deps import require
from .metrics import tune_threshold

__all__ = [
    "DAILY_COLUMNS",
    "IF_FEATURES",
    "account_max",
    "day_flags",
    "daily_feature_matrix",
    "hour_flags",
    "isolation_forest_scores",
    "threshold_at_rate",
    "volume_threshold",
]

HOUR = 3600
DAY = 86400

# Columns of the daily aggregate frame (besides account_id and day).
DAILY_COLUMNS = (
    "requests",
    "input_tokens_mean",
    "output_tokens_mean",
    "output_input_ratio",
    "single_turn_share",
    "logprobs_share",
    "n_gt1_share",
    "length_share",
    "status_429_share",
    "ip_prefixes",
    "api_keys",
    "models",
    "temperature_mean",
)

# Features of the IsolationForest, in order: (column, transform)
IF_FEATURES = (
    ("requests", "log1p"),
    ("input_tokens_mean", "log1p"),
    ("output_tokens_mean", "log1p"),
    ("output_input_ratio", "log1p"),
    ("single_turn_share", None),
    ("logprobs_share", None),
    ("n_gt1_share", None),
    ("length_share", None),
    ("status_429_share", None),
    ("ip_prefixes", "log1p"),
    ("api_keys", "log1p"),
    ("models", None),
    ("temperature_mean", None),
)
DEFAULT_TEMPERATURE = 1.0  # when an account-day has no temperature at all: the usual API default


# -- shared --------------------------------------------------------------------


def account_max(frame: pd.DataFrame, column: str, index: pd.Index) -> pd.Series:
    """Per account in ``index``, the largest ``column`` value (0 when the account has no rows)."""
    if frame.empty:
        return pd.Series(0.0, index=index)
    return frame.groupby("account_id")[column].max().reindex(index).fillna(0.0).astype(float)


def threshold_at_rate(frame: pd.DataFrame, column: str, labels: pd.DataFrame, benign_rate: float) -> float:
    """Threshold at which at most ``benign_rate`` of the benign *accounts* are flagged.

    An account is flagged when any of its rows is above the threshold, so this
    tunes on each benign account's maximum.
    """
    benign = labels.index[labels["label"] == "benign"]
    return tune_threshold(account_max(frame, column, benign), benign_rate)


# -- baseline 1: hourly volume ---------------------------------------------------------


def volume_threshold(hourly: pd.DataFrame, labels: pd.DataFrame, max_benign_rate: float = 0.01) -> int:
    """Smallest integer hourly count that at most ``max_benign_rate`` of benign accounts ever exceed.

    >>> lab = pd.DataFrame({"label": ["benign"] * 4 + ["harvester"]}, index=list("abcdh"))
    >>> hourly = pd.DataFrame({"account_id": list("abcdh"), "hour": 0, "requests": [5, 7, 9, 30, 100]})
    >>> volume_threshold(hourly, lab, 0.25)       # one benign account of 4 may exceed
    9
    """
    t = threshold_at_rate(hourly, "requests", labels, max_benign_rate)
    return max(0, int(t)) if np.isfinite(t) else 0


def hour_flags(hourly: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Hours above ``threshold`` as flags, at the end of the hour (``score`` = the count)."""
    hit = hourly[hourly["requests"] > threshold]
    return pd.DataFrame(
        {
            "account_id": hit["account_id"].to_numpy(),
            "t": (hit["hour"].to_numpy(dtype=float) + 1.0) * HOUR,
            "score": hit["requests"].to_numpy(dtype=float),
        }
    )


# -- baseline 2: daily IsolationForest ----------------------------------------------------


def daily_feature_matrix(daily: pd.DataFrame) -> pd.DataFrame:
    """The IsolationForest's inputs: :data:`IF_FEATURES`, transformed, no NaN."""
    cols = {}
    for col, transform in IF_FEATURES:
        v = daily[col].astype(float)
        v = v.fillna(DEFAULT_TEMPERATURE if col == "temperature_mean" else 0.0)
        cols[col] = np.log1p(v.clip(lower=0.0)) if transform == "log1p" else v
    return pd.DataFrame(cols, index=daily.index)


def isolation_forest_scores(daily: pd.DataFrame, *, random_state: int = 0, n_estimators: int = 200) -> pd.DataFrame:
    """Fit one IsolationForest per UTC day on that day's account-days; score them.

    Returns ``account_id``, ``day``, ``score`` (``-score_samples``: about 0.5
    for ordinary rows, towards 1 for outliers). A day with a single
    account-day cannot be modelled: its score is NaN (never flagged).
    """
    ensemble = require("sklearn.ensemble", "the IsolationForest baseline")
    X = daily_feature_matrix(daily)
    scores = pd.Series(np.nan, index=daily.index, dtype=float)
    for _day, idx in daily.groupby("day").groups.items():
        if len(idx) < 2:
            continue
        model = ensemble.IsolationForest(n_estimators=n_estimators, random_state=random_state)
        xs = X.loc[idx].to_numpy()
        model.fit(xs)
        scores.loc[idx] = -model.score_samples(xs)
    return pd.DataFrame(
        {"account_id": daily["account_id"].to_numpy(), "day": daily["day"].to_numpy(), "score": scores.to_numpy()}
    )


def day_flags(scores: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Account-days above ``threshold`` as flags, at the end of the UTC day."""
    hit = scores[scores["score"] > threshold]
    return pd.DataFrame(
        {
            "account_id": hit["account_id"].to_numpy(),
            "t": (hit["day"].to_numpy(dtype=float) + 1.0) * DAY,
            "score": hit["score"].to_numpy(dtype=float),
        }
    )


def account_day_threshold(scores: pd.DataFrame, labels: pd.DataFrame, max_rate: float = 0.01) -> float:
    """Score threshold at which at most ``max_rate`` of the benign account-days are flagged."""
    benign = labels.index[labels["label"] == "benign"]
    values = scores.loc[scores["account_id"].isin(benign), "score"].dropna()
    return tune_threshold(values, max_rate)
