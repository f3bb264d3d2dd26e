"""The compiled hot path (setup.py, detectors/*.pxd) is the interpreted one, faster.

The modules of ``detectors.COMPILED`` are compiled from their own ``.py`` files; these tests check that the
installed build is compiled and current, that compiled and interpreted runs give the same alerts, states
and model contexts, bit for bit, and they run the compiled modules' doctests from their sources.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import detectors

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], pure: bool, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != detectors.PURE_PYTHON_ENV}
    if pure:
        env[detectors.PURE_PYTHON_ENV] = "1"
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_setup_compiles_the_modules_detectors_names():
    tree = ast.parse((ROOT / "setup.py").read_text())
    names = [n.value for n in ast.walk(tree) if isinstance(n, ast.Assign) and n.targets[0].id == "COMPILED"]
    assert names and ast.literal_eval(names[0]) == detectors.COMPILED


def test_the_installed_hot_path_is_compiled_and_current():
    status = detectors.build_status()
    if set(status.values()) == {"interpreted"} and not any((ROOT / "detectors").glob("*.so")):
        pytest.skip("installed with DISTILLWATCH_NO_COMPILE=1: nothing compiled")
    assert status == {name: "compiled" for name in detectors.COMPILED}, (
        "a hot-path module is interpreted or stale (its source changed since the build): run `make install`")


def test_pure_python_switch_runs_the_sources():
    out = run(["-c", "import json, detectors; print(json.dumps(detectors.build_status()))"], pure=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {name: "interpreted" for name in detectors.COMPILED}


OWN_NAMES = """
import importlib, json, types, detectors
mods = {n: importlib.import_module("detectors." + n) for n in detectors.COMPILED}
own = {}
for n, m in mods.items():
    own[n] = [k for k, v in vars(m).items() if not k.startswith("_") and not isinstance(v, types.ModuleType)
              and k != "annotations"  # from __future__
              and str(getattr(v, "__module__", "detectors")).startswith("detectors")  # not another library's
              and not any(o is not m and getattr(o, k, None) is v for o in mods.values())]  # a sibling's
print(json.dumps(own))
"""


def test_compiled_modules_keep_every_public_name():
    """A module global typed in a .pxd is a C variable, not a module attribute: the compiled modules must
    still offer every public name their sources define."""
    import importlib

    out = run(["-c", OWN_NAMES], pure=True)
    assert out.returncode == 0, out.stderr
    own = json.loads(out.stdout)
    assert len(own["contract"]) > 10
    for name, names in own.items():
        if name == "carray":
            continue  # its functions return C pointers: compiled, they exist for C callers only
        module = importlib.import_module(f"detectors.{name}")
        lost = [k for k in names if not hasattr(module, k)]
        assert not lost, f"detectors.{name} compiled lacks {lost}"


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("sim")
    events = d / "events.jsonl"
    exe = Path(sys.executable).with_name("distillwatch")
    subprocess.run([str(exe), "simulate", "--out", str(events), "--hours", "2", "--seed", "5", "--scale", "0.5",
                    "--duplicate-rate", "0.01", "--invalid-rate", "0.01", "--no-progress"], check=True, timeout=300)
    return events, d / "events.labels.jsonl"


def test_compiled_and_interpreted_detection_agree_exactly(simulated):
    digests = {}
    for pure in (False, True):
        out = run(["tests/replay_digest.py", *map(str, simulated)], pure=pure)
        assert out.returncode == 0, out.stderr
        digests[pure] = json.loads(out.stdout)
    compiled, interpreted = digests[False], digests[True]
    assert set(interpreted.pop("build").values()) == {"interpreted"}
    build = compiled.pop("build")
    if set(build.values()) == {"interpreted"}:
        pytest.skip("installed with DISTILLWATCH_NO_COMPILE=1: nothing to compare")
    assert compiled["alerts"] > 10 and compiled["invalid"] > 0 and compiled["states"] > 100
    assert compiled == interpreted


def test_doctests_of_the_compiled_modules_pass_interpreted():
    files = [f"detectors/{name}.py" for name in detectors.COMPILED]
    out = run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "--doctest-modules", *files], pure=True)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "no tests ran" not in out.stdout
