# C types for detectors/contract.py when it is compiled (Cython pure-Python mode: contract.py is the source).
cimport cython

cdef class Event:
    cdef public object request_id, ts, account_id, model, status_code, api_key_id, user_id, client_ip
    cdef public object user_agent, endpoint, latency_ms, finish_reason, conversation_id
    cdef public object input_tokens, output_tokens, reasoning_tokens
    cdef public object temperature, top_p, max_tokens, n, logprobs, top_logprobs, stream, seed
    cdef public object tools_count, response_format, messages_count, prompt_text, system_sha256

@cython.locals(d=dict, sub=dict, ev=Event, I64_MAX=cython.longlong, SMAX=cython.Py_ssize_t, ID_MAX=cython.Py_ssize_t,
               MODEL_MAX=cython.Py_ssize_t, TEXT_MAX=cython.Py_ssize_t)
cpdef Event from_mapping(obj)

@cython.locals(v=cython.longlong)
cdef bint _int_in(object value, long long lo, long long hi) except -1

@cython.locals(f=cython.double, v=cython.longlong)
cdef bint _number_in(object value, double hi) except -1

# the field names as orjson's key objects (contract._parsed_keys)
cdef object _K_REQUEST_ID, _K_TIMESTAMP, _K_ACCOUNT_ID, _K_MODEL, _K_STATUS_CODE, _K_API_KEY_ID, _K_USER_ID, \
    _K_CLIENT_IP, _K_USER_AGENT, _K_ENDPOINT, _K_LATENCY_MS, _K_FINISH_REASON, _K_CONVERSATION_ID, _K_USAGE, \
    _K_INPUT_TOKENS, _K_OUTPUT_TOKENS, _K_REASONING_TOKENS, _K_PARAMS, _K_TEMPERATURE, _K_TOP_P, _K_MAX_TOKENS, \
    _K_N, _K_LOGPROBS, _K_TOP_LOGPROBS, _K_STREAM, _K_SEED, _K_TOOLS_COUNT, _K_RESPONSE_FORMAT, _K_PROMPT, \
    _K_MESSAGES_COUNT, _K_TEXT, _K_SYSTEM_SHA256

cdef dict _ip6_cache

@cython.locals(n=cython.Py_ssize_t, i=cython.Py_ssize_t, part=cython.Py_ssize_t, start=cython.Py_ssize_t,
               v=cython.long)
cpdef bint _dotted_quad(str s) except -1

@cython.locals(c=cython.Py_UCS4)
cpdef bint _printable_ascii(str s) except -1

cdef double _TS_MIN, _TS_MAX

@cython.locals(n=cython.Py_ssize_t, sep=cython.Py_UCS4, zone=cython.Py_UCS4, year=cython.longlong,
               month=cython.longlong, day=cython.longlong, hour=cython.longlong, minute=cython.longlong,
               second=cython.longlong, leap=cython.bint, i=cython.Py_ssize_t, micros=cython.longlong,
               digits=cython.Py_ssize_t, offset=cython.longlong, off_h=cython.longlong, off_m=cython.longlong,
               y=cython.longlong, era=cython.longlong, yoe=cython.longlong, doy=cython.longlong,
               doe=cython.longlong, days=cython.longlong, secs=cython.longlong, ts=cython.double)
cpdef double _parse_ts_fast(str value)

@cython.locals(v=cython.longlong, i=cython.Py_ssize_t, c=cython.Py_UCS4)
cdef long long _digits(str value, Py_ssize_t at, Py_ssize_t count) noexcept
