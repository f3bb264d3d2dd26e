"""pytest collects doctests from detectors/ (``--doctest-modules``). A compiled module's doctests are not
collected from its source here (the imported module is the extension, not that file); tests/test_compiled.py
runs them against the same sources interpreted (``DISTILLWATCH_PURE_PYTHON=1``)."""

import importlib

import detectors

collect_ignore = [
    f"detectors/{name}.py"
    for name in detectors.COMPILED
    if not importlib.import_module(f"detectors.{name}").__file__.endswith(".py")
]
