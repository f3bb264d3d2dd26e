"""Build the ``events.jsonl`` file of every golden case (run once; the output is committed).

    .venv/bin/python tests/golden/make_cases.py            # rewrite all cases
    .venv/bin/python tests/golden/make_cases.py 03 10      # only folders starting with 03 or 10

Each case is hand-designed traffic: one function per folder below, seeded, so
the same script always writes the same bytes. The script knows nothing of the
detectors: the expectations (``expected.yaml``) and explanations (``README.md``)
beside each file are written by hand from the case's intent, not from what
the code outputs. ``tests/test_golden.py`` reads the committed files; it never
runs this script.

Conventions: event time starts at 2026-11-28T00:00:00Z; timestamps are written
in a seeded mix of contract-v1 forms (RFC 3339 with ``Z`` or an offset, with
``T``, ``t`` or a space, and Unix seconds); addresses come only from the
documentation ranges 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and
2001:db8::/32; accounts are ``acct-golden-...``.

>>> stamp_text(T0 + 5.25, 0)
'2026-11-28T00:00:05.250Z'
>>> stamp_text(T0 + 5.25, 540)
'2026-11-28T09:00:05.250+09:00'
"""

from __future__ import annotations

import json
import math
import random
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent

T0 = 1_795_824_000.0  # 2026-11-28T00:00:00Z
MIN = 60.0
HOUR = 3600.0

# --------------------------------------------------------------------------- #
# Writing events


def stamp_text(t: float, offset_minutes: int, sep: str = "T", lower: bool = False) -> str:
    """RFC 3339 text of ``t`` (millisecond precision) at the given UTC offset."""
    ms = round(t * 1000)
    tz = timezone(timedelta(minutes=offset_minutes))
    dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    s = dt.astimezone(tz).isoformat(sep=sep, timespec="milliseconds")
    if offset_minutes == 0:
        s = s[: -len("+00:00")] + "Z"
    if lower:
        s = s.replace("T", "t").replace("Z", "z")
    return s


def stamp(t: float, rng: random.Random, mix: dict[str, float], offsets: tuple[int, ...] = (60, -300, 540)):
    """One timestamp of ``t`` in a form drawn from ``mix`` (weights by form)."""
    form = rng.choices(list(mix), weights=list(mix.values()))[0]
    ms = round(t * 1000)
    if form == "unix":
        return ms / 1000 if ms % 1000 else ms // 1000
    if form == "offset":
        return stamp_text(t, rng.choice(offsets))
    if form == "space":
        return stamp_text(t, 0, sep=" ")
    if form == "lower":
        return stamp_text(t, 0, lower=True)
    return stamp_text(t, 0)


DEFAULT_MIX = {"z": 5.0, "offset": 2.0, "unix": 3.0, "space": 0.4, "lower": 0.4}


def clean(d: dict) -> dict:
    """Drop None values and empty sub-objects (absent optional fields)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            v = clean(v)
            if not v:
                continue
        if v is not None:
            out[k] = v
    return out


def event(t: float, rid: str, acct: str, model: str, status: int = 200, **fields) -> tuple[float, dict]:
    d = {"request_id": rid, "timestamp": None, "account_id": acct, "model": model, "status_code": status}
    d.update(fields)
    return t, d


def dumps(d: dict) -> bytes:
    return json.dumps(d, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def render(events: list[tuple[float, dict]], rng: random.Random, mix=None, offsets=(60, -300, 540)) -> list[bytes]:
    """Events in event-time order (stable), each with its timestamp written out."""
    mix = mix or DEFAULT_MIX
    lines = []
    for t, d in sorted(events, key=lambda e: e[0]):
        d["timestamp"] = stamp(t, rng, mix, offsets)
        lines.append(dumps(clean(d)))
    return lines


def write(case: str, lines: list[bytes]) -> None:
    path = HERE / case / "events.jsonl"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    print(f"{case}: {len(lines)} lines, {path.stat().st_size / 1024:.0f} KB")


class Ids:
    """Request ids as a gateway would mint them (seeded)."""

    def __init__(self, rng: random.Random, prefix: str = "req_"):
        self.rng, self.prefix = rng, prefix

    def __call__(self) -> str:
        return f"{self.prefix}{self.rng.getrandbits(48):012x}"


def ipv4(rng: random.Random, prefix: str, lo: int = 1, hi: int = 254) -> str:
    return f"{prefix}.{rng.randint(lo, hi)}"


def ipv6(rng: random.Random, net48: int) -> str:
    return f"2001:db8:{net48:x}::{rng.randint(1, 0xFFFF):x}"


def metronome(rng: random.Random, start: float, end: float, period: float, jitter: float) -> list[float]:
    """Machine timing: one request every ``period`` seconds +- ``jitter`` (fraction)."""
    ts, t = [], start
    while t < end:
        ts.append(round(t, 3))
        t += period * rng.uniform(1 - jitter, 1 + jitter)
    return ts


def poisson(rng: random.Random, start: float, end: float, rate_at) -> list[float]:
    """Poisson arrivals with rate ``rate_at(t)`` per second (thinning; rate_at <= 1 at its peak scale)."""
    peak = max(rate_at(start + i * 600.0) for i in range(int((end - start) / 600.0) + 1)) * 1.05
    ts, t = [], start
    while True:
        t += rng.expovariate(peak)
        if t >= end:
            return ts
        if rng.random() < rate_at(t) / peak:
            ts.append(round(t, 3))


def latency(rng: random.Random, out_tokens: int, tok_per_s: float = 70.0) -> int:
    return int(350 + 1000 * out_tokens / tok_per_s * rng.uniform(0.85, 1.2))


# --------------------------------------------------------------------------- #
# Prompt material

EN_PROBLEMS = (
    lambda r: f"Find all real solutions of x^3 - {r.randint(4, 12)}x^2 + {r.randint(10, 40)}x - {r.randint(6, 60)} = 0.",
    lambda r: f"Prove that {r.choice([3, 5, 7])}^n - 1 is divisible by {r.choice([2, 4])} for every positive integer n, and check n = {r.randint(2, 9)}.",
    lambda r: f"A train leaves at {r.randint(6, 11)}:{r.choice(['00', '15', '30', '45'])} at {r.randint(60, 120)} km/h; a second leaves {r.randint(10, 50)} minutes later at {r.randint(130, 200)} km/h. When does the second catch up?",
    lambda r: f"Design an algorithm for the longest increasing subsequence of {r.randint(10, 99)}000 integers in O(n log n) time and analyse it.",
    lambda r: f"How many {r.randint(3, 6)}-element subsets of {{1, ..., {r.randint(12, 30)}}} contain no two consecutive integers?",
    lambda r: f"A bag holds {r.randint(3, 12)} red and {r.randint(3, 12)} blue marbles. Two are drawn without replacement. What is the probability that they differ in colour?",
    lambda r: f"Is this argument valid? All {r.choice(['poets', 'cats', 'engineers', 'pilots'])} are {r.choice(['dreamers', 'mammals', 'planners'])}; some {r.choice(['dreamers', 'mammals', 'planners'])} are {r.choice(['tall', 'careful', 'left-handed'])}; so some of the first group are {r.choice(['tall', 'careful', 'left-handed'])}.",
    lambda r: f"Compute the determinant of [[{r.randint(-9, 9)}, {r.randint(-9, 9)}, {r.randint(-9, 9)}], [{r.randint(-9, 9)}, {r.randint(-9, 9)}, {r.randint(-9, 9)}], [{r.randint(-9, 9)}, {r.randint(-9, 9)}, {r.randint(-9, 9)}]].",
    lambda r: f"Estimate how many piano tuners work in a city of {r.randint(2, 12)} million people.",
    lambda r: f"What is the worst-case time complexity of {r.choice(['quicksort with median-of-three pivots', 'Dijkstra with a binary heap', 'building a suffix array naively', 'union-find with path compression only'])}, and when is it reached?",
    lambda r: f"A ball is thrown at {r.randint(20, 70)} degrees and {r.randint(10, 40)} m/s on the Moon. How far does it travel compared with on Earth?",
    lambda r: f"Given a weighted graph with {r.randint(5, 12)} vertices where every edge weight is distinct, show that the minimum spanning tree is unique.",
    lambda r: f"In how many ways can {r.randint(6, 10)} people sit around a round table if two particular people refuse to sit next to each other?",
    lambda r: f"Why does adding salt raise the boiling point of water, and by roughly how much for {r.randint(10, 90)} g of NaCl per litre?",
)

# Ways a harvester asks for the written-out reasoning (English), varied.
EN_WRAPS = (
    "Solve the following and show your reasoning step by step. {p}",
    "{p} Think it through carefully and write out your full reasoning before the final answer.",
    "Explain your reasoning in detail: {p}",
    "Let's think about this carefully. {p}",
    "Walk me through the solution: {p}",
    "Before giving your final answer, explain each step. {p}",
    "{p} Provide a detailed derivation and justify each step.",
    "Use a scratchpad: reason through the problem, then answer. {p}",
    "Give your complete thought process for this one. {p}",
    "{p} Show all your work.",
    "Describe your chain of thought as you solve: {p}",
    "{p} Lay out the intermediate steps and the reasoning behind each one.",
)
EN_PLAIN = ("{p}", "{p} Final answer only, please.")

ML = {
    "es": (
        (
            lambda r: f"Un tren sale a las {r.randint(6, 11)}:00 a {r.randint(60, 120)} km/h; otro sale {r.randint(10, 50)} minutos después a {r.randint(130, 200)} km/h. ¿Cuándo lo alcanza?",
            lambda r: f"Demuestra que la suma de los primeros n números impares es n^2 y compruébalo para n = {r.randint(5, 40)}.",
            lambda r: f"¿Cuál es la probabilidad de obtener exactamente {r.randint(2, 6)} caras en {r.randint(8, 14)} lanzamientos de una moneda?",
        ),
        (
            "Resuelve paso a paso: {p}",
            "{p} Explica todo tu razonamiento antes de la respuesta final.",
            "Muestra tu trabajo completo y justifica cada paso. {p}",
        ),
    ),
    "zh": (
        (
            lambda r: f"一列火车以每小时{r.randint(60, 120)}公里的速度出发，{r.randint(10, 50)}分钟后另一列以每小时{r.randint(130, 200)}公里的速度追赶，何时追上？",
            lambda r: f"证明前n个奇数之和等于n的平方，并验证n={r.randint(5, 40)}的情况。",
            lambda r: f"袋中有{r.randint(3, 12)}个红球和{r.randint(3, 12)}个蓝球，不放回地取两个，颜色不同的概率是多少？",
        ),
        (
            "请一步一步地解答，并写出完整的推理过程：{p}",
            "{p} 请给出详细步骤。",
            "请逐步分析下面的问题：{p}",
        ),
    ),
    "de": (
        (
            lambda r: f"Ein Zug fährt um {r.randint(6, 11)} Uhr mit {r.randint(60, 120)} km/h los; ein zweiter folgt {r.randint(10, 50)} Minuten später mit {r.randint(130, 200)} km/h. Wann holt er ihn ein?",
            lambda r: f"Beweise, dass n^3 - n für jede ganze Zahl n durch 6 teilbar ist, und prüfe n = {r.randint(5, 40)}.",
            lambda r: f"Wie viele Teilmengen mit {r.randint(2, 6)} Elementen hat eine Menge mit {r.randint(8, 20)} Elementen?",
        ),
        (
            "Erkläre Schritt für Schritt: {p}",
            "{p} Lege deinen Gedankengang vollständig dar.",
            "Zeige den vollständigen Lösungsweg: {p}",
            "{p} Begründe jeden Schritt ausführlich.",
        ),
    ),
    "ja": (
        (
            lambda r: f"時速{r.randint(60, 120)}kmの列車が出発し、{r.randint(10, 50)}分後に時速{r.randint(130, 200)}kmの列車が追いかけます。いつ追いつきますか？",
            lambda r: f"1から{r.randint(50, 500)}までの整数の和を求めなさい。",
            lambda r: f"赤玉{r.randint(3, 12)}個と青玉{r.randint(3, 12)}個から2個取り出すとき、色が異なる確率を求めなさい。",
        ),
        (
            "ステップバイステップで考えてください。{p}",
            "{p} 推論の過程をすべて書いてください。",
            "{p} 順を追って説明してください。",
            "段階的に解いてください：{p}",
        ),
    ),
    "ru": (
        (
            lambda r: f"Поезд выходит в {r.randint(6, 11)}:00 со скоростью {r.randint(60, 120)} км/ч, второй — через {r.randint(10, 50)} минут со скоростью {r.randint(130, 200)} км/ч. Когда второй догонит первый?",
            lambda r: f"Докажите, что n^3 - n делится на 6 при любом целом n, и проверьте n = {r.randint(5, 40)}.",
            lambda r: f"Сколько существует подмножеств из {r.randint(2, 6)} элементов у множества из {r.randint(8, 20)} элементов?",
        ),
        (
            "Реши задачу шаг за шагом: {p}",
            "{p} Покажи весь ход рассуждений.",
            "Дай пошаговое решение: {p}",
        ),
    ),
    "ko": (
        (
            lambda r: f"시속 {r.randint(60, 120)}km로 출발한 기차를 {r.randint(10, 50)}분 뒤 시속 {r.randint(130, 200)}km 기차가 쫓아갑니다. 언제 따라잡습니까?",
            lambda r: f"1부터 {r.randint(50, 500)}까지의 정수의 합을 구하시오.",
            lambda r: f"빨간 공 {r.randint(3, 12)}개와 파란 공 {r.randint(3, 12)}개 중 2개를 뽑을 때 색이 다를 확률은?",
        ),
        (
            "단계별로 풀어 주세요: {p}",
            "{p} 풀이 과정을 자세히 보여 주세요.",
            "{p} 추론 과정을 모두 적어 주세요.",
        ),
    ),
}

# --------------------------------------------------------------------------- #
# Shared traffic shapes


def harvest_event(r, ids, t, acct, text, *, key, ip, ua, model="frontier-large", max_tokens=4096):
    """One single-turn harvesting request: short prompt, long answer."""
    if r.random() < 0.12:
        out, finish = max_tokens, "length"
    else:
        out, finish = r.randint(1300, min(3900, max_tokens - 50)), "stop"
    return event(
        t, ids(), acct, model, api_key_id=key, client_ip=ip, user_agent=ua,
        latency_ms=latency(r, out), finish_reason=finish,
        usage={"input_tokens": r.randint(60, 230), "output_tokens": out},
        params={"temperature": 0.7, "max_tokens": max_tokens, "n": 1},
        prompt={"messages_count": 1, "text": text},
    )


def english_harvest_prompt(r: random.Random, plain_share: float = 0.1) -> str:
    p = r.choice(EN_PROBLEMS)(r)
    wrap = r.choice(EN_PLAIN) if r.random() < plain_share else r.choice(EN_WRAPS)
    return wrap.format(p=p)


CHAT_OPENERS = (
    "what can I cook with {a}, {b} and some rice?",
    "I have {n} guests coming, is a {dish} enough for everyone?",
    "how long should I roast a {n} kg chicken?",
    "can I replace butter with olive oil in {dish}?",
    "my {dish} came out dry last time, any tips?",
    "give me a vegetarian version of {dish}",
    "what wine goes with {dish}?",
)
CHAT_FOLLOWUPS = (
    "ok thanks, and how much {a} would I need?",
    "nice! can I make it the day before?",
    "what if I don't have an oven?",
    "could you make it spicier?",
    "sounds good. shopping list please",
    "how many calories roughly?",
    "my kid doesn't like {a}, what else works?",
    "perfect, thank you!",
)
INGREDIENTS = ("chickpeas", "spinach", "leeks", "feta", "salmon", "mushrooms", "lentils", "tofu", "pumpkin", "zucchini")
DISHES = ("lasagna", "risotto", "shakshuka", "paella", "ramen", "pot roast", "curry", "quiche")


def chat_text(r: random.Random, first: bool) -> str:
    tpl = r.choice(CHAT_OPENERS if first else CHAT_FOLLOWUPS)
    a, b = r.sample(INGREDIENTS, 2)
    return tpl.format(a=a, b=b, n=r.randint(2, 12), dish=r.choice(DISHES))


def chat_app(r, ids, acct, start, end, *, conv_rate_per_min, key, ips, ua, model="frontier-medium",
             premium_share=0.0, premium_model="frontier-large"):
    """A consumer chat app: conversations start as a Poisson process, turns at human pace;
    ``premium_share`` of the conversations (paying users) go to ``premium_model``."""
    evs = []
    starts = poisson(r, start, end, lambda t: conv_rate_per_min / 60.0)
    for c, t in enumerate(starts):
        conv = f"conv-{r.getrandbits(40):010x}"
        user = f"u-{r.randint(1000, 99999)}"
        turns = r.randint(1, 6)
        conv_model = premium_model if r.random() < premium_share else model
        mc = 1 + 2 * r.randint(1, 2)  # the app replays a greeting exchange before the first question
        for k in range(turns):
            out = r.randint(120, 650)
            evs.append(event(
                t, ids(), acct, conv_model, api_key_id=key, client_ip=r.choice(ips), user_agent=ua,
                latency_ms=latency(r, out), finish_reason="stop",
                conversation_id=conv, user_id=user,
                usage={"input_tokens": 180 + 160 * mc + r.randint(0, 200), "output_tokens": out},
                params={"temperature": 0.8, "max_tokens": 1024, "stream": True},
                prompt={"messages_count": mc, "text": chat_text(r, k == 0)},
            ))
            mc += 2
            t += r.lognormvariate(math.log(70.0), 0.6)  # reading and typing
            if t >= end:
                break
    return evs


# --------------------------------------------------------------------------- #
# The cases


def case_01(r: random.Random) -> list[bytes]:
    """English reasoning harvester: single-turn, varied elicitation, long answers, metronome, 2.5 h."""
    ids, acct = Ids(r), "acct-golden-reasoning-en"
    hosts = [ipv4(r, "203.0.113") for _ in range(3)]
    evs = [
        harvest_event(r, ids, t, acct, english_harvest_prompt(r), key="key-rh-en-1", ip=r.choice(hosts),
                      ua="python-requests/2.32.3")
        for t in metronome(r, T0 + 7.0, T0 + 2.0 * HOUR, 24.0, 0.1)
    ]
    return render(evs, r)


def case_02(r: random.Random) -> list[bytes]:
    """Multilingual reasoning harvester (es, zh, de, ja, ru, ko), 2.5 h."""
    ids, acct = Ids(r), "acct-golden-reasoning-ml"
    hosts = [ipv6(r, 0x52) for _ in range(2)] + [ipv4(r, "198.51.100")]
    langs = list(ML)
    evs = []
    for t in metronome(r, T0 + 31.0, T0 + 2.0 * HOUR, 24.0, 0.1):
        problems, wraps = ML[r.choice(langs)]
        p = r.choice(problems)(r)
        text = p if r.random() < 0.08 else r.choice(wraps).format(p=p)
        evs.append(harvest_event(r, ids, t, acct, text, key="key-rh-ml-1", ip=r.choice(hosts),
                                 ua="python-httpx/0.27.2", max_tokens=8192))
    return render(evs, r, offsets=(540, 480, 60, 180))


def case_03(r: random.Random) -> list[bytes]:
    """Logprob harvester: long completions with top-k logprobs, 4-temperature sweeps, n > 1."""
    ids, acct = Ids(r), "acct-golden-logprobs"
    topics = ("B-tree concurrency control", "the history of the printing press", "Rust lifetimes",
              "monetary policy transmission", "CRISPR off-target effects", "TCP congestion control",
              "Byzantine fault tolerance", "the water cycle", "Kalman filters", "medieval trade routes")
    tasks = ("Write a detailed technical article on {x}.", "Write a long tutorial on {x} with examples.",
             "Write an extensive encyclopedia entry about {x}.", "Write a long-form essay on {x} for a general audience.")
    hosts = [ipv4(r, "192.0.2", 100, 120) for _ in range(2)]
    evs = []
    times = metronome(r, T0 + 3.0, T0 + 1.5 * HOUR, 18.0, 0.08)
    for i, t in enumerate(times):
        if i % 4 == 0:
            text = r.choice(tasks).format(x=r.choice(topics)) + f" Part {r.randint(1, 40)}."
        temp = (0.2, 0.6, 1.0, 1.4)[i % 4]  # the same prompt at four temperatures
        n = r.choice((1, 2, 3, 4))
        per_choice = [r.randint(1000, 4000) for _ in range(n)]
        out = sum(per_choice)
        evs.append(event(
            t, ids(), acct, "frontier-large", api_key_id="key-lp-1", client_ip=r.choice(hosts),
            user_agent="OpenAI/Python 1.52.0", latency_ms=latency(r, max(per_choice)),
            finish_reason="stop", usage={"input_tokens": r.randint(20, 40), "output_tokens": out},
            params={"temperature": temp, "max_tokens": 4096, "n": n, "logprobs": True,
                    "top_logprobs": r.choice((5, 10, 20))},
            prompt={"messages_count": 1, "text": text},
        ))
    return render(evs, r)


def case_04(r: random.Random) -> list[bytes]:
    """Text-less harvester: no prompt text logged, 50-token prompts, 3k-6k token answers, 14 h."""
    ids, acct = Ids(r), "acct-golden-textless"
    hosts = [f"198.51.100.{h}" for h in (10, 11, 12, 13)]
    sys_hash = "9b1f0c44d6a2e8f3a1c5b7d9e0f2a4c6b8d0e2f4a6c8e0b2d4f6a8c0e2b4d6f8"
    evs = []
    for t in metronome(r, T0 + 12.0, T0 + 14.0 * HOUR, 100.0, 0.05):
        n = 2 if r.random() < 0.2 else 1
        out = sum(r.randint(3000, 6000) for _ in range(n))
        evs.append(event(
            t, ids(), acct, "frontier-large", api_key_id="key-tl-1", client_ip=r.choice(hosts),
            user_agent="Go-http-client/2.0", latency_ms=latency(r, out // n),
            finish_reason="stop", usage={"input_tokens": r.randint(40, 60), "output_tokens": out},
            params={"temperature": 1.0, "max_tokens": 8192, "n": n},
            prompt={"messages_count": 1, "system_sha256": sys_hash},
        ))
    return render(evs, r, mix={"z": 2.0, "unix": 6.0, "offset": 1.0})


def case_05(r: random.Random) -> list[bytes]:
    """Enterprise batch: 2,500 single-turn JSON extractions at temperature 0, metronome.

    The customer has zero data retention, so the gateway logs no prompt text,
    and its exporter writes a lean record: epoch timestamps, no key or address.
    """
    acct = "acct-golden-batch"
    evs = []
    for i, t in enumerate(metronome(r, T0 + 1.5 * HOUR, T0 + 4 * HOUR, 0.75, 0.03)[:2500]):
        out = r.randint(40, 180)
        evs.append(event(
            t, f"b{i:05d}", acct, "frontier-small",  # the job's own sequence numbers
            usage={"input_tokens": r.randint(600, 1500), "output_tokens": out},
            params={"temperature": 0, "response_format": "json_object"}, prompt={"messages_count": 1},
        ))
    return render(evs, r, mix={"unix": 1.0})


def case_06(r: random.Random) -> list[bytes]:
    """Eval runner: pass@20 code runs (n=20, max_tokens 100) and a logprob multiple-choice run."""
    ids, acct = Ids(r), "acct-golden-evals"
    names = ("has_close_elements", "separate_paren_groups", "truncate_number", "below_zero", "mean_abs_dev",
             "intersperse", "parse_nested_parens", "filter_by_substring", "sum_product", "rolling_max",
             "make_palindrome", "string_xor", "longest", "gcd", "all_prefixes", "string_sequence")
    subjects = ("high school physics", "college chemistry", "world history", "econometrics", "virology",
                "formal logic", "anatomy", "moral disputes", "computer security", "astronomy")
    ua, key, ip = "lm-eval-harness/0.4.5", "key-evals-ci", "198.51.100.77"

    def bursts(start: float, count: int, per_burst: int, gap: tuple[float, float]) -> list[float]:
        ts, t = [], start
        while len(ts) < count:
            for _ in range(min(per_burst, count - len(ts))):
                t += r.uniform(0.02, 0.25)
                ts.append(round(t, 3))
            t += r.uniform(*gap)
        return ts

    evs = []
    for start, model in ((T0 + 0.5 * HOUR, "frontier-large"), (T0 + 5.0 * HOUR, "frontier-large-2")):
        for i, t in enumerate(bursts(start, 80, 8, (6.0, 14.0))):
            choices = [r.randint(72, 100) for _ in range(20)]
            fn = names[i % len(names)]
            text = f"Complete this Python function. Code only.\ndef {fn}(xs: list[int], k: int) -> int:\n    \"\"\"Task {i}.\"\"\"\n"
            evs.append(event(
                t, ids(), acct, model, api_key_id=key, client_ip=ip, user_agent=ua, endpoint="completions",
                latency_ms=latency(r, 100, 90.0), finish_reason="length" if max(choices) == 100 else "stop",
                usage={"input_tokens": r.randint(90, 300), "output_tokens": sum(choices)},
                params={"temperature": 0.8, "top_p": 0.95, "max_tokens": 100, "n": 20},
                prompt={"messages_count": 1, "text": text},
            ))
    for i, t in enumerate(bursts(T0 + 2.5 * HOUR, 240, 12, (1.0, 3.0))):
        subj = subjects[i % len(subjects)]
        text = (f"Multiple choice ({subj}), question {i}. A) {r.randint(1, 99)} B) {r.randint(1, 99)} "
                f"C) {r.randint(1, 99)} D) none\nAnswer:")
        evs.append(event(
            t, ids(), acct, "frontier-large", api_key_id=key, client_ip=ip, user_agent=ua, endpoint="completions",
            latency_ms=r.randint(120, 400), finish_reason="length",
            usage={"input_tokens": r.randint(80, 400), "output_tokens": 1},
            params={"temperature": 0, "max_tokens": 1, "logprobs": True, "top_logprobs": 5},
            prompt={"messages_count": 1, "text": text},
        ))
    return render(evs, r)


def case_07(r: random.Random) -> list[bytes]:
    """Coding agent: three developers' agent sessions in working hours (UTC+1)."""
    ids, acct = Ids(r), "acct-golden-coding-agent"
    tasks = (
        "Fix the failing test in tests/test_billing.py::test_prorate_partial_month",
        "Add pagination to the /v2/orders endpoint and update the OpenAPI spec",
        "Refactor the retry logic in src/http/client.py to use exponential backoff",
        "Upgrade the project from pydantic v1 to v2 and fix the validators",
        "The CI lint job fails on main, find out why and fix it",
        "Add a --dry-run flag to the migrate command",
        "Write unit tests for the CSV importer edge cases (empty file, BOM, quoted newlines)",
        "Walk me through how the cache invalidation in src/cache/lru.py works, then fix the stale read bug",
        "Rename the Customer model field `addr` to `address` across the codebase",
        "Profile the report generator and speed up the slowest query",
        "Implement the feature flag check in the checkout flow",
        "Investigate the memory leak in the websocket handler",
    )
    devs = [("dev-anna", "key-ca-anna", 12), ("dev-bruno", "key-ca-bruno", 18), ("dev-chen", "key-ca-chen", 27)]
    office = [f"198.51.100.{h}" for h in (30, 31)] + [ipv6(r, 0xC0DE)]
    evs = []
    session_starts = sorted(T0 + 7 * HOUR + r.uniform(0, 9.5 * HOUR) for _ in range(12))
    for s, t in enumerate(session_starts):
        dev, key, tools = devs[s % 3]
        task = tasks[(s * 5) % len(tasks)]
        ip = r.choice(office)
        steps = r.randint(10, 45)
        mc = 5
        for step in range(steps):
            last = step == steps - 1
            out = r.randint(900, 1800) if r.random() < 0.08 else r.randint(40, 600)
            evs.append(event(
                t, ids(), acct, "frontier-large", api_key_id=key, client_ip=ip, user_agent="agentkit/1.8.2",
                endpoint="messages", user_id=dev, conversation_id=f"sess-{s:03d}",
                latency_ms=latency(r, out, 80.0), finish_reason="stop" if last else "tool_calls",
                usage={"input_tokens": min(120_000, 6000 + 1400 * step + r.randint(0, 3000)), "output_tokens": out},
                params={"temperature": 0.2, "max_tokens": 8192, "tools_count": tools, "stream": True},
                prompt={"messages_count": mc, "text": task},
            ))
            mc = mc + 2 if mc < 58 else 30  # the agent compacts its context
            t += r.lognormvariate(math.log(9.0), 0.7)
    return render(evs, r, offsets=(60,))


def case_08(r: random.Random) -> list[bytes]:
    """Tutoring app (US Eastern): multi-turn, ~30 % step-by-step questions, human pace, diurnal."""
    ids, acct = Ids(r), "acct-golden-tutoring"
    stepwise = (
        "can you explain step by step how to solve {a}x + {b} = {c}?",
        "explain the steps to find the area of a triangle with sides {a}, {b} and {c}",
        "walk me through balancing Fe + O2 -> Fe2O3",
        "show me the steps for long division of {c}{a} by {b}",
        "can you go step by step through why the derivative of x^{a} is {a}x^{b}?",
    )
    other = (
        "is x = {a} right?", "what's the difference between mitosis and meiosis?", "thanks!! can I have another one?",
        "I got {c}, where did I go wrong?", "what does {a} mod {b} mean?", "ok that makes sense",
        "can you give me a practice question on fractions?", "why is the sky blue", "how do I cite a website in MLA?",
        "what year did the Berlin Wall fall?",
    )

    def rate(t: float) -> float:  # conversations per second by local (UTC-5) hour: after school and evening peaks
        h = ((t - T0) / HOUR - 5) % 24
        level = 0.04 if 1 <= h < 7 else (0.35 if h < 14 or h >= 23 else 1.0)
        return level * 0.16 / 60.0

    evs = []
    for t in poisson(r, T0, T0 + 24 * HOUR, rate):
        conv, user = f"conv-{r.getrandbits(40):010x}", f"student-{r.randint(100, 9999)}"
        mc = 3
        for _ in range(r.randint(2, 7)):
            fmt = r.choice(stepwise) if r.random() < 0.3 else r.choice(other)
            text = fmt.format(a=r.randint(2, 9), b=r.randint(2, 9), c=r.randint(10, 60))
            out = r.randint(150, 700)
            evs.append(event(
                t, ids(), acct, "frontier-medium", api_key_id="key-tutor-prod", client_ip=ipv4(r, "203.0.113", 60, 63),
                user_agent="tutorly-api/2.3.1", latency_ms=latency(r, out),
                finish_reason="stop", conversation_id=conv, user_id=user,
                usage={"input_tokens": 350 + 220 * mc + r.randint(0, 150), "output_tokens": out},
                params={"temperature": 0.7, "max_tokens": 1024, "stream": True},
                prompt={"messages_count": mc, "text": text},
            ))
            mc = min(15, mc + 2)
            t += r.lognormvariate(math.log(75.0), 0.7)  # reading, thinking, typing
    return render(evs, r, mix={"offset": 5.0, "z": 3.0, "unix": 2.0}, offsets=(-300,))


TAKEOVER = T0 + 6 * HOUR  # 2026-11-28T06:00:00Z


def case_09(r: random.Random) -> list[bytes]:
    """Compromised key: 7 h of a recipe chat app; from 06:00Z a new key and new networks harvest reasoning.

    Paying users' conversations go to frontier-large, the model the attacker uses too, so the
    attacker's model is no newer to the partition than in production (no release-chasing artefact).
    """
    ids, acct = Ids(r), "acct-golden-recipes"
    evs = chat_app(r, ids, acct, T0, T0 + 7 * HOUR, conv_rate_per_min=0.16, key="key-recipes-prod",
                   ips=[f"192.0.2.{h}" for h in (20, 21, 22)], ua="recipe-app-backend/3.4.0", premium_share=0.2)
    attacker_hosts = [ipv4(r, "203.0.113") for _ in range(3)] + [ipv6(r, 0xA7) for _ in range(2)]
    for t in metronome(r, TAKEOVER + 2.0, TAKEOVER + 32 * MIN, 4.0, 0.1):
        evs.append(harvest_event(r, ids, t, acct, english_harvest_prompt(r), key="key-recipes-staging",
                                 ip=r.choice(attacker_hosts), ua="python-httpx/0.27.2"))
    return render(evs, r, offsets=(480,))


def case_10(r: random.Random) -> list[bytes]:
    """Hydra: 8 quiet accounts take turns on one templated reasoning prompt from 2 shared prefixes."""
    ids = Ids(r)
    members = [f"acct-golden-hydra-{i:02d}" for i in range(1, 9)]
    fields = ("number theory", "combinatorics", "probability", "geometry", "linear algebra", "graph theory")
    problems = (
        "how many lattice paths from (0,0) to ({a},{b}) avoid the diagonal?",
        "find the remainder of {a}^{b} divided by {c}.",
        "what is the expected number of rolls to see all six faces?",
        "prove the triangle with sides {a}, {b}, {c} is obtuse or not.",
        "count the spanning trees of the complete graph on {a} vertices.",
        "find the rank of a {a}x{b} matrix whose entries are i + j.",
    )
    template = ("You are an expert {f} tutor preparing worked solutions. Problem {k}: {p} "
                "Write out your complete reasoning step by step, checking each step, "
                "then give the final answer on the last line.")
    evs = []
    order = list(members)
    for i, t in enumerate(metronome(r, T0 + 40.0, T0 + 6 * HOUR, 135.0, 0.15)):
        if i % 8 == 0:
            r.shuffle(order)  # every round each member takes one turn, in a new order
        acct = order[i % 8]
        p = r.choice(problems).format(a=r.randint(3, 12), b=r.randint(3, 12), c=r.randint(3, 12))
        text = template.format(f=r.choice(fields), k=r.randint(1, 5000), p=p)
        prefix = r.choice(("203.0.113", "198.51.100"))
        evs.append(harvest_event(r, ids, t, acct, text, key=f"key-{acct[-8:]}", ip=ipv4(r, prefix),
                                 ua="python-httpx/0.27.0"))
    return render(evs, r)


def case_11(r: random.Random) -> list[bytes]:
    """Five research teams run the same public yes/no benchmark at temperature 0 (short answers)."""
    ids = Ids(r)
    subjects = ("the Amazon river", "photosynthesis", "the Treaty of Westphalia", "neutron stars", "the euro",
                "Mount Kilimanjaro", "the printing press", "honey bees", "the Suez Canal", "jazz")
    items = []
    for i in range(80):
        s = subjects[i % len(subjects)]
        items.append(f"Passage {i} ({s}).\nQuestion: is claim {1 + i % 4} about {s} true?\nAnswer yes or no.")
    teams = (
        ("acct-golden-bench-team-a", T0 + 1.0 * HOUR, "192.0.2.130", "frontier-large"),
        ("acct-golden-bench-team-b", T0 + 2.5 * HOUR, "198.51.100.140", "frontier-large"),
        ("acct-golden-bench-team-c", T0 + 4.0 * HOUR, ipv6(r, 0x1B), "frontier-medium"),
        ("acct-golden-bench-team-d", T0 + 9.0 * HOUR, "203.0.113.150", "frontier-large"),
        ("acct-golden-bench-team-e", T0 + 13.0 * HOUR, "192.0.2.160", "frontier-large-2"),
    )
    evs = []
    for acct, start, ip, model in teams:
        t = start
        for text in items:
            t += r.uniform(0.2, 0.9)
            out = r.randint(1, 2)
            evs.append(event(
                t, ids(), acct, model, api_key_id=f"key-{acct[-6:]}", client_ip=ip, user_agent="benchkit/0.9",
                latency_ms=r.randint(150, 500), finish_reason="stop",
                usage={"input_tokens": r.randint(60, 90), "output_tokens": out},
                params={"temperature": 0, "max_tokens": 5},
                prompt={"messages_count": 1, "text": text},
            ))
    return render(evs, r)


# Case 12: where the rejects and the re-deliveries go (1-based line numbers of the final file).
BAD_LINES = (7, 23, 41, 58, 77, 96, 115, 133, 150, 171)
DUPLICATE_LINES = (30, 64, 90, 140, 185)


def case_12(r: random.Random) -> list[bytes]:
    """Bad input: valid traffic (a harvester and a chat app) with 10 kinds of rejects and 5 re-deliveries."""
    ids = Ids(r)
    harv, chat = "acct-golden-bad-harvester", "acct-golden-bad-chat"
    evs = [harvest_event(r, ids, t, harv, english_harvest_prompt(r), key="key-bh-1", ip=ipv4(r, "203.0.113"),
                         ua="python-requests/2.32.3")
           for t in metronome(r, T0 + 5.0, T0 + 40 * MIN, 10.0, 0.1)][:160]
    chat_evs = chat_app(r, ids, chat, T0, T0 + 40 * MIN, conv_rate_per_min=0.6, key="key-bc-1",
                        ips=["192.0.2.40"], ua="recipe-app-backend/3.4.0")
    evs += sorted(chat_evs, key=lambda e: e[0])[:40]
    assert len(evs) == 200, len(evs)
    valid = render(evs, r)
    ts = "2026-11-28T00:10:00Z"
    base = f'"account_id":"{chat}","model":"frontier-medium"'
    bad = [
        # 1 bad JSON (cut off mid-object)
        f'{{"request_id":"bad-01","timestamp":"{ts}",{base},"status_code":200,"usage":{{"input_tokens":41'.encode(),
        # 2 wrong type: status_code as a string
        f'{{"request_id":"bad-02","timestamp":"{ts}",{base},"status_code":"200"}}'.encode(),
        # 3 missing required field: no model
        f'{{"request_id":"bad-03","timestamp":"{ts}","account_id":"{chat}","status_code":200}}'.encode(),
        # 4 status out of range
        f'{{"request_id":"bad-04","timestamp":"{ts}",{base},"status_code":999}}'.encode(),
        # 5 negative token count
        f'{{"request_id":"bad-05","timestamp":"{ts}",{base},"status_code":200,"usage":{{"input_tokens":-12,"output_tokens":80}}}}'.encode(),
        # 6 naive timestamp (no offset)
        f'{{"request_id":"bad-06","timestamp":"2026-11-28T00:10:00",{base},"status_code":200}}'.encode(),
        # 7 far-future timestamp
        f'{{"request_id":"bad-07","timestamp":"2150-06-01T00:00:00Z",{base},"status_code":200}}'.encode(),
        # 8 invalid UTF-8 (a Latin-1 e-acute inside the prompt text)
        f'{{"request_id":"bad-08","timestamp":"{ts}",{base},"status_code":200,"prompt":{{"text":"caf'.encode()
        + b"\xe9" + b' au lait?"}}',
        # 9 a batch (JSON array) whose one element is not an object
        b'["bad-09: a string where an event object belongs"]',
        # 10 NaN literal (not JSON)
        f'{{"request_id":"bad-10","timestamp":"{ts}",{base},"status_code":200,"latency_ms":NaN}}'.encode(),
    ]
    out: list[bytes] = []
    emitted: list[bytes] = []
    vi = bi = 0
    while vi < len(valid):
        lineno = len(out) + 1
        if lineno in BAD_LINES:
            out.append(bad[bi])
            bi += 1
        elif lineno in DUPLICATE_LINES:
            out.append(emitted[-4])  # a re-delivery of the event four valid lines back
        else:
            out.append(valid[vi])
            emitted.append(valid[vi])
            vi += 1
    assert bi == len(bad)
    return out


CASES = {
    "01-reasoning-harvester-en": (case_01, 101),
    "02-reasoning-harvester-multilingual": (case_02, 102),
    "03-logprob-harvester": (case_03, 103),
    "04-textless-harvester": (case_04, 104),
    "05-enterprise-batch": (case_05, 105),
    "06-eval-runner-pass-at-k": (case_06, 106),
    "07-coding-agent": (case_07, 107),
    "08-tutoring-app": (case_08, 108),
    "09-compromised-key": (case_09, 109),
    "10-hydra-network": (case_10, 110),
    "11-shared-benchmark-teams": (case_11, 111),
    "12-bad-input": (case_12, 112),
}


def main(argv: list[str]) -> None:
    for name, (build, seed) in CASES.items():
        if argv and not any(name.startswith(a) for a in argv):
            continue
        write(name, build(random.Random(seed)))


if __name__ == "__main__":
    main(sys.argv[1:])
