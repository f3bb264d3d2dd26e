# C types for detectors/pipeline.py when it is compiled (Cython pure-Python mode: pipeline.py is the source).
cimport cython

from detectors.contract cimport Event
from detectors.engine cimport Detector, PartitionContext
from detectors.state cimport AccountState

cdef class LocalPipeline:
    cdef public object idle_seconds
    cdef public double newest
    cdef public long long _until_sweep, expired
    cdef public Detector detector
    cdef public Py_ssize_t partitions
    cdef public dict states, indexes, _partition
    cdef public list contexts, alerts, _fps

    cpdef Py_ssize_t partition(self, str account_id) except -1

    @cython.locals(state=AccountState, ok=cython.bint, fps=list)
    cpdef bint handle(self, Event ev) except -1
