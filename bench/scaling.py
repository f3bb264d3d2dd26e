"""Two workers of one app (one consumer group) against one, on the same pre-produced topic.

    .venv/bin/python bench/scaling.py [--events 400000] [--seconds 120] [--placement simulated|balanced]
                                      [--rounds 1] [--result NAME]

Starts an embedded tansu broker, produces ``--events`` simulated events (one per
message, keyed by account id, 8 partitions) **before** any worker starts, then runs
(1) one ``distillwatch worker`` in a fresh consumer group, and (2) two workers together
in another fresh group, each reading the whole topic from the start. The two are started
together (both processes before waiting for either), so they join the group together: a
worker started once the other serves ``/metrics`` would find the whole topic to itself for the
other's start-up, run ahead on its partitions, and run out of input about a second before the
other, which then finishes alone. Each group is timed
for at most ``--seconds`` from the moment every worker of the group has processed an
event (so the group join and any rebalance are not counted) to its last
progress, summing ``distillwatch_events_total`` over the workers' ``/metrics``; for two
workers it also records when each last made progress and the rate while both still had
input (``all_busy_events_per_s``). The
machine's CPUs are shared by the broker and the workers (the producer is done by
then); the CPU share of each process over the window is reported, since two workers
on two cores with a broker beside them cannot have two cores to themselves. Prints a
table and writes ``bench/results/scaling.json``, with the events each of the two workers
processed and the ratio that split allows at most (the simulated accounts are heavy-tailed,
so the 8 partitions carry uneven shares). ``--placement balanced`` renames the accounts so that
they fill the 8 partitions evenly (:func:`streamkit.balanced_placement`; the busiest account alone
still carries 14.5 %): the same events and work, without the skew of where murmur2 happens to put
the few heavy accounts. Its results go to ``bench/results/scaling_balanced.json`` (``--result NAME``:
``NAME.json``).

A shared host can change speed within minutes, and a one-worker run and the two-worker run after it
then compare two speeds of the host (on 2026-12-06 three runs in a row gave 1.51, 1.79 and 2.49x, the last
above what the split allows). ``--rounds N`` brackets each of N two-worker runs by one-worker runs (one,
two, one, two, ..., one: N + 1 of them, each group a fresh app on the same topic) and takes each round's
ratio against the mean of the one-worker runs just before and after it (:func:`bracketed_ratios`); the
result is the median of those ratios, and the rounds are all in the result file. The default of 400,000 events
gives each two-worker run a window of 14-19 s on the host of 2026-12-07 06:20-06:45, where 100,000 gave 4-5 s:
then the three-round medians of four builds of the worker spread over 1.43-2.20x by run and 1.33-2.31x by
round, and 400,000 gave 1.91 and 1.92x (1.69-1.99x by round) (docs/BENCHMARKS.md, *2026-12-07, morning*).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import streamkit as sk  # noqa: E402

from streams.broker import EmbeddedBroker, free_port  # noqa: E402
from streams.topics import ensure_topics  # noqa: E402

TARGET = 1.7


def run_group(broker: EmbeddedBroker, wd: Path, base, n_workers: int, target: int, seconds: float, run: int) -> dict:
    """``n_workers`` workers of one fresh app id (one per ``run``) on ``base``'s input topic; their summed rate."""
    tag = f"x{n_workers}-r{run}-{os.getpid()}"
    settings = [
        sk.bench_settings(broker.bootstrap, wd / f"{tag}-{i}", tag=tag, input_topic=base.input_topic,
                          web_port=free_port())
        for i in range(n_workers)
    ]
    ensure_topics(settings[0])
    with sk.Workers(wd) as workers:
        procs = workers.start_together(settings)  # one join, not the first worker alone for its start-up
        pids = {f"worker{i}": w.proc.pid for i, w in enumerate(procs)} | {"broker": broker.pid}
        return sk.track(settings, target, seconds, pids=pids)


def bracketed_ratios(ones: list[float], twos: list[float]) -> list[float]:
    """Each two-worker rate against the mean of the one-worker rates measured just before and after it
    (``ones[i]`` and ``ones[i + 1]`` bracket ``twos[i]``): a host that speeds up or slows down evenly across
    a round moves both sides alike."""
    if len(ones) != len(twos) + 1 or not twos:
        raise ValueError(f"need one more one-worker rate than two-worker rates, got {len(ones)} and {len(twos)}")
    return [two / ((ones[i] + ones[i + 1]) / 2) for i, two in enumerate(twos)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=400_000,
                    help="events pre-produced (100,000 until 2026-12-07: a two-worker window of 4-5 s on a fast host)")
    ap.add_argument("--seconds", type=float, default=120.0, help="longest timed window per group")
    ap.add_argument("--placement", choices=("simulated", "balanced"), default="simulated",
                    help="accounts where murmur2 puts their simulated ids, or renamed to fill the partitions evenly")
    ap.add_argument("--rounds", type=int, default=1,
                    help="two-worker runs, each between two one-worker runs; the ratio is the median of the rounds'")
    ap.add_argument("--result", default=None, help="name of the result file in bench/results/")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be >= 1")
    res: dict = {"machine": sk.machine(), "command": "python bench/scaling.py " + " ".join(sys.argv[1:])}
    events = sk.simulated_events(args.events)
    res["placement"] = args.placement
    with tempfile.TemporaryDirectory(prefix="distillwatch-bench-") as tmp, EmbeddedBroker() as broker:
        wd = Path(tmp)
        base = sk.bench_settings(broker.bootstrap, wd, tag=f"scaling-{os.getpid()}")
        ensure_topics(base)
        if args.placement == "balanced":
            events = sk.balanced_placement(events, base.partitions)
        res["messages"] = sk.produce(broker.bootstrap, base.input_topic, sk.single_messages(events))
        ones: list[dict] = []
        twos: list[dict] = []
        for i in range(args.rounds):
            ones.append(run_group(broker, wd, base, 1, len(events), args.seconds, i))
            print(f"one worker: {ones[-1]['events_per_s']:,} events/s", flush=True)
            twos.append(run_group(broker, wd, base, 2, len(events), args.seconds, i))
            print(f"two workers: {twos[-1]['events_per_s']:,} events/s", flush=True)
        if args.rounds > 1:  # the last two-worker run bracketed too
            ones.append(run_group(broker, wd, base, 1, len(events), args.seconds, args.rounds))
            print(f"one worker: {ones[-1]['events_per_s']:,} events/s", flush=True)
        res["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    for two in twos:
        # the ratio two workers can reach at most when each works at one worker's rate: the busier one's share
        # of the events bounds it (the simulated accounts are heavy-tailed, so partitions are not even)
        split = two["events_per_worker"]
        two["balance_bound"] = round(sum(split) / max(split), 2) if split and max(split) else None
    if args.rounds == 1:
        ratios = [twos[0]["events_per_s"] / ones[0]["events_per_s"]]
        res["one"], res["two"] = ones[0], twos[0]
    else:
        ratios = bracketed_ratios([r["events_per_s"] for r in ones], [r["events_per_s"] for r in twos])
        res["rounds"] = {"one": ones, "two": twos, "ratios": [round(r, 2) for r in ratios]}
        # the summary's one and two: the two-worker run whose ratio is the median and the one-worker run before it
        mid = sorted(range(len(ratios)), key=ratios.__getitem__)[len(ratios) // 2]
        res["one"], res["two"] = ones[mid], twos[mid]
    ratio = statistics.median(ratios)
    res["ratio"] = round(ratio, 2)
    res["target"] = {"target": f"two workers >= {TARGET}x one", "measured": res["ratio"], "pass": ratio >= TARGET}
    sk.write_result(args.result or ("scaling" if args.placement == "simulated" else "scaling_balanced"), res)
    runs = []  # in the order they ran
    for i, two in enumerate(twos):
        runs += [("one worker", ones[i]), ("two workers", two)]
    runs += [("one worker", r) for r in ones[len(twos):]]
    rows = [[name, r["events_done"], r["window_s"], r["events_per_s"],
             " ".join(f"{k}={v:.0%}" for k, v in r.get("cpu_share", {}).items())] for name, r in runs]
    sk.print_table(rows, ["group", "events", "window s", "events/s", "CPU share (of one core)"])
    split = res["two"]["events_per_worker"]
    if args.rounds > 1:
        print("ratio of each round (two workers against the mean of the one-worker runs around it): "
              + ", ".join(f"{r:.2f}x" for r in ratios))
    t = res["target"]
    print(f"events per worker in the two-worker group: {split} ({res['two']['balance_bound']}x at most, "
          "if each worked at the single worker's rate)")
    print(f"last progress of each of the two, seconds into the window: {res['two'].get('stopped_s')}; "
          f"while both had input: {res['two'].get('all_busy_events_per_s')} events/s")
    print(f"{'PASS' if t['pass'] else 'FAIL'}  {t['target']}: {t['measured']}x")


if __name__ == "__main__":
    main()
