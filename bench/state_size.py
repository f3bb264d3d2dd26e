"""State bytes and worker memory per tracked account, from a real worker run.

    .venv/bin/python bench/state_size.py [--accounts 10000 100000] [--events-per-account 2]

For each ``--accounts`` figure: starts a fresh ``distillwatch worker`` (memory store) on
an embedded tansu broker, records its RSS once it serves ``/metrics``, produces
``accounts × events-per-account`` simulated events (one per message, keyed by account
id) and waits until all are processed. The simulator has a few hundred accounts per
simulated hour, so to reach tens of thousands each simulated account's events are dealt
round-robin to clones (``acct-x.c0``, ``acct-x.c1``, …): every clone is a real account to
the worker, with a thinner slice of one archetype's traffic. Reports

* ``distillwatch_account_state_bytes`` sum / count from ``/metrics``: the mean serialised
  state at a table write;
* the account-state changelog topic, read back: the latest value per account (what a
  compacted changelog keeps; mean, p99, max) and all bytes written / accounts;
* RSS growth of the worker process / tracked accounts (``distillwatch_accounts_tracked``).

Prints a table and writes ``bench/results/state_size.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import streamkit as sk  # noqa: E402

from streams.app import TABLE_NAME  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402
from streams.topics import ensure_topics  # noqa: E402

TARGET_BYTES = 2048


def cloned_events(accounts: int, per_account: int) -> list[tuple[str, bytes]]:
    """About ``accounts`` accounts with ``per_account`` events each, cut from the simulated stream."""
    base = sk.simulated_events(accounts * per_account)
    natural = len({a for a, _ in base})
    clones = max(1, math.ceil(accounts / natural))
    seen: dict[str, int] = {}
    out = []
    for account, raw in base:
        j = seen.get(account, 0)
        seen[account] = j + 1
        clone = f"{account}.c{j % clones}"
        out.append((clone, raw.replace(f'"account_id":"{account}"'.encode(), f'"account_id":"{clone}"'.encode(), 1)))
    return out


async def _changelog(bootstrap: str, topic: str) -> dict:
    """Read a changelog topic to its end: latest value size per key and all bytes written."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    latest: dict[bytes, int] = {}
    written = records = 0
    try:
        consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()])
        while batches := await consumer.getmany(timeout_ms=3000, max_records=10_000):
            for recs in batches.values():
                for rec in recs:
                    size = len(rec.value or b"")
                    latest[rec.key] = size + len(rec.key)
                    written += size + len(rec.key)
                    records += 1
    finally:
        await consumer.stop()
    sizes = sorted(latest.values())
    return {"records": records, "keys": len(sizes), "latest_mean_bytes": round(sum(sizes) / len(sizes)),
            "latest_p99_bytes": sizes[int(0.99 * (len(sizes) - 1))], "latest_max_bytes": sizes[-1],
            "written_bytes_per_key": round(written / len(sizes))}


def measure(broker: EmbeddedBroker, wd: Path, accounts: int, per_account: int) -> dict:
    events = cloned_events(accounts, per_account)
    settings = sk.bench_settings(broker.bootstrap, wd / f"a{accounts}", tag=f"state{accounts}-{os.getpid()}")
    ensure_topics(settings)
    with sk.Workers(wd) as workers:
        w = workers.start(settings)
        time.sleep(2.0)  # let start-up allocations settle before the baseline
        rss0 = sk.rss_bytes(w.proc.pid)
        sk.produce(broker.bootstrap, settings.input_topic, sk.single_messages(events))
        run = sk.track([settings], len(events), 600, idle_seconds=60)
        time.sleep(6.0)  # distillwatch_accounts_tracked is refreshed every 5 s
        text = sk.metrics_text(settings)
        rss1 = sk.rss_bytes(w.proc.pid)
    tracked = int(sk.sample(text, "distillwatch_accounts_tracked"))
    writes = sk.sample(text, "distillwatch_account_state_bytes_count")
    changelog = asyncio.run(_changelog(broker.bootstrap, f"{settings.app_id}-{TABLE_NAME}-changelog"))
    return {
        "events": len(events), "events_done": run["events_done"], "events_per_s": run["events_per_s"],
        "accounts_tracked": tracked,
        "state_bytes_mean_at_write": round(sk.sample(text, "distillwatch_account_state_bytes_sum") / writes),
        "changelog": changelog,
        "rss_start_bytes": rss0, "rss_end_bytes": rss1,
        "rss_bytes_per_account": round((rss1 - rss0) / tracked) if tracked else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--events-per-account", type=int, default=2)
    args = ap.parse_args()
    res: dict = {"machine": sk.machine(), "command": "python bench/state_size.py " + " ".join(sys.argv[1:]),
                 "events_per_account": args.events_per_account, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="distillwatch-bench-") as tmp, EmbeddedBroker() as broker:
        for n in args.accounts:
            res["runs"][str(n)] = r = measure(broker, Path(tmp), n, args.events_per_account)
            print(f"{n:,} accounts: {r['accounts_tracked']:,} tracked, state {r['state_bytes_mean_at_write']} B "
                  f"mean at write, RSS +{r['rss_bytes_per_account']} B/account", flush=True)
    worst = max(r["changelog"]["latest_mean_bytes"] for r in res["runs"].values())
    res["target"] = {"target": f"state <= {TARGET_BYTES} B per tracked account (changelog, latest value mean)",
                     "measured": worst, "pass": worst <= TARGET_BYTES}
    sk.write_result("state_size", res)
    rows = [[n, r["accounts_tracked"], r["state_bytes_mean_at_write"], r["changelog"]["latest_mean_bytes"],
             r["changelog"]["latest_p99_bytes"], r["changelog"]["written_bytes_per_key"],
             r["rss_bytes_per_account"]] for n, r in res["runs"].items()]
    sk.print_table(rows, ["accounts asked", "tracked", "state B at write", "changelog latest B", "p99 B",
                          "changelog written B/acct", "RSS B/acct"])
    t = res["target"]
    print(f"{'PASS' if t['pass'] else 'FAIL'}  {t['target']}: {t['measured']}")


if __name__ == "__main__":
    main()
