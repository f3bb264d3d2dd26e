"""Offline replay: run the live detection code over a JSON Lines file.

Events are read in file order and go through exactly what the worker's agent
runs — the input format's decoder (:func:`detectors.adapters.decoder`: one
line is one Kafka message's value, which may hold several records: a JSON
array or NDJSON of v1 events, an OTLP export request, LiteLLM payloads) then
:meth:`detectors.engine.Detector.process` — with the per-account states kept in
a dict instead of a Faust table, and the partitions, population contexts and
coordination of the live topology emulated in-process
(:class:`detectors.pipeline.LocalPipeline`). Given the same events in the same
order per partition, replay and a worker with the same partition count raise
the same per-account alerts with the same ``alert_id``; alerts that cluster
evidence raises can differ in timing, because the live system passes that
evidence through two topics.
"""

from __future__ import annotations

import base64
import gzip
import io
import os
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from detectors.adapters import Decoded, decoder
from detectors.contract import MAX_EVENT_BYTES, InvalidEvent
from detectors.engine import Detector
from detectors.pipeline import LocalPipeline

from .dlq import dead_letter

__all__ = ["ReplayStats", "replay", "ReplayError", "open_lines"]


class ReplayError(RuntimeError):
    """The input cannot be read (missing, unreadable, corrupt compression)."""


@dataclass
class ReplayStats:
    events: int = 0  # records read: one per v1 event (a line may hold several), span or payload
    valid: int = 0  # processed by the detector
    invalid: int = 0  # rejected, written to the DLQ
    duplicates: int = 0  # repeated request ids, counted once
    accounts: int = 0
    alerts: int = 0
    blank_lines: int = 0
    skipped: int = 0  # records that are not API requests (OTLP spans that are not GenAI model calls)
    invalid_by_reason: Counter = field(default_factory=Counter)
    alerts_by_severity: Counter = field(default_factory=Counter)
    alerts_by_status: Counter = field(default_factory=Counter)
    elapsed_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "valid": self.valid,
            "invalid": self.invalid,
            "duplicates": self.duplicates,
            "accounts": self.accounts,
            "alerts": self.alerts,
            "blank_lines": self.blank_lines,
            "skipped": self.skipped,
            "invalid_by_reason": dict(sorted(self.invalid_by_reason.items())),
            "alerts_by_severity": dict(sorted(self.alerts_by_severity.items())),
            "alerts_by_status": dict(sorted(self.alerts_by_status.items())),
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "events_per_second": round(self.events / self.elapsed_seconds) if self.elapsed_seconds else None,
        }


def open_lines(path: str | os.PathLike) -> tuple[IO[bytes], IO[bytes]]:
    """Open a ``.jsonl`` or ``.jsonl.gz`` file; return (line reader, raw file).

    The raw file's position gives progress in bytes of the file on disk.
    """
    p = Path(path)
    try:
        rawf = open(p, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        raise ReplayError(f"cannot open {p}: {exc.strerror}") from None
    if p.suffix == ".gz":
        return io.BufferedReader(gzip.GzipFile(fileobj=rawf), 1 << 20), rawf
    return rawf, rawf


def _lines(reader: IO[bytes], path: Path) -> Iterator[bytes]:
    try:
        yield from reader
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:  # zlib.error: corrupt deflate data
        raise ReplayError(f"{path}: cannot read further: {exc}") from None


def replay(
    input_path: str | os.PathLike,
    alerts_path: str | os.PathLike,
    *,
    dlq_path: str | os.PathLike | None = None,
    detector: Detector | None = None,
    partitions: int = 8,
    max_event_bytes: int = MAX_EVENT_BYTES,
    max_line_bytes: int = 16 * MAX_EVENT_BYTES,
    decode_message: Callable[[bytes], Decoded] | None = None,
    redact_prompt: bool = True,
    redact_content: Callable[[bytes], tuple[bytes, dict[str, str]]] | None = None,
    progress: Callable[[int, int, ReplayStats], None] | None = None,
    progress_every: int = 20_000,
) -> ReplayStats:
    """Replay ``input_path`` and write alerts (and rejects) as JSON Lines.

    ``decode_message`` is the input format's decoder (default: contract v1
    with ``max_event_bytes`` per event and ``max_line_bytes`` per line).
    ``progress(bytes_read, total_bytes, stats)`` is called every
    ``progress_every`` records and at the end. Rejects are copied to the DLQ
    as the worker copies them (:func:`streams.dlq.dead_letter`): prompt text
    taken out unless ``redact_prompt`` is false (``redact_content``: the input
    format's redactor, :func:`detectors.adapters.redactor`, for formats other
    than v1).
    """
    detector = detector or Detector()
    decode_message = decode_message or decoder("v1", max_event_bytes=max_event_bytes, max_message_bytes=max_line_bytes)
    path = Path(input_path)
    reader, rawf = open_lines(path)
    total = os.fstat(rawf.fileno()).st_size
    pipe = LocalPipeline(detector, partitions)
    handle = pipe.handle
    alerts = pipe.alerts
    stats = ReplayStats()
    t0 = time.perf_counter()
    # Outputs are written beside their final names and renamed on success, so
    # a failed run never leaves a file that looks complete.
    outputs = [Path(alerts_path)] + ([Path(dlq_path)] if dlq_path else [])
    parts = [p.with_name(p.name + ".part") for p in outputs]
    dlq = open(parts[1], "wb") if dlq_path else None  # noqa: SIM115
    try:
        with open(parts[0], "wb") as out:
            lineno = 0
            for line in _lines(reader, path):
                lineno += 1
                record = line.rstrip(b"\r\n")
                if not record.strip():
                    stats.blank_lines += 1
                    continue
                decoded = decode_message(record)
                stats.skipped += decoded.skipped
                results = decoded.items
                batch = len(results) > 1 or results[0][0] is not record  # several records, or an array of one
                for index, (data, ev) in enumerate(results):
                    stats.events += 1
                    if progress is not None and stats.events % progress_every == 0:
                        progress(rawf.tell(), total, stats)
                    if type(ev) is InvalidEvent:
                        stats.invalid += 1
                        stats.invalid_by_reason[ev.code] += 1
                        if dlq is not None:
                            dlq.write(_dlq_line(lineno, data, ev, redact_prompt, index if batch else None,
                                                redact_content))
                        continue
                    if not handle(ev):
                        stats.duplicates += 1
                        continue
                    stats.valid += 1
                    if alerts:
                        for alert in alerts:
                            out.write(orjson.dumps(alert) + b"\n")
                            stats.alerts += 1
                            stats.alerts_by_severity[alert["severity"]] += 1
                            stats.alerts_by_status[alert["status"]] += 1
                        alerts.clear()
    except ReplayError as exc:
        raise ReplayError(f"{exc} (partial output kept in {', '.join(map(str, parts))})") from None
    finally:
        if dlq is not None:
            dlq.close()
        reader.close()
        rawf.close()
    for part, final in zip(parts, outputs):
        part.replace(final)
    stats.accounts = len(pipe.states)
    stats.elapsed_seconds = time.perf_counter() - t0
    if progress is not None:
        progress(total, total, stats)
    return stats


def _dlq_line(
    lineno: int, record: bytes, exc: InvalidEvent, redact_prompt: bool, index: int | None = None,
    redact_content: Callable[[bytes], tuple[bytes, dict[str, str]]] | None = None,
) -> bytes:
    copy, info = dead_letter(record, exc.code, redact=redact_prompt, content=redact_content)
    entry: dict[str, Any] = {
        "line": lineno,
        "index": index,  # position in the line's JSON array, when the line held several events
        "reason": str(exc),
        "code": exc.code,
        "field": exc.field,
        "original_b64": base64.b64encode(copy).decode("ascii"),  # exact bytes, unless `redacted` says otherwise
    }
    try:
        entry["original"] = copy.decode("utf-8")  # readable copy when it is text
    except UnicodeDecodeError:
        pass
    entry.update(info)  # redacted, original_bytes, original_sha256, prompt_sha256: only when the copy differs
    return orjson.dumps(entry) + b"\n"
