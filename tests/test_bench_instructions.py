"""bench/instructions.py counts another commit's detection path by importing that commit's ``detectors/``
in place of the installed package. If the installed one were imported instead, its "before" figure in
docs/BENCHMARKS.md would silently measure the current code: these tests check the import it replays."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "instructions.py"


def _events(tmp_path: Path) -> Path:
    out = tmp_path / "events.jsonl"
    subprocess.run([str(Path(sys.executable).with_name("distillwatch")), "simulate", "--out", str(out),
                    "--hours", "0.02", "--seed", "3", "--no-progress"], check=True, capture_output=True)
    return out


def _child(events: Path, n: int, *extra: str) -> str:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--child", str(events), str(n), *extra],
                          capture_output=True, text=True, cwd=events.parent, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stderr


def test_checkout_extracts_the_commits_detectors(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import instructions
    finally:
        sys.path.remove(str(ROOT / "bench"))
    instructions.checkout("HEAD", str(tmp_path))
    head = subprocess.run(["git", "-C", str(ROOT), "show", "HEAD:detectors/engine.py"],
                          capture_output=True, check=True).stdout
    assert (tmp_path / "detectors" / "engine.py").read_bytes() == head
    assert not list((tmp_path / "detectors").glob("*.so"))  # sources only: they run interpreted


def test_child_replays_the_given_source_root_not_the_installed_package(tmp_path):
    events = _events(tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    subprocess.run(f"git -C {ROOT} archive --format=tar HEAD detectors | tar -x -C {src}", shell=True, check=True)
    marker = src / "detectors" / "__init__.py"
    assert f"detectors from {marker}" in _child(events, 200, str(src))
    installed = _child(events, 200)
    assert f"detectors from {ROOT / 'detectors' / '__init__.py'}" in installed
