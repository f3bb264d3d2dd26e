"""Account archetypes: who sends what, how often, and why.

Each archetype is a small class whose ``events()`` generator yields
``(t, event_dict)`` in non-decreasing event time ``t`` (Unix seconds).  The
event dict follows contract v1 (``shared/spec/api-request-v1.md``) except that
``timestamp`` is left ``None``: the merger in :mod:`simulator.generate` fills it
(RFC 3339 or Unix float) once events are in global time order.  All randomness
comes from the ``random.Random`` handed to the constructor.

Rates per account at ``scale=1`` over 24 simulated hours
---------------------------------------------------------

=====================  ========  ====================  =========================================
archetype              accounts  events/account/day    timing / rationale
=====================  ========  ====================  =========================================
chat_app (benign)      165       150-12,000 (lognormal  Poisson whose rate follows a consumer
                                 median 2,200)          diurnal curve in the app's time zone
                                                        (night ~10% of peak) times a lognormal
                                                        burst factor per 10 minutes.  Consumer
                                                        apps are numerous and mostly mid-sized.
rag_app (benign)       75        200-9,000 completions  Same diurnal Poisson; ~half the
                                 (median 1,600) + ~50%  completions are preceded by an
                                 embeddings calls       ``embeddings`` call (query embedding).
coding_agent (heavy)   20        3,000-14,000           Agent sessions (5-400 steps, one every
                                                        ~8 s) started during working hours by
                                                        several developers; sessions overlap.
batch_job (heavy)      10        45,000-90,000          Hourly, 4-hourly or nightly bursts at
                                                        15-60 req/s with near-constant spacing:
                                                        the biggest accounts, idle in between.
eval_runner (heavy)    10        30,000-60,000          3-6 benchmark runs a day at 8-30 req/s,
                                                        sometimes sweeping 2-3 models.
reasoning_harvester    3         15,000-28,000          Machine-regular period (+-15% jitter),
                                                        24/7, short pauses; high, but below the
                                                        heavy benign accounts.
logprob_harvester      2         6,000-12,000           Temperature sweeps (4 requests per
                                                        prompt) on a regular period.
template_sweeper       2         4,000-8,000            Fixed period +-3%: moderate volume.
hydra_member           2 nets x  50-110                 The network fires a round every 5-12 min;
                       20-26                            members take turns (round robin), so each
                                                        member sends only 2-5 requests per hour:
                                                        the quietest accounts in the data set.
low_and_slow           2         400-1,200              Chat-like diurnal Poisson at the rate of
                                                        a small consumer app.
compromised_key        2         chat traffic 1,000-    Normal chat_app traffic all day plus,
                                 5,000 + 8,000-25,000   from the takeover (40-60% into the run)
                                 harvesting in a 3-8 h  for 3-8 h, ~1 req/s of machine-timed
                                 burst                  harvesting from new keys and IPs.
=====================  ========  ====================  =========================================

This gives ~340 accounts (~84% benign: hydra networks need >= 20 members each)
and ~2 million events per simulated day.  ``Scenario.scale`` multiplies the
number of accounts of every archetype (at least one each; a hydra network keeps
at least 3 members), never the per-account rates.

Conventions
-----------
* ``prompt.messages_count`` counts user/assistant/tool messages, not the system
  prompt (which is reported as ``prompt.system_sha256``): single-turn is 1.
* ``usage.output_tokens`` counts visible output; ``usage.reasoning_tokens``
  (hidden reasoning) is reported only for ``frontier-large-2``.
* 429 and 500 responses carry no ``usage`` and no ``finish_reason``.
* All IP addresses are in documentation ranges: 192.0.2.0/24, 198.51.100.0/24,
  203.0.113.0/24 and 2001:db8::/32.
* The simulated day is not a weekday/weekend aware calendar.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from random import Random

from . import text as T

Event = dict
Stream = Iterator[tuple[float, Event]]

# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------

LARGE = "frontier-large"
SMALL = "frontier-small"
NEW = "frontier-large-2"
EMBED = "frontier-embed"
MODEL_CAP = {LARGE: 8192, SMALL: 4096, NEW: 16384, EMBED: 0}
# milliseconds per generated token, base time-to-first-token (ms)
MS_PER_TOKEN = {LARGE: 14.0, SMALL: 6.0, NEW: 9.0, EMBED: 0.0}
TTFT_MS = {LARGE: 450.0, SMALL: 180.0, NEW: 650.0, EMBED: 25.0}
RELEASE_FRACTION = 0.4  # frontier-large-2 first appears 40% into the run
P500 = 0.0012
P_FILTER = 0.0004

# --------------------------------------------------------------------------
# Identities
# --------------------------------------------------------------------------

BENIGN_UA = (
    "openai-python/1.54.3", "OpenAI/Python 1.51.0", "openai-node/4.67.1", "anthropic-sdk-python/0.40.0",
    "langchain-core/0.3.21", "llama-index/0.11.23", "python-httpx/0.27.2", "axios/1.7.7",
    "okhttp/4.12.0", "Go-http-client/2.0", "Java-http-client/21.0.2", "ruby-openai/7.3.1",
    "python-requests/2.32.3",
)
BATCH_UA = ("airflow-llm-operator/1.4.2", "dbt-llm/0.3.0 python-httpx/0.27.2", "openai-python/1.54.3",
            "spark-llm-udf/2.1.0", "python-requests/2.31.0")
CODING_UA = ("codeagent-cli/2.0.14", "ide-assistant/0.43.6", "devbot/3.2.0", "repo-pilot/1.8.1",
             "terminal-coder/0.46.0")
EVAL_UA = ("lm-eval-harness/0.4.5", "inspect-ai/0.3.52", "openai-python/1.54.3", "evalkit/2.1.0",
           "python-httpx/0.27.2")
HARVEST_UA = ("python-requests/2.32.3", "aiohttp/3.10.10", "python-httpx/0.27.0", "openai-python/1.35.13",
              "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36", "okhttp/4.9.0",
              "openai-node/4.52.0", "Go-http-client/1.1")
ENDPOINTS = ("chat.completions", "responses", "messages")
TIMEZONES = (-8.0, -7.0, -5.0, -3.0, 0.0, 1.0, 2.0, 3.0, 5.5, 8.0, 9.0, 10.0)

# hourly weights, local time
CONSUMER_DIURNAL = (0.22, 0.14, 0.10, 0.08, 0.08, 0.11, 0.22, 0.42, 0.65, 0.80, 0.90, 0.96,
                    1.00, 0.97, 0.93, 0.92, 0.93, 0.95, 1.00, 1.00, 0.95, 0.80, 0.58, 0.38)
WORK_DIURNAL = (0.02, 0.01, 0.01, 0.01, 0.01, 0.02, 0.05, 0.25, 0.75, 1.00, 1.00, 0.95,
                0.70, 0.90, 1.00, 1.00, 0.95, 0.80, 0.45, 0.25, 0.18, 0.12, 0.07, 0.04)
_CONSUMER_MEAN = sum(CONSUMER_DIURNAL) / 24.0
_WORK_MEAN = sum(WORK_DIURNAL) / 24.0

_MUL = 0x9E3779B97F4A7C15
_M64 = (1 << 64) - 1


def request_id(src: int, ctr: int) -> str:
    """Opaque, globally unique request id: a bijective scramble of (source, counter)."""
    x = (((src << 40) | ctr) * _MUL) & _M64
    x ^= x >> 31
    return f"req_{x:016x}"


def sha256_hex(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def local_hour(t: float, tz: float) -> int:
    return int(((t + tz * 3600.0) % 86400.0) // 3600.0)


@dataclass
class Ctx:
    """Run-wide constants shared by all sources."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def release(self) -> float:
        return self.start + RELEASE_FRACTION * (self.end - self.start)


class Identity:
    """Unique identifiers and address allocation for one simulation."""

    def __init__(self, rng: Random):
        self.rng = rng
        self._seen: set[str] = set()
        self._v6: set[int] = set()

    def _unique(self, prefix: str, bits: int) -> str:
        while True:
            s = f"{prefix}{self.rng.getrandbits(bits):0{bits // 4}x}"
            if s not in self._seen:
                self._seen.add(s)
                return s

    def account_id(self) -> str:
        return self._unique("acct-", 32)

    def key_id(self) -> str:
        return self._unique("key-", 40)

    def v6_prefix(self) -> str:
        """A fresh 2001:db8:XXXX::/48 (unique within the run while they last)."""
        rng = self.rng
        for _ in range(64):
            g = rng.getrandbits(16)
            if g not in self._v6:
                break
        self._v6.add(g)
        return f"2001:db8:{g:x}"

    def v6_hosts(self, n: int, prefix: str | None = None) -> list[str]:
        p = prefix or self.v6_prefix()
        rng = self.rng
        subnet = rng.getrandbits(16)
        return [f"{p}:{subnet:x}::{rng.getrandbits(16) or 1:x}" for _ in range(n)]

    def v4_hosts(self, n: int, net: str | None = None, lo: int = 1, hi: int = 254) -> list[str]:
        rng = self.rng
        if net is None:
            u = rng.random()
            net = "192.0.2" if u < 0.6 else "198.51.100" if u < 0.8 else "203.0.113"
        return [f"{net}.{rng.randint(lo, hi)}" for _ in range(n)]

    def benign_ips(self, n: int) -> list[str]:
        if self.rng.random() < 0.75:
            return self.v6_hosts(n)
        return self.v4_hosts(n)

    def proxy_pool(self, n: int) -> list[str]:
        """Harvester egress: several /48s and the other IPv4 ranges (residential/cloud proxies)."""
        rng = self.rng
        out: list[str] = []
        prefixes = [self.v6_prefix() for _ in range(rng.randint(2, 6))]
        for i in range(n):
            if rng.random() < 0.6:
                out.extend(self.v6_hosts(1, prefixes[i % len(prefixes)]))
            else:
                out.extend(self.v4_hosts(1, rng.choice(("198.51.100", "203.0.113", "192.0.2"))))
        return out


class ModelMix:
    """Which model an account calls at time t (release chasing vs slow adoption)."""

    __slots__ = ("p_large", "switch", "pmax", "ramp")

    def __init__(self, rng: Random, ctx: Ctx, p_large: float, harvester: bool):
        self.p_large = p_large
        if harvester:
            # moves within the hour after the release, almost completely
            self.switch = ctx.release + rng.uniform(300.0, 3000.0)
            self.pmax = rng.uniform(0.82, 0.95)
            self.ramp = 600.0
        elif rng.random() < 0.35:
            self.switch = math.inf  # pinned to a model version
            self.pmax = 0.0
            self.ramp = 1.0
        else:
            self.switch = ctx.release + rng.uniform(1.0, 12.0) * 3600.0
            self.pmax = rng.uniform(0.3, 0.7)
            self.ramp = rng.uniform(24.0, 120.0) * 3600.0

    def pick(self, r: Callable[[], float], t: float) -> str:
        if r() >= self.p_large:
            return SMALL
        if t < self.switch:
            return LARGE
        p = (t - self.switch) / self.ramp
        if p > self.pmax:
            p = self.pmax
        return NEW if r() < p else LARGE


def make_event(r, rid, acct, key, user, ip, ua, endpoint, model, conv, inp, out, max_tokens,
               finish, p429, params, prompt, reasoning_ratio=0.5, extra=None) -> Event:
    """Build one contract-v1 event; decides status, usage and latency."""
    ev = {"request_id": rid, "timestamp": None, "account_id": acct}
    if key is not None:
        ev["api_key_id"] = key
    if user is not None:
        ev["user_id"] = user
    ev["client_ip"] = ip
    ev["user_agent"] = ua
    ev["endpoint"] = endpoint
    ev["model"] = model
    u = r()
    if u < p429:
        ev["status_code"] = 429
        ev["latency_ms"] = int(4 + 40 * r())
    elif u < p429 + P500:
        ev["status_code"] = 500
        ev["latency_ms"] = int(200 + 30000 * r() * r())
    else:
        ev["status_code"] = 200
        # ``out`` is the completion length: visible output plus hidden reasoning
        if max_tokens and out >= max_tokens:
            out = max_tokens
            finish = "length"
        elif u > 1.0 - P_FILTER:
            out = int(out * r())
            finish = "content_filter"
        gen = out
        if model == NEW:
            share = reasoning_ratio / (1.0 + reasoning_ratio) * (0.6 + 0.8 * r())
            reas = int(out * (share if share < 0.9 else 0.9))
            out -= reas
        else:
            reas = -1
        ev["latency_ms"] = int(TTFT_MS[model] * (0.6 + 0.8 * r()) + inp * 0.004
                               + gen * MS_PER_TOKEN[model] * (0.8 + 0.4 * r()))
        ev["finish_reason"] = finish
        if reas >= 0:
            ev["usage"] = {"input_tokens": inp, "output_tokens": out, "reasoning_tokens": reas}
        else:
            ev["usage"] = {"input_tokens": inp, "output_tokens": out}
    if conv is not None:
        ev["conversation_id"] = conv
    if params is not None:
        ev["params"] = params
    if prompt is not None:
        ev["prompt"] = prompt
    if extra:
        ev.update(extra)
    return ev


def poisson_times(rng: Random, t0: float, t1: float, rate_at: Callable[[float], float],
                  block: float = 600.0) -> Iterator[float]:
    """Non-homogeneous Poisson arrivals with a rate that is constant per ``block`` seconds."""
    expo = rng.expovariate
    t = t0
    while t < t1:
        b_end = (t // block + 1.0) * block
        if b_end > t1:
            b_end = t1
        lam = rate_at(t)
        if lam > 0.0:
            while True:
                t += expo(lam)
                if t >= b_end:
                    break
                yield t
        t = b_end


def interleave(starts: Iterator[float], factory: Callable[[float, int], Stream]) -> Stream:
    """Merge sub-streams (sessions, runs) spawned at increasing ``starts`` into time order."""
    heap: list = []
    nxt = next(starts, None)
    idx = 0
    while True:
        if heap and (nxt is None or heap[0][0] <= nxt):
            t, i, ev, g = heap[0]
            yield t, ev
            item = next(g, None)
            if item is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (item[0], i, item[1], g))
        elif nxt is not None:
            g = factory(nxt, idx)
            item = next(g, None)
            if item is not None:
                heapq.heappush(heap, (item[0], idx, item[1], g))
            idx += 1
            nxt = next(starts, None)
        else:
            return


def _lognorm_clip(rng: Random, median: float, sigma: float, lo: float, hi: float) -> float:
    v = rng.lognormvariate(math.log(median), sigma)
    return lo if v < lo else hi if v > hi else v


def _extra_fields(rng: Random) -> dict | None:
    """Unknown fields some clients/gateways add (the contract says: ignore them)."""
    u = rng.random()
    if u < 0.05:
        return {"service_tier": rng.choice(("default", "flex", "priority"))}
    if u < 0.08:
        return {"metadata": {"app_version": f"{rng.randint(1, 5)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"}}
    if u < 0.10:
        return {"region": rng.choice(("us-east-1", "eu-west-1", "ap-northeast-1"))}
    return None


# --------------------------------------------------------------------------
# Base
# --------------------------------------------------------------------------

class Source:
    """One stream of events (usually one account; a hydra network is one source)."""

    archetype = ""
    label = "benign"
    heavy = False

    def __init__(self, ctx: Ctx, rng: Random, ident: Identity, account_id: str, src: int):
        self.ctx = ctx
        self.rng = rng
        self.account_id = account_id
        self.src = src
        self.attack_start: float | None = None
        self.network_id: str | None = None
        self.zdr = rng.random() < 0.08  # zero data retention: no prompt text logged
        self.extra = _extra_fields(rng)

    def events(self) -> Stream:  # pragma: no cover - abstract
        raise NotImplementedError

    def accounts(self) -> list[str]:
        return [self.account_id]


# --------------------------------------------------------------------------
# Benign
# --------------------------------------------------------------------------

class ChatApp(Source):
    """Consumer chat app relaying many end users."""

    archetype = "chat_app"

    def __init__(self, ctx, rng, ident, account_id, src, daily: float | None = None):
        super().__init__(ctx, rng, ident, account_id, src)
        self.daily = daily if daily is not None else _lognorm_clip(rng, 2200.0, 0.9, 150.0, 12000.0)
        self.tz = rng.choice(TIMEZONES)
        u = rng.random()
        self.lang = "en" if u < 0.72 else ("es", "de", "ja", "fr")[int((u - 0.72) / 0.07) % 4]
        self.step_share = rng.uniform(0.06, 0.12)  # of first turns; follow-ups add a little
        self.keys = [ident.key_id() for _ in range(rng.randint(1, 3))]
        self.ips = ident.benign_ips(rng.randint(1, 4))
        self.ua = rng.choice(BENIGN_UA)
        self.endpoint = rng.choices(ENDPOINTS, (0.7, 0.2, 0.1))[0]
        self.temp = rng.choice((0.7, 0.7, 0.8, 0.9, 1.0, 1.0))
        self.top_p = rng.choice((None, None, 0.95, 1.0))
        self.max_tokens = rng.choice((None, 1024, 2048, 2048, 4096))
        self.stream_share = rng.choice((0.0, 0.3, 1.0, 1.0))
        self.passes_user = rng.random() < 0.75
        self.n_users = max(20, int(self.daily * rng.uniform(0.3, 2.0)))
        self.user_salt = rng.getrandbits(32)
        self.sys_shas = [sha256_hex(T.SYSTEM_PROMPTS[1].format(name=f"bot{rng.getrandbits(16)}", company=account_id))
                         for _ in range(rng.randint(1, 2))]
        self.sys_tokens = rng.randint(120, 900)
        self.out_median = rng.uniform(150.0, 350.0)
        self.models = ModelMix(rng, ctx, rng.uniform(0.15, 0.9), False)
        self.p429 = rng.uniform(0.0005, 0.004)

    def rate_at_factory(self, daily: float, diurnal=CONSUMER_DIURNAL, mean=_CONSUMER_MEAN, burst=0.5):
        rng = self.rng
        base = daily / 86400.0 / mean
        tz = self.tz
        mu = -burst * burst / 2.0

        def rate_at(t: float) -> float:
            return base * diurnal[local_hour(t, tz)] * rng.lognormvariate(mu, burst)

        return rate_at

    def events(self, t0: float | None = None, t1: float | None = None) -> Stream:
        ctx = self.ctx
        rng = self.rng
        r = rng.random
        lognorm = rng.lognormvariate
        getbits = rng.getrandbits
        acct = self.account_id
        keys, ips, ua, endpoint = self.keys, self.ips, self.ua, self.endpoint
        lang, step_share = self.lang, self.step_share
        models = self.models
        pool: list[list] = []  # [conv_id, user, msgs, last_t, sys_sha]
        ctr = 0
        src = self.src
        temp, top_p, max_tokens = self.temp, self.top_p, self.max_tokens
        stream_share = self.stream_share
        n_users, salt = self.n_users, self.user_salt
        sys_shas, sys_tokens = self.sys_shas, self.sys_tokens
        mu_out = math.log(self.out_median)
        p429, zdr, extra = self.p429, self.zdr, self.extra
        passes_user = self.passes_user
        start = ctx.start if t0 is None else t0
        end = ctx.end if t1 is None else t1
        for t in poisson_times(rng, start, end, self.rate_at_factory(self.daily)):
            conv = None
            if pool and r() < 0.6:
                j = len(pool) - 1 - int(r() * r() * len(pool))
                conv = pool[j]
                if t - conv[3] > 1800.0:
                    del pool[j]
                    conv = None
                else:
                    conv[2] += 2
                    conv[3] = t
                    if conv[2] >= 29 or r() < 0.15:
                        del pool[j]
            if conv is None:
                uidx = int(n_users * r() * r())
                user = f"u-{(uidx * 2654435761 + salt) & 0xFFFFFFFF:08x}" if passes_user else None
                conv = [f"conv_{getbits(48):012x}", user, 1, t, sys_shas[int(r() * len(sys_shas))]]
                pool.append(conv)
                if len(pool) > 40:
                    del pool[0]
                txt = T.chat_prompt(r, lang, step_share)
            else:
                txt = T.chat_followup(r, lang)
            msgs = conv[2]
            ctr += 1
            stepwise = msgs == 1 and ("step" in txt or "paso" in txt or "Schritt" in txt)
            out = int(lognorm(mu_out + (0.7 if stepwise else 0.0), 0.8)) + 5
            inp = sys_tokens + (msgs - 1) * 170 + len(txt) // 3 + int(r() * 40)
            model = models.pick(r, t)
            params = {"temperature": temp}
            if top_p is not None:
                params["top_p"] = top_p
            if max_tokens is not None:
                params["max_tokens"] = max_tokens
            params["n"] = 1
            params["stream"] = r() < stream_share
            prompt = {"messages_count": msgs}
            if not zdr:
                prompt["text"] = txt
            prompt["system_sha256"] = conv[4]
            yield t, make_event(r, request_id(src, ctr), acct, keys[int(r() * len(keys))], conv[1],
                                ips[int(r() * len(ips))], ua, endpoint, model, conv[0], inp, out, max_tokens,
                                "stop", p429, params, prompt, 0.4, extra)


class RagApp(ChatApp):
    """Retrieval-augmented app: large context inputs, short answers, embeddings calls."""

    archetype = "rag_app"

    def __init__(self, ctx, rng, ident, account_id, src):
        super().__init__(ctx, rng, ident, account_id, src,
                         daily=_lognorm_clip(rng, 1600.0, 0.8, 200.0, 9000.0))
        self.embed_share = rng.uniform(0.3, 0.7)
        self.ctx_median = rng.uniform(2500.0, 7000.0)
        self.temp = rng.choice((0.0, 0.1, 0.2, 0.3))
        self.sys_shas = [sha256_hex(T.SYSTEM_PROMPTS[4] + account_id)]
        self.out_median = rng.uniform(120.0, 300.0)

    def events(self) -> Stream:
        ctx = self.ctx
        rng = self.rng
        r = rng.random
        lognorm = rng.lognormvariate
        getbits = rng.getrandbits
        acct = self.account_id
        keys, ips, ua, endpoint = self.keys, self.ips, self.ua, self.endpoint
        models = self.models
        ctr = 0
        src = self.src
        temp, max_tokens = self.temp, self.max_tokens
        n_users, salt = self.n_users, self.user_salt
        sys_sha = self.sys_shas[0]
        mu_ctx, mu_out = math.log(self.ctx_median), math.log(self.out_median)
        p429, zdr, extra = self.p429, self.zdr, self.extra
        embed_share, stream_share = self.embed_share, self.stream_share
        passes_user = self.passes_user
        last: list | None = None  # [conv, user, msgs, t]
        floor = ctx.start
        for t in poisson_times(rng, ctx.start, ctx.end, self.rate_at_factory(self.daily)):
            if t < floor:  # still busy with the previous embeddings + completion pair
                t = floor
            if last is not None and t - last[3] < 900.0 and r() < 0.25 and last[2] < 9:
                last[2] += 2
                last[3] = t
            else:
                uidx = int(n_users * r() * r())
                user = f"u-{(uidx * 2654435761 + salt) & 0xFFFFFFFF:08x}" if passes_user else None
                last = [f"conv_{getbits(48):012x}", user, 1, t]
            key = keys[int(r() * len(keys))]
            ip = ips[int(r() * len(ips))]
            if r() < embed_share:
                ctr += 1
                yield t, make_event(r, request_id(src, ctr), acct, key, last[1], ip, ua, "embeddings", EMBED,
                                    None, 8 + int(r() * 60), 0, None, "stop", p429, None, None, 0.0, extra)
                t += 0.03 + 0.1 * r()
                floor = t
            ctr += 1
            txt = T.rag_prompt(r)
            params = {"temperature": temp, "n": 1, "stream": r() < stream_share}
            if max_tokens is not None:
                params["max_tokens"] = max_tokens
            prompt = {"messages_count": last[2]}
            if not zdr:
                prompt["text"] = txt
            prompt["system_sha256"] = sys_sha
            inp = int(lognorm(mu_ctx, 0.6)) + last[2] * 120
            out = int(lognorm(mu_out, 0.6)) + 5
            yield t, make_event(r, request_id(src, ctr), acct, key, last[1], ip, ua, endpoint,
                                models.pick(r, t), last[0], inp, out, max_tokens, "stop", p429, params,
                                prompt, 0.3, extra)


class CodingAgent(Source):
    """Autonomous coding agent sessions of several developers, during working hours."""

    archetype = "coding_agent"
    heavy = True

    def __init__(self, ctx, rng, ident, account_id, src):
        super().__init__(ctx, rng, ident, account_id, src)
        self.daily = rng.uniform(3000.0, 14000.0)
        self.tz = rng.choice(TIMEZONES)
        self.session_median = rng.uniform(40.0, 90.0)
        self.n_devs = rng.randint(4, 40)
        self.devs = [f"dev-{rng.getrandbits(24):06x}" for _ in range(self.n_devs)]
        self.keys = [ident.key_id() for _ in range(rng.randint(1, min(8, self.n_devs)))]
        self.ips = ident.benign_ips(rng.randint(2, 8))
        self.ua = rng.choice(CODING_UA)
        self.endpoint = rng.choice(ENDPOINTS)
        self.tools = sorted(rng.sample(range(5, 41), 2))
        self.temp = rng.choice((None, 0.0, 0.2, 1.0))
        self.sys_shas = [sha256_hex(T.SYSTEM_PROMPTS[2] + f"v{i}{account_id}") for i in range(2)]
        self.models = ModelMix(rng, ctx, rng.uniform(0.7, 1.0), False)
        if self.models.switch < math.inf:  # developers try new models a bit sooner
            self.models.switch = ctx.release + rng.uniform(0.5, 6.0) * 3600.0
        self.p429 = rng.uniform(0.002, 0.01)

    def events(self) -> Stream:
        ctx, rng = self.ctx, self.rng
        # mean session length of a lognormal(median, 0.8) clipped at [5, 400]
        mean_len = min(400.0, self.session_median * math.exp(0.32))
        sessions_per_day = self.daily / mean_len
        base = sessions_per_day / 86400.0 / _WORK_MEAN
        tz = self.tz

        def rate_at(t: float) -> float:
            return base * WORK_DIURNAL[local_hour(t, tz)]

        starts = poisson_times(rng, ctx.start, ctx.end, rate_at, 900.0)
        self._ctr = 0
        return interleave(starts, self._session)

    def _session(self, t: float, idx: int) -> Stream:
        rng = self.rng
        r = rng.random
        lognorm = rng.lognormvariate
        acct, src = self.account_id, self.src
        n = int(_lognorm_clip(rng, self.session_median, 0.8, 5.0, 400.0))
        dev = self.devs[int(r() * len(self.devs))]
        key = self.keys[int(dev[4:], 16) % len(self.keys)]
        ip = self.ips[int(r() * len(self.ips))]
        conv = f"sess_{rng.getrandbits(48):012x}"
        tools = self.tools[int(r() * 2)]
        sys_sha = self.sys_shas[int(r() * 2)]
        model = self.models.pick(r, t)
        temp = self.temp
        ua, endpoint, p429, zdr, extra = self.ua, self.endpoint, self.p429, self.zdr, self.extra
        per_msg = r() * 900.0 + 600.0
        base_inp = int(r() * 6000) + 4000
        msgs = 1
        for step in range(n):
            last = step == n - 1
            txt = T.coding_first(r) if step == 0 else T.coding_step(r)
            inp = base_inp + int(msgs * per_msg)
            if inp > 100000:  # context compaction
                msgs = 5
                inp = base_inp + int(msgs * per_msg)
            out = int(lognorm(5.3, 0.8)) + 10
            params = {}
            if temp is not None:
                params["temperature"] = temp
            params["max_tokens"] = 8192 if model != SMALL else 4096
            params["stream"] = True
            params["tools_count"] = tools
            prompt = {"messages_count": msgs}
            if not zdr:
                prompt["text"] = txt
            prompt["system_sha256"] = sys_sha
            self._ctr += 1
            finish = "stop" if last or r() < 0.25 else "tool_calls"
            yield t, make_event(r, request_id(src, self._ctr), acct, key, dev, ip, ua, endpoint, model, conv,
                                inp, out, params["max_tokens"], finish, p429, params, prompt, 0.6, extra)
            msgs += 2
            t += lognorm(2.0, 0.7) + out * 0.015


class BatchJob(Source):
    """Enterprise batch pipeline: templated extraction/classification in big regular bursts."""

    archetype = "batch_job"
    heavy = True

    def __init__(self, ctx, rng, ident, account_id, src):
        super().__init__(ctx, rng, ident, account_id, src)
        self.daily = rng.uniform(45000.0, 90000.0)
        self.mode = rng.choice(("hourly", "hourly", "4-hourly", "nightly"))
        self.tz = rng.choice(TIMEZONES)
        self.minute = rng.uniform(0, 50) * 60.0
        self.rate = rng.uniform(15.0, 60.0) if self.mode != "nightly" else rng.uniform(10.0, 25.0)
        self.templates = rng.sample(range(len(T.BATCH_TEMPLATES)), rng.randint(1, 3))
        self.keys = [ident.key_id() for _ in range(rng.randint(1, 2))]
        self.ips = ident.v6_hosts(rng.randint(1, 4)) if rng.random() < 0.6 else ident.v4_hosts(rng.randint(1, 3))
        self.ua = rng.choice(BATCH_UA)
        self.endpoint = rng.choice(("chat.completions", "chat.completions", "responses"))
        self.fmt = rng.choice(("json_object", "json_schema"))
        self.model = SMALL if rng.random() < 0.75 else LARGE  # pinned
        self.max_tokens = rng.choice((256, 512, 512, 1024))
        self.seed_param = rng.choice((None, 42, 1234))
        self.p429 = rng.uniform(0.005, 0.03)

    def _burst_starts(self) -> list[tuple[float, int]]:
        ctx, rng = self.ctx, self.rng
        day0 = ctx.start - (ctx.start + self.tz * 3600.0) % 86400.0  # local midnight
        if self.mode == "hourly":
            period, per_day = 3600.0, 24
            first = ctx.start - ctx.start % 3600.0 + self.minute
        elif self.mode == "4-hourly":
            period, per_day = 4 * 3600.0, 6
            first = ctx.start - ctx.start % 3600.0 + self.minute
        else:
            period, per_day = 86400.0, 1
            first = day0 + 3600.0 + self.minute  # ~01:xx local
        out = []
        t = first
        while t > ctx.start:
            t -= period
        while t < ctx.end:
            n = int(self.daily / per_day * rng.uniform(0.75, 1.25))
            out.append((t, n))
            t += period
        return out

    def events(self) -> Stream:
        rng = self.rng
        r = rng.random
        lognorm = rng.lognormvariate
        acct, src, ua, endpoint = self.account_id, self.src, self.ua, self.endpoint
        ctr = 0
        item = rng.randint(10000, 900000)
        for b_start, n in self._burst_starts():
            gap = 1.0 / self.rate
            jit = gap * 0.3
            t = b_start
            tmpl = self.templates[int(r() * len(self.templates))]
            key = self.keys[int(r() * len(self.keys))]
            for i in range(n):
                t += gap + jit * (r() - 0.5)
                if t < self.ctx.start:
                    continue
                item += 1
                ctr += 1
                txt = T.batch_prompt(r, tmpl, item)
                inp = len(txt) // 3 + int(lognorm(6.0, 0.8))
                out = int(lognorm(4.0, 0.5)) + 8
                params = {"temperature": 0.0, "max_tokens": self.max_tokens, "n": 1,
                          "response_format": self.fmt}
                if self.seed_param is not None:
                    params["seed"] = self.seed_param
                prompt = {"messages_count": 1}
                if not self.zdr:
                    prompt["text"] = txt
                yield t, make_event(r, request_id(src, ctr), acct, key, None, self.ips[int(r() * len(self.ips))],
                                    ua, endpoint, self.model, None, inp, out, self.max_tokens, "stop", self.p429,
                                    params, prompt, 0.2, self.extra)


class EvalRunner(Source):
    """Benchmark runs: thousands of templated, single-turn requests a few times a day."""

    archetype = "eval_runner"
    heavy = True

    def __init__(self, ctx, rng, ident, account_id, src):
        super().__init__(ctx, rng, ident, account_id, src)
        self.daily = rng.uniform(30000.0, 60000.0)
        self.runs_per_day = rng.randint(3, 6)
        self.rate = rng.uniform(8.0, 30.0)
        self.keys = [ident.key_id() for _ in range(rng.randint(1, 3))]
        self.ips = ident.benign_ips(rng.randint(1, 3))
        self.ua = rng.choice(EVAL_UA)
        self.endpoint = rng.choice(("chat.completions", "completions", "responses"))
        self.tests_new_model = rng.random() < 0.5
        self.new_model_after = ctx.release + rng.uniform(2.0, 10.0) * 3600.0
        self.p429 = rng.uniform(0.005, 0.02)

    def events(self) -> Stream:
        ctx, rng = self.ctx, self.rng
        expected = self.runs_per_day * ctx.duration / 86400.0
        n_runs = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
        starts = sorted(rng.uniform(ctx.start, ctx.end) for _ in range(n_runs))
        self._ctr = 0
        per_run = self.daily / self.runs_per_day
        return interleave(iter(starts), lambda t, i: self._run(t, per_run))

    def _run(self, t: float, target: float) -> Stream:
        rng = self.rng
        r = rng.random
        lognorm = rng.lognormvariate
        acct, src, ua, endpoint, extra = self.account_id, self.src, self.ua, self.endpoint, self.extra
        bench, kind, _size = rng.choice(T.BENCHMARKS)
        models = [LARGE]
        u = r()
        if u < 0.3:
            models = [LARGE, SMALL]
        elif u < 0.45:
            models = [SMALL]
        if self.tests_new_model and t >= self.new_model_after:
            models = [NEW] + models if r() < 0.7 else [NEW]
        n_items = max(200, int(target * rng.uniform(0.8, 1.2) / len(models)))
        first_item = rng.randint(0, 5000)
        key = self.keys[int(r() * len(self.keys))]
        ip = self.ips[int(r() * len(self.ips))]
        gap = 1.0 / self.rate
        if kind == "mc":
            logprob_run = r() < 0.7
            params_base = {"temperature": 0.0, "max_tokens": rng.randint(1, 5), "n": 1}
            if logprob_run:
                params_base["logprobs"] = True
                params_base["top_logprobs"] = rng.choice((5, 10, 20))
            out_mu, out_sig = 0.3, 0.3
        elif kind == "code":
            params_base = {"temperature": rng.choice((0.2, 0.8)), "max_tokens": 1024,
                           "n": rng.choice((5, 10, 20))}
            out_mu, out_sig = 5.0, 0.6
        else:
            params_base = {"temperature": 0.0, "max_tokens": rng.choice((512, 1024, 2048)), "n": 1}
            out_mu, out_sig = 4.8, 0.7
        seed = rng.choice((None, 0, 1234))
        if seed is not None:
            params_base["seed"] = seed
        max_tokens = params_base["max_tokens"]
        interleaved = r() < 0.5
        order = ([(i, m) for i in range(n_items) for m in models] if interleaved
                 else [(i, m) for m in models for i in range(n_items)])
        for i, model in order:
            t += gap * (0.4 + 1.2 * r())
            item = first_item + i
            txt = T.eval_prompt(bench, kind, item)
            self._ctr += 1
            prompt = {"messages_count": 1}
            if not self.zdr:
                prompt["text"] = txt
            n = params_base["n"]
            out = (int(lognorm(out_mu, out_sig)) + 1) * n
            yield t, make_event(r, request_id(src, self._ctr), acct, key, None, ip, ua, endpoint, model, None,
                                len(txt) // 3 + 20, out, max_tokens * n, "stop", self.p429, dict(params_base),
                                prompt, 0.5, extra)


# --------------------------------------------------------------------------
# Harvesters
# --------------------------------------------------------------------------

class Harvester(Source):
    label = "harvester"

    def harvest_start(self, rng: Random, ctx: Ctx) -> float:
        """Most campaigns run from the beginning or start within the first hours."""
        if rng.random() < 0.4:
            return ctx.start
        return ctx.start + rng.uniform(0.0, min(3 * 3600.0, 0.15 * ctx.duration))


class ReasoningHarvester(Harvester):
    """Reasoning-trace harvesting: multilingual elicitation, narrow focus, topic sweep."""

    archetype = "reasoning_harvester"

    def __init__(self, ctx, rng, ident, account_id, src):
        super().__init__(ctx, rng, ident, account_id, src)
        self.attack_start = self.harvest_start(rng, ctx)
        self.daily = rng.uniform(15000.0, 28000.0)
        self.focus = rng.sample(T.FOCUS_AREAS, rng.randint(1, 2))
        ml = rng.sample(T.ELICIT_ML, rng.randint(4, 10))
        self.phrasings = tuple(rng.sample(T.ELICIT_EN, rng.randint(6, 12))) + tuple(ml)
        self.keys = [ident.key_id() for _ in range(rng.randint(2, 6))]
        self.ips = ident.proxy_pool(rng.randint(10, 40))
        self.ua = rng.choice(HARVEST_UA)
        self.endpoint = rng.choice(ENDPOINTS)
        self.temp = rng.choice((0.6, 0.7, 0.8, 1.0))
        self.sys_sha = sha256_hex(T.SYSTEM_PROMPTS[5] + account_id) if rng.random() < 0.5 else None
        self.models = ModelMix(rng, ctx, rng.uniform(0.9, 1.0), True)
        self.p429 = rng.uniform(0.06, 0.12)
        self.rubric_share = rng.uniform(0.0, 0.15)

    def events(self) -> Stream:
        ctx, rng = self.ctx, self.rng
        r = rng.random
        lognorm = rng.lognormvariate
        acct, src, ua, endpoint, extra = self.account_id, self.src, self.ua, self.endpoint, self.extra
        period = 86400.0 / self.daily
        t = self.attack_start + r() * period
        ctr = 0
        topic = rng.randint(0, 1000)
        variants = rng.randint(3, 8)
        variant = 0
        focus, phrasings, keys, ips = self.focus, self.phrasings, self.keys, self.ips
        while t <= ctx.end:
            area = focus[topic % len(focus)]
            problem = T.harvest_problem(r, area, topic, variant)
            variant += 1
            if variant >= variants:
                variant = 0
                topic += 1
            if r() < self.rubric_share:
                txt = T.rubric_prompt(r, problem)
            else:
                txt = T.elicited(r, problem, phrasings)
            model = self.models.pick(r, t)
            cap = MODEL_CAP[model]
            max_tokens = cap if r() < 0.7 else cap - 256 * int(1 + r() * 3)
            out = int(lognorm(math.log(0.6 * cap), 0.55))
            params = {"temperature": self.temp, "max_tokens": max_tokens, "n": 1, "stream": False}
            prompt = {"messages_count": 1}
            if not self.zdr:
                prompt["text"] = txt
            if self.sys_sha:
                prompt["system_sha256"] = self.sys_sha
            ctr += 1
            yield t, make_event(r, request_id(src, ctr), acct, keys[int(r() * len(keys))], None,
                                ips[int(r() * len(ips))], ua, endpoint, model, None, len(txt) // 3 + 30, out,
                                max_tokens, "stop", self.p429, params, prompt, 1.5, extra)
            t += period * (0.85 + 0.3 * r())
            if r() < 0.0005:  # worker restart / proxy rotation pause
                t += rng.uniform(60.0, 900.0)


class LogprobHarvester(Harvester):
    """Distribution harvesting: top-k logprobs on long generations, temperature sweeps."""

    archetype = "logprob_harvester"

    def __init__(self, ctx, rng, ident, account_id, src):
        super().__init__(ctx, rng, ident, account_id, src)
        self.attack_start = self.harvest_start(rng, ctx)
        self.daily = rng.uniform(6000.0, 12000.0)
        self.focus = rng.sample(T.FOCUS_AREAS, rng.randint(1, 3))
        self.keys = [ident.key_id() for _ in range(rng.randint(1, 4))]
        self.ips = ident.proxy_pool(rng.randint(4, 16))
        self.ua = rng.choice(HARVEST_UA)
        self.endpoint = rng.choice(("chat.completions", "completions"))
        self.top_logprobs = rng.choice((5, 10, 20))
        self.temps = (0.0, 0.3, 0.7, 1.0)
        self.phrasings = tuple(rng.sample(T.ELICIT_EN, 5)) + tuple(rng.sample(T.ELICIT_ML, 2))
        self.models = ModelMix(rng, ctx, rng.uniform(0.85, 1.0), True)
        self.p429 = rng.uniform(0.04, 0.1)

    def events(self) -> Stream:
        ctx, rng = self.ctx, self.rng
        r = rng.random
        lognorm = rng.lognormvariate
        acct, src, ua, endpoint, extra = self.account_id, self.src, self.ua, self.endpoint, self.extra
        period = 86400.0 / self.daily
        t = self.attack_start + r() * period
        ctr = 0
        topic = rng.randint(0, 1000)
        variant = 0
        while t <= ctx.end:
            area = self.focus[topic % len(self.focus)]
            problem = T.harvest_problem(r, area, topic, variant)
            variant += 1
            if variant >= 4:
                variant = 0
                topic += 1
            txt = T.elicited(r, problem, self.phrasings) if r() < 0.5 else problem
            max_tokens = rng.randint(1, 4) * 1000
            n = rng.choice((1, 1, 2, 4))
            model = self.models.pick(r, t)
            key = self.keys[int(r() * len(self.keys))]
            for temp in self.temps:  # same prompt, swept temperatures
                if t > ctx.end:
                    return
                params = {"temperature": temp, "max_tokens": max_tokens, "n": n, "logprobs": True,
                          "top_logprobs": self.top_logprobs}
                prompt = {"messages_count": 1}
                if not self.zdr:
                    prompt["text"] = txt
                ctr += 1
                out = int(lognorm(math.log(0.55 * max_tokens), 0.5))
                yield t, make_event(r, request_id(src, ctr), acct, key, None, self.ips[int(r() * len(self.ips))],
                                    ua, endpoint, model, None, len(txt) // 3 + 25, out * n, max_tokens * n,
                                    "stop", self.p429, params, prompt, 1.0, extra)
                t += period * (0.8 + 0.4 * r())


class TemplateSweeper(Harvester):
    """One prompt template, slots filled from a systematic topic list."""

    archetype = "template_sweeper"

    def __init__(self, ctx, rng, ident, account_id, src):
        super().__init__(ctx, rng, ident, account_id, src)
        self.attack_start = self.harvest_start(rng, ctx)
        self.daily = rng.uniform(4000.0, 8000.0)
        self.template = rng.choice(T.SWEEP_TEMPLATES)
        self.keys = [ident.key_id()]
        self.ips = ident.proxy_pool(rng.randint(1, 4)) if rng.random() < 0.5 else ident.benign_ips(2)
        self.ua = rng.choice(HARVEST_UA + BENIGN_UA)
        self.endpoint = rng.choice(ENDPOINTS)
        self.temp = rng.choice((0.0, 0.5, 0.7))
        self.max_tokens = rng.choice((4096, 8192))
        self.models = ModelMix(rng, ctx, rng.uniform(0.8, 1.0), True)
        self.p429 = rng.uniform(0.01, 0.05)

    def events(self) -> Stream:
        ctx, rng = self.ctx, self.rng
        r = rng.random
        lognorm = rng.lognormvariate
        acct, src, ua, endpoint, extra = self.account_id, self.src, self.ua, self.endpoint, self.extra
        period = 86400.0 / self.daily
        t = self.attack_start + r() * period
        field, item, per_field = rng.randint(0, 30), 0, rng.randint(20, 60)
        ctr = 0
        while t <= ctx.end:
            txt = T.sweep_prompt(self.template, field, item)
            item += 1
            if item >= per_field:
                item = 0
                field += 1
            model = self.models.pick(r, t)
            mt = min(self.max_tokens, MODEL_CAP[model])
            params = {"temperature": self.temp, "max_tokens": mt, "n": 1}
            prompt = {"messages_count": 1}
            if not self.zdr:
                prompt["text"] = txt
            ctr += 1
            out = int(lognorm(math.log(0.45 * mt), 0.5))
            yield t, make_event(r, request_id(src, ctr), acct, self.keys[0], None, self.ips[int(r() * len(self.ips))],
                                ua, endpoint, model, None, len(txt) // 3 + 12, out, mt, "stop", self.p429, params,
                                prompt, 1.2, extra)
            t += period * (0.97 + 0.06 * r())


class HydraNetwork(Harvester):
    """A coordinated network of quiet accounts taking turns (one source, many accounts)."""

    archetype = "hydra_member"

    def __init__(self, ctx, rng, ident, account_ids: list[str], src, net_no: int):
        super().__init__(ctx, rng, ident, account_ids[0], src)
        self.members = list(account_ids)
        self.network_id = f"net-{rng.getrandbits(32):08x}"
        self.attack_start = ctx.start if net_no == 0 else self.harvest_start(rng, ctx)
        self.zdr = False
        self.extra = None
        self.member_keys = {a: ident.key_id() for a in self.members}
        v4net = ("203.0.113", "198.51.100", "192.0.2")[net_no % 3]
        lo = 10 + (net_no * 40) % 200
        self.ips = ident.v4_hosts(rng.randint(6, 12), v4net, lo, lo + 30)
        for p in [ident.v6_prefix() for _ in range(rng.randint(1, 2))]:
            self.ips += ident.v6_hosts(rng.randint(3, 6), p)
        self.ua = rng.choice(HARVEST_UA)
        self.endpoint = rng.choice(ENDPOINTS)
        self.family = T.HYDRA_FAMILIES[net_no % len(T.HYDRA_FAMILIES)]
        self.phrasings = tuple(rng.sample(T.ELICIT_EN, 6)) + tuple(rng.sample(T.ELICIT_ML, 4))
        self.sys_shas = [sha256_hex(f"hydra-system-{self.network_id}-{i}") for i in range(rng.randint(1, 2))]
        self.focus = rng.sample(T.FOCUS_AREAS, rng.randint(1, 2))
        self.period = rng.uniform(300.0, 720.0)
        self.per_member_hour = rng.uniform(2.0, 4.5)
        self.spacing = rng.uniform(0.5, 3.0)
        self.temp = rng.choice((0.7, 1.0))
        self.models = ModelMix(rng, ctx, 1.0, True)
        self.p429 = rng.uniform(0.005, 0.02)

    def accounts(self) -> list[str]:
        return list(self.members)

    def events(self) -> Stream:
        ctx, rng = self.ctx, self.rng
        r = rng.random
        lognorm = rng.lognormvariate
        src, ua, endpoint = self.src, self.ua, self.endpoint
        members = list(self.members)
        rng.shuffle(members)
        n = len(members)
        k = max(1, round(n * self.per_member_hour * self.period / 3600.0))
        ptr, ctr, topic = 0, 0, rng.randint(0, 1000)
        t = self.attack_start + r() * self.period
        while t <= ctx.end:
            model = self.models.pick(r, t)
            cap = MODEL_CAP[model]
            kk = k + (1 if r() < 0.3 else 0) - (1 if r() < 0.3 and k > 1 else 0)
            for i in range(kk):
                acct = members[ptr % n]
                ptr += 1
                tt = t + i * self.spacing + r() * 0.5 * self.spacing
                area = self.focus[topic % len(self.focus)]
                problem = T.harvest_problem(r, area, topic, ctr % 5)
                topic += 1
                txt = T.pick(r, self.family).format(elicit=T.pick(r, self.phrasings), problem=problem, n=ctr)
                max_tokens = cap
                params = {"temperature": self.temp, "max_tokens": max_tokens, "n": 1}
                prompt = {"messages_count": 1, "text": txt, "system_sha256": self.sys_shas[int(r() * len(self.sys_shas))]}
                ctr += 1
                out = int(lognorm(math.log(0.55 * cap), 0.55))
                yield tt, make_event(r, request_id(src, ctr), acct, self.member_keys[acct], None,
                                     self.ips[int(r() * len(self.ips))], ua, endpoint, model, None,
                                     len(txt) // 3 + 40, out, max_tokens, "stop", self.p429, params, prompt, 1.5)
            t += self.period * (0.9 + 0.2 * r())
            if t < tt:
                t = tt + 1.0


class LowAndSlow(ChatApp):
    """Harvester mimicking a small chat app's rate and rhythm; single-turn elicitation."""

    archetype = "low_and_slow"
    label = "harvester"

    def __init__(self, ctx, rng, ident, account_id, src):
        super().__init__(ctx, rng, ident, account_id, src, daily=rng.uniform(400.0, 1200.0))
        self.attack_start = ctx.start
        self.focus = rng.sample(T.FOCUS_AREAS, rng.randint(1, 3))
        self.phrasings = tuple(rng.sample(T.ELICIT_EN, 8)) + tuple(rng.sample(T.ELICIT_ML, 3))
        self.elicit_share = rng.uniform(0.6, 0.85)
        self.max_tokens = rng.choice((4096, 8192))
        self.models = ModelMix(rng, ctx, rng.uniform(0.85, 1.0), True)
        self.p429 = rng.uniform(0.001, 0.006)

    def events(self) -> Stream:
        ctx, rng = self.ctx, self.rng
        r = rng.random
        lognorm = rng.lognormvariate
        getbits = rng.getrandbits
        acct, src, ua, endpoint, extra = self.account_id, self.src, self.ua, self.endpoint, self.extra
        ctr = 0
        topic = rng.randint(0, 1000)
        sys_sha = self.sys_shas[0]
        for t in poisson_times(rng, ctx.start, ctx.end, self.rate_at_factory(self.daily)):
            area = self.focus[topic % len(self.focus)]
            problem = T.harvest_problem(r, area, topic, ctr % 3)
            topic += 1
            txt = T.elicited(r, problem, self.phrasings) if r() < self.elicit_share else problem
            model = self.models.pick(r, t)
            mt = min(self.max_tokens, MODEL_CAP[model])
            uidx = int(self.n_users * r())
            user = f"u-{(uidx * 2654435761 + self.user_salt) & 0xFFFFFFFF:08x}" if self.passes_user else None
            params = {"temperature": self.temp, "max_tokens": mt, "n": 1, "stream": r() < self.stream_share}
            prompt = {"messages_count": 1}
            if not self.zdr:
                prompt["text"] = txt
            prompt["system_sha256"] = sys_sha
            ctr += 1
            out = int(lognorm(math.log(0.5 * mt), 0.55))
            yield t, make_event(r, request_id(src, ctr), acct, self.keys[int(r() * len(self.keys))], user,
                                self.ips[int(r() * len(self.ips))], ua, endpoint, model, f"conv_{getbits(48):012x}",
                                len(txt) // 3 + 200, out, mt, "stop", self.p429, params, prompt, 1.2, extra)


class CompromisedChat(ChatApp):
    """The victim's normal traffic (a chat app) -- same account as the takeover source."""

    archetype = "compromised_key"
    label = "harvester"


class CompromisedTakeover(Harvester):
    """Harvesting burst from a stolen key: new key id, user agent and IP prefixes."""

    archetype = "compromised_key"

    def __init__(self, ctx, rng, ident, account_id, src):
        super().__init__(ctx, rng, ident, account_id, src)
        self.attack_start = ctx.start + rng.uniform(0.4, 0.6) * ctx.duration
        self.length = rng.uniform(3.0, 8.0) * 3600.0
        self.rate = rng.uniform(0.6, 1.0)
        self.key = ident.key_id()
        self.ips = ident.proxy_pool(rng.randint(6, 20))
        self.ua = rng.choice(HARVEST_UA)
        self.endpoint = "chat.completions"
        self.focus = rng.sample(T.FOCUS_AREAS, rng.randint(1, 2))
        self.phrasings = tuple(rng.sample(T.ELICIT_EN, 8)) + tuple(rng.sample(T.ELICIT_ML, 5))
        self.models = ModelMix(rng, ctx, 1.0, True)
        self.p429 = rng.uniform(0.08, 0.15)
        self.zdr = False
        self.extra = None

    def events(self) -> Stream:
        ctx, rng = self.ctx, self.rng
        r = rng.random
        lognorm = rng.lognormvariate
        acct, src, ua, endpoint = self.account_id, self.src, self.ua, self.endpoint
        gap = 1.0 / self.rate
        t = self.attack_start
        stop = min(ctx.end, t + self.length)
        topic, ctr = rng.randint(0, 1000), 0
        while t <= stop:
            area = self.focus[topic % len(self.focus)]
            problem = T.harvest_problem(r, area, topic, ctr % 4)
            if ctr % 4 == 3:
                topic += 1
            txt = T.elicited(r, problem, self.phrasings)
            model = self.models.pick(r, t)
            cap = MODEL_CAP[model]
            params = {"temperature": 0.8, "max_tokens": cap, "n": 1}
            prompt = {"messages_count": 1, "text": txt}
            ctr += 1
            out = int(lognorm(math.log(0.6 * cap), 0.5))
            yield t, make_event(r, request_id(src, ctr), acct, self.key, None, self.ips[int(r() * len(self.ips))],
                                ua, endpoint, model, None, len(txt) // 3 + 20, out, cap, "stop", self.p429,
                                params, prompt, 1.5)
            t += gap * (0.8 + 0.4 * r())


# --------------------------------------------------------------------------
# Population at scale 1
# --------------------------------------------------------------------------

# (archetype, accounts at scale 1, class)
POPULATION = (
    ("chat_app", 165, ChatApp),
    ("rag_app", 75, RagApp),
    ("coding_agent", 20, CodingAgent),
    ("batch_job", 10, BatchJob),
    ("eval_runner", 10, EvalRunner),
    ("reasoning_harvester", 3, ReasoningHarvester),
    ("logprob_harvester", 2, LogprobHarvester),
    ("template_sweeper", 2, TemplateSweeper),
    ("low_and_slow", 2, LowAndSlow),
    ("compromised_key", 2, None),  # ChatApp-like victim + takeover source
)
HYDRA_NETWORK_SIZES = (24, 20)  # members per network at scale 1
HYDRA_MIN_MEMBERS = 3

ARCHETYPES = tuple(a for a, _, _ in POPULATION) + ("hydra_member",)
HEAVY = frozenset({"batch_job", "eval_runner", "coding_agent"})
HARVESTERS = frozenset({"reasoning_harvester", "logprob_harvester", "template_sweeper", "hydra_member",
                        "low_and_slow", "compromised_key"})
