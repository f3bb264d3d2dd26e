# C types for detectors/models.py when it is compiled (Cython pure-Python mode: models.py is the source).
cimport cython
from libc.math cimport copysign, isfinite, log1p

@cython.locals(out=dict, v=cython.double)
cpdef dict _transform(dict x, is_log, dict cache)

@cython.locals(v=cython.double, q=tuple, updates=tuple)
cpdef _population_update(dict qs, dict ns, dict fast, dict x, levels)
