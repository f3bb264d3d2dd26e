"""Linking accounts that act together: harvesting networks of quiet accounts.

A network spreads its traffic over many accounts so that none looks heavy, but
its accounts share things a single operator cannot easily vary: the prompt
template family, the proxy network's address prefixes, the system prompt.
Each account, when scored, publishes *fingerprints* of those
(:class:`Fingerprint`); a :class:`FingerprintIndex` per fingerprint value
collects the accounts that showed it recently. When enough accounts with
harvesting content share one fingerprint, they form a cluster, and every
member receives :class:`Evidence` (cluster id, size, strength, related
accounts) that the account's own score takes in.

In the live system fingerprints travel on a topic keyed by fingerprint (a
repartition), one index per fingerprint value lives in a changelog-backed
table, and evidence returns on a topic keyed by account. Replay runs the same
objects in-process.

>>> idx = FingerprintIndex()  # clusters form at 5 accounts by default
>>> sent = [idx.observe(Fingerprint(f"acct-{i}", "template", 42, 1_800_000_000.0 + i, 0.8))
...         for i in range(6)]
>>> [len(s) for s in sent]  # the fifth member forms the cluster: all five told; then the sixth
[0, 0, 0, 0, 5, 1]
>>> e = sent[5][0]
>>> e.account_id, e.size, e.related[:3]
('acct-5', 6, ('acct-0', 'acct-1', 'acct-2'))
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from statistics import median
from typing import Any

__all__ = ["Fingerprint", "Evidence", "FingerprintIndex", "CoordinationConfig", "cluster_id_for"]

INDEX_VERSION = 2


@dataclass(frozen=True)
class CoordinationConfig:
    """When fingerprint sharing counts as coordination."""

    min_members: int = 5  # distinct accounts sharing the fingerprint
    min_content: float = 0.25  # median content evidence of the members
    window_seconds: float = 86400.0  # members seen within this much event time
    max_members: int = 64  # accounts remembered per fingerprint (oldest forgotten)
    related_shown: int = 10  # related accounts named in the evidence
    resend_seconds: float = 3600.0  # evidence re-sent to a member at most this often ...
    resend_strength: float = 0.1  # ... unless the cluster has grown this much stronger since
    # how strongly each kind of fingerprint indicates one operator
    kind_weight: dict[str, float] = field(
        default_factory=lambda: {"template": 1.0, "system": 1.0, "prefix": 0.7, "cadence": 0.5}
    )


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """One account showed one fingerprint at event time ``ts``."""

    account_id: str
    kind: str  # "template" | "prefix" | "system" | "cadence"
    value: int  # 32-bit fingerprint
    ts: float
    content: float  # the account's own content evidence at that time, 0..1

    @property
    def key(self) -> bytes:
        """Partitioning key of the fingerprint (kind and value)."""
        return f"{self.kind}:{self.value:08x}".encode()

    def to_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "kind": self.kind, "value": self.value, "ts": self.ts,
                "content": self.content}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Fingerprint:
        return cls(str(d["account_id"]), str(d["kind"]), int(d["value"]), float(d["ts"]), float(d["content"]))


@dataclass(frozen=True, slots=True)
class Evidence:
    """Cluster evidence for one account."""

    account_id: str
    cluster_id: int
    kind: str
    size: int
    strength: float  # 0..1
    related: tuple[str, ...]
    ts: float
    #: event time of the account's own newest fingerprint in the index (-inf: not known, a record from
    #: before this field)
    member_ts: float = float("-inf")

    def to_dict(self) -> dict[str, Any]:
        d = {"account_id": self.account_id, "cluster_id": self.cluster_id, "kind": self.kind,
             "size": self.size, "strength": self.strength, "related": list(self.related), "ts": self.ts}
        if self.member_ts > float("-inf"):
            d["member_ts"] = self.member_ts
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Evidence:
        member_ts = d.get("member_ts")
        return cls(str(d["account_id"]), int(d["cluster_id"]), str(d["kind"]), int(d["size"]),
                   float(d["strength"]), tuple(d["related"]), float(d["ts"]),
                   float("-inf") if member_ts is None else float(member_ts))

    def ahead_of(self, fp_ts: float) -> bool:
        """Whether an account state whose newest fingerprint has event time ``fp_ts`` (``AccountState.fp_ts``,
        NaN before its first) has not yet reached the fingerprint this evidence answers.

        Never so while the account is processed in order: the state publishes the fingerprint before any
        evidence about it can exist. After a crash it is: the state comes back from its last changelogged
        write, and the evidence, already on its topic, can be read before the events that published the
        fingerprint are read again. Applied then, the link would land on an older state than in an
        uninterrupted run (and, with no alert open yet, raise no ``linked`` alert at all).

        >>> e = Evidence("a", 1, "template", 5, 0.8, (), 1_800_000_100.0, member_ts=1_800_000_050.0)
        >>> e.ahead_of(1_800_000_000.0), e.ahead_of(1_800_000_050.0), e.ahead_of(float("nan"))
        (True, False, True)
        >>> Evidence("a", 1, "template", 5, 0.8, (), 1_800_000_100.0).ahead_of(float("nan"))  # not known
        False
        """
        return self.member_ts > float("-inf") and not fp_ts >= self.member_ts


def cluster_id_for(kind: str, value: int) -> int:
    """Stable non-zero 64-bit id of the cluster around one fingerprint."""
    import hashlib

    h = hashlib.blake2b(f"{kind}:{value}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") or 1


class FingerprintIndex:
    """The accounts that showed one fingerprint value recently (bounded).

    ``observe`` returns the evidence to send: to every member when the cluster
    forms, then to members that join, that have not been told for
    ``resend_seconds``, or that were told of a clearly weaker cluster.
    """

    __slots__ = ("config", "members")

    def __init__(self, config: CoordinationConfig | None = None):
        self.config = config or CoordinationConfig()
        # account -> [last_ts, content, last_told_ts, last_told_strength]
        self.members: dict[str, list[float]] = {}

    def observe(self, fp: Fingerprint) -> list[Evidence]:
        cfg = self.config
        m = self.members.get(fp.account_id)
        if m is None:
            m = self.members[fp.account_id] = [fp.ts, fp.content, float("-inf"), 0.0]
        else:
            m[0] = max(m[0], fp.ts)
            m[1] = fp.content
        horizon = fp.ts - cfg.window_seconds
        for acct in [a for a, v in self.members.items() if v[0] < horizon]:
            del self.members[acct]
        while len(self.members) > cfg.max_members:
            oldest = min(self.members, key=lambda a: (self.members[a][0], a))
            del self.members[oldest]
        size = len(self.members)
        if size < cfg.min_members:
            return []
        content = median(v[1] for v in self.members.values())
        if content < cfg.min_content:
            return []
        weight = cfg.kind_weight.get(fp.kind, 0.5)
        # strength grows with the number of members and their content evidence
        strength = round(weight * min(1.0, content / 0.6) * min(1.0, size / (2.0 * cfg.min_members)), 4)
        if strength <= 0.0:
            return []
        cid = cluster_id_for(fp.kind, fp.value)
        ranked = sorted(self.members, key=lambda a: (-self.members[a][1], a))
        out = []
        for acct in sorted(self.members):
            v = self.members[acct]
            if fp.ts - v[2] < cfg.resend_seconds and strength - v[3] < cfg.resend_strength:
                continue
            v[2] = fp.ts
            v[3] = strength
            related = tuple(a for a in ranked if a != acct)[: cfg.related_shown]
            out.append(Evidence(acct, cid, fp.kind, size, strength, related, fp.ts, v[0]))
        return out

    # -- serialisation (one table entry per fingerprint) -------------------------

    def to_bytes(self) -> bytes:
        parts = [struct.pack("<BH", INDEX_VERSION, len(self.members))]
        for acct, (ts, content, told, told_strength) in sorted(self.members.items()):
            a = acct.encode("utf-8", "surrogatepass")
            parts.append(struct.pack("<H", len(a)) + a + struct.pack("<dddd", ts, content, told, told_strength))
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes, config: CoordinationConfig | None = None) -> FingerprintIndex:
        idx = cls(config)
        if not data or data[0] != INDEX_VERSION:
            return idx  # unknown version: start afresh
        try:
            (count,) = struct.unpack_from("<H", data, 1)
            off = 3
            for _ in range(count):
                (n,) = struct.unpack_from("<H", data, off)
                off += 2
                acct = data[off : off + n].decode("utf-8", "surrogatepass")
                off += n
                ts, content, told, told_strength = struct.unpack_from("<dddd", data, off)
                off += 32
                idx.members[acct] = [ts, content, told, told_strength]
        except (struct.error, UnicodeDecodeError):
            return cls(config)
        return idx
