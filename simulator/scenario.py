"""Scenario parameters and ground-truth account labels."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class AccountLabel:
    """Ground truth for one simulated account.

    ``attack_start`` is when harvesting starts (RFC 3339, 'Z'); for
    ``compromised_key`` it is the key takeover time.  ``network_id`` is shared by
    the members of one coordinated (hydra) network.
    """

    account_id: str
    archetype: str
    label: str  # "benign" | "harvester"
    heavy: bool  # heavy legitimate user: batch_job, eval_runner, coding_agent
    attack_start: str | None
    network_id: str | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Scenario:
    """What to simulate.  Deterministic: the same scenario yields the same bytes."""

    seed: int = 7
    hours: float = 24.0
    start: float = 1795857600.0  # 2026-11-28T09:20:00Z (Unix seconds)
    scale: float = 1.0  # multiplies the number of accounts of every archetype
    duplicate_rate: float = 0.002  # share of events re-delivered with the same request_id
    invalid_rate: float = 0.0  # share of extra malformed lines
    keyless_rate: float = 0.0  # share of Kafka messages without a key (Kafka writer only)

    def __post_init__(self) -> None:
        if not self.hours > 0:
            raise ValueError("hours must be > 0")
        if self.scale < 0:
            raise ValueError("scale must be >= 0")
        for name in ("duplicate_rate", "invalid_rate", "keyless_rate"):
            v = getattr(self, name)
            if not 0.0 <= v < 1.0:
                raise ValueError(f"{name} must be in [0, 1)")

    @property
    def end(self) -> float:
        return self.start + self.hours * 3600.0


def rfc3339(t: float) -> str:
    """Unix seconds -> 'YYYY-MM-DDTHH:MM:SS.mmmZ' (milliseconds floored)."""
    ms = int(t * 1000.0) if t >= 0 else -int(-t * 1000.0)
    sec, frac = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:03d}Z"
