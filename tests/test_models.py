"""Tests of ``detectors.models``: one contract suite over every model, then each model's own job.

The contract, in the spirit of river's ``checks/``: bytes round-trip gives
identical subsequent outputs, same seed gives same outputs, inputs are not
mutated, features may appear or vanish, constructor arguments are stored
unchanged, unreadable bytes raise ``ModelVersionError``.
"""

from __future__ import annotations

import copy
import inspect
import math
import pickle
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import river
from river import drift

from detectors.features import FEATURE_NAMES
from detectors.models import (
    MODEL_MAGIC,
    MODEL_SCHEMA_VERSION,
    AnomalyModel,
    FeatureTransform,
    LabelModel,
    ModelVersionError,
    PageHinkley,
    PopulationStats,
)

# Whatever the feature module exports today, plus names a later version may add:
# nothing here may depend on the exact list.
NAMES = tuple(FEATURE_NAMES) + ("distinct_topics", "template_share", "mean_reasoning_tokens", "sweep_ratio")
_T = FeatureTransform()


def normal_x(rng: random.Random) -> dict[str, float]:
    """A typical account: moderate counts and rates, low shares."""
    return {n: (rng.lognormvariate(1.0, 1.0) if _T.is_log(n) else rng.betavariate(2, 8)) for n in NAMES}


def outlier_x(rng: random.Random) -> dict[str, float]:
    """An obvious harvester: huge counts and rates, shares near 1."""
    return {n: (rng.lognormvariate(6.0, 0.5) if _T.is_log(n) else rng.betavariate(9, 1)) for n in NAMES}


def labelled_x(rng: random.Random) -> tuple[dict[str, float], bool]:
    """A linearly separable toy problem: abusive accounts elicit reasoning and run hot."""
    y = rng.random() < 0.5
    x = normal_x(rng)
    x["elicitation_share"] = rng.uniform(0.7, 1.0) if y else rng.uniform(0.0, 0.3)
    x["rate_per_min_10m"] = rng.uniform(50.0, 200.0) if y else rng.uniform(0.0, 5.0)
    return x, y


def roc_auc(pos: list[float], neg: list[float]) -> float:
    """Mann-Whitney estimate of ROC AUC (ties count one half)."""
    wins = 0.0
    neg_sorted = sorted(neg)
    import bisect

    for s in pos:
        lo = bisect.bisect_left(neg_sorted, s)
        hi = bisect.bisect_right(neg_sorted, s)
        wins += lo + 0.5 * (hi - lo)
    return wins / (len(pos) * len(neg))


def test_roc_auc_helper():
    assert roc_auc([3, 4], [1, 2]) == 1.0
    assert roc_auc([1, 2], [3, 4]) == 0.0
    assert roc_auc([1], [1]) == 0.5


# -- the contract suite ----------------------------------------------------------------------


@dataclass
class Case:
    """How the contract drives one population-level model class."""

    cls: type
    make: Callable[[int], Any]  # seed -> fresh model
    feed: Callable[[Any, dict, random.Random], Any]  # learn from one observation, return its output
    probe: Callable[[Any, dict], Any]  # read-only outputs for x


def _feed_label(m: LabelModel, x: dict, rng: random.Random) -> None:
    m.learn_one(x, is_abusive=x.get("elicitation_share", 0.0) > 0.5)


CASES = {
    "AnomalyModel": Case(
        AnomalyModel,
        lambda seed: AnomalyModel(n_trees=10, height=5, window_size=40, warmup=80, score_window=200, seed=seed),
        lambda m, x, rng: m.update(x),
        lambda m, x: (m.score_one(x), m.anomaly_evidence(m.score_one(x)), m.n_seen, m.n_learned, m.is_warm),
    ),
    "LabelModel": Case(
        LabelModel,
        lambda seed: LabelModel(min_labels=3),
        _feed_label,
        lambda m, x: (m.predict_proba_one(x), m.n_abusive, m.n_benign, m.is_ready),
    ),
    "PopulationStats": Case(
        PopulationStats,
        lambda seed: PopulationStats(min_samples=10),
        lambda m, x, rng: m.update(x),
        lambda m, x: (
            m.n_updates,
            [m.baseline(k) for k in sorted(x)],
            [m.relative(k, v) for k, v in sorted(x.items())],
        ),
    ),
}
case_params = pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))


def _stream(seed: int, n: int) -> list[dict[str, float]]:
    rng = random.Random(seed)
    return [outlier_x(rng) if rng.random() < 0.05 else normal_x(rng) for _ in range(n)]


def _run(case: Case, model, xs) -> list:
    rng = random.Random(0)
    out = []
    for x in xs:
        out.append(case.feed(model, x, rng))
        out.append(case.probe(model, x))
    return out


@case_params
def test_bytes_round_trip_gives_identical_subsequent_outputs(case: Case):
    xs = _stream(1, 400)
    m = case.make(7)
    _run(case, m, xs[:250])
    data = m.to_bytes()
    assert data[:3] == MODEL_MAGIC and data[3] == MODEL_SCHEMA_VERSION
    clone = case.cls.from_bytes(data)
    assert type(clone) is case.cls
    assert _run(case, clone, xs[250:]) == _run(case, m, xs[250:])
    # (the bytes themselves need not be equal: pickle memoises shared strings by identity)


@case_params
def test_fresh_model_round_trips(case: Case):
    m = case.make(7)
    clone = case.cls.from_bytes(m.to_bytes())
    xs = _stream(2, 150)
    assert _run(case, clone, xs) == _run(case, m, xs)


@case_params
def test_same_seed_same_outputs(case: Case):
    xs = _stream(3, 300)
    assert _run(case, case.make(11), xs) == _run(case, case.make(11), xs)


def test_anomaly_model_seed_matters():
    xs = _stream(3, 300)
    a, b = CASES["AnomalyModel"].make(1), CASES["AnomalyModel"].make(2)
    for x in xs:
        a.update(x)
        b.update(x)
    assert [a.score_one(x) for x in xs[:20]] != [b.score_one(x) for x in xs[:20]]


@case_params
def test_inputs_are_not_mutated(case: Case):
    m = case.make(5)
    rng = random.Random(0)
    for x in _stream(4, 200):
        x["bogus_nan"] = math.nan
        before = copy.deepcopy(x)
        case.feed(m, x, rng)
        case.probe(m, x)
        assert x.keys() == before.keys()
        assert all(x[k] == before[k] or (math.isnan(x[k]) and math.isnan(before[k])) for k in x)


@case_params
def test_features_may_appear_or_vanish(case: Case):
    m = case.make(5)
    rng = random.Random(9)
    for i, x in enumerate(_stream(5, 400)):
        keep = {k: v for k, v in x.items() if rng.random() < 0.7}  # vanish
        if i % 3 == 0:
            keep[f"late_feature_{i % 7}"] = rng.random()  # appear
        if i % 50 == 0:
            keep = {}  # nothing at all
        case.feed(m, keep, rng)
        case.probe(m, keep)
    # and the model still works on full vectors afterwards
    case.probe(m, normal_x(rng))


@case_params
def test_constructor_arguments_are_stored_unchanged(case: Case):
    params = {name: p.default for name, p in inspect.signature(case.cls.__init__).parameters.items() if name != "self"}
    m = case.cls(**params)
    for name, value in params.items():
        assert getattr(m, name) is value, name
    for value in params.values():  # no mutable defaults
        assert not isinstance(value, (list, dict, set))


def test_page_hinkley_stores_its_arguments_unchanged():
    params = {"min_instances": 7, "delta": 0.25, "threshold": 12.5, "alpha": 0.99, "mode": "up"}
    ph = PageHinkley(**params)
    assert all(getattr(ph, k) is v for k, v in params.items())


@case_params
def test_unreadable_bytes_raise_model_version_error(case: Case):
    m = case.make(3)
    _run(case, m, _stream(6, 120))
    good = m.to_bytes()
    rv = river.__version__.encode()
    head = len(MODEL_MAGIC) + 2 + len(rv)
    body = good[head:]
    other_rv = b"0.0.1"
    bad = {
        "magic": b"XYZ" + good[3:],
        "schema version": good[:3] + bytes([MODEL_SCHEMA_VERSION + 1]) + good[4:],
        "river version": MODEL_MAGIC + bytes([MODEL_SCHEMA_VERSION, len(other_rv)]) + other_rv + body,
        "truncated header": good[:5],
        "truncated pickle": good[: head + len(body) // 2],
        "garbage pickle": good[:head] + b"\x80\x05not a pickle",
        "missing class": good[:head] + pickle.dumps(1)[:2] + b"cno_such_module\nNoSuchClass\n.",
        "empty": b"",
        "not bytes": None,
    }
    for what, data in bad.items():
        with pytest.raises(ModelVersionError):
            case.cls.from_bytes(data)
        assert what  # (named cases only, for the reader)
    # bytes of another model class are no good either
    for other in CASES.values():
        if other.cls is not case.cls:
            with pytest.raises(ModelVersionError):
                case.cls.from_bytes(other.make(0).to_bytes())
    assert issubclass(ModelVersionError, ValueError)
    assert type(case.cls.from_bytes(good)) is case.cls


# -- FeatureTransform ---------------------------------------------------------------------------


def test_feature_transform_rule():
    t = FeatureTransform()
    x = {
        "events": 99.0,
        "rate_per_min_1m": math.e - 1,
        "mean_output_tokens": 0.0,
        "distinct_topics": 3.0,
        "output_input_ratio": 1.0,
        "active_hours": 9.0,
        "cluster_size": 0.0,
        "elicitation_share": 0.25,
        "timing_regularity": 0.9,
        "new_unknown_share": 0.5,
        "rate_bad": math.inf,
        "share_bad": math.nan,
        "not_a_number": "x",
        "rate_negative": -(math.e - 1),
    }
    z = t(x)
    assert z == pytest.approx(
        {
            "events": math.log(100.0),
            "rate_per_min_1m": 1.0,
            "mean_output_tokens": 0.0,
            "distinct_topics": math.log(4.0),
            "output_input_ratio": math.log(2.0),
            "active_hours": math.log(10.0),
            "cluster_size": 0.0,
            "elicitation_share": 0.25,
            "timing_regularity": 0.9,
            "new_unknown_share": 0.5,
            "rate_negative": -1.0,
        }
    )
    assert "rate_bad" in x and "share_bad" in x  # not mutated
    assert t.transform_one(x) == z
    assert pickle.loads(pickle.dumps(t))(x) == z


def test_every_current_feature_maps_to_a_finite_value():
    z = FeatureTransform()({n: 1.0 for n in FEATURE_NAMES})
    assert z.keys() == set(FEATURE_NAMES)
    assert all(math.isfinite(v) for v in z.values())


# -- AnomalyModel ----------------------------------------------------------------------------------


def test_update_returns_the_score_computed_before_learning():
    m = AnomalyModel(n_trees=10, height=5, window_size=30, warmup=60, seed=3)
    rng = random.Random(4)
    for i in range(300):
        x = outlier_x(rng) if i % 17 == 0 else normal_x(rng)
        twin = AnomalyModel.from_bytes(m.to_bytes())
        expected = twin.score_one(x)
        twin.learn_one(x)
        learned_score = twin.score_one(x)
        got = m.update(x)
        assert got == expected
        if i > 60 and learned_score != expected:
            break
    else:
        pytest.fail("learning never changed a score: the test cannot tell score-before-learn apart")


def test_warm_up_learns_everything_and_scores_are_in_range():
    m = AnomalyModel(n_trees=10, height=5, window_size=50, warmup=120, seed=1)
    rng = random.Random(1)
    assert not m.is_warm and m.n_seen == m.n_learned == 0
    assert m.score_one(normal_x(rng)) == 0.0
    assert m.anomaly_evidence(0.9) == 0.0  # nothing to compare with yet
    for i in range(120):
        x = outlier_x(rng) if i % 10 == 0 else normal_x(rng)
        assert not m.is_warm
        s = m.update(x)
        assert 0.0 <= s <= 1.0
        assert m.n_learned == m.n_seen == i + 1
    assert m.is_warm
    assert 0.0 <= m.score_one(outlier_x(rng)) <= 1.0


def test_is_warm_also_waits_for_the_first_tree_window():
    m = AnomalyModel(n_trees=5, height=4, window_size=100, warmup=10, seed=1)
    rng = random.Random(2)
    for _ in range(99):
        m.update(normal_x(rng))
    assert not m.is_warm
    m.update(normal_x(rng))
    assert m.is_warm


def test_anomaly_model_beats_chance():
    """Default parameters, a seeded population with a few obvious outliers: ROC AUC > 0.8."""
    rng = random.Random(2024)
    m = AnomalyModel(seed=5)
    pos: list[float] = []
    neg: list[float] = []
    ev_pos: list[float] = []
    ev_neg: list[float] = []
    for _ in range(2500):
        outlier = m.is_warm and rng.random() < 0.02
        warm = m.is_warm
        s = m.update(outlier_x(rng) if outlier else normal_x(rng))
        if warm:
            (pos if outlier else neg).append(s)
            (ev_pos if outlier else ev_neg).append(m.anomaly_evidence(s))
    assert len(pos) >= 20
    assert roc_auc(pos, neg) > 0.8
    assert sum(ev_pos) / len(ev_pos) > 0.8  # calibrated evidence is high for the outliers …
    assert sum(ev_neg) / len(ev_neg) < 0.2  # … and low for the population


def _feed_contaminated(m: AnomalyModel, rng: random.Random, n: int, rate: float) -> tuple[int, int, int, int]:
    """Feed ``n`` updates, a share ``rate`` of them outliers; count how many of each were learned."""
    learned_out = learned_norm = n_out = n_norm = 0
    for _ in range(n):
        outlier = rng.random() < rate
        before = m.n_learned
        m.update(outlier_x(rng) if outlier else normal_x(rng))
        learned = m.n_learned - before
        if outlier:
            n_out, learned_out = n_out + 1, learned_out + learned
        else:
            n_norm, learned_norm = n_norm + 1, learned_norm + learned
    return learned_out, n_out, learned_norm, n_norm


def test_anomalies_are_kept_out_of_the_baseline():
    m = AnomalyModel(n_trees=20, height=5, window_size=100, warmup=300, seed=8)
    rng = random.Random(8)
    for _ in range(300):
        m.update(normal_x(rng))
    assert m.is_warm and m.n_learned == m.n_seen == 300
    learned_out, n_out, learned_norm, n_norm = _feed_contaminated(m, rng, 1000, rate=0.04)
    assert m.n_seen == 1300
    assert m.n_learned - 300 < 1000  # n_learned grows slower than n_seen
    assert n_out >= 25 and learned_out <= 0.05 * n_out  # the outliers stay out of the baseline
    assert learned_norm >= 0.9 * n_norm  # while the population keeps being learned


def test_a_denser_campaign_needs_a_lower_quantile():
    """The gate is relative: it holds out about ``1 - quantile`` of the scorings, no more.

    With 10% of the scorings anomalous, ``quantile=0.8`` still keeps them out.
    (At ``quantile=0.95`` a large part of them would be learned.)
    """
    m = AnomalyModel(n_trees=20, height=5, window_size=100, warmup=300, quantile=0.8, seed=3)
    rng = random.Random(3)
    for _ in range(300):
        m.update(normal_x(rng))
    learned_out, n_out, learned_norm, n_norm = _feed_contaminated(m, rng, 1000, rate=0.1)
    assert n_out >= 60 and learned_out <= 0.05 * n_out
    assert learned_norm >= 0.85 * n_norm


def test_anomaly_evidence_is_calibrated_on_recent_scores():
    m = AnomalyModel(n_trees=10, height=5, window_size=50, warmup=100, seed=2)
    rng = random.Random(3)
    for _ in range(600):
        m.update(normal_x(rng))
    q = m.score_quantiles()
    assert q["median"] < q["gate"] < q["p99"]
    assert m.anomaly_evidence(q["median"]) == 0.0
    assert m.anomaly_evidence(q["median"] - 0.1) == 0.0
    assert m.anomaly_evidence(q["p99"]) == 1.0
    assert m.anomaly_evidence(1.0) == 1.0
    mid = m.anomaly_evidence((q["median"] + q["p99"]) / 2)
    assert mid == pytest.approx(0.5)
    grid = [i / 100 for i in range(101)]
    ev = [m.anomaly_evidence(s) for s in grid]
    assert all(0.0 <= e <= 1.0 for e in ev) and ev == sorted(ev)


def test_anomaly_model_uses_whatever_features_arrive():
    m = AnomalyModel(n_trees=10, height=5, window_size=20, warmup=20, seed=1)
    m.update({})  # an empty first vector is not learned (river cannot build trees from it)
    assert m.n_seen == 1 and m.n_learned == 0 and m.features == ()
    rng = random.Random(0)
    for _ in range(40):
        m.update({"brand_new_rate_feature": rng.random(), "another_share": rng.random()})
    assert set(m.features) <= {"brand_new_rate_feature", "another_share"} and m.features


# -- LabelModel ------------------------------------------------------------------------------------


def test_label_model_is_silent_before_min_labels_of_each_class():
    m = LabelModel(min_labels=5)
    rng = random.Random(1)
    for _ in range(20):
        x, _ = labelled_x(rng)
        m.learn_one(x, is_abusive=True)
    for _ in range(4):
        x, _ = labelled_x(rng)
        m.learn_one(x, is_abusive=False)
    assert (m.n_abusive, m.n_benign, m.is_ready) == (20, 4, False)
    assert m.predict_proba_one(x) is None
    m.learn_one(x, is_abusive=False)
    assert m.is_ready and 0.0 <= m.predict_proba_one(x) <= 1.0


def test_label_model_learns_a_separable_problem():
    """Two informative features among ~25 noisy ones; 100 analyst labels."""
    m = LabelModel()
    rng = random.Random(7)
    for _ in range(100):
        x, y = labelled_x(rng)
        m.learn_one(x, y)
    assert m.is_ready
    test = [labelled_x(rng) for _ in range(400)]
    p_pos = [m.predict_proba_one(x) for x, y in test if y]
    p_neg = [m.predict_proba_one(x) for x, y in test if not y]
    assert sum(p_pos) / len(p_pos) > 0.8
    assert sum(p_neg) / len(p_neg) < 0.2
    assert sum(p > 0.8 for p in p_pos) >= 0.75 * len(p_pos)
    assert sum(p < 0.2 for p in p_neg) >= 0.75 * len(p_neg)
    # with ~25 noisy features and 100 labels a stray account may sit near 0.5, not many
    assert sum(p > 0.5 for p in p_pos) + sum(p < 0.5 for p in p_neg) >= 0.97 * len(test)


# -- PageHinkley ------------------------------------------------------------------------------------


def _streams() -> dict[str, list[float]]:
    rng = random.Random(12345)
    g = rng.gauss
    return {
        "step_up": [g(0.0, 1.0) for _ in range(500)] + [g(3.0, 1.0) for _ in range(500)],
        "step_down": [g(5.0, 1.0) for _ in range(500)] + [g(1.0, 1.0) for _ in range(500)],
        "no_change": [g(2.0, 0.5) for _ in range(1500)],
        "noise": [rng.uniform(-10.0, 10.0) for _ in range(1500)],
        "heavy_noise": [rng.expovariate(0.1) for _ in range(1500)],
        "several_steps": [g(m, 1.0) for m in (0, 4, 1, 8, -3) for _ in range(300)],
        "integers": rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000),
        "slow_drift": [g(i / 200.0, 1.0) for i in range(1500)],
    }


PH_PARAMS = [
    {},
    {"min_instances": 10, "delta": 0.05, "threshold": 10.0},
    {"min_instances": 5, "delta": 0.0, "threshold": 3.0, "alpha": 0.99},
    {"threshold": 20.0, "mode": "up"},
    {"threshold": 20.0, "mode": "down"},
]


def _detections(detector, xs) -> list[int]:
    out = []
    for i, v in enumerate(xs):
        if isinstance(detector, PageHinkley):
            if detector.update(v):
                out.append(i)
        else:
            detector.update(v)
            if detector.drift_detected:
                out.append(i)
    return out


@pytest.mark.parametrize("params", PH_PARAMS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "defaults")
def test_page_hinkley_matches_river(params):
    found_any = False
    for name, xs in _streams().items():
        ours = _detections(PageHinkley(**params), xs)
        theirs = _detections(drift.PageHinkley(**params), xs)
        assert ours == theirs, name
        found_any = found_any or bool(theirs)
    assert found_any  # the comparison is not vacuous


def test_page_hinkley_detects_the_step_and_not_the_flat_stream():
    s = _streams()
    assert _detections(PageHinkley(), s["no_change"]) == []
    # (Page-Hinkley may also raise an occasional false alarm on unit-variance noise; river's does too)
    assert any(500 <= i < 560 for i in _detections(PageHinkley(), s["step_up"]))
    assert any(500 <= i < 560 for i in _detections(PageHinkley(), s["step_down"]))


def test_page_hinkley_state_round_trips_through_a_struct():
    xs = _streams()["several_steps"]
    params = {"min_instances": 10, "delta": 0.05, "threshold": 10.0}
    whole = _detections(PageHinkley(**params), xs)
    ph = PageHinkley(**params)
    resumed = []
    for i, v in enumerate(xs):
        if i % 37 == 0:  # the caller stores and reloads the state between batches
            packed = struct.pack(PageHinkley.STRUCT_FORMAT, *ph.to_tuple())
            assert len(packed) == struct.calcsize(PageHinkley.STRUCT_FORMAT) == 48
            ph = PageHinkley.from_tuple(struct.unpack(PageHinkley.STRUCT_FORMAT, packed), **params)
        if ph.update(v):
            resumed.append(i)
    assert resumed == whole and len(whole) >= 3
    t = ph.to_tuple()
    assert isinstance(t[0], int) and all(isinstance(v, float) for v in t[1:])
    assert PageHinkley.from_tuple(t, **params) == ph


def test_page_hinkley_resets_after_a_detection_and_rejects_bad_mode():
    ph = PageHinkley(min_instances=1, threshold=1.0)
    hits = [ph.update(v) for v in [0.0] * 5 + [10.0]]
    assert hits[-1] and ph.n == 0
    assert ph.to_tuple() == PageHinkley(min_instances=1, threshold=1.0).to_tuple()
    with pytest.raises(ValueError):
        PageHinkley(mode="sideways")


def test_page_hinkley_does_not_mutate_its_input():
    xs = _streams()["step_up"]
    before = list(xs)
    _detections(PageHinkley(), xs)
    assert xs == before


# -- PopulationStats ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "draw",
    [
        lambda r: r.lognormvariate(1.0, 1.0),
        lambda r: r.expovariate(0.2),
        lambda r: r.uniform(10.0, 110.0),
        lambda r: r.betavariate(2, 8),
    ],
    ids=["lognormal", "exponential", "uniform", "beta"],
)
def test_population_quantiles_are_close_to_numpy(draw):
    rng = random.Random(99)
    values = [draw(rng) for _ in range(10_000)]
    pop = PopulationStats()
    for v in values:
        pop.update({"f": v})
    b = pop.baseline("f")
    ref = np.quantile(values, [0.5, 0.9, 0.99])
    data = np.sort(values)
    for (label, q), want in zip(PopulationStats.LEVELS, ref):
        got = b[label]
        assert got == pytest.approx(want, rel=0.03 if q < 0.99 else 0.06), label  # P² is weakest in the tail
        rank = np.searchsorted(data, got) / len(data)
        assert abs(rank - q) < 0.005, label  # … but the estimate's rank is right


def test_population_relative_position():
    pop = PopulationStats(min_samples=20)
    assert pop.relative("f", 5.0) == 0.0 and pop.baseline("f") is None
    for i in range(1000):
        pop.update({"f": float(i % 100), "g": 1.0, "bad": math.nan})
    b = pop.baseline("f")
    assert b["median"] < b["p90"] < b["p99"]
    assert pop.relative("f", b["median"]) == 0.0
    assert pop.relative("f", -5.0) == 0.0
    assert pop.relative("f", b["p90"]) == pytest.approx(0.5)
    assert pop.relative("f", b["p99"]) == 1.0
    assert pop.relative("f", 1e9) == 1.0
    assert pop.relative("f", math.nan) == 0.0
    grid = [pop.relative("f", v / 2) for v in range(250)]
    assert grid == sorted(grid) and all(0.0 <= v <= 1.0 for v in grid)
    assert pop.relative("g", 1.0) == 0.0 and pop.relative("g", 2.0) == 1.0  # a constant feature
    assert pop.baseline("bad") is None and pop.count("bad") == 0
    assert set(pop.names) == {"f", "g"} and pop.n_updates == 1000


def test_population_quantiles_equal_rivers_own_updates_across_a_round_trip():
    """PopulationStats feeds river's Rust estimators directly: the same quantiles as river's Quantile.update,
    before and after the bytes round trip (which rebuilds the direct path)."""
    from river import stats

    rng = random.Random(5)
    rows = [{"a": rng.expovariate(1.0), "b": rng.random(), **({"c": rng.gauss(0, 1)} if i > 300 else {})}
            for i in range(3000)]
    pop = PopulationStats(min_samples=10)
    ref = {k: [stats.Quantile(q) for _, q in PopulationStats.LEVELS] for k in "abc"}
    for i, row in enumerate(rows):
        if i == 1500:
            pop = PopulationStats.from_bytes(pop.to_bytes())
        pop.update(row)
        for k, v in row.items():
            for q in ref[k]:
                q.update(v)
    for k in "abc":
        assert pop.baseline(k) == {label: ref[k][i].get() for i, (label, _) in enumerate(PopulationStats.LEVELS)}
    fresh = PopulationStats()
    assert fresh.baseline("a") is None and fresh._q == {}  # nothing before the first update
