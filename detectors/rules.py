"""Detection rules as data: named signals with thresholds, and how they combine.

The rules live in YAML (``detectors/rules.yaml`` by default); this module
validates them into frozen objects and scores a feature vector with them.

>>> rules = Rules.default()
>>> quiet = {name: 0.0 for name in INPUT_NAMES}
>>> rules.score(quiet).score
0.0
>>> harvester = dict(quiet, elicitation_share=0.9, single_turn_share=1.0, timing_regularity=0.8,
...                  output_input_ratio=12.0)
>>> a = rules.score(harvester)
>>> round(a.score, 2), round(a.content, 2), a.reasons[0].signal
(0.83, 0.93, 'reasoning_elicitation')
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import cython
import yaml

from .features import FEATURE_NAMES

if not cython.compiled:  # compiled, C functions (rules.pxd)
    from math import isfinite

    from .carray import f64, i32

__all__ = ["Signal", "Reason", "Rules", "RulesError", "SEVERITIES", "Assessment", "MODEL_OUTPUTS", "INPUT_NAMES"]

#: Inputs the online models add to the feature vector before scoring
#: (see detectors/models.py): population-relative anomaly evidence and the
#: probability from the model trained on analyst labels.
MODEL_OUTPUTS = ("anomaly_evidence", "label_probability")

#: Everything a signal may read.
INPUT_NAMES = FEATURE_NAMES + MODEL_OUTPUTS

#: Severity names by level; level 0 means "no episode".
SEVERITIES = ("none", "info", "warning", "critical")
GROUPS = ("content", "pattern")


class RulesError(ValueError):
    """The rules file is missing, malformed or inconsistent."""


@dataclass(frozen=True, slots=True)
class Signal:
    name: str
    group: str
    feature: str
    low: float
    high: float
    weight: float
    description: str = ""

    def evidence(self, value: float) -> float:
        if value <= self.low:
            return 0.0
        if value >= self.high:
            return 1.0
        return (value - self.low) / (self.high - self.low)


@dataclass(frozen=True, slots=True)
class Reason:
    """One signal's part in a score: what an analyst reads first."""

    signal: str
    group: str
    feature: str
    value: float
    threshold: float  # value where the signal starts to count
    evidence: float  # 0..1
    contribution: float  # weight * evidence
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "signal": self.signal,
            "group": self.group,
            "feature": self.feature,
            "value": round(self.value, 4),
            "threshold": self.threshold,
            "evidence": round(self.evidence, 4),
            "contribution": round(self.contribution, 4),
            "description": self.description,
        }


class Assessment:
    """A scored feature vector: ``score`` (0..1), ``content`` and ``pattern`` (the noisy-OR of each
    group's signals, 0..1) and ``reasons``, the signals that counted, largest contribution first.

    The reasons are built when first read: a scoring reads them only when it raises an alert.
    """

    __slots__ = ("score", "content", "pattern", "_hits", "_signals", "_reasons")

    def __init__(self, score: float, content: float, pattern: float, reasons: list[Reason] | None = None, *,
                 hits: list[tuple[int, float, float, float]] | None = None, signals: tuple[Signal, ...] = ()):
        self.score = score
        self.content = content
        self.pattern = pattern
        self._reasons = reasons
        self._hits = hits  # (signal index, value, evidence, contribution) of each signal that counted
        self._signals = signals

    @property
    def reasons(self) -> list[Reason]:
        if self._reasons is None:
            sigs = self._signals
            reasons = [Reason(sigs[i].name, sigs[i].group, sigs[i].feature, value, sigs[i].low, ev, contrib,
                              sigs[i].description) for i, value, ev, contrib in self._hits or ()]
            reasons.sort(key=_reason_order)
            self._reasons = reasons
        return self._reasons

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Assessment):
            return NotImplemented
        return (self.score, self.content, self.pattern, self.reasons) == (
            other.score, other.content, other.pattern, other.reasons)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"Assessment(score={self.score!r}, content={self.content!r}, pattern={self.pattern!r}, "
                f"reasons={self.reasons!r})")


def _noisy_or(feats: dict, features: tuple, lows: array, highs: array, weights: array, content: array,
              hits: list) -> tuple[float, float]:
    """Each signal's evidence from ``feats`` (0 at or below its low, 1 at or above its high, linear
    between), folded into the product of ``1 - weight * evidence`` of its group, content or pattern;
    ``(signal index, value, evidence, contribution)`` of each signal that counted goes to ``hits``. Inputs
    absent from ``feats`` or not finite count as no evidence. Returns the two products."""
    lp = f64(lows)
    hp = f64(highs)
    wp = f64(weights)
    cp = i32(content)
    miss_content = 1.0
    miss_pattern = 1.0
    for i in range(len(features)):
        value = feats.get(features[i])
        if value is None:
            continue
        v = value  # compiled, a C double (a non-number fails as isfinite() fails on it)
        if not isfinite(v) or v <= lp[i]:
            continue
        ev = 1.0 if v >= hp[i] else (v - lp[i]) / (hp[i] - lp[i])
        if ev <= 0.0:
            continue
        contrib = wp[i] * ev
        if cp[i]:
            miss_content *= 1.0 - contrib
        else:
            miss_pattern *= 1.0 - contrib
        hits.append((i, value, ev, contrib))
    return miss_content, miss_pattern


def _reason_order(r: Reason) -> tuple[float, str]:
    return (-r.contribution, r.signal)


@dataclass(frozen=True, slots=True)
class Rules:
    version: int
    signals: tuple[Signal, ...]
    interval_events: int
    interval_seconds: float
    min_events: int
    early_events: int  # fingerprints, and alerts for members of a template or system-prompt cluster, from this many events
    pattern_base: float
    thresholds: tuple[float, float, float]  # info, warning, critical
    close_below: float
    quiet_seconds: float
    top_reasons: int
    source: str = "<default>"
    # the signals as columns, for score(): features, and arrays of low, high, weight, is content
    _table: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sigs = self.signals
        object.__setattr__(self, "_table", (
            tuple(s.feature for s in sigs), array("d", [s.low for s in sigs]), array("d", [s.high for s in sigs]),
            array("d", [s.weight for s in sigs]), array("i", [s.group == "content" for s in sigs])))

    # -- loading -------------------------------------------------------------

    @classmethod
    def default(cls) -> Rules:
        text = resources.files("detectors").joinpath("rules.yaml").read_text("utf-8")
        return cls.from_yaml(text, source="detectors/rules.yaml")

    @classmethod
    def load(cls, path: str | Path | None) -> Rules:
        if path is None:
            return cls.default()
        p = Path(path)
        try:
            text = p.read_text("utf-8")
        except OSError as exc:
            raise RulesError(f"cannot read rules file {p}: {exc.strerror}") from exc
        return cls.from_yaml(text, source=str(p))

    @classmethod
    def from_yaml(cls, text: str, source: str = "<string>") -> Rules:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RulesError(f"{source}: not valid YAML: {exc}") from exc
        try:
            return cls.from_dict(doc, source)
        except RulesError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise RulesError(f"{source}: {exc}") from exc

    @classmethod
    def from_dict(cls, doc: Any, source: str = "<dict>") -> Rules:
        def fail(msg: str) -> RulesError:
            return RulesError(f"{source}: {msg}")

        if not isinstance(doc, dict):
            raise fail("top level must be a mapping")
        if doc.get("version") != 1:
            raise fail(f"unsupported rules version {doc.get('version')!r} (this code reads 1)")
        scoring = doc.get("scoring") or {}
        policy = doc.get("policy") or {}
        signals = []
        seen = set()
        for i, raw in enumerate(doc.get("signals") or []):
            where = f"signals[{i}]"
            if not isinstance(raw, dict):
                raise fail(f"{where} must be a mapping")
            missing = {"name", "group", "feature", "low", "high", "weight"} - raw.keys()
            if missing:
                raise fail(f"{where} lacks {', '.join(sorted(missing))}")
            sig = Signal(
                name=str(raw["name"]),
                group=str(raw["group"]),
                feature=str(raw["feature"]),
                low=float(raw["low"]),
                high=float(raw["high"]),
                weight=float(raw["weight"]),
                description=str(raw.get("description", "")),
            )
            where = f"signal {sig.name!r}"
            if sig.name in seen:
                raise fail(f"{where} is defined twice")
            seen.add(sig.name)
            if sig.group not in GROUPS:
                raise fail(f"{where}: group must be one of {', '.join(GROUPS)}, got {sig.group!r}")
            if sig.feature not in INPUT_NAMES:
                raise fail(f"{where}: unknown feature {sig.feature!r}")
            if not sig.high > sig.low:
                raise fail(f"{where}: high ({sig.high}) must be greater than low ({sig.low})")
            if not 0.0 < sig.weight <= 1.0:
                raise fail(f"{where}: weight must be in (0, 1], got {sig.weight}")
            signals.append(sig)
        if not any(s.group == "content" for s in signals):
            raise fail("at least one signal of group 'content' is required")
        th = policy.get("thresholds") or {}
        thresholds = (float(th["info"]), float(th["warning"]), float(th["critical"]))
        if not 0.0 < thresholds[0] < thresholds[1] < thresholds[2] <= 1.0:
            raise fail("policy.thresholds must satisfy 0 < info < warning < critical <= 1")
        close_below = float(policy.get("close_below", thresholds[0] * 0.8))
        if not 0.0 <= close_below <= thresholds[0]:
            raise fail("policy.close_below must be between 0 and the info threshold")
        rules = cls(
            version=1,
            signals=tuple(signals),
            interval_events=int(scoring.get("interval_events", 25)),
            interval_seconds=float(scoring.get("interval_seconds", 60)),
            min_events=int(scoring.get("min_events", 10)),
            early_events=int(scoring.get("early_events", scoring.get("min_events", 10))),
            pattern_base=float(scoring.get("pattern_base", 0.5)),
            thresholds=thresholds,
            close_below=close_below,
            quiet_seconds=float(policy.get("quiet_seconds", 3600)),
            top_reasons=int(policy.get("top_reasons", 5)),
            source=source,
        )
        if rules.interval_events < 1 or rules.interval_seconds <= 0 or rules.min_events < 1:
            raise fail("scoring intervals and min_events must be positive")
        if not 1 <= rules.early_events <= rules.min_events:
            raise fail("scoring.early_events must be between 1 and min_events")
        if not 0.0 <= rules.pattern_base <= 1.0:
            raise fail("scoring.pattern_base must be in [0, 1]")
        if rules.quiet_seconds < 0 or rules.top_reasons < 1:
            raise fail("policy.quiet_seconds must be >= 0 and top_reasons >= 1")
        return rules

    # -- scoring -------------------------------------------------------------

    def score(self, feats: dict[str, float]) -> Assessment:
        """Score a feature vector (inputs absent from it count as no evidence)."""
        hits: list[tuple[int, float, float, float]] = []
        features, lows, highs, weights, is_content = self._table  # spelled out: compiled, a C call
        miss_content, miss_pattern = _noisy_or(feats, features, lows, highs, weights, is_content, hits)
        content = 1.0 - miss_content
        pattern = 1.0 - miss_pattern
        score = content * (self.pattern_base + (1.0 - self.pattern_base) * pattern)
        return Assessment(min(1.0, max(0.0, score)), content, pattern, hits=hits, signals=self.signals)

    def severity(self, score: float) -> int:
        """Severity level (0..3) that ``score`` reaches."""
        level = 0
        for i, t in enumerate(self.thresholds):
            if score >= t:
                level = i + 1
        return level
