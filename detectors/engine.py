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

Population-level state — when each model was first used, the online models,
the population baselines — lives in a :class:`PartitionContext`, one per
Kafka partition (replay emulates the partitioning, see
:func:`partition_for`), so a worker and replay see the same population in the
same order.

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
import struct
from typing import Any

import cython

from .contract import Event, format_timestamp
from .coordination import CoordinationConfig, Evidence, Fingerprint
from .features import CLUSTER_TTL, ModelCalendar, absorb, cadence_bins, features
from .models import AnomalyModel, LabelModel, ModelVersionError, PageHinkley, PopulationStats
from .rules import SEVERITIES, Assessment, Rules
from .state import AccountState, StateVersionError

__all__ = ["Detector", "PartitionContext", "request_hash", "partition_for", "DETECTOR_VERSION"]

DETECTOR_VERSION = "distillwatch-detectors/2"

#: Fingerprints are published at most this often per account (event time).
FINGERPRINT_INTERVAL = 1800.0
#: ... and only by accounts whose content evidence reaches this.
FINGERPRINT_MIN_CONTENT = 0.15

#: Page-Hinkley parameters of the per-account change detector, run on the
#: account's content evidence at each scoring (values in 0..1).
PAGE_HINKLEY = dict(min_instances=10, delta=0.05, threshold=1.5, alpha=0.9999, mode="both")

#: Features the anomaly model does not see: counters of the account's age,
#: and evidence that is not behaviour.
MODEL_EXCLUDED = frozenset({"events", "active_hours", "behaviour_change", "cluster_strength", "cluster_size"})
_MODEL_EXCLUDED = tuple(sorted(MODEL_EXCLUDED))  # a C global when compiled (engine.pxd)


def _model_input(feats: dict) -> dict:
    """The models' input: ``feats`` without :data:`MODEL_EXCLUDED`, in the same order (a copy less those
    keys costs a fraction of a filtered copy of the others)."""
    x = feats.copy()
    for k in _MODEL_EXCLUDED:
        x.pop(k, None)
    return x


CLUSTER_KINDS = {"template": 1, "prefix": 2, "system": 3, "cadence": 4}
#: Kinds whose fresh cluster lets a young member alert at once: the same prompt
#: template or the same system prompt across accounts with harvesting content
#: is the mark of one operator.
EARLY_KINDS = frozenset({CLUSTER_KINDS["template"], CLUSTER_KINDS["system"]})
#: A young member of a prefix cluster alerts early only with strong content
#: evidence of its own and a strong cluster (strength grows with the members'
#: number and content, see detectors/coordination.py): a shared /24 also holds
#: ordinary users behind the same ISP or NAT.
EARLY_PREFIX_CONTENT = 0.8
EARLY_PREFIX_STRENGTH = 0.6

_CTX_MAGIC = b"DWC"
CONTEXT_VERSION = 2  # 2: + the count of mature scorings (version 1 is read with a count of 0)

#: Once a partition's anomaly model is warm, it and the population baselines
#: learn from every LEARN_EVERY-th mature scoring of the partition (a uniform
#: sample); the scorings in between are scored by the model only when the
#: account has content evidence, since without it the score is 0 whatever the
#: model says.
LEARN_EVERY = 4


def request_hash(request_id: str) -> int:
    """Stable non-zero 64-bit hash of a request id (the same in every process;
    0 marks an empty slot of the duplicate ring): BLAKE2b with an 8-byte digest
    of its UTF-8, read little-endian (compiled, :func:`_blake2b64` computes it)."""
    data = request_id.encode("utf-8", "surrogatepass")
    if cython.compiled:
        return _blake2b64(data) or 1
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") or 1


_MASK64 = 0xFFFFFFFFFFFFFFFF
#: BLAKE2b's initial state (RFC 7693 section 2.6).
_IV = [0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
       0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179]
#: Its message schedule: the 10 permutations, round r using permutation r mod 10 (section 2.7).
_SIGMA = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3,
    11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4,
    7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8,
    9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13,
    2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9,
    12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11,
    13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10,
    6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5,
    10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0,
]  # fmt: skip


def _blake2b64(data: bytes) -> int:
    """BLAKE2b (RFC 7693) of ``data`` with an 8-byte digest and no key, as a little-endian integer:
    ``hashlib.blake2b(data, digest_size=8)``, computed in C when compiled (an eighth of hashlib's cost
    through its object per call). tests/test_detectors.py compares it with hashlib."""
    h = [0] * 8
    for i in range(8):
        h[i] = _IV[i]
    h[0] ^= 0x01010008  # parameter block: digest length 8, no key, fanout 1, depth 1
    n = len(data)
    done = 0
    while True:
        last = n - done <= 128
        size = n - done if last else 128
        _blake2b_compress(h, data, done, size, done + size, last)
        done += size
        if last:
            return h[0]


def _blake2b_compress(h, data: bytes, at: int, size: int, counter: int, last: bool) -> None:
    """BLAKE2b's compression F of the block ``data[at:at + size]`` (zero-padded to 128 bytes) into ``h``."""
    m = [0] * 16
    v = [0] * 16
    for i in range(16):
        w = 0
        for j in range(8):
            k = i * 8 + j
            if k < size:
                byte = data[at + k]
                w |= byte << (8 * j)
        m[i] = w
    for i in range(8):
        v[i] = h[i]
        v[i + 8] = _IV[i]
    v[12] ^= counter  # the counter's high word (v[13]) stays 0: request ids are far below 2**64 bytes
    if last:
        v[14] ^= _MASK64
    for r in range(12):
        s = (r % 10) * 16
        _g(v, 0, 4, 8, 12, m[_SIGMA[s]], m[_SIGMA[s + 1]])
        _g(v, 1, 5, 9, 13, m[_SIGMA[s + 2]], m[_SIGMA[s + 3]])
        _g(v, 2, 6, 10, 14, m[_SIGMA[s + 4]], m[_SIGMA[s + 5]])
        _g(v, 3, 7, 11, 15, m[_SIGMA[s + 6]], m[_SIGMA[s + 7]])
        _g(v, 0, 5, 10, 15, m[_SIGMA[s + 8]], m[_SIGMA[s + 9]])
        _g(v, 1, 6, 11, 12, m[_SIGMA[s + 10]], m[_SIGMA[s + 11]])
        _g(v, 2, 7, 8, 13, m[_SIGMA[s + 12]], m[_SIGMA[s + 13]])
        _g(v, 3, 4, 9, 14, m[_SIGMA[s + 14]], m[_SIGMA[s + 15]])
    for i in range(8):
        h[i] ^= v[i] ^ v[i + 8]


def _g(v, a: int, b: int, c: int, d: int, x: int, y: int) -> None:
    """BLAKE2b's mixing function G (RFC 7693 section 3.1), on 64-bit words."""
    v[a] = _u64(v[a] + v[b] + x)
    t = v[d] ^ v[a]
    v[d] = _u64((t >> 32) | (t << 32))
    v[c] = _u64(v[c] + v[d])
    t = v[b] ^ v[c]
    v[b] = _u64((t >> 24) | (t << 40))
    v[a] = _u64(v[a] + v[b] + y)
    t = v[d] ^ v[a]
    v[d] = _u64((t >> 16) | (t << 48))
    v[c] = _u64(v[c] + v[d])
    t = v[b] ^ v[c]
    v[b] = _u64((t >> 63) | (t << 1))


def _u64(n: int) -> int:
    """``n`` modulo 2**64. Compiled, C's unsigned 64-bit arithmetic has wrapped it already: masking with the
    module's ``_MASK64``, a C global there, cost a load and an AND per operation (a third of the compression's
    time)."""
    return n if cython.compiled else n & _MASK64


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as in the Java
    client, kafka-python and aiokafka) assigns to ``key``: replay uses it to
    give each emulated partition the accounts a worker's partition would see."""
    data = bytearray(key)
    length = len(data)
    seed, m, r = 0x9747B28C, 0x5BD1E995, 24
    h = (seed ^ length) & 0xFFFFFFFF
    n4 = length // 4
    for i in range(n4):
        k = data[4 * i] | data[4 * i + 1] << 8 | data[4 * i + 2] << 16 | data[4 * i + 3] << 24
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rest = length & 3
    if rest == 3:
        h ^= data[4 * n4 + 2] << 16
    if rest >= 2:
        h ^= data[4 * n4 + 1] << 8
    if rest >= 1:
        h ^= data[4 * n4]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions


def _digest(*parts: object, size: int) -> str:
    h = hashlib.blake2b(digest_size=size)
    for p in parts:
        h.update(str(p).encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


class PartitionContext:
    """Population-level state of one partition: when each model was first used,
    the online anomaly model, the model trained on analyst labels, and the
    population baselines of every feature a signal of the rules reads (what
    alerts and ``explain`` set a reason's value against). See :mod:`detectors.models`.

    Serialised as one versioned blob (:meth:`to_bytes`); a part that cannot be
    read (another schema, another river version) starts afresh on its own.
    """

    __slots__ = ("calendar", "anomaly", "labels", "population", "scorings")

    def __init__(self, calendar=None, anomaly=None, labels=None, population=None):
        self.calendar = calendar if calendar is not None else ModelCalendar()
        self.anomaly = anomaly if anomaly is not None else AnomalyModel()
        self.labels = labels if labels is not None else LabelModel()
        self.population = population if population is not None else PopulationStats()
        self.scorings = 0  # mature scorings since the anomaly model was warm (learning sample clock)

    def to_bytes(self) -> bytes:
        cal = self.calendar.first_seen
        parts = [_CTX_MAGIC, bytes([CONTEXT_VERSION]), struct.pack("<QI", self.scorings, len(cal))]
        parts += [struct.pack("<Id", h, t) for h, t in cal.items()]
        for model in (self.anomaly, self.labels, self.population):
            blob = model.to_bytes()
            parts.append(struct.pack("<I", len(blob)))
            parts.append(blob)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes | None) -> PartitionContext:
        """A context from stored bytes; whatever cannot be read starts afresh."""
        ctx = cls()
        if not data or data[:3] != _CTX_MAGIC or len(data) < 8 or data[3] not in (1, CONTEXT_VERSION):
            return ctx
        try:
            if data[3] == 1:
                (count,) = struct.unpack_from("<I", data, 4)
                off = 8
            else:
                ctx.scorings, count = struct.unpack_from("<QI", data, 4)
                off = 16
            for _ in range(count):
                h, t = struct.unpack_from("<Id", data, off)
                ctx.calendar.first_seen[h] = t
                off += 12
            for attr, kind in (("anomaly", AnomalyModel), ("labels", LabelModel), ("population", PopulationStats)):
                (n,) = struct.unpack_from("<I", data, off)
                off += 4
                try:
                    setattr(ctx, attr, kind.from_bytes(data[off : off + n]))
                except ModelVersionError:
                    pass  # keep the fresh one
                off += n
        except struct.error:
            return cls()
        return ctx


class Detector:
    """Per-account detection: de-duplicate, update, score, alert.

    Parameters
    ----------
    rules
        Signals, scoring schedule and policy; :meth:`Rules.default` when ``None``.
    coordination
        When fingerprint sharing counts as coordination.
    """

    def __init__(self, rules: Rules | None = None, coordination: CoordinationConfig | None = None):
        self.rules = rules if rules is not None else Rules.default()
        self.coordination = coordination if coordination is not None else CoordinationConfig()
        self._page_hinkley = PageHinkley(**PAGE_HINKLEY)
        rules = self.rules
        # the population baselines are only ever read for a signal's feature (a reason's): only those learn
        self._baseline_features = tuple(dict.fromkeys(sig.feature for sig in rules.signals))
        self._min_events, self._early_events = rules.min_events, rules.early_events
        self._interval_events, self._interval_seconds = rules.interval_events, rules.interval_seconds

    # -- state ---------------------------------------------------------------

    def new_state(self, account_id: str) -> AccountState:
        return AccountState(account_id)

    def new_context(self) -> PartitionContext:
        return PartitionContext()

    def load_context(self, data: bytes | None) -> PartitionContext:
        return PartitionContext.from_bytes(data)

    def learn_label(self, state: AccountState, abusive: bool, ctx: PartitionContext, now: float | None = None) -> None:
        """An analyst's verdict on the account, joined with its latest features,
        teaches the partition's label model."""
        x = _model_input(features(state, now=now))
        ctx.labels.learn_one(x, abusive)

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

    def process(
        self,
        state: AccountState,
        ev: Event,
        alerts: list[dict[str, Any]],
        ctx: PartitionContext | None = None,
        fingerprints: list[Fingerprint] | None = None,
    ) -> bool:
        """Fold ``ev`` into ``state``; append any alerts to ``alerts`` and any
        coordination fingerprints to ``fingerprints``.

        Returns False when ``ev`` is a duplicate delivery (its request id was
        seen recently for this account); the state is then unchanged.
        """
        rh = request_hash(ev.request_id)
        if state.dedup_seen(rh):
            return False
        absorb(state, ev, ctx.calendar if ctx is not None else None, rh >> 7)
        if state.n < self._early_events:
            return True
        ts = ev.ts
        if state.n - state.n_scored_at >= self._interval_events or not (
            ts - state.last_scored_ts < self._interval_seconds
        ):
            self._score(state, ts, ev.request_id, alerts, ctx, fingerprints)
        return True

    def expire(
        self, state: AccountState, now: float, alerts: list[dict[str, Any]], ctx: PartitionContext | None = None
    ) -> None:
        """The account has been idle long enough to be forgotten (the caller
        deletes its state). An open episode is resolved first, so whoever
        tracks open episodes (Alertmanager, rate-limit actions) sees it end."""
        if state.ep_severity:
            feats, a = self.assess(state, state.last_ts, ctx)
            alerts.append(self._alert(state, max(now, state.last_ts), None, "resolved", a, feats, ctx, None))
            state.ep_severity = 0

    def apply_evidence(
        self,
        state: AccountState,
        evidence: Evidence,
        alerts: list[dict[str, Any]],
        ctx: PartitionContext | None = None,
    ) -> None:
        """Take in cluster evidence for the account and re-score it."""
        fresh = bool(state.cluster_id) and evidence.ts - state.cluster_ts < CLUSTER_TTL
        if fresh and evidence.cluster_id != state.cluster_id and evidence.strength <= state.cluster_strength:
            return  # already linked to a stronger cluster
        new_link = not fresh
        state.cluster_id = evidence.cluster_id
        state.cluster_size = min(evidence.size, 65535)
        state.cluster_strength = evidence.strength
        state.cluster_ts = evidence.ts if not fresh else max(evidence.ts, state.cluster_ts)
        state.cluster_kind = CLUSTER_KINDS.get(evidence.kind, 0)
        if not self._may_alert(state, evidence.ts):
            return
        self._score(state, max(evidence.ts, state.last_ts), None, alerts, ctx, None, evidence, new_link)

    # -- scoring and policy ----------------------------------------------------

    def assess(
        self, state: AccountState, now: float, ctx: PartitionContext | None, learn: bool = False
    ) -> tuple[dict[str, float], Assessment]:
        """Features, model outputs and the rules' verdict for the account.

        With ``learn``, the anomaly model scores the account *then* learns it
        (score before learn; it keeps anomalies out of its own baseline) and the
        population baselines take the account in — every time while the model
        warms up, then for every :data:`LEARN_EVERY`-th such call of the
        partition. Otherwise the model scores the account only when it has
        content evidence (``anomaly_evidence`` is 0 when it was not asked).
        """
        feats = features(state, now=now)
        if ctx is None:
            return feats, self.rules.score(feats)
        x = _model_input(feats)
        p = ctx.labels.predict_proba_one(x)
        feats["label_probability"] = p if p is not None else 0.0
        model = ctx.anomaly
        if learn and model.is_warm:
            ctx.scorings += 1
            learn = ctx.scorings % LEARN_EVERY == 0
        if learn:
            raw = model.update(x)
            feats["anomaly_evidence"] = model.anomaly_evidence(raw) if model.is_warm else 0.0
            ctx.population.update(feats, self._baseline_features)
            return feats, self.rules.score(feats)
        feats["anomaly_evidence"] = 0.0
        a = self.rules.score(feats)
        if a.content == 0.0 or not model.is_warm:
            return feats, a  # the model's evidence could not change the score
        feats["anomaly_evidence"] = model.anomaly_evidence(model.score_one(x))
        return feats, self.rules.score(feats)

    def _score(
        self,
        state: AccountState,
        ts: float,
        request_id: str | None,
        alerts: list[dict[str, Any]],
        ctx: PartitionContext | None,
        fingerprints: list[Fingerprint] | None,
        evidence: Evidence | None = None,
        new_cluster: bool = False,
    ) -> None:
        rules = self.rules
        scheduled = evidence is None
        mature = state.n >= rules.min_events
        # young accounts' noisy vectors are kept out of the models and baselines
        feats, a = self.assess(state, ts, ctx, learn=scheduled and mature)
        if scheduled:
            if mature and self._change_detected(state, a.content):
                state.change_ts = ts
                feats, a = self.assess(state, ts, ctx)
            state.n_scored_at = state.n
            state.last_scored_ts = ts if math.isnan(state.last_scored_ts) else max(ts, state.last_scored_ts)
            state.last_content = a.content
            if fingerprints is not None:
                self._fingerprints(state, ts, a.content, fingerprints)
            if not self._may_alert(state, ts):
                return
        score = a.score
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
            alerts.append(self._alert(state, ts, request_id, "opened", a, feats, ctx, evidence))
            return
        state.ep_peak = max(state.ep_peak, score)
        if score >= rules.close_below:
            state.ep_hot_ts = max(ts, state.ep_hot_ts)
        if level > state.ep_severity:
            state.ep_severity = level
            alerts.append(self._alert(state, ts, request_id, "escalated", a, feats, ctx, evidence))
        elif score < rules.close_below and ts - state.ep_hot_ts >= rules.quiet_seconds:
            alerts.append(self._alert(state, ts, request_id, "resolved", a, feats, ctx, evidence))
            state.ep_severity = 0
            state.ep_seq = 0
            state.ep_opened_ts = math.nan
            state.ep_hot_ts = math.nan
            state.ep_peak = 0.0
        elif evidence is not None and new_cluster:
            alerts.append(self._alert(state, ts, request_id, "linked", a, feats, ctx, evidence))

    def _may_alert(self, state: AccountState, ts: float) -> bool:
        """Accounts alert from ``min_events``; members of a fresh cluster from
        ``early_events``, so a network of quiet accounts is caught early: at
        once for a shared prompt template or system prompt (strong evidence of
        one operator; see :data:`EARLY_KINDS`), never for a shared cadence
        alone, and for a shared network prefix (weaker: NAT, clouds) only when the
        account's own content evidence and the cluster are both strong."""
        if state.n >= self._min_events:
            return True
        if state.n < self._early_events or not ts - state.cluster_ts < CLUSTER_TTL:
            return False
        kind = state.cluster_kind
        return kind in EARLY_KINDS or (
            kind == CLUSTER_KINDS["prefix"]
            and state.last_content >= EARLY_PREFIX_CONTENT
            and state.cluster_strength >= EARLY_PREFIX_STRENGTH
        )

    def _change_detected(self, state: AccountState, x: float) -> bool:
        """Page-Hinkley test (either direction) on the account's content evidence."""
        ph = self._page_hinkley  # the parameters' test, loaded with this account's six numbers
        ph.load((state.ph_n, state.ph_mean, state.ph_sum_up, state.ph_sum_down, state.ph_min_up, state.ph_max_down))
        changed = ph.update(x)
        (state.ph_n, state.ph_mean, state.ph_sum_up, state.ph_sum_down, state.ph_min_up, state.ph_max_down) = (
            ph.to_tuple()
        )
        return changed

    def _fingerprints(self, state: AccountState, ts: float, content: float, out: list[Fingerprint]) -> None:
        if content < FINGERPRINT_MIN_CONTENT or ts - state.fp_ts < FINGERPRINT_INTERVAL:
            return
        state.fp_ts = ts
        acct = state.account_id
        cnts = state.tpl_cnt
        total = sum(cnts)
        if total >= 2.5:
            top = max(range(len(cnts)), key=cnts.__getitem__)
            if cnts[top] >= 1.9 and cnts[top] / total >= 0.2:  # a template actually repeated
                out.append(Fingerprint(acct, "template", state.tpl_sig[top], ts, content))
        for h in list(state.prefixes)[:4]:
            if h:
                out.append(Fingerprint(acct, "prefix", h, ts, content))
        if state.system_sig:
            out.append(Fingerprint(acct, "system", state.system_sig, ts, content))
        bins = cadence_bins(state)
        if bins is not None:
            for b in bins:
                out.append(Fingerprint(acct, "cadence", b, ts, content))

    def _alert(
        self,
        state: AccountState,
        ts: float,
        request_id: str | None,
        status: str,
        a: Assessment,
        feats: dict[str, float],
        ctx: PartitionContext | None,
        evidence: Evidence | None,
    ) -> dict[str, Any]:
        state.ep_seq += 1
        opened_ms = int(round(state.ep_opened_ts * 1000))
        reasons = []
        population = ctx.population if ctx is not None else None
        for r in a.reasons[: self.rules.top_reasons]:
            d = r.to_dict()
            if population is not None:
                d["baseline"] = population.baseline(r.feature)
            reasons.append(d)
        cluster = None
        if evidence is not None:
            cluster = {
                "cluster_id": f"{evidence.cluster_id:016x}",
                "kind": evidence.kind,
                "size": evidence.size,
                "strength": evidence.strength,
                "related_accounts": list(evidence.related),
            }
        elif state.cluster_id and feats.get("cluster_strength", 0.0) > 0.0:
            cluster = {"cluster_id": f"{state.cluster_id:016x}", "size": state.cluster_size,
                       "strength": state.cluster_strength}
        return {
            "alert_id": _digest(state.account_id, opened_ms, state.ep_seq, status, size=16),
            "account_id": state.account_id,
            "episode_id": _digest(state.account_id, opened_ms, size=8),
            "status": status,
            "severity": SEVERITIES[state.ep_severity],
            "score": round(a.score, 4),
            "content": round(a.content, 4),
            "pattern": round(a.pattern, 4),
            "detected_at": format_timestamp(ts),
            "episode_opened_at": format_timestamp(state.ep_opened_ts),
            "request_id": request_id,
            "cluster": cluster,
            "reasons": reasons,
            "features": {k: round(v, 4) for k, v in feats.items()},
            "detector": DETECTOR_VERSION,
        }
