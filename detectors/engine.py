"""The one detection code path, shared by the live agents and replay.

:class:`Detector` takes a decoded event and the account's state, drops
duplicate deliveries, folds the event into the state, scores the account at
its scoring interval, and runs the alert policy: an episode opens when the
score reaches a severity threshold, escalates when it reaches a higher one,
stays open while the score stays at or above ``close_below``, and resolves once
it has been below that for ``quiet_seconds`` of event time. Each transition
emits one alert (a plain dict, ready to serialise) with a deterministic
``alert_id``: the same events in the same order give the same alerts, in a
Faust worker or in ``distillwatch replay``.

>>> from detectors.contract import Event
>>> det = Detector()
>>> state = det.new_state("acct-9")
>>> alerts = []
>>> for i in range(200):
...     ev = Event(request_id=f"r{i}", ts=1_800_000_000.0 + 3 * i, account_id="acct-9",
...                model="m", status_code=200, input_tokens=40, output_tokens=1500,
...                messages_count=1, finish_reason="length",
...                prompt_text="Write out the internal reasoning behind this answer step by step.")
...     _ = det.process(state, ev, alerts)
>>> [(a["status"], a["severity"]) for a in alerts]
[('opened', 'critical')]
>>> det.process(state, ev, alerts)  # the last event again: a duplicate delivery
False
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from .contract import Event, format_timestamp
from .features import absorb, features
from .rules import SEVERITIES, Rules
from .state import AccountState, StateVersionError

__all__ = ["Detector", "request_hash", "DETECTOR_VERSION"]

DETECTOR_VERSION = "distillwatch-detectors/1"


def request_hash(request_id: str) -> int:
    """Stable 64-bit hash of a request id (the same in every process)."""
    return int.from_bytes(
        hashlib.blake2b(request_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little"
    )


def _digest(*parts: object, size: int) -> str:
    h = hashlib.blake2b(digest_size=size)
    for p in parts:
        h.update(str(p).encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


class Detector:
    """Per-account detection: de-duplicate, update, score, alert.

    Parameters
    ----------
    rules
        Signals, scoring schedule and policy; :meth:`Rules.default` when ``None``.
    """

    def __init__(self, rules: Rules | None = None):
        self.rules = rules if rules is not None else Rules.default()

    # -- state ---------------------------------------------------------------

    def new_state(self, account_id: str) -> AccountState:
        return AccountState(account_id)

    def load_state(self, account_id: str, data: bytes | None) -> AccountState:
        """State from stored bytes; a fresh state when absent or unreadable
        (an unknown schema version must never stop processing)."""
        if data:
            try:
                return AccountState.from_bytes(account_id, data)
            except StateVersionError:
                pass
        return AccountState(account_id)

    # -- per event -----------------------------------------------------------

    def process(self, state: AccountState, ev: Event, alerts: list[dict[str, Any]]) -> bool:
        """Fold ``ev`` into ``state``; append any alerts to ``alerts``.

        Returns False when ``ev`` is a duplicate delivery (its request id was
        seen recently for this account); the state is then unchanged.
        """
        if state.dedup_seen(request_hash(ev.request_id)):
            return False
        absorb(state, ev)
        rules = self.rules
        if state.n < rules.min_events:
            return True
        ts = ev.ts
        if state.n - state.n_scored_at >= rules.interval_events or not (
            ts - state.last_scored_ts < rules.interval_seconds
        ):
            self._score(state, ev, alerts)
        return True

    def _score(self, state: AccountState, ev: Event, alerts: list[dict[str, Any]]) -> None:
        rules = self.rules
        ts = ev.ts
        feats = features(state)
        score, reasons = rules.score(feats)
        state.n_scored_at = state.n
        state.last_scored_ts = ts if math.isnan(state.last_scored_ts) else max(ts, state.last_scored_ts)
        state.last_score = score
        level = rules.severity(score)
        if state.ep_severity == 0:
            if level == 0:
                return
            state.ep_severity = level
            state.ep_seq = 0
            state.ep_opened_ts = ts
            state.ep_hot_ts = ts
            state.ep_peak = score
            alerts.append(self._alert(state, ev, "opened", score, reasons, feats))
            return
        state.ep_peak = max(state.ep_peak, score)
        if score >= rules.close_below:
            state.ep_hot_ts = max(ts, state.ep_hot_ts)
        if level > state.ep_severity:
            state.ep_severity = level
            alerts.append(self._alert(state, ev, "escalated", score, reasons, feats))
        elif score < rules.close_below and ts - state.ep_hot_ts >= rules.quiet_seconds:
            alerts.append(self._alert(state, ev, "resolved", score, reasons, feats))
            state.ep_severity = 0
            state.ep_seq = 0
            state.ep_opened_ts = math.nan
            state.ep_hot_ts = math.nan
            state.ep_peak = 0.0

    def _alert(
        self, state: AccountState, ev: Event, status: str, score: float, reasons, feats
    ) -> dict[str, Any]:
        state.ep_seq += 1
        opened_ms = int(round(state.ep_opened_ts * 1000))
        episode_id = _digest(state.account_id, opened_ms, size=8)
        return {
            "alert_id": _digest(state.account_id, opened_ms, state.ep_seq, status, size=16),
            "account_id": state.account_id,
            "episode_id": episode_id,
            "status": status,
            "severity": SEVERITIES[state.ep_severity],
            "score": round(score, 4),
            "detected_at": format_timestamp(ev.ts),
            "episode_opened_at": format_timestamp(state.ep_opened_ts),
            "request_id": ev.request_id,
            "reasons": [r.to_dict() for r in reasons[: self.rules.top_reasons]],
            "features": {k: round(v, 4) for k, v in feats.items()},
            "detector": DETECTOR_VERSION,
        }
