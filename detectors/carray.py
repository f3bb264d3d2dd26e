"""The items of an ``array.array``, for the compiled hot path.

Interpreted, each function returns the array itself. Compiled (``carray.pxd``), it returns a C pointer to
the array's items, which the caller indexes without a bounds check and without a Python object per item.
Callers index within the array's length, which an interpreted run checks (tests/test_compiled.py runs the
detection path both ways and compares the results).

>>> from array import array
>>> f64(array("d", [1.5]))[0]
1.5
"""

from __future__ import annotations

from array import array

import cython

__all__ = ["f64", "f32", "u32", "u64", "i32", "i64"]


def f64(a: array):
    """Items of an ``array("d")``."""
    if cython.compiled:
        return a.data.as_doubles
    return a


def f32(a: array):
    """Items of an ``array("f")``."""
    if cython.compiled:
        return a.data.as_floats
    return a


def u32(a: array):
    """Items of an ``array("I")``."""
    if cython.compiled:
        return a.data.as_uints
    return a


def u64(a: array):
    """Items of an ``array("Q")``."""
    if cython.compiled:
        return a.data.as_ulonglongs
    return a


def i32(a: array):
    """Items of an ``array("i")``."""
    if cython.compiled:
        return a.data.as_ints
    return a


def i64(a: array):
    """Items of an ``array("q")``."""
    if cython.compiled:
        return a.data.as_longlongs
    return a
