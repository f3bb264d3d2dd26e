"""Stream throughput of one distillwatch worker against a bare aiokafka loop and a bare Faust agent.

    .venv/bin/python bench/stream_throughput.py [--events 100000] [--batch 100] [--worker-seconds 40] [--rounds 1]
                                                [--only SHAPE ...] [--bare-bunched] [--profile] [--perf]

Starts one embedded tansu broker (memory storage) and, before any timing, fills one
input topic per message shape with the same simulated events (``settings.partitions``
partitions, 8 by default):

* ``single``: one event per message, keyed by account id (kafka-python's murmur2 puts it
  in its account's partition);
* ``array-mixed`` / ``ndjson-mixed``: ``--batch`` consecutive events of mixed accounts per
  message, keyless, as a JSON array / NDJSON (a log shipper; the worker re-routes the
  events that are not in their account's partition through the re-key topic);
* ``array-by-partition``: each message holds ``--batch`` events of one partition's
  accounts and is sent to that partition (an account-keyed shipper: no re-key hop).

Then, per topic, in this order: (a) a bare AIOKafkaConsumer over all partitions calling
``detectors.contract.decode_message`` on every value; (b) a bare Faust agent that only
decodes (``bench/faust_bare.py``, its own process); (c) a real ``distillwatch worker``
process (memory store, ``producer_max_batch_size=1`` as distillwatch sets for tansu,
unless ``--producer-max-batch-size``), whose progress is read from
``distillwatch_events_total`` on its ``/metrics``. The worker is timed for at most
``--worker-seconds`` of processing (from its first processed event: start-up and the group
join are not counted), with its and the broker's CPU share. Nothing is pinned: broker, producer and
consumer share the machine's CPUs, as in production on one host. Prints a table and
writes ``bench/results/stream_throughput.json`` (``--result NAME``: ``NAME.json``).

The worker and the bare Faust agent are also compared at their *steady* rates: the median rate
over stretches of 5,000 events (``streamkit.steady_rate``), which leaves out stalls such as the
0.3-1 s pauses the bare agent shows in about half its runs here. The single-event verdict needs
both ratios.

The worker's agent reads the events that have arrived in bunches (``streams/bunching.py``); the bare
Faust agent reads Faust's plain ``stream.events()``, and the single-event verdict is against it.
``--bare-bunched`` also runs a bare agent that reads in bunches as the worker does, and reports the
worker's ratio to it (no verdict): what detection costs on the worker's own path.

``--perf`` splits the CPU time of the bare aiokafka loop and of the worker over decode, the parts of
detection and the rest (Faust, aiokafka, asyncio, the agent's own Python), from Linux ``perf`` samples
with DWARF call graphs (``streamkit.perf_component``: the innermost frame in a compiled ``detectors``
module decides). Each round then runs both once more under ``perf`` (the worker as a new app on the same
topic), so the rates and ratios reported stay those of the unprofiled runs; the shares are turned into
µs of CPU per event with them. It also reports the ratio the worker would reach if everything but decode
and detection cost nothing. Needs ``perf`` and the right to trace (root, or ``perf_event_paranoid`` <= 1).

A shared host can change speed within minutes, and the three measurements of a shape run one
after another. ``--rounds N`` measures each shape N times in turn (a new worker app each round,
same input topic) and reports the median of each rate and of each round's own ratios.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import streamkit as sk  # noqa: E402

from streams.broker import EmbeddedBroker  # noqa: E402
from streams.topics import ensure_topics  # noqa: E402

BATCHED_TARGET_EPS = 30_000
BATCHED_TARGET_RATIO = 0.5  # worker / bare aiokafka
SINGLE_TARGET_RATIO = 0.8  # worker / bare Faust agent


def shapes(events: list[tuple[str, bytes]], batch: int, partitions: int) -> dict[str, list[sk.Message]]:
    return {
        "single": sk.single_messages(events),
        "array-mixed": sk.mixed_batches(events, batch, "array"),
        "ndjson-mixed": sk.mixed_batches(events, batch, "ndjson"),
        "array-by-partition": sk.partition_batches(events, batch, "array", partitions),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=100_000, help="simulated events per topic")
    ap.add_argument("--batch", type=int, default=100, help="events per batched message")
    ap.add_argument("--worker-seconds", type=float, default=40.0, help="longest timed window of a worker run")
    ap.add_argument("--result", default="stream_throughput", help="name of the result file in bench/results/")
    ap.add_argument("--only", nargs="*", help="message shapes to run (default: all)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure each shape this many times in turn (aiokafka, Faust, worker, again); the figures "
                    "and verdicts are then medians, the ratios each round's own")
    ap.add_argument("--producer-max-batch-size", type=int, default=1,
                    help="the worker's Faust producer batch size, bytes: 1 is what distillwatch sets for tansu "
                    "(changelog recovery needs it); larger values show what that costs")
    ap.add_argument("--bare-bunched", action="store_true",
                    help="single events: also a bare agent that reads in bunches as the worker does (reported, "
                         "no verdict)")
    ap.add_argument("--perf", action="store_true",
                    help="after each round's measurement, run the bare aiokafka loop and a fresh worker again under "
                    "Linux perf (DWARF call graphs) and split their CPU time over decode, the parts of detection and "
                    "the rest (Faust, aiokafka, asyncio); the measured rates stay those of the unprofiled runs")
    ap.add_argument("--profile", action="store_true",
                    help="also sample each worker with py-spy during its window (slows it a little; the own and "
                    "inclusive time of the top functions go into the result file)")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    res: dict = {"machine": sk.machine(), "command": "python bench/stream_throughput.py " + " ".join(sys.argv[1:])}
    events = sk.simulated_events(args.events)
    res["events"] = len(events)
    res["event_bytes_mean"] = round(sum(len(raw) for _, raw in events) / len(events))
    with tempfile.TemporaryDirectory(prefix="distillwatch-bench-") as tmp, EmbeddedBroker() as broker:
        wd = Path(tmp)
        runs = {}
        for name, messages in shapes(events, args.batch, 8).items():
            if args.only and name not in args.only:
                continue
            settings = sk.bench_settings(broker.bootstrap, wd, tag=f"{name}-{os.getpid()}",
                                         producer_max_batch_size=args.producer_max_batch_size)
            ensure_topics(settings)
            t0 = time.perf_counter()
            sent = sk.produce(broker.bootstrap, settings.input_topic, messages)
            runs[name] = {"messages": sent, "produce_s": round(time.perf_counter() - t0, 1), "settings": settings}
            print(f"produced {name}: {sent:,} messages in {runs[name]['produce_s']} s", flush=True)
        for name, run in runs.items():
            settings = run.pop("settings")
            rounds = []
            for k in range(args.rounds):
                if k:  # the same input topic; a new app, so new state and output topics
                    settings = sk.bench_settings(broker.bootstrap, wd, tag=f"{name}-{os.getpid()}-r{k}",
                                                 input_topic=settings.input_topic,
                                                 producer_max_batch_size=args.producer_max_batch_size)
                    ensure_topics(settings)
                label = f"{name}" + (f" (round {k + 1} of {args.rounds})" if args.rounds > 1 else "")
                rounds.append(measure(label, broker, settings, run["messages"], len(events), wd, args))
            run.update(summarise_rounds(rounds))
        res["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    res["runs"] = runs
    res["targets"] = verdicts(runs)
    sk.write_result(args.result, res)
    rows = [[name, r["messages"], r["aiokafka"]["events_per_s"], r["faust"]["events_per_s"],
             r["worker"]["events_per_s"], f"{r['worker_to_aiokafka']:.1%}", f"{r['worker_to_faust']:.1%}",
             "n/a" if r.get("worker_to_faust_steady") is None else f"{r['worker_to_faust_steady']:.1%}"]
            for name, r in runs.items()]
    print()
    sk.print_table(rows, ["shape", "messages", "aiokafka ev/s", "faust ev/s", "worker ev/s", "worker/aiokafka",
                          "worker/faust", "steady"])
    print()
    for t in res["targets"]:
        print(f"{'PASS' if t['pass'] else 'FAIL'}  {t['target']}: {t['measured']}")


def measure(label: str, broker, settings, messages: int, events: int, wd: Path, args) -> dict:
    """One round on a shape's topic: the bare aiokafka loop, the bare Faust agent and the worker, in turn."""
    r: dict = {}
    r["aiokafka"] = sk.aiokafka_decode(broker.bootstrap, settings.input_topic, messages)
    print(f"{label}: bare aiokafka {r['aiokafka']['events_per_s']:,} events/s", flush=True)
    r["faust"] = sk.faust_decode(broker.bootstrap, settings.input_topic, settings.partitions, events, wd)
    print(f"{label}: bare Faust agent {r['faust']['events_per_s']:,} events/s "
          f"(steady {_fmt(r['faust'].get('steady_events_per_s'))})", flush=True)
    if args.bare_bunched and messages == events:  # one event per message
        r["faust_bunched"] = sk.faust_decode(broker.bootstrap, settings.input_topic, settings.partitions, events, wd,
                                             bunched=True)
        print(f"{label}: bare agent in bunches {r['faust_bunched']['events_per_s']:,} events/s "
              f"(steady {_fmt(r['faust_bunched'].get('steady_events_per_s'))})", flush=True)
    with sk.Workers(wd) as workers:
        w = workers.start(settings)
        trace = wd / f"{settings.app_id}.txt"
        spy = sk.start_profile(w.proc.pid, args.worker_seconds, trace) if args.profile else None
        r["worker"] = sk.track([settings], events, args.worker_seconds, pids={"worker": w.proc.pid, "broker": broker.pid})
        r["worker"]["rss_bytes"] = sk.rss_bytes(w.proc.pid)
        r["worker"]["gc_pauses"] = sk.gc_pauses(settings)
        r["worker"]["send_buffer_waits"] = sk.send_buffer_waits(settings)
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes what it has on Ctrl-C
            spy.wait()
            r["profile"] = sk.profile_summary(trace)
    print(f"{label}: worker {r['worker']['events_per_s']:,} events/s "
          f"(steady {_fmt(r['worker'].get('steady_events_per_s'))}; "
          f"{r['worker']['events_done']:,} events in {r['worker']['window_s']} s); µs per event by "
          f"its own timers: {r['worker'].get('worker_us_per_event')}; its garbage collections by generation: "
          f"{r['worker']['gc_pauses']}; its waits for the producer's send buffer: "
          f"{r['worker']['send_buffer_waits']}", flush=True)
    worker = r["worker"]["events_per_s"]
    r["worker_to_aiokafka"] = round(worker / r["aiokafka"]["events_per_s"], 3)
    if args.perf:
        r["perf"] = perf_split(label, broker, settings, messages, events, wd, args, r)
    for bare in ("faust", "faust_bunched"):
        if bare not in r:
            continue
        r[f"worker_to_{bare}"] = round(worker / r[bare]["events_per_s"], 3)
        steady = r["worker"].get("steady_events_per_s"), r[bare].get("steady_events_per_s")
        r[f"worker_to_{bare}_steady"] = round(steady[0] / steady[1], 3) if all(steady) else None
    return r


def perf_split(label: str, broker, settings, messages: int, events: int, wd: Path, args, r: dict) -> dict:
    """The bare aiokafka loop and a fresh worker (a new app on the same input topic) again, each under
    ``perf record``: the share of their CPU samples per component (``streamkit.perf_component``), those
    shares in µs of CPU per event of the unprofiled runs of this round, and the ratio to bare aiokafka the
    worker would reach if all but decode and detection cost nothing (the unprofiled ratio over the decode
    and detection shares)."""
    bare = sk.PerfRecord(os.getpid(), wd / "bare.perf")
    sk.aiokafka_decode(broker.bootstrap, settings.input_topic, messages)
    out = {"aiokafka": bare.stop()}
    profiled = sk.bench_settings(broker.bootstrap, wd, tag=f"{settings.app_id}-perf", input_topic=settings.input_topic,
                                 producer_max_batch_size=args.producer_max_batch_size)
    ensure_topics(profiled)
    with sk.Workers(wd) as workers:
        w = workers.start(profiled)
        rec = sk.PerfRecord(w.proc.pid, wd / "worker.perf")
        run = sk.track([profiled], events, args.worker_seconds)
        out["worker"] = rec.stop()
        out["worker"]["events_per_s_profiled"] = run["events_per_s"]
    bare_us = 1e6 / r["aiokafka"]["events_per_s"]  # the bare loop runs on one core throughout
    worker_us = 1e6 / r["worker"]["events_per_s"] * r["worker"].get("cpu_share", {}).get("worker", 1.0)
    for key, us in (("aiokafka", bare_us), ("worker", worker_us)):
        out[key]["us_per_event"] = {k: round(v * us, 2) for k, v in out[key]["shares"].items()}
    kept = out["worker"]["decode"] + out["worker"]["detection"]
    out["ratio_with_only_decode_and_detection"] = round(r["worker_to_aiokafka"] / kept, 3) if kept else None
    w_us = out["worker"]["us_per_event"]
    print(f"{label}: CPU µs per event under perf, worker: "
          + ", ".join(f"{k} {v}" for k, v in w_us.items())
          + "; bare aiokafka: " + ", ".join(f"{k} {v}" for k, v in out["aiokafka"]["us_per_event"].items())
          + f"; with only decode and detection left the worker would reach "
          f"{out['ratio_with_only_decode_and_detection']:.1%} of bare aiokafka", flush=True)
    return out


def _fmt(rate: int | None) -> str:
    return "n/a" if rate is None else f"{rate:,}"


def summarise_rounds(rounds: list[dict]) -> dict:
    """A shape's figures over its rounds: one round as it is; several as the median of each rate and of
    each round's own ratios (the loops and the worker of one round ran back to back, so the host's speed
    changes between rounds cancel out of its ratios), every round kept under ``rounds``."""
    if len(rounds) == 1:
        return dict(rounds[0])
    med = statistics.median
    out: dict = {"rounds": rounds}
    for k in ("aiokafka", "faust", "faust_bunched", "worker"):
        if any(k not in r for r in rounds):
            continue
        out[k] = {"events_per_s": round(med(r[k]["events_per_s"] for r in rounds)), "median_of_rounds": len(rounds)}
        steady = [r[k]["steady_events_per_s"] for r in rounds if r[k].get("steady_events_per_s") is not None]
        if steady:
            out[k]["steady_events_per_s"] = round(med(steady))
    for k in ("worker_to_aiokafka", "worker_to_faust", "worker_to_faust_bunched"):
        if all(k in r for r in rounds):
            out[k] = round(med(r[k] for r in rounds), 3)
    for k in ("worker_to_faust_steady", "worker_to_faust_bunched_steady"):
        if all(k in r for r in rounds):
            steady = [r[k] for r in rounds if r[k] is not None]
            out[k] = round(med(steady), 3) if steady else None
    return out


def verdicts(runs: dict) -> list[dict]:
    out = []
    if "single" in runs:
        r = runs["single"]
        # Both rates: over the whole window, and steady (stalls left out of both sides). A whole-window pass
        # that only a stall of the bare agent made is not one.
        steady = r.get("worker_to_faust_steady")
        out.append({"target": f"single-event worker >= {SINGLE_TARGET_RATIO:.0%} of the bare Faust agent",
                    "measured": f"{r['worker_to_faust']:.1%} (steady: "
                                f"{'n/a' if steady is None else format(steady, '.1%')})",
                    "pass": r["worker_to_faust"] >= SINGLE_TARGET_RATIO
                    and (steady is None or steady >= SINGLE_TARGET_RATIO)})
    for name, r in runs.items():
        if name == "single":
            continue
        out.append({"target": f"{name}: worker >= {BATCHED_TARGET_EPS:,} events/s",
                    "measured": f"{r['worker']['events_per_s']:,}",
                    "pass": r["worker"]["events_per_s"] >= BATCHED_TARGET_EPS})
        out.append({"target": f"{name}: worker >= {BATCHED_TARGET_RATIO:.0%} of bare aiokafka",
                    "measured": f"{r['worker_to_aiokafka']:.1%}",
                    "pass": r["worker_to_aiokafka"] >= BATCHED_TARGET_RATIO})
    return out


if __name__ == "__main__":
    main()
