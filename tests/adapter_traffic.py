"""Simulated traffic re-encoded as the adapters' source formats, for end-to-end tests.

The simulator writes contract v1; these helpers write the same requests as
OTLP/JSON GenAI spans or LiteLLM StandardLoggingPayload lines (the fields the
adapters read, in the producers' shapes; tests/fixtures/adapters holds the
complete producer output), batched several records per Kafka message, every
message holding one account's records so it can carry the account as key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable

import orjson

from detectors.contract import Event, InvalidEvent, decode


def _messages(ev: Event) -> list[dict]:
    msgs = [{"role": "user", "content": "earlier turn"} for _ in range((ev.messages_count or 1) - 1)]
    msgs.append({"role": "user", "content": ev.prompt_text or ""})
    if ev.system_sha256:
        msgs.insert(0, {"role": "system", "content": ev.system_sha256})  # any text: the adapter hashes it
    return msgs


def _attr(key: str, value: object) -> dict:
    if isinstance(value, bool):
        v: dict = {"boolValue": value}
    elif isinstance(value, int):
        v = {"intValue": str(value)}
    elif isinstance(value, float):
        v = {"doubleValue": value}
    elif isinstance(value, list):
        v = {"arrayValue": {"values": [{"stringValue": x} for x in value]}}
    else:
        v = {"stringValue": value}
    return {"key": key, "value": v}


def otlp_span(ev: Event) -> dict:
    start = round(ev.ts * 1e9)
    pairs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": ev.model,
        "gen_ai.response.id": ev.request_id,
        "enduser.id": ev.account_id,
        "client.address": ev.client_ip,
        "user_agent.original": ev.user_agent,
        "gen_ai.conversation.id": ev.conversation_id,
        "gen_ai.response.finish_reasons": [ev.finish_reason] if ev.finish_reason else None,
        "gen_ai.usage.input_tokens": ev.input_tokens,
        "gen_ai.usage.output_tokens": ev.output_tokens,
        "gen_ai.usage.reasoning.output_tokens": ev.reasoning_tokens,
        "gen_ai.request.temperature": ev.temperature,
        "gen_ai.request.top_p": ev.top_p,
        "gen_ai.request.max_tokens": ev.max_tokens,
        "gen_ai.request.choice.count": ev.n,
        "gen_ai.request.seed": ev.seed,
        "gen_ai.output.type": ev.response_format,
        "gen_ai.tool.definitions": json.dumps([{"type": "function"}] * ev.tools_count) if ev.tools_count else None,
        "gen_ai.input.messages": json.dumps([
            {"role": m["role"], "parts": [{"type": "text", "content": m["content"]}]} for m in _messages(ev)
        ]) if ev.messages_count or ev.prompt_text is not None else None,
    }
    span = {
        "traceId": hashlib.md5(ev.request_id.encode()).hexdigest(),
        "spanId": hashlib.md5(ev.request_id.encode()).hexdigest()[:16],
        "name": f"chat {ev.model}",
        "kind": 3,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + round((ev.latency_ms or 0) * 1e6)),
        "attributes": [_attr(k, v) for k, v in pairs.items() if v is not None],
        "status": {},
    }
    if ev.status_code >= 400:
        span["attributes"].append(_attr("error.type", str(ev.status_code)))
        span["status"] = {"code": 2}
    return span


def otlp_message(events: list[Event]) -> bytes:
    return orjson.dumps({"resourceSpans": [{
        "resource": {"attributes": [_attr("service.name", "gateway")]},
        "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.openai_v2"},
                        "spans": [otlp_span(ev) for ev in events]}],
    }]})


def litellm_payload(ev: Event) -> dict:
    failed = ev.status_code >= 400
    params = {"temperature": ev.temperature, "top_p": ev.top_p, "max_tokens": ev.max_tokens, "n": ev.n,
              "logprobs": ev.logprobs, "top_logprobs": ev.top_logprobs, "seed": ev.seed,
              "tools": [{"type": "function"}] * ev.tools_count if ev.tools_count else None,
              "response_format": {"type": ev.response_format} if ev.response_format else None}
    return {
        "id": ev.request_id, "call_type": "acompletion", "stream": ev.stream,
        "status": "failure" if failed else "success",
        "startTime": ev.ts, "endTime": ev.ts + (ev.latency_ms or 0) / 1000,
        "model": ev.model, "end_user": ev.user_id, "requester_ip_address": ev.client_ip, "user_agent": ev.user_agent,
        "prompt_tokens": ev.input_tokens, "completion_tokens": ev.output_tokens,
        "metadata": {"user_api_key_team_id": ev.account_id, "user_api_key_hash": ev.api_key_id},
        "messages": _messages(ev) if ev.messages_count or ev.prompt_text is not None else None,
        "response": None if failed else {
            "choices": [{"finish_reason": ev.finish_reason, "index": 0}],
            "usage": {"completion_tokens_details": {"reasoning_tokens": ev.reasoning_tokens}},
        },
        "error_information": {"error_code": str(ev.status_code)} if failed else None,
        "model_parameters": {k: v for k, v in params.items() if v is not None},
    }


def litellm_message(events: list[Event]) -> bytes:
    return "\n".join(json.dumps(litellm_payload(ev)) for ev in events).encode()


ENCODERS: dict[str, Callable[[list[Event]], bytes]] = {"otlp_json": otlp_message, "litellm": litellm_message}


def batched(raw_events: Iterable[bytes], encode: Callable[[list[Event]], bytes], per_message: int = 8):
    """(account key, message) pairs: valid v1 events re-encoded, up to ``per_message`` of one account each.

    An account's buffer is sent when full and at the end, so every account's
    records keep their order; invalid v1 lines are dropped (the adapters' own
    tests cover bad records).
    """
    buffers: dict[str, list[Event]] = {}
    for raw in raw_events:
        try:
            ev = decode(raw)
        except InvalidEvent:
            continue
        buf = buffers.setdefault(ev.account_id, [])
        buf.append(ev)
        if len(buf) == per_message:
            yield ev.account_id.encode(), encode(buf)
            buffers[ev.account_id] = []
    for account, buf in buffers.items():
        if buf:
            yield account.encode(), encode(buf)
