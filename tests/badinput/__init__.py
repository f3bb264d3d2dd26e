"""The bad-input corpus: one case per kind of malformed (or merely odd) event.

``cases.json`` lists every case with a ``name``, ``why`` it is there, its
bytes, and what must become of it. The bytes are ``raw`` (the text, UTF-8),
``raw_b64`` (for bytes that are not UTF-8), or ``generate`` (built at test
time, so 10 MB are never committed):

* ``{"kind": "prompt_text", "chars": N}``: an otherwise valid event whose
  ``prompt.text`` is N characters of distinctive text;
* ``{"kind": "pad_to_bytes", "over": N}``: a valid event padded with JSON
  whitespace to ``max_event_bytes + N`` bytes;
* ``{"kind": "nested_arrays", "depth": N}``: N nested arrays;
* ``{"kind": "nested_field", "depth": N}``: a valid event with an unknown field
  nested N objects deep;
* ``{"kind": "tombstone"}``: no value at all (Kafka only).

``expect`` is ``valid``, ``duplicate`` (a re-delivery of an earlier valid
case's request id) or ``invalid`` with the error ``code`` and ``field`` the
decoder must give. ``key`` is the Kafka key: absent means the account id when
the value has a readable one (else no key), ``null`` means no key,
``{"repeat": S, "times": N}`` a long key. ``replay`` says what replay makes of
the line when that differs from Kafka: ``blank`` (an empty or whitespace line
is not an event) or ``absent`` (no such line exists in a file).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

import orjson

from detectors.contract import MAX_EVENT_BYTES

__all__ = ["Case", "load_cases", "CASES_PATH", "PROMPT_MARK"]

CASES_PATH = Path(__file__).with_name("cases.json")
#: Every prompt text in the corpus starts with this, so a scan can look for it.
PROMPT_MARK = "BADINPUT-PROMPT"
_FILLER = " Reason through each step aloud before you answer; show every intermediate result."
_BASE = {
    "request_id": "gen-1",
    "timestamp": "2026-11-28T01:00:00Z",
    "account_id": "acct-bad",
    "model": "frontier-large",
    "status_code": 200,
}


@dataclass(frozen=True)
class Case:
    name: str
    why: str
    raw: bytes | None  # None: a Kafka tombstone
    expect: str  # valid | duplicate | invalid
    code: str | None
    field: str | None
    key: bytes | None
    replay: str  # event | blank | absent

    @property
    def on_replay(self) -> bool:
        """Whether this case is a record (an event) when written as a line of a replay file."""
        return self.replay == "event"


def _generate(spec: dict, max_event_bytes: int) -> bytes | None:
    kind = spec["kind"]
    if kind == "tombstone":
        return None
    if kind == "prompt_text":
        text = (PROMPT_MARK + _FILLER * (spec["chars"] // len(_FILLER) + 1))[: spec["chars"]]
        return orjson.dumps({**_BASE, "request_id": f"gen-text-{spec['chars']}", "prompt": {"text": text}})
    if kind == "pad_to_bytes":
        raw = orjson.dumps({**_BASE, "request_id": "gen-pad"})
        return raw + b" " * (max_event_bytes + spec["over"] - len(raw))
    if kind == "nested_arrays":
        return b"[" * spec["depth"] + b"]" * spec["depth"]
    if kind == "nested_field":
        head = orjson.dumps({**_BASE, "request_id": "gen-deep"})[:-1]
        return head + b',"x":' + b'{"a":' * spec["depth"] + b"1" + b"}" * spec["depth"] + b"}"
    raise ValueError(f"unknown generator {kind!r}")


def _key(spec: object, raw: bytes | None) -> bytes | None:
    if spec == "auto":
        try:
            account = orjson.loads(raw)["account_id"]  # type: ignore[arg-type,index]
        except (orjson.JSONDecodeError, TypeError, KeyError):
            return None
        return account.encode("utf-8", "surrogatepass") if isinstance(account, str) else None
    if spec is None:
        return None
    return (spec["repeat"] * spec["times"]).encode()  # type: ignore[index]


def load_cases(max_event_bytes: int = MAX_EVENT_BYTES) -> list[Case]:
    """The corpus, in file order (valid cases come before the duplicates that repeat them)."""
    doc = json.loads(CASES_PATH.read_text("utf-8"))
    cases = []
    for c in doc["cases"]:
        if "raw" in c:
            raw = c["raw"].encode("utf-8")
        elif "raw_b64" in c:
            raw = base64.b64decode(c["raw_b64"], validate=True)
        else:
            raw = _generate(c["generate"], max_event_bytes)
        assert raw is None or b"\n" not in raw.rstrip(b"\r\n"), f"{c['name']}: a line break would split the line"
        cases.append(
            Case(
                name=c["name"],
                why=c["why"],
                raw=raw,
                expect=c["expect"],
                code=c.get("code"),
                field=c.get("field"),
                key=_key(c.get("key", "auto"), raw),
                replay=c.get("replay", "event"),
            )
        )
    return cases
