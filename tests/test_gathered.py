"""Fingerprints and cluster evidence gathered per partition into JSON arrays (streams.app._Gathered).

The records' way through Kafka, the coordinating agent and back is covered by tests/test_integration.py
(a cluster's evidence reaches its members) and tests/test_restart.py (held fingerprints and evidence across a
crash); here, what one send makes of the gathered records.
"""

from __future__ import annotations

import orjson
import pytest

from streams.app import _Gathered, gathered_items


class Sent:
    """Stands in for the Faust topic: what send_soon was given, in order."""

    def __init__(self) -> None:
        self.records: list[dict] = []

    def send_soon(self, **kwargs) -> None:
        self.records.append(kwargs)


def items(n: int, size: int = 40) -> list[bytes]:
    return [orjson.dumps({"i": i, "pad": "x" * size}) for i in range(n)]


def test_one_array_per_partition_in_the_order_added():
    topic = Sent()
    g = _Gathered(topic, max_bytes=1_000_000, max_items=500)
    for i, data in enumerate(items(10)):
        g.add(i % 3, data)
    assert g.count == 10 and g.since > 0
    assert g.send() == 3
    assert g.count == 0 and not g.waiting
    by_partition = {r["partition"]: [x["i"] for x in gathered_items(r["value"])] for r in topic.records}
    assert by_partition == {0: [0, 3, 6, 9], 1: [1, 4, 7], 2: [2, 5, 8]}
    assert all(r["key"] is None for r in topic.records)
    assert g.send() == 0, "nothing waits after a send"


@pytest.mark.parametrize("max_bytes, max_items", [(1_000_000, 7), (300, 500), (1, 500)])
def test_a_record_stays_within_its_limits(max_bytes, max_items):
    topic = Sent()
    g = _Gathered(topic, max_bytes=max_bytes, max_items=max_items)
    data = items(25)
    for d in data:
        g.add(4, d)
    sent = g.send()
    assert sent == len(topic.records) > 1
    out = [x for r in topic.records for x in gathered_items(r["value"])]
    assert [x["i"] for x in out] == list(range(25)), "every item once, in order"
    for r in topic.records:
        n = len(gathered_items(r["value"]))
        assert n <= max_items
        assert len(r["value"]) <= max_bytes or n == 1, "only a single item may exceed the byte limit"


def test_headers_go_with_every_record():
    topic = Sent()
    g = _Gathered(topic, max_bytes=1_000_000, max_items=2)
    for d in items(3):
        g.add(0, d)
    g.send(headers=[("h", b"1")])
    assert [r["headers"] for r in topic.records] == [[("h", b"1")]] * 2


def test_records_written_one_object_each_are_read_too():
    assert gathered_items(b'{"a": 1}') == [{"a": 1}]
    assert gathered_items(b'[{"a": 1}, {"a": 2}]') == [{"a": 1}, {"a": 2}]
    with pytest.raises(orjson.JSONDecodeError):
        gathered_items(b"{not json")
