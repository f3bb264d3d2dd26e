# C pointers to the items of an array.array (detectors/carray.py is the source; see its docstring).
cimport cpython.array

cdef double* f64(cpython.array.array a) noexcept
cdef float* f32(cpython.array.array a) noexcept
cdef unsigned int* u32(cpython.array.array a) noexcept
cdef unsigned long long* u64(cpython.array.array a) noexcept
cdef int* i32(cpython.array.array a) noexcept
cdef long long* i64(cpython.array.array a) noexcept
