# C types for detectors/rules.py when it is compiled (Cython pure-Python mode: rules.py is the source).
cimport cython

cdef class Assessment:
    cdef public double score, content, pattern
    cdef object _hits, _signals, _reasons
