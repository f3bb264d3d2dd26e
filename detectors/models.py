"""The online models of the detector: small classes with a uniform interface.

- :class:`FeatureTransform` maps a feature dict to model input (``log1p`` on
  heavy-tailed counts and rates, identity on shares, non-finite values dropped).
- :class:`AnomalyModel` is the unsupervised, population-level model: a river
  ``MinMaxScaler | HalfSpaceTrees`` pipeline that scores before it learns and
  keeps anomalies out of its baseline, plus a calibrated
  :meth:`~AnomalyModel.anomaly_evidence` relative to recent population scores.
- :class:`LabelModel` is the supervised model learned from analyst labels: a
  river ``StandardScaler | LogisticRegression`` pipeline.
- :class:`PageHinkley` is a compact per-account change detector whose state is
  six plain numbers, so it packs into the account's ``struct``.
- :class:`PopulationStats` keeps per-feature running median, p90 and p99 of the
  population for explanations and relative thresholds.

Everything here is pure: no I/O, no clock, no global random state (tree
construction uses a seeded :class:`random.Random` inside river), no logging.
Models take whatever feature names arrive; none of them hard-codes the list of
:data:`~detectors.features.FEATURE_NAMES`.

Population-level models travel as bytes (``to_bytes`` / ``from_bytes``) behind
a header: the magic ``b"DWM"``, a one-byte schema version, the river version
string, then a pickle. Bytes written by another schema or another river
version, or that fail to unpickle, raise :class:`ModelVersionError`; callers
then start a fresh model, so a library upgrade can never crash-loop recovery.
The pickle is trusted input: only load bytes this service wrote itself (its own
changelog topic), never bytes from outside.

>>> import random
>>> rng = random.Random(7)
>>> model = AnomalyModel(window_size=50, warmup=100, seed=7)
>>> for _ in range(300):
...     _ = model.update({"rate_per_min_1m": rng.expovariate(1.0), "elicitation_share": rng.random() * 0.2})
>>> model.is_warm
True
>>> normal = model.score_one({"rate_per_min_1m": 1.0, "elicitation_share": 0.1})
>>> harvester = model.score_one({"rate_per_min_1m": 400.0, "elicitation_share": 1.0})
>>> harvester > normal, model.anomaly_evidence(harvester)
(True, 1.0)
>>> AnomalyModel.from_bytes(model.to_bytes()).score_one({"rate_per_min_1m": 400.0}) == model.score_one(
...     {"rate_per_min_1m": 400.0})
True
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import cython
import river
from river import linear_model, optim, preprocessing, stats

from .hst import MinMaxHalfSpaceTrees

__all__ = [
    "FeatureTransform",
    "AnomalyModel",
    "LabelModel",
    "PageHinkley",
    "PopulationStats",
    "ModelVersionError",
    "MODEL_SCHEMA_VERSION",
    "MODEL_MAGIC",
]

#: Schema version of the serialised population-level models. Bump it whenever a
#: class here changes its attributes in a way old pickles cannot satisfy.
MODEL_SCHEMA_VERSION = 1

#: First bytes of every serialised model.
MODEL_MAGIC = b"DWM"

_PICKLE_PROTOCOL = 5
_isfinite = math.isfinite

if not cython.compiled:  # compiled, C functions (models.pxd)
    from math import copysign, isfinite, log1p


class ModelVersionError(ValueError):
    """Serialised model bytes this code cannot (or must not) read.

    Raised for a wrong magic, another schema version, another river version,
    truncated bytes, bytes of another model class, or any unpickling failure.
    Callers treat it as "no model" and start a fresh one.
    """


# -- serialisation -------------------------------------------------------------------


def _river_version() -> bytes:
    return river.__version__.encode("ascii")


def _dump(obj: Any) -> bytes:
    rv = _river_version()
    return MODEL_MAGIC + bytes((MODEL_SCHEMA_VERSION, len(rv))) + rv + pickle.dumps(obj, protocol=_PICKLE_PROTOCOL)


def _load(cls: type, data: bytes) -> Any:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ModelVersionError(f"model bytes expected, got {type(data).__name__}")
    data = bytes(data)
    m = len(MODEL_MAGIC)
    if len(data) < m + 2 or data[:m] != MODEL_MAGIC:
        raise ModelVersionError("not a serialised distillwatch model (bad magic)")
    version, n = data[m], data[m + 1]
    if version != MODEL_SCHEMA_VERSION:
        raise ModelVersionError(f"model schema version {version}, expected {MODEL_SCHEMA_VERSION}")
    rv = data[m + 2 : m + 2 + n]
    if len(rv) != n:
        raise ModelVersionError("model bytes truncated in the header")
    if rv != _river_version():
        raise ModelVersionError(
            f"model written with river {rv.decode('ascii', 'replace')}, running river {river.__version__}"
        )
    try:
        obj = pickle.loads(data[m + 2 + n :])
    except Exception as exc:  # any failure to rebuild the object means "start afresh"
        raise ModelVersionError(f"model bytes do not unpickle: {type(exc).__name__}") from exc
    if type(obj) is not cls:
        raise ModelVersionError(f"bytes hold a {type(obj).__name__}, not a {cls.__name__}")
    return obj


class _Serialisable:
    """``to_bytes`` / ``from_bytes`` with the versioned header (see the module docstring)."""

    def to_bytes(self) -> bytes:
        """Serialise: ``b"DWM"``, schema version byte, river version, pickle."""
        return _dump(self)

    @classmethod
    def from_bytes(cls, data: bytes):
        """Rebuild from :meth:`to_bytes` output; :class:`ModelVersionError` if unreadable."""
        return _load(cls, data)


# -- feature transform -----------------------------------------------------------------


class FeatureTransform:
    """Map a feature dict to model input.

    The rule, by feature name:

    - names starting with one of ``log_prefixes`` (default ``rate_``, ``mean_``,
      ``events``, ``distinct_``) or ending with one of ``log_suffixes`` (default
      ``_ratio``, ``_hours``, ``_size``) are heavy-tailed non-negative counts,
      rates, ratios, durations or sizes: they become ``log1p(value)`` (sign-preserving,
      ``copysign(log1p(|v|), v)``, so a stray negative value cannot fail);
    - every other feature is a share or score already in ``[0, 1]`` and passes
      unchanged;
    - non-finite values (NaN, ±inf) and non-numeric values are dropped, so a
      model sees the feature as missing rather than poisoned.

    The input is never mutated; a new dict is returned. Feature names are not
    fixed: whatever keys arrive are transformed by the same rule.

    Parameters
    ----------
    log_prefixes
        Name prefixes of the features to log-transform.
    log_suffixes
        Name suffixes of the features to log-transform.

    Examples
    --------
    >>> t = FeatureTransform()
    >>> t({"rate_per_min_1m": 99.0, "burst_ratio": 0.0, "elicitation_share": 0.5, "events": float("nan")})
    {'rate_per_min_1m': 4.60517..., 'burst_ratio': 0.0, 'elicitation_share': 0.5}
    """

    __slots__ = ("log_prefixes", "log_suffixes", "_cache")

    def __init__(
        self,
        log_prefixes: tuple[str, ...] = ("rate_", "mean_", "events", "distinct_"),
        log_suffixes: tuple[str, ...] = ("_ratio", "_hours", "_size"),
    ):
        self.log_prefixes = log_prefixes
        self.log_suffixes = log_suffixes
        self._cache: dict[str, bool] = {}

    def __getstate__(self):
        return (self.log_prefixes, self.log_suffixes)

    def __setstate__(self, state):
        self.log_prefixes, self.log_suffixes = state
        self._cache = {}

    def is_log(self, name: str) -> bool:
        """Whether feature ``name`` is log-transformed."""
        hit = self._cache.get(name)
        if hit is None:
            hit = name.startswith(tuple(self.log_prefixes)) or name.endswith(tuple(self.log_suffixes))
            if len(self._cache) < 4096:  # bounded, even if names are unbounded
                self._cache[name] = hit
        return hit

    def __call__(self, x: Mapping[str, float]) -> dict[str, float]:
        return self.transform_one(x)

    def transform_one(self, x: Mapping[str, float]) -> dict[str, float]:
        """The transformed copy of ``x`` (see the class docstring for the rule)."""
        return _transform(x if type(x) is dict else dict(x), self.is_log, self._cache)

    def __repr__(self) -> str:
        return f"FeatureTransform(log_prefixes={self.log_prefixes!r}, log_suffixes={self.log_suffixes!r})"


def _transform(x: dict, is_log, cache: dict) -> dict:
    """:meth:`FeatureTransform.transform_one` (a function, so that its loop is typed when compiled)."""
    out = {}
    for k, value in x.items():
        try:
            v = float(value)
        except (TypeError, ValueError):
            continue
        if not isfinite(v):
            continue
        hit = cache.get(k)
        if hit is None:
            hit = is_log(k)
        if hit:
            v = log1p(v) if v >= 0.0 else copysign(log1p(-v), v)
        out[k] = v
    return out


# -- unsupervised population model -------------------------------------------------------


class AnomalyModel(_Serialisable):
    """Population-level online anomaly model (one per Kafka partition).

    ``x`` goes through :class:`FeatureTransform`, then river's
    ``preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(...)``. Higher
    scores are more anomalous, in ``[0, 1]``.

    :meth:`update` is the call the scorer makes: it scores ``x`` first, then
    learns it. During warm-up (the first ``warmup`` updates, and until the trees
    have filled their first window of ``window_size`` observations) it learns
    everything and :attr:`is_warm` is False: callers ignore its scores. Once
    warm, ``x`` is learned only if its score is below the running ``quantile``
    of the last ``score_window`` scores, so anomalous accounts are kept out of
    the baseline (like river's ``QuantileFilter`` with
    ``protect_anomaly_detector=True``). Because the gate is relative, it holds
    out about ``1 - quantile`` of the scorings and no more: when the whole
    population drifts, the baseline still follows it; but a campaign that makes
    up more than ``1 - quantile`` of a partition's scorings is partly learned
    (lower ``quantile`` to protect against denser campaigns; the rules and the
    label model do not share this blind spot).

    :meth:`anomaly_evidence` calibrates a raw score against the same recent
    scores: 0 at or below their median, rising linearly to 1 at their 0.99
    quantile.

    Half-space trees are built from the feature names of the first observation
    learned: a feature that appears only later is ignored by the trees (a fresh
    model picks it up), a feature that vanishes follows the busier branch.
    :attr:`features` lists the names the trees split on.

    The defaults were chosen on synthetic ~25-feature populations: with many
    features, more trees matter more than deeper ones (HST stops descending
    once a node holds less than ``0.1 * window_size`` of the window, so only
    the first four or five levels are reached even in dense regions).

    Parameters
    ----------
    n_trees
        Number of half-space trees.
    height
        Height of each tree.
    window_size
        Observations per HST reference window (the mass profile is refreshed
        every ``window_size`` learned observations).
    warmup
        Updates during which everything is learned and scores are not to be used.
    quantile
        Scores at or above this running quantile of recent scores are not learned.
    score_window
        Number of recent scores the running quantiles (gate, median, 0.99) cover.
    seed
        Seed of the trees' random splits (same seed, same inputs: same scores).
    transform
        Feature transform; ``None`` means the default :class:`FeatureTransform`.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(1)
    >>> model = AnomalyModel(window_size=50, warmup=100, seed=1)
    >>> for _ in range(100):
    ...     _ = model.update({"rate_per_min_1m": rng.expovariate(1.0), "tools_share": rng.random()})
    >>> model.is_warm, model.n_seen, model.n_learned
    (True, 100, 100)
    >>> x = {"rate_per_min_1m": 1e4, "tools_share": 0.5}
    >>> before = model.score_one(x)
    >>> model.update(x) == before  # the score is computed before learning
    True
    >>> model.n_learned  # an outlier above the running 0.95 quantile is not learned
    100
    """

    def __init__(
        self,
        n_trees: int = 50,
        height: int = 5,
        window_size: int = 250,
        warmup: int = 500,
        quantile: float = 0.95,
        score_window: int = 1000,
        seed: int = 42,
        transform: FeatureTransform | None = None,
    ):
        if not 0.0 < quantile < 1.0:
            raise ValueError("quantile must be in (0, 1)")
        if n_trees < 1 or height < 1 or window_size < 1 or score_window < 1 or warmup < 0:
            raise ValueError("n_trees, height, window_size and score_window must be >= 1, warmup >= 0")
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.warmup = warmup
        self.quantile = quantile
        self.score_window = score_window
        self.seed = seed
        self.transform = transform

        self._transform = transform if transform is not None else FeatureTransform()
        # river's MinMaxScaler() | HalfSpaceTrees(...) as one model with flat trees, walked by compiled code
        # (detectors/hst.py): the same scores as river's pipeline
        self._hst = MinMaxHalfSpaceTrees(n_trees=n_trees, height=height, window_size=window_size, seed=seed)
        self._gate = stats.RollingQuantile(quantile, score_window)
        self._median = stats.RollingQuantile(0.5, score_window)
        self._p99 = stats.RollingQuantile(0.99, score_window)
        self._n_seen = 0
        self._n_learned = 0

    # -- metrics --

    @property
    def n_seen(self) -> int:
        """Observations passed to :meth:`update` or :meth:`learn_one`."""
        return self._n_seen

    @property
    def n_learned(self) -> int:
        """Observations the trees and the scaler have learned."""
        return self._n_learned

    @property
    def is_warm(self) -> bool:
        """True once ``warmup`` observations are seen and the trees have a reference window."""
        return self._n_seen >= self.warmup and self._n_learned >= self.window_size

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        pipeline = self.__dict__.pop("_pipeline", None)
        if pipeline is not None:  # pickled as river's MinMaxScaler() | HalfSpaceTrees(...) (before detectors.hst)
            scaler, hst = pipeline.steps.values()
            self._hst = MinMaxHalfSpaceTrees.from_pipeline(scaler, hst)

    @property
    def features(self) -> tuple[str, ...]:
        """Names of the (transformed) features the trees split on; empty before the first learn."""
        return self._hst.split_features()

    # -- scoring --

    def score_one(self, x: Mapping[str, float]) -> float:
        """Anomaly score of ``x`` in ``[0, 1]`` (higher = more anomalous); learns nothing.

        Before the trees have a full reference window the score is 0.
        """
        return self._score(self._transform(x))

    def _score(self, z: dict[str, float]) -> float:
        if self._n_learned < self.window_size:
            return 0.0
        s = float(self._hst.score_one(z))
        return 0.0 if s < 0.0 else 1.0 if s > 1.0 else s

    def learn_one(self, x: Mapping[str, float]) -> None:
        """Learn ``x`` unconditionally (no gate, no score bookkeeping)."""
        self._n_seen += 1
        self._learn(self._transform(x))

    def _learn(self, z: dict[str, float]) -> None:
        if not z and not self._hst.built:
            return  # river cannot build trees from an empty first observation
        self._hst.learn_one(z)
        self._n_learned += 1

    def update(self, x: Mapping[str, float]) -> float:
        """Score ``x``, then learn it unless it is anomalous; return the score from before learning.

        While not :attr:`is_warm` everything is learned. When warm, ``x`` is
        learned only if its score is below the running ``quantile`` of recent
        scores. The score then joins the recent scores that calibrate the gate
        and :meth:`anomaly_evidence`.
        """
        z = self._transform(x)
        real = self._n_learned >= self.window_size  # the trees have a reference window
        score = self._score(z)
        if self.is_warm:
            gate = self._gate.get()
            learn = gate is None or score < gate
        else:
            learn = True
        self._n_seen += 1
        if learn:
            self._learn(z)
        if real:
            self._gate.update(score)
            self._median.update(score)
            self._p99.update(score)
        return score

    def anomaly_evidence(self, score: float) -> float:
        """Evidence in ``[0, 1]`` that ``score`` is anomalous relative to recent population scores.

        0 at or below the running median of recent scores, 1 at or above their
        running 0.99 quantile, linear in between; 0 before any score is known.
        """
        med = self._median.get()
        hi = self._p99.get()
        if med is None or hi is None or not score > med:
            return 0.0
        if not hi > med:
            return 1.0
        e = (score - med) / (hi - med)
        return 1.0 if e >= 1.0 else e

    def score_quantiles(self) -> dict[str, float | None]:
        """The running median, gate quantile and 0.99 quantile of recent scores (for metrics/explain)."""
        return {"median": self._median.get(), "gate": self._gate.get(), "p99": self._p99.get()}

    def __repr__(self) -> str:
        return (
            f"AnomalyModel(n_trees={self.n_trees}, height={self.height}, window_size={self.window_size}, "
            f"warmup={self.warmup}, quantile={self.quantile}, score_window={self.score_window}, seed={self.seed}; "
            f"n_seen={self._n_seen}, n_learned={self._n_learned}, warm={self.is_warm})"
        )


# -- supervised model from analyst labels -----------------------------------------------------


class LabelModel(_Serialisable):
    """Online logistic regression learned from analyst labels.

    ``x`` goes through :class:`FeatureTransform`, then river's
    ``preprocessing.StandardScaler() | linear_model.LogisticRegression(optimizer=optim.SGD(lr), l2=l2)``.
    Its probabilities are withheld (``None``) until it has seen at least
    ``min_labels`` labels of each class.

    Parameters
    ----------
    lr
        SGD learning rate of the weights.
    l2
        L2 regularisation strength.
    min_labels
        Labels of each class needed before :meth:`predict_proba_one` answers.
    transform
        Feature transform; ``None`` means the default :class:`FeatureTransform`.

    Examples
    --------
    >>> m = LabelModel(min_labels=2)
    >>> m.learn_one({"elicitation_share": 0.9}, is_abusive=True)
    >>> m.predict_proba_one({"elicitation_share": 0.9}) is None
    True
    >>> for _ in range(10):
    ...     m.learn_one({"elicitation_share": 0.95}, is_abusive=True)
    ...     m.learn_one({"elicitation_share": 0.05}, is_abusive=False)
    >>> m.is_ready, m.n_abusive, m.n_benign
    (True, 11, 10)
    >>> m.predict_proba_one({"elicitation_share": 0.95}) > 0.5 > m.predict_proba_one({"elicitation_share": 0.05})
    True
    """

    def __init__(
        self,
        lr: float = 0.1,
        l2: float = 1e-4,
        min_labels: int = 5,
        transform: FeatureTransform | None = None,
    ):
        if lr <= 0.0 or l2 < 0.0 or min_labels < 1:
            raise ValueError("lr must be > 0, l2 >= 0, min_labels >= 1")
        self.lr = lr
        self.l2 = l2
        self.min_labels = min_labels
        self.transform = transform

        self._transform = transform if transform is not None else FeatureTransform()
        self._pipeline = preprocessing.StandardScaler() | linear_model.LogisticRegression(
            optimizer=optim.SGD(lr), l2=l2
        )
        self._n_abusive = 0
        self._n_benign = 0

    @property
    def n_abusive(self) -> int:
        """Abusive labels learned."""
        return self._n_abusive

    @property
    def n_benign(self) -> int:
        """Benign labels learned."""
        return self._n_benign

    @property
    def is_ready(self) -> bool:
        """True once at least ``min_labels`` labels of each class have been learned."""
        return self._n_abusive >= self.min_labels and self._n_benign >= self.min_labels

    def learn_one(self, x: Mapping[str, float], is_abusive: bool) -> None:
        """Learn one analyst label for an account whose features were ``x``."""
        y = bool(is_abusive)
        self._pipeline.learn_one(self._transform(x), y)
        if y:
            self._n_abusive += 1
        else:
            self._n_benign += 1

    def predict_proba_one(self, x: Mapping[str, float]) -> float | None:
        """Probability that ``x`` is abusive, or ``None`` while not :attr:`is_ready`."""
        if not self.is_ready:
            return None
        return float(self._pipeline.predict_proba_one(self._transform(x)).get(True, 0.0))

    def __repr__(self) -> str:
        return (
            f"LabelModel(lr={self.lr}, l2={self.l2}, min_labels={self.min_labels}; "
            f"n_abusive={self._n_abusive}, n_benign={self._n_benign})"
        )


# -- per-account change detector --------------------------------------------------------------


class PageHinkley:
    """Compact Page-Hinkley test for a shift in the mean of one stream.

    Same semantics, and the same floating-point operations, as
    ``river.drift.PageHinkley`` with the same parameters: a cumulative mean of
    the stream, the fading sums ``s_inc = alpha * s_inc + (x - mean) - delta``
    and ``s_dec = alpha * s_dec + (x - mean) + delta``, their running min / max,
    and a change once at least ``min_instances`` values are seen and
    ``s_inc - min(s_inc) > threshold`` (upward) or ``max(s_dec) - s_dec >
    threshold`` (downward). After a change the test starts afresh; river does
    that at the start of the next update, this class at once, which gives the
    same detections and a clean state to store.

    Its whole state is six plain numbers, :meth:`to_tuple`, so one can live in
    every account's state (:data:`STRUCT_FORMAT` packs it in 48 bytes). The
    parameters are configuration, not state: pass them again to
    :meth:`from_tuple`.

    Parameters
    ----------
    min_instances
        Values needed before a change can be detected.
    delta
        Magnitude of change tolerated (the test's slack).
    threshold
        Detection threshold (lambda).
    alpha
        Forgetting factor of the cumulative sums.
    mode
        ``"up"``, ``"down"`` or ``"both"`` (detect increases, decreases or either).

    Examples
    --------
    >>> import random
    >>> rng = random.Random(12345)
    >>> ph = PageHinkley()
    >>> stream = rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)
    >>> [i for i, v in enumerate(stream) if ph.update(v)]  # river's own example: index 1006
    [1006]
    >>> import struct
    >>> state = struct.pack(PageHinkley.STRUCT_FORMAT, *ph.to_tuple())
    >>> len(state), PageHinkley.from_tuple(struct.unpack(PageHinkley.STRUCT_FORMAT, state)).to_tuple() == ph.to_tuple()
    (48, True)
    """

    __slots__ = (
        "min_instances",
        "delta",
        "threshold",
        "alpha",
        "mode",
        "_n",
        "_mean",
        "_inc",
        "_dec",
        "_min_inc",
        "_max_dec",
        "_min_f",
        "_delta_f",
        "_threshold_f",
        "_alpha_f",
        "_up",
        "_down",
    )

    #: ``struct`` format of :meth:`to_tuple`: count, mean, two sums, their min and max.
    STRUCT_FORMAT: ClassVar[str] = "<q5d"

    _MODES = ("up", "down", "both")

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1 - 0.0001,
        mode: str = "both",
    ):
        if mode not in self._MODES:
            raise ValueError(f"mode must be one of {self._MODES}")
        self.min_instances = min_instances
        self.delta = delta
        self.threshold = threshold
        self.alpha = alpha
        self.mode = mode
        # the same as floats (C doubles when compiled; the arithmetic promotes them so anyway), and the mode
        self._min_f, self._delta_f = float(min_instances), float(delta)
        self._threshold_f, self._alpha_f = float(threshold), float(alpha)
        self._up, self._down = mode != "down", mode != "up"
        self._reset()

    def _reset(self) -> None:
        self._n = 0
        self._mean = 0.0
        self._inc = 0.0
        self._dec = 0.0
        self._min_inc = math.inf
        self._max_dec = -1.0  # river starts it at -1, not -inf; keep that for identical detections

    @property
    def n(self) -> int:
        """Values seen since the last change (or the start)."""
        return self._n

    def update(self, x: float) -> bool:
        """Add ``x``; True when a change is detected (the test then starts afresh)."""
        n = self._n + 1
        self._n = n
        mean = self._mean
        mean += (1.0 / n) * (x - mean)
        self._mean = mean
        dev = x - mean
        alpha = self._alpha_f
        inc = alpha * self._inc + dev - self._delta_f
        dec = alpha * self._dec + dev + self._delta_f
        self._inc = inc
        self._dec = dec
        if inc < self._min_inc:
            self._min_inc = inc
        if dec > self._max_dec:
            self._max_dec = dec
        if n < self._min_f:
            return False
        up = self._up and inc - self._min_inc > self._threshold_f
        down = self._down and self._max_dec - dec > self._threshold_f
        if up or down:
            self._reset()
            return True
        return False

    def to_tuple(self) -> tuple[int, float, float, float, float, float]:
        """The state as plain numbers: ``(n, mean, s_inc, s_dec, min_s_inc, max_s_dec)``."""
        return (self._n, self._mean, self._inc, self._dec, self._min_inc, self._max_dec)

    @classmethod
    def from_tuple(cls, values, **params) -> PageHinkley:
        """Rebuild from :meth:`to_tuple` output; ``params`` are the constructor arguments."""
        ph = cls(**params)
        ph.load(values)
        return ph

    def load(self, values) -> None:
        """Take the state in :meth:`to_tuple` output (one instance can test many streams in turn)."""
        n, mean, inc, dec, min_inc, max_dec = values
        self._n = int(n)
        self._mean = float(mean)
        self._inc = float(inc)
        self._dec = float(dec)
        self._min_inc = float(min_inc)
        self._max_dec = float(max_dec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PageHinkley):
            return NotImplemented
        return self.to_tuple() == other.to_tuple() and all(
            getattr(self, p) == getattr(other, p) for p in ("min_instances", "delta", "threshold", "alpha", "mode")
        )

    def __repr__(self) -> str:
        return (
            f"PageHinkley(min_instances={self.min_instances}, delta={self.delta}, threshold={self.threshold}, "
            f"alpha={self.alpha}, mode={self.mode!r}; n={self._n})"
        )


# -- population baselines --------------------------------------------------------------------


def _population_update(qs: dict, ns: dict, fast: dict, x: dict, levels, names) -> None:
    """:meth:`PopulationStats.update` but the count (a function, so that its loop is typed when compiled):
    the features ``names`` of ``x`` (those it has).

    Each value goes straight to the three river quantiles' Rust estimators (``fast``: their ``update``
    methods by feature), past the Python wrapper, whose only other work is to note its first update.
    """
    for k in names:
        value = x.get(k)
        try:
            v = float(value)
        except (TypeError, ValueError):
            continue
        if not isfinite(v):
            continue
        updates = fast.get(k)
        if updates is None:
            q = qs.get(k)
            if q is None:
                q = qs[k] = tuple([stats.Quantile(level) for _, level in levels])
                ns[k] = 0
            for quantile in q:
                quantile._is_updated = True  # what river's Quantile.update() notes, and this update makes true
            updates = fast[k] = (q[0]._quantile.update, q[1]._quantile.update, q[2]._quantile.update)
        fv = v  # one float object for the three updates
        updates[0](fv)
        updates[1](fv)
        updates[2](fv)
        ns[k] += 1


class PopulationStats(_Serialisable):
    """Running per-feature population median, p90 and p99.

    Updated once per account scoring (not per event) with the account's raw
    feature vector, so explanations stay in the features' own units. Each
    quantile is river's ``stats.Quantile`` (the P² estimator: five markers,
    O(1) memory and time, about 0.1 µs per update), one per feature and level;
    features are created as they first appear and non-finite values are
    skipped. Note that an account scored more often weighs more in the
    population.

    Parameters
    ----------
    min_samples
        Values of a feature needed before its baseline is reported.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(3)
    >>> pop = PopulationStats()
    >>> for _ in range(5000):
    ...     pop.update({"rate_per_min_1m": rng.uniform(0.0, 100.0)})
    >>> {k: round(v) for k, v in pop.baseline("rate_per_min_1m").items()}
    {'median': 49, 'p90': 90, 'p99': 99}
    >>> pop.relative("rate_per_min_1m", 20.0), pop.relative("rate_per_min_1m", 90.0), pop.relative("rate_per_min_1m", 500.0)
    (0.0, 0.5..., 1.0)
    >>> pop.baseline("unknown") is None
    True
    """

    LEVELS: ClassVar[tuple[tuple[str, float], ...]] = (("median", 0.5), ("p90", 0.9), ("p99", 0.99))

    def __init__(self, min_samples: int = 50):
        if min_samples < 1:
            raise ValueError("min_samples must be >= 1")
        self.min_samples = min_samples
        self._q: dict[str, tuple[stats.Quantile, stats.Quantile, stats.Quantile]] = {}
        self._n: dict[str, int] = {}
        self._n_updates = 0
        self._fast: dict[str, tuple] = {}  # feature -> its quantiles' estimator updates (not pickled)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_fast", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._fast = {}

    @property
    def n_updates(self) -> int:
        """Feature vectors seen."""
        return self._n_updates

    @property
    def names(self) -> tuple[str, ...]:
        """Features that have a baseline (at least ``min_samples`` values)."""
        return tuple(k for k, n in self._n.items() if n >= self.min_samples)

    def count(self, name: str) -> int:
        """Values of feature ``name`` seen."""
        return self._n.get(name, 0)

    def update(self, x: Mapping[str, float], names: Iterable[str] | None = None) -> None:
        """Add one account's feature vector (``x`` is not mutated); with ``names``, only those of its
        features (the others keep the baselines they have)."""
        x = x if type(x) is dict else dict(x)
        _population_update(self._q, self._n, self._fast, x, self.LEVELS, x if names is None else names)
        self._n_updates += 1

    def baseline(self, name: str) -> dict[str, float] | None:
        """``{"median": …, "p90": …, "p99": …}`` of feature ``name``, or None without enough data."""
        if self._n.get(name, 0) < self.min_samples:
            return None
        q = self._q[name]
        return {label: q[i].get() for i, (label, _) in enumerate(self.LEVELS)}

    def relative(self, name: str, value: float) -> float:
        """Position of ``value`` in the population of feature ``name``, in ``[0, 1]``.

        Piecewise linear: 0 at or below the median, 0.5 at p90, 1 at or above
        p99. 0 when the feature has no baseline yet or ``value`` is not finite
        (no evidence).
        """
        b = self.baseline(name)
        try:
            value = float(value)
        except (TypeError, ValueError):
            return 0.0
        if b is None or not _isfinite(value):
            return 0.0
        med, p90, p99 = b["median"], b["p90"], b["p99"]
        if value <= med:
            return 0.0
        if value >= p99:
            return 1.0
        if value <= p90:
            return 0.5 * (value - med) / (p90 - med)  # p90 > med here, since med < value <= p90
        return 0.5 + 0.5 * (value - p90) / (p99 - p90)  # p99 > p90 here, since p90 < value < p99

    def __repr__(self) -> str:
        return f"PopulationStats(min_samples={self.min_samples}; features={len(self._q)}, n_updates={self._n_updates})"
