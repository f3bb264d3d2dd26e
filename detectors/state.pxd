# C types for detectors/state.py when it is compiled (Cython pure-Python mode: state.py is the source).
cimport cython
cimport cpython.array

from detectors.carray cimport u32, u64

cdef class AccountState:
    cdef public object account_id
    cdef public cpython.array.array dedup
    cdef public Py_ssize_t n_dedup
    cdef public long long n, n_scored_at, ep_seq, ep_severity, dedup_pos, input_offset, rekey_offset
    cdef public double first_ts, last_ts, hours_ts, gap_mean, gap_var, last_scored_ts, last_score, last_content
    cdef public double ep_opened_ts, ep_hot_ts, ep_peak
    cdef public long long ph_n
    cdef public double ph_mean, ph_sum_up, ph_min_up, ph_sum_down, ph_max_down, change_ts
    cdef public unsigned long long cluster_id
    cdef public long long cluster_size, cluster_kind
    cdef public double cluster_ts, cluster_strength
    cdef public long long recent_pos
    cdef public double fp_ts
    cdef public long long system_sig, topic_prompts
    cdef public double topic_pairs, topic_breadth
    cdef public cpython.array.array rates, profile, known, hours, keys, prefixes, models, tpl_sig, tpl_cnt
    cdef public cpython.array.array recent_text, recent_model, topic_kmv

    @cython.locals(p=cython.p_ulonglong, i=cython.Py_ssize_t, slots=cython.Py_ssize_t, pos=cython.Py_ssize_t)
    cpdef bint dedup_seen(self, unsigned long long h) except -1

@cython.locals(p=cython.p_uint, i=cython.Py_ssize_t, v=cython.uint)
cpdef void add_capped(cpython.array.array slots, unsigned int h)

@cython.locals(p=cython.p_uint, i=cython.Py_ssize_t, k=cython.Py_ssize_t)
cpdef Py_ssize_t count_set(cpython.array.array slots)
