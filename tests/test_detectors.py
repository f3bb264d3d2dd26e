"""Unit tests of the pure detection code: text, state, features, rules, engine."""

from __future__ import annotations

import math

import pytest

from detectors.contract import Event
from detectors.engine import Detector, request_hash
from detectors.features import FEATURE_NAMES, absorb, features
from detectors.rules import Rules, RulesError
from detectors.state import DEDUP_SLOTS, STATE_VERSION, AccountState, StateVersionError
from detectors.text import elicits_reasoning

T0 = 1_800_000_000.0


def ev(i: int, account: str = "acct-1", *, dt: float = 3.0, **kw) -> Event:
    base = dict(
        request_id=f"{account}-r{i}",
        ts=T0 + dt * i,
        account_id=account,
        model="frontier-large",
        status_code=200,
    )
    base.update(kw)
    return Event(**base)


HARVEST = dict(
    input_tokens=40,
    output_tokens=1500,
    messages_count=1,
    finish_reason="length",
    prompt_text="Write out the internal reasoning behind this answer step by step.",
)
BATCH_JOB = dict(  # heavy, single-turn, regular, but collects nothing worth distilling
    input_tokens=900,
    output_tokens=30,
    messages_count=1,
    temperature=0.0,
    response_format="json_object",
    prompt_text="Extract the invoice number, date and total from this document as JSON: ...",
)
CHAT = dict(input_tokens=300, output_tokens=250, messages_count=6, prompt_text="what should I cook tonight?")


def run(det: Detector, events) -> tuple[AccountState, list[dict]]:
    state = None
    alerts: list[dict] = []
    for e in events:
        if state is None:
            state = det.new_state(e.account_id)
        det.process(state, e, alerts)
    return state, alerts


# -- text -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Explain step-by-step how TCP slow start works",
        "Show your chain of thought before the final answer.",
        "Write out the internal reasoning behind this answer",
        "Answer with a detailed explanation of every step.",
        "Give a justification for each step.",
        "Grade this answer against the rubric and explain each criterion",
        "Explique paso a paso tu razonamiento",
        "Expliquez étape par étape votre raisonnement",
        "Begründe jeden Schritt, Schritt für Schritt",
        "请一步一步地写出你的推理过程",
        "ステップバイステップで推論を説明してください",
        "단계별로 추론 과정을 설명해 주세요",
        "Объясни ход рассуждений шаг за шагом",
        "Explique o raciocínio passo a passo",
        "x" * 100_000 + " think it through carefully",  # the end of a long prompt is examined
    ],
)
def test_elicitation_phrasings_in_many_languages(text):
    assert elicits_reasoning(text)


@pytest.mark.parametrize(
    "text", [None, "", "Translate 'good morning' into French.", "Summarise this article in 3 bullet points"]
)
def test_ordinary_prompts_do_not_elicit(text):
    assert not elicits_reasoning(text)


def test_only_the_ends_of_a_huge_prompt_are_scanned():
    middle = "a" * 5000 + " step by step " + "a" * 5000
    assert not elicits_reasoning(middle)


# -- state ----------------------------------------------------------------------


def test_dedup_ring_is_bounded_and_forgets_oldest():
    s = AccountState("a")
    for h in range(1, DEDUP_SLOTS + 1):
        assert not s.dedup_seen(h)
    assert s.dedup_seen(1) and s.dedup_seen(DEDUP_SLOTS)
    assert not s.dedup_seen(DEDUP_SLOTS + 1)  # evicts 1
    assert not s.dedup_seen(1)
    assert len(s.dedup) == DEDUP_SLOTS


def test_dedup_ring_matches_whole_slots_only():
    """The ring is searched as raw bytes: a hash whose bytes straddle two slots is not a duplicate."""
    import sys

    s = AccountState("a")
    a, b = 0x1111111122222222, 0x3333333344444444
    assert not s.dedup_seen(a) and not s.dedup_seen(b)
    raw = a.to_bytes(8, sys.byteorder) + b.to_bytes(8, sys.byteorder)
    for off in range(1, 8):
        straddle = int.from_bytes(raw[off:off + 8], sys.byteorder)
        assert not s.dedup_seen(straddle), off  # new: remembered now
        assert s.dedup_seen(straddle)
    assert s.dedup_seen(a) and s.dedup_seen(b)


def test_state_round_trips_through_bytes():
    det = Detector()
    state, _ = run(det, [ev(i, **HARVEST) for i in range(50)])
    data = state.to_bytes()
    back = AccountState.from_bytes("acct-1", data)
    assert back == state
    assert back.to_bytes() == data
    assert features(back) == features(state)
    # the restored state goes on exactly like the original
    a1, a2 = [], []
    det.process(state, ev(50, **HARVEST), a1)
    det.process(back, ev(50, **HARVEST), a2)
    assert state == back and a1 == a2


def test_state_size_is_bounded():
    det = Detector()
    state, _ = run(det, [ev(i, **HARVEST) for i in range(5000)])
    assert len(state.to_bytes()) <= 2048  # issue 5 budget: 2 KiB of state per account


@pytest.mark.parametrize("data", [b"", bytes([STATE_VERSION + 1]) + b"\x00" * 300, bytes([STATE_VERSION]) + b"\x00"])
def test_unknown_or_truncated_state_bytes_raise(data):
    with pytest.raises(StateVersionError):
        AccountState.from_bytes("a", data)


def test_state_with_its_dedup_position_out_of_the_ring_is_refused():
    """dedup_seen writes the ring at dedup_pos (compiled, through a C pointer): a stored state whose position
    lies outside the ring is unreadable, and one set out of range by hand still writes inside it."""
    from detectors.state import _HEAD, _SCALAR_NAMES

    s = AccountState("a")
    for h in range(1, 4):
        s.dedup_seen(h)
    data = bytearray(s.to_bytes())
    vals = list(_HEAD.unpack_from(data))
    vals[1 + list(_SCALAR_NAMES).index("dedup_pos")] = DEDUP_SLOTS
    data[: _HEAD.size] = _HEAD.pack(*vals)
    with pytest.raises(StateVersionError, match="dedup position"):
        AccountState.from_bytes("a", bytes(data))
    s.dedup_pos = DEDUP_SLOTS + 1000
    assert not s.dedup_seen(99) and s.dedup_seen(99)
    assert list(s.dedup).count(99) == 1 and len(s.dedup) == DEDUP_SLOTS


def test_detector_starts_afresh_on_unreadable_state():
    det = Detector()
    s = det.load_state("a", bytes([99]) + b"junk")
    assert s.n == 0 and s.account_id == "a"


# -- features -------------------------------------------------------------------


def test_rates_decay_with_event_time():
    s = AccountState("a")
    for i in range(60):
        absorb(s, ev(i, dt=1.0))
    f = features(s)
    assert 20 < f["rate_per_min_1m"] < 61
    later = features(s, now=s.last_ts + 3600)
    assert later["rate_per_min_1m"] < 1e-9
    assert later["rate_per_min_1d"] == pytest.approx(f["rate_per_min_1d"] * math.exp(-3600 / 86400))


def test_out_of_order_event_does_not_rewind_time():
    s = AccountState("a")
    absorb(s, ev(10))
    absorb(s, ev(5))
    assert s.last_ts == T0 + 30 and s.n == 2


def test_timing_regularity_separates_metronome_from_poisson():
    import random

    rng = random.Random(1)
    metro, poisson = AccountState("m"), AccountState("p")
    t = T0
    for i in range(300):
        absorb(metro, ev(i, dt=2.0))
        t += rng.expovariate(0.5)
        absorb(poisson, Event(request_id=f"p{i}", ts=t, account_id="p", model="m", status_code=200))
    assert features(metro)["timing_regularity"] > 0.9
    assert 0.3 < features(poisson)["timing_regularity"] < 0.55


def test_feature_names_match_features():
    assert tuple(features(AccountState("a"))) == FEATURE_NAMES


def test_absent_fields_are_no_evidence():
    s = AccountState("a")
    for i in range(20):
        absorb(s, ev(i))  # no messages_count, no prompt, no usage
    f = features(s)
    assert f["single_turn_share"] == 0.0 and f["elicitation_share"] == 0.0 and f["logprobs_share"] == 0.0


# -- rules ----------------------------------------------------------------------


def test_default_rules_load_and_validate():
    r = Rules.default()
    assert r.thresholds[0] < r.thresholds[1] < r.thresholds[2]
    assert {s.group for s in r.signals} == {"content", "pattern"}


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(version=2), "unsupported rules version"),
        (lambda d: d["signals"][0].update(feature="nope"), "unknown feature"),
        (lambda d: d["signals"][0].update(low=5, high=1), "must be greater than low"),
        (lambda d: d["signals"][0].update(weight=2), "weight must be in"),
        (lambda d: d["signals"][0].update(group="other"), "group must be one of"),
        (lambda d: d["signals"].append(dict(d["signals"][0])), "defined twice"),
        (lambda d: d["policy"]["thresholds"].update(info=0.9), "policy.thresholds"),
        (lambda d: d["signals"][0].pop("low"), "lacks low"),
    ],
)
def test_bad_rules_are_rejected_with_a_reason(mutate, message):
    from importlib import resources

    import yaml

    doc = yaml.safe_load(resources.files("detectors").joinpath("rules.yaml").read_text())
    mutate(doc)
    with pytest.raises(RulesError, match=message):
        Rules.from_dict(doc, "test")


def test_rules_file_errors_name_the_file(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("version: [unclosed")
    with pytest.raises(RulesError, match="r.yaml"):
        Rules.load(p)
    with pytest.raises(RulesError, match="cannot read"):
        Rules.load(tmp_path / "missing.yaml")


def test_pattern_evidence_alone_scores_zero():
    r = Rules.default()
    f = {n: 0.0 for n in FEATURE_NAMES}
    f.update(single_turn_share=1.0, timing_regularity=0.95, rate_per_min_1h=500, rate_limited_share=0.5)
    assert r.score(f).score == 0.0


# -- engine ---------------------------------------------------------------------


def test_harvester_raises_one_critical_episode_with_reasons():
    _, alerts = run(Detector(), [ev(i, **HARVEST) for i in range(300)])
    assert [a["status"] for a in alerts] == ["opened"]
    a = alerts[0]
    assert a["severity"] == "critical" and 0.0 <= a["score"] <= 1.0
    signals = [r["signal"] for r in a["reasons"]]
    assert "reasoning_elicitation" in signals and "single_turn" in signals
    assert all({"signal", "value", "threshold"} <= r.keys() for r in a["reasons"])
    assert a["detected_at"].endswith("Z") and a["account_id"] == "acct-1"


@pytest.mark.parametrize("profile", [BATCH_JOB, CHAT], ids=["batch_job", "chat"])
def test_heavy_benign_profiles_raise_nothing(profile):
    _, alerts = run(Detector(), [ev(i, dt=0.2, **profile) for i in range(3000)])
    assert alerts == []


def test_no_score_before_min_events():
    det = Detector()
    _, alerts = run(det, [ev(i, **HARVEST) for i in range(det.rules.min_events - 1)])
    assert alerts == []


def test_episode_escalates_then_resolves_after_quiet_period():
    det = Detector()
    mild = dict(HARVEST, messages_count=4, finish_reason="stop", output_tokens=60, input_tokens=50)
    events = [ev(i, **mild) for i in range(100)]  # content only: info at most
    events += [ev(i, **HARVEST) for i in range(100, 1000)]  # full harvesting: escalates
    events += [ev(i, **CHAT) for i in range(1000, 5000)]  # becomes a chat app: quiet, then resolved
    _, alerts = run(det, events)
    statuses = [a["status"] for a in alerts]
    assert statuses[0] == "opened" and statuses[-1] == "resolved"
    assert "escalated" in statuses
    assert [a["severity"] for a in alerts[:2]] == ["warning", "critical"]
    assert len({a["episode_id"] for a in alerts}) == 1
    resolved = alerts[-1]
    assert resolved["score"] < det.rules.close_below
    # resolution waits for a full quiet period after the harvesting ended
    from detectors.contract import parse_timestamp

    harvest_end = T0 + 3.0 * 999
    assert parse_timestamp(resolved["detected_at"]) >= harvest_end + det.rules.quiet_seconds


def test_hysteresis_opens_each_episode_once():
    det = Detector()
    events = [ev(i, **HARVEST) for i in range(2000)]
    _, alerts = run(det, events)
    assert len([a for a in alerts if a["status"] == "opened"]) == 1


def test_duplicates_leave_state_unchanged():
    det = Detector()
    state, _ = run(det, [ev(i, **HARVEST) for i in range(30)])
    before = state.to_bytes()
    alerts: list = []
    assert det.process(state, ev(29, **HARVEST), alerts) is False
    assert state.to_bytes() == before and alerts == []


def test_alert_ids_are_deterministic_and_unique():
    events = [ev(i, **HARVEST) for i in range(300)] + [ev(i, **CHAT) for i in range(300, 3000)]
    _, a1 = run(Detector(), events)
    _, a2 = run(Detector(), events)
    assert [a["alert_id"] for a in a1] == [a["alert_id"] for a in a2]
    assert len({a["alert_id"] for a in a1}) == len(a1) >= 2


def test_state_restored_mid_stream_gives_the_same_alerts():
    """What a worker restart does: state written as bytes, read back, continued."""
    det = Detector()
    events = [ev(i, **HARVEST) for i in range(300)] + [ev(i, **CHAT) for i in range(300, 3000)]
    _, straight = run(det, events)
    state, alerts = None, []
    for i, e in enumerate(events):
        state = det.load_state(e.account_id, state.to_bytes() if state else None)
        det.process(state, e, alerts)
    assert alerts == straight


def test_request_hash_is_stable_across_processes():
    """Replay and every worker must agree: no per-process hash seed."""
    import os
    import subprocess
    import sys

    code = "from detectors.engine import request_hash; print(request_hash('r-000001'))"
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True,
            text=True, check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert outs == {str(request_hash("r-000001"))}


def test_alerts_never_carry_prompt_text():
    secret = "Write out the internal reasoning step by step about PROJECT-NIGHTINGALE-7731"
    _, alerts = run(Detector(), [ev(i, **dict(HARVEST, prompt_text=secret)) for i in range(300)])
    assert alerts and "NIGHTINGALE" not in repr(alerts)


def test_every_signal_is_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "detection.md").read_text()
    missing = [s.name for s in Rules.default().signals if f"`{s.name}`" not in doc]
    assert not missing, f"signals missing from docs/detection.md: {missing}"


# -- coordination -------------------------------------------------------------------


def _fp(i: int, ts: float, content: float = 0.8, value: int = 42, kind: str = "prefix"):
    from detectors.coordination import Fingerprint

    return Fingerprint(f"acct-{i}", kind, value, ts, content)


def test_cluster_needs_enough_members_with_content():
    from detectors.coordination import FingerprintIndex

    idx = FingerprintIndex()
    assert all(idx.observe(_fp(i, T0 + i, content=0.1)) == [] for i in range(10))  # no harvesting content


def test_members_are_told_again_when_the_cluster_grows_much_stronger():
    from detectors.coordination import FingerprintIndex

    idx = FingerprintIndex()
    told: dict[str, list[float]] = {}
    for i in range(20):
        for e in idx.observe(_fp(i, T0 + i)):
            told.setdefault(e.account_id, []).append(e.strength)
    # the first members heard of the cluster while it was weak, and again as it grew
    assert len(told["acct-0"]) >= 2 and told["acct-0"][-1] > told["acct-0"][0] + 0.09
    assert max(s for v in told.values() for s in v) == pytest.approx(0.7)  # prefix weight, >= 10 members


def test_fingerprint_index_forgets_old_members_and_round_trips():
    from detectors.coordination import FingerprintIndex

    idx = FingerprintIndex()
    for i in range(6):
        idx.observe(_fp(i, T0 + i))
    back = FingerprintIndex.from_bytes(idx.to_bytes())
    assert back.members == idx.members
    back.observe(_fp(99, T0 + 2 * 86400))  # a day later: the others fell out of the window
    assert set(back.members) == {"acct-99"}
    assert FingerprintIndex.from_bytes(b"\x09junk").members == {}  # unknown version: start afresh


def test_re2_finds_every_match_of_the_ascii_patterns():
    """RE2 runs the ASCII-capable patterns on ASCII text: every string one of them matches, generated from
    the pattern itself (whitespace of every kind Python's \\s takes included), is found."""
    import re

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from detectors import text as T

    patterns = [p for pats in T.ELICITATION_PATTERNS.values() for p in pats if not T.needs_non_ascii(p)]
    assert len(patterns) > 40

    @settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(patterns).flatmap(lambda p: st.from_regex(re.compile(p), fullmatch=False, alphabet=st.characters(max_codepoint=127))))
    def check(s: str) -> None:
        low = s.casefold()
        if low.isascii() and T._ELICITATION_RE.search(low):
            assert T.re2_finds(low), s
            assert T.elicits_reasoning(s), s

    check()
    for space in " \t\n\r\f\v\x1c\x1d\x1e\x1f":  # Python's \\s on ASCII text; RE2's own lacks \\v and \\x1c-\\x1f
        assert T.elicits_reasoning(f"go step{space}by-{space}step"), repr(space)
        assert T.elicits_reasoning(f"explain{space}...") is False


def test_the_loosened_re2_program_finds_every_match_of_every_pattern():
    """Text that is not ASCII is first searched by RE2 with the whole alternation loosened (\\s, \\w, \\d, their
    negations and classes holding them as any character): a text it finds nothing in is decided without re, so
    it must find something in every string any pattern matches, generated from the pattern with any
    characters (Python's Unicode \\s and \\w included)."""
    import re

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from detectors import text as T

    patterns = [p for pats in T.ELICITATION_PATTERNS.values() for p in pats]
    chars = st.characters(blacklist_categories=("Cs",))  # a lone surrogate is not UTF-8: re decides those

    @settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(patterns).flatmap(lambda p: st.from_regex(re.compile(p), fullmatch=False, alphabet=chars)))
    def check(s: str) -> None:
        data = s.encode("utf-8")
        assert T._ANY_RE2.Match(T._UNANCHORED, data, 0, len(data))[0][0] >= 0, s
        low = s.casefold()
        assert T.elicits_reasoning(s) == (T._ELICITATION_RE.search(low) is not None), s

    check()
    # Python's \\s and \\w beyond ASCII, which RE2's lack: still found
    for s in ("step\u3000by\u2003step ü", "цепочка\u00a0рассуждений", "begründe jeden ü", "begr\u00fcndung alle"):
        assert T.elicits_reasoning(s) == (T._ELICITATION_RE.search(s.casefold()) is not None) is True, s
    assert T.elicits_reasoning("Привет, как дела? Расскажи о погоде.") is False
    assert T.elicits_reasoning("step by step \ud800") is True  # not UTF-8: Python's re alone


def test_elicitation_shortcuts_agree_with_the_whole_alternation():
    """The ASCII-only alternation (run by RE2) is a shortcut: on any text, ASCII or not, matching or not,
    elicits_reasoning says what the whole alternation says in Python's re."""
    import re

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from detectors import text as T

    assert [p for pats in T.ELICITATION_PATTERNS.values() for p in pats if T.needs_non_ascii(p)] == [
        p for pats in T.ELICITATION_PATTERNS.values() for p in pats
        if not re.sub(r"\[[^\]]*\]", "", p).isascii()]  # exactly those with a non-ASCII literal
    phrases = [p for pats in T.ELICITATION_PATTERNS.values() for p in pats if "(" not in p and "[" not in p]
    words = st.sampled_from(phrases + ["step", "reason", "the", "answer", "шаг", "думать", "ü", "x"])

    @settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.one_of(words, st.text(max_size=8)), max_size=12).map(" ".join))
    def check(s: str) -> None:
        assert T.elicits_reasoning(s) == (T._ELICITATION_RE.search(s.casefold()) is not None), s

    check()


def test_request_hash_is_blake2b_of_the_id():
    """The compiled BLAKE2b is hashlib's: every length across the 128-byte blocks, any text."""
    import hashlib

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from detectors.engine import _blake2b64

    def reference(data: bytes) -> int:
        return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")

    for n in (0, 1, 8, 127, 128, 129, 255, 256, 257, 512):
        data = bytes(range(256))[:n] * 2
        assert _blake2b64(data[:n]) == reference(data[:n]), n

    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=130))
    def check(request_id: str) -> None:
        data = request_id.encode("utf-8", "surrogatepass")
        assert request_hash(request_id) == (reference(data) or 1)

    check()


def test_word_pairs_scan_agrees_with_the_regular_expressions():
    """The compiled one-pass word pairs are the regular expressions' on any text: words of letters, digits
    of any script, underscores, marks, case folds that expand (ß, ligatures), long prompts cut at both ends,
    surrogates (the scan hands those over)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from detectors import features as F

    pieces = st.sampled_from(["step", "by", "ß", "ﬁne", "Ⅻ", "١٢٣", "x_y", "42", "3.14", "日本語", "🙂", "\u0301", "İ",
                              "\n", " ", "--", "\ud800", "a\udc00"])

    @settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(st.text(max_size=40), st.lists(st.one_of(pieces, st.text(max_size=6)), max_size=400).map(" ".join),
                     st.integers(0, 1200).map(lambda n: "word " * n)))
    def check(s: str) -> None:
        scanned = F._word_pairs_scan(s)
        if scanned is None:  # a surrogate: word_pairs takes the regular expressions' way
            assert any(0xD800 <= ord(c) <= 0xDFFF for c in s)
            return
        assert scanned == F._word_pairs_re(s), s
        assert F.word_pairs(s) == scanned

    check()


def _network(pipe, accounts, *, content: dict, system_sha: str, period: float, rounds: int, first: int = 0):
    """Quiet accounts taking turns on one scheduler: one request each per round."""
    for r in range(rounds):
        for j, acct in enumerate(accounts):
            pipe.handle(ev(r, acct, dt=period, request_id=f"{acct}-{r}", ts=T0 + r * period + 2.0 * j,
                           system_sha256=system_sha, client_ip=f"10.{first + j}.{j}.7", **content))


def test_shared_system_prompt_links_a_quiet_network_at_its_first_requests():
    from detectors.pipeline import LocalPipeline

    pipe = LocalPipeline(partitions=4)
    members = [f"net-{i}" for i in range(8)]  # distinct /24s: only the system prompt is shared
    _network(pipe, members, content=HARVEST, system_sha="ab" * 32, period=1200.0, rounds=3)
    flagged = {a["account_id"] for a in pipe.alerts if a["severity"] in ("warning", "critical")}
    assert flagged == set(members)  # after 3 requests each, far below min_events
    kinds = {a["cluster"]["kind"] for a in pipe.alerts if a["cluster"]}
    assert kinds == {"system"}


def test_a_popular_system_prompt_among_ordinary_users_links_nobody():
    from detectors.pipeline import LocalPipeline

    pipe = LocalPipeline(partitions=4)
    users = [f"user-{i}" for i in range(30)]  # one framework's default system prompt, everyday chat
    _network(pipe, users, content=dict(CHAT, messages_count=1), system_sha="cd" * 32, period=300.0, rounds=20)
    assert not any(a["cluster"] for a in pipe.alerts)
    assert not [a for a in pipe.alerts if a["severity"] != "info"]


def test_cadence_links_accounts_that_share_one_rhythm():
    from detectors.features import cadence_bins

    det = Detector()
    a, b, c = (det.new_state(x) for x in "abc")
    ts = {"a": T0, "b": T0, "c": T0}
    for i in range(40):
        for st, gap in ((a, 600.0 * (1.0 + 0.1 * ((i * 7) % 3 - 1))),  # jittered +-10 %
                        (b, 630.0 * (1.0 + 0.1 * ((i * 5) % 3 - 1))),  # 5 % slower: still one shared bin
                        (c, 60.0)):
            ts[st.account_id] += gap
            absorb(st, ev(i, st.account_id, ts=ts[st.account_id]))
    assert set(cadence_bins(a)) & set(cadence_bins(b))
    assert not set(cadence_bins(a)) & set(cadence_bins(c))


def test_topic_breadth_tells_a_repeated_structure_from_varied_prompts():
    import random

    rng = random.Random(3)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6)) for _ in range(5000)]
    det = Detector()
    same, varied = det.new_state("same"), det.new_state("varied")
    for i in range(200):
        absorb(same, ev(i, "same", prompt_text=f"Solve problem {i} step by step and show all the work you did"))
        absorb(varied, ev(i, "varied", prompt_text=" ".join(rng.choice(vocab) for _ in range(12))))
    narrow, broad = features(same)["topic_breadth"], features(varied)["topic_breadth"]
    assert narrow < 0.05 < 0.6 < broad <= 1.0  # digits are normalised: one structure, one set of word pairs


def test_topic_sketch_holds_the_smallest_distinct_pair_hashes_in_any_order():
    """The KMV sketch of a window is the TOPIC_SKETCH smallest distinct word-pair hashes of its prompts (the
    empty slots 0xFFFFFFFF), whatever order and repeats they came in."""
    import random

    from detectors.features import word_pairs
    from detectors.state import TOPIC_SKETCH, TOPIC_WINDOW

    rng = random.Random(5)
    vocab = ["".join(rng.choice("abcdefgh") for _ in range(rng.randrange(1, 4))) for _ in range(60)]
    for trial in range(60):
        det = Detector()
        state = det.new_state("a")
        seen: set[int] = set()
        recent: list[str] = []
        for i in range(rng.randrange(1, TOPIC_WINDOW)):  # within one window: the sketch is not reset
            if recent and rng.random() < 0.2:  # an exact repeat now and then
                text = rng.choice(recent)
            else:
                text = " ".join(rng.choice(vocab) for _ in range(rng.randrange(1, 40 if trial % 2 else 4)))
                recent.append(text)
            absorb(state, ev(i, "a", prompt_text=text))
            seen.update(word_pairs(text))
        want = sorted(seen)[:TOPIC_SKETCH]
        assert list(state.topic_kmv) == want + [0xFFFFFFFF] * (TOPIC_SKETCH - len(want)), trial


def test_idle_accounts_are_forgotten_and_their_open_episode_resolved():
    from detectors.pipeline import LocalPipeline

    pipe = LocalPipeline(partitions=2, idle_seconds=3600.0)
    for i in range(150):
        pipe.handle(ev(i, "old", **HARVEST))
    assert pipe.states["old"].ep_severity and pipe.alerts[-1]["status"] in ("opened", "escalated")
    pipe.alerts.clear()
    for i in range(50):  # two hours later, somebody else
        pipe.handle(ev(i, "new", ts=T0 + 7200.0 + i, **CHAT))
    assert pipe.sweep_idle() == 1
    assert "old" not in pipe.states and "new" in pipe.states
    [resolved] = [a for a in pipe.alerts if a["account_id"] == "old"]
    assert resolved["status"] == "resolved"
    assert pipe.sweep_idle() == 0  # nothing else is idle
    never = LocalPipeline(partitions=2, idle_seconds=0)
    never.handle(ev(0, "x"))
    never.handle(ev(1, "y", ts=T0 + 1e7))
    assert never.sweep_idle() == 0 and set(never.states) == {"x", "y"}


def test_states_models_and_indexes_restored_mid_stream_score_as_if_never_stopped():
    """What a crash restores (account states, partition contexts with their warm anomaly models, fingerprint
    indexes, each through its bytes) carries on exactly: every alert and score after the cut equals the uninterrupted run's. The
    worker's crash guarantees (docs/guarantees.md) rest on this; the simulated stream has clusters."""
    import simulator
    from detectors.contract import decode
    from detectors.coordination import FingerprintIndex
    from detectors.engine import PartitionContext
    from detectors.pipeline import LocalPipeline

    sc = simulator.Scenario(seed=3, hours=2.0, scale=0.3, duplicate_rate=0.01)  # 69,190 events
    events = [decode(raw) for _, _, raw in simulator.generate(sc)]
    det = Detector()

    def run(cut: int | None) -> list[tuple]:
        pipe, out = LocalPipeline(det, partitions=4), []
        for i, ev in enumerate(events):
            if i == cut:
                again = LocalPipeline(det, partitions=4)
                again.states = {a: AccountState.from_bytes(a, s.to_bytes()) for a, s in pipe.states.items()}
                again.contexts = [PartitionContext.from_bytes(c.to_bytes()) for c in pipe.contexts]
                again.indexes = {k: FingerprintIndex.from_bytes(x.to_bytes(), det.coordination)
                                 for k, x in pipe.indexes.items()}
                again.newest, again._until_sweep = pipe.newest, pipe._until_sweep
                pipe = again
            pipe.handle(ev)
            out += [(i, a["alert_id"], a["status"], a["severity"], a["score"], a["cluster"]) for a in pipe.alerts]
            pipe.alerts.clear()
        return out

    whole = run(None)
    assert len(whole) >= 5 and any(a[5] for a in whole)
    # every partition's anomaly model is warm (scores with it) from event 31,194 on
    for cut in (20_000, 45_000):
        assert run(cut) == whole, cut


def test_population_baselines_learn_the_features_the_signals_read_and_nothing_else():
    """A reason is set against its feature's population baseline, so only the features the rules' signals read
    learn one; each is what learning every feature gives (a feature's quantiles are its own)."""
    import simulator
    from detectors.contract import decode
    from detectors.engine import PartitionContext
    from detectors.models import PopulationStats
    from detectors.pipeline import LocalPipeline

    class Recorded(PopulationStats):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[dict] = []

        def update(self, x, names=None) -> None:
            self.seen.append(dict(x))
            super().update(x, names)

    pipe = LocalPipeline(partitions=2)
    pipe.contexts = [PartitionContext(population=Recorded()) for _ in range(2)]
    for _, _, raw in simulator.generate(simulator.Scenario(seed=5, hours=1.0, scale=0.1)):
        pipe.handle(decode(raw))
        pipe.alerts.clear()
    read = {sig.feature for sig in pipe.detector.rules.signals}
    for ctx in pipe.contexts:
        pop = ctx.population
        assert len(pop.seen) >= 100
        every = PopulationStats()
        for x in pop.seen:
            every.update(x)
        assert set(every.names) > read >= set(pop.names) and len(pop.names) >= 10
        assert set(pop._q) <= read
        for name in read:
            assert pop.baseline(name) == every.baseline(name), name
