//! Python binding of the load balancer engine. The engine runs its own threads; every method
//! that may block (binding, joining threads, draining) releases the GIL.

use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use thecloud_lb::{Engine, ErrorKind, LbError};

use crate::metrics::MetricsRegistry;

/// Maps an engine error onto `thecloud.core.errors`.
fn to_py_err(py: Python<'_>, err: LbError) -> PyErr {
    let class = match err.kind {
        ErrorKind::InvalidArgument => "InvalidArgumentError",
        ErrorKind::State | ErrorKind::Io => "StateError",
    };
    let build = || -> PyResult<PyErr> {
        let cls = py.import("thecloud.core.errors")?.getattr(class)?;
        Ok(PyErr::from_value(cls.call1((err.message.clone(),))?))
    };
    build().unwrap_or_else(|import_failure| {
        PyRuntimeError::new_err(format!(
            "{} (and thecloud.core.errors could not be loaded: {import_failure})",
            err.message
        ))
    })
}

/// An L7 load balancer engine, configured with the JSON of `LoadBalancerConfig.to_native()`.
#[pyclass(frozen, module = "thecloud._native")]
pub struct LoadBalancer {
    engine: Engine,
}

#[pymethods]
impl LoadBalancer {
    #[new]
    #[pyo3(signature = (config_json, metrics=None))]
    fn new(
        py: Python<'_>,
        config_json: &str,
        metrics: Option<PyRef<'_, MetricsRegistry>>,
    ) -> PyResult<Self> {
        let metrics = metrics.map(|m| m.registry());
        let engine = py
            .detach(|| Engine::new(config_json, metrics))
            .map_err(|e| to_py_err(py, e))?;
        Ok(Self { engine })
    }

    /// Binds the listeners and starts the worker threads.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.engine.start())
            .map_err(|e| to_py_err(py, e))
    }

    /// Listener name -> (host, port) actually bound.
    fn addresses<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        // The engine's lock may be held by a thread waiting for the GIL.
        let addresses = py
            .detach(|| self.engine.addresses())
            .map_err(|e| to_py_err(py, e))?;
        let out = PyDict::new(py);
        for (name, address) in addresses {
            out.set_item(name, (address.ip().to_string(), address.port()))?;
        }
        Ok(out)
    }

    /// Atomically swaps in a new configuration (JSON).
    fn update(&self, py: Python<'_>, config_json: &str) -> PyResult<()> {
        py.detach(|| self.engine.update(config_json))
            .map_err(|e| to_py_err(py, e))
    }

    /// Stops accepting and waits for in-flight work; True if everything finished in time.
    #[pyo3(signature = (timeout=30.0))]
    fn drain(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        if !timeout.is_finite() || timeout < 0.0 {
            return Err(to_py_err(
                py,
                LbError::invalid(format!(
                    "timeout: must be a non-negative number, got {timeout}"
                )),
            ));
        }
        py.detach(|| self.engine.drain(Duration::from_secs_f64(timeout)))
            .map_err(|e| to_py_err(py, e))
    }

    /// Closes everything and joins the workers; idempotent.
    fn stop(&self, py: Python<'_>) {
        py.detach(|| self.engine.stop());
    }

    /// Counters and backend states as a JSON object.
    fn stats_json(&self, py: Python<'_>) -> String {
        py.detach(|| self.engine.stats_json())
    }
}

impl Drop for LoadBalancer {
    /// An unstopped engine is stopped here, not in `Engine::drop`: joining its threads with
    /// the GIL held would freeze every other Python thread meanwhile.
    fn drop(&mut self) {
        let engine = &self.engine;
        // None while the interpreter shuts down: Engine::drop then stops it as before.
        let _ = Python::try_attach(|py| py.detach(|| engine.stop()));
    }
}
