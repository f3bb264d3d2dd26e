# C types for detectors/features.py when it is compiled (Cython pure-Python mode: features.py is the source).
cimport cython
from libc.math cimport exp, log

from detectors.carray cimport f32, f64, u32
from detectors.contract cimport Event
from detectors.state cimport AccountState, add_capped

cdef Py_ssize_t P_IN, P_OUT, P_SINGLE, P_ELICIT, P_LOGPROBS, P_LOGPROBS_LONG, P_MULTI_N, P_LENGTH, P_429, P_5XX
cdef Py_ssize_t P_TOOLS, P_DEPTH, P_CAP_USE, P_MAX_TOKENS, P_TEMP, P_TEMP_SQ, P_REPEAT, P_SWEEP, P_NEW_MODEL
cdef Py_ssize_t P_REASONING, PROFILE_WINDOW, RECENT_PROMPTS, TEMPLATE_SLOTS, TOPIC_SKETCH, TOPIC_WINDOW
cdef Py_ssize_t _N_RATES, _TEXT_FULL_EVENTS, _TEXT_SAMPLE
cdef double _MIN_ALPHA, _TAU0, _TAU1, _TAU2, _TAU3, _HOURS_TAU, _NEW_MODEL_WINDOW, _LONG_OUTPUT

cdef class ModelCalendar:
    cdef public dict first_seen
    cdef public Py_ssize_t capacity

    cpdef double observe(self, unsigned int model_hash, double ts) except? -1.0

@cython.locals(ts=cython.double, n=cython.longlong, rates=cython.p_double, dt=cython.double, g=cython.double,
               a=cython.double, d=cython.double, hours=cython.p_float, k=cython.double, i=cython.Py_ssize_t,
               hour=cython.Py_ssize_t, model_h=cython.uint, new_model=cython.double, released=cython.double,
               repeat=cython.double, sweep=cython.double, analysed=cython.bint, elicit=cython.double,
               th=cython.uint, ring=cython.p_uint, models=cython.p_uint, pos=cython.Py_ssize_t,
               p=cython.p_double, out=cython.double, logprobs=cython.double, reasoning=cython.double,
               known=cython.p_float, pairs=cython.uint[95], n_pairs=cython.Py_ssize_t)
cpdef absorb(AccountState state, Event ev, ModelCalendar calendar=*, unsigned long long sample=*)

@cython.locals(w=cython.double)
cdef void _known_mean(double* p, float* known, Py_ssize_t i, double v) noexcept

@cython.locals(sigs=cython.p_uint, cnts=cython.p_float, i=cython.Py_ssize_t, low=cython.Py_ssize_t)
cdef void _template_observe(AccountState state, unsigned int sig) noexcept

@cython.locals(kmv=cython.p_uint, h=cython.uint, low=cython.uint, k=cython.Py_ssize_t, lo=cython.Py_ssize_t,
               hi=cython.Py_ssize_t, mid=cython.Py_ssize_t, j=cython.Py_ssize_t, i=cython.Py_ssize_t)
cdef unsigned int _topic_observe(AccountState state, unsigned int* pairs, Py_ssize_t n, double repeat=*) except? 0

cdef unsigned int _CRC_TABLE[256]

@cython.locals(out=cython.uint[95], n=cython.Py_ssize_t, i=cython.Py_ssize_t)
cpdef list word_pairs(str text)

@cython.locals(n=cython.Py_ssize_t, i=cython.Py_ssize_t, found=list)
cdef Py_ssize_t _word_pairs_fill(str text, unsigned int* out) except -1

@cython.locals(out=cython.uint[95], n=cython.Py_ssize_t, i=cython.Py_ssize_t)
cpdef list _word_pairs_scan(str text)

@cython.locals(head=str, tail=str, src=cython.int[96], start=cython.Py_ssize_t[96], end=cython.Py_ssize_t[96],
               ring_start=cython.Py_ssize_t[32], ring_end=cython.Py_ssize_t[32], n=cython.Py_ssize_t,
               m=cython.Py_ssize_t, first=cython.Py_ssize_t, i=cython.Py_ssize_t, crc=cython.uint, ones=cython.uint)
cdef Py_ssize_t _word_pairs_into(str text, unsigned int* out) except -2

@cython.locals(ring=cython.bint, size=cython.Py_ssize_t, i=cython.Py_ssize_t, j=cython.Py_ssize_t,
               k=cython.Py_ssize_t, length=cython.Py_ssize_t, c=cython.Py_UCS4)
cdef Py_ssize_t _scan_words(str s, int which, Py_ssize_t* start, Py_ssize_t* end, int* src, Py_ssize_t n,
                            Py_ssize_t limit) noexcept

@cython.locals(digit=cython.bint, c=cython.Py_UCS4, o=cython.uint)
cdef unsigned int _crc_word(str s, Py_ssize_t i, Py_ssize_t j, unsigned int crc) noexcept

cdef dict _ID_MEMO, _PREFIX_MEMO
cdef Py_ssize_t _PREFIX_MEMO_MAX
cpdef unsigned int stable_hash(str s) except 0
@cython.locals(h=object)
cpdef unsigned int id_hash(str s) except 0
@cython.locals(h=object)
cpdef unsigned int prefix_hash(str ip) except 0

cdef double _ENTROPY_MIN_SPAN, _LOG24
@cython.locals(last=cython.double, n=cython.longlong, rates=cython.p_double, per_min_1m=cython.double,
               per_min_10m=cython.double, per_min_1h=cython.double, per_min_1d=cython.double, idle=cython.double,
               p=cython.p_double, span=cython.double, temp_var=cython.double, total=cython.double,
               entropy=cython.double, hs=cython.double, hours=cython.p_float, acc=cython.double,
               i=cython.Py_ssize_t, h=cython.double)
cpdef dict features(AccountState state, now=*)

cdef inline bint _is_word(Py_UCS4 c) noexcept
