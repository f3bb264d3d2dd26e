"""Small kafka-python helpers for the integration tests (real broker)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from kafka import KafkaConsumer, KafkaProducer


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
