"""Replay throughput with full detection on one core, against a bare decode loop.

    .venv/bin/python bench/replay_throughput.py [--hours 6] [--seed 11] [--scale 1]

Simulates ``--hours`` of traffic once (cached under ``bench/.data/``), pins the
process to one CPU, then times in the same run:

1. *bare*: read the file line by line and decode every event with the
   contract decoder (``detectors.contract.decode``) — the floor any replay pays;
2. *full*: the same loop through the whole detection path of replay
   (:class:`detectors.pipeline.LocalPipeline`: state, features, rules, online
   models, coordination), exactly what ``distillwatch replay`` runs.

Rates are given per wall-clock second and per CPU second of this process
(on a machine where other work shares the core, the second is what the core
delivers on its own). Also reports the serialised account state, bytes per tracked account (mean,
p99, max). Prints a table and writes ``bench/results/replay_throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detectors.contract import InvalidEvent, decode  # noqa: E402
from detectors.pipeline import LocalPipeline  # noqa: E402


def events_file(hours: float, seed: int, scale: float) -> Path:
    data = ROOT / "bench" / ".data"
    data.mkdir(parents=True, exist_ok=True)
    path = data / f"events-h{hours:g}-s{seed}-x{scale:g}.jsonl"
    if not path.exists():
        exe = Path(sys.executable).with_name("distillwatch")
        subprocess.run([str(exe), "simulate", "--out", str(path), "--hours", str(hours), "--seed", str(seed),
                        "--scale", str(scale), "--no-progress"], check=True)
    return path


def bare(lines: list[bytes]) -> tuple[float, float, int]:
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    for line in lines:
        try:
            decode(line)
            n += 1
        except InvalidEvent:
            pass
    return time.perf_counter() - t0, time.process_time() - c0, n


def full(lines: list[bytes]) -> tuple[float, float, int, LocalPipeline]:
    pipe = LocalPipeline(partitions=8)
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    for line in lines:
        try:
            ev = decode(line)
        except InvalidEvent:
            continue
        pipe.handle(ev)
        pipe.alerts.clear()
        n += 1
    return time.perf_counter() - t0, time.process_time() - c0, n, pipe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--scale", type=float, default=1.0)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    path = events_file(args.hours, args.seed, args.scale)
    with open(path, "rb") as f:
        lines = [line for line in f if line.strip()]
    t_bare, c_bare, n_bare = bare(lines)
    t_full, c_full, n_full, pipe = full(lines)
    sizes = sorted(len(s.to_bytes()) for s in pipe.states.values())
    res = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
        "events": len(lines),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "bare_events_per_s": round(n_bare / t_bare),
        "full_events_per_s": round(n_full / t_full),
        "ratio_full_to_bare": round((n_full / t_full) / (n_bare / t_bare), 3),
        # CPU time of this process: what one core delivers when it is not shared
        "bare_events_per_cpu_s": round(n_bare / c_bare),
        "full_events_per_cpu_s": round(n_full / c_full),
        "full_us_per_event_cpu": round(c_full / n_full * 1e6, 1),
        "accounts": len(sizes),
        "state_bytes_mean": round(sum(sizes) / len(sizes)),
        "state_bytes_p99": sizes[int(0.99 * (len(sizes) - 1))],
        "state_bytes_max": sizes[-1],
        "command": "python bench/replay_throughput.py " + " ".join(sys.argv[1:]),
    }
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "replay_throughput.json").write_text(json.dumps(res, indent=2) + "\n")
    w = max(map(len, res))
    for k, v in res.items():
        print(f"{k:<{w}}  {v}")


if __name__ == "__main__":
    main()
