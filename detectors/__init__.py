"""distillwatch's detection logic: events, per-account state, features, rules, models, policy.

Pure: no I/O and no clock. The hot path (:data:`COMPILED`) is compiled with Cython when the package is
installed (``setup.py``): the ``.py`` files are the source and the ``.pxd`` files beside them only add C
types, so there is one implementation, run compiled or interpreted. ``DISTILLWATCH_PURE_PYTHON=1`` in the
environment (read once, at the first import of :mod:`detectors`) runs those modules interpreted from
their sources: the same results, slower, and visible to Python profilers such as py-spy, which do not
see into compiled frames. :func:`build_status` tells which is running.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.util
import os
import sys
from pathlib import Path

__all__ = ["COMPILED", "PURE_PYTHON_ENV", "build_status", "source_digest"]

#: Modules of the hot path, compiled at install time (setup.py names the same).
COMPILED = ("carray", "state", "features", "text", "contract", "engine", "rules", "models", "hst", "pipeline")

#: Environment variable: when set (not "" or "0"), the :data:`COMPILED` modules run interpreted.
PURE_PYTHON_ENV = "DISTILLWATCH_PURE_PYTHON"

_HERE = Path(__file__).resolve().parent


def source_digest(name: str, root: Path = _HERE) -> str:
    """SHA-256 of a compiled module's sources (``.py`` and ``.pxd``), as setup.py records it at build time."""
    h = hashlib.sha256()
    for suffix in (".py", ".pxd"):
        path = root / f"{name}{suffix}"
        h.update(suffix.encode() + b"\0")
        if path.exists():
            h.update(path.read_bytes())
    return h.hexdigest()


class _SourcesFirst(importlib.abc.MetaPathFinder):
    """Imports the :data:`COMPILED` modules from their ``.py`` sources, past any compiled extension."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.partition(".")
        if package != __name__ or name not in COMPILED:
            return None
        return importlib.util.spec_from_file_location(fullname, _HERE / f"{name}.py")


if os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0"):
    sys.meta_path.insert(0, _SourcesFirst())


def build_status() -> dict[str, str]:
    """Per module of :data:`COMPILED`: ``"compiled"``, ``"interpreted"``, or ``"stale"`` — compiled from
    sources that have changed since (a development tree edited after ``make install``: the edits do not
    run until the next install). Imports the modules."""
    try:
        from . import _build  # written by setup.py next to the compiled modules

        built = _build.SOURCES
    except ImportError:
        built = {}
    out = {}
    for name in COMPILED:
        module = importlib.import_module(f"{__name__}.{name}")
        if not module.__file__.endswith(".py"):
            out[name] = "compiled" if built.get(name) == source_digest(name) else "stale"
        else:
            out[name] = "interpreted"
    return out
