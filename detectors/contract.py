"""Decoding and validation of API request log events, contract version 1.

This is the per-event hot path of the stream processor: :func:`decode` turns the
raw bytes of one Kafka message value (or one JSON Lines line) into an
:class:`Event`, or raises :class:`InvalidEvent` with the offending field, a
short human reason and a stable machine ``code`` (for the dead-letter topic and
for metrics). Nothing else is ever raised for bad input.

The contract is ``/work/shared/spec/api-request-v1.md`` plus the project caps
below. ``schema/api-request-v1.schema.json`` (:data:`SCHEMA_PATH`) states the
same rules as a JSON Schema (draft 2020-12); ``tests/test_contract.py`` checks
that both agree on a corpus of valid and invalid events.

Field rules
-----------

=========================  ==============================================  ====================
field (Event attribute)    rule                                            error codes
=========================  ==============================================  ====================
``request_id``             required string, 1..128 chars, no control       missing, type, range,
                           characters (U+0000-001F, U+007F-009F)           format
``timestamp`` (``ts``)     required; RFC 3339 string with offset, or       missing, type,
                           number of Unix seconds; instant in               format, range
                           [2000-01-01Z, 2100-01-01Z). Stored as float s.
``account_id``             required string, 1..128 chars, no control       missing, type, range,
                           characters (U+0000-001F, U+007F-009F)           format
``model``                  required string, 1..256 chars                   missing, type, range
``status_code``            required integer, 100..599                      missing, type, range
``api_key_id``             string, <= 1024 chars                           type, range
``user_id``                string, <= 1024 chars                           type, range
``client_ip``              IPv4 or IPv6 address string (no zone id);       type, format
                           stored normalized, IPv4-mapped IPv6 as IPv4
``user_agent``             string, <= 1024 chars                           type, range
``endpoint``               string, <= 1024 chars                           type, range
``latency_ms``             finite number >= 0 (stored as float)            type, range
``finish_reason``          string, <= 1024 chars                           type, range
``conversation_id``        string, <= 1024 chars                           type, range
``usage``                  object                                          type
``usage.input_tokens``     integer >= 0                                    type, range
``usage.output_tokens``    integer >= 0                                    type, range
``usage.reasoning_tokens`` integer >= 0                                    type, range
``params``                 object                                          type
``params.temperature``     finite number >= 0 (stored as float)            type, range
``params.top_p``           finite number in [0, 1] (stored as float)       type, range
``params.max_tokens``      integer >= 1                                    type, range
``params.n``               integer >= 1                                    type, range
``params.logprobs``        boolean                                         type
``params.top_logprobs``    integer >= 0                                    type, range
``params.stream``          boolean                                         type
``params.seed``            integer (any sign)                              type, range
``params.tools_count``     integer >= 0                                    type, range
``params.response_format`` string, <= 1024 chars                           type, range
``prompt``                 object                                          type
``prompt.messages_count``  integer >= 1                                    type, range
``prompt.text``            string, <= 1,000,000 chars (``prompt_text``)    type, range
``prompt.system_sha256``   string, <= 1024 chars                           type, range
=========================  ==============================================  ====================

General rules:

* All fields but the five required ones are optional; JSON ``null`` means
  absent (attribute ``None``). A required field that is absent or ``null`` is
  code ``missing``.
* "integer" has JSON Schema semantics: a number with zero fractional part
  (``5.0``) is an integer and is stored as ``int``. Integers must fit in a
  signed 64-bit integer (else ``range``). Booleans are never numbers.
* "number" rejects NaN and infinities (``range``); JSON literals ``NaN`` and
  ``Infinity`` are not JSON at all (``json``).
* Timestamp strings: ``YYYY-MM-DD`` then ``T``, ``t`` or a space, then
  ``HH:MM:SS``, optional fraction of any length, then ``Z``, ``z`` or
  ``+HH:MM``/``-HH:MM`` (mandatory: a naive time is rejected). Second ``60``
  (leap second) is accepted and counts as the first second of the next minute,
  as POSIX time does. Numbers are Unix seconds, fractions allowed.
* Unknown fields anywhere are ignored, however deeply nested (orjson itself
  refuses documents nested deeper than 1024 levels: code ``json``).
* Whole-event problems (``field`` is None): ``too_large`` (more than
  ``max_bytes`` UTF-8 bytes, default :data:`MAX_EVENT_BYTES`), ``utf8``
  (invalid UTF-8), ``json`` (not one JSON document), ``not_object`` (a JSON
  value that is not an object).
* Reasons never quote ``prompt.text``; quoted values are truncated.

Examples
--------
>>> ev = decode(b'{"request_id": "r-1", "timestamp": "2026-11-28T10:41:03.123+01:00",'
...             b' "account_id": "acct-42", "model": "m", "status_code": 200,'
...             b' "usage": {"output_tokens": 1780.0}, "extra": [1, 2]}')
>>> format_timestamp(ev.ts), ev.output_tokens, ev.input_tokens
('2026-11-28T09:41:03.123Z', 1780, None)
>>> try:
...     decode(b'{"request_id": "r-1", "timestamp": 1795858863, "account_id": "a",'
...            b' "model": "m", "status_code": 200, "usage": {"output_tokens": -3}}')
... except InvalidEvent as exc:
...     print(exc.code, "|", exc)
range | usage.output_tokens: must be an integer >= 0, got -3
"""

from __future__ import annotations

import os
import re
from datetime import date as _date
from datetime import datetime as _datetime
from ipaddress import AddressValueError as _AddressValueError
from ipaddress import IPv4Address as _IPv4Address
from ipaddress import IPv6Address as _IPv6Address

import cython
import orjson

__all__ = [
    "CODES",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_EVENTS",
    "MAX_EVENT_BYTES",
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "Event",
    "InvalidEvent",
    "decode",
    "decode_message",
    "format_timestamp",
    "from_mapping",
    "parse_timestamp",
    "record_bytes",
]

SCHEMA_VERSION = 1
MAX_EVENT_BYTES = 1_048_576
SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema", "api-request-v1.schema.json")

TS_MIN = 946_684_800.0  # 2000-01-01T00:00:00Z, inclusive
TS_MAX = 4_102_444_800.0  # 2100-01-01T00:00:00Z, exclusive
_TS_MIN, _TS_MAX = TS_MIN, TS_MAX  # C copies for the compiled timestamp parser (contract.pxd)
ID_MAX_CHARS = 128
MODEL_MAX_CHARS = 256
STR_MAX_CHARS = 1024
PROMPT_TEXT_MAX_CHARS = 1_000_000

_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1
_DBL_MAX = 1.7976931348623157e308
_IP_MAX_CHARS = 45  # longest unscoped textual IPv6: "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
_IP6_CACHE_MAX = 4096

CODES = frozenset({"json", "utf8", "too_large", "not_object", "missing", "type", "range", "format"})


class InvalidEvent(ValueError):
    """An event that breaks the contract.

    Parameters
    ----------
    field
        Dotted field name (``"usage.input_tokens"``), or None for a problem with
        the whole event (not JSON, not an object, too large).
    reason
        Short human text; never contains prompt text.
    code
        Stable machine code for metrics, one of ``json``, ``utf8``,
        ``too_large``, ``not_object``, ``missing``, ``type``, ``range``,
        ``format``.
    """

    __slots__ = ("field", "reason", "code")

    def __init__(self, field: str | None, reason: str, code: str = "format") -> None:
        super().__init__(field, reason, code)
        self.field = field
        self.reason = reason
        self.code = code

    def __str__(self) -> str:
        if self.field is None:
            return self.reason
        return f"{self.field}: {self.reason}"


class Event:
    """One decoded, validated API request (contract v1).

    ``ts`` is the event time in Unix seconds (float). Optional fields are None
    when absent or JSON null. Flattened names: ``usage.*`` are
    ``input_tokens``/``output_tokens``/``reasoning_tokens``, ``params.*`` keep
    their names, ``prompt.text`` is ``prompt_text`` (never printed by
    ``repr``), ``prompt.messages_count``/``prompt.system_sha256`` are
    ``messages_count``/``system_sha256``.
    """

    __slots__ = (
        "request_id", "ts", "account_id", "model", "status_code", "api_key_id", "user_id", "client_ip",
        "user_agent", "endpoint", "latency_ms", "finish_reason", "conversation_id",
        "input_tokens", "output_tokens", "reasoning_tokens",
        "temperature", "top_p", "max_tokens", "n", "logprobs", "top_logprobs", "stream", "seed",
        "tools_count", "response_format", "messages_count", "prompt_text", "system_sha256",
    )  # fmt: skip

    def __init__(
        self,
        request_id: str,
        ts: float,
        account_id: str,
        model: str,
        status_code: int,
        api_key_id: str | None = None,
        user_id: str | None = None,
        client_ip: str | None = None,
        user_agent: str | None = None,
        endpoint: str | None = None,
        latency_ms: float | None = None,
        finish_reason: str | None = None,
        conversation_id: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        reasoning_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        n: int | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        stream: bool | None = None,
        seed: int | None = None,
        tools_count: int | None = None,
        response_format: str | None = None,
        messages_count: int | None = None,
        prompt_text: str | None = None,
        system_sha256: str | None = None,
    ) -> None:
        self.request_id = request_id
        self.ts = ts
        self.account_id = account_id
        self.model = model
        self.status_code = status_code
        self.api_key_id = api_key_id
        self.user_id = user_id
        self.client_ip = client_ip
        self.user_agent = user_agent
        self.endpoint = endpoint
        self.latency_ms = latency_ms
        self.finish_reason = finish_reason
        self.conversation_id = conversation_id
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.reasoning_tokens = reasoning_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.n = n
        self.logprobs = logprobs
        self.top_logprobs = top_logprobs
        self.stream = stream
        self.seed = seed
        self.tools_count = tools_count
        self.response_format = response_format
        self.messages_count = messages_count
        self.prompt_text = prompt_text
        self.system_sha256 = system_sha256

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        for name in Event.__slots__:
            if getattr(self, name) != getattr(other, name):
                return False
        return True

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        parts = []
        for name in Event.__slots__:
            value = getattr(self, name)
            if name == "prompt_text":
                if value is not None:
                    parts.append("prompt_text=<redacted>")
            elif value is not None or name in _REQUIRED_ATTRS:
                parts.append(f"{name}={value!r}")
        return f"Event({', '.join(parts)})"


_REQUIRED_ATTRS = frozenset({"request_id", "ts", "account_id", "model", "status_code"})

# --------------------------------------------------------------------------- #
# Timestamps

_TS_RE = re.compile(
    r"([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]"
    r"([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9]|60)(\.[0-9]+)?"
    r"(?:[Zz]|([+-])([01][0-9]|2[0-3]):([0-5][0-9]))"
)
_ts_fullmatch = _TS_RE.fullmatch
_fromisoformat = _datetime.fromisoformat
# Looks like a date-time but has no offset: worth its own message.
_NAIVE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?")
_UNIX_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()
_TS_EXPECT = "must be an RFC 3339 date-time string with offset or a number of Unix seconds"


def _show(value: object) -> str:
    """Short repr of a value for an error reason."""
    if type(value) is str and len(value) > 64:
        return repr(value[:64]) + "..."
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return text


_JSON_TYPE_NAMES = {type(None): "null", bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}


def _json_type(value: object) -> str:
    name = _JSON_TYPE_NAMES.get(type(value))
    return name if name is not None else type(value).__name__


def _parse_ts_string(value: str) -> float:
    # Fast path: the regex proves the RFC 3339 shape (which Python 3.11's
    # fromisoformat alone does not), then fromisoformat does the arithmetic in C.
    if _ts_fullmatch(value) is not None:
        try:
            ts = _fromisoformat(value).timestamp()
        except (ValueError, OverflowError):  # lowercase 'z', leap second, bad day of month
            pass
        else:
            if TS_MIN <= ts < TS_MAX:
                return ts
    return _parse_ts_slow(value)


@cython.boundscheck(False)  # every index below is checked against the length first
@cython.wraparound(False)
def _parse_ts_fast(value: str) -> float:
    """The common timestamp shape, parsed by hand (compiled, a tenth of the regular expression and
    ``fromisoformat``): ``YYYY-MM-DD``, ``T``/``t``/space, ``HH:MM:SS``, an optional fraction (truncated to
    microseconds), then ``Z``/``z`` or ``+HH:MM``/``-HH:MM``. Returns -1.0 for anything else (a leap second,
    a day the month does not have, an instant outside the contract's range, any other shape), which
    :func:`_parse_ts_string` then decides. The same float as :func:`_parse_ts_string` otherwise:
    tests/test_contract.py checks it on generated timestamps.
    """
    n = len(value)
    if n < 20 or value[4] != "-" or value[7] != "-" or value[13] != ":" or value[16] != ":":
        return -1.0
    sep = value[10]
    if sep != "T" and sep != "t" and sep != " ":
        return -1.0
    year = _digits(value, 0, 4)
    month = _digits(value, 5, 2)
    day = _digits(value, 8, 2)
    hour = _digits(value, 11, 2)
    minute = _digits(value, 14, 2)
    second = _digits(value, 17, 2)
    if year < 0 or month < 1 or month > 12 or day < 1 or hour < 0 or hour > 23 or minute < 0 or minute > 59:
        return -1.0
    if second < 0 or second > 59:
        return -1.0
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if day > (29 if leap else 28) if month == 2 else day > (30 if month in (4, 6, 9, 11) else 31):
        return -1.0
    i = 19
    micros = 0
    if value[i] == ".":
        i += 1
        digits = 0
        while i < n and "0" <= value[i] <= "9":
            if digits < 6:
                micros = micros * 10 + (ord(value[i]) - 48)
            digits += 1
            i += 1
        if digits == 0:
            return -1.0
        while digits < 6:
            micros *= 10
            digits += 1
    if i >= n:
        return -1.0
    offset = 0
    zone = value[i]
    if zone == "Z" or zone == "z":
        if i + 1 != n:
            return -1.0
    elif zone == "+" or zone == "-":
        if i + 6 != n or value[i + 3] != ":":
            return -1.0
        off_h = _digits(value, i + 1, 2)
        off_m = _digits(value, i + 4, 2)
        if off_h < 0 or off_h > 23 or off_m < 0 or off_m > 59:
            return -1.0
        offset = off_h * 3600 + off_m * 60
        if zone == "-":
            offset = -offset
    else:
        return -1.0
    # days since 1970-01-01 of the proleptic Gregorian date (the civil-from-days inverse)
    y = year - 1 if month <= 2 else year
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    secs = days * 86400 + hour * 3600 + minute * 60 + second - offset
    ts = (secs * 1_000_000 + micros) / 1_000_000
    if not _TS_MIN <= ts < _TS_MAX:
        return -1.0
    return ts


@cython.boundscheck(False)  # every index below is checked against the length first
@cython.wraparound(False)
def _digits(value: str, at: int, count: int) -> int:
    """The decimal number ``value[at:at + count]`` (ASCII digits only), or -1."""
    v = 0
    for i in range(at, at + count):
        c = value[i]
        if c < "0" or c > "9":
            return -1
        v = v * 10 + (ord(c) - 48)
    return v


def _parse_ts_slow(value: str) -> float:
    """Exact parse with precise errors; agrees with the fast path (microseconds, truncated)."""
    m = _ts_fullmatch(value)
    if m is None:
        if _NAIVE_RE.fullmatch(value) is not None:
            raise InvalidEvent("timestamp", f"no UTC offset (naive time), need 'Z' or '+HH:MM': {_show(value)}", "format")
        raise InvalidEvent("timestamp", f"not RFC 3339 with offset: {_show(value)}", "format")
    year, month, day, hour, minute, second, frac, sign, off_h, off_m = m.groups()
    if year == "0000":
        raise InvalidEvent("timestamp", f"timestamp out of range (year 2000..2099 UTC): {_show(value)}", "range")
    try:
        days = _date(int(year), int(month), int(day)).toordinal() - _UNIX_EPOCH_ORDINAL
    except ValueError:
        raise InvalidEvent("timestamp", f"not a calendar date: {_show(value)}", "format") from None
    secs = days * 86400 + int(hour) * 3600 + int(minute) * 60 + int(second)  # second 60 rolls over
    if sign is not None:
        offset = int(off_h) * 3600 + int(off_m) * 60
        secs = secs - offset if sign == "+" else secs + offset
    micros = int(frac[1:7].ljust(6, "0")) if frac is not None else 0
    ts = (secs * 1_000_000 + micros) / 1_000_000
    if not TS_MIN <= ts < TS_MAX:
        raise InvalidEvent("timestamp", f"timestamp out of range (year 2000..2099 UTC): {_show(value)}", "range")
    return ts


def parse_timestamp(value: object) -> float:
    """Event time of a contract ``timestamp`` value as float Unix seconds.

    Accepts an RFC 3339 string with mandatory offset or a number of Unix
    seconds; the instant must lie in [2000-01-01Z, 2100-01-01Z).

    Raises
    ------
    InvalidEvent
        With ``field="timestamp"`` and code ``missing``, ``type``, ``format``
        or ``range``.

    Examples
    --------
    >>> parse_timestamp("2026-11-28T11:41:03.5+02:00")
    1795858863.5
    >>> parse_timestamp(1795858863)
    1795858863.0
    """
    t = type(value)
    if t is str:
        return _parse_ts_string(value)  # type: ignore[arg-type]
    if t is float or t is int:
        if TS_MIN <= value < TS_MAX:  # type: ignore[operator]  # False for NaN
            return float(value)  # type: ignore[arg-type]
        raise InvalidEvent("timestamp", f"timestamp out of range (year 2000..2099 UTC): {_show(value)}", "range")
    if value is None:
        raise InvalidEvent("timestamp", "required field is missing or null", "missing")
    if isinstance(value, str):
        return _parse_ts_string(str(value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return parse_timestamp(float(value) if isinstance(value, float) else int(value))
    raise InvalidEvent("timestamp", f"{_TS_EXPECT}, got {_json_type(value)}", "type")


def format_timestamp(ts: float) -> str:
    """RFC 3339 UTC text of Unix seconds, millisecond precision, ``Z`` suffix.

    Examples
    --------
    >>> format_timestamp(1795858863.123)
    '2026-11-28T09:41:03.123Z'
    """
    millis = round(ts * 1000)
    secs, ms = divmod(millis, 1000)
    days, secs = divmod(secs, 86400)
    d = _date.fromordinal(days + _UNIX_EPOCH_ORDINAL)
    hour, secs = divmod(secs, 3600)
    minute, second = divmod(secs, 60)
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{ms:03d}Z"


# --------------------------------------------------------------------------- #
# Slow paths: called only when the inline fast check fails. Each returns the
# converted value or raises the precise error.


def _str_slow(value: object, field: str, min_len: int, max_len: int) -> str | None:
    if value is None:
        if min_len > 0:
            raise InvalidEvent(field, "required field is missing or null", "missing")
        return None
    expect = f"must be a string of {min_len}..{max_len} characters" if min_len else f"must be a string of at most {max_len} characters"
    if not isinstance(value, str):
        raise InvalidEvent(field, f"{expect}, got {_json_type(value)}", "type")
    value = str(value)
    if not min_len <= len(value) <= max_len:
        raise InvalidEvent(field, f"{expect}, got {len(value)} characters", "range")
    return value


_ID_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_id_control_search = _ID_CONTROL_RE.search


def _id_slow(value: object, field: str) -> str:
    """An id is a Kafka key, a log field and an Alertmanager label: no control characters (C0, DEL, C1).

    The inline fast path accepts printable ASCII only; other ids (non-ASCII) come here and are searched.
    """
    value = _str_slow(value, field, 1, ID_MAX_CHARS)
    m = _id_control_search(value)  # type: ignore[arg-type]
    if m is not None:
        raise InvalidEvent(field, f"must not contain control characters, found U+{ord(m.group()):04X}", "format")
    return value  # type: ignore[return-value]


def _int_slow(value: object, field: str, lo: int, hi: int, expect: str, required: bool = False) -> int | None:
    if value is None:
        if required:
            raise InvalidEvent(field, "required field is missing or null", "missing")
        return None
    if isinstance(value, bool):
        raise InvalidEvent(field, f"{expect}, got boolean", "type")
    if isinstance(value, int):
        number = int(value)
    elif isinstance(value, float):
        if not value.is_integer():  # also NaN and infinities
            raise InvalidEvent(field, f"{expect}, got {_show(value)}", "type")
        number = int(value)
    else:
        raise InvalidEvent(field, f"{expect}, got {_json_type(value)}", "type")
    if not lo <= number <= hi:
        if number > _I64_MAX or number < _I64_MIN:
            raise InvalidEvent(field, f"{expect} (signed 64-bit), got {_show(value)}", "range")
        raise InvalidEvent(field, f"{expect}, got {_show(value)}", "range")
    return number


def _num_slow(value: object, field: str, hi: float, expect: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidEvent(field, f"{expect}, got {_json_type(value)}", "type")
    if not 0 <= value <= hi:  # False for NaN; infinities and huge ints exceed hi
        raise InvalidEvent(field, f"{expect}, got {_show(value)}", "range")
    return float(value)


def _bool_slow(value: object, field: str) -> bool | None:
    if value is None:
        return None
    raise InvalidEvent(field, f"must be a boolean, got {_json_type(value)}", "type")


def _obj_slow(value: object, field: str) -> dict:
    if isinstance(value, dict):
        return dict(value)
    raise InvalidEvent(field, f"must be an object, got {_json_type(value)}", "type")


_IPV4_RE = re.compile(r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])")
_ipv4_fullmatch = _IPV4_RE.fullmatch
_ip6_cache: dict[str, str] = {}  # cleared in place, never replaced


@cython.boundscheck(False)  # every index below is checked against the length first
@cython.wraparound(False)
def _dotted_quad(s: str) -> bool:
    """``s`` is an IPv4 address in the form :data:`_IPV4_RE` matches: four decimal octets 0-255, no leading
    zeros, three dots (an address stored as it is). Compiled, one C pass over the characters, a tenth of the
    regular expression; interpreted, the regular expression."""
    if not cython.compiled:
        return _ipv4_fullmatch(s) is not None
    n = len(s)
    i = 0
    for part in range(4):
        if part:
            if i >= n or s[i] != ".":
                return False
            i += 1
        start = i
        v = 0
        while i < n and i - start < 3 and "0" <= s[i] <= "9":
            v = v * 10 + (ord(s[i]) - 48)
            i += 1
        if i == start or v > 255 or (i - start > 1 and s[start] == "0"):
            return False
    return i == n


def _printable_ascii(s: str) -> bool:
    """Every character of ``s`` is printable ASCII (U+0020-007E), as ``s.isascii() and s.isprintable()``:
    compiled, one C loop over the characters, where the two method calls cost more than the check."""
    if not cython.compiled:
        return s.isascii() and s.isprintable()
    for c in s:
        if c < " " or c > "~":
            return False
    return True


def _ip_slow(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEvent("client_ip", f"must be an IPv4 or IPv6 address string, got {_json_type(value)}", "type")
    value = str(value)
    cached = _ip6_cache.get(value)
    if cached is not None:
        return cached
    if len(value) > _IP_MAX_CHARS or "%" in value:
        raise InvalidEvent("client_ip", f"not an IPv4 or IPv6 address (zone ids not accepted): {_show(value)}", "format")
    try:
        return str(_IPv4Address(value))
    except _AddressValueError:
        pass
    try:
        address = _IPv6Address(value)
    except _AddressValueError:
        raise InvalidEvent("client_ip", f"not an IPv4 or IPv6 address: {_show(value)}", "format") from None
    mapped = address.ipv4_mapped
    normal = str(mapped) if mapped is not None else str(address)
    if len(_ip6_cache) >= _IP6_CACHE_MAX:
        _ip6_cache.clear()
    _ip6_cache[value] = normal
    return normal


# --------------------------------------------------------------------------- #
# Decoding


def _int_in(value: object, lo: int, hi: int) -> bool:
    """``value`` is an ``int`` (not a bool) in ``lo..hi`` (compiled, a C comparison; an int beyond 64 bits
    is out of every such range)."""
    if type(value) is not int:
        return False
    try:
        v = value
    except OverflowError:  # compiled: does not fit a C long long
        return False
    return lo <= v <= hi


def _number_in(value: object, hi: float) -> bool:
    """``value`` is an ``int`` or ``float`` (not a bool) in ``0..hi`` (False for NaN)."""
    t = type(value)
    if t is float:
        f = value
        return 0.0 <= f <= hi
    if t is not int:
        return False
    try:
        v = value
    except OverflowError:  # compiled: does not fit a C long long; Python's exact comparison
        return 0 <= value <= hi
    return 0 <= v <= hi


def _parsed_keys(*names: str) -> tuple:
    """The str objects orjson gives these keys when it parses them.

    orjson keeps one str per short key it has seen (its key cache) and puts that same object into every dict
    it builds. Its dicts are presized, so CPython files their keys as general objects and compares each key
    a lookup probes through ``PyObject_RichCompare`` unless it is the very object looked up. Looking the
    fields up with orjson's own objects makes each lookup an identity hit (about 3,000 instructions per event
    less: docs/BENCHMARKS.md, afternoon). Should orjson stop caching keys, or evict one of these, the lookups
    stay correct, only no faster.
    """
    return tuple(orjson.loads(orjson.dumps(dict.fromkeys(names, 0))))


(
    _K_REQUEST_ID, _K_TIMESTAMP, _K_ACCOUNT_ID, _K_MODEL, _K_STATUS_CODE, _K_API_KEY_ID, _K_USER_ID, _K_CLIENT_IP,
    _K_USER_AGENT, _K_ENDPOINT, _K_LATENCY_MS, _K_FINISH_REASON, _K_CONVERSATION_ID, _K_USAGE, _K_INPUT_TOKENS,
    _K_OUTPUT_TOKENS, _K_REASONING_TOKENS, _K_PARAMS, _K_TEMPERATURE, _K_TOP_P, _K_MAX_TOKENS, _K_N, _K_LOGPROBS,
    _K_TOP_LOGPROBS, _K_STREAM, _K_SEED, _K_TOOLS_COUNT, _K_RESPONSE_FORMAT, _K_PROMPT, _K_MESSAGES_COUNT, _K_TEXT,
    _K_SYSTEM_SHA256,
) = _parsed_keys(
    "request_id", "timestamp", "account_id", "model", "status_code", "api_key_id", "user_id", "client_ip",
    "user_agent", "endpoint", "latency_ms", "finish_reason", "conversation_id", "usage", "input_tokens",
    "output_tokens", "reasoning_tokens", "params", "temperature", "top_p", "max_tokens", "n", "logprobs",
    "top_logprobs", "stream", "seed", "tools_count", "response_format", "prompt", "messages_count", "text",
    "system_sha256",
)


def from_mapping(obj: object) -> Event:
    """Validate an already-parsed JSON value against contract v1.

    Raises
    ------
    InvalidEvent
        Code ``not_object`` if ``obj`` is not a dict, otherwise the first
        field that breaks a rule (see the module docstring).
    """
    if type(obj) is dict:
        d = obj
    elif isinstance(obj, dict):
        d = dict(obj)
    else:
        raise InvalidEvent(None, f"event must be a JSON object, got {_json_type(obj)}", "not_object")
    I64_MAX = _I64_MAX  # the caps as locals (compiled, C integers: contract.pxd)
    SMAX = STR_MAX_CHARS
    ID_MAX = ID_MAX_CHARS
    MODEL_MAX = MODEL_MAX_CHARS
    TEXT_MAX = PROMPT_TEXT_MAX_CHARS

    # Required fields.
    request_id = d.get(_K_REQUEST_ID)
    if (type(request_id) is not str or not 0 < len(request_id) <= ID_MAX
            or not _printable_ascii(request_id)):
        request_id = _id_slow(request_id, "request_id")
    ts = d.get(_K_TIMESTAMP)
    if type(ts) is str:
        t = _parse_ts_fast(ts) if cython.compiled else -1.0  # interpreted, the regular expression is faster
        ts = t if t >= 0.0 else _parse_ts_string(ts)
    else:
        ts = parse_timestamp(ts)
    account_id = d.get(_K_ACCOUNT_ID)
    if (type(account_id) is not str or not 0 < len(account_id) <= ID_MAX
            or not _printable_ascii(account_id)):
        account_id = _id_slow(account_id, "account_id")
    model = d.get(_K_MODEL)
    if type(model) is not str or not 0 < len(model) <= MODEL_MAX:
        model = _str_slow(model, "model", 1, MODEL_MAX_CHARS)
    status_code = d.get(_K_STATUS_CODE)
    if not _int_in(status_code, 100, 599):
        status_code = _int_slow(status_code, "status_code", 100, 599, "must be an integer in 100..599", True)

    # Optional top-level fields.
    api_key_id = d.get(_K_API_KEY_ID)
    if api_key_id is not None and (type(api_key_id) is not str or len(api_key_id) > SMAX):
        api_key_id = _str_slow(api_key_id, "api_key_id", 0, SMAX)
    user_id = d.get(_K_USER_ID)
    if user_id is not None and (type(user_id) is not str or len(user_id) > SMAX):
        user_id = _str_slow(user_id, "user_id", 0, SMAX)
    client_ip = d.get(_K_CLIENT_IP)
    if client_ip is not None and (type(client_ip) is not str or not _dotted_quad(client_ip)):
        normal = _ip6_cache.get(client_ip) if type(client_ip) is str else None  # IPv6 seen before
        client_ip = normal if normal is not None else _ip_slow(client_ip)
    user_agent = d.get(_K_USER_AGENT)
    if user_agent is not None and (type(user_agent) is not str or len(user_agent) > SMAX):
        user_agent = _str_slow(user_agent, "user_agent", 0, SMAX)
    endpoint = d.get(_K_ENDPOINT)
    if endpoint is not None and (type(endpoint) is not str or len(endpoint) > SMAX):
        endpoint = _str_slow(endpoint, "endpoint", 0, SMAX)
    latency_ms = d.get(_K_LATENCY_MS)
    if latency_ms is not None:
        if _number_in(latency_ms, _DBL_MAX):
            latency_ms = float(latency_ms)
        else:
            latency_ms = _num_slow(latency_ms, "latency_ms", _DBL_MAX, "must be a finite number >= 0")
    finish_reason = d.get(_K_FINISH_REASON)
    if finish_reason is not None and (type(finish_reason) is not str or len(finish_reason) > SMAX):
        finish_reason = _str_slow(finish_reason, "finish_reason", 0, SMAX)
    conversation_id = d.get(_K_CONVERSATION_ID)
    if conversation_id is not None and (type(conversation_id) is not str or len(conversation_id) > SMAX):
        conversation_id = _str_slow(conversation_id, "conversation_id", 0, SMAX)

    # usage
    input_tokens = output_tokens = reasoning_tokens = None
    value = d.get(_K_USAGE)
    if value is not None:
        sub = value if type(value) is dict else _obj_slow(value, "usage")
        input_tokens = sub.get(_K_INPUT_TOKENS)
        if input_tokens is not None and not _int_in(input_tokens, 0, I64_MAX):
            input_tokens = _int_slow(input_tokens, "usage.input_tokens", 0, I64_MAX, "must be an integer >= 0")
        output_tokens = sub.get(_K_OUTPUT_TOKENS)
        if output_tokens is not None and not _int_in(output_tokens, 0, I64_MAX):
            output_tokens = _int_slow(output_tokens, "usage.output_tokens", 0, I64_MAX, "must be an integer >= 0")
        reasoning_tokens = sub.get(_K_REASONING_TOKENS)
        if reasoning_tokens is not None and not _int_in(reasoning_tokens, 0, I64_MAX):
            reasoning_tokens = _int_slow(reasoning_tokens, "usage.reasoning_tokens", 0, I64_MAX, "must be an integer >= 0")

    # params
    temperature = top_p = max_tokens = n = logprobs = top_logprobs = stream = seed = None
    tools_count = response_format = None
    value = d.get(_K_PARAMS)
    if value is not None:
        sub = value if type(value) is dict else _obj_slow(value, "params")
        temperature = sub.get(_K_TEMPERATURE)
        if temperature is not None:
            if _number_in(temperature, _DBL_MAX):
                temperature = float(temperature)
            else:
                temperature = _num_slow(temperature, "params.temperature", _DBL_MAX, "must be a finite number >= 0")
        top_p = sub.get(_K_TOP_P)
        if top_p is not None:
            if _number_in(top_p, 1.0):
                top_p = float(top_p)
            else:
                top_p = _num_slow(top_p, "params.top_p", 1, "must be a number in [0, 1]")
        max_tokens = sub.get(_K_MAX_TOKENS)
        if max_tokens is not None and not _int_in(max_tokens, 1, I64_MAX):
            max_tokens = _int_slow(max_tokens, "params.max_tokens", 1, I64_MAX, "must be an integer >= 1")
        n = sub.get(_K_N)
        if n is not None and not _int_in(n, 1, I64_MAX):
            n = _int_slow(n, "params.n", 1, I64_MAX, "must be an integer >= 1")
        logprobs = sub.get(_K_LOGPROBS)
        if logprobs is not None and type(logprobs) is not bool:
            logprobs = _bool_slow(logprobs, "params.logprobs")
        top_logprobs = sub.get(_K_TOP_LOGPROBS)
        if top_logprobs is not None and not _int_in(top_logprobs, 0, I64_MAX):
            top_logprobs = _int_slow(top_logprobs, "params.top_logprobs", 0, I64_MAX, "must be an integer >= 0")
        stream = sub.get(_K_STREAM)
        if stream is not None and type(stream) is not bool:
            stream = _bool_slow(stream, "params.stream")
        seed = sub.get(_K_SEED)
        if seed is not None and not _int_in(seed, _I64_MIN, I64_MAX):
            seed = _int_slow(seed, "params.seed", _I64_MIN, I64_MAX, "must be an integer")
        tools_count = sub.get(_K_TOOLS_COUNT)
        if tools_count is not None and not _int_in(tools_count, 0, I64_MAX):
            tools_count = _int_slow(tools_count, "params.tools_count", 0, I64_MAX, "must be an integer >= 0")
        response_format = sub.get(_K_RESPONSE_FORMAT)
        if response_format is not None and (type(response_format) is not str or len(response_format) > SMAX):
            response_format = _str_slow(response_format, "params.response_format", 0, SMAX)

    # prompt
    messages_count = prompt_text = system_sha256 = None
    value = d.get(_K_PROMPT)
    if value is not None:
        sub = value if type(value) is dict else _obj_slow(value, "prompt")
        messages_count = sub.get(_K_MESSAGES_COUNT)
        if messages_count is not None and not _int_in(messages_count, 1, I64_MAX):
            messages_count = _int_slow(messages_count, "prompt.messages_count", 1, I64_MAX, "must be an integer >= 1")
        prompt_text = sub.get(_K_TEXT)
        if prompt_text is not None and (type(prompt_text) is not str or len(prompt_text) > TEXT_MAX):
            prompt_text = _str_slow(prompt_text, "prompt.text", 0, PROMPT_TEXT_MAX_CHARS)
        system_sha256 = sub.get(_K_SYSTEM_SHA256)
        if system_sha256 is not None and (type(system_sha256) is not str or len(system_sha256) > SMAX):
            system_sha256 = _str_slow(system_sha256, "prompt.system_sha256", 0, SMAX)

    ev = Event.__new__(Event)  # compiled: the fields written straight into the object
    ev.request_id = request_id
    ev.ts = ts
    ev.account_id = account_id
    ev.model = model
    ev.status_code = status_code
    ev.api_key_id = api_key_id
    ev.user_id = user_id
    ev.client_ip = client_ip
    ev.user_agent = user_agent
    ev.endpoint = endpoint
    ev.latency_ms = latency_ms
    ev.finish_reason = finish_reason
    ev.conversation_id = conversation_id
    ev.input_tokens = input_tokens
    ev.output_tokens = output_tokens
    ev.reasoning_tokens = reasoning_tokens
    ev.temperature = temperature
    ev.top_p = top_p
    ev.max_tokens = max_tokens
    ev.n = n
    ev.logprobs = logprobs
    ev.top_logprobs = top_logprobs
    ev.stream = stream
    ev.seed = seed
    ev.tools_count = tools_count
    ev.response_format = response_format
    ev.messages_count = messages_count
    ev.prompt_text = prompt_text
    ev.system_sha256 = system_sha256
    return ev


_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


def _raw_size(raw: object, max_bytes: int) -> int:
    """UTF-8 size of ``raw`` (exact when it matters), or raise for a non-bytes/str input."""
    if isinstance(raw, (bytes, bytearray)):
        return len(raw)
    if isinstance(raw, memoryview):
        return raw.nbytes
    if isinstance(raw, str):
        n = len(raw)
        if n <= max_bytes < 4 * n:  # could be over the cap once encoded
            n = len(raw.encode("utf-8", "surrogatepass"))
        return n
    raise InvalidEvent(None, f"event must be bytes or str, got {type(raw).__name__}", "json")


def _json_error(exc: orjson.JSONDecodeError) -> InvalidEvent:
    msg = exc.msg
    if msg.startswith("str is not valid UTF-8"):
        return InvalidEvent(None, f"invalid UTF-8: {msg}", "utf8")
    return InvalidEvent(None, f"invalid JSON: {msg} at char {exc.pos}", "json")


def decode(raw: bytes | bytearray | memoryview | str, *, max_bytes: int = MAX_EVENT_BYTES) -> Event:
    """Decode and validate one raw event (a JSON object in UTF-8).

    Raises
    ------
    InvalidEvent
        ``too_large`` if ``raw`` is longer than ``max_bytes`` UTF-8 bytes,
        ``utf8``/``json`` if it is not valid UTF-8 JSON (``None``, e.g. a Kafka
        tombstone, is ``json`` too), ``not_object`` if it is JSON but not an
        object, else as :func:`from_mapping`.
    """
    t = type(raw)
    if t is bytes or t is bytearray:
        size = len(raw)
    else:
        size = _raw_size(raw, max_bytes)
        if t is memoryview and not raw.c_contiguous:  # type: ignore[union-attr]
            raw = raw.tobytes()  # type: ignore[union-attr]
    if size > max_bytes:
        raise InvalidEvent(None, f"event is {size} bytes, limit is {max_bytes}", "too_large")
    try:
        obj = _loads(raw)
    except _JSONDecodeError as exc:
        raise _json_error(exc) from None
    if type(obj) is not dict:
        raise InvalidEvent(None, f"event must be a JSON object, got {_json_type(obj)}", "not_object")
    return from_mapping(obj)


#: Caps of one message that carries several events (JSON array or NDJSON).
MAX_BATCH_BYTES = 16 * 1_048_576
MAX_BATCH_EVENTS = 10_000


def decode_message(
    raw: bytes,
    *,
    max_bytes: int = MAX_EVENT_BYTES,
    max_batch_bytes: int = MAX_BATCH_BYTES,
    max_events: int = MAX_BATCH_EVENTS,
) -> list[tuple[bytes | dict, Event | InvalidEvent]]:
    """Decode one message that holds one event or several, the way log
    shippers and the OpenTelemetry Collector batch them: a JSON object (one
    event), a JSON array of objects, or NDJSON (one object per line).

    Returns ``(record, result)`` per event in message order: the event's own
    record and the :class:`Event` or the :class:`InvalidEvent` it raised, so
    one bad event never sinks its neighbours. The record is the event's bytes
    (the message itself, or the line), except for a valid element of a JSON
    array, whose record is the parsed object: its compact JSON costs about a
    quarter of the element's decode, and only a re-routed event needs it
    (:func:`record_bytes` makes it). A rejected element's record is its
    compact JSON. A message that is none of these (or over
    ``max_batch_bytes``, or with more than ``max_events`` events) is one
    invalid entry.

    >>> [type(r).__name__ for _, r in decode_message(b'[{"request_id": "r"}, 7]')]
    ['InvalidEvent', 'InvalidEvent']
    >>> ok = b'{"request_id":"r1","timestamp":1.8e9,"account_id":"a","model":"m","status_code":200}'
    >>> [r.request_id for _, r in decode_message(ok + b"\\n" + ok.replace(b"r1", b"r2") + b"\\n")]
    ['r1', 'r2']
    """
    size = len(raw)
    if size <= max_bytes and raw[:1] == b"{" and b"\n" not in raw:  # the common case: one compact event
        try:
            return [(raw, decode(raw, max_bytes=max_bytes))]
        except InvalidEvent as exc:
            return [(raw, exc)]
    if size > max_batch_bytes:
        return [(raw, InvalidEvent(None, f"message is {size} bytes, limit is {max_batch_bytes}", "too_large"))]
    try:
        obj = _loads(raw)
    except _JSONDecodeError as exc:
        if b"\n" not in raw.strip():
            return [(raw, _json_error(exc))]
        lines = [line for line in raw.splitlines() if line.strip()]
        if len(lines) > max_events:
            return [(raw, InvalidEvent(None, f"message holds {len(lines)} lines, limit is {max_events}",
                                       "too_large"))]
        out: list[tuple[bytes | dict, Event | InvalidEvent]] = []
        for line in lines:
            try:
                out.append((line, decode(line, max_bytes=max_bytes)))
            except InvalidEvent as err:
                out.append((line, err))
        return out
    if type(obj) is dict:
        if size > max_bytes:
            return [(raw, InvalidEvent(None, f"event is {size} bytes, limit is {max_bytes}", "too_large"))]
        try:
            return [(raw, from_mapping(obj))]
        except InvalidEvent as err:
            return [(raw, err)]
    if type(obj) is not list:
        return [(raw, InvalidEvent(None, f"event must be a JSON object, got {_json_type(obj)}", "not_object"))]
    if len(obj) > max_events:
        return [(raw, InvalidEvent(None, f"message holds {len(obj)} events, limit is {max_events}", "too_large"))]
    # An element's compact JSON is at most 4.5 times its text in the message (a number such as 1e15 comes back
    # as 1000000000000000.0; nothing else grows): below that, no element can be over max_bytes.
    measure = size * _MAX_GROWTH > max_bytes
    out = []
    for item in obj:
        if type(item) is not dict:
            out.append((orjson.dumps(item), InvalidEvent(
                None, f"event must be a JSON object, got {_json_type(item)}", "not_object")))
            continue
        data = orjson.dumps(item) if measure else None
        if data is not None and len(data) > max_bytes:
            out.append((data, InvalidEvent(None, f"event is {len(data)} bytes, limit is {max_bytes}", "too_large")))
            continue
        try:
            out.append((item, from_mapping(item)))
        except InvalidEvent as err:
            out.append((data if data is not None else orjson.dumps(item), err))
    return out


#: How much longer than its text in a JSON array an element's compact JSON can be (decode_message).
_MAX_GROWTH = 5


def record_bytes(record: bytes | dict) -> bytes:
    """The bytes of a record as :func:`decode_message` returns it: the bytes themselves, or a JSON array
    element's compact JSON."""
    return record if type(record) is bytes else orjson.dumps(record)
