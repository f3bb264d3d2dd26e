"""What a rejected event's dead-letter copy holds: the original bytes, minus prompt text.

The worker (``api-requests-dlq``) and replay (``--dlq FILE``) both call
:func:`dead_letter`, so a reject looks the same in either place. The DLQ is
for finding and fixing producers, and it usually has wider readers than the
input topic; prompt text is customer data the detector never keeps
(``docs/contract.md``), so by default (setting ``dlq_redact_prompt``) it is
taken out of the copy:

* a value that parses as a JSON object loses its ``prompt`` members other than
  ``messages_count`` and ``system_sha256`` (``prompt.text``, and anything a
  producer added there), or the whole ``prompt`` when that is not an object;
  the rest of the object is kept, re-serialized, so a fixed copy can be
  re-driven;
* any other value (not JSON, not UTF-8, not an object, or nested deeper than
  orjson writes) is cut before the first occurrence of the bytes ``prompt``
  (it cannot be parsed to find the field; a producer that escapes the letters
  of that key in a broken document defeats this);
* a value with nothing to redact is copied unchanged, byte for byte.

A ``too_large`` event is never copied, with or without redaction: it is
larger than anything the pipeline accepts, and the producer and broker limits
of the DLQ topic need not admit it. Whenever the copy differs from the
original, the headers say what was removed and carry the original's size and
SHA-256 (and the SHA-256 of the prompt text, to match it with the producer's
own logs).

>>> v, h = dead_letter(b'{"request_id":"r","prompt":{"text":"secret","messages_count":1}}', "range", redact=True)
>>> v, h["redacted"]
(b'{"request_id":"r","prompt":{"messages_count":1}}', 'prompt.text')
>>> dead_letter(b'{"request_id":"r","prompt":{"te', "json", redact=True)[0]
b'{"request_id":"r","'
>>> dead_letter(b'{"request_id":"r","status_code":700}', "range", redact=True)
(b'{"request_id":"r","status_code":700}', {})
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import orjson

__all__ = ["dead_letter", "KEPT_PROMPT_FIELDS", "CUT_MARKER"]

#: ``prompt`` members that are not text and stay in a redacted copy.
KEPT_PROMPT_FIELDS = frozenset({"messages_count", "system_sha256"})
#: Bytes before which an unparseable value is cut.
CUT_MARKER = b"prompt"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dead_letter(
    value: bytes, code: str, *, redact: bool, content: Callable[[bytes], tuple[bytes, dict[str, str]]] | None = None
) -> tuple[bytes, dict[str, str]]:
    """The DLQ copy of a rejected ``value`` (rejected with error ``code``) and what to say about it.

    Returns ``(copy, info)``; ``info`` is empty when the copy is the original
    unchanged, else it has ``redacted`` (what was taken out: dotted field
    names, ``after-byte-N``, or ``value``), ``original_bytes`` and
    ``original_sha256``, and ``prompt_sha256`` when a prompt text string was
    removed. ``content`` redacts records of an input format other than v1
    (:func:`detectors.adapters.redactor`), whose text is not in ``prompt``.
    """
    if code == "too_large":
        return b"", _info(value, "value")
    if not redact:
        return value, {}
    if content is not None:
        return content(value)
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError:
        obj = None
    if type(obj) is not dict:
        return _cut(value)
    prompt = obj.get("prompt")
    if prompt is None:
        return value, {}  # "prompt" was only in other text (a user agent, say): nothing to take out
    if type(prompt) is not dict:
        del obj["prompt"]
        info = _info(value, "prompt")
        text = prompt
    else:
        removed = sorted(k for k in prompt if k not in KEPT_PROMPT_FIELDS)
        if not removed:
            return value, {}
        text = prompt.get("text")
        obj["prompt"] = {k: v for k, v in prompt.items() if k in KEPT_PROMPT_FIELDS}
        info = _info(value, ",".join(f"prompt.{k}" for k in removed))
    try:
        copy = orjson.dumps(obj)
    except orjson.JSONEncodeError:  # deeper than orjson writes (255 levels; it reads 1024)
        return _cut(value)
    if type(text) is str:
        info["prompt_sha256"] = _sha256(text.encode("utf-8"))
    return copy, info


def _cut(value: bytes) -> tuple[bytes, dict[str, str]]:
    cut = value.find(CUT_MARKER)
    if cut < 0:
        return value, {}
    return value[:cut], _info(value, f"after-byte-{cut}")


def _info(value: bytes, redacted: str) -> dict[str, str]:
    return {"redacted": redacted, "original_bytes": str(len(value)), "original_sha256": _sha256(value)}
