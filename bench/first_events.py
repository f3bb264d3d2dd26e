"""What the first events of a stream cost detection: accounts' first events against later ones, and the slowest.

    .venv/bin/python bench/first_events.py [--events 100000] [--young 64] [--partitions 8] [--result NAME]

Decodes the first ``--events`` simulated events of the stream benchmarks (:func:`streamkit.simulated_events`),
then times each one through replay's detection path (:class:`detectors.pipeline.LocalPipeline`, the
worker's objects in one process), ``time.perf_counter_ns`` around each call. Reports the mean and median
for an account's first ``--young`` events (whose prompts are all analysed) and for the rest, the slowest
events with their index, and every collection of the garbage collector's oldest generation during the
loop (``gc.callbacks``). The stream benchmark's window starts with these events, so one-off costs here
(a model's first learn, a collection) lower its whole-window rate. Writes ``bench/results/NAME.json``
(default ``first_events``).

It imports ``detectors`` from the tree it sits in: to measure an older commit, copy this file into a
``git worktree`` of it (with ``DISTILLWATCH_PURE_PYTHON=1`` unless that tree is built).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from array import array
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamkit as sk  # noqa: E402

from detectors.contract import decode_message  # noqa: E402
from detectors.pipeline import LocalPipeline  # noqa: E402


def measure(events: list, young: int, partitions: int) -> dict:
    """Each decoded event through a fresh pipeline, timed; the oldest generation's collections noted."""
    pipe = LocalPipeline(partitions=partitions)
    seen: dict[str, int] = {}
    # preallocated, so that the measurement itself allocates nothing per event (no collections of its own)
    ns = array("q", bytes(8 * len(events)))
    is_young = bytearray(len(events))  # 1: among its account's first `young` events
    collections: list[tuple[int, float]] = []
    at = [0, 0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            at[1] = time.perf_counter()
        elif info["generation"] == 2:
            collections.append((at[0], round((time.perf_counter() - at[1]) * 1000, 1)))

    clock = time.perf_counter_ns
    gc.callbacks.append(on_gc)
    try:
        for i, ev in enumerate(events):
            n = seen.get(ev.account_id, 0)
            seen[ev.account_id] = n + 1
            at[0] = i
            is_young[i] = n < young
            t = clock()
            pipe.handle(ev)
            ns[i] = clock() - t
            pipe.alerts.clear()
    finally:
        gc.callbacks.remove(on_gc)

    def stats(sample: list[int]) -> dict:
        if not sample:
            return {"events": 0}
        return {"events": len(sample), "mean_us": round(sum(sample) / len(sample) / 1000, 2),
                "median_us": round(statistics.median(sample) / 1000, 2)}

    slowest = sorted(range(len(events)), key=lambda i: -ns[i])[:12]
    return {
        "all": stats(list(ns)),
        "young": stats([t for t, y in zip(ns, is_young) if y]),
        "later": stats([t for t, y in zip(ns, is_young) if not y]),
        "slowest": [{"index": i, "young": bool(is_young[i]), "ms": round(ns[i] / 1e6, 2)} for i in slowest],
        "oldest_generation_collections": [{"index": i, "ms": ms} for i, ms in collections],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--young", type=int, default=64, help="an account's first this many events count as young")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--result", default="first_events", help="name of the result file in bench/results/")
    args = ap.parse_args()
    if args.events < 1 or args.young < 0 or args.partitions < 1:
        ap.error("--events and --partitions must be >= 1, --young >= 0")
    import detectors

    print(f"decoding {args.events:,} simulated events ...", flush=True)
    events = [decode_message(raw)[0][1] for _, raw in sk.simulated_events(args.events)]
    res: dict = {"machine": sk.machine(), "command": "python bench/first_events.py " + " ".join(sys.argv[1:]),
                 "build": sorted(set(detectors.build_status().values())), "young": args.young}
    res.update(measure(events, args.young, args.partitions))
    sk.write_result(args.result, res)
    sk.print_table([[name, res[name]["events"], res[name].get("mean_us"), res[name].get("median_us")]
                    for name in ("young", "later", "all")], ["events", "count", "mean µs", "median µs"])
    print("slowest:", ", ".join(f"#{s['index']} {s['ms']} ms" for s in res["slowest"]))
    print("collections of the oldest generation:",
          ", ".join(f"#{c['index']} {c['ms']} ms" for c in res["oldest_generation_collections"]) or "none")


if __name__ == "__main__":
    main()
