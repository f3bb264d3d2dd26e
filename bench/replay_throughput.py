"""Replay throughput with full detection on one core, against a bare decode loop.

    .venv/bin/python bench/replay_throughput.py [--hours 6] [--seed 11] [--scale 1] [--runs 3] [--profile]
                                                [--result NAME]

Simulates ``--hours`` of traffic once (cached under ``bench/.data/``), pins the
process to one CPU, then times, ``--runs`` times in turn:

1. *bare*: read the file line by line and decode every event with the
   contract decoder (``detectors.contract.decode``) — the floor any replay pays;
2. *full*: the same loop through the whole detection path of replay
   (:class:`detectors.pipeline.LocalPipeline`: state, features, rules, online
   models, coordination), exactly what ``distillwatch replay`` runs.

Each run's rates are kept, with their median and best (a shared machine slows single runs by up to a
fifth). Rates are per wall-clock second and per CPU second of this process. The result records which
build ran (``detectors.build_status()``: the compiled hot path, or interpreted with
``DISTILLWATCH_PURE_PYTHON=1``), and the serialised account state, bytes per tracked account (mean, p99,
max). Prints a table and writes ``bench/results/replay_throughput.json`` (``--result NAME``: ``NAME.json``).

With ``--profile``, a replay of the file (or its first ``--profile-events`` events) runs under
``valgrind --tool=callgrind`` (Debian's valgrind), and the instructions of its loop are split over the
parts of the detection path (:data:`COMPONENTS`), as shares and as µs per event of the median full run.
Instruction counts do not depend on what else the machine runs. It needs the compiled build (interpreted,
every Python function is the one interpreter loop to callgrind; use py-spy on a
``DISTILLWATCH_PURE_PYTHON=1`` run there).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import detectors  # noqa: E402
from detectors.contract import InvalidEvent, decode  # noqa: E402
from detectors.pipeline import LocalPipeline  # noqa: E402

#: The parts of the detection path as (name, functions whose inclusive instructions are the part's,
#: functions inside those that belong to another part and are taken out). A function is
#: ``module:qualname`` of a compiled detectors module. "loop and dispatch" is the rest of the loop:
#: LocalPipeline.handle and Detector.process's own code, the read loop.
COMPONENTS = (
    ("decode and validate (contract)", ["contract:decode"], []),
    ("duplicate check (request hash, ring)", ["engine:request_hash", "state:AccountState.dedup_seen"], []),
    ("prompt text (elicitation, word pairs, sketches)", [
        "text:elicits_reasoning", "features:word_pairs", "features:_template_observe", "features:_topic_observe",
        "features:stable_hash"], []),
    ("state update (absorb: rates, means, sets)", ["features:absorb"], [
        "text:elicits_reasoning", "features:word_pairs", "features:_template_observe", "features:_topic_observe",
        "features:stable_hash"]),
    ("anomaly model (half-space trees, scaler, quantiles)", [
        "models:AnomalyModel.update", "models:AnomalyModel.score_one"], []),
    ("population baselines", ["models:PopulationStats.update"], []),
    ("features, rules, policy, label model", ["engine:Detector._score"], [
        "models:AnomalyModel.update", "models:AnomalyModel.score_one", "models:PopulationStats.update"]),
    ("coordination (fingerprint indexes)", ["pipeline:LocalPipeline._coordinate"], []),
)
LOOP = ["contract:decode", "pipeline:LocalPipeline.handle"]


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


def _symbol_patterns(name: str) -> list[re.Pattern]:
    """Cython's C symbols of ``module:qualname``: the C function of a cdef/cpdef one, the Python wrapper."""
    module, qualname = name.split(":")
    mod = f"9detectors_{len(module)}{module}_"
    if "." in qualname:
        cls, meth = qualname.split(".")
        owner = f"{len(cls)}{cls}_"
        return [re.compile(rf"^__pyx_f_{mod}{owner}{meth}$"), re.compile(rf"^__pyx_pw_{mod}{owner}\d+{meth}$")]
    return [re.compile(rf"^__pyx_f_{mod}{qualname}$"), re.compile(rf"^__pyx_pw_{mod}\d+{qualname}$")]


def callgrind_inclusive(path: Path) -> dict[str, int]:
    """Inclusive instructions by function symbol, from ``callgrind_annotate --inclusive=yes``."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(path)],
                         capture_output=True, text=True, check=True).stdout
    costs: dict[str, int] = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+\S*?:(\S+?)(?:'\d+)? \[", line)
        if m:
            fn, ir = m.group(2), int(m.group(1).replace(",", ""))
            costs[fn] = max(costs.get(fn, 0), ir)
    return costs


def profile(path: Path, events: int, us_per_event: float) -> dict:
    """A replay of the first ``events`` events under callgrind; its loop's instructions split over
    :data:`COMPONENTS`. Shares are of the loop (imports and set-up left out); µs are shares of
    ``us_per_event``, the median full run's CPU µs per event."""
    if shutil.which("valgrind") is None:
        raise SystemExit("--profile needs valgrind (Debian package valgrind)")
    if set(detectors.build_status().values()) != {"compiled"}:
        raise SystemExit("--profile splits the compiled build's functions: run `make install` "
                         "(interpreted, profile with py-spy instead)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__,
                        "--child", str(path), str(events)], check=True, capture_output=True)
        costs = callgrind_inclusive(out)

    def cost(name: str) -> int:
        pats = _symbol_patterns(name)
        found = [ir for fn, ir in costs.items() if any(p.match(fn) for p in pats)]
        return max(found, default=0)

    loop = sum(cost(n) for n in LOOP)
    if not loop:
        raise RuntimeError("callgrind saw none of the loop's functions: is the build compiled?")
    parts = {name: sum(cost(f) for f in fns) - sum(cost(f) for f in minus) for name, fns, minus in COMPONENTS}
    parts["loop and dispatch"] = loop - sum(parts.values())
    return {
        "tool": "valgrind --tool=callgrind", "events": events,
        "instructions_per_event": round(loop / events),
        "components": {name: {"share": round(ir / loop, 3), "instructions_per_event": round(ir / events),
                              "us_per_event": round(ir / loop * us_per_event, 1)}
                       for name, ir in sorted(parts.items(), key=lambda kv: -kv[1])},
    }


def child(path: str, events: int) -> None:
    """The profiled replay (run by :func:`profile` under callgrind)."""
    with open(path, "rb") as f:
        lines = [line for _, line in zip(range(events), f)]
    full(lines)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3, help="timed bare and full passes, in turn (default 3)")
    ap.add_argument("--profile", action="store_true",
                    help="also split a replay's instructions over the detection path's parts (valgrind)")
    ap.add_argument("--profile-events", type=int, default=0,
                    help="events the --profile replay reads from the start of the file (default: all; "
                    "under valgrind the whole 6-hour file takes about 10 minutes)")
    ap.add_argument("--result", default="replay_throughput", help="name of the result file in bench/results/")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be >= 1")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    path = events_file(args.hours, args.seed, args.scale)
    with open(path, "rb") as f:
        lines = [line for line in f if line.strip()]
    status = detectors.build_status()
    runs = []
    for i in range(args.runs):
        t_bare, c_bare, n_bare = bare(lines)
        t_full, c_full, n_full, pipe = full(lines)
        run = {"bare_events_per_s": round(n_bare / t_bare), "full_events_per_s": round(n_full / t_full),
               "ratio_full_to_bare": round((n_full / t_full) / (n_bare / t_bare), 3),
               "bare_events_per_cpu_s": round(n_bare / c_bare), "full_events_per_cpu_s": round(n_full / c_full),
               "full_us_per_event_cpu": round(c_full / n_full * 1e6, 1)}
        runs.append(run)
        print(f"run {i + 1}/{args.runs}: full {run['full_events_per_s']:,} events/s, bare "
              f"{run['bare_events_per_s']:,} events/s", flush=True)
    sizes = sorted(len(s.to_bytes()) for s in pipe.states.values())
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    res = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
        "build": sorted(set(status.values()))[0] if len(set(status.values())) == 1 else status,
        "events": len(lines),
        "load_average_1m": round(os.getloadavg()[0], 2),
        **{k: round(v, 3) if isinstance(v, float) else v for k, v in median.items()},
        "best_full_events_per_s": max(r["full_events_per_s"] for r in runs),
        "runs": runs,
        "accounts": len(sizes),
        "state_bytes_mean": round(sum(sizes) / len(sizes)),
        "state_bytes_p99": sizes[int(0.99 * (len(sizes) - 1))],
        "state_bytes_max": sizes[-1],
        "command": "python bench/replay_throughput.py " + " ".join(sys.argv[1:]),
    }
    if args.profile:
        events = min(args.profile_events, len(lines)) if args.profile_events > 0 else len(lines)
        res["profile"] = profile(path, events, median["full_us_per_event_cpu"])
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"{args.result}.json").write_text(json.dumps(res, indent=2) + "\n")
    w = max(map(len, res))
    for k, v in res.items():
        if k not in ("profile", "runs"):
            print(f"{k:<{w}}  {v}")
    if args.profile:
        p = res["profile"]
        print(f"\nwhere the loop's instructions go ({p['instructions_per_event']:,} per event, first "
              f"{p['events']:,} events under callgrind):")
        for name, c in p["components"].items():
            print(f"  {c['share']:6.1%}  {c['instructions_per_event']:7,}  {c['us_per_event']:5.1f} µs  {name}")


if __name__ == "__main__":
    main()
