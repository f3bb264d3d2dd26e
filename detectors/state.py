"""Per-account behavioural state, driven by event time, in bounded memory.

One :class:`AccountState` per account holds everything the detector keeps
about it: decayed request rates over several horizons, exponentially weighted
means of what the account's requests look like, inter-arrival statistics, the
scoring schedule, the open alert episode, and a small ring of recent request
id hashes for duplicate detection. Every structure has a fixed size; nothing
grows with traffic. Prompt text never reaches it.

Time is the event's own timestamp. An event older than the newest one seen for
the account (out of order) is counted at the current decay level instead of
rewinding the clocks.

State travels through a changelog-backed table as bytes. The encoding is a
fixed ``struct`` layout behind a one-byte schema version; bytes of an unknown
version raise :class:`StateVersionError`, which callers treat as "no state"
(start afresh) so an upgrade can never crash-loop on old changelog records.

>>> s = AccountState("acct-1")
>>> s.dedup_seen(12345)
False
>>> s.dedup_seen(12345)
True
>>> AccountState.from_bytes("acct-1", s.to_bytes()).n_dedup
1
"""

from __future__ import annotations

import math
import struct
from array import array

__all__ = [
    "AccountState",
    "StateVersionError",
    "STATE_VERSION",
    "RATE_HORIZONS",
    "DEDUP_SLOTS",
    "PROFILE_WINDOW",
]

STATE_VERSION = 1

#: Horizons (seconds) of the decayed request-rate counters.
RATE_HORIZONS = (60.0, 600.0, 3600.0, 86400.0)

#: Recent request ids remembered per account (64-bit hashes).
DEDUP_SLOTS = 64

#: Number of recent requests the behaviour profile (EW means) reflects.
PROFILE_WINDOW = 200

# The order of the profile means; the features module reads them by index.
PROFILE_FIELDS = (
    "input_tokens",  # mean prompt tokens
    "output_tokens",  # mean completion tokens
    "single_turn",  # messages_count == 1
    "elicitation",  # prompt asks to write out the reasoning
    "logprobs",  # logprobs or top_logprobs requested
    "logprobs_long",  # logprobs on a long completion (>= 256 output tokens)
    "multi_n",  # n > 1
    "finish_length",  # finish_reason == "length"
    "rate_limited",  # status 429
    "errors",  # status >= 500
    "tools",  # tools offered
)
P_IN, P_OUT, P_SINGLE, P_ELICIT, P_LOGPROBS, P_LOGPROBS_LONG, P_MULTI_N, P_LENGTH, P_429, P_5XX, P_TOOLS = range(
    len(PROFILE_FIELDS)
)
N_PROFILE = len(PROFILE_FIELDS)

# Layout: version | n, n_scored_at, ep_seq (q) | doubles | dedup index (H) | dedup ring (Q * DEDUP_SLOTS)
_SCALARS = (
    "first_ts",
    "last_ts",
    "gap_mean",
    "gap_var",
    "last_scored_ts",
    "last_score",
    "ep_opened_ts",
    "ep_hot_ts",
    "ep_peak",
)
_HEAD = struct.Struct(
    "<Bqqqb" + "d" * (len(_SCALARS) + len(RATE_HORIZONS) + N_PROFILE) + "H"
)


class StateVersionError(ValueError):
    """Stored state bytes carry a schema version this code does not read."""


class AccountState:
    """Everything kept about one account. See the module docstring."""

    __slots__ = (
        "account_id",
        "n",
        "n_scored_at",
        "first_ts",
        "last_ts",
        "rates",
        "profile",
        "gap_mean",
        "gap_var",
        "last_scored_ts",
        "last_score",
        "ep_severity",
        "ep_seq",
        "ep_opened_ts",
        "ep_hot_ts",
        "ep_peak",
        "dedup",
        "dedup_pos",
        "n_dedup",
    )

    def __init__(self, account_id: str):
        self.account_id = account_id
        self.n = 0  # valid, non-duplicate events absorbed
        self.n_scored_at = 0  # value of n at the last scoring
        self.first_ts = math.nan
        self.last_ts = math.nan
        self.rates = [0.0] * len(RATE_HORIZONS)  # decayed counts, one per horizon
        self.profile = [0.0] * N_PROFILE  # EW means, see PROFILE_FIELDS
        self.gap_mean = 0.0  # EW mean of log inter-arrival gap
        self.gap_var = 0.0  # EW variance of log inter-arrival gap
        self.last_scored_ts = math.nan
        self.last_score = 0.0
        self.ep_severity = 0  # 0 = no open episode, else 1 info, 2 warning, 3 critical
        self.ep_seq = 0  # alerts emitted in the current episode
        self.ep_opened_ts = math.nan
        self.ep_hot_ts = math.nan  # last time the score was above the close threshold
        self.ep_peak = 0.0
        self.dedup = array("Q", bytes(8 * DEDUP_SLOTS))
        self.dedup_pos = 0
        self.n_dedup = 0  # filled slots, <= DEDUP_SLOTS

    # -- duplicate detection -------------------------------------------------

    def dedup_seen(self, h: int) -> bool:
        """Remember request-id hash ``h``; True when it was already remembered.

        The ring holds the last :data:`DEDUP_SLOTS` distinct ids of the
        account, so a duplicate delivery is recognised when it arrives within
        the account's next ``DEDUP_SLOTS`` requests.
        """
        ring = self.dedup
        if self.n_dedup and h in ring[: self.n_dedup]:
            return True
        ring[self.dedup_pos] = h
        self.dedup_pos = (self.dedup_pos + 1) % DEDUP_SLOTS
        if self.n_dedup < DEDUP_SLOTS:
            self.n_dedup += 1
        return False

    # -- serialisation ---------------------------------------------------------

    def to_bytes(self) -> bytes:
        head = _HEAD.pack(
            STATE_VERSION,
            self.n,
            self.n_scored_at,
            self.ep_seq,
            self.ep_severity,
            self.first_ts,
            self.last_ts,
            self.gap_mean,
            self.gap_var,
            self.last_scored_ts,
            self.last_score,
            self.ep_opened_ts,
            self.ep_hot_ts,
            self.ep_peak,
            *self.rates,
            *self.profile,
            self.dedup_pos,
        )
        return head + self.dedup[: self.n_dedup].tobytes()

    @classmethod
    def from_bytes(cls, account_id: str, data: bytes) -> AccountState:
        if not data or data[0] != STATE_VERSION:
            raise StateVersionError(
                f"account state version {data[0] if data else None!r}, expected {STATE_VERSION}"
            )
        if len(data) < _HEAD.size or (len(data) - _HEAD.size) % 8:
            raise StateVersionError(f"account state of {len(data)} bytes is truncated")
        vals = _HEAD.unpack_from(data)
        s = cls.__new__(cls)
        s.account_id = account_id
        (_, s.n, s.n_scored_at, s.ep_seq, s.ep_severity) = vals[:5]
        i = 5
        for name in _SCALARS:
            setattr(s, name, vals[i])
            i += 1
        nh = len(RATE_HORIZONS)
        s.rates = list(vals[i : i + nh])
        i += nh
        s.profile = list(vals[i : i + N_PROFILE])
        i += N_PROFILE
        s.dedup_pos = vals[i]
        ring = array("Q")
        ring.frombytes(data[_HEAD.size :])
        s.n_dedup = len(ring)
        if s.n_dedup > DEDUP_SLOTS:
            raise StateVersionError("account state dedup ring too large")
        ring.extend([0] * (DEDUP_SLOTS - s.n_dedup))
        s.dedup = ring
        return s

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AccountState):
            return NotImplemented
        return self.account_id == other.account_id and self.to_bytes() == other.to_bytes()

    def __repr__(self) -> str:
        return (
            f"AccountState({self.account_id!r}, n={self.n}, last_score={self.last_score:.3f}, "
            f"episode_severity={self.ep_severity})"
        )
