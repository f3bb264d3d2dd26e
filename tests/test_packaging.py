"""A wheel built from the tree (`pip install .`, as an image or a deployment does) holds every module and
data file the project runs from, and building it leaves the tree's own (editable, compiled) build alone.

The wheel is built by pip itself, in its isolated build environment (the registry's setuptools and
Cython), without compiling (``DISTILLWATCH_NO_COMPILE=1``: what is checked here is what goes in, not the
compiler), from a copy of the tree with an in-place build's artefacts in it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("detectors", "streams", "simulator", "evaluation")


def _tracked() -> list[str]:
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", *PACKAGES, "setup.py", "pyproject.toml", "README.md"],
                         capture_output=True, text=True, check=True).stdout
    return [p for p in out.splitlines() if (ROOT / p).exists()]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(the copied tree, the wheel's file names)"""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout")
    tree = tmp_path_factory.mktemp("tree")
    for rel in _tracked():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, tree / rel)
    # what an editable build leaves in the tree (stand-ins: only their presence matters here)
    (tree / "detectors" / "state.cpython-311-x86_64-linux-gnu.so").write_bytes(b"in-place build")
    (tree / "detectors" / "state.c").write_text("/* generated */\n")
    (tree / "detectors" / "_build.py").write_text("SOURCES = {}\n")
    out = tmp_path_factory.mktemp("wheel")
    env = dict(os.environ, DISTILLWATCH_NO_COMPILE="1")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
                           "--no-deps", str(tree), "-w", str(out)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        return tree, set(z.namelist())


def test_the_wheel_holds_every_module_and_data_file(built):
    _, names = built
    wanted = {p for p in _tracked() if p.split("/")[0] in PACKAGES and not p.endswith((".md", ".txt"))}
    missing = sorted(wanted - names)
    assert not missing, f"not in the wheel: {missing}"
    assert "detectors/adapters/otlp_json.py" in names  # a subpackage: the one a package list once left out


def test_the_wheel_holds_no_build_artefacts_of_the_tree(built):
    _, names = built
    leaked = sorted(n for n in names if n.endswith((".c", ".so")) or n.endswith("/_build.py"))
    assert not leaked, leaked


def test_building_a_wheel_leaves_the_trees_own_build_alone(built):
    tree, _ = built
    assert (tree / "detectors" / "state.cpython-311-x86_64-linux-gnu.so").exists()
    assert (tree / "detectors" / "_build.py").exists()


def test_kafka_python_computes_record_crcs_in_c():
    """kafka-python (the simulator's producer, the demo's alert reader, ``distillwatch release`` reading the
    actions topic, ``distillwatch label``, the benchmarks' load generators) computes the CRC-32C of every
    record batch it writes or checks in pure Python unless the ``crc32c`` package is installed (the
    ``kafka-python[crc32c]`` dependency): producing 100-event JSON arrays took 21 times as long
    (docs/BENCHMARKS.md, 2026-12-07)."""
    from kafka.record import util

    assert util.crc32c_c is not None and util.calc_crc32c.__defaults__ == (util.crc32c_c,)  # the one it calls
    assert util.calc_crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
