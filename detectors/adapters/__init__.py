"""Input adapters: the log formats users already have, turned into contract v1 events.

One Kafka message value (or one line of a replay file) is a *message*; a
message can hold several *records* (a v1 JSON array or NDJSON batch, an OTLP
export request with many spans, a LiteLLM batch of payloads). :func:`decoder`
returns the function the worker and replay call per message::

    decode_message(raw: bytes) -> Decoded

``Decoded.items`` lists, per record, the bytes of that record alone and the
validated :class:`Event` or the :class:`InvalidEvent` that rejected it (the
order of :func:`detectors.contract.decode_message`, which the v1 format is),
so a bad record goes to the dead-letter topic by itself and the others
proceed. A valid element of a v1 JSON array comes as its parsed object in
place of its bytes (:func:`detectors.contract.record_bytes` serialises it,
for the few that are re-routed). ``Decoded.skipped`` counts records that are
well-formed but not API requests (an OTLP span that is not a GenAI model
call): neither processed nor rejected. :func:`joiner` puts records of one
format back into one message, for the re-key topic.

Adapters map their source fields to a contract v1 mapping and validate it with
:func:`detectors.contract.from_mapping`, so every format obeys the same rules
and caps; an error names the *source* field. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import orjson

from detectors.contract import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    MAX_EVENT_BYTES,
    Event,
    InvalidEvent,
    decode_message,
    from_mapping,
)

__all__ = ["FORMATS", "Decoded", "decoder", "joiner", "redactor", "validate_mapped"]

#: Input formats, in the order the CLI lists them.
FORMATS = ("v1", "otlp_json", "litellm")


@dataclass(slots=True)
class Decoded:
    """What one message held: each record's own bytes (or parsed object: see above) with its result, and
    records skipped."""

    items: list[tuple[bytes | dict, Event | InvalidEvent]] = field(default_factory=list)
    skipped: int = 0


def validate_mapped(mapped: dict, source_fields: Mapping[str, str]) -> Event:
    """Validate a contract v1 mapping built from another format.

    ``source_fields`` maps a contract field (``"usage.input_tokens"``) to the
    source field it came from, so the error an operator reads in the DLQ names
    the field their producer wrote.
    """
    try:
        return from_mapping(mapped)
    except InvalidEvent as exc:
        if exc.field in source_fields:
            raise InvalidEvent(source_fields[exc.field], exc.reason, exc.code) from None
        raise


def decoder(
    input_format: str,
    *,
    max_event_bytes: int = MAX_EVENT_BYTES,
    max_message_bytes: int = MAX_BATCH_BYTES,
    max_message_events: int = MAX_BATCH_EVENTS,
    otlp_account_attributes: tuple[str, ...] = ("enduser.id", "user.id"),
    litellm_account_fields: tuple[str, ...] = ("team_id", "key_hash"),
) -> Callable[[bytes], Decoded]:
    """The per-message decode function of ``input_format`` (one of :data:`FORMATS`).

    ``max_event_bytes`` caps one v1 event or one LiteLLM payload;
    ``max_message_bytes`` a whole message; ``max_message_events`` the records
    of a v1 or LiteLLM message (an OTLP message is bounded by its size).
    """
    if input_format == "v1":
        def decode_v1(raw: bytes) -> Decoded:
            return Decoded(decode_message(raw, max_bytes=max_event_bytes, max_batch_bytes=max_message_bytes,
                                          max_events=max_message_events))

        return decode_v1
    if input_format == "otlp_json":
        from .otlp_json import OtlpJsonAdapter

        return OtlpJsonAdapter(otlp_account_attributes, max_message_bytes).decode_message
    if input_format == "litellm":
        from .litellm import LiteLLMAdapter

        adapter = LiteLLMAdapter(litellm_account_fields, max_event_bytes, max_message_bytes, max_message_events)
        return adapter.decode_message
    raise ValueError(f"unknown input format {input_format!r}; one of {', '.join(FORMATS)}")


def _join_otlp(records: list[bytes]) -> bytes:
    # each record is an export request of its own (otlp_json._single): concatenate their resourceSpans
    return orjson.dumps({"resourceSpans": [rs for r in records for rs in orjson.loads(r)["resourceSpans"]]})


_JOINERS: dict[str, Callable[[list[bytes]], bytes]] = {
    "v1": lambda records: b"[" + b",".join(records) + b"]",  # a JSON array of events
    "otlp_json": _join_otlp,
    "litellm": lambda records: b"\n".join(records),  # NDJSON, as the generic API logger sends it
}


def redactor(input_format: str) -> Callable[[bytes], tuple[bytes, dict[str, str]]] | None:
    """How to take prompt and completion text out of a rejected record of ``input_format`` for its
    dead-letter copy (``(copy, info)`` as :func:`streams.dlq.dead_letter` returns them); None for v1,
    whose ``prompt`` member :func:`streams.dlq.dead_letter` handles itself."""
    if input_format == "otlp_json":
        from .otlp_json import redact

        return redact
    if input_format == "litellm":
        from .litellm import redact

        return redact
    return None


def redaction_info(record: bytes, removed: str) -> dict[str, str]:
    """What a redacted dead-letter copy says about its original (the keys of streams.dlq)."""
    return {"redacted": removed, "original_bytes": str(len(record)),
            "original_sha256": hashlib.sha256(record).hexdigest()}


def cut_before(record: bytes, markers: tuple[bytes, ...]) -> tuple[bytes, dict[str, str]]:
    """An unparseable record: everything before the first content marker (unchanged when there is none)."""
    found = [i for i in (record.find(m) for m in markers) if i >= 0]
    if not found:
        return record, {}
    cut = min(found)
    return record[:cut], redaction_info(record, f"after-byte-{cut}")


def joiner(input_format: str) -> Callable[[list[bytes]], bytes]:
    """How records of ``input_format`` (as :func:`decoder` returns them) become one message again,
    which that format's decoder reads back as the same records."""
    return _JOINERS[input_format]
