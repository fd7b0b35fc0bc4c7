# cython: language_level=3, cdivision=True, embedsignature=True, auto_pickle=False, autotestdict=False
"""The hot path of the metrics API: counters, gauges and histograms whose inc/set/observe write
native cells directly (see _cells.h); families and series are registered through the Rust registry.

Cell layouts (native/crates/metrics/src/writer.rs): a counter is [integer increments (engines),
float increments (Python)]; Python adds to the float cell, in order, so its sums match
prometheus-client's bit for bit. A histogram is [u64 count per bucket..., f64 sum].

Python code is serialized by the GIL, so all Python threads of a process share one single-writer
shard (the "Python shard") without atomics; gauges use the atomic shard.
"""

cimport cython
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport uint64_t, uintptr_t

from thecloud.core.errors import InvalidArgumentError
from thecloud.dataplane.metrics.timing import Timer

import time as _time

cdef extern from "Python.h":
    ctypedef struct PyMethodDef:
        const char *ml_name
        void *ml_meth
        int ml_flags
        const char *ml_doc
    int METH_FASTCALL
    int METH_KEYWORDS
    object PyDescr_NewMethod(PyTypeObject *owner, PyMethodDef *method)
    void PyType_Modified(PyTypeObject *owner)
    PyObject *PyDict_GetItemWithError(object mapping, object key) except? NULL
    Py_ssize_t PyTuple_GET_SIZE(object t)
    int PyDict_SetItemString(object mapping, const char *key, object value) except -1

cdef extern from "_cells.h":
    void tc_cell_add(uint64_t *cell, double delta) nogil
    void tc_cell_add_integer(uint64_t *cell, uint64_t delta) nogil
    void tc_cell_atomic_add(uint64_t *cell, double delta) nogil
    void tc_cell_store(uint64_t *cell, double value) nogil
    double tc_cell_load(const uint64_t *cell) nogil
    Py_ssize_t tc_bucket_index(const double *bounds, Py_ssize_t n, double value) nogil


@cython.final
@cython.no_gc
cdef class Shards:
    """Base addresses of this process's Python shard and of the atomic shard of one registry.

    Holds the native registry that owns the mapping, so every metric and child (which all hold
    their Shards) keeps the memory they write mapped, however long they outlive the Registry.
    """

    cdef uint64_t *python
    cdef uint64_t *atomic
    cdef object owner  # the native registry: owns the mapping; holds no Python references

    def __cinit__(self, uintptr_t python_address, uintptr_t atomic_address, owner):
        self.python = <uint64_t *> python_address
        self.atomic = <uint64_t *> atomic_address
        self.owner = owner

    def move_python_shard(self, uintptr_t python_address):
        """Points Python writes at another shard (a forked child claims its own)."""
        self.python = <uint64_t *> python_address

    def read(self, Py_ssize_t cell, bint atomic=False):
        """This process's Python-shard value of a cell (or the atomic shard's): for tests."""
        return tc_cell_load((self.atomic if atomic else self.python) + cell)


@cython.final
@cython.no_gc
cdef class Bounds:
    """A histogram's upper bounds as a C array, shared by the family and its children."""

    cdef double *values
    cdef Py_ssize_t count

    def __cinit__(self, tuple bounds):
        self.count = len(bounds)
        self.values = <double *> PyMem_Malloc((self.count or 1) * sizeof(double))
        if self.values == NULL:
            raise MemoryError()
        for i, bound in enumerate(bounds):
            self.values[i] = bound

    def __dealloc__(self):
        PyMem_Free(self.values)


cdef str _NEGATIVE = "Counters can only be incremented by non-negative amounts."


@cython.final
@cython.no_gc
cdef class CounterChild:
    """One counter series."""

    cdef Shards shards
    cdef Py_ssize_t cell

    def inc(self, double amount=1.0):
        """Adds amount (default 1), which must not be negative."""
        if amount < 0.0:
            raise InvalidArgumentError(_NEGATIVE)
        tc_cell_add(self.shards.python + self.cell + 1, amount)

    def count_exceptions(self, exception=Exception):
        """Counts exceptions of the given type raised in a with-block or decorated function."""
        return _ExceptionCounter(self, exception)


@cython.final
@cython.no_gc
cdef class GaugeChild:
    """One gauge series (atomic: any thread or process may write it)."""

    cdef Shards shards
    cdef Py_ssize_t cell

    def inc(self, double amount=1.0):
        """Adds amount (default 1)."""
        tc_cell_atomic_add(self.shards.atomic + self.cell, amount)

    def dec(self, double amount=1.0):
        """Subtracts amount (default 1)."""
        tc_cell_atomic_add(self.shards.atomic + self.cell, -amount)

    def set(self, double value):
        """Sets the value."""
        tc_cell_store(self.shards.atomic + self.cell, value)

    def set_to_current_time(self):
        """Sets the value to the current Unix time in seconds."""
        tc_cell_store(self.shards.atomic + self.cell, _time.time())

    def track_inprogress(self):
        """Counts callers inside a with-block or decorated function."""
        return _InProgress(self)

    def time(self):
        """Sets the gauge to the duration of a with-block or decorated function, in seconds."""
        return Timer(self.set)


@cython.final
@cython.no_gc
cdef class HistogramChild:
    """One histogram series: bucket cells followed by the sum cell."""

    cdef Shards shards
    cdef Bounds bounds
    cdef Py_ssize_t cell

    def observe(self, double amount):
        """Records one observation."""
        cdef uint64_t *cells = self.shards.python + self.cell
        cdef Py_ssize_t bucket = tc_bucket_index(self.bounds.values, self.bounds.count, amount)
        if bucket < self.bounds.count:
            tc_cell_add_integer(cells + bucket, 1)
        tc_cell_add(cells + self.bounds.count, amount)

    def time(self):
        """Observes the duration of a with-block or decorated function, in seconds."""
        return Timer(self.observe)


cdef class _Family:
    """What counter, gauge and histogram families share: registration and label lookup."""

    cdef object registry
    cdef readonly str _name
    cdef readonly str _documentation
    cdef readonly tuple _labelnames
    cdef Py_ssize_t family
    cdef Shards shards
    cdef dict children
    cdef object unlabeled
    # The unlabeled series' first cell, or -1 for a labeled family (whose parent cannot be written).
    cdef Py_ssize_t cell

    cdef _setup(self, str kind, str name, str documentation, labelnames, str namespace,
                str subsystem, str unit, registry, tuple buckets):
        from thecloud.dataplane.metrics.registry import REGISTRY
        if registry is None:
            registry = REGISTRY
        full_name = "_".join(part for part in (namespace, subsystem, name) if part)
        if unit and not full_name.endswith("_" + unit):
            full_name = full_name + "_" + unit
        if isinstance(labelnames, str):
            raise InvalidArgumentError("labelnames must be a sequence of names, not one string")
        self.registry = registry
        self._labelnames = tuple(labelnames)
        self._documentation = documentation
        self.family = registry.native.register(kind, full_name, documentation,
                                               list(self._labelnames), list(buckets))
        self._name = full_name[:-6] if kind == "counter" and full_name.endswith("_total") else full_name
        self.shards = registry.shards
        self.children = {}
        self.cell = -1
        if not self._labelnames:
            self.unlabeled = self._child(())
            self.cell = self.registry.native.series(self.family, [])

    cdef object _new_child(self, Py_ssize_t cell):
        raise TypeError("_Family is abstract: use Counter, Gauge or Histogram")

    cdef object _child(self, tuple values):
        cell = self.registry.native.series(self.family, [str(v) for v in values])
        child = self._new_child(cell)
        self.children[values] = child
        return child

    cdef object _labels(self, tuple values, dict by_name):
        """The series with these label values, created on first use (see _labels_fastcall)."""
        if by_name:
            values = self._values_by_name(values, by_name)
        child = self.children.get(values)
        if child is None:
            if not self._labelnames:
                raise InvalidArgumentError(f"metric {self._name!r} has no labels")
            child = self._child(values)
        return child

    cdef tuple _values_by_name(self, tuple positional, dict by_name):
        if positional:
            raise InvalidArgumentError("give label values either by position or by name")
        if sorted(by_name) != sorted(self._labelnames):
            raise InvalidArgumentError(
                f"metric {self._name!r} takes labels {self._labelnames}, got {tuple(by_name)}")
        return tuple([by_name[name] for name in self._labelnames])

    def remove(self, *values):
        """Forgets a child locally (its cells stay allocated: cells are never reused)."""
        self.children.pop(values, None)

    cdef object _parent_only(self):
        if self.unlabeled is None:
            raise InvalidArgumentError(
                f"metric {self._name!r} has labels {self._labelnames}: call .labels(...) first")
        return self.unlabeled

    def __repr__(self):
        return f"{type(self).__name__}({self._name!r})"


cdef class Counter(_Family):
    """A monotonically increasing counter, shaped like prometheus_client.Counter."""

    def __init__(self, str name, str documentation, labelnames=(), str namespace="",
                 str subsystem="", str unit="", registry=None):
        self._setup("counter", name, documentation, labelnames, namespace, subsystem, unit,
                    registry, ())

    cdef object _new_child(self, Py_ssize_t cell):
        cdef CounterChild child = CounterChild.__new__(CounterChild)
        child.shards = self.shards
        child.cell = cell
        return child

    def inc(self, double amount=1.0):
        """Adds amount (default 1) to the unlabeled series."""
        if self.cell < 0:
            self._parent_only()
        if amount < 0.0:
            raise InvalidArgumentError(_NEGATIVE)
        tc_cell_add(self.shards.python + self.cell + 1, amount)

    def count_exceptions(self, exception=Exception):
        """Counts exceptions of the given type raised in a with-block or decorated function."""
        return _ExceptionCounter(self._parent_only(), exception)


cdef class Gauge(_Family):
    """A value that goes up and down, shaped like prometheus_client.Gauge."""

    def __init__(self, str name, str documentation, labelnames=(), str namespace="",
                 str subsystem="", str unit="", registry=None):
        self._setup("gauge", name, documentation, labelnames, namespace, subsystem, unit,
                    registry, ())

    cdef object _new_child(self, Py_ssize_t cell):
        cdef GaugeChild child = GaugeChild.__new__(GaugeChild)
        child.shards = self.shards
        child.cell = cell
        return child

    def inc(self, double amount=1.0):
        """Adds amount (default 1) to the unlabeled series."""
        if self.cell < 0:
            self._parent_only()
        tc_cell_atomic_add(self.shards.atomic + self.cell, amount)

    def dec(self, double amount=1.0):
        """Subtracts amount (default 1) from the unlabeled series."""
        if self.cell < 0:
            self._parent_only()
        tc_cell_atomic_add(self.shards.atomic + self.cell, -amount)

    def set(self, double value):
        """Sets the unlabeled series."""
        if self.cell < 0:
            self._parent_only()
        tc_cell_store(self.shards.atomic + self.cell, value)

    def set_to_current_time(self):
        """Sets the unlabeled series to the current Unix time in seconds."""
        self._parent_only().set_to_current_time()

    def track_inprogress(self):
        """Counts callers inside a with-block or decorated function."""
        return _InProgress(self._parent_only())

    def time(self):
        """Sets the gauge to the duration of a with-block or decorated function, in seconds."""
        return Timer(self.set)


DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                   float("inf"))


cdef class Histogram(_Family):
    """Observations counted in fixed buckets, shaped like prometheus_client.Histogram."""

    cdef Bounds bounds

    def __init__(self, str name, str documentation, labelnames=(), str namespace="",
                 str subsystem="", str unit="", registry=None, buckets=DEFAULT_BUCKETS):
        bounds = tuple(float(b) for b in buckets)
        if bounds and bounds[-1] != float("inf"):
            bounds = bounds + (float("inf"),)
        self.bounds = Bounds(bounds)
        self._setup("histogram", name, documentation, labelnames, namespace, subsystem, unit,
                    registry, bounds)

    cdef object _new_child(self, Py_ssize_t cell):
        cdef HistogramChild child = HistogramChild.__new__(HistogramChild)
        child.shards = self.shards
        child.bounds = self.bounds
        child.cell = cell
        return child

    def observe(self, double amount):
        """Records one observation in the unlabeled series."""
        if self.cell < 0:
            self._parent_only()
        cdef uint64_t *cells = self.shards.python + self.cell
        cdef Py_ssize_t bucket = tc_bucket_index(self.bounds.values, self.bounds.count, amount)
        if bucket < self.bounds.count:
            tc_cell_add_integer(cells + bucket, 1)
        tc_cell_add(cells + self.bounds.count, amount)

    def time(self):
        """Observes the duration of a with-block or decorated function, in seconds."""
        return Timer(self.observe)


class _InProgress:
    """Context manager and decorator adding 1 to a gauge on entry and 1 less on exit."""

    def __init__(self, gauge):
        self._gauge = gauge

    def __enter__(self):
        self._gauge.inc()

    def __exit__(self, *exc_info):
        self._gauge.dec()

    def __call__(self, func):
        import functools

        @functools.wraps(func)
        def wrapped(*args, **kwargs):
            with self:
                return func(*args, **kwargs)

        return wrapped


class _ExceptionCounter:
    """Context manager and decorator counting exceptions of a type into a counter."""

    def __init__(self, counter, exception):
        self._counter = counter
        self._exception = exception

    def __enter__(self):
        return None

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, self._exception):
            self._counter.inc()
        return False

    def __call__(self, func):
        import functools

        @functools.wraps(func)
        def wrapped(*args, **kwargs):
            with self:
                return func(*args, **kwargs)

        return wrapped


# `labels` is the one hot call whose Cython form is slow: `*values, **labelkwargs` makes Cython
# use the tuple-and-dict calling convention, costing a kwargs dict per call. This vectorcall-style
# method builds only the key tuple, looks it up, and defers everything else to _Family._labels.
cdef object _labels_fastcall(object self, PyObject **args, Py_ssize_t nargs, PyObject *kwnames):
    cdef _Family family = <_Family> self
    cdef Py_ssize_t i
    cdef tuple key = PyTuple_New(nargs)
    for i in range(nargs):
        Py_INCREF(<object> args[i])
        PyTuple_SET_ITEM(key, i, <object> args[i])
    if kwnames != NULL and PyTuple_GET_SIZE(<object> kwnames) > 0:
        names = <tuple> kwnames
        by_name = {names[i]: <object> args[nargs + i] for i in range(len(names))}
        return family._labels(key, by_name)
    cdef PyObject *found = PyDict_GetItemWithError(family.children, key)
    if found != NULL:
        return <object> found
    return family._labels(key, None)


cdef PyMethodDef _LABELS_METHOD
_LABELS_METHOD.ml_name = "labels"
_LABELS_METHOD.ml_meth = <void *> _labels_fastcall
_LABELS_METHOD.ml_flags = METH_FASTCALL | METH_KEYWORDS
_LABELS_METHOD.ml_doc = (
    b"labels(*values, **labelkwargs)\n--\n\n"
    b"The series with these label values, positional or by name; created on first use."
)
PyDict_SetItemString(<object> (<PyTypeObject *> _Family).tp_dict,
                     "labels", PyDescr_NewMethod(<PyTypeObject *> _Family, &_LABELS_METHOD))
PyType_Modified(<PyTypeObject *> _Family)
