"""Build the account population and merge all sources into one time-ordered stream.

Determinism: every source owns a ``random.Random`` seeded from the scenario's
master RNG in a fixed construction order; the merge stage (timestamp form,
duplicates, malformed lines) has its own RNG.  Ties in event time are broken by
source index, so the output bytes depend only on the scenario.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Iterator
from random import Random

import orjson

from . import archetypes as A
from .scenario import AccountLabel, Scenario, rfc3339

VALID, DUPLICATE, INVALID = 0, 1, 2
FLOAT_TIMESTAMP_SHARE = 0.2  # events whose timestamp is a Unix float instead of RFC 3339
GATEWAY_FIELD_RATE = 0.001  # events with an unknown "gateway_node" field added by the gateway
REQUIRED = ("request_id", "timestamp", "account_id", "model", "status_code")


def _count(base: int, scale: float) -> int:
    if scale <= 0:
        return 0
    return max(1, round(base * scale))


def build(scenario: Scenario, time_shift: float = 0.0) -> tuple[list[AccountLabel], list[A.Source]]:
    """Create the population: labels (sorted by account id) and event sources."""
    master = Random(scenario.seed)
    ctx = A.Ctx(scenario.start, scenario.end)
    ident = A.Identity(Random(master.getrandbits(64)))
    sources: list[A.Source] = []
    rows: list[tuple[str, str, str, bool, float | None, str | None]] = []

    def rng() -> Random:
        return Random(master.getrandbits(64))

    for archetype, base, cls in A.POPULATION:
        for _ in range(_count(base, scenario.scale)):
            acct = ident.account_id()
            if archetype == "compromised_key":
                victim = A.CompromisedChat(ctx, rng(), ident, acct, len(sources))
                sources.append(victim)
                take = A.CompromisedTakeover(ctx, rng(), ident, acct, len(sources))
                sources.append(take)
                rows.append((acct, archetype, "harvester", False, take.attack_start, None))
                continue
            s = cls(ctx, rng(), ident, acct, len(sources))
            sources.append(s)
            rows.append((acct, archetype, s.label, archetype in A.HEAVY, s.attack_start, None))

    n_hydra = 0 if scenario.scale <= 0 else max(A.HYDRA_MIN_MEMBERS,
                                                 round(sum(A.HYDRA_NETWORK_SIZES) * scenario.scale))
    n_nets = 0 if scenario.scale <= 0 else max(1, round(len(A.HYDRA_NETWORK_SIZES) * scenario.scale))
    if n_nets:
        weights = [A.HYDRA_NETWORK_SIZES[i % len(A.HYDRA_NETWORK_SIZES)] for i in range(n_nets)]
        sizes = [max(A.HYDRA_MIN_MEMBERS, round(n_hydra * w / sum(weights))) for w in weights]
        for net_no, size in enumerate(sizes):
            members = [ident.account_id() for _ in range(size)]
            net = A.HydraNetwork(ctx, rng(), ident, members, len(sources), net_no)
            sources.append(net)
            for acct in members:
                rows.append((acct, "hydra_member", "harvester", False, net.attack_start, net.network_id))

    labels = [AccountLabel(acct, arch, lab, heavy,
                           None if start is None else rfc3339(start + time_shift), net)
              for acct, arch, lab, heavy, start, net in rows]
    labels.sort(key=lambda a: a.account_id)
    return labels, sources


def accounts(scenario: Scenario) -> list[AccountLabel]:
    """Ground-truth labels of every simulated account, sorted by account id."""
    return build(scenario)[0]


def _geometric(r, p: float) -> float:
    """Number of trials until the next success (>= 1); inf when p == 0."""
    if p <= 0.0:
        return math.inf
    return int(math.log(1.0 - r()) / math.log(1.0 - p)) + 1


def stream(scenario: Scenario, time_shift: float = 0.0) -> Iterator[tuple[float, str, bytes, int]]:
    """Yield ``(event_time, account_id, raw_bytes, kind)``; kind is VALID, DUPLICATE or INVALID.

    ``time_shift`` is added to every emitted timestamp (and to ``event_time``);
    the Kafka writer uses it in paced mode so the stream looks live.
    """
    _, sources = build(scenario)
    end = scenario.end
    heap = []
    for i, s in enumerate(sources):
        g = s.events()
        first = next(g, None)
        if first is not None and first[0] <= end:
            heap.append((first[0], i, first[1], g))
    heapq.heapify(heap)

    mrng = Random(f"merge-{scenario.seed}")
    r = mrng.random
    dumps = orjson.dumps
    heappop, heapreplace = heapq.heappop, heapq.heapreplace
    gmtime, strftime = time.gmtime, time.strftime
    last_sec = -1
    prefix = ""
    dup_p, inv_p = scenario.duplicate_rate, scenario.invalid_rate
    next_dup = _geometric(r, dup_p)
    next_inv = _geometric(r, inv_p)
    next_gw = _geometric(r, GATEWAY_FIELD_RATE)
    n_inv = 0
    while heap:
        t, i, ev, g = heap[0]
        nxt = next(g, None)
        if nxt is None or nxt[0] > end:
            heappop(heap)
        elif nxt[0] >= t:
            heapreplace(heap, (nxt[0], i, nxt[1], g))
        else:  # a source must never go back in time; clamp defensively
            heapreplace(heap, (t, i, nxt[1], g))
        ms = int((t + time_shift) * 1000.0)
        ts = ms / 1000.0
        if r() < FLOAT_TIMESTAMP_SHARE:
            ev["timestamp"] = ts
        else:
            sec = ms // 1000
            if sec != last_sec:
                prefix = strftime("%Y-%m-%dT%H:%M:%S", gmtime(sec))
                last_sec = sec
            ev["timestamp"] = f"{prefix}.{ms - sec * 1000:03d}Z"
        next_gw -= 1
        if next_gw <= 0:
            ev["gateway_node"] = f"gw-{int(r() * 12)}"
            next_gw = _geometric(r, GATEWAY_FIELD_RATE)
        acct = ev["account_id"]
        b = dumps(ev)
        yield ts, acct, b, VALID
        next_dup -= 1
        if next_dup <= 0:
            yield ts, acct, b, DUPLICATE
            next_dup = _geometric(r, dup_p)
        next_inv -= 1
        if next_inv <= 0:
            n_inv += 1
            bad, bad_acct = malformed(r, b, n_inv)
            yield ts, bad_acct, bad, INVALID
            next_inv = _geometric(r, inv_p)


def generate(scenario: Scenario) -> Iterator[tuple[float, str, bytes]]:
    """Yield ``(event_time, account_id, raw_json_bytes)`` in non-decreasing event time."""
    for ts, acct, b, _kind in stream(scenario):
        yield ts, acct, b


# --------------------------------------------------------------------------
# Malformed lines
# --------------------------------------------------------------------------

_NOT_JSON = (b"GET /v1/chat/completions HTTP/1.1", b"<html><body>502 Bad Gateway</body></html>",
             b"request_id=r-1 account_id=acct-1 status=200", b"\x00\x01\x02\x03", b"",
             b"{'request_id': 'r-1', 'account_id': 'acct-1'}")
_NON_OBJECT = (b"[]", b"null", b"42", b'"event"', b"true")
_BAD_TIMESTAMPS = ("2026-13-45T25:61:00Z", "yesterday", "28/11/2026 09:41", "",
                   "2026-11-28T09:41:03.123", "2026-11-28 09:41:03", "Sat, 28 Nov 2026 09:41:03 GMT")


def malformed(r, good: bytes, n: int) -> tuple[bytes, str]:
    """One malformed raw line derived from a valid event ``good``; returns (bytes, account_id)."""
    d = orjson.loads(good)
    d["request_id"] = f"bad-{n:08x}"
    acct = d["account_id"]
    kind = int(r() * 11)
    if kind == 0:  # truncated JSON
        return good[: max(1, int((len(good) - 1) * r()))], acct
    if kind == 1:  # not JSON at all
        return _NOT_JSON[int(r() * len(_NOT_JSON))], ""
    if kind == 2:  # missing required field
        field = REQUIRED[int(r() * len(REQUIRED))]
        del d[field]
        return orjson.dumps(d), "" if field == "account_id" else acct
    if kind == 3:  # required field with the wrong type
        c = int(r() * 6)
        if c == 0:
            d["status_code"] = str(d["status_code"])
        elif c == 1:
            d["account_id"] = 4242
            acct = ""
        elif c == 2:
            d["model"] = None
        elif c == 3:
            d["timestamp"] = True
        elif c == 4:
            d["request_id"] = 123456
        else:
            d["status_code"] = True
        return orjson.dumps(d), acct
    if kind == 4:  # unparseable timestamp
        d["timestamp"] = _BAD_TIMESTAMPS[int(r() * len(_BAD_TIMESTAMPS))]
        return orjson.dumps(d), acct
    if kind == 5:  # out of range
        c = int(r() * 5)
        if c == 0:
            d["status_code"] = (42, 700, 0, -200)[int(r() * 4)]
        elif c == 1:
            d["request_id"] = ""
        elif c == 2:
            d["request_id"] = "r" * 200
        elif c == 3:
            d["account_id"] = ""
            acct = ""
        else:
            d["account_id"] = "a" * 129
            acct = ""
        return orjson.dumps(d), acct
    if kind == 6:  # valid JSON, not an object
        return _NON_OBJECT[int(r() * len(_NON_OBJECT))], ""
    if kind == 7:  # invalid UTF-8 inside a string
        return good.replace(b'"model":"', b'"model":"\xff\xfe', 1), acct
    if kind == 8:  # optional field with wrong type / out of range
        c = int(r() * 5)
        if c == 0:
            d["latency_ms"] = -5
        elif c == 1:
            d["usage"] = {"input_tokens": "many", "output_tokens": 10}
        elif c == 2:
            d["params"] = {"n": 0}
        elif c == 3:
            d["prompt"] = {"messages_count": 0}
        else:
            d["params"] = {"logprobs": "yes"}
        return orjson.dumps(d), acct
    if kind == 9:  # two objects glued on one line
        return good + good, acct
    # trailing garbage
    return good + b"}", acct
