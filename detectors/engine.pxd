# C types for detectors/engine.py when it is compiled (Cython pure-Python mode: engine.py is the source).
cimport cython

from detectors.contract cimport Event
from detectors.features cimport absorb, features
from detectors.models cimport PageHinkley
from detectors.state cimport AccountState

cdef unsigned long long _MASK64
cdef unsigned long long _IV[8]
cdef unsigned char _SIGMA[160]

@cython.locals(h=cython.ulonglong[8], i=cython.Py_ssize_t, n=cython.Py_ssize_t, done=cython.Py_ssize_t,
               last=cython.bint, size=cython.Py_ssize_t)
cpdef unsigned long long _blake2b64(bytes data)

@cython.locals(m=cython.ulonglong[16], v=cython.ulonglong[16], w=cython.ulonglong, byte=cython.ulonglong,
               i=cython.Py_ssize_t, j=cython.Py_ssize_t, k=cython.Py_ssize_t, r=cython.Py_ssize_t,
               s=cython.Py_ssize_t)
cdef void _blake2b_compress(unsigned long long* h, const unsigned char* data, Py_ssize_t at, Py_ssize_t size,
                            unsigned long long counter, bint last) noexcept

@cython.locals(t=cython.ulonglong)
cdef inline void _g(unsigned long long* v, Py_ssize_t a, Py_ssize_t b, Py_ssize_t c, Py_ssize_t d,
                    unsigned long long x, unsigned long long y) noexcept

cdef inline unsigned long long _u64(unsigned long long n) noexcept

cpdef unsigned long long request_hash(str request_id) except 0

cdef tuple _MODEL_EXCLUDED

@cython.locals(x=dict)
cpdef dict _model_input(dict feats)

cdef class PartitionContext:
    cdef public object calendar, anomaly, labels, population, scorings

cdef class Detector:
    cdef readonly object rules, coordination
    cdef PageHinkley _page_hinkley
    cdef tuple _baseline_features
    # the scoring schedule's numbers, copied from rules (a frozen dataclass) at construction: C reads per event
    cdef long long _min_events, _early_events, _interval_events
    cdef double _interval_seconds

    @cython.locals(rh=cython.ulonglong, ts=cython.double)
    cpdef bint process(self, AccountState state, Event ev, list alerts, PartitionContext ctx=*,
                       list fingerprints=*) except -1

    @cython.locals(kind=cython.longlong)
    cpdef bint _may_alert(self, AccountState state, double ts) except -1

    @cython.locals(ph=PageHinkley, changed=cython.bint)
    cpdef bint _change_detected(self, AccountState state, double x) except -1
