"""Build of distillwatch: the package metadata is in pyproject.toml; this file only compiles the
detection hot path (:data:`detectors.COMPILED`) with Cython.

The compiled modules are built from the same ``.py`` files (Cython's pure-Python mode); the ``.pxd``
file beside a module adds C types to it. Nothing else differs: ``DISTILLWATCH_PURE_PYTHON=1`` runs the
same sources interpreted (``detectors/__init__.py``), and tests/test_compiled.py checks that both give
the same alerts and states. ``DISTILLWATCH_NO_COMPILE=1`` at install time builds no extension at all
(for a machine without a C compiler; everything works, slower).
"""

import hashlib
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

# The hot path: what runs per event and per scoring (kept in step with detectors.COMPILED, which a test checks)
COMPILED = ("carray", "state", "features", "text", "contract", "engine", "rules", "models", "hst", "pipeline")
HERE = Path(__file__).resolve().parent


def source_digest(name: str) -> str:
    """As detectors.source_digest (this file cannot import the package it builds)."""
    h = hashlib.sha256()
    for suffix in (".py", ".pxd"):
        path = HERE / "detectors" / f"{name}{suffix}"
        h.update(suffix.encode() + b"\0")
        if path.exists():
            h.update(path.read_bytes())
    return h.hexdigest()


class BuildExt(build_ext):
    """build_ext, then ``detectors/_build.py`` beside the extensions: what they were compiled from
    (``detectors.build_status()`` compares it with the sources present). Written only once every
    extension is built, so a failed build never passes for a current one."""

    def run(self):
        super().run()
        if self.extensions:
            target = Path(self.get_ext_fullpath("detectors.state")).parent / "_build.py"
            target.write_text(
                '"""Written by setup.py: SHA-256 of the sources of each compiled module."""\n\nSOURCES = {\n'
                + "".join(f"    {name!r}: {source_digest(name)!r},\n" for name in COMPILED)
                + "}\n"
            )


# An editable install (`pip install -e .`: setuptools' editable_wheel, or the legacy develop) or
# `build_ext --inplace` builds into the source tree. Only then are the tree's earlier build artefacts
# replaced; building a wheel from the tree (`pip install .`, `pip wheel .`) leaves them alone.
IN_PLACE = bool({"editable_wheel", "develop"} & set(sys.argv[1:])) or (
    "build_ext" in sys.argv[1:] and bool({"--inplace", "-i"} & set(sys.argv[1:])))


class BuildPy(build_py):
    """build_py without ``detectors/_build.py``: that file in the tree records the tree's own in-place
    build, not this one (:class:`BuildExt` writes this build's, if it compiles anything)."""

    def find_package_modules(self, package, package_dir):
        return [m for m in super().find_package_modules(package, package_dir) if m[:2] != ("detectors", "_build")]


ext_modules = []
if IN_PLACE:  # the record of an earlier in-place build: rewritten only when this one has succeeded
    (HERE / "detectors" / "_build.py").unlink(missing_ok=True)
if os.environ.get("DISTILLWATCH_NO_COMPILE", "") not in ("", "0"):
    if IN_PLACE:
        for name in COMPILED:  # extensions an earlier in-place build left would still be imported
            for built in (HERE / "detectors").glob(f"{name}.*.so"):
                built.unlink()
else:
    from Cython.Build import cythonize

    ext_modules = cythonize(
        [f"detectors/{name}.py" for name in COMPILED],
        compiler_directives={
            "language_level": 3,
            # C types come from the .pxd files only: an annotation such as `x: float` must not turn a
            # Python object into a C double (and change what the code does)
            "annotation_typing": False,
        },
        quiet=True,
    )
    for ext in ext_modules:
        # no fused multiply-add: the compiled arithmetic rounds exactly as Python's does (GCC contracts
        # a * b + c into one FMA by default where the CPU has it, e.g. on aarch64)
        ext.extra_compile_args.append("-ffp-contract=off")

setup(ext_modules=ext_modules, cmdclass={"build_ext": BuildExt, "build_py": BuildPy})
