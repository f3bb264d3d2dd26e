"""Memory with a million distinct accounts, and idle expiry giving it back.

    .venv/bin/python bench/million_accounts.py [--accounts 1000000]

Feeds ``--accounts`` distinct accounts, two requests each (a short chat
exchange; one account in 1000 harvests), through the detection path of replay
(:class:`detectors.pipeline.LocalPipeline`, which keeps every account's state
as a live object, the most memory-hungry form), sampling the process's
resident memory (RSS, from /proc) every 10 % of the way. Then one event a
week of event time later makes every account idle past the default
``account_idle_seconds`` (7 days), a sweep forgets them, and the same number
of *new* accounts is fed again: the RSS must not grow past the first peak
(freed state is reused). Prints a table and writes
``bench/results/million_accounts.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detectors.contract import Event  # noqa: E402
from detectors.pipeline import LocalPipeline  # noqa: E402

T0 = 1_800_000_000.0


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def feed(pipe: LocalPipeline, prefix: str, n: int, t0: float, samples: list, label: str) -> None:
    step = max(1, n // 10)
    for i in range(n):
        acct = f"{prefix}{i:08d}"
        hot = i % 1000 == 0
        for j in range(2):
            pipe.handle(Event(
                request_id=f"{acct}-{j}", ts=t0 + i * 0.01 + j, account_id=acct, model="frontier-large",
                status_code=200, client_ip=f"10.{i % 250}.{(i // 250) % 250}.{j + 1}",
                input_tokens=40 if hot else 300, output_tokens=1500 if hot else 120, messages_count=1 if hot else 3,
                finish_reason="length" if hot else "stop",
                prompt_text="Write out your internal reasoning step by step." if hot else "what about tomorrow?",
            ))
        pipe.alerts.clear()
        if (i + 1) % step == 0:
            samples.append({"phase": label, "accounts_fed": i + 1, "tracked": len(pipe.states), "rss_mb": rss_bytes() / 2**20})
            print(f"{label}: {i + 1:>9,} accounts fed, {len(pipe.states):>9,} tracked, RSS {samples[-1]['rss_mb']:,.0f} MiB",
                  flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=1_000_000)
    args = ap.parse_args()
    n = args.accounts
    gc.collect()
    base = rss_bytes()
    pipe = LocalPipeline(partitions=8)
    samples: list[dict] = []
    t = time.perf_counter()
    feed(pipe, "a", n, T0, samples, "first million")
    peak = max(s["rss_mb"] for s in samples)
    per_account = (samples[-1]["rss_mb"] * 2**20 - base) / n
    # a week later: everyone is idle past the default TTL
    later = T0 + n * 0.01 + 8 * 86400.0
    pipe.handle(Event(request_id="tick", ts=later, account_id="clock", model="m", status_code=200))
    expired = pipe.sweep_idle()
    gc.collect()
    after_sweep = rss_bytes() / 2**20
    print(f"after the sweep: {expired:,} accounts expired, {len(pipe.states):,} tracked, RSS {after_sweep:,.0f} MiB")
    feed(pipe, "b", n, later + 1, samples, "second million")
    second_peak = max(s["rss_mb"] for s in samples if s["phase"] == "second million")
    res = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
        "accounts": n,
        "base_rss_mb": round(base / 2**20, 1),
        "peak_rss_mb": round(peak, 1),
        "rss_bytes_per_account": round(per_account),
        "expired": expired,
        "rss_after_sweep_mb": round(after_sweep, 1),
        "second_peak_rss_mb": round(second_peak, 1),
        "seconds": round(time.perf_counter() - t, 1),
        "samples": samples,
        "command": "python bench/million_accounts.py " + " ".join(sys.argv[1:]),
    }
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "million_accounts.json").write_text(json.dumps(res, indent=2) + "\n")
    for k, v in res.items():
        if k != "samples":
            print(f"{k:<22} {v}")


if __name__ == "__main__":
    main()
