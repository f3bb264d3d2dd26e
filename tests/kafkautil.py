"""Small kafka-python helpers for the integration tests (real broker)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic


def new_topic(bootstrap: str, prefix: str, partitions: int) -> str:
    """A topic with a unique name (``prefix-`` and 8 hex digits) and ``partitions`` partitions."""
    topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    finally:
        admin.close()
    return topic


def group_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The consumer group's committed offsets (the next to read) on ``topic``, per partition."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return {tp.partition: o.offset for tp, o in offsets.items() if tp.topic == topic}


def produce(bootstrap: str, topic: str, messages: Iterable[tuple[bytes | None, bytes]]) -> int:
    """Send (key, value) pairs in order and wait until all are acknowledged."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_in_flight_requests_per_connection=1)
    n = 0
    try:
        for key, value in messages:
            producer.send(topic, key=key, value=value)
            n += 1
        producer.flush(timeout=60)
    finally:
        producer.close()
    return n


def consume(bootstrap: str, topic: str, *, until, timeout: float = 120.0) -> list:
    """Read ``topic`` from the start until ``until(records)`` is true or the timeout passes."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=500,
    )
    records: list = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for msg in consumer:
                records.append(msg)
            if until(records):
                break
    finally:
        consumer.close()
    return records
