# C types for detectors/rules.py when it is compiled (Cython pure-Python mode: rules.py is the source).
cimport cpython.array
cimport cython
from libc.math cimport isfinite

from detectors.carray cimport f64, i32

cdef class Assessment:
    cdef public double score, content, pattern
    cdef object _hits, _signals, _reasons

@cython.locals(lp=cython.p_double, hp=cython.p_double, wp=cython.p_double, cp=cython.p_int, miss_content=cython.double,
               miss_pattern=cython.double, i=cython.Py_ssize_t, v=cython.double, ev=cython.double,
               contrib=cython.double)
cpdef tuple _noisy_or(dict feats, tuple features, cpython.array.array lows, cpython.array.array highs,
                      cpython.array.array weights, cpython.array.array content, list hits)
