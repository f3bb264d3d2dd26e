"""Offline evaluation of detection quality against simulator ground truth.

``distillwatch evaluate`` scores one run (events + labels + alerts) and
``distillwatch backtest`` simulates, replays and evaluates several seeds.

Layout:

- :mod:`evaluation.metrics` — pure functions on pandas DataFrames: per-account
  detections, precision/recall/F1, false-positive rates, per-archetype and
  network recall, detection delays, threshold tuning, target checks.
- :mod:`evaluation.baselines` — the two comparison detectors as pure
  functions: an hourly volume threshold and a daily IsolationForest.
- :mod:`evaluation.pipeline` — ties the two together on in-memory frames.
- :mod:`evaluation.data` — file I/O: labels, alerts, and a streaming pass over
  the events that builds the per-account hourly and daily aggregates.
- :mod:`evaluation.report` — the ``evaluate`` command: metrics.json, report.md,
  PNG plots, the console table.
- :mod:`evaluation.backtest` — the ``backtest`` command.

scikit-learn and matplotlib are optional (``pip install 'distillwatch[eval]'``)
and imported only when needed; :func:`evaluation.deps.require` turns their
absence into a clear :class:`EvaluationError`.
"""

from .deps import EvaluationError, MissingDependency

__all__ = ["EvaluationError", "MissingDependency"]
