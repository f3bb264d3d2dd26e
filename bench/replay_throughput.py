"""Replay throughput with full detection on one core, against a bare decode loop.

    .venv/bin/python bench/replay_throughput.py [--hours 6] [--seed 11] [--scale 1] [--profile]

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

With ``--profile`` a third pass, after the timed ones, runs the full loop again under py-spy (the
``bench`` extra) and splits its samples over the parts of the detection path (:data:`COMPONENTS`), as
shares and as CPU µs per event of the timed full pass: where the time goes, and what compiling a part
could save at most.
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

#: The parts of the detection path, by the functions that are theirs. A sample goes to the innermost
#: listed function on its stack (so the river trees inside the anomaly model count as the trees), and to
#: "loop and dispatch" when none is listed (the loop, LocalPipeline.handle, Detector.process's own code).
COMPONENTS = (
    ("decode and validate (contract)", ["decode (detectors/contract.py)"]),
    ("duplicate check (request hash, ring)", ["request_hash (detectors/engine.py)",
                                              "AccountState.dedup_seen (detectors/state.py)"]),
    ("state update (absorb: rates, means, sets)", ["absorb (detectors/features.py)",
                                                   "prefix_hash (detectors/features.py)",
                                                   "id_hash (detectors/features.py)"]),
    ("prompt text (regex, word pairs, sketches)", ["elicits_reasoning (detectors/text.py)",
                                                   "word_pairs (detectors/features.py)",
                                                   "stable_hash (detectors/features.py)",
                                                   "_template_observe (detectors/features.py)",
                                                   "_topic_observe (detectors/features.py)"]),
    ("river HalfSpaceTrees (score, learn)", ["HalfSpaceTrees.score_one (river/anomaly/hst.py)",
                                             "HalfSpaceTrees.learn_one (river/anomaly/hst.py)"]),
    ("other model code (scaler, quantiles, baselines, labels)", [
        "AnomalyModel.update (detectors/models.py)", "AnomalyModel.score_one (detectors/models.py)",
        "PopulationStats.update (detectors/models.py)", "LabelModel.predict_proba_one (detectors/models.py)",
        "Detector._change_detected (detectors/engine.py)"]),
    ("features, rules, alert policy", ["Detector._score (detectors/engine.py)",
                                       "Detector.assess (detectors/engine.py)"]),
    ("coordination (fingerprint indexes)", ["LocalPipeline._coordinate (detectors/pipeline.py)"]),
)


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


def profile(lines: list[bytes], us_per_event: float) -> dict:
    """A full pass under py-spy, its samples split over :data:`COMPONENTS`; µs are shares of ``us_per_event``
    (the timed pass's CPU µs per event: sampling slows the profiled pass a little)."""
    import signal
    import tempfile

    from bench import streamkit as sk

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "replay.txt"
        spy = sk.start_profile(os.getpid(), 3600, out, rate=250)
        time.sleep(1.0)  # attached
        if spy.poll() is not None:
            raise RuntimeError(f"py-spy exited at once ({spy.returncode}): can it attach to this process?")
        full(lines)
        spy.send_signal(signal.SIGINT)  # py-spy writes what it has and exits
        spy.wait(timeout=60)
        samples, shares = sk.component_shares(out, COMPONENTS, within="full (", rest="loop and dispatch")
    if not samples:
        raise RuntimeError("py-spy recorded no sample of the full pass")
    return {"samples": samples, "components": {
        name: {"share": share, "us_per_event": round(share * us_per_event, 1)} for name, share in shares.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--profile", action="store_true",
                    help="after the timed passes, profile a third full pass with py-spy (the bench extra)")
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
    if args.profile:
        res["profile"] = profile(lines, c_full / n_full * 1e6)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "replay_throughput.json").write_text(json.dumps(res, indent=2) + "\n")
    w = max(map(len, res))
    for k, v in res.items():
        if k != "profile":
            print(f"{k:<{w}}  {v}")
    if args.profile:
        print(f"\nwhere the full pass's time goes ({res['profile']['samples']} py-spy samples):")
        for name, c in res["profile"]["components"].items():
            print(f"  {c['share']:6.1%}  {c['us_per_event']:5.1f} µs  {name}")


if __name__ == "__main__":
    main()
