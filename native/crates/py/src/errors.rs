//! The one mapping from engine errors to `thecloud.core.errors`, and the one helper through which
//! long native calls release the GIL.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use thecloud_metrics::{ErrorKind, MetricsError};

/// Converts an engine error into the matching `thecloud.core.errors` exception.
pub fn to_py_err(py: Python<'_>, err: MetricsError) -> PyErr {
    let class = match err.kind {
        ErrorKind::InvalidArgument => "InvalidArgumentError",
        ErrorKind::Conflict => "ConflictError",
        ErrorKind::Capacity => "CapacityError",
        ErrorKind::Io => "StateError",
    };
    let build = || -> PyResult<PyErr> {
        let cls = py.import("thecloud.core.errors")?.getattr(class)?;
        Ok(PyErr::from_value(cls.call1((err.message.clone(),))?))
    };
    build().unwrap_or_else(|import_failure| {
        // The hierarchy itself is missing: say so, with the original message, instead of hiding it.
        PyRuntimeError::new_err(format!(
            "{} (and thecloud.core.errors could not be loaded: {import_failure})",
            err.message
        ))
    })
}

/// Runs `work` with the GIL released and maps its error.
pub fn without_gil<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Result<T, MetricsError> + Send,
{
    py.detach(work).map_err(|e| to_py_err(py, e))
}
