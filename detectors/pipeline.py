"""The whole detection topology in one process, for replay and backtests.

The live system spreads detection over Kafka: accounts over partitions (one
:class:`~detectors.engine.PartitionContext` each), fingerprints repartitioned
by value to the coordination agent, evidence returned keyed by account.
:class:`LocalPipeline` runs the same objects in-process: accounts are assigned
to emulated partitions with Kafka's default partitioner, fingerprints go
straight to their :class:`~detectors.coordination.FingerprintIndex`, and the
evidence straight back to the member accounts.

>>> from detectors.contract import Event
>>> pipe = LocalPipeline(partitions=4)
>>> pipe.handle(Event(request_id="r1", ts=1.8e9, account_id="a", model="m", status_code=200))
True
>>> pipe.handle(Event(request_id="r1", ts=1.8e9, account_id="a", model="m", status_code=200))
False
"""

from __future__ import annotations

from typing import Any

from .contract import Event
from .coordination import FingerprintIndex
from .engine import Detector, PartitionContext, partition_for
from .state import AccountState

__all__ = ["LocalPipeline"]


class LocalPipeline:
    """States, partition contexts and fingerprint indexes of a replay."""

    #: Idle accounts are looked for every this many events.
    SWEEP_EVERY = 65_536

    def __init__(self, detector: Detector | None = None, partitions: int = 8, idle_seconds: float = 7 * 86400.0):
        if partitions < 1:
            raise ValueError("partitions must be >= 1")
        self.idle_seconds = idle_seconds  # forget accounts idle this long (event time); 0: never
        self.newest = float("-inf")
        self._until_sweep = self.SWEEP_EVERY
        self.expired = 0
        self.detector = detector or Detector()
        self.partitions = partitions
        self.states: dict[str, AccountState] = {}
        self.contexts: list[PartitionContext] = [self.detector.new_context() for _ in range(partitions)]
        self.indexes: dict[bytes, FingerprintIndex] = {}
        self.alerts: list[dict[str, Any]] = []  # drained by the caller
        self._partition: dict[str, int] = {}
        self._fps: list = []

    def partition(self, account_id: str) -> int:
        p = self._partition.get(account_id)
        if p is None:
            p = self._partition[account_id] = partition_for(account_id.encode("utf-8", "surrogatepass"),
                                                            self.partitions)
        return p

    def handle(self, ev: Event) -> bool:
        """Process one valid event; False when it was a duplicate delivery."""
        acct = ev.account_id
        state = self.states.get(acct)
        if state is None:
            state = self.states[acct] = self.detector.new_state(acct)
        fps = self._fps
        ok = self.detector.process(state, ev, self.alerts, self.contexts[self.partition(acct)], fps)
        if fps:
            self._coordinate(fps)
            fps.clear()
        if ok and ev.ts > self.newest:
            self.newest = ev.ts
        self._until_sweep -= 1
        if self._until_sweep <= 0:
            self._until_sweep = self.SWEEP_EVERY
            self.sweep_idle()
        return ok

    def sweep_idle(self) -> int:
        """Forget the accounts idle for ``idle_seconds`` of event time (resolving open episodes first, as
        the worker does); returns how many."""
        if self.idle_seconds <= 0 or self.newest == float("-inf"):
            return 0
        horizon = self.newest - self.idle_seconds
        idle = [a for a, st in self.states.items() if st.last_ts < horizon]
        for acct in idle:
            self.detector.expire(self.states.pop(acct), self.newest, self.alerts,
                                 self.contexts[self.partition(acct)])
            self._partition.pop(acct, None)
        self.expired += len(idle)
        return len(idle)

    def label(self, account_id: str, abusive: bool, ts: float | None = None) -> bool:
        """Teach the account's partition an analyst label; False when the
        account has no state to join the label with."""
        state = self.states.get(account_id)
        if state is None:
            return False
        self.detector.learn_label(state, abusive, self.contexts[self.partition(account_id)], now=ts)
        return True

    def _coordinate(self, fps) -> None:
        det = self.detector
        for fp in fps:
            idx = self.indexes.get(fp.key)
            if idx is None:
                idx = self.indexes[fp.key] = FingerprintIndex(det.coordination)
            for e in idx.observe(fp):
                st = self.states.get(e.account_id)
                if st is not None:
                    det.apply_evidence(st, e, self.alerts, self.contexts[self.partition(e.account_id)])
