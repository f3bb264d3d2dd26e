"""detectors.hst.HalfSpaceTrees against river's HalfSpaceTrees: the same model, so the same scores."""

from __future__ import annotations

import copy
import pickle
import random

import pytest
from river import anomaly, preprocessing

from detectors.hst import HalfSpaceTrees, MinMaxHalfSpaceTrees
from detectors.models import AnomalyModel, FeatureTransform


def stream(seed: int, n: int, names=("a", "b", "c", "d", "e")):
    rng = random.Random(seed)
    for i in range(n):
        x = {k: rng.random() ** (1 + j) for j, k in enumerate(names)}
        if i % 7 == 3:
            del x[rng.choice(names)]  # a missing feature follows the busier branch
        if i % 50 == 49:
            x["a"] = 5.0  # far outside the limits
        yield x


LIMITS = {"a": (0, 4), "b": (-1.5, 0.5), "d": (2, 2.25)}  # ints too, as river takes them; c and e: (0, 1)


@pytest.mark.parametrize("limits", [None, LIMITS], ids=["default-limits", "given-limits"])
@pytest.mark.parametrize("n_trees,height,window,seed", [(5, 3, 3, 42), (50, 5, 25, 7), (10, 8, 40, 1), (3, 1, 2, 0)])
def test_scores_and_masses_equal_rivers(n_trees, height, window, seed, limits):
    ours = HalfSpaceTrees(n_trees=n_trees, height=height, window_size=window, seed=seed, limits=limits)
    theirs = anomaly.HalfSpaceTrees(n_trees=n_trees, height=height, window_size=window, seed=seed, limits=limits)
    for i, x in enumerate(stream(seed, 600)):
        assert ours.score_one(x) == theirs.score_one(x)  # exactly: the same walks in the same order
        ours.learn_one(x)
        theirs.learn_one(x)
        if i == 0:  # the trees as built: the same splits, node by node in depth-first order
            nodes = [n for t in theirs.trees for n in t.iter_dfs()]
            assert [ours.names[f] if f >= 0 else None for f in ours._feature] == [
                getattr(n, "feature", None) for n in nodes]
            assert list(ours._threshold) == [getattr(n, "threshold", 0.0) for n in nodes]
    nodes = [n for t in theirs.trees for n in t.iter_dfs()]
    assert list(ours._l_mass) == [n.l_mass for n in nodes]
    assert list(ours._r_mass) == [n.r_mass for n in nodes]
    assert ours.split_features() == tuple(sorted({n.feature for n in nodes if hasattr(n, "feature")}))
    assert ours.rng.getstate() == theirs.rng.getstate()


def test_before_the_first_window_the_score_is_zero():
    hst = HalfSpaceTrees(n_trees=2, height=2, window_size=5, seed=1)
    assert hst.score_one({"a": 0.3}) == 0 and not hst.built
    hst.learn_one({"a": 0.3})
    assert hst.built and hst.score_one({"a": 0.3}) == 0


def test_from_river_continues_exactly_where_river_was():
    theirs = anomaly.HalfSpaceTrees(n_trees=20, height=4, window_size=30, seed=3)
    xs = list(stream(3, 400))
    for x in xs[:170]:  # mid-window
        theirs.learn_one(x)
    ours = HalfSpaceTrees.from_river(pickle.loads(pickle.dumps(theirs)))
    for x in xs[170:]:
        assert ours.score_one(x) == theirs.score_one(x)
        ours.learn_one(x)
        theirs.learn_one(x)


@pytest.mark.parametrize("seed", [0, 5, 11])
def test_minmax_trees_equal_rivers_pipeline(seed):
    """MinMaxScaler() | HalfSpaceTrees as one model: river's pipeline's scores, with features missing now and
    then, a feature that appears only later (the trees ignore it), and values far outside earlier ones."""
    ours = MinMaxHalfSpaceTrees(n_trees=30, height=5, window_size=25, seed=seed)
    theirs = preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(n_trees=30, height=5, window_size=25, seed=seed)
    for i, x in enumerate(stream(seed, 700)):
        if i > 300:
            x["late"] = i / 7.0
        if i % 97 == 5:
            x = {k: v * 1e6 for k, v in x.items()}
        assert ours.score_one(x) == theirs.score_one(x)
        ours.learn_one(x)
        theirs.learn_one(x)
    assert ours.score_one({}) == theirs.score_one({})


def test_an_anomaly_model_pickled_with_rivers_pipeline_loads_with_the_same_scores():
    """A partition context written before detectors.hst holds river's pipeline: it loads as the fused model
    in the same state, and scores on as the model that never left."""
    kw = dict(n_trees=10, height=4, window_size=20, warmup=40, seed=5)
    new = AnomalyModel(**kw)
    river_trees = anomaly.HalfSpaceTrees(n_trees=10, height=4, window_size=20, seed=5)
    pipeline = preprocessing.MinMaxScaler() | river_trees
    transform = FeatureTransform()
    xs = list(stream(5, 300))
    for x in xs[:150]:
        new.learn_one(x)
        pipeline.learn_one(transform(x))
    old = AnomalyModel.__new__(AnomalyModel)
    old.__dict__.update(copy.deepcopy({k: v for k, v in new.__dict__.items() if k != "_hst"}))
    old.__dict__.update(_hst=river_trees, _pipeline=pipeline)  # as AnomalyModel was pickled before
    loaded = AnomalyModel.from_bytes(old.to_bytes())
    assert type(loaded._hst) is MinMaxHalfSpaceTrees and "_pipeline" not in loaded.__dict__
    for x in xs[150:]:
        assert loaded.update(x) == new.update(x)
    assert loaded.features == new.features


def test_pickle_round_trip_keeps_the_trees():
    hst = HalfSpaceTrees(n_trees=4, height=3, window_size=10, seed=2)
    xs = list(stream(2, 60))
    for x in xs[:35]:
        hst.learn_one(x)
    back = pickle.loads(pickle.dumps(hst))
    for x in xs[35:]:
        assert back.score_one(x) == hst.score_one(x)
        back.learn_one(x)
        hst.learn_one(x)
