"""A worker catching up over many accounts: what its offset commits cost when every commit writes thousands of states.

    .venv/bin/python bench/catchup.py [--accounts 8000] [--events-per-account 12] [--partitions 8] [--result NAME]

Starts one embedded tansu broker, fills an input topic with ``--events-per-account`` single events for each of
``--accounts`` accounts (keyed by account, round after round, so every account changes between any two offset
commits), then starts one ``distillwatch worker`` (memory store, ``producer_max_batch_size=1`` as distillwatch
sets for tansu) and times it through the backlog. Each offset commit writes every account state changed since
the last one to the changelog first: with tansu's one record per produce batch, how those records go out
decides how long a commit takes. Reports the worker's rate, the median recent commit latency Faust measured,
how often a commit overran Faust's 2.8 s commit timer (its "Timer commit is overlapping" warnings), and how
long Faust held fetched messages back for its send buffer. Writes ``bench/results/catchup.json``
(``--result NAME``: ``NAME.json``).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import streamkit as sk  # noqa: E402

from streams.broker import EmbeddedBroker  # noqa: E402
from streams.topics import ensure_topics  # noqa: E402

#: mode's timer, when a commit took longer than its interval: "Timer commit is overlapping (interval=2.8 runtime=4.06)"
_OVERRUN_RE = re.compile(r"Timer commit is overlapping \(interval=[0-9.]+ runtime=([0-9.]+)\)")


def events(accounts: int, per_account: int) -> list[sk.Message]:
    """Round after round, one event of every account per round (a minute apart in event time)."""
    t0 = 1795860000.0
    return [(f"acct-{a}".encode(), orjson.dumps({
        "request_id": f"r-{a}-{i}", "timestamp": t0 + 60 * i + a / accounts, "account_id": f"acct-{a}",
        "model": "frontier-large", "status_code": 200, "usage": {"input_tokens": 20, "output_tokens": 80}}), None)
        for i in range(per_account) for a in range(accounts)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=8000, help="distinct accounts in the backlog")
    ap.add_argument("--events-per-account", type=int, default=12, help="events of each account")
    ap.add_argument("--partitions", type=int, default=8, help="partitions of the input topic and the changelog")
    ap.add_argument("--max-seconds", type=float, default=300.0, help="longest timed window")
    ap.add_argument("--result", default="catchup", help="name of the result file in bench/results/")
    args = ap.parse_args()
    if args.accounts < 1 or args.events_per_account < 1:
        ap.error("--accounts and --events-per-account must be at least 1")
    messages = events(args.accounts, args.events_per_account)
    res: dict = {"machine": sk.machine(), "command": "python bench/catchup.py " + " ".join(sys.argv[1:]),
                 "accounts": args.accounts, "events": len(messages), "partitions": args.partitions}
    with tempfile.TemporaryDirectory(prefix="distillwatch-bench-") as tmp, EmbeddedBroker() as broker:
        wd = Path(tmp)
        settings = sk.bench_settings(broker.bootstrap, wd, partitions=args.partitions)
        ensure_topics(settings)
        t0 = time.perf_counter()
        sk.produce(broker.bootstrap, settings.input_topic, messages)
        print(f"produced {len(messages):,} events of {args.accounts:,} accounts in {time.perf_counter() - t0:.1f} s",
              flush=True)
        with sk.Workers(wd) as workers:
            w = workers.start(settings)
            res["worker"] = sk.track([settings], len(messages), args.max_seconds,
                                     pids={"worker": w.proc.pid, "broker": broker.pid})
            text = sk.metrics_text(settings)  # the whole page: Faust's sensor families do not answer ?name[]=
            res["worker"]["commit_latency_median_s"] = round(sk.sample(text, "distillwatch_faust_commit_latency_seconds"), 3)
            res["worker"]["send_buffer_waits"] = sk.send_buffer_waits(settings)
            overruns = [float(m) for m in _OVERRUN_RE.findall(w.log_path.read_text(errors="replace"))]
            res["worker"]["commit_overruns"] = {"count": len(overruns), "max_s": round(max(overruns, default=0.0), 2)}
    r = res["worker"]
    print(f"worker: {r['events_per_s']:,} events/s over {r['window_s']} s ({r['events_done']:,} of "
          f"{len(messages):,} events); commit latency (median of recent) {r['commit_latency_median_s']} s; "
          f"commits over the 2.8 s timer: {r['commit_overruns']['count']} (longest {r['commit_overruns']['max_s']} s); "
          f"send-buffer waits {r['send_buffer_waits']}; CPU {r.get('cpu_share')}", flush=True)
    print(f"wrote {sk.write_result(args.result, res)}")


if __name__ == "__main__":
    main()
