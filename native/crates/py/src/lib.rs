//! `thecloud._native`: the one pyo3 crate. It binds the plain-Rust engine crates; Python only
//! configures them and reads results.

mod errors;
mod lb;
mod metrics;

use pyo3::prelude::*;

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add_class::<metrics::MetricsRegistry>()?;
    module.add_class::<lb::LoadBalancer>()?;
    Ok(())
}
