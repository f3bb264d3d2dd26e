"""streams.states.AccountStates: the write-behind cache of account states.

The changelog-backed Faust table is what the integration and restart tests run against; here a dict
stands in for it, because these tests are about the cache's bookkeeping (what is live, what is written
at the next flush), not about Faust.
"""

from __future__ import annotations

from faust import streams as faust_streams

from detectors.engine import Detector
from streams.states import AccountStates


def _states(table: dict | None = None) -> AccountStates:
    return AccountStates(Detector(), {} if table is None else table, "api-requests", 8)


def test_views_are_the_live_states_and_the_partitions_changed_ones():
    """The agent's message loop reads and marks states through these dicts; they must be the ones get(),
    load(), changed() and flush() use."""
    table: dict = {}
    states = _states(table)
    live, dirty = states.views(3)
    assert live.get(b"a") is None and not dirty
    state = states.load(b"a", "a")
    assert live[b"a"] is state  # load() fills the live view the loop reads
    assert states.get(b"a") is state
    dirty[b"a"] = state  # as the loop marks a processed event's state
    assert states.pending == 1 and len(states) == 1
    assert states.flush() == 1
    assert table[b"a"] == state.to_bytes()  # written at the flush
    live, dirty = states.views(3)  # the flush replaced the partition's changed states
    assert not dirty and states.pending == 0
    assert states.views(3)[1] is dirty  # one dict per partition until the next flush
    assert states.views(4)[1] is not dirty


def test_a_stored_state_is_loaded_into_the_live_view():
    table: dict = {}
    first = _states(table)
    state = first.load(b"b", "b")
    state.input_offset = 41
    first.changed(b"b", state, 5)
    first.flush()
    again = _states(table)  # a worker after a restart
    live, _ = again.views(5)
    assert b"b" not in live
    loaded = again.load(b"b", "b")
    assert live[b"b"] is loaded and loaded.input_offset == 41


class _RecordingTable(dict):
    """Records the partition Faust's table would write each state to (its current event's)."""

    def __init__(self):
        super().__init__()
        self.writes: list[tuple[int, bytes]] = []

    def __setitem__(self, key, value):
        self.writes.append((faust_streams.current_event().message.partition, key))
        super().__setitem__(key, value)


def test_a_flush_writes_the_partitions_states_in_turn_each_partitions_in_order():
    """With one record per produce batch (tansu) a changelog record waits until its partition's previous
    batch has left, one broker round trip: partition after partition, a flush of thousands of states took
    3-5 s and overran the 2.8 s commit interval; in turn it takes a third of that (docs/BENCHMARKS.md)."""
    table = _RecordingTable()
    states = _states(table)
    order = {3: [b"a", b"b", b"c"], 5: [b"d"], 0: [b"e", b"f"]}
    for p, keys in order.items():
        for k in keys:
            states.changed(k, states.load(k, k.decode()), p)
    assert states.flush() == 6
    assert table.writes == [(3, b"a"), (5, b"d"), (0, b"e"), (3, b"b"), (0, b"f"), (3, b"c")]
    assert states.pending == 0 and states.flush() == 0
    states.changed(b"g", states.load(b"g", "g"), 7)
    states.changed(b"h", states.load(b"h", "h"), 1)
    assert states.flush([7]) == 1 and table.writes[-1] == (7, b"g")  # only the partitions asked for
    assert states.pending == 1
