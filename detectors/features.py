"""Per-event state updates and the feature vector read from the state.

:func:`absorb` is the O(1) per-event update; :func:`features` turns a state
into named, interpretable numbers at scoring time. Both are pure functions of
their arguments (event time only, no clock).

>>> from detectors.contract import Event
>>> from detectors.state import AccountState
>>> s = AccountState("acct-1")
>>> for i in range(10):
...     absorb(s, Event(request_id=f"r{i}", ts=1_800_000_000.0 + 6 * i, account_id="acct-1",
...                     model="m", status_code=200, input_tokens=50, output_tokens=900,
...                     messages_count=1, prompt_text="Explain step by step why ..."))
>>> f = features(s)
>>> f["elicitation_share"], f["single_turn_share"], round(f["output_input_ratio"], 1)
(1.0, 1.0, 17.6)
>>> round(f["rate_per_min_10m"], 1)  # ten requests in 54 s, decayed over a 10-minute horizon
1.0
"""

from __future__ import annotations

import ipaddress
import math
import re
import zlib

import cython

from .contract import Event
from .state import (
    P_5XX,
    P_429,
    P_CAP_USE,
    P_DEPTH,
    P_ELICIT,
    P_IN,
    P_LENGTH,
    P_LOGPROBS,
    P_LOGPROBS_LONG,
    P_MAX_TOKENS,
    P_MULTI_N,
    P_NEW_MODEL,
    P_OUT,
    P_REASONING,
    P_REPEAT,
    P_SINGLE,
    P_SWEEP,
    P_TEMP,
    P_TEMP_SQ,
    P_TOOLS,
    PROFILE_WINDOW,
    RATE_HORIZONS,
    RECENT_PROMPTS,
    TEMPLATE_SLOTS,
    TOPIC_SKETCH,
    TOPIC_WINDOW,
    AccountState,
    count_set,
)
from .text import elicits_reasoning

if not cython.compiled:  # compiled, these are C functions (features.pxd)
    from math import exp, log

    from .carray import f32, f64, u32
    from .state import add_capped

__all__ = [
    "absorb",
    "features",
    "FEATURE_NAMES",
    "LONG_OUTPUT_TOKENS",
    "stable_hash",
    "template_signature",
    "network_prefix",
    "ModelCalendar",
]

#: A completion at least this long makes logprobs on it look like harvesting
#: (multiple-choice evals ask for logprobs on 1-5 tokens).
LONG_OUTPUT_TOKENS = 256

#: Cluster evidence counts for this long after it arrived, seconds of event time.
CLUSTER_TTL = 86400.0

#: Decay horizon of the hour-of-day activity profile, seconds.
HOURS_TAU = 2 * 86400.0

#: A model counts as "new" for this long after the population first used it.
NEW_MODEL_WINDOW = 2 * 86400.0

_MIN_ALPHA = 1.0 / PROFILE_WINDOW
_N_RATES = len(RATE_HORIZONS)
_TAU0, _TAU1, _TAU2, _TAU3 = RATE_HORIZONS
_WORD = re.compile(r"\w+")
_DIGITS = re.compile(r"\d+")
_CRC = zlib.crc32


def stable_hash(s: str) -> int:
    """Non-zero 32-bit hash, the same in every process (not Python's ``hash``)."""
    return _CRC(s.encode("utf-8", "surrogatepass")) or 1


#: word_pairs reads the words of a prompt's first HEAD_CHARS characters and the last TAIL_WORDS words of its
#: last TAIL_CHARS characters (when it is longer than HEAD_CHARS), MAX_WORDS words in all.
HEAD_CHARS = 600
TAIL_CHARS = 300
TAIL_WORDS = 32
MAX_WORDS = 96


def word_pairs(text: str) -> list[int]:
    """32-bit hashes (CRC-32 of ``"a b"``) of a prompt's word bigrams, digit runs
    normalised to ``0``; only the words of the first 600 characters and the last
    32 words of the last 300 count, 96 at most, so the cost is bounded. A prompt
    of one word gives that word's hash; an empty one nothing.

    Compiled, :func:`_word_pairs_scan` computes the same in one pass over the
    characters (the words and the CRCs in C).
    """
    out = [0] * 95  # MAX_WORDS - 1 pairs at most (compiled: a C array, features.pxd)
    n = _word_pairs_fill(text, out)
    return [out[i] for i in range(n)]


def _word_pairs_fill(text: str, out) -> int:
    """:func:`word_pairs` written into ``out`` (compiled, a C array of ``MAX_WORDS - 1``: no Python int per
    pair), and how many."""
    n = _word_pairs_into(text, out) if cython.compiled else -1
    if n < 0:  # interpreted (the regular expressions are the faster way there), or a surrogate in the text
        found = _word_pairs_re(text)
        n = len(found)
        for i in range(n):
            out[i] = found[i]
    return n


def _word_pairs_re(text: str) -> list[int]:
    """:func:`word_pairs` by regular expressions (interpreted, the faster way)."""
    words = _WORD.findall(_DIGITS.sub("0", text[:HEAD_CHARS].casefold()))
    if len(text) > HEAD_CHARS:
        words += _WORD.findall(_DIGITS.sub("0", text[-TAIL_CHARS:].casefold()))[-TAIL_WORDS:]
    words = words[:MAX_WORDS]
    if len(words) < 2:
        return [stable_hash(words[0])] if words else []
    return [_CRC(f"{a} {b}".encode()) for a, b in zip(words, words[1:])]


def _crc_table() -> list[int]:
    """The table of CRC-32 (zlib's: reflected, polynomial 0xEDB88320) by byte."""
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def _word_pairs_scan(text: str) -> list[int] | None:
    """:func:`word_pairs` in one pass over the characters: a word is a maximal run
    of characters that are alphanumeric or ``_`` (the regular expression ``\\w``),
    a digit is a decimal character (``\\d``), and each pair's CRC-32 is computed
    over the UTF-8 bytes as they are produced. None when the text holds a
    surrogate (``word_pairs`` then takes the regular expressions' way, which
    decides what such text gives). tests/test_detectors.py checks that both ways
    agree on generated text.
    """
    out = [0] * 95  # MAX_WORDS - 1 pairs at most (compiled: a C array, features.pxd)
    n = _word_pairs_into(text, out)
    if n < 0:
        return None
    return [out[i] for i in range(n)]


def _word_pairs_into(text: str, out) -> int:
    """The pairs :func:`_word_pairs_scan` returns, written into ``out`` (compiled, a C array of
    ``MAX_WORDS - 1``: no Python int per pair), and how many; -1 when the text holds a surrogate."""
    head = text[:HEAD_CHARS].casefold()
    # the words kept: in which string (0 head, 1 tail), from, to (compiled: C arrays of MAX_WORDS, TAIL_WORDS)
    src = [0] * 96
    start = [0] * 96
    end = [0] * 96
    n = _scan_words(head, 0, start, end, src, 0, MAX_WORDS)
    if n < 0:
        return -1
    tail = ""
    if len(text) > HEAD_CHARS:
        tail = text[-TAIL_CHARS:].casefold()
        ring_start = [0] * 32
        ring_end = [0] * 32
        m = _scan_words(tail, 1, ring_start, ring_end, src, 0, -TAIL_WORDS)  # every word, the last 32 kept
        if m < 0:
            return -1
        first = m - TAIL_WORDS if m > TAIL_WORDS else 0
        for i in range(first, m):
            if n == MAX_WORDS:
                break
            src[n] = 1
            start[n] = ring_start[i % TAIL_WORDS]
            end[n] = ring_end[i % TAIL_WORDS]
            n += 1
    if n == 0:
        return 0
    ones = 0xFFFFFFFF  # CRC-32's initial and final xor (compiled, a C unsigned int: the xors stay in C)
    if n == 1:
        out[0] = _crc_word(tail if src[0] else head, start[0], end[0], ones) ^ ones or 1
        return 1
    for i in range(n - 1):
        crc = _crc_word(tail if src[i] else head, start[i], end[i], ones)
        crc = _CRC_TABLE[(crc ^ 0x20) & 0xFF] ^ (crc >> 8)  # the space
        crc = _crc_word(tail if src[i + 1] else head, start[i + 1], end[i + 1], crc)
        out[i] = crc ^ ones
    return n - 1


def _scan_words(s: str, which: int, start, end, src, n: int, limit: int) -> int:
    """Append the words of ``s`` to ``start``/``end``/``src`` from index ``n``: the first ``limit`` of them,
    or with a negative ``limit`` every word into a ring of ``-limit`` slots. Returns the words found (all
    of them for a ring), or -1 when ``s`` holds a surrogate."""
    ring = limit < 0
    size = -limit if ring else limit
    i = 0
    length = len(s)
    while i < length:
        c = s[i]
        if 0xD800 <= ord(c) <= 0xDFFF:
            return -1
        if _is_word(c):
            j = i + 1
            while j < length:
                c = s[j]
                if 0xD800 <= ord(c) <= 0xDFFF:
                    return -1
                if not _is_word(c):
                    break
                j += 1
            k = n % size if ring else n
            start[k] = i
            end[k] = j
            if not ring:
                src[k] = which
            n += 1
            if n == size and not ring:
                return n
            i = j
        i += 1
    return n


def _is_word(c: str) -> bool:
    """``c`` is a character of ``\\w``: alphanumeric or ``_`` (ASCII decided without the Unicode tables)."""
    if ord(c) < 128:
        return "a" <= c <= "z" or "0" <= c <= "9" or "A" <= c <= "Z" or c == "_"
    return c.isalnum()


def _crc_word(s: str, i: int, j: int, crc: int) -> int:
    """CRC-32 state ``crc`` advanced over the UTF-8 bytes of ``s[i:j]`` with each run of decimal digits
    written as one ``0``."""
    digit = False
    while i < j:
        c = s[i]
        i += 1
        if ("0" <= c <= "9") if ord(c) < 128 else c.isdecimal():
            if digit:
                continue
            digit = True
            crc = _CRC_TABLE[(crc ^ 0x30) & 0xFF] ^ (crc >> 8)
            continue
        digit = False
        o = ord(c)
        if o < 0x80:
            crc = _CRC_TABLE[(crc ^ o) & 0xFF] ^ (crc >> 8)
        elif o < 0x800:
            crc = _CRC_TABLE[(crc ^ (0xC0 | (o >> 6))) & 0xFF] ^ (crc >> 8)
            crc = _CRC_TABLE[(crc ^ (0x80 | (o & 0x3F))) & 0xFF] ^ (crc >> 8)
        elif o < 0x10000:
            crc = _CRC_TABLE[(crc ^ (0xE0 | (o >> 12))) & 0xFF] ^ (crc >> 8)
            crc = _CRC_TABLE[(crc ^ (0x80 | ((o >> 6) & 0x3F))) & 0xFF] ^ (crc >> 8)
            crc = _CRC_TABLE[(crc ^ (0x80 | (o & 0x3F))) & 0xFF] ^ (crc >> 8)
        else:
            crc = _CRC_TABLE[(crc ^ (0xF0 | (o >> 18))) & 0xFF] ^ (crc >> 8)
            crc = _CRC_TABLE[(crc ^ (0x80 | ((o >> 12) & 0x3F))) & 0xFF] ^ (crc >> 8)
            crc = _CRC_TABLE[(crc ^ (0x80 | ((o >> 6) & 0x3F))) & 0xFF] ^ (crc >> 8)
            crc = _CRC_TABLE[(crc ^ (0x80 | (o & 0x3F))) & 0xFF] ^ (crc >> 8)
    return crc


def template_signature(text: str) -> int:
    """MinHash of a prompt's word bigrams: prompts made from one template
    share it with a probability equal to the Jaccard similarity of their
    bigram sets, so slot-filled variants of a template usually collide while
    unrelated prompts do not.

    >>> a = template_signature("As an expert in topology, solve: prove X. Show all work.")
    >>> a == template_signature("As an expert in topology, solve: prove X. Show all work.")
    True
    """
    pairs = word_pairs(text)
    return (min(pairs) or 1) if pairs else 0


def network_prefix(ip: str) -> str:
    """The /24 of an IPv4 address or the /48 of an IPv6 address."""
    if ":" not in ip:
        return ip.rpartition(".")[0]
    try:
        return ipaddress.IPv6Address(ip).packed[:6].hex()
    except ValueError:
        return ip


#: Memo of identifier -> stable_hash (models, key ids: few, and seen on every event).
_ID_MEMO: dict[str, int] = {}


def id_hash(s: str) -> int:
    """:func:`stable_hash`, memoised for identifiers that recur (cleared when full)."""
    h = _ID_MEMO.get(s)
    if h is None:
        if len(_ID_MEMO) >= _PREFIX_MEMO_MAX:
            _ID_MEMO.clear()
        h = _ID_MEMO[s] = stable_hash(s)
    return h


#: Memo of address -> prefix hash (a pure function's results; cleared when full).
_PREFIX_MEMO: dict[str, int] = {}
_PREFIX_MEMO_MAX = 65536


def prefix_hash(ip: str) -> int:
    """:func:`stable_hash` of :func:`network_prefix`, memoised: busy addresses
    recur, and parsing an IPv6 address costs more than the rest of an event's
    bookkeeping."""
    h = _PREFIX_MEMO.get(ip)
    if h is None:
        if len(_PREFIX_MEMO) >= _PREFIX_MEMO_MAX:
            _PREFIX_MEMO.clear()
        h = _PREFIX_MEMO[ip] = stable_hash(network_prefix(ip))
    return h


class ModelCalendar:
    """When the population first used each model (bounded; event time).

    Shared by the accounts of one partition; it makes "traffic moved to a
    newly released model" measurable without a list of release dates.
    """

    __slots__ = ("first_seen", "capacity")

    def __init__(self, capacity: int = 512):
        self.first_seen: dict[int, float] = {}
        self.capacity = capacity

    def observe(self, model_hash: int, ts: float) -> float:
        first = self.first_seen.get(model_hash)
        if first is None:
            if len(self.first_seen) >= self.capacity:  # forget the oldest model
                del self.first_seen[min(self.first_seen, key=self.first_seen.__getitem__)]
            self.first_seen[model_hash] = ts
            return ts
        if ts < first:
            self.first_seen[model_hash] = ts
            return ts
        return first


#: Prompt text is analysed (reasoning elicitation, word pairs for templates and
#: topic breadth) for every event of an account's first TEXT_FULL_EVENTS, then
#: for one event in TEXT_SAMPLE, chosen by the request id's hash (so replay and
#: the worker choose the same). The elicitation mean then moves TEXT_SAMPLE
#: times as far per analysed event: the same memory in events, a quarter of
#: the cost. Exact-repeat and model-sweep checks see every prompt.
TEXT_FULL_EVENTS = 64
TEXT_SAMPLE = 4

# C copies of the constants absorb reads (typed in features.pxd; a typed module global is not a Python
# attribute of the compiled module, and the names above are)
_LONG_OUTPUT = float(LONG_OUTPUT_TOKENS)
_HOURS_TAU = HOURS_TAU
_NEW_MODEL_WINDOW = NEW_MODEL_WINDOW
_TEXT_FULL_EVENTS = TEXT_FULL_EVENTS
_TEXT_SAMPLE = TEXT_SAMPLE


def absorb(state: AccountState, ev: Event, calendar: ModelCalendar | None = None, sample: int = 0) -> None:
    """Fold one (already de-duplicated) event into ``state``.

    ``sample`` is any stable hash of the event (the engine passes the request
    id's): it picks the events whose prompt text is analysed once the account
    has :data:`TEXT_FULL_EVENTS` events (see :data:`TEXT_SAMPLE`).
    """
    # Written for the compiler as much as for the reader (features.pxd types it): the state's arrays are
    # read through f64/f32/u32 (C pointers when compiled) and each profile mean is updated in place.
    ts = ev.ts
    n = state.n
    rates = f64(state.rates)
    if n == 0:
        state.first_ts = ts
        state.last_ts = ts
        state.hours_ts = ts
        for i in range(_N_RATES):
            rates[i] = 1.0
    else:
        dt = ts - state.last_ts
        if dt > 0.0:
            rates[0] = rates[0] * exp(-dt / _TAU0) + 1.0
            rates[1] = rates[1] * exp(-dt / _TAU1) + 1.0
            rates[2] = rates[2] * exp(-dt / _TAU2) + 1.0
            rates[3] = rates[3] * exp(-dt / _TAU3) + 1.0
            # inter-arrival gap statistics on a log scale (robust to bursts)
            g = log(dt + 1e-3)
            a = 1.0 / n if n < PROFILE_WINDOW else _MIN_ALPHA
            d = g - state.gap_mean
            state.gap_mean += a * d
            state.gap_var = (1.0 - a) * (state.gap_var + a * d * d)
            state.last_ts = ts
        else:  # same instant, or out of order: count it at today's decay level
            for i in range(_N_RATES):
                rates[i] += 1.0
    n += 1
    state.n = n

    # hour-of-day profile, decayed at most once per hour of event time
    hours = f32(state.hours)
    if ts - state.hours_ts >= 3600.0:
        k = exp(-(ts - state.hours_ts) / _HOURS_TAU)
        for i in range(24):
            hours[i] *= k
        state.hours_ts = ts
    hour = int(ts // 3600.0) % 24
    hours[hour] += 1.0

    # who and where
    if ev.api_key_id:
        add_capped(state.keys, id_hash(ev.api_key_id))
    if ev.client_ip:
        add_capped(state.prefixes, prefix_hash(ev.client_ip))
    model_h = id_hash(ev.model)
    add_capped(state.models, model_h)
    new_model = 0.0
    if calendar is not None:
        released = calendar.observe(model_h, ts)
        if released > state.first_ts + 3600.0 and ts - released < _NEW_MODEL_WINDOW:
            new_model = 1.0

    if ev.system_sha256:
        state.system_sig = id_hash(ev.system_sha256)  # an account's system prompt recurs

    # what the prompt looks like (text reduced to fingerprints here, then dropped)
    text = ev.prompt_text
    repeat = sweep = 0.0
    analysed = True  # False: the elicitation mean keeps its value
    elicit = 0.0
    if text:
        th = stable_hash(text[:2000])
        ring = u32(state.recent_text)
        models = u32(state.recent_model)
        for i in range(RECENT_PROMPTS):
            if ring[i] == th:
                repeat = 1.0
                if models[i] != model_h:
                    sweep = 1.0
        analysed = n <= _TEXT_FULL_EVENTS or sample % _TEXT_SAMPLE == 0
        if analysed:
            elicit = 1.0 if elicits_reasoning(text) else 0.0
            pairs = [0] * 95  # the prompt's word pairs, MAX_WORDS - 1 at most (compiled: a C array, features.pxd)
            n_pairs = _word_pairs_fill(text, pairs)
            if n_pairs:
                _template_observe(state, _topic_observe(state, pairs, n_pairs, repeat) or 1)
        pos = state.recent_pos
        ring[pos] = th
        models[pos] = model_h
        state.recent_pos = (pos + 1) % RECENT_PROMPTS

    # the behaviour profile: EW means over the last PROFILE_WINDOW events
    a = 1.0 / n if n < PROFILE_WINDOW else _MIN_ALPHA
    p = f64(state.profile)
    # usage.output_tokens counts every choice of an n > 1 request: lengths are per choice
    choices = ev.n or 1
    out_tokens = ev.output_tokens
    out = (out_tokens or 0) / choices
    logprobs = 1.0 if (ev.logprobs or (ev.top_logprobs or 0) > 0) else 0.0
    mc = ev.messages_count
    status = ev.status_code
    p[P_IN] += a * (float(ev.input_tokens or 0) - p[P_IN])
    p[P_OUT] += a * (out - p[P_OUT])
    p[P_SINGLE] += a * ((1.0 if mc == 1 else 0.0) - p[P_SINGLE])  # unknown depth is no evidence
    p[P_LOGPROBS] += a * (logprobs - p[P_LOGPROBS])
    p[P_LOGPROBS_LONG] += a * ((logprobs if out >= _LONG_OUTPUT else 0.0) - p[P_LOGPROBS_LONG])
    p[P_MULTI_N] += a * ((1.0 if choices > 1 else 0.0) - p[P_MULTI_N])
    p[P_LENGTH] += a * ((1.0 if ev.finish_reason == "length" else 0.0) - p[P_LENGTH])
    p[P_429] += a * ((1.0 if status == 429 else 0.0) - p[P_429])
    p[P_5XX] += a * ((1.0 if status >= 500 else 0.0) - p[P_5XX])
    p[P_TOOLS] += a * ((1.0 if (ev.tools_count or 0) > 0 else 0.0) - p[P_TOOLS])
    p[P_REPEAT] += a * (repeat - p[P_REPEAT])
    p[P_SWEEP] += a * (sweep - p[P_SWEEP])
    p[P_NEW_MODEL] += a * (new_model - p[P_NEW_MODEL])
    reasoning = min(1.0, (ev.reasoning_tokens or 0) / out_tokens) if out_tokens else 0.0
    p[P_REASONING] += a * (reasoning - p[P_REASONING])
    if analysed:
        if n > _TEXT_FULL_EVENTS:
            a = min(1.0, a * _TEXT_SAMPLE)  # a sampled prompt stands for TEXT_SAMPLE events
        p[P_ELICIT] += a * (elicit - p[P_ELICIT])
    # means over the events that carried the value (KNOWN_FIELDS)
    known = f32(state.known)
    if mc is not None:
        _known_mean(p, known, P_DEPTH, float(mc))
    max_tokens = ev.max_tokens
    if max_tokens:
        if out_tokens is not None:
            _known_mean(p, known, P_CAP_USE, min(1.0, out / max_tokens))
        _known_mean(p, known, P_MAX_TOKENS, log(max_tokens) / 0.6931471805599453)
    temp = ev.temperature
    if temp is not None:
        _known_mean(p, known, P_TEMP, temp)
        _known_mean(p, known, P_TEMP_SQ, temp * temp)


def _known_mean(p, known, i: int, v: float) -> None:
    """Fold ``v`` into mean ``p[i]`` over the events that carried a value (weight ``known[i]``, capped at
    :data:`PROFILE_WINDOW`)."""
    w = known[i] + 1.0
    known[i] = w if w < PROFILE_WINDOW else PROFILE_WINDOW
    p[i] += (1.0 / known[i]) * (v - p[i])


def _template_observe(state: AccountState, sig: int) -> None:
    """Space-saving top-k of template signatures, slowly decayed: the
    dominant template's share of the counts is ``template_share``."""
    sigs = u32(state.tpl_sig)
    cnts = f32(state.tpl_cnt)
    for i in range(TEMPLATE_SLOTS):
        cnts[i] *= 0.995
    for i in range(TEMPLATE_SLOTS):
        if sigs[i] == sig:
            cnts[i] += 1.0
            return
    low = 0  # the first slot of the lowest count
    for i in range(1, TEMPLATE_SLOTS):
        if cnts[i] < cnts[low]:
            low = i
    sigs[low] = sig
    cnts[low] += 1.0  # space-saving: inherit the evicted count


def _topic_observe(state: AccountState, pairs, n: int, repeat: float = 0.0) -> int:
    """Fold a prompt's ``n`` word pairs (at least one; compiled, ``pairs`` is a C array) into the window's
    KMV sketch; at the end of a window, keep its breadth (distinct pairs / all pairs) and start afresh. An
    exact repeat of a recent prompt adds no new pairs: only counted. Returns the smallest pair hash (the
    prompt's template signature)."""
    kmv = u32(state.topic_kmv)
    low = pairs[0]
    for k in range(n):
        h = pairs[k]
        if h < low:
            low = h
        # the sketch keeps the TOPIC_SKETCH smallest distinct hashes whatever order they come in: each pair in
        # turn (compiled, a C loop; once the sketch has filled, few pairs are below its largest)
        if repeat or h >= kmv[TOPIC_SKETCH - 1]:
            continue
        lo, hi = 0, TOPIC_SKETCH - 1  # bisect_left: kmv[-1] > h, so lo ends below the last slot
        while lo < hi:
            mid = (lo + hi) // 2
            if kmv[mid] < h:
                lo = mid + 1
            else:
                hi = mid
        if kmv[lo] != h:  # insert, dropping the largest
            for j in range(TOPIC_SKETCH - 1, lo, -1):
                kmv[j] = kmv[j - 1]
            kmv[lo] = h
    state.topic_pairs += n
    state.topic_prompts += 1
    if state.topic_prompts >= TOPIC_WINDOW:
        state.topic_breadth = topic_breadth_now(state)
        state.topic_prompts = 0
        state.topic_pairs = 0.0
        for i in range(TOPIC_SKETCH):
            kmv[i] = 0xFFFFFFFF
    return low


def topic_breadth_now(state: AccountState) -> float:
    """Distinct word pairs over all word pairs in the current window (KMV
    estimate of the distinct count; exact below the sketch's size)."""
    if state.topic_pairs <= 0:
        return 0.0
    kmv = state.topic_kmv
    if kmv[-1] == 0xFFFFFFFF:  # fewer distinct pairs than the sketch holds: exact
        distinct = TOPIC_SKETCH - kmv.count(0xFFFFFFFF)
    else:
        distinct = (TOPIC_SKETCH - 1) * 4294967296.0 / (kmv[-1] + 1.0)
    return min(1.0, distinct / state.topic_pairs)


#: Names of the features, in the order :func:`features` returns them.
FEATURE_NAMES = (
    "events",
    "rate_per_min_1m",
    "rate_per_min_10m",
    "rate_per_min_1h",
    "rate_per_min_1d",
    "burst_ratio",
    "rate_ratio_1h_1d",
    "mean_input_tokens",
    "mean_output_tokens",
    "output_input_ratio",
    "single_turn_share",
    "mean_conversation_depth",
    "elicitation_share",
    "logprobs_share",
    "logprobs_long_share",
    "multi_n_share",
    "finish_length_share",
    "cap_use",
    "mean_max_tokens",
    "temperature_spread",
    "rate_limited_share",
    "error_share",
    "tools_share",
    "template_share",
    "topic_breadth",
    "exact_repeat_share",
    "model_sweep_share",
    "new_model_share",
    "reasoning_token_share",
    "timing_regularity",
    "activity_entropy",
    "distinct_keys",
    "distinct_prefixes",
    "distinct_models",
    "active_hours",
    "behaviour_change",
    "cluster_strength",
    "cluster_size",
)

#: Events before inter-arrival regularity counts.
MIN_GAPS = 10

#: Cadence fingerprints: accounts whose inter-arrival gaps are this regular
#: (``timing_regularity``) publish the bin of their typical gap, on a log scale
#: of this width (0.2 = bins 22 % wide), twice, the second grid shifted by half
#: a bin, so two accounts with nearly the same gap always share one bin.
CADENCE_MIN_REGULARITY = 0.6
CADENCE_BIN = 0.2


def cadence_bins(state: AccountState) -> tuple[int, int] | None:
    """The account's request rhythm as two 32-bit fingerprint values, or None
    when it has too few gaps or no steady rhythm.

    Accounts of a load-balanced network take turns on one scheduler, so they
    share a rhythm that ordinary users, each with their own, do not.

    >>> s = AccountState("a")
    >>> s.n, s.gap_mean, s.gap_var = 40, math.log(600.0), 0.04
    >>> cadence_bins(s)
    (2062, 2065)
    >>> s.gap_var = 1.0  # Poisson-like: no rhythm
    >>> cadence_bins(s) is None
    True
    """
    if state.n < MIN_GAPS or 1.0 / (1.0 + math.sqrt(state.gap_var)) < CADENCE_MIN_REGULARITY:
        return None
    x = state.gap_mean / CADENCE_BIN + 1000.0  # gaps below a second give negative logs
    return (int(x) * 2) & 0xFFFFFFFF, (int(x + 0.5) * 2 + 1) & 0xFFFFFFFF


#: An account needs this much history before its hour-of-day profile means anything.
ENTROPY_MIN_SPAN = 12 * 3600.0
_ENTROPY_MIN_SPAN = ENTROPY_MIN_SPAN  # C copy (features.pxd)
_LOG24 = math.log(24.0)


def features(state: AccountState, now: float | None = None) -> dict[str, float]:
    """The account's feature vector, as of event time ``now`` (default: its last event).

    Rates are requests per minute over each horizon of
    :data:`~detectors.state.RATE_HORIZONS` (a decayed count divided by the
    horizon, so an account younger than the horizon is not inflated).
    ``timing_regularity`` is ``1 / (1 + sd)`` of the log inter-arrival gap:
    near 1 for a metronome, about 0.44 for Poisson arrivals, lower for bursts.
    ``activity_entropy`` is the normalised entropy of the hour-of-day profile
    (1 = evenly round the clock), 0 until the account has 12 h of history.
    """
    last = state.last_ts
    n = state.n
    rates = f64(state.rates)
    if now is None or not now > last:
        now = last
        per_min_1m = rates[0] * 1.0 * 60.0 / _TAU0
        per_min_10m = rates[1] * 1.0 * 60.0 / _TAU1
        per_min_1h = rates[2] * 1.0 * 60.0 / _TAU2
        per_min_1d = rates[3] * 1.0 * 60.0 / _TAU3
    else:
        idle = now - last
        per_min_1m = rates[0] * exp(-idle / _TAU0) * 60.0 / _TAU0
        per_min_10m = rates[1] * exp(-idle / _TAU1) * 60.0 / _TAU1
        per_min_1h = rates[2] * exp(-idle / _TAU2) * 60.0 / _TAU2
        per_min_1d = rates[3] * exp(-idle / _TAU3) * 60.0 / _TAU3
    p = f64(state.profile)
    span = (last - state.first_ts) if n else 0.0
    temp_var = max(0.0, p[P_TEMP_SQ] - p[P_TEMP] * p[P_TEMP])
    cnts = state.tpl_cnt
    total = sum(cnts)
    entropy = 0.0
    if span >= _ENTROPY_MIN_SPAN:
        hs = sum(state.hours)
        if hs > 0:
            hours = f32(state.hours)
            acc = 0.0  # left to right, as sum() of the terms did
            for i in range(24):
                h = hours[i]
                if h > 0:
                    acc += (h / hs) * log(h / hs)
            entropy = -acc / _LOG24
    cluster_fresh = n and state.cluster_id and now - state.cluster_ts < CLUSTER_TTL
    return {
        "events": float(n),
        "rate_per_min_1m": per_min_1m,
        "rate_per_min_10m": per_min_10m,
        "rate_per_min_1h": per_min_1h,
        "rate_per_min_1d": per_min_1d,
        "burst_ratio": per_min_1m / per_min_1h if per_min_1h > 0 else 0.0,
        # own history: the last hour against the day (1 = steady; only once a day of history)
        "rate_ratio_1h_1d": per_min_1h / per_min_1d if per_min_1d > 0 and span >= 86400.0 else 1.0,
        "mean_input_tokens": p[P_IN],
        "mean_output_tokens": p[P_OUT],
        "output_input_ratio": p[P_OUT] / (p[P_IN] + 1.0),
        "single_turn_share": p[P_SINGLE],
        "mean_conversation_depth": p[P_DEPTH],
        "elicitation_share": p[P_ELICIT],
        "logprobs_share": p[P_LOGPROBS],
        "logprobs_long_share": p[P_LOGPROBS_LONG],
        "multi_n_share": p[P_MULTI_N],
        "finish_length_share": p[P_LENGTH],
        "cap_use": p[P_CAP_USE],
        "mean_max_tokens": 2.0 ** p[P_MAX_TOKENS] if state.known[P_MAX_TOKENS] else 0.0,
        "temperature_spread": math.sqrt(temp_var),
        "rate_limited_share": p[P_429],
        "error_share": p[P_5XX],
        "tools_share": p[P_TOOLS],
        "template_share": max(cnts) / total if total >= 5.0 else 0.0,
        "topic_breadth": (state.topic_breadth if not math.isnan(state.topic_breadth)
                          else topic_breadth_now(state) if state.topic_prompts >= 8 else 0.0),
        "exact_repeat_share": p[P_REPEAT],
        "model_sweep_share": p[P_SWEEP],
        "new_model_share": p[P_NEW_MODEL],
        "reasoning_token_share": p[P_REASONING],
        # a handful of gaps says nothing about regularity
        "timing_regularity": 1.0 / (1.0 + math.sqrt(state.gap_var)) if n >= MIN_GAPS else 0.0,
        "activity_entropy": entropy,
        "distinct_keys": float(count_set(state.keys)),
        "distinct_prefixes": float(count_set(state.prefixes)),
        "distinct_models": float(count_set(state.models)),
        "active_hours": span / 3600.0,
        "behaviour_change": 1.0 if now - state.change_ts < 6 * 3600.0 else 0.0,
        "cluster_strength": state.cluster_strength if cluster_fresh else 0.0,
        "cluster_size": float(state.cluster_size) if cluster_fresh else 0.0,
    }
