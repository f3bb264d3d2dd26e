"""How long a full garbage collection pauses a worker, with and without its start-up heap frozen.

    .venv/bin/python bench/gc_pause.py [--repeat 5] [--result NAME]

Builds the worker's app as ``distillwatch worker`` does (``streams.app.build_app``; no broker is
contacted), then times ``gc.collect(2)`` (the median of ``--repeat``) over the objects alive at that
point, calls ``streams.cli.freeze_heap`` as the worker does before it starts, and times it again. A full
collection walks every tracked object and holds the GIL throughout: in a worker it is a pause of the
detect agent. Writes ``bench/results/gc_pause.json`` (``--result NAME``: ``NAME.json``).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import streamkit as sk  # noqa: E402

from streams.app import build_app  # noqa: E402
from streams.cli import freeze_heap  # noqa: E402
from streams.settings import Settings  # noqa: E402


def full_collection_ms(repeat: int) -> float:
    """The median time of ``repeat`` full collections, ms."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        gc.collect(2)
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="full collections timed each way (the median counts)")
    ap.add_argument("--result", default="gc_pause", help="name of the result file in bench/results")
    args = ap.parse_args()
    res: dict = {"machine": sk.machine(), "command": "python bench/gc_pause.py " + " ".join(sys.argv[1:])}
    with tempfile.TemporaryDirectory(prefix="distillwatch-bench-") as tmp:
        build_app(Settings(broker="127.0.0.1:9", datadir=Path(tmp)))  # 127.0.0.1:9: never contacted here
        res["before_freeze"] = {"tracked_objects": len(gc.get_objects()), "full_collection_ms": full_collection_ms(args.repeat)}
        frozen = freeze_heap()
        res["after_freeze"] = {"frozen_objects": frozen, "tracked_objects": len(gc.get_objects()),
                               "full_collection_ms": full_collection_ms(args.repeat)}
    sk.write_result(args.result, res)
    rows = [[k, f"{v['tracked_objects']:,}", v["full_collection_ms"]] for k, v in
            (("start-up heap tracked", res["before_freeze"]), ("start-up heap frozen", res["after_freeze"]))]
    sk.print_table(rows, ["worker heap", "objects a full collection walks", "full collection, ms"])


if __name__ == "__main__":
    main()
