"""Instructions per event of replay's detection path, compiled, interpreted, or at another commit.

    .venv/bin/python bench/instructions.py [--builds compiled interpreted] [--rev 2cc6555]
                                           [--from 10000] [--to 40000] [--result NAME]

Replays the first ``--from`` and the first ``--to`` events of the replay benchmark's file
(``bench/.data/events-h6-s11-x1.jsonl``, simulated on first use) under ``valgrind --tool=callgrind``
and reports the difference of the two runs' instruction counts per event in between: start-up,
imports and the first events cancel out. Instruction counts do not depend on what else the
machine runs, so they compare code where timings on a shared machine move by ±15 %.

Builds: ``compiled`` (the installed extension modules), ``interpreted`` (the same sources with
``DISTILLWATCH_PURE_PYTHON=1``), and with ``--rev REV`` the ``detectors/`` package of that commit
(``git archive``), imported in place of the installed one and run interpreted: the "before" of a change.
Writes ``bench/results/instructions.json`` (``--result NAME``: ``NAME.json``). Each build takes two
replays under valgrind, a few minutes each (interpreted code runs ~50x slower under it).
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and len(sys.argv) >= 4 and sys.argv[1] == "--child":
    # The replay under callgrind. With a source root, its detectors package is imported instead of
    # the installed one (setuptools' editable finder would take precedence: it is removed). The loop is
    # replay_throughput.full's, written out: importing that module imports the installed detectors.
    if len(sys.argv) == 5:
        sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
        sys.path.insert(0, sys.argv[4])
    from detectors.contract import InvalidEvent, decode
    from detectors.pipeline import LocalPipeline

    with open(sys.argv[2], "rb") as f:
        lines = [line for _, line in zip(range(int(sys.argv[3])), f)]
    pipe = LocalPipeline(partitions=8)
    for line in lines:
        try:
            ev = decode(line)
        except InvalidEvent:
            continue
        pipe.handle(ev)
        pipe.alerts.clear()
    import detectors

    print("detectors from", detectors.__file__, file=sys.stderr)
    raise SystemExit(0)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from replay_throughput import events_file  # noqa: E402

import detectors  # noqa: E402

_COLLECTED = re.compile(r"Collected : (\d+)")


def instructions(path: Path, events: int, *, root: str | None = None, env: dict | None = None) -> int:
    """Instructions callgrind counts for a replay of the first ``events`` events."""
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
           "--child", str(path), str(events)] + ([root] if root else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    m = _COLLECTED.search(proc.stderr)
    if proc.returncode != 0 or m is None:
        raise SystemExit(f"replay under callgrind failed ({' '.join(cmd)}):\n{proc.stderr[-2000:]}")
    if root and f"detectors from {root}" not in proc.stderr:
        raise SystemExit(f"the replay did not import detectors from {root}:\n{proc.stderr[-500:]}")
    return int(m.group(1))


def checkout(rev: str, into: str) -> None:
    """``detectors/`` of commit ``rev`` under ``into``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev, "detectors"],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        raise SystemExit(f"git archive {rev} detectors: {archive.stderr.decode().strip()}")
    with tempfile.TemporaryFile() as f:
        f.write(archive.stdout)
        f.seek(0)
        with tarfile.open(fileobj=f) as tar:
            tar.extractall(into, filter="data")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--builds", nargs="*", choices=("compiled", "interpreted"), default=["compiled", "interpreted"],
                    help="builds of the working tree to count (default: both)")
    ap.add_argument("--rev", action="append", default=[], help="also count detectors/ at this commit (repeatable)")
    ap.add_argument("--from", dest="start", type=int, default=10_000, help="events of the shorter replay")
    ap.add_argument("--to", dest="end", type=int, default=40_000, help="events of the longer replay")
    ap.add_argument("--result", default="instructions", help="name of the result file in bench/results/")
    args = ap.parse_args()
    if not 0 <= args.start < args.end:
        ap.error("--from must be below --to")
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind (Debian package valgrind)")
    if not args.builds and not args.rev:
        ap.error("nothing to count: give --builds or --rev")
    if "compiled" in args.builds and set(detectors.build_status().values()) != {"compiled"}:
        raise SystemExit(f"the installed build is not compiled and current ({detectors.build_status()}): "
                         "run `make install`")
    path = events_file(6.0, 11, 1.0)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        todo: list[tuple[str, str | None, dict]] = []
        for rev in args.rev:
            root = os.path.join(tmp, rev.replace("/", "_"))
            checkout(rev, root)
            todo.append((f"rev {rev}", root, dict(os.environ)))
        for build in args.builds:
            env = dict(os.environ)
            env.pop("DISTILLWATCH_PURE_PYTHON", None)
            if build == "interpreted":
                env["DISTILLWATCH_PURE_PYTHON"] = "1"
            todo.append((build, None, env))
        for name, root, env in todo:
            t0 = time.monotonic()
            print(f"{name}: replaying {args.start:,} and {args.end:,} events under callgrind ...", flush=True)
            a = instructions(path, args.start, root=root, env=env)
            b = instructions(path, args.end, root=root, env=env)
            rows[name] = round((b - a) / (args.end - args.start))
            print(f"{name}: {rows[name]:,} instructions per event ({time.monotonic() - t0:.0f} s)", flush=True)
    res = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "events": [args.start, args.end],
        "file": str(path.relative_to(ROOT)),
        "instructions_per_event": rows,
        "command": "python bench/instructions.py " + " ".join(sys.argv[1:]),
    }
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"{args.result}.json").write_text(json.dumps(res, indent=2) + "\n")
    w = max(map(len, rows))
    for name, v in rows.items():
        print(f"{name:<{w}}  {v:>9,}")


if __name__ == "__main__":
    main()
