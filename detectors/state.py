"""Per-account behavioural state, driven by event time, in bounded memory.

One :class:`AccountState` per account holds everything the detector keeps
about it: decayed request rates over several horizons, exponentially weighted
means of what the account's requests look like, inter-arrival statistics, an
hour-of-day activity profile, capped sets of the keys, network prefixes and
models it uses, template fingerprints of its prompts, a change detector, the
scoring schedule, the open alert episode, coordination evidence, and a ring of
recent request-id hashes for duplicate detection. Every structure has a fixed
size; nothing grows with traffic. Prompt text never reaches it: only 32-bit
fingerprints of it.

Time is the event's own timestamp. An event older than the newest one seen for
the account (out of order) is counted at the current decay level instead of
rewinding the clocks.

State travels through a changelog-backed table as bytes: a one-byte schema
version, then a fixed ``struct`` layout generated from :data:`_SCALARS` and
:data:`_ARRAYS`, then the used part of the dedup ring. Bytes of another version
raise :class:`StateVersionError`, which callers treat as "no state" (start
afresh), so an upgrade can never crash-loop on old changelog records.

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
import sys
from array import array

import cython

if not cython.compiled:  # compiled, C functions (state.pxd)
    from .carray import u32, u64

__all__ = [
    "AccountState",
    "StateVersionError",
    "STATE_VERSION",
    "RATE_HORIZONS",
    "DEDUP_SLOTS",
    "PROFILE_WINDOW",
    "PROFILE_FIELDS",
    "SET_SLOTS",
    "TEMPLATE_SLOTS",
    "TOPIC_SKETCH",
    "TOPIC_WINDOW",
]

STATE_VERSION = 4

_BYTEORDER = sys.byteorder  # of the dedup ring's array("Q") in memory

#: Horizons (seconds) of the decayed request-rate counters.
RATE_HORIZONS = (60.0, 600.0, 3600.0, 86400.0)

#: Recent request ids remembered per account (64-bit hashes).
DEDUP_SLOTS = 64

#: Number of recent requests the behaviour profile (EW means) reflects.
PROFILE_WINDOW = 200

#: Capacity of the capped distinct-value sets (keys, network prefixes).
SET_SLOTS = 16
MODEL_SLOTS = 8

#: Template fingerprints tracked per account (space-saving top-k).
TEMPLATE_SLOTS = 6

#: Topic breadth: a KMV sketch (k smallest distinct hashes) of the word pairs of
#: the account's prompts, per window of this many prompts.
TOPIC_SKETCH = 32
TOPIC_WINDOW = 64

#: Recent prompt fingerprints remembered for exact-repeat and model-sweep checks.
RECENT_PROMPTS = 16

# The order of the profile means; features.py reads them by index.
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
    "depth",  # messages_count (conversation depth), when known
    "cap_use",  # output_tokens / max_tokens, when both known
    "max_tokens",  # log2 of max_tokens, when known
    "temperature",  # temperature, when known
    "temperature_sq",  # temperature squared (for the spread)
    "exact_repeat",  # prompt text identical to a recent one
    "model_sweep",  # same prompt recently sent to another model
    "new_model",  # request to a model released after the account started
    "reasoning_tokens",  # share of completion tokens spent on hidden reasoning
)
(
    P_IN,
    P_OUT,
    P_SINGLE,
    P_ELICIT,
    P_LOGPROBS,
    P_LOGPROBS_LONG,
    P_MULTI_N,
    P_LENGTH,
    P_429,
    P_5XX,
    P_TOOLS,
    P_DEPTH,
    P_CAP_USE,
    P_MAX_TOKENS,
    P_TEMP,
    P_TEMP_SQ,
    P_REPEAT,
    P_SWEEP,
    P_NEW_MODEL,
    P_REASONING,
) = range(len(PROFILE_FIELDS))
N_PROFILE = len(PROFILE_FIELDS)

# Fields whose mean is taken only over events that carry the value: their
# weights live in `known` (an EW count of events that had it).
KNOWN_FIELDS = (P_DEPTH, P_CAP_USE, P_MAX_TOKENS, P_TEMP, P_TEMP_SQ)

# scalar attributes: name -> struct code
_SCALARS: tuple[tuple[str, str], ...] = (
    ("n", "q"),  # valid, non-duplicate events absorbed
    ("n_scored_at", "q"),  # value of n at the last scoring
    ("ep_seq", "q"),  # alerts emitted in the current episode
    ("ep_severity", "b"),  # 0 = no open episode, else 1 info, 2 warning, 3 critical
    ("dedup_pos", "H"),
    # Kafka offset of the newest message the account absorbed events from, on the input topic and on the
    # re-key topic (the account's partition of each): older messages re-read after a crash are skipped
    # exactly, however far they reach past the dedup ring (the message at that offset itself may hold
    # several events of the account, so it is not skipped: the dedup ring covers its re-read)
    ("input_offset", "q"),
    ("rekey_offset", "q"),
    ("first_ts", "d"),
    ("last_ts", "d"),
    ("hours_ts", "d"),  # event time the hour profile was last decayed to
    ("gap_mean", "d"),  # EW mean of log inter-arrival gap
    ("gap_var", "d"),  # EW variance of log inter-arrival gap
    ("last_scored_ts", "d"),
    ("last_score", "d"),
    ("last_content", "d"),  # content evidence at the last scoring
    ("ep_opened_ts", "d"),
    ("ep_hot_ts", "d"),  # last time the score was at or above close_below
    ("ep_peak", "d"),
    ("ph_n", "q"),  # Page-Hinkley change detector on the content evidence
    ("ph_mean", "d"),
    ("ph_sum_up", "d"),
    ("ph_min_up", "d"),  # starts at +inf, as river's PageHinkley
    ("ph_sum_down", "d"),
    ("ph_max_down", "d"),
    ("change_ts", "d"),  # event time of the last detected behaviour change
    ("cluster_id", "Q"),  # coordination: cluster this account was linked into (0 = none)
    ("cluster_size", "H"),
    ("cluster_kind", "B"),  # 0 none, else engine.CLUSTER_KINDS (template, prefix, system, cadence)
    ("cluster_ts", "d"),  # event time of the evidence
    ("cluster_strength", "d"),
    ("recent_pos", "H"),
    ("fp_ts", "d"),  # event time fingerprints were last published
    ("system_sig", "I"),  # hash of the account's latest system prompt hash (0 = none seen)
    ("topic_prompts", "H"),  # prompts in the current topic window
    ("topic_pairs", "d"),  # word pairs in the current topic window
    ("topic_breadth", "d"),  # distinct / all word pairs of the last full window (nan: none yet)
)

# fixed-size arrays: name -> (typecode, length, initial value)
_ARRAYS: tuple[tuple[str, str, int, float], ...] = (
    ("rates", "d", len(RATE_HORIZONS), 0.0),  # decayed counts, one per horizon
    ("profile", "d", N_PROFILE, 0.0),  # EW means, see PROFILE_FIELDS
    ("known", "f", N_PROFILE, 0.0),  # EW weight of events that carried a KNOWN_FIELDS value
    ("hours", "f", 24, 0.0),  # decayed activity by UTC hour of day (tau = 2 days)
    ("keys", "I", SET_SLOTS, 0),  # capped set of api_key_id hashes (0 = empty)
    ("prefixes", "I", SET_SLOTS, 0),  # capped set of /24 (IPv4) or /48 (IPv6) prefix hashes
    ("models", "I", MODEL_SLOTS, 0),  # capped set of model hashes
    ("tpl_sig", "I", TEMPLATE_SLOTS, 0),  # template fingerprints (space-saving)
    ("tpl_cnt", "f", TEMPLATE_SLOTS, 0.0),  # their decayed counts
    ("recent_text", "I", RECENT_PROMPTS, 0),  # recent exact-prompt hashes
    ("recent_model", "I", RECENT_PROMPTS, 0),  # the model each was sent to
    ("topic_kmv", "I", TOPIC_SKETCH, 0xFFFFFFFF),  # smallest distinct word-pair hashes of the window, sorted
)

_NAN_INIT = {"first_ts", "last_ts", "hours_ts", "last_scored_ts", "ep_opened_ts", "ep_hot_ts", "change_ts",
             "cluster_ts", "fp_ts", "topic_breadth"}

_FMT = "<B" + "".join(code for _, code in _SCALARS) + "".join(f"{n}{tc}" for _, tc, n, _ in _ARRAYS)
_HEAD = struct.Struct(_FMT)
_SCALAR_NAMES = tuple(name for name, _ in _SCALARS)
# byte offset of last_ts in the serialised state (read without decoding the rest)
_LAST_TS_AT = struct.calcsize("<B" + "".join(code for name, code in _SCALARS[: _SCALAR_NAMES.index("last_ts")]))


_SLOTS = ("account_id", "dedup", "n_dedup") + _SCALAR_NAMES + tuple(name for name, *_ in _ARRAYS)


class StateVersionError(ValueError):
    """Stored state bytes carry a schema version this code does not read."""


class AccountState:
    """Everything kept about one account. See the module docstring."""

    __slots__ = _SLOTS  # compiled (state.pxd): a cdef class with these attributes typed

    def __init__(self, account_id: str):
        self.account_id = account_id
        for name, code in _SCALARS:
            setattr(self, name, math.nan if name in _NAN_INIT else (0.0 if code == "d" else 0))
        for name, tc, length, init in _ARRAYS:
            setattr(self, name, array(tc, [init]) * length)
        self.ph_min_up = math.inf
        self.ph_max_down = -1.0
        self.dedup = array("Q", bytes(8 * DEDUP_SLOTS))
        self.n_dedup = 0  # filled dedup slots, <= DEDUP_SLOTS

    # -- duplicate detection -------------------------------------------------

    def dedup_seen(self, h: int) -> bool:
        """Remember request-id hash ``h`` (non-zero); True when it was already remembered.

        The ring holds the last :data:`DEDUP_SLOTS` distinct ids of the
        account, so a duplicate delivery is recognised when it arrives within
        the account's next ``DEDUP_SLOTS`` requests.
        """
        ring = self.dedup
        slots = len(ring)  # DEDUP_SLOTS (compiled, the array's size: no lookup of a module global)
        pos = self.dedup_pos
        if not 0 <= pos < slots:  # from_bytes refuses such a state; set by hand, the ring is still written in bounds
            pos = 0
        if cython.compiled:  # a C loop over the 64 slots
            p = u64(ring)
            for i in range(slots):
                if p[i] == h:
                    return True
            p[pos] = h
        else:
            # interpreted, `h in ring` boxes all 64 slots; a search of the raw bytes is 4x faster (a hit
            # must be slot-aligned)
            key = h.to_bytes(8, _BYTEORDER)  # empty slots hold 0, never a hash (request_hash is non-zero)
            raw = ring.tobytes()
            i = raw.find(key)
            while i != -1:
                if not i & 7:
                    return True
                i = raw.find(key, i + 1)
            ring[pos] = h
        self.dedup_pos = (pos + 1) % slots
        if self.n_dedup < slots:
            self.n_dedup += 1
        return False

    # -- serialisation ---------------------------------------------------------

    def to_bytes(self) -> bytes:
        vals: list = [STATE_VERSION]
        for name in _SCALAR_NAMES:
            vals.append(getattr(self, name))
        for name, *_ in _ARRAYS:
            vals.extend(getattr(self, name))
        return _HEAD.pack(*vals) + self.dedup[: self.n_dedup].tobytes()

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
        i = 1
        for name in _SCALAR_NAMES:
            setattr(s, name, vals[i])
            i += 1
        for name, tc, length, _ in _ARRAYS:
            setattr(s, name, array(tc, vals[i : i + length]))
            i += length
        ring = array("Q")
        ring.frombytes(data[_HEAD.size :])
        s.n_dedup = len(ring)
        if s.n_dedup > DEDUP_SLOTS:
            raise StateVersionError("account state dedup ring too large")
        if not 0 <= s.dedup_pos < DEDUP_SLOTS:  # dedup_seen writes the ring at it
            raise StateVersionError(f"account state dedup position {s.dedup_pos} out of range")
        ring.extend([0] * (DEDUP_SLOTS - s.n_dedup))
        s.dedup = ring
        return s

    @staticmethod
    def last_event_time(data: bytes) -> float | None:
        """Event time of the account's newest event, read straight from its
        serialised state (for sweeping idle accounts without decoding them);
        None for bytes of another version.

        >>> s = AccountState("a"); s.last_ts = 1.8e9
        >>> AccountState.last_event_time(s.to_bytes())
        1800000000.0
        """
        if not data or data[0] != STATE_VERSION or len(data) < _HEAD.size:
            return None
        return struct.unpack_from("<d", data, _LAST_TS_AT)[0]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AccountState):
            return NotImplemented
        return self.account_id == other.account_id and self.to_bytes() == other.to_bytes()

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        return (
            f"AccountState({self.account_id!r}, n={self.n}, last_score={self.last_score:.3f}, "
            f"episode_severity={self.ep_severity})"
        )


def add_capped(slots: array, h: int) -> None:
    """Add non-zero hash ``h`` to a capped set of 32-bit hashes (ignored once full).

    The set fills from its first slot and never loses a value, so its values are a prefix of the slots.
    """
    p = u32(slots)
    for i in range(len(slots)):
        v = p[i]
        if v == h:
            return
        if v == 0:
            p[i] = h
            return


def count_set(slots: array) -> int:
    """Number of values in a capped set (saturates at its capacity)."""
    p = u32(slots)
    k = 0
    for i in range(len(slots)):
        if p[i] != 0:
            k += 1
    return k
