"""The stream benchmarks' shared helpers (bench/streamkit.py): the message shapes they time must carry exactly
the simulated events, in the partitions claimed, and the progress they read from /metrics must count final
outcomes only — otherwise the figures in docs/BENCHMARKS.md measure something else."""

from __future__ import annotations

import os
import time
from collections import Counter

import orjson
import pytest
from prometheus_client import generate_latest

from bench import streamkit as sk
from detectors.contract import decode_message
from detectors.engine import partition_for
from streams.metrics import Metrics
from streams.topics import ensure_topics
from tests.conftest import unique_settings


@pytest.fixture(scope="module")
def events():
    return sk.simulated_events(1_000)


def _decoded(messages):
    return [ev.request_id for _, value, _ in messages for _, ev in decode_message(value)]


def test_simulated_events_are_the_first_n_of_the_stream(events):
    assert len(events) == 1_000
    assert all(raw.startswith(b"{") and account.encode() in raw for account, raw in events)


@pytest.mark.parametrize("fmt", ["array", "ndjson"])
def test_mixed_batches_carry_every_event_in_order_keyless(events, fmt):
    messages = sk.mixed_batches(events, 100, fmt)
    assert len(messages) == 10
    assert all(key is None and partition is None for key, _, partition in messages)
    assert _decoded(messages) == _decoded(sk.single_messages(events))


def test_partition_batches_hold_only_their_partitions_accounts(events):
    messages = sk.partition_batches(events, 100, "array", 8)
    assert sorted(_decoded(messages)) == sorted(_decoded(sk.single_messages(events)))
    for _, value, partition in messages:
        accounts = {ev.account_id for _, ev in decode_message(value)}
        assert {partition_for(a.encode(), 8) for a in accounts} == {partition}
        assert len(decode_message(value)) <= 100


def test_partition_batcher_sends_each_event_once_by_size_or_wait(events):
    b = sk.PartitionBatcher(8, 10, 0.05)
    sent = []
    for i, (account, raw) in enumerate(events[:500]):
        now = i * 0.001  # 1,000 events/s: about 125 a second per partition, so both size and wait send some
        sent += [(now, p, items) for p, items in b.add(account, raw, now)]
        sent += [(now, p, items) for p, items in b.due(now)]
    sent += [(None, p, items) for p, items in b.drain()]
    assert sorted(raw for _, _, items in sent for raw in items) == sorted(raw for _, raw in events[:500])
    assert b.drain() == []
    sizes = Counter(len(items) for _, _, items in sent)
    assert max(sizes) == 10 and any(n < 10 for n in sizes)  # full batches, and some the wait sent
    for _, p, items in sent:
        accounts = {ev.account_id for _, ev in decode_message(b"[" + b",".join(items) + b"]")}
        assert {partition_for(a.encode(), 8) for a in accounts} == {p}
    order = [raw for _, _, items in sent for raw in items]
    for p in range(8):  # within a partition, in the order added
        mine = [raw for account, raw in events[:500] if partition_for(account.encode(), 8) == p]
        assert [raw for raw in order if raw in set(mine)] == mine
    with pytest.raises(ValueError, match="size >= 1"):
        sk.PartitionBatcher(8, 0, 0.05)


def test_partition_batcher_waits_no_longer_than_its_wait():
    b = sk.PartitionBatcher(4, 100, 0.05)
    assert b.add("acct-1", b"{}", 1.0) == []
    assert b.due(1.049) == []
    assert b.due(1.05) == [(partition_for(b"acct-1", 4), [b"{}"])]
    assert b.due(2.0) == []


@pytest.mark.parametrize("batch", [1, 25])
def test_paced_producer_sends_every_event_once_stamped_to_its_accounts_partition(kafka_bootstrap, tmp_path, events,
                                                                                 batch):
    """bench/latency.py's load generator against the real broker: what the latency figures are measured from."""
    from kafka import KafkaConsumer

    from bench import latency

    settings = unique_settings(kafka_bootstrap, tmp_path)
    ensure_topics(settings)
    sent = events[:300]
    batcher = sk.PartitionBatcher(settings.partitions, batch, 0.05) if batch > 1 else None
    before = time.time()
    res = latency.produce_paced(kafka_bootstrap, settings.input_topic, sent, 600, 10, batcher, settings.partitions)
    after = time.time()
    assert res["events"] == 300 and 0.4 <= res["seconds"] <= 5  # paced: 300 events at 600 a second
    assert res["messages"] == 300 if batch == 1 else 12 <= res["messages"] < 300
    consumer = KafkaConsumer(settings.input_topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=None, consumer_timeout_ms=3000)
    got = []
    try:
        for rec in consumer:
            for _, ev in decode_message(rec.value):
                assert partition_for(ev.account_id.encode(), settings.partitions) == rec.partition
                assert (rec.key == ev.account_id.encode()) if batch == 1 else rec.key is None
                assert before - 0.001 <= ev.ts <= after  # stamped with its send time
                got.append(ev.request_id)
    finally:
        consumer.close()
    assert sorted(got) == sorted(ev.request_id for _, ev in decode_message(b"[" + b",".join(r for _, r in sent) + b"]"))


def test_single_messages_are_keyed_by_account(events):
    assert all(key == account.encode() and value == raw
               for (key, value, _), (account, raw) in zip(sk.single_messages(events), events, strict=True))


def test_progress_counts_final_outcomes_not_rekey_hops():
    m = Metrics()
    m.events.labels("valid").inc(3)
    m.events.labels("duplicate").inc(1)
    m.events.labels("invalid").inc(2)
    m.events.labels("rekeyed").inc(5)
    m.state_bytes.observe(1000)
    m.state_bytes.observe(3000)
    text = generate_latest(m.registry).decode()
    assert sk.processed(text) == 6
    assert sk.sample(text, "distillwatch_account_state_bytes_sum") == 4000
    assert sk.sample(text, "distillwatch_account_state_bytes_count") == 2


def test_profile_summary_shares(tmp_path):
    path = tmp_path / "stacks.txt"
    path.write_text("thread (1);main (a.py:1);work (b.py:5) 3\n"
                    "thread (1);main (a.py:1);work (b.py:9);inner (c.py:2) 1\n"
                    "thread (2);idle (d.py:3) 4\n")
    s = sk.profile_summary(path)
    assert s["samples"] == 8
    assert dict(s["own"]) == {"idle (d.py)": 0.5, "work (b.py)": 0.375, "inner (c.py)": 0.125}
    assert dict(s["inclusive"])["work (b.py)"] == 0.5  # both lines of work, whatever the line number
    assert dict(s["threads"]) == {"thread (2) idle (d.py)": 0.5, "thread (1) main (a.py) > work (b.py)": 0.375,
                                  "thread (1) main (a.py) > work (b.py) > inner (c.py)": 0.125}


def test_component_shares_go_to_the_innermost_listed_frame(tmp_path):
    path = tmp_path / "stacks.txt"
    path.write_text("t;<module> (x.py:1) 5\n"  # outside `within`: left out
                    "t;loop (x.py:2);handle (p.py:3);absorb (f.py:9) 3\n"
                    "t;loop (x.py:2);handle (p.py:3);absorb (f.py:9);regex (t.py:1) 2\n"
                    "t;loop (x.py:2);handle (p.py:3);score (s.py:4);walk (h.py:7) 4\n"
                    "t;loop (x.py:2);handle (p.py:4) 1\n")
    comps = [("state", ["absorb (f.py)"]), ("text", ["regex (t.py)"]), ("model", ["score (s.py)"])]
    n, s = sk.component_shares(path, comps, within="loop (")
    assert n == 10
    assert s == {"model": 0.4, "state": 0.3, "text": 0.2, "other": 0.1}
    assert list(s) == ["model", "state", "text", "other"]  # largest first
    n, s = sk.component_shares(path, comps)
    assert n == 15 and s["other"] == pytest.approx(6 / 15, abs=1e-3)
    assert sk.component_shares(path, comps, within="absent (") == (0, {})


def _perf_sample(*frames: tuple[str, str], tid: int = 4242) -> str:
    """One sample as ``perf script`` prints it (a header line, then the call graph from the innermost frame)."""
    lines = [f"python  {tid} 1101.824914:    2004008 cpu-clock:pppH: "]
    lines += [f"\t          {0x1000 + i:x} {sym}+0x1f ({obj})" for i, (sym, obj) in enumerate(frames)]
    return "\n".join(lines) + "\n\n"


PY = "/usr/lib/libpython3.11.so.1.0"
FEATURES = "/w/detectors/features.cpython-311-x86_64-linux-gnu.so"


def test_perf_samples_go_to_their_innermost_detection_frame():
    eval_loop = ("_PyEval_EvalFrameDefault", PY)
    absorb = ("__pyx_f_9detectors_8features_absorb", FEATURES)
    process = ("__pyx_pw_9detectors_6engine_8Detector_13process", "/w/detectors/engine.so")
    text = "".join([
        # decode: orjson under decode_message
        _perf_sample(("loads", "/v/orjson.so"), ("__pyx_pw_9detectors_8contract_37decode_message", "/w/c.so"),
                     eval_loop),
        # the interpreter's dict lookup made by absorb, called from Detector.process: folding
        _perf_sample(("_Py_dict_lookup", PY), absorb, process, eval_loop),
        # the word scan inside absorb: prompt analysis, though absorb is further out
        _perf_sample(("__pyx_f_9detectors_8features__crc_word", FEATURES),
                     ("__pyx_f_9detectors_8features__word_pairs_scan", FEATURES), absorb, process),
        _perf_sample(("__pyx_f_9detectors_6engine__blake2b_compress", "/w/e.so"), process),  # duplicate check
        _perf_sample(("__pyx_pw_9detectors_5state_12AccountState_9to_bytes", "/w/s.so"), eval_loop),
        _perf_sample(("visit_decref", PY), ("gc_collect_main", PY), absorb, process),  # a collection anywhere
        _perf_sample(("tcp_sendmsg", "[kernel.kallsyms]"), ("sock_sendmsg", "[kernel.kallsyms]")),
        _perf_sample(("_PyObject_Malloc", PY), eval_loop),  # Faust, aiokafka, the agent's own Python
        _perf_sample(("send", "/lib/libc.so.6"), ("sock_send", "/py/_socket.so"), eval_loop),
    ])
    stacks = sk.perf_stacks(text)
    assert len(stacks) == 9 and stacks[0] == (4242, stacks[0][1]) and stacks[0][1][0] == ("loads", "/v/orjson.so")
    assert [sk.perf_component(f) for _, f in stacks] == [
        "decode", "detection: folding the event into the state", "detection: prompt text analysis",
        "detection: duplicate check", "account state (de)serialisation", "garbage collector",
        "kernel (network, scheduling)", "Faust, aiokafka, asyncio and the agent (Python)",
        "Faust, aiokafka, asyncio and the agent (Python)"]
    res = sk.perf_components(text)
    assert res["samples"] == 9
    assert res["decode"] == round(1 / 9, 3) and res["detection"] == round(3 / 9, 3)
    assert list(res["shares"])[0] == "Faust, aiokafka, asyncio and the agent (Python)"  # largest first
    assert sk.perf_components("") == {"samples": 0, "shares": {}, "decode": 0.0, "detection": 0.0}
    # another thread's samples (Faust's consumer thread) count as such, even in a detectors frame
    other = _perf_sample(("__pyx_f_9detectors_8features_absorb", FEATURES), tid=4250)
    res = sk.perf_components(text + other, main_tid=4242)
    assert res["shares"][sk.OTHER_THREADS] == 0.1 and res["detection"] == 0.3
    assert sk.perf_components(text + other)["detection"] == 0.4  # without main_tid, every thread alike
    # perf's "pid/tid" header form
    assert sk.perf_stacks(other.replace(" 4250 ", " 4242/4250 "))[0][0] == 4250


def test_process_figures_come_from_proc():
    assert sk.rss_bytes(os.getpid()) > 10_000_000
    before = sk.cpu_seconds(os.getpid())
    sum(i * i for i in range(2_000_000))
    assert sk.cpu_seconds(os.getpid()) > before


def test_gc_pauses_are_read_by_generation_from_the_metrics_page():
    m = Metrics()
    m.gc_pause.labels("2").observe(0.0125)
    m.gc_pause.labels("2").observe(0.0005)
    pauses = sk.gc_pauses_in(generate_latest(m.registry).decode())
    assert pauses == {"0": {"count": 0, "total_ms": 0.0}, "1": {"count": 0, "total_ms": 0.0},
                      "2": {"count": 2, "total_ms": 13.0}}


def test_send_buffer_waits_are_read_from_the_metrics_page():
    m = Metrics()
    assert sk.send_buffer_waits_in(generate_latest(m.registry).decode()) == {"count": 0, "total_ms": 0.0}
    m.producer_buffer_wait.observe(0.25)
    m.producer_buffer_wait.observe(0.0125)
    assert sk.send_buffer_waits_in(generate_latest(m.registry).decode()) == {"count": 2, "total_ms": 262.5}


def test_balanced_placement_keeps_the_events_and_fills_the_partitions_evenly():
    events = sk.simulated_events(20_000)
    placed = sk.balanced_placement(events, 8)
    assert [orjson.loads(r)["request_id"] for _, r in placed] == [orjson.loads(r)["request_id"] for _, r in events]
    rename = {}
    for (account, raw), (new, new_raw) in zip(events, placed):
        assert rename.setdefault(account, new) == new  # one new name per account, the same for all its events
        assert orjson.loads(new_raw)["account_id"] == new
        assert {k: v for k, v in orjson.loads(new_raw).items() if k != "account_id"} == \
            {k: v for k, v in orjson.loads(raw).items() if k != "account_id"}
    assert len(set(rename.values())) == len(rename)
    loads = Counter(partition_for(a.encode(), 8) for a, _ in placed)
    busiest_account = max(Counter(a for a, _ in events).values())
    # greedy placement, busiest first: no partition exceeds an even share by more than its last account
    assert max(loads.values()) <= len(events) / 8 + busiest_account
    raw_loads = Counter(partition_for(a.encode(), 8) for a, _ in events)
    assert max(loads.values()) < max(raw_loads.values())  # the murmur2 placement of the simulated ids is skewed


def test_rounds_give_medians_of_rates_and_of_each_rounds_own_ratios():
    """bench/stream_throughput.py --rounds: a host that speeds up between rounds must not mix one round's bare
    loop with another's worker; the ratio reported is the median of the rounds' own ratios."""
    from bench.stream_throughput import summarise_rounds

    def rnd(aio, faust, worker, steady=None):
        return {"aiokafka": {"events_per_s": aio}, "faust": {"events_per_s": faust},
                "worker": {"events_per_s": worker, "cpu_share": {}},
                "worker_to_aiokafka": round(worker / aio, 3), "worker_to_faust": round(worker / faust, 3),
                "worker_to_faust_steady": steady}

    one = rnd(100_000, 10_000, 7_000)
    assert summarise_rounds([one]) == one  # a single round as it was
    rounds = [rnd(100_000, 10_000, 7_000), rnd(200_000, 20_000, 15_000), rnd(120_000, 9_000, 8_000)]
    out = summarise_rounds(rounds)
    assert out["rounds"] == rounds
    assert out["worker"]["events_per_s"] == 8_000 and out["faust"]["events_per_s"] == 10_000
    assert out["aiokafka"]["events_per_s"] == 120_000 and out["worker"]["median_of_rounds"] == 3
    assert out["worker_to_faust"] == 0.75  # rounds: 0.7, 0.75, 0.889 (not 8,000 / 10,000 = 0.8)
    assert out["worker_to_aiokafka"] == 0.07  # rounds: 0.07, 0.075, 0.067
    assert out["worker_to_faust_steady"] is None  # no round had steady rates
    rounds[0]["worker_to_faust_steady"], rounds[2]["worker_to_faust_steady"] = 0.6, 0.7
    rounds[0]["faust"]["steady_events_per_s"], rounds[2]["faust"]["steady_events_per_s"] = 11_000, 12_000
    out = summarise_rounds(rounds)
    assert out["worker_to_faust_steady"] == 0.65 and out["faust"]["steady_events_per_s"] == 11_500
    assert "faust_bunched" not in out and "worker_to_faust_bunched" not in out  # not measured (no --bare-bunched)
    for r, bunched, steady in zip(rounds, (12_000, 25_000, 10_000), (0.5, None, 0.8), strict=True):
        r["faust_bunched"] = {"events_per_s": bunched}
        r["worker_to_faust_bunched"] = round(r["worker"]["events_per_s"] / bunched, 3)
        r["worker_to_faust_bunched_steady"] = steady
    out = summarise_rounds(rounds)
    assert out["faust_bunched"]["events_per_s"] == 12_000
    assert out["worker_to_faust_bunched"] == 0.6  # rounds: 0.583, 0.6, 0.8
    assert out["worker_to_faust_bunched_steady"] == 0.65  # the rounds that had one


def test_steady_rate_leaves_a_stall_out_and_needs_three_stretches():
    steady_rate = sk.steady_rate

    # 10,000 events/s, points every 1,000 events, with a 1 s stall after 20,000 events
    points = [(n / 10_000 + (1.0 if n > 20_000 else 0.0), n) for n in range(0, 50_001, 1_000)]
    whole = 50_000 / points[-1][0]
    assert whole == pytest.approx(8_333, rel=0.01)  # what the whole window says
    assert steady_rate(points) == 10_000  # one stretch of 10 holds the stall
    assert steady_rate(points[:12]) is None  # two stretches of 5,000: too few for a median
    assert steady_rate([]) is None
    # polls that saw no progress, or a clock that did not move, make no stretch
    assert steady_rate([(0.0, 0), (0.1, 0), (0.5, 5_000), (0.5, 10_000), (1.0, 10_000), (1.5, 15_000),
                        (2.0, 20_000)]) == 10_000


def test_single_event_verdict_needs_the_steady_ratio_too():
    from bench.stream_throughput import verdicts

    def single(whole, steady):
        return {"single": {"worker_to_faust": whole, "worker_to_faust_steady": steady}}

    assert verdicts(single(0.85, 0.82))[0]["pass"]
    assert not verdicts(single(0.85, 0.70))[0]["pass"]  # passed only through a stall of the bare agent
    assert "steady: 70.0%" in verdicts(single(0.85, 0.70))[0]["measured"]
    assert verdicts(single(0.85, None))[0]["pass"]  # a run too short for stretches: the window decides
    assert not verdicts(single(0.75, 0.90))[0]["pass"]


def test_all_busy_leaves_out_the_tail_one_worker_finishes_alone():
    # two workers at 1,000 events/s each; the first runs out of input after 2 s, the second after 3 s
    polls = [(t / 4, [min(t / 4, 2.0) * 1000, min(t / 4, 3.0) * 1000]) for t in range(0, 17)]
    res = sk.all_busy(polls)
    assert res["stopped_s"] == [2.0, 3.0]
    assert res["all_busy_s"] == 2.0
    assert res["all_busy_events_per_s"] == 2000  # the whole window would say 5,000 / 3 s
    # counted from the first poll: what the workers had done before it is not in the rate
    shifted = [(t, [a + 500, b + 700]) for t, (a, b) in polls]
    assert sk.all_busy(shifted)["all_busy_events_per_s"] == 2000
    assert sk.all_busy([(0.0, [5, 5])]) == {"stopped_s": [0.0, 0.0], "all_busy_s": 0.0, "all_busy_events_per_s": None}
    assert sk.all_busy([])["all_busy_events_per_s"] is None


def test_first_events_splits_young_from_later_and_names_the_slowest(events):
    from bench.first_events import measure

    decoded = [decode_message(raw)[0][1] for _, raw in events]
    res = measure(decoded, young=16, partitions=8)
    per_account = Counter(ev.account_id for ev in decoded)
    young = sum(min(n, 16) for n in per_account.values())
    assert 0 < young < len(decoded)
    assert res["young"]["events"] == young and res["later"]["events"] == len(decoded) - young
    assert res["all"]["events"] == len(decoded)
    slowest = res["slowest"]
    assert len(slowest) == 12 and [s["ms"] for s in slowest] == sorted((s["ms"] for s in slowest), reverse=True)
    assert all(s["young"] == (sum(ev.account_id == decoded[s["index"]].account_id
                                  for ev in decoded[: s["index"]]) < 16) for s in slowest)
    assert isinstance(res["oldest_generation_collections"], list)


def test_scaling_rounds_compare_each_two_worker_run_with_the_one_worker_runs_around_it():
    """bench/scaling.py --rounds: a host that speeds up through the runs would give a ratio above what the
    partitions' split allows if each two-worker run were set against the one-worker run before it alone."""
    from bench.scaling import bracketed_ratios

    # the host speeds up by 1,000 events/s per run: one, two, one, two, one
    ones, twos = [3_000, 5_000, 7_000], [2 * 4_000 * 0.9, 2 * 6_000 * 0.9]
    assert bracketed_ratios(ones, twos) == pytest.approx([1.8, 1.8])
    assert twos[1] / ones[1] == pytest.approx(2.16)  # against the run before only: above the 2x at most
    with pytest.raises(ValueError):
        bracketed_ratios([3_000, 5_000], [7_000, 8_000])
    with pytest.raises(ValueError):
        bracketed_ratios([3_000], [])


def test_catchup_backlog_has_every_account_in_every_round_and_its_overruns_are_read():
    from bench import catchup

    msgs = catchup.events(5, 3)
    assert len(msgs) == 15
    decoded = [decode_message(value)[0][1] for _, value, _ in msgs]
    assert [e.account_id for e in decoded[:5]] == [f"acct-{a}" for a in range(5)]
    assert all(key == e.account_id.encode() for (key, _, _), e in zip(msgs, decoded, strict=True))
    assert len({e.request_id for e in decoded}) == 15
    assert [e.ts for e in decoded] == sorted(e.ts for e in decoded)  # round after round, in event time
    log = ("[2026-12-07 03:30:14,353] [24091] [WARNING] Timer commit is overlapping (interval=2.8 "
           "runtime=3.866255913002533) \n[...] [WARNING] enforcement paused (lag)\n")
    assert catchup._OVERRUN_RE.findall(log) == ["3.866255913002533"]
