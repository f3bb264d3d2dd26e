"""Input adapters: the log formats users already have, turned into contract v1 events.

One Kafka message value (or one line of a replay file) is a *message*; a
message can hold several *records* (an OTLP export request carries many spans,
a LiteLLM batch several payloads). :func:`decoder` returns the function the
worker and replay call per message::

    decode_message(raw: bytes) -> Decoded

``Decoded.items`` lists, per record, the validated :class:`Event` or the
:class:`InvalidEvent` that rejected it, each with the bytes of that record
alone, so a bad record goes to the dead-letter topic by itself and the others
proceed, and a record that must be re-keyed is forwarded alone.
``Decoded.skipped`` counts records that are well-formed but not API requests
(an OTLP span that is not a GenAI inference span): neither processed nor
rejected.

Adapters map their source fields to a contract v1 mapping and validate it with
:func:`detectors.contract.from_mapping`, so every format obeys the same rules
and caps; an error names the *source* field. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from detectors.contract import MAX_EVENT_BYTES, Event, InvalidEvent, decode, from_mapping

__all__ = ["FORMATS", "Decoded", "decoder", "validate_mapped"]

#: Input formats, in the order the CLI lists them.
FORMATS = ("v1", "otlp_json", "litellm")


@dataclass(slots=True)
class Decoded:
    """What one message held: each record's result with its own bytes, and records skipped."""

    items: list[tuple[Event | InvalidEvent, bytes]] = field(default_factory=list)
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


def _decode_v1(max_bytes: int) -> Callable[[bytes], Decoded]:
    def decode_message(raw: bytes) -> Decoded:
        try:
            return Decoded([(decode(raw, max_bytes=max_bytes), raw)])
        except InvalidEvent as exc:
            return Decoded([(exc, raw)])

    return decode_message


def decoder(
    input_format: str,
    *,
    max_event_bytes: int = MAX_EVENT_BYTES,
    max_message_bytes: int = 16 * MAX_EVENT_BYTES,
    otlp_account_attributes: tuple[str, ...] = ("enduser.id", "user.id"),
    litellm_account_fields: tuple[str, ...] = ("team_id", "key_hash"),
) -> Callable[[bytes], Decoded]:
    """The per-message decode function of ``input_format`` (one of :data:`FORMATS`).

    ``max_event_bytes`` caps one v1 event or one LiteLLM line;
    ``max_message_bytes`` caps a whole multi-record message (an OTLP span is
    bounded by the contract's field caps, not by a byte count).
    """
    if input_format == "v1":
        return _decode_v1(max_event_bytes)
    if input_format == "otlp_json":
        from .otlp_json import OtlpJsonAdapter

        return OtlpJsonAdapter(otlp_account_attributes, max_message_bytes).decode_message
    if input_format == "litellm":
        from .litellm import LiteLLMAdapter

        return LiteLLMAdapter(litellm_account_fields, max_event_bytes, max_message_bytes).decode_message
    raise ValueError(f"unknown input format {input_format!r}; one of {', '.join(FORMATS)}")
