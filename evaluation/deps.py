"""Lazy imports of the optional evaluation dependencies (the ``eval`` extra)."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EvaluationError", "MissingDependency", "require", "check_eval_dependencies"]

INSTALL_HINT = (
    "install the evaluation extra: pip install 'distillwatch[eval]' (in a checkout: .venv/bin/pip install -e '.[eval]')"
)

# import name -> distribution name
OPTIONAL = {"sklearn": "scikit-learn", "matplotlib": "matplotlib"}


class EvaluationError(RuntimeError):
    """An evaluation cannot run (missing dependency, unusable input)."""


class MissingDependency(EvaluationError):
    """An optional dependency of the ``eval`` extra is not installed."""


def require(module: str, purpose: str = "distillwatch evaluate") -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependency` saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        dist = OPTIONAL.get(top, top)
        raise MissingDependency(f"{purpose} needs {dist}, which is not installed; {INSTALL_HINT}") from exc


def check_eval_dependencies(purpose: str = "distillwatch evaluate") -> None:
    """Fail early (before any long computation) when an optional dependency is missing."""
    for module in OPTIONAL:
        require(module, purpose)
