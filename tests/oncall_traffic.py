"""Small, deterministic traffic for the on-call tests: harvesters among ordinary accounts.

Harvesters ask for written-out reasoning on long, truncated, single-turn
completions every 7 s; ordinary chat accounts hold short multi-turn
conversations, so every partition gets a population baseline. A harvester's
"calm" tail (ordinary traffic for hours of event time) makes its episode
resolve (``policy.quiet_seconds`` of event time below ``close_below``).
"""

from __future__ import annotations

import orjson


def _event(acct: str, rid: str, ts: float, *, hot: bool, i: int) -> dict:
    if hot:
        return {"request_id": rid, "timestamp": ts, "account_id": acct, "model": "frontier-large",
                "status_code": 200, "finish_reason": "length", "usage": {"input_tokens": 40, "output_tokens": 1500},
                "prompt": {"messages_count": 1, "text": f"Problem {i}: show your chain of thought step by step."}}
    return {"request_id": rid, "timestamp": ts, "account_id": acct, "model": "frontier-large", "status_code": 200,
            "finish_reason": "stop", "usage": {"input_tokens": 300, "output_tokens": 80},
            "prompt": {"messages_count": 6, "text": f"thanks, can you fix the typo in line {i}?"}}


def harvester(acct: str, start: float, hot: int = 150, calm: int = 0) -> list[tuple[bytes, bytes]]:
    """``hot`` harvesting requests 7 s apart, then ``calm`` ordinary ones 40 s apart."""
    out, t = [], start
    for i in range(hot + calm):
        out.append((acct.encode(), orjson.dumps(_event(acct, f"{acct}-{i}", t, hot=i < hot, i=i))))
        t += 7.0 if i < hot else 40.0
    return out


def population(start: float, accounts: int = 40, events: int = 60) -> list[tuple[bytes, bytes]]:
    """Ordinary accounts, one request a minute each, interleaved."""
    out = []
    for i in range(events):
        for a in range(accounts):
            acct = f"acct-chat-{a}"
            out.append((acct.encode(), orjson.dumps(_event(acct, f"{acct}-{i}", start + 61.0 * i + a, hot=False, i=i))))
    return out
