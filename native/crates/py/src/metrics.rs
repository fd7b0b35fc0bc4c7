//! Python binding of the metrics registry. Creation and rendering go through here; the hot
//! `inc`/`observe` calls do not: the Cython module writes the cells at the addresses it is given.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use thecloud_metrics::{hammer_counter, FamilySpec, Format, Kind, RegionSizes, Registry};

use crate::errors::{to_py_err, without_gil};

/// A metrics registry: process-local, or shared through a file by several processes.
#[pyclass(frozen, module = "thecloud._native")]
pub struct MetricsRegistry {
    inner: Arc<Registry>,
    /// The single-writer shard Python code writes, serialized by the GIL.
    python_shard: AtomicU32,
}

fn parse_kind(kind: &str) -> Result<Kind, thecloud_metrics::MetricsError> {
    match kind {
        "counter" => Ok(Kind::Counter),
        "gauge" => Ok(Kind::Gauge),
        "histogram" => Ok(Kind::Histogram),
        other => Err(thecloud_metrics::MetricsError::invalid(format!(
            "unknown metric kind {other:?}: expected counter, gauge or histogram"
        ))),
    }
}

#[pymethods]
impl MetricsRegistry {
    #[new]
    #[pyo3(signature = (path=None, *, cardinality_limit=thecloud_metrics::DEFAULT_CARDINALITY_LIMIT,
                        max_shards=64, cells_per_shard=1<<22, meta_capacity=64<<20))]
    fn new(
        py: Python<'_>,
        path: Option<PathBuf>,
        cardinality_limit: usize,
        max_shards: u32,
        cells_per_shard: u64,
        meta_capacity: u64,
    ) -> PyResult<Self> {
        let sizes = RegionSizes {
            max_shards,
            cells_per_shard,
            meta_capacity,
        };
        let inner = without_gil(py, || match &path {
            Some(path) => Registry::shared(path, sizes, cardinality_limit),
            None => Registry::new(sizes, cardinality_limit),
        })?;
        let shard = inner.region().claim_shard().map_err(|e| to_py_err(py, e))?;
        Ok(Self {
            inner,
            python_shard: AtomicU32::new(shard),
        })
    }

    /// The shared file behind the registry, or None for a process-local one.
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        self.inner.region().path().map(PathBuf::from)
    }

    /// The most label sets one family may have.
    #[getter]
    fn cardinality_limit(&self) -> usize {
        self.inner.cardinality_limit()
    }

    /// Registers a family (idempotent for an identical definition); returns its id.
    #[pyo3(signature = (kind, name, help, label_names, buckets))]
    fn register(
        &self,
        py: Python<'_>,
        kind: &str,
        name: String,
        help: String,
        label_names: Vec<String>,
        buckets: Vec<f64>,
    ) -> PyResult<u32> {
        let kind = parse_kind(kind).map_err(|e| to_py_err(py, e))?;
        let spec = FamilySpec {
            kind,
            name,
            help,
            label_names,
            buckets,
        };
        self.inner.register(spec).map_err(|e| to_py_err(py, e))
    }

    /// The first cell of the series with these label values, created on first use.
    fn series(&self, py: Python<'_>, family: u32, values: Vec<String>) -> PyResult<u64> {
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        self.inner
            .series(family, &values)
            .map(|cells| cells.first)
            .map_err(|e| to_py_err(py, e))
    }

    /// Address of cell 0 of the shard Python writes counters and histograms into.
    fn python_shard_address(&self) -> usize {
        self.inner
            .region()
            .shard_base(self.python_shard.load(Ordering::Relaxed)) as usize
    }

    /// Address of cell 0 of the atomic shard (gauges).
    fn atomic_shard_address(&self) -> usize {
        self.inner.region().shard_base(0) as usize
    }

    /// Claims a fresh Python shard: a forked child sharing the file must not write its parent's.
    fn reclaim_python_shard(&self, py: Python<'_>) -> PyResult<usize> {
        let shard = self
            .inner
            .region()
            .claim_shard()
            .map_err(|e| to_py_err(py, e))?;
        self.python_shard.store(shard, Ordering::Relaxed);
        Ok(self.python_shard_address())
    }

    /// Renders the exposition text with the GIL released.
    #[pyo3(signature = (openmetrics=false))]
    fn render<'py>(&self, py: Python<'py>, openmetrics: bool) -> PyResult<Bound<'py, PyBytes>> {
        let format = if openmetrics {
            Format::OpenMetrics100
        } else {
            Format::Prometheus004
        };
        let registry = Arc::clone(&self.inner);
        let text = without_gil(py, move || registry.render(format))?;
        bytes_without_gil(py, &text)
    }

    /// Counts describing the registry's size.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (families, series) = self.inner.counts().map_err(|e| to_py_err(py, e))?;
        let region = self.inner.region();
        let stats = PyDict::new(py);
        stats.set_item("families", families)?;
        stats.set_item("series", series)?;
        stats.set_item("cells_in_use", region.cells_in_use())?;
        stats.set_item("cells_capacity", region.sizes().cells_per_shard)?;
        stats.set_item("shards_in_use", region.shards_in_use())?;
        Ok(stats)
    }

    /// Runs `threads` Rust threads, each adding 1 to a counter series `iterations` times through
    /// its own shard writer (as an engine thread would); returns each thread's seconds.
    fn hammer_counter(
        &self,
        py: Python<'_>,
        family: u32,
        values: Vec<String>,
        threads: usize,
        iterations: u64,
    ) -> PyResult<Vec<f64>> {
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let counter = self
            .inner
            .counter(family, &values)
            .map_err(|e| to_py_err(py, e))?;
        let registry = Arc::clone(&self.inner);
        let times = without_gil(py, move || {
            hammer_counter(&registry, counter, threads, iterations)
        })?;
        Ok(times.iter().map(|t| t.as_secs_f64()).collect())
    }
}

/// Copies `data` into a new `bytes` object with the GIL released during the copy.
///
/// `PyBytes::new` copies (and page-faults a large fresh allocation) with the GIL held: for a 5 MB
/// exposition that blocks other Python threads for milliseconds. Allocating uninitialised storage
/// is cheap; filling it needs no GIL because no other thread can see the object yet.
fn bytes_without_gil<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let len = pyo3::ffi::Py_ssize_t::try_from(data.len())
        .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("exposition too large"))?;
    // SAFETY: a NULL source asks CPython for an uninitialised bytes object of `len` bytes; the
    // result is checked for NULL (error set) before use, and owned by the returned Bound.
    let object = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            pyo3::ffi::PyBytes_FromStringAndSize(std::ptr::null(), len),
        )?
    };
    // SAFETY: `object` is a fresh bytes object of exactly `len` bytes that only this thread knows.
    let target = unsafe { pyo3::ffi::PyBytes_AsString(object.as_ptr()) } as usize;
    py.detach(|| {
        // SAFETY: see above; the buffer is `len` bytes and does not overlap `data`.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), target as *mut u8, data.len()) }
    });
    Ok(object.cast_into::<PyBytes>()?)
}

impl MetricsRegistry {
    /// The registry itself, for engines that report into it (the load balancer).
    pub(crate) fn registry(&self) -> Arc<Registry> {
        Arc::clone(&self.inner)
    }
}

impl Drop for MetricsRegistry {
    fn drop(&mut self) {
        self.inner
            .region()
            .release_shard(self.python_shard.load(Ordering::Relaxed));
    }
}
