"""The embedded broker: starts on loopback, serves Kafka, stops completely."""

from __future__ import annotations

import os
import socket

import pytest
from kafka import KafkaAdminClient

from streams.broker import BrokerError, EmbeddedBroker, broker_for

pytestmark = pytest.mark.integration


def test_embedded_broker_serves_kafka_on_loopback_and_stops():
    broker = EmbeddedBroker().start()
    try:
        host, port = broker.bootstrap.split(":")
        assert host == "127.0.0.1"
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        assert isinstance(admin.list_topics(), list)
        admin.close()
        pid = broker.pid
        assert pid and os.path.exists(f"/proc/{pid}")
    finally:
        broker.stop()
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", int(port))) != 0
    broker.stop()  # idempotent


def test_a_configured_address_is_used_and_nothing_is_started():
    with broker_for("kafka.example:9092") as bootstrap:
        assert bootstrap == "kafka.example:9092"


def test_a_broken_binary_override_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CALF_TANSU_BIN", str(tmp_path / "no-such-tansu"))
    with pytest.raises(BrokerError, match="tansu"):
        EmbeddedBroker().start()


def test_a_port_in_use_is_reported(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(BrokerError):
            EmbeddedBroker(port=port).start(timeout=10)
