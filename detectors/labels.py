"""Analyst labels: the verdicts on-call engineers give on accounts.

One JSON object per label on the ``analyst-labels`` topic, key = account id::

    {"account_id": "acct-42", "label": "abusive", "analyst": "jdoe",
     "time": "2026-11-28T10:00:00Z", "note": "confirmed with billing"}

``label`` is ``abusive`` or ``benign``; ``time`` takes both timestamp forms of
the event contract; ``note`` is optional free text (kept out of every output).
The worker joins each label with the account's latest features and teaches
the partition's :class:`~detectors.models.LabelModel`.

>>> decode_label(b'{"account_id":"a","label":"abusive","analyst":"jd","time":1.8e9}').abusive
True
>>> decode_label(b'{"account_id":"a","label":"maybe","analyst":"jd","time":1.8e9}')
Traceback (most recent call last):
...
detectors.contract.InvalidEvent: label: must be 'abusive' or 'benign', got 'maybe'
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from .contract import InvalidEvent, parse_timestamp

__all__ = ["Label", "decode_label", "LABELS", "LABEL_MAX_BYTES"]

LABELS = ("abusive", "benign")
#: Largest label accepted, bytes (a label is four short strings and a note of at most 4096 characters).
LABEL_MAX_BYTES = 16_384


@dataclass(frozen=True, slots=True)
class Label:
    account_id: str
    abusive: bool
    analyst: str
    ts: float
    note: str = ""

    def to_dict(self) -> dict:
        from .contract import format_timestamp

        return {
            "account_id": self.account_id,
            "label": "abusive" if self.abusive else "benign",
            "analyst": self.analyst,
            "time": format_timestamp(self.ts),
            "note": self.note,
        }


def _string(obj: dict, name: str, required: bool = True, limit: int = 128) -> str:
    v = obj.get(name)
    if v is None:
        if required:
            raise InvalidEvent(name, "is required", "missing")
        return ""
    if type(v) is not str:
        raise InvalidEvent(name, f"must be a string, got {type(v).__name__}", "type")
    if required and not v:
        raise InvalidEvent(name, "must not be empty", "range")
    if len(v) > limit:
        raise InvalidEvent(name, f"longer than {limit} characters", "range")
    return v


def decode_label(raw: bytes | str) -> Label:
    """Parse and validate one label; raises :class:`InvalidEvent` (``too_large`` above :data:`LABEL_MAX_BYTES`)."""
    size = len(raw.encode("utf-8", "surrogatepass")) if isinstance(raw, str) else len(raw)
    if size > LABEL_MAX_BYTES:
        raise InvalidEvent(None, f"label is {size} bytes, limit is {LABEL_MAX_BYTES}", "too_large")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(None, f"invalid JSON: {exc}", "json") from None
    if not isinstance(obj, dict):
        raise InvalidEvent(None, "a label must be a JSON object", "not_object")
    account = _string(obj, "account_id")
    label = _string(obj, "label")
    if label not in LABELS:
        raise InvalidEvent("label", f"must be 'abusive' or 'benign', got {label[:20]!r}", "range")
    analyst = _string(obj, "analyst")
    if "time" not in obj or obj["time"] is None:
        raise InvalidEvent("time", "is required", "missing")
    try:
        ts = parse_timestamp(obj["time"])
    except InvalidEvent as exc:
        raise InvalidEvent("time", exc.reason, exc.code) from None
    note = _string(obj, "note", required=False, limit=4096)
    return Label(account, label == "abusive", analyst, ts, note)
