"""River's half-space trees, with each tree's nodes in flat arrays.

:class:`river.anomaly.HalfSpaceTrees` walks trees of Python node objects: with the 50 trees of height 5
that :class:`detectors.models.AnomalyModel` uses, a score costs about 80 µs and a learn about 160 µs on
the machines of docs/BENCHMARKS.md, the largest single cost of detection. :class:`HalfSpaceTrees` here is
the same model. It is a subclass of river's, its trees are grown as river's own ``make_padded_tree`` grows
them, with the same draws from the same seeded generator (so the same splits), and its walks are river's,
line for line. Only the storage differs: a tree of height ``h`` is complete, so its ``2 ** (h + 1) - 1``
nodes are laid out in depth-first order (a node's left child follows it; its right child is
``2 ** (h - depth)`` further on), one array per node attribute, walked by compiled code (``hst.pxd``).
Splits and scores are river's, bit for bit: tests/test_hst.py compares them with river's class on random
streams.

>>> hst = HalfSpaceTrees(n_trees=5, height=3, window_size=3, seed=42)
>>> for v in (0.5, 0.45, 0.43, 0.5, 0.45, 0.43):
...     hst.learn_one({"x": v})
>>> round(hst.score_one({"x": 0.44}), 3), round(hst.score_one({"x": 0.0}), 3)
(0.107, 0.853)
"""

from __future__ import annotations

import math
from array import array

import cython
from river import anomaly
from river.tree.padded import PaddedBranch

if not cython.compiled:  # compiled, C functions (hst.pxd)
    from .carray import f64, i32, i64

__all__ = ["HalfSpaceTrees", "MinMaxHalfSpaceTrees"]


def _grow(n: int, lo: array, hi: array, cum: array, height: int, random, feature: list, threshold: list) -> None:
    """River's ``make_padded_tree(limits, height, padding=0.15, rng)`` with ``limits`` the ``n`` features'
    ``(lo, hi)``, node by node in depth-first order into ``feature`` (an index; -1 for a leaf) and
    ``threshold``. River draws a branch's feature with ``rng.choices(range(n), weights=hi - lo)`` and its split
    with ``rng.uniform``; this is their arithmetic (CPython's ``random.choices``: cumulative weights, a draw
    scaled by their total, ``bisect_right`` below the last; ``uniform(a, b)``: ``a + (b - a) * random()``) on
    the same draws of ``random`` (the generator's ``random`` method), so the same splits, with the weights in
    ``cum`` (``n`` scratch doubles) instead of a list and a Python call per branch."""
    if height == 0:
        feature.append(-1)
        threshold.append(0.0)
        return
    lp = f64(lo)
    hp = f64(hi)
    cp = f64(cum)
    total = 0.0
    for i in range(n):
        total += hp[i] - lp[i]
        cp[i] = total
    if not total > 0.0:  # NaN too: random.choices' own errors
        raise ValueError("Total of weights must be greater than zero" if total == total else
                         "Total of weights must be finite")
    if total - total != 0.0:  # +inf
        raise ValueError("Total of weights must be finite")
    r = random()
    r = r * total
    left = 0
    right = n - 1
    while left < right:
        mid = (left + right) // 2
        if r < cp[mid]:
            right = mid
        else:
            left = mid + 1
    on = left
    a = lp[on]
    b = hp[on]
    x0 = a + 0.15 * (b - a)
    x1 = b - 0.15 * (b - a)
    u = random()
    at = x0 + (x1 - x0) * u
    feature.append(on)
    threshold.append(at)
    hp[on] = at
    _grow(n, lo, hi, cum, height - 1, random, feature, threshold)
    hp[on] = b
    lp[on] = at
    _grow(n, lo, hi, cum, height - 1, random, feature, threshold)
    lp[on] = a


class HalfSpaceTrees(anomaly.HalfSpaceTrees):
    """:class:`river.anomaly.HalfSpaceTrees` with flat trees (see the module docstring).

    The parameters are river's. ``trees`` stays empty: the trees are :attr:`names` (the features the
    trees may split on, sorted: those of the first observation learned) and one array per node
    attribute, the trees one after the other.
    """

    def __init__(self, n_trees=10, height=8, window_size=250, limits=None, seed=None):
        super().__init__(n_trees=n_trees, height=height, window_size=window_size, limits=limits, seed=seed)
        self.names: tuple = ()
        self._feature = array("i")  # per node: index into names; -1 for a leaf
        self._threshold = array("d")
        self._l_mass = array("q")
        self._r_mass = array("q")
        self._x = array("d")  # scratch: the observation by feature index
        self._present = array("i")  # scratch: 1 where the observation has the feature

    @property
    def built(self) -> bool:
        """True once the first observation has built the trees."""
        return bool(self.names)

    @property
    def nodes_per_tree(self) -> int:
        return (1 << (self.height + 1)) - 1

    def split_features(self) -> tuple[str, ...]:
        """The features some branch splits on, sorted; empty before the first learn."""
        names = self.names
        return tuple(sorted({names[f] for f in self._feature if f >= 0}))

    def _build(self, x) -> None:
        # river's learn_one, first call: the same trees, from the same generator in the same order, grown
        # straight into the arrays (river's node objects cost about 10 ms per model, on a worker's first events)
        names = sorted(x)
        if not names:
            raise ValueError("half-space trees need an observation with at least one feature")
        lo = array("d", [self.limits[name][0] for name in names])
        hi = array("d", [self.limits[name][1] for name in names])
        cum = array("d", bytes(8 * len(names)))
        feature: list = []
        threshold: list = []
        random = self.rng.random
        for _ in range(self.n_trees):
            _grow(len(names), lo, hi, cum, self.height, random, feature, threshold)
        self._set_trees(tuple(names), feature, threshold)

    def _flatten(self, names, trees) -> None:
        """River's trees (of node objects) into the arrays."""
        index = {name: i for i, name in enumerate(names)}
        feature, threshold, l_mass, r_mass = [], [], [], []
        for tree in trees:
            for node in tree.iter_dfs():
                if isinstance(node, PaddedBranch):
                    feature.append(index[node.feature])
                    threshold.append(node.threshold)
                else:
                    feature.append(-1)
                    threshold.append(0.0)
                l_mass.append(node.l_mass)
                r_mass.append(node.r_mass)
        self._set_trees(tuple(names), feature, threshold, l_mass, r_mass)

    def _set_trees(self, names: tuple, feature: list, threshold: list, l_mass=None, r_mass=None) -> None:
        """The trees' nodes in depth-first order, one list per attribute (masses 0 when not given)."""
        if len(feature) != self.n_trees * self.nodes_per_tree:
            raise ValueError("half-space trees are not complete binary trees of the model's height")
        self.names = names
        self._feature = array("i", feature)
        self._threshold = array("d", threshold)
        self._l_mass = array("q", l_mass) if l_mass is not None else array("q", bytes(8 * len(feature)))
        self._r_mass = array("q", r_mass) if r_mass is not None else array("q", bytes(8 * len(feature)))
        self._x = array("d", bytes(8 * len(names)))
        self._present = array("i", bytes(4 * len(names)))

    @classmethod
    def from_river(cls, hst: anomaly.HalfSpaceTrees) -> HalfSpaceTrees:
        """The same model, trees, masses, window position and generator state, from river's class (an
        :class:`~detectors.models.AnomalyModel` pickled before this class existed)."""
        new = cls(n_trees=hst.n_trees, height=hst.height, window_size=hst.window_size, seed=hst.seed)
        new.limits = hst.limits
        new.rng = hst.rng
        new.counter = hst.counter
        new._first_window = hst._first_window
        if hst.trees:
            names = sorted({n.feature for t in hst.trees for n in t.iter_dfs() if isinstance(n, PaddedBranch)})
            # the trees split on the first observation's features; the unused ones are never looked up
            new._flatten(names, hst.trees)
        return new

    def _load(self, x) -> None:
        """The observation into the scratch arrays, by feature index."""
        xs = self._x
        present = self._present
        for i, name in enumerate(self.names):
            v = x.get(name)
            if v is None and name not in x:
                present[i] = 0
            else:
                present[i] = 1
                xs[i] = v

    def learn_one(self, x):
        if not self.names:
            self._build(x)
        self._load(x)
        _learn_trees(self._feature, self._threshold, self._l_mass, self._x, self._present,
                     self.n_trees, self.height)
        self.counter += 1
        if self.counter == self.window_size:
            _new_window(self._l_mass, self._r_mass)
            self._first_window = False
            self.counter = 0

    def score_one(self, x):
        if self._first_window:
            return 0
        self._load(x)
        score = _score_trees(self._feature, self._threshold, self._l_mass, self._r_mass, self._x,
                             self._present, self.n_trees, self.height, 0.1 * self.window_size)
        return 1 - score / self._max_score


class MinMaxHalfSpaceTrees(HalfSpaceTrees):
    """``preprocessing.MinMaxScaler() | HalfSpaceTrees(...)`` as one model, the pipeline
    :class:`~detectors.models.AnomalyModel` runs: the same scores as river's pipeline (tests/test_hst.py
    compares them), without a dict of scaled values per call.

    River's scaler keeps a running min and max of every feature it sees and maps a value to
    ``(x - min) / (max - min)``, or 0 where ``max == min``; learning updates them before the value is
    scaled. Only the features the trees were built from (:attr:`names`) can change a score, so only their
    min and max are kept, in arrays beside the trees'.
    """

    def __init__(self, n_trees=10, height=8, window_size=250, limits=None, seed=None):
        super().__init__(n_trees=n_trees, height=height, window_size=window_size, limits=limits, seed=seed)
        self._lo = array("d")
        self._hi = array("d")

    def _set_trees(self, names: tuple, feature: list, threshold: list, l_mass=None, r_mass=None) -> None:
        super()._set_trees(names, feature, threshold, l_mass, r_mass)
        self._lo = array("d", [math.inf]) * len(self.names)  # river's stats.Min starts at +inf
        self._hi = array("d", [-math.inf]) * len(self.names)

    @classmethod
    def from_pipeline(cls, scaler, hst) -> MinMaxHalfSpaceTrees:
        """The same model from river's ``MinMaxScaler() | HalfSpaceTrees(...)`` (its trees river's or
        :class:`HalfSpaceTrees`), as an :class:`~detectors.models.AnomalyModel` pickled before this class
        pickled it."""
        if type(hst) is not HalfSpaceTrees:
            hst = HalfSpaceTrees.from_river(hst)
        new = cls(n_trees=hst.n_trees, height=hst.height, window_size=hst.window_size, seed=hst.seed)
        new.__dict__.update({k: v for k, v in hst.__dict__.items() if k not in ("_lo", "_hi")})
        new._lo = array("d", [math.inf]) * len(new.names)
        new._hi = array("d", [-math.inf]) * len(new.names)
        for i, name in enumerate(new.names):
            if name in scaler.min:
                new._lo[i] = scaler.min[name].get()
            if name in scaler.max:
                new._hi[i] = scaler.max[name].get()
        return new

    def learn_one(self, x):
        if not self.names:
            self._build(x)  # the scaled observation has the same features
        _scale(self.names, x, self._lo, self._hi, self._x, self._present, True)
        _learn_trees(self._feature, self._threshold, self._l_mass, self._x, self._present,
                     self.n_trees, self.height)
        self.counter += 1
        if self.counter == self.window_size:
            _new_window(self._l_mass, self._r_mass)
            self._first_window = False
            self.counter = 0

    def score_one(self, x):
        if self._first_window:
            return 0
        _scale(self.names, x, self._lo, self._hi, self._x, self._present, False)
        score = _score_trees(self._feature, self._threshold, self._l_mass, self._r_mass, self._x,
                             self._present, self.n_trees, self.height, 0.1 * self.window_size)
        return 1 - score / self._max_score


def _scale(names, x, lo, hi, xs, present, learn) -> None:
    """River's ``MinMaxScaler`` on the trees' features of ``x`` (first ``learn_one`` when ``learn``, then
    ``transform_one``), into the scratch arrays."""
    lp = f64(lo)
    hp = f64(hi)
    xp = f64(xs)
    pp = i32(present)
    for i in range(len(names)):
        name = names[i]
        value = x.get(name)
        if value is None:
            pp[i] = 0
            if name in x:  # None is not a number: fail as river would
                raise TypeError(f"feature {name!r} is None")
            continue
        pp[i] = 1
        v = value
        if learn:
            if v < lp[i]:
                lp[i] = v
            if v > hp[i]:
                hp[i] = v
        d = hp[i] - lp[i]
        xp[i] = (v - lp[i]) / d if d else 0.0


def _learn_trees(feature, threshold, l_mass, xs, present, n_trees, height) -> None:
    """river's ``_walk_learn`` over every tree."""
    fp = i32(feature)
    tp = f64(threshold)
    lp = i64(l_mass)
    xp = f64(xs)
    pp = i32(present)
    size = (1 << (height + 1)) - 1
    for t in range(n_trees):
        node = t * size
        for depth in range(height):
            lp[node] += 1
            f = fp[node]
            left = node + 1
            right = node + (1 << (height - depth))
            if pp[f]:
                node = left if xp[f] < tp[node] else right
            else:  # a missing feature follows the busier branch
                node = right if lp[left] < lp[right] else left
        lp[node] += 1


def _score_trees(feature, threshold, l_mass, r_mass, xs, present, n_trees, height, size_limit) -> float:
    """The sum over the trees of river's ``_walk_score``."""
    fp = i32(feature)
    tp = f64(threshold)
    lp = i64(l_mass)
    rp = i64(r_mass)
    xp = f64(xs)
    pp = i32(present)
    size = (1 << (height + 1)) - 1
    score = 0.0
    for t in range(n_trees):
        node = t * size
        depth_pow = 1
        s = 0.0
        depth = 0
        while depth < height:
            r = rp[node]
            s += r * depth_pow
            if r < size_limit:
                break
            f = fp[node]
            left = node + 1
            right = node + (1 << (height - depth))
            if pp[f]:
                node = left if xp[f] < tp[node] else right
            else:
                node = right if lp[left] < lp[right] else left
            depth_pow <<= 1
            depth += 1
        else:
            s += rp[node] * depth_pow
        score += s
    return score


def _new_window(l_mass, r_mass) -> None:
    """The window just filled becomes the reference: r_mass = l_mass, l_mass = 0, at every node."""
    lp = i64(l_mass)
    rp = i64(r_mass)
    for i in range(len(l_mass)):
        rp[i] = lp[i]
        lp[i] = 0
