"""Account states in memory, written to their changelog-backed table once per offset commit.

Writing the whole state to the table after every event costs a serialisation
and a changelog record per event: most of a worker's time once detection is
cheap. :class:`AccountStates` keeps the states the agent is working on as live
:class:`~detectors.state.AccountState` objects and writes each changed one to the
table once, when Faust is about to commit input offsets (the worker's consumer
calls :meth:`AccountStates.flush` first thing in ``force_commit``), and the commit
waits until the broker has acknowledged every record those writes queued
(``_Consumer._commit_offsets`` in :mod:`streams.app`), so every committed
offset's effect on an account's state is in the changelog before the offset is. After a crash the
input is read again from the last commit and the state from the changelog: the
two still agree, and the offset each state records (see
:mod:`detectors.state`) keeps the re-read exactly-once, as before.

A table write must happen "in" the account's partition (Faust picks the
changelog partition, and the RocksDB store the database, from the current
event). The flush runs in the commit task, not the agent's, so it names the
partition itself for each write through a stand-in current event
(:func:`in_partition`).

Between flushes at most ``max_clean`` unchanged states are kept for reuse;
beyond that the clean ones are dropped after a flush (memory stays bounded
by the states changed within one commit interval plus ``max_clean``).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import zip_longest

import faust
from faust import streams as _faust_streams

from detectors.engine import Detector, partition_for
from detectors.state import AccountState

__all__ = ["AccountStates", "in_partition"]


class _Message:
    __slots__ = ("topic", "partition")

    def __init__(self, topic: str, partition: int):
        self.topic = topic
        self.partition = partition


class _PartitionEvent:
    """What Faust's table and store code read of the current event: ``message.topic`` and ``.partition``."""

    __slots__ = ("message", "__weakref__")

    def __init__(self, topic: str, partition: int):
        self.message = _Message(topic, partition)


@contextmanager
def in_partition(topic: str, partition: int) -> Iterator[None]:
    """Table writes in this block go to ``partition`` (changelog and store), from any task."""
    event = _PartitionEvent(topic, partition)
    token = _faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _faust_streams._current_event.reset(token)


class AccountStates:
    """Write-behind cache of account states over the ``account-state`` table.

    Parameters
    ----------
    detector
        Reads stored bytes into a state (unreadable or old versions start afresh).
    table
        The changelog-backed table, account id bytes -> state bytes.
    source_topic, partitions
        The input topic, co-partitioned with the table (Faust checks the partition
        counts of the topic it is told an event came from), and its partition count.
    max_clean
        Unchanged states kept in memory after a flush.
    on_write, on_flush
        Metrics hooks: called with the size of each serialised state written, and
        with the seconds a flush that wrote anything took.
    """

    def __init__(self, detector: Detector, table: faust.Table, source_topic: str, partitions: int,
                 max_clean: int = 20_000, on_write=None, on_flush=None):
        self.detector = detector
        self.table = table
        self.source_topic = source_topic
        self.partitions = partitions
        self.max_clean = max_clean
        self.on_write = on_write
        self.on_flush = on_flush
        self._live: dict[bytes, AccountState] = {}
        self._dirty: dict[int, dict[bytes, AccountState]] = {}  # partition -> key -> state

    def get(self, key: bytes, account_id: str | None = None) -> AccountState | None:
        """The account's current state, or None when it has none (never seen, or expired)."""
        state = self._live.get(key)
        if state is None:
            data = self.table.get(key)
            if data is None:
                return None
            state = self.detector.load_state(account_id or key.decode("utf-8", "surrogatepass"), data)
            self._live[key] = state
        return state

    def load(self, key: bytes, account_id: str) -> AccountState:
        """The account's state, a fresh one when it has none."""
        state = self.get(key, account_id)
        if state is None:
            state = self._live[key] = self.detector.new_state(account_id)
        return state

    def changed(self, key: bytes, state: AccountState, partition: int) -> None:
        """``state`` (the account's, in ``partition``) changed: written at the next flush."""
        self._live[key] = state
        self.views(partition)[1][key] = state

    def views(self, partition: int) -> tuple[dict[bytes, AccountState], dict[bytes, AccountState]]:
        """The live states (key -> state) and ``partition``'s changed ones, for a synchronous loop over the
        partition's events that reads and marks them directly, as :meth:`get` (a key that is not live is
        loaded with :meth:`load`) and :meth:`changed` would. Valid until the caller's next ``await``: a
        flush replaces both."""
        dirty = self._dirty.get(partition)
        if dirty is None:
            dirty = self._dirty[partition] = {}
        return self._live, dirty

    def delete(self, key: bytes, partition: int) -> None:
        """Forget the account: out of memory, and a tombstone in the table (call from its partition's event)."""
        self._live.pop(key, None)
        self._dirty.get(partition, {}).pop(key, None)
        if key in self.table:
            del self.table[key]
        else:  # never written yet: the tombstone still tells every reader of the changelog
            self.table.send_changelog(partition, key, None, value_serializer="raw")

    @property
    def pending(self) -> int:
        """States changed since the last flush."""
        return sum(len(d) for d in self._dirty.values())

    def __len__(self) -> int:
        """Accounts tracked: in the table, plus those not written yet."""
        return len(self.table) + sum(1 for d in self._dirty.values() for k in d if k not in self.table)

    def keys(self) -> list[bytes]:
        """Every tracked account's key."""
        keys = set(self.table.keys())
        for d in self._dirty.values():
            keys.update(d)
        return list(keys)

    def last_event_time(self, key: bytes) -> float | None:
        """Event time of the account's newest event (None when unknown), without decoding stored bytes."""
        state = self._live.get(key)
        if state is not None:
            return state.last_ts
        data = self.table.get(key)
        return AccountState.last_event_time(data) if data else None

    def flush(self, partitions: Iterable[int] | None = None) -> int:
        """Write every changed state (of ``partitions``, or all) to the table; returns how many.

        Synchronous: no other task runs between the first write and the caller's next ``await``, so the
        offsets Faust commits right after cover exactly the events in what was written.
        """
        t0 = time.perf_counter()
        table = self.table
        on_write = self.on_write
        # One partition's state after another's, in turn, each partition's in the order they changed: with one
        # record per produce batch (tansu), a record waits in the producer until its partition's previous batch
        # has gone, and a request takes one batch per partition, so partition after partition would send one
        # record per broker round trip; in turn, a request carries one of each partition's.
        flushed = [(p, self._dirty.pop(p)) for p in (list(self._dirty) if partitions is None
                                                    else [p for p in partitions if p in self._dirty])]
        topic = self.source_topic
        order = [p for p, _ in flushed]
        for turn in zip_longest(*(dirty.items() for _, dirty in flushed)):
            for p, item in zip(order, turn):
                if item is None:  # that partition has no more
                    continue
                key, state = item
                data = state.to_bytes()
                with in_partition(topic, p):
                    table[key] = data
                if on_write is not None:
                    on_write(len(data))
        written = sum(len(dirty) for _, dirty in flushed)
        if len(self._live) > self.max_clean + self.pending:
            self._live = {k: s for d in self._dirty.values() for k, s in d.items()}
        if written and self.on_flush is not None:
            self.on_flush(time.perf_counter() - t0)
        return written

    def drop(self, partitions: Iterable[int]) -> None:
        """The partitions left this worker: write what changed in them, then forget them here."""
        partitions = set(partitions)
        self.flush(partitions)
        n = self.partitions
        self._live = {k: s for k, s in self._live.items() if partition_for(k, n) not in partitions}
