# C types for detectors/hst.py when it is compiled (Cython pure-Python mode: hst.py is the source).
cimport cython
cimport cpython.array

from detectors.carray cimport f64, i32, i64

@cython.locals(lp=cython.p_double, hp=cython.p_double, cp=cython.p_double, i=cython.Py_ssize_t, total=cython.double,
               r=cython.double, left=cython.Py_ssize_t, right=cython.Py_ssize_t, mid=cython.Py_ssize_t,
               on=cython.Py_ssize_t, a=cython.double, b=cython.double, x0=cython.double, x1=cython.double,
               at=cython.double, u=cython.double)
cdef void _grow(Py_ssize_t n, cpython.array.array lo, cpython.array.array hi, cpython.array.array cum, int height,
                object random, list feature, list threshold) except *

@cython.locals(fp=cython.p_int, tp=cython.p_double, lp=cython.p_longlong, xp=cython.p_double, pp=cython.p_int,
               size=cython.Py_ssize_t, t=cython.Py_ssize_t, node=cython.Py_ssize_t, depth=cython.Py_ssize_t,
               f=cython.int, left=cython.Py_ssize_t, right=cython.Py_ssize_t)
cdef void _learn_trees(cpython.array.array feature, cpython.array.array threshold, cpython.array.array l_mass,
                       cpython.array.array xs, cpython.array.array present, Py_ssize_t n_trees,
                       Py_ssize_t height) noexcept

@cython.locals(fp=cython.p_int, tp=cython.p_double, lp=cython.p_longlong, rp=cython.p_longlong,
               xp=cython.p_double, pp=cython.p_int, size=cython.Py_ssize_t, t=cython.Py_ssize_t,
               node=cython.Py_ssize_t, depth=cython.Py_ssize_t, f=cython.int, left=cython.Py_ssize_t,
               right=cython.Py_ssize_t, score=cython.double, s=cython.double, r=cython.longlong,
               depth_pow=cython.longlong)
cdef double _score_trees(cpython.array.array feature, cpython.array.array threshold, cpython.array.array l_mass,
                         cpython.array.array r_mass, cpython.array.array xs, cpython.array.array present,
                         Py_ssize_t n_trees, Py_ssize_t height, double size_limit) noexcept

@cython.locals(lp=cython.p_longlong, rp=cython.p_longlong, i=cython.Py_ssize_t)
cdef void _new_window(cpython.array.array l_mass, cpython.array.array r_mass) noexcept

@cython.locals(lp=cython.p_double, hp=cython.p_double, xp=cython.p_double, pp=cython.p_int, i=cython.Py_ssize_t,
               v=cython.double, d=cython.double)
cdef void _scale(tuple names, dict x, cpython.array.array lo, cpython.array.array hi, cpython.array.array xs,
                 cpython.array.array present, bint learn) except *
