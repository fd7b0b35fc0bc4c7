//! thecloud-metrics: a lock-free, sharded metrics registry with native exposition.
//!
//! Values live in a memory region (process-local, or a shared file for multi-process use) as
//! 8-byte cells. Counters and histograms are written through single-writer shards, gauges
//! through one atomic shard; a scrape sums each cell across shards and renders Prometheus 0.0.4
//! or OpenMetrics text. The Python binding writes the same cells from Cython, so Python code and
//! Rust engines report into one registry and one scrape.
//!
//! ```
//! use thecloud_metrics::{FamilySpec, Format, Kind, Registry, RegionSizes};
//! let registry = Registry::new(RegionSizes::default(), 1000).unwrap();
//! let family = registry
//!     .register(FamilySpec {
//!         kind: Kind::Counter,
//!         name: "requests".into(),
//!         help: "Requests served.".into(),
//!         label_names: vec!["route".into()],
//!         buckets: vec![],
//!     })
//!     .unwrap();
//! let counter = registry.counter(family, &["/"]).unwrap();
//! let writer = registry.writer().unwrap();
//! writer.inc(counter, 1.0);
//! let text = registry.render(Format::Prometheus004).unwrap();
//! assert!(String::from_utf8(text).unwrap().contains("requests_total{route=\"/\"} 1.0"));
//! ```

mod catalog;
mod error;
mod format;
mod region;
mod registry;
mod render;
mod stress;
mod validate;
mod writer;

pub use catalog::{FamilySpec, Kind};
pub use error::{ErrorKind, MetricsError};
pub use region::{Region, RegionSizes, MAX_SHARDS};
pub use registry::{Registry, SeriesCells, DEFAULT_CARDINALITY_LIMIT};
pub use render::Format;
pub use stress::hammer_counter;
pub use writer::{Counter, Gauge, Histogram, ShardWriter};
