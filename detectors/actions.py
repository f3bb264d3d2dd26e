"""Rate-limit actions from alerts: the ladder, allowlist, circuit breaker and fail-open guard.

Pure: no I/O and no clock. Time is the alert's event time (``detected_at``)
or a ``now`` the caller passes, so the same alerts in the same order give
the same actions with the same ``action_id``\\ s. ``streams/actions.py``
publishes what this module decides; ``docs/hooks.md`` is the consumer's view.

Decision order for an alert whose rung says ``throttle`` or ``block``:

1. allowlisted account → outcome ``allowlisted`` (nothing published);
2. the account counts as *demand* for the circuit breaker (unless the
   alert's event time is further from the wall clock than the lag bound);
   breaker open → ``halted`` (nothing published);
3. worker unhealthy (recovering, lagging, models warming up) → ``paused``
   (nothing published) — fail open;
4. the account already has an unexpired action at least as strict → nothing;
5. otherwise the action is issued: ``shadow`` (published, ``enforced`` false,
   the default) or ``enforced``.

A ``resolved`` alert releases the account's active action; releases are
never halted or paused (lifting a limit is always safe).

>>> policy = ActionPolicy(Ladder.default(), BreakerConfig(min_active_accounts=200))
>>> alert = {"alert_id": "a1", "account_id": "acct-1", "episode_id": "e1", "status": "opened",
...          "severity": "critical", "score": 0.9, "detected_at": "2026-11-28T12:00:00Z",
...          "reasons": [{"signal": "reasoning_elicitation"}]}
>>> d = policy.decide(alert, Health())
>>> d.outcome, d.record["action"], d.record["limit_per_minute"], d.record["enforced"]
('shadow', 'throttle', 10, False)
>>> d.record["expires_at"]
'2026-11-28T13:00:00.000Z'
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .contract import format_timestamp, parse_timestamp

__all__ = [
    "ActionPolicy",
    "action_id",
    "ActionsError",
    "BreakerConfig",
    "BREAKER_KEY",
    "CircuitBreaker",
    "Decision",
    "Health",
    "Ladder",
    "Rung",
    "manual_release",
]

DEFAULT_LADDER = Path(__file__).with_name("actions.yaml")
#: Kafka key of the circuit breaker's state record on the actions topic.
BREAKER_KEY = "__circuit_breaker__"
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
RECORD_VERSION = 1
#: Signal names carried in an action's reason (names only: never feature values or text).
REASON_SIGNALS = 3


class ActionsError(ValueError):
    """The ladder file is malformed."""


def action_id(*parts: object) -> str:
    """Deterministic id (32 hex): the same inputs always give the same id, so it is an idempotency key."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Rung:
    name: str
    min_severity: str
    min_score: float
    action: str  # throttle | block
    ttl_seconds: float
    limit_per_minute: int | None = None

    @property
    def strictness(self) -> float:
        """Higher is stricter: a block beats any throttle, a lower limit beats a higher one."""
        return float("inf") if self.action == "block" else 1.0 / (1 + (self.limit_per_minute or 0))


@dataclass(frozen=True)
class Ladder:
    rungs: tuple[Rung, ...]
    release_ttl_seconds: float = 86400.0
    source: str = "<dict>"

    @classmethod
    def default(cls) -> Ladder:
        return cls.load(None)

    @classmethod
    def load(cls, path: str | Path | None) -> Ladder:
        """The ladder in ``path``, or the packaged ``detectors/actions.yaml``."""
        p = Path(path) if path is not None else DEFAULT_LADDER
        try:
            doc = yaml.safe_load(p.read_text("utf-8"))
        except yaml.YAMLError as exc:
            raise ActionsError(f"{p}: not valid YAML: {exc}") from exc
        return cls.from_dict(doc, str(p))

    @classmethod
    def from_dict(cls, doc: Any, source: str = "<dict>") -> Ladder:
        def fail(msg: str) -> ActionsError:
            return ActionsError(f"{source}: {msg}")

        if not isinstance(doc, dict) or doc.get("version") != 1:
            raise fail("must be a mapping with version: 1")
        rungs = []
        for i, raw in enumerate(doc.get("rungs") or []):
            if not isinstance(raw, dict):
                raise fail(f"rungs[{i}] must be a mapping")
            try:
                rung = Rung(
                    name=str(raw["name"]),
                    min_severity=str(raw["min_severity"]),
                    min_score=float(raw.get("min_score", 0.0)),
                    action=str(raw["action"]),
                    ttl_seconds=float(raw["ttl_seconds"]),
                    limit_per_minute=int(raw["limit_per_minute"]) if raw.get("limit_per_minute") is not None else None,
                )
            except KeyError as exc:
                raise fail(f"rungs[{i}] lacks {exc.args[0]}") from None
            except (TypeError, ValueError) as exc:
                raise fail(f"rungs[{i}]: {exc}") from None
            if rung.min_severity not in ("warning", "critical"):
                raise fail(f"rung {rung.name!r}: min_severity must be warning or critical")
            if rung.action not in ("throttle", "block"):
                raise fail(f"rung {rung.name!r}: action must be throttle or block")
            if (rung.action == "throttle") != (rung.limit_per_minute is not None and rung.limit_per_minute >= 1):
                raise fail(f"rung {rung.name!r}: a throttle needs limit_per_minute >= 1, a block none")
            if not (0.0 <= rung.min_score <= 1.0 and rung.ttl_seconds > 0):
                raise fail(f"rung {rung.name!r}: min_score must be in [0, 1] and ttl_seconds > 0")
            rungs.append(rung)
        if not rungs:
            raise fail("at least one rung is required")
        release_ttl = float(doc.get("release_ttl_seconds", 86400))
        if release_ttl <= 0:
            raise fail("release_ttl_seconds must be > 0")
        return cls(tuple(rungs), release_ttl, source)

    def match(self, severity: str, score: float) -> Rung | None:
        """The first rung (from the top) the alert reaches, or None."""
        rank = SEVERITY_RANK.get(severity, 0)
        for rung in self.rungs:
            if rank >= SEVERITY_RANK[rung.min_severity] and score >= rung.min_score:
                return rung
        return None


@dataclass(frozen=True)
class Health:
    """What the worker knows about itself when it decides (fail-open inputs)."""

    lag_seconds: float = 0.0  # wall clock minus the event time of the alert (negative: event time ahead)
    recovering: bool = False  # tables not yet recovered from their changelogs / rebalancing
    warming: bool = False  # online models still warming up

    def pause_reason(self, max_lag_seconds: float) -> str | None:
        """``recovery``, ``lag`` or ``warmup`` when new throttles must be withheld, else None."""
        if self.recovering:
            return "recovery"
        if abs(self.lag_seconds) > max_lag_seconds:  # behind, or implausibly ahead of, the wall clock
            return "lag"
        if self.warming:
            return "warmup"
        return None


@dataclass(frozen=True)
class BreakerConfig:
    """Trip above ``trip_share`` of active accounts actioned within ``window_seconds``; close at ``close_share``.

    The breaker cannot trip while fewer than ``min_active_accounts`` accounts
    were active in the window: with ten accounts, one harvester is 10 %.
    """

    trip_share: float = 0.05
    close_share: float = 0.025
    window_seconds: float = 600.0
    min_active_accounts: int = 200

    def __post_init__(self) -> None:
        if not 0.0 <= self.close_share < self.trip_share <= 1.0:
            raise ValueError("breaker shares must satisfy 0 <= close_share < trip_share <= 1")
        if self.window_seconds <= 0 or self.min_active_accounts < 1:
            raise ValueError("breaker window_seconds must be > 0 and min_active_accounts >= 1")


class ActivityWindow:
    """Distinct accounts seen within the last ``window`` seconds of event time.

    Memory is one entry per account active in the window. Entries are kept
    in order of last sighting; events that arrive out of order by less than
    the window only delay an entry's expiry.
    """

    def __init__(self, window: float):
        self.window = window
        self._last: OrderedDict[str, float] = OrderedDict()

    def see(self, account_id: str, ts: float) -> None:
        self.see_many((account_id,), (ts,))

    def see_many(self, accounts: Sequence[str], times: Sequence[float]) -> None:
        """``see`` each account at its time, in order (one call per message of a busy worker)."""
        last = self._last
        pop = last.pop
        for account_id, ts in zip(accounts, times, strict=True):
            prev = pop(account_id, None)
            last[account_id] = ts if prev is None or ts > prev else prev

    def count(self, now: float) -> int:
        cutoff = now - self.window
        while self._last:
            account, ts = next(iter(self._last.items()))
            if ts >= cutoff:
                break
            del self._last[account]
        return len(self._last)


class CircuitBreaker:
    """Halts automated actions when too large a share of active accounts would be actioned."""

    def __init__(self, config: BreakerConfig):
        self.config = config
        self.active = ActivityWindow(config.window_seconds)
        self.actioned = ActivityWindow(config.window_seconds)
        self.is_open = False
        self.now = float("-inf")  # latest event time seen

    def seen(self, account_id: str, ts: float) -> None:
        """An event of ``account_id`` at ``ts``: the account is active."""
        self.seen_many((account_id,), (ts,))

    def seen_many(self, accounts: Sequence[str], times: Sequence[float]) -> None:
        """Events of ``accounts`` at ``times`` (as many), in order."""
        if times:
            self.active.see_many(accounts, times)
            self.now = max(self.now, max(times))

    def demand(self, account_id: str, ts: float) -> dict | None:
        """The ladder wants to act on the account; returns a state record when the breaker flips."""
        self.seen(account_id, ts)
        self.actioned.see(account_id, ts)
        return self.evaluate()

    def evaluate(self, now: float | None = None) -> dict | None:
        """Re-check the share (as event time advances); a state record when the breaker flips, else None."""
        if now is not None:
            self.now = max(self.now, now)
        active = self.active.count(self.now)
        actioned = self.actioned.count(self.now)
        share = actioned / active if active else 0.0
        c = self.config
        if not self.is_open and active >= c.min_active_accounts and share > c.trip_share:
            self.is_open = True
        elif self.is_open and share <= c.close_share:
            self.is_open = False
        else:
            return None
        return {
            "kind": "circuit_breaker",
            "version": RECORD_VERSION,
            "state": "open" if self.is_open else "closed",
            "share": round(share, 4),
            "active_accounts": active,
            "actioned_accounts": actioned,
            "trip_share": c.trip_share,
            "close_share": c.close_share,
            "window_seconds": c.window_seconds,
            "min_active_accounts": c.min_active_accounts,
            "at": format_timestamp(self.now),
        }


@dataclass(frozen=True)
class _Active:
    action_id: str
    expires: float  # event time
    strictness: float


@dataclass
class Decision:
    """What became of one alert. ``record`` is published (key = account) only when not None."""

    action: str | None = None  # throttle | block | release; None: the alert asks for nothing
    outcome: str | None = None  # shadow | enforced | allowlisted | halted | paused
    record: dict | None = None
    pause_reason: str | None = None
    breaker: dict | None = None  # a circuit breaker state change to publish (key BREAKER_KEY)


@dataclass
class ActionPolicy:
    """Turns alerts into actions; holds each account's active action and the breaker (per worker)."""

    ladder: Ladder
    breaker_config: BreakerConfig = field(default_factory=BreakerConfig)
    shadow: bool = True
    allowlist: frozenset[str] = frozenset()
    max_lag_seconds: float = 300.0

    def __post_init__(self) -> None:
        self.breaker = CircuitBreaker(self.breaker_config)
        self.active: dict[str, _Active] = {}  # account -> its unexpired throttle or block

    def seen(self, account_id: str, ts: float, now: float | None = None) -> None:
        """Every valid event: keeps the breaker's count of active accounts (``now``: see :meth:`seen_many`)."""
        self.seen_many((account_id,), (ts,), now)

    def seen_many(self, accounts: Sequence[str], times: Sequence[float], now: float | None = None) -> None:
        """Valid events of ``accounts`` at ``times``, in order. With the wall-clock time ``now``, events
        more than ``max_lag_seconds`` ahead of it are left out: a far-future event time would expire
        every other account from the breaker's window."""
        if now is not None and times and max(times) - now > self.max_lag_seconds:
            keep = [i for i, ts in enumerate(times) if ts - now <= self.max_lag_seconds]
            accounts, times = [accounts[i] for i in keep], [times[i] for i in keep]
        self.breaker.seen_many(accounts, times)

    def tick(self, now: float | None = None) -> dict | None:
        """Periodic: drops expired actions and lets the breaker close as event time moves on."""
        now = self.breaker.now if now is None else now
        for account in [a for a, act in self.active.items() if act.expires <= now]:
            del self.active[account]
        return self.breaker.evaluate(now)

    def decide(self, alert: dict, health: Health) -> Decision:
        account = alert["account_id"]
        ts = parse_timestamp(alert["detected_at"])
        current = self.active.get(account)
        if current is not None and current.expires <= ts:
            del self.active[account]
            current = None
        if alert["status"] == "resolved":
            return self._release(alert, ts, current)
        rung = self.ladder.match(alert["severity"], float(alert["score"]))
        if rung is None:
            return Decision()
        decision = Decision(action=rung.action)
        if account in self.allowlist:
            decision.outcome = "allowlisted"
            return decision
        decision.pause_reason = health.pause_reason(self.max_lag_seconds)
        if decision.pause_reason != "lag":  # a lagging (or far-future) event time must not move the breaker's clock
            decision.breaker = self.breaker.demand(account, ts)
            if self.breaker.is_open:
                decision.pause_reason = None
                decision.outcome = "halted"
                return decision
        if decision.pause_reason:
            decision.outcome = "paused"
            return decision
        if current is not None and current.strictness >= rung.strictness:
            return Decision(breaker=decision.breaker)  # already limited at least as hard
        record = self._record(rung.action, account, alert["alert_id"], alert.get("episode_id"), ts, rung.ttl_seconds)
        record["limit_per_minute"] = rung.limit_per_minute
        record["reason"] = {
            "rung": rung.name,
            "severity": alert["severity"],
            "score": alert["score"],
            "signals": [r["signal"] for r in (alert.get("reasons") or [])[:REASON_SIGNALS]],
        }
        self.active[account] = _Active(record["action_id"], ts + rung.ttl_seconds, rung.strictness)
        decision.record = record
        decision.outcome = "enforced" if record["enforced"] else "shadow"
        return decision

    def _release(self, alert: dict, ts: float, current: _Active | None) -> Decision:
        account = alert["account_id"]
        if current is None:
            return Decision()  # nothing of ours is active (never actioned, expired, or another worker's)
        del self.active[account]
        record = self._record("release", account, alert["alert_id"], alert.get("episode_id"), ts,
                              self.ladder.release_ttl_seconds)
        record["reverses"] = current.action_id
        record["reason"] = {"cause": "episode_resolved", "severity": alert["severity"], "score": alert["score"]}
        return Decision(action="release", outcome="enforced" if record["enforced"] else "shadow", record=record)

    def _record(self, action: str, account: str, alert_id: str, episode_id: str | None, ts: float,
                ttl: float) -> dict:
        return {
            "kind": "action",
            "version": RECORD_VERSION,
            "action_id": action_id(alert_id, action),
            "account_id": account,
            "action": action,
            "limit_per_minute": None,
            "reason": None,
            "alert_id": alert_id,
            "episode_id": episode_id,
            "issued_at": format_timestamp(ts),
            "expires_at": format_timestamp(ts + ttl),
            "enforced": not self.shadow,
            "shadow": self.shadow,
            "reverses": None,
        }


def manual_release(account_id: str, latest: dict | None, *, now: float, shadow: bool, ttl_seconds: float,
                   note: str = "") -> dict:
    """An operator's release of ``account_id``, reversing ``latest`` (its last record on the actions topic).

    It reverses ``latest`` when that is an unexpired throttle or block; otherwise
    ``reverses`` is null and the record still tells consumers to lift any limit.
    The id is derived from the reversed action, so releasing the same action
    twice gives the same ``action_id`` (consumers apply it once).
    """
    stamp = format_timestamp(now)
    target = None
    if latest and latest.get("action") in ("throttle", "block") and parse_timestamp(latest["expires_at"]) > now:
        target = latest["action_id"]
    return {
        "kind": "action",
        "version": RECORD_VERSION,
        "action_id": action_id("manual-release", account_id, target if target else stamp),
        "account_id": account_id,
        "action": "release",
        "limit_per_minute": None,
        "reason": {"cause": "manual", "note": note},
        "alert_id": None,
        "episode_id": latest.get("episode_id") if target and latest else None,
        "issued_at": stamp,
        "expires_at": format_timestamp(now + ttl_seconds),
        "enforced": not shadow,
        "shadow": shadow,
        "reverses": target,
    }
