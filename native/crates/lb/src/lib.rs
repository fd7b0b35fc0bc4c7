//! thecloud-lb: an HTTP/1.1 reverse proxy engine. It runs its own threads; Python only configures
//! it (through thecloud-py) and reads its stats.

mod access_log;
mod affinity;
pub mod balance;
mod body;
mod buffer;
pub mod config;
mod engine;
pub mod error;
mod health_check;
pub mod http;
mod metrics;
mod rechunk;
pub mod resilience;
mod rewrite;
mod router;
mod runtime;
mod slab;
mod sys;
mod tls;
mod worker;

pub use engine::Engine;
pub use error::{ErrorKind, LbError};
