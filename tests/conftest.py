"""Shared fixtures: a real Kafka-protocol broker and real worker processes.

The broker is the embedded tansu (started once per session through the
project's own :class:`streams.broker.EmbeddedBroker`), or the cluster named by
``DW_TEST_BROKER`` when that is set. Every test that needs a worker
gets its own app id and topic names, so tests never see each other's data.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker, free_port
from streams.demo import WorkerProcess
from streams.settings import Settings
from streams.topics import ensure_topics


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    configured = os.environ.get("DW_TEST_BROKER")
    if configured:
        yield configured
        return
    with EmbeddedBroker() as broker:
        yield broker.bootstrap


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """Settings come from the environment: no test sees the caller's."""
    for key in list(os.environ):
        if key.startswith("DISTILLWATCH_"):
            monkeypatch.delenv(key)


def unique_settings(bootstrap: str, tmp_path: Path, **overrides) -> Settings:
    tag = uuid.uuid4().hex[:8]
    base = dict(
        broker=bootstrap,
        app_id=f"dw-test-{tag}",
        input_topic=f"in-{tag}",
        rekey_topic=f"rekey-{tag}",
        dlq_topic=f"dlq-{tag}",
        alerts_topic=f"alerts-{tag}",
        fingerprints_topic=f"fp-{tag}",
        labels_topic=f"labels-{tag}",
        evidence_topic=f"evidence-{tag}",
        partitions=4,
        datadir=tmp_path / "data",
        producer_max_batch_size=1,
        session_timeout=6.0,
        web_port=free_port(),
        web_enabled=False,
    )
    base.update(overrides)
    return Settings(**base)


class RunningWorker:
    def __init__(self, settings: Settings, log_path: Path):
        self.settings = settings
        self.proc = WorkerProcess(settings, log_path)

    def start(self, timeout: float = 90.0) -> RunningWorker:
        ensure_topics(self.settings)
        self.proc.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.proc.alive():
                raise AssertionError("worker exited during start-up:\n" + self.proc.log_tail(60))
            log = self.proc.log_path.read_text(errors="replace") if self.proc.log_path.exists() else ""
            if "Ready" in log:
                return self
            time.sleep(0.2)
        raise AssertionError("worker not ready in time:\n" + self.proc.log_tail(60))

    def stop(self) -> int | None:
        return self.proc.stop()


@pytest.fixture
def worker_factory(kafka_bootstrap, tmp_path) -> Iterator:
    started: list[RunningWorker] = []

    def make(settings: Settings | None = None, **overrides) -> RunningWorker:
        s = settings or unique_settings(kafka_bootstrap, tmp_path, **overrides)
        w = RunningWorker(s, tmp_path / f"worker-{len(started)}.log").start()
        started.append(w)
        return w

    yield make
    for w in started:
        w.stop()
