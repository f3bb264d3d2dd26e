# C types for detectors/models.py when it is compiled (Cython pure-Python mode: models.py is the source).
cimport cython
from libc.math cimport copysign, isfinite, log1p

@cython.locals(out=dict, v=cython.double)
cpdef dict _transform(dict x, is_log, dict cache)

@cython.locals(v=cython.double, q=tuple, updates=tuple)
cpdef _population_update(dict qs, dict ns, dict fast, dict x, levels, names)

cdef class PageHinkley:
    cdef readonly object min_instances, delta, threshold, alpha, mode  # as given
    cdef long long _n
    cdef double _mean, _inc, _dec, _min_inc, _max_dec
    cdef double _min_f, _delta_f, _threshold_f, _alpha_f
    cdef bint _up, _down

    cpdef void _reset(self) noexcept

    @cython.locals(n=cython.longlong, mean=cython.double, dev=cython.double, alpha=cython.double, inc=cython.double,
                   dec=cython.double, up=cython.bint, down=cython.bint)
    cpdef bint update(self, double x) except -1

    cpdef tuple to_tuple(self)

    cpdef void load(self, values) except *
