"""OpenTelemetry GenAI client spans, as the Collector's Kafka exporter writes them with ``encoding: otlp_json``.

A message is one OTLP/JSON ``ExportTraceServiceRequest``::

    {"resourceSpans": [{"resource": {"attributes": [...]},
                        "scopeSpans": [{"scope": {...}, "spans": [{...}, ...]}]}]}

OTLP/JSON rules that matter here: field names are lowerCamelCase, trace and
span ids are hex strings, 64-bit integers (``intValue``, ``startTimeUnixNano``)
are JSON *strings*, enums (``status.code``) are integers, and attribute values
are ``AnyValue`` objects (``stringValue``, ``intValue``, ``doubleValue``,
``boolValue``, ``arrayValue``, ``kvlistValue``, ``bytesValue``).

Every span that is a GenAI model call (it has ``gen_ai.request.model`` or
``gen_ai.response.model`` and its ``gen_ai.operation.name`` is not a tool or
agent operation) becomes one contract v1 event; other spans (HTTP, database,
tool and agent spans of the same trace) are skipped and counted. The attribute
names are the OpenTelemetry GenAI semantic conventions (Development status,
checked against the conventions published in 2026 and the v1.36.0 names they
replaced); the full mapping, and what is lost, is in ``docs/adapters.md``.
"""

from __future__ import annotations

import hashlib

import orjson

from detectors.contract import PROMPT_TEXT_MAX_CHARS, Event, InvalidEvent

from . import Decoded, cut_before, redaction_info, validate_mapped

__all__ = ["OtlpJsonAdapter", "attribute_map", "redact", "CONTENT_ATTRIBUTES"]

#: Attributes that carry prompt or completion text (opt-in content; older names too): never in a DLQ copy.
CONTENT_ATTRIBUTES = frozenset({
    "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.prompt",
    "gen_ai.completion",
})

#: GenAI operations that are not a call to a model: such spans are skipped.
NOT_MODEL_CALLS = frozenset({"execute_tool", "invoke_agent", "create_agent"})
_STATUS_ERROR = 2  # Status.code STATUS_CODE_ERROR

#: contract field -> source field, for error messages.
SOURCE_FIELDS = {
    "request_id": "gen_ai.response.id",
    "timestamp": "startTimeUnixNano",
    "model": "gen_ai.request.model",
    "status_code": "http.response.status_code",
    "client_ip": "client.address",
    "user_agent": "user_agent.original",
    "endpoint": "gen_ai.operation.name",
    "latency_ms": "endTimeUnixNano",
    "finish_reason": "gen_ai.response.finish_reasons",
    "conversation_id": "gen_ai.conversation.id",
    "usage.input_tokens": "gen_ai.usage.input_tokens",
    "usage.output_tokens": "gen_ai.usage.output_tokens",
    "usage.reasoning_tokens": "gen_ai.usage.reasoning.output_tokens",
    "params.temperature": "gen_ai.request.temperature",
    "params.top_p": "gen_ai.request.top_p",
    "params.max_tokens": "gen_ai.request.max_tokens",
    "params.n": "gen_ai.request.choice.count",
    "params.seed": "gen_ai.request.seed",
    "params.tools_count": "gen_ai.tool.definitions",
    "params.response_format": "gen_ai.output.type",
    "prompt.messages_count": "gen_ai.input.messages",
}


def _any_value(v: object) -> object:
    """The Python value of an OTLP/JSON ``AnyValue`` (None when empty or unreadable)."""
    if not isinstance(v, dict) or not v:
        return None
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        iv = v["intValue"]
        try:
            return int(iv)  # a JSON string in OTLP/JSON; some encoders write a number
        except (TypeError, ValueError):
            return iv  # validation then names the field and the wrong type
    if "doubleValue" in v:
        dv = v["doubleValue"]
        try:
            return float(dv)  # "NaN"/"Infinity" arrive as strings; the contract rejects them
        except (TypeError, ValueError):
            return dv
    if "boolValue" in v:
        return v["boolValue"]
    if "arrayValue" in v:
        values = v["arrayValue"].get("values") if isinstance(v["arrayValue"], dict) else None
        return [_any_value(x) for x in values] if isinstance(values, list) else None
    if "kvlistValue" in v:
        return attribute_map(v["kvlistValue"].get("values") if isinstance(v["kvlistValue"], dict) else None)
    if "bytesValue" in v:
        return v["bytesValue"]  # base64 text
    return None


def attribute_map(attrs: object) -> dict[str, object]:
    """``[{"key": k, "value": AnyValue}, ...]`` as a dict; malformed entries are ignored."""
    out: dict[str, object] = {}
    if isinstance(attrs, list):
        for kv in attrs:
            if isinstance(kv, dict) and isinstance(kv.get("key"), str):
                out[kv["key"]] = _any_value(kv.get("value"))
    return out


def _nanos(v: object) -> int | None:
    try:
        return int(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _seconds(nanos: int) -> float:
    """Unix nanoseconds -> seconds, without the rounding noise of ``nanos / 1e9``."""
    secs, rest = divmod(nanos, 1_000_000_000)
    return secs + rest / 1e9


def _json_list(v: object) -> list | None:
    """A structured attribute: a JSON string (most SDKs today) or an OTLP array value."""
    if isinstance(v, str):
        try:
            v = orjson.loads(v)
        except orjson.JSONDecodeError:
            return None
    return v if isinstance(v, list) else None


def _text_parts(parts: object) -> str:
    if not isinstance(parts, list):
        return ""
    return "\n".join(
        p["content"] for p in parts
        if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("content"), str)
    )


def _prompt(attrs: dict[str, object]) -> dict[str, object]:
    """Opt-in content attributes -> ``prompt`` (messages count, last user text, system prompt hash)."""
    prompt: dict[str, object] = {}
    messages = _json_list(attrs.get("gen_ai.input.messages"))
    system = _text_parts(_json_list(attrs.get("gen_ai.system_instructions")))
    if messages is not None:
        msgs = [m for m in messages if isinstance(m, dict)]
        turns = sum(1 for m in msgs if m.get("role") != "system")
        if turns:
            prompt["messages_count"] = turns  # conversation depth: the system prompt is not a turn
        users = [m for m in msgs if m.get("role") == "user"]
        text = _text_parts(users[-1].get("parts")) if users else ""
        if text:
            prompt["text"] = text[:PROMPT_TEXT_MAX_CHARS]
        if not system:
            system = "\n".join(_text_parts(m.get("parts")) for m in msgs if m.get("role") == "system")
    if system:
        prompt["system_sha256"] = hashlib.sha256(system.encode("utf-8", "surrogatepass")).hexdigest()
    return prompt


def _status_code(span: dict, attrs: dict[str, object]) -> object:
    http = attrs.get("http.response.status_code")
    if http is not None:
        return http
    status = span.get("status")
    code = status.get("code") if isinstance(status, dict) else None
    if code == _STATUS_ERROR or code == "STATUS_CODE_ERROR":
        err = attrs.get("error.type")
        if isinstance(err, str) and err.isdigit() and 100 <= int(err) <= 599:
            return int(err)  # instrumentations put the HTTP status there for HTTP errors
        return 500
    return 200


class OtlpJsonAdapter:
    """Decoder of OTLP/JSON trace export requests; see the module docstring.

    ``account_attributes`` are tried in order, each first on the span and then
    on its resource; the first non-empty string (or integer) is the account.
    """

    def __init__(self, account_attributes: tuple[str, ...], max_message_bytes: int):
        self.account_attributes = tuple(account_attributes)
        self.max_message_bytes = max_message_bytes
        self._account_field = "|".join(self.account_attributes)

    def decode_message(self, raw: bytes) -> Decoded:
        out = Decoded()
        request = _load_request(raw, self.max_message_bytes)
        if isinstance(request, InvalidEvent):
            out.items.append((raw, request))
            return out
        # Malformed structure is rejected with the fragment that holds it, never dropped unseen.
        # (a null or absent list is empty, as in proto3 JSON)
        for rs in request["resourceSpans"]:
            scope_spans = (rs.get("scopeSpans") or []) if isinstance(rs, dict) else None
            if not isinstance(scope_spans, list):
                reason = "each must be an object with a list scopeSpans"
                out.items.append((orjson.dumps(rs), InvalidEvent("resourceSpans", reason, "type")))
                continue
            resource = rs.get("resource") if isinstance(rs.get("resource"), dict) else {}
            res_attrs = attribute_map(resource.get("attributes"))
            for ss in scope_spans:
                spans = (ss.get("spans") or []) if isinstance(ss, dict) else None
                if not isinstance(spans, list):
                    reason = "each must be an object with a list spans"
                    out.items.append((_scope(resource, ss), InvalidEvent("scopeSpans", reason, "type")))
                    continue
                for span in spans:
                    self._one(out, span, res_attrs, resource, ss.get("scope"))
        return out

    def _one(self, out: Decoded, span: object, res_attrs: dict, resource: dict, scope: object) -> None:
        if not isinstance(span, dict):
            out.items.append((_single(resource, scope, span),
                              InvalidEvent("spans", "each span must be an object", "not_object")))
            return
        attrs = attribute_map(span.get("attributes"))
        model = attrs.get("gen_ai.request.model") or attrs.get("gen_ai.response.model")
        operation = attrs.get("gen_ai.operation.name")
        if model is None or (isinstance(operation, str) and operation in NOT_MODEL_CALLS):
            out.skipped += 1
            return
        record = _single(resource, scope, span)
        try:
            out.items.append((record, self.to_event(span, attrs, res_attrs, model)))
        except InvalidEvent as exc:
            out.items.append((record, exc))

    def account(self, attrs: dict[str, object], res_attrs: dict[str, object]) -> str | None:
        for name in self.account_attributes:
            for source in (attrs, res_attrs):
                v = source.get(name)
                if isinstance(v, bool):
                    continue
                if isinstance(v, int) or (isinstance(v, str) and v):
                    return str(v)
        return None

    def to_event(self, span: dict, attrs: dict[str, object], res_attrs: dict[str, object], model: object) -> Event:
        start = _nanos(span.get("startTimeUnixNano"))
        end = _nanos(span.get("endTimeUnixNano"))
        request_id = attrs.get("gen_ai.response.id")
        if not request_id and isinstance(span.get("spanId"), str) and span["spanId"]:
            request_id = f"{span.get('traceId', '')}:{span['spanId']}"
        reasons = attrs.get("gen_ai.response.finish_reasons")
        tools = _json_list(attrs.get("gen_ai.tool.definitions"))
        mapped = {
            "request_id": request_id,
            "timestamp": _seconds(start) if start is not None else span.get("startTimeUnixNano"),
            "account_id": self.account(attrs, res_attrs),
            "model": model,
            "status_code": _status_code(span, attrs),
            "client_ip": attrs.get("client.address"),
            "user_agent": attrs.get("user_agent.original"),
            "endpoint": attrs.get("gen_ai.operation.name"),
            "latency_ms": (end - start) / 1e6 if start is not None and end is not None else None,
            "finish_reason": reasons[0] if isinstance(reasons, list) and reasons else reasons or None,
            "conversation_id": attrs.get("gen_ai.conversation.id"),
            "usage": {
                "input_tokens": attrs.get("gen_ai.usage.input_tokens"),
                "output_tokens": attrs.get("gen_ai.usage.output_tokens"),
                "reasoning_tokens": attrs.get("gen_ai.usage.reasoning.output_tokens"),
            },
            "params": {
                "temperature": attrs.get("gen_ai.request.temperature"),
                "top_p": attrs.get("gen_ai.request.top_p"),
                "max_tokens": attrs.get("gen_ai.request.max_tokens"),
                "n": attrs.get("gen_ai.request.choice.count"),
                "seed": attrs.get("gen_ai.request.seed"),
                "tools_count": len(tools) if tools is not None else None,
                "response_format": attrs.get("gen_ai.output.type"),
            },
            "prompt": _prompt(attrs),
        }
        return validate_mapped(mapped, {**SOURCE_FIELDS, "account_id": self._account_field,
                                        "request_id": "gen_ai.response.id|spanId"})


def _load_request(raw: bytes, max_bytes: int) -> dict | InvalidEvent:
    if len(raw) > max_bytes:
        return InvalidEvent(None, f"message is {len(raw)} bytes, limit is {max_bytes}", "too_large")
    try:
        request = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if exc.msg.startswith("str is not valid UTF-8"):
            return InvalidEvent(None, f"invalid UTF-8: {exc.msg}", "utf8")
        return InvalidEvent(None, f"invalid JSON: {exc.msg} at char {exc.pos}", "json")
    if not isinstance(request, dict):
        return InvalidEvent(None, "an OTLP/JSON ExportTraceServiceRequest must be a JSON object", "not_object")
    if not isinstance(request.get("resourceSpans"), list):
        return InvalidEvent("resourceSpans", "missing or not a list: not an OTLP/JSON trace export request", "missing")
    return request


def _scope(resource: dict, scope_spans: object) -> bytes:
    """A malformed scopeSpans entry inside an export request of its own (for the DLQ)."""
    return orjson.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [scope_spans]}]})


def _single(resource: dict, scope: object, span: object) -> bytes:
    """One span as a complete export request of its own (for the DLQ and the re-key topic)."""
    ss: dict[str, object] = {"spans": [span]}
    if scope is not None:
        ss["scope"] = scope
    return orjson.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [ss]}]})



def redact(record: bytes) -> tuple[bytes, dict[str, str]]:
    """A rejected record without its content attributes (:data:`CONTENT_ATTRIBUTES`) wherever an
    ``attributes`` list holds them (spans, span events, and fragments of malformed requests); see
    :func:`detectors.adapters.redactor`."""
    try:
        doc = orjson.loads(record)
    except orjson.JSONDecodeError:
        return cut_before(record, _CONTENT_MARKERS)
    removed: set[str] = set()
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            attrs = node.get("attributes")
            if isinstance(attrs, list):
                content = [a for a in attrs if isinstance(a, dict) and a.get("key") in CONTENT_ATTRIBUTES]
                if content:
                    removed.update(a["key"] for a in content)
                    node["attributes"] = [a for a in attrs if not any(a is c for c in content)]
            stack.extend(node.values())
    if not removed:
        return record, {}
    try:
        return orjson.dumps(doc), redaction_info(record, ",".join(sorted(removed)))
    except orjson.JSONEncodeError:  # deeper than orjson writes
        return cut_before(record, _CONTENT_MARKERS)


_CONTENT_MARKERS = tuple(sorted(k.encode() for k in CONTENT_ATTRIBUTES))
