"""LiteLLM's ``StandardLoggingPayload``, as its generic API logger sends it.

The LiteLLM proxy's ``generic_api`` callback batches payloads and POSTs them
with ``log_format: ndjson`` (one JSON object per line, lines joined with
``\\n``) or ``json_array`` (its default: one JSON array); whatever carries
that body onto Kafka (an HTTP-to-Kafka bridge, a REST proxy) makes it one
message. Both shapes are read: a message whose first non-blank byte is ``[``
is an array, anything else is NDJSON. Each payload is one record; a bad line
goes to the dead-letter topic alone.

Field names follow ``litellm/types/utils.py`` (``class StandardLoggingPayload``,
``StandardLoggingMetadata``, ``StandardLoggingUserAPIKeyMetadata``) of
BerriAI/litellm at commit 001c64f2, November 2026; the mapping, and what is
lost, is in ``docs/adapters.md``.
"""

from __future__ import annotations

import hashlib

import orjson

from detectors.contract import PROMPT_TEXT_MAX_CHARS, Event, InvalidEvent

from . import Decoded, cut_before, redaction_info, validate_mapped

__all__ = ["LiteLLMAdapter", "ACCOUNT_FIELDS", "redact", "CONTENT_FIELDS"]

#: Payload fields that carry prompt or completion text: never in a DLQ copy.
CONTENT_FIELDS = ("messages", "response")

#: ``litellm_account_field`` values -> where the account id is in the payload.
ACCOUNT_FIELDS = {
    "team_id": ("metadata", "user_api_key_team_id"),
    "org_id": ("metadata", "user_api_key_org_id"),
    "key_hash": ("metadata", "user_api_key_hash"),
    "user_id": ("metadata", "user_api_key_user_id"),
    "end_user": (None, "end_user"),
}

#: LiteLLM ``call_type`` -> the contract's endpoint names (others pass through unchanged).
ENDPOINTS = {
    "completion": "chat.completions",
    "acompletion": "chat.completions",
    "text_completion": "completions",
    "atext_completion": "completions",
    "embedding": "embeddings",
    "aembedding": "embeddings",
    "responses": "responses",
    "aresponses": "responses",
    "anthropic_messages": "messages",
    "aanthropic_messages": "messages",
}

SYSTEM_ROLES = ("system", "developer")

SOURCE_FIELDS = {
    "request_id": "id",
    "timestamp": "startTime",
    "model": "model",
    "status_code": "error_information.error_code",
    "api_key_id": "metadata.user_api_key_hash",
    "user_id": "end_user",
    "client_ip": "requester_ip_address",
    "user_agent": "user_agent",
    "endpoint": "call_type",
    "latency_ms": "endTime",
    "finish_reason": "response.choices[0].finish_reason",
    "usage.input_tokens": "prompt_tokens",
    "usage.output_tokens": "completion_tokens",
    "usage.reasoning_tokens": "response.usage.completion_tokens_details.reasoning_tokens",
    "params.temperature": "model_parameters.temperature",
    "params.top_p": "model_parameters.top_p",
    "params.max_tokens": "model_parameters.max_tokens",
    "params.n": "model_parameters.n",
    "params.logprobs": "model_parameters.logprobs",
    "params.top_logprobs": "model_parameters.top_logprobs",
    "params.stream": "stream",
    "params.seed": "model_parameters.seed",
    "params.response_format": "model_parameters.response_format",
}


def _dict(v: object) -> dict:
    return v if isinstance(v, dict) else {}


def _content_text(content: object) -> str:
    """OpenAI message content: a string or a list of parts ({"type": "text", "text": ...})."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p["text"] for p in content
            if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
        )
    return ""


def _prompt(messages: object) -> dict[str, object]:
    """``messages`` -> count, last user message text, system prompt hash. A string (LiteLLM's
    redaction notice when message logging is off) carries nothing."""
    if not isinstance(messages, list):
        return {}
    msgs = [m for m in messages if isinstance(m, dict)]
    prompt: dict[str, object] = {}
    turns = sum(1 for m in msgs if m.get("role") not in SYSTEM_ROLES)
    if turns:
        prompt["messages_count"] = turns  # conversation depth: the system prompt is not a turn
    users = [m for m in msgs if m.get("role") == "user"]
    text = _content_text(users[-1].get("content")) if users else ""
    if text:
        prompt["text"] = text[:PROMPT_TEXT_MAX_CHARS]
    system = "\n".join(_content_text(m.get("content")) for m in msgs if m.get("role") in SYSTEM_ROLES)
    if system:
        prompt["system_sha256"] = hashlib.sha256(system.encode("utf-8", "surrogatepass")).hexdigest()
    return prompt


def _status_code(p: dict) -> object:
    if p.get("status") != "failure":
        return 200
    code = _dict(p.get("error_information")).get("error_code")
    if isinstance(code, str) and code.isdigit() and 100 <= int(code) <= 599:
        return int(code)
    if isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599:
        return code
    return 500  # a failure without an HTTP status: count it as a server error


class LiteLLMAdapter:
    """Decoder of LiteLLM StandardLoggingPayload batches; see the module docstring.

    ``account_fields`` (keys of :data:`ACCOUNT_FIELDS`) are tried in order; the
    first non-empty one is the account.
    """

    def __init__(self, account_fields: tuple[str, ...], max_record_bytes: int, max_message_bytes: int,
                 max_records: int):
        unknown = [f for f in account_fields if f not in ACCOUNT_FIELDS]
        if unknown or not account_fields:
            raise ValueError(f"account fields must be some of {', '.join(ACCOUNT_FIELDS)}; got {account_fields}")
        self.account_fields = tuple(account_fields)
        self.max_record_bytes = max_record_bytes
        self.max_message_bytes = max_message_bytes
        self.max_records = max_records
        self._account_source = "|".join(
            f"{where}.{name}" if where else name for where, name in (ACCOUNT_FIELDS[f] for f in account_fields)
        )

    def decode_message(self, raw: bytes) -> Decoded:
        out = Decoded()
        if len(raw) > self.max_message_bytes:
            exc = InvalidEvent(None, f"message is {len(raw)} bytes, limit is {self.max_message_bytes}", "too_large")
            out.items.append((raw, exc))
            return out
        if raw.lstrip()[:1] == b"[":
            try:
                records = [orjson.dumps(p) for p in orjson.loads(raw)]
            except (orjson.JSONDecodeError, TypeError):
                records = [raw]  # not a JSON array after all: reported as one bad record below
        else:
            records = [line for line in raw.split(b"\n") if line.strip()]
        if not records:  # an empty message (or a tombstone) is counted, as in v1
            out.items.append((raw, InvalidEvent(None, "empty message: no payload", "json")))
        elif len(records) > self.max_records:
            exc = InvalidEvent(None, f"message holds {len(records)} payloads, limit is {self.max_records}", "too_large")
            out.items.append((raw, exc))
            return out
        for record in records:
            try:
                out.items.append((record, self.to_event(self._load(record))))
            except InvalidEvent as exc:
                out.items.append((record, exc))
        return out

    def _load(self, record: bytes) -> dict:
        if len(record) > self.max_record_bytes:
            raise InvalidEvent(None, f"payload is {len(record)} bytes, limit is {self.max_record_bytes}", "too_large")
        try:
            payload = orjson.loads(record)
        except orjson.JSONDecodeError as exc:
            if exc.msg.startswith("str is not valid UTF-8"):
                raise InvalidEvent(None, f"invalid UTF-8: {exc.msg}", "utf8") from None
            raise InvalidEvent(None, f"invalid JSON: {exc.msg} at char {exc.pos}", "json") from None
        if not isinstance(payload, dict):
            raise InvalidEvent(None, "a StandardLoggingPayload must be a JSON object", "not_object")
        return payload

    def account(self, p: dict) -> object:
        for f in self.account_fields:
            where, name = ACCOUNT_FIELDS[f]
            v = (_dict(p.get(where)) if where else p).get(name)
            if v:
                return v
        return None

    def to_event(self, p: dict) -> Event:
        meta = _dict(p.get("metadata"))
        params = _dict(p.get("model_parameters"))
        response = _dict(p.get("response"))
        choices = response.get("choices")
        first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
        usage = _dict(response.get("usage")) or _dict(meta.get("usage_object"))
        start, end = p.get("startTime"), p.get("endTime")
        numbers = all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in (start, end))
        tools = params.get("tools")
        fmt = params.get("response_format")
        call_type = p.get("call_type")
        mapped = {
            "request_id": p.get("id"),
            "timestamp": start,
            "account_id": self.account(p),
            "model": p.get("model") or p.get("model_group"),
            "status_code": _status_code(p),
            "api_key_id": meta.get("user_api_key_hash"),
            "user_id": p.get("end_user") or None,
            "client_ip": p.get("requester_ip_address") or meta.get("requester_ip_address") or None,
            "user_agent": p.get("user_agent") or meta.get("user_agent") or None,
            "endpoint": ENDPOINTS.get(call_type, call_type) if isinstance(call_type, str) else call_type,
            "latency_ms": (end - start) * 1000 if numbers else None,
            "finish_reason": first.get("finish_reason"),
            "usage": {
                "input_tokens": p.get("prompt_tokens"),
                "output_tokens": p.get("completion_tokens"),
                "reasoning_tokens": _dict(usage.get("completion_tokens_details")).get("reasoning_tokens"),
            },
            "params": {
                "temperature": params.get("temperature"),
                "top_p": params.get("top_p"),
                "max_tokens": params.get("max_tokens", params.get("max_completion_tokens")),
                "n": params.get("n"),
                "logprobs": params.get("logprobs"),
                "top_logprobs": params.get("top_logprobs"),
                "stream": p.get("stream") if p.get("stream") is not None else params.get("stream"),
                "seed": params.get("seed"),
                "tools_count": len(tools) if isinstance(tools, list) else None,
                "response_format": fmt.get("type") if isinstance(fmt, dict) else fmt,
            },
            "prompt": _prompt(p.get("messages")),
        }
        return validate_mapped(mapped, {**SOURCE_FIELDS, "account_id": self._account_source})


def redact(record: bytes) -> tuple[bytes, dict[str, str]]:
    """A rejected payload without :data:`CONTENT_FIELDS`; see :func:`detectors.adapters.redactor`."""
    try:
        payload = orjson.loads(record)
    except orjson.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict):
        return cut_before(record, tuple(f'"{k}"'.encode() for k in CONTENT_FIELDS))
    removed = [k for k in CONTENT_FIELDS if payload.pop(k, None) is not None]
    if not removed:
        return record, {}
    return orjson.dumps(payload), redaction_info(record, ",".join(removed))

