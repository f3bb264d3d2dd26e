"""The worker's consumer takes records only from partitions Faust has active, even when none are
(streams.app._Active, _ConsumerThread._fetch_records), and keeps its hold on the stream partitions
until the seek that follows recovery (streams.app._Consumer).

The drain runs against the real broker and a real aiokafka consumer: what aiokafka prefetched and
where it stands after a drain is the point. Faust's consumer thread around it is not, so it is built
without its service machinery."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaProducer

from streams.app import _ConsumerThread
from tests.kafkautil import new_topic


def _topic_with_records(bootstrap: str, per_partition: int) -> str:
    topic = new_topic(bootstrap, "drain", 2)
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        for p in (0, 1):
            for i in range(per_partition):
                producer.send(topic, value=b"%d" % i, partition=p)
        producer.flush(timeout=30)
    finally:
        producer.close()
    return topic


def test_an_empty_active_set_drains_nothing_and_a_resumed_partition_reads_from_where_it_stood(kafka_bootstrap):
    topic = _topic_with_records(kafka_bootstrap, 50)
    tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    thread = _ConsumerThread.__new__(_ConsumerThread)  # only the drain is exercised
    thread.consumer = SimpleNamespace(flow_active=True)

    async def go():
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            consumer.assign([tp0, tp1])
            deadline = time.monotonic() + 30
            while set(consumer._fetcher._records) != {tp0, tp1}:  # both prefetched, as after an assignment
                assert time.monotonic() < deadline, "aiokafka did not prefetch both partitions"
                await asyncio.sleep(0.05)

            active: set = set()  # Faust's live set: recovery paused the changelogs, streams not resumed yet
            assert await thread._fetch_records(consumer, active, timeout=0.5) == {}
            assert await consumer.position(tp0) == 0 and await consumer.position(tp1) == 0

            active.add(tp0)
            got = await thread._fetch_records(consumer, active, timeout=5)
            assert set(got) == {tp0} and [r.offset for r in got[tp0]] == list(range(50))
            assert await consumer.position(tp1) == 0  # not taken while inactive

            active.add(tp1)  # resumed: its records are all there, from the start
            got = await thread._fetch_records(consumer, active, timeout=5)
            assert set(got) == {tp1} and [r.offset for r in got[tp1]] == list(range(50))
        finally:
            await consumer.stop()

    asyncio.run(go())


def test_the_stream_partitions_stay_held_until_the_seek_that_follows_recovery(monkeypatch):
    from faust.transport.drivers import aiokafka as faust_aiokafka
    from faust.types import TP

    from streams.app import _Consumer

    s0, s1, cl = TP("in", 0), TP("in", 1), TP("app-t-changelog", 0)
    events: list = []
    consumer = _Consumer.__new__(_Consumer)  # Faust's bookkeeping of active partitions, no broker
    consumer._active_partitions, consumer._paused_partitions = set(), set()
    consumer.app = SimpleNamespace(tables=SimpleNamespace(changelog_topics={cl.topic}))

    async def assigned(self, tps, generation_id=0):
        self._active_partitions |= set(tps)

    async def seek(self):
        events.append(("seek", set(self._active_partitions)))

    monkeypatch.setattr(faust_aiokafka.Consumer, "on_partitions_assigned", assigned)
    monkeypatch.setattr(faust_aiokafka.Consumer, "perform_seek", seek)
    monkeypatch.setattr(_Consumer, "assignment", lambda self: {s0, s1, cl})

    async def go():
        await consumer.on_partitions_assigned({s0, s1, cl})
        consumer.pause_partitions({s0, s1, cl})  # the app pauses what it was assigned
        await consumer.perform_seek()  # getmany's, while the flow is stopped: the hold stays
        consumer.resume_partitions({cl})  # recovery reads the changelog
        assert consumer._active_partitions == {cl}
        consumer.pause_partitions({cl})
        consumer.resume_partitions({s0, s1})  # recovery is done: held ...
        assert consumer._active_partitions == set()
        await consumer.perform_seek()  # ... until the seek
        assert events[-1] == ("seek", set()) and consumer._active_partitions == {s0, s1}
        consumer.resume_partitions({s0})  # no seek pending: straight through
        assert consumer._held is None

    asyncio.run(go())
