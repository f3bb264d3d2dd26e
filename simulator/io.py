"""Writers: JSON Lines files (optionally gzip) and a Kafka topic."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from pathlib import Path
from random import Random

import orjson

from .generate import DUPLICATE, INVALID, build, stream
from .scenario import AccountLabel, Scenario

Progress = Callable[[int, float], None]
PROGRESS_EVERY = 10_000


def default_labels_path(path: str | Path) -> Path:
    """``events.jsonl.gz`` -> ``events.labels.jsonl`` (beside it)."""
    p = Path(path)
    name = p.name
    for suffix in (".gz", ".jsonl", ".json", ".ndjson"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return p.with_name(f"{name}.labels.jsonl")


def write_labels(labels: list[AccountLabel], path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for lab in labels:
            f.write(orjson.dumps(lab.to_dict()))
            f.write(b"\n")


def _counts(labels: list[AccountLabel]) -> dict:
    return {"events": 0, "invalid": 0, "duplicates": 0, "accounts": len(labels),
            "harvesters": sum(1 for a in labels if a.label == "harvester")}


def write_file(scenario: Scenario, path: str | Path, labels_path: str | Path | None = None,
               progress: Progress | None = None, progress_every: int = PROGRESS_EVERY) -> dict:
    """Write the stream as JSON Lines (gzip if the name ends in .gz) plus a labels file.

    Returns counts: ``events`` (valid lines, duplicates included), ``duplicates``
    (re-delivered lines), ``invalid`` (malformed lines), ``accounts``, ``harvesters``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    labels_path = Path(labels_path) if labels_path is not None else default_labels_path(path)
    labels, _ = build(scenario)
    counts = _counts(labels)
    f = gzip.open(path, "wb", compresslevel=3) if path.name.endswith(".gz") else open(path, "wb")
    buf: list[bytes] = []
    n = n_dup = n_inv = 0
    next_progress = progress_every
    t = scenario.start
    with f:
        for t, _acct, b, kind in stream(scenario):
            buf.append(b)
            if kind == INVALID:
                n_inv += 1
            else:
                n += 1
                if kind == DUPLICATE:
                    n_dup += 1
            if len(buf) >= 4096:
                buf.append(b"")
                f.write(b"\n".join(buf))
                buf.clear()
            if progress is not None and n >= next_progress:
                next_progress += progress_every
                progress(n, t)
        if buf:
            buf.append(b"")
            f.write(b"\n".join(buf))
    write_labels(labels, labels_path)
    if progress is not None:
        progress(n, t)
    counts.update(events=n, duplicates=n_dup, invalid=n_inv, labels_path=str(labels_path))
    return counts


def write_kafka(scenario: Scenario, bootstrap: str, topic: str, *, speed: float | None = None,
                labels_path: str | Path | None = None, stop: threading.Event | None = None,
                progress: Progress | None = None, progress_every: int = PROGRESS_EVERY,
                security: dict | None = None) -> dict:
    """Produce the stream to Kafka (value = event bytes, key = account id).

    ``security`` holds the producer's TLS/SASL keyword arguments
    (:func:`streams.kafka_security.kafka_client_kwargs`).

    ``speed=None`` sends as fast as possible with the scenario's timestamps.
    ``speed=X`` paces the stream so X seconds of event time pass per wall-clock
    second and shifts all timestamps so the first moment of the run is the
    wall-clock start (event time = wall start + simulated offset).  A share
    ``scenario.keyless_rate`` of messages (and malformed lines without an
    account) are sent without a key.  Stops early when ``stop`` is set; always
    flushes and closes the producer.
    """
    from kafka import KafkaProducer  # imported lazily: file generation needs no Kafka client

    if speed is not None and not speed > 0:
        raise ValueError("speed must be > 0 or None")
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, batch_size=512 * 1024,
                             acks=1, enable_idempotence=False, max_request_size=4 * 1024 * 1024, **(security or {}))
    wall0 = time.time()
    shift = wall0 - scenario.start if speed is not None else 0.0
    labels, _ = build(scenario, time_shift=shift)
    if labels_path is not None:
        write_labels(labels, labels_path)
    counts = _counts(labels)
    counts.update(keyless=0, errors=0, stopped=False)
    errors = [0]

    def on_error(_exc: BaseException) -> None:
        errors[0] += 1

    krng = Random(f"keyless-{scenario.seed}")
    kr = krng.random
    keyless_rate = scenario.keyless_rate
    origin = scenario.start + shift  # event time of the first moment
    n = n_dup = n_inv = n_keyless = 0
    next_progress = progress_every
    t = origin
    send = producer.send
    try:
        for t, acct, b, kind in stream(scenario, time_shift=shift):
            if stop is not None and stop.is_set():
                counts["stopped"] = True
                break
            if speed is not None:
                delay = wall0 + (t - origin) / speed - time.time()
                if delay > 0.002:
                    if stop is not None:
                        if stop.wait(delay):
                            counts["stopped"] = True
                            break
                    else:
                        time.sleep(delay)
            if not acct or (keyless_rate > 0.0 and kr() < keyless_rate):
                key = None
                n_keyless += 1
            else:
                key = acct.encode()
            send(topic, value=b, key=key).add_errback(on_error)
            if kind == INVALID:
                n_inv += 1
            else:
                n += 1
                if kind == DUPLICATE:
                    n_dup += 1
            if progress is not None and n >= next_progress:
                next_progress += progress_every
                progress(n, t)
    finally:
        producer.flush()
        producer.close()
    if progress is not None:
        progress(n, t)
    counts.update(events=n, duplicates=n_dup, invalid=n_inv, keyless=n_keyless, errors=errors[0])
    if labels_path is not None:
        counts["labels_path"] = str(labels_path)
    return counts
