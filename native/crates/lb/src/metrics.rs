//! The engine's series in the native metrics registry: per-backend request counters by status
//! class and latency histograms, and per-route request counters. Handles are resolved when a
//! configuration is compiled; workers write them through their own `ShardWriter`.

use std::sync::Arc;

use thecloud_metrics::{
    Counter, FamilySpec, Histogram, Kind, MetricsError, Registry as MetricsRegistry, ShardWriter,
};

use crate::error::LbError;

const LATENCY_BUCKETS: [f64; 14] = [
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    10.0,
    f64::INFINITY,
];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn metrics_error(e: MetricsError) -> LbError {
    LbError::invalid(format!("load balancer metrics: {}", e.message))
}

/// The engine's metric families in one registry.
pub struct Families {
    registry: Arc<MetricsRegistry>,
    requests: u32,
    duration: u32,
    route_requests: u32,
}

/// One backend's series.
pub struct BackendMetrics {
    classes: [Counter; 5],
    duration: Histogram,
}

impl BackendMetrics {
    /// Counts one response of `status` that took `seconds`.
    pub fn record(&self, writer: &ShardWriter, status: u16, seconds: f64) {
        let class = usize::from((status / 100).clamp(1, 5)) - 1;
        writer.inc_by(self.classes[class], 1);
        writer.observe(&self.duration, seconds);
    }
}

impl Families {
    /// Registers (idempotently) the engine's families.
    pub fn register(registry: Arc<MetricsRegistry>) -> Result<Self, LbError> {
        let family = |kind, name: &str, help: &str, labels: &[&str], buckets: &[f64]| {
            registry
                .register(FamilySpec {
                    kind,
                    name: name.to_owned(),
                    help: help.to_owned(),
                    label_names: labels.iter().map(|l| (*l).to_owned()).collect(),
                    buckets: buckets.to_vec(),
                })
                .map_err(metrics_error)
        };
        let requests = family(
            Kind::Counter,
            "thecloud_lb_backend_requests_total",
            "Responses relayed from a backend (or generated for it), by status class.",
            &["pool", "backend", "class"],
            &[],
        )?;
        let duration = family(
            Kind::Histogram,
            "thecloud_lb_backend_request_duration_seconds",
            "Time from a request head to the end of its response, per backend.",
            &["pool", "backend"],
            &LATENCY_BUCKETS,
        )?;
        let route_requests = family(
            Kind::Counter,
            "thecloud_lb_route_requests_total",
            "Requests matched by a route.",
            &["route"],
            &[],
        )?;
        Ok(Self {
            registry,
            requests,
            duration,
            route_requests,
        })
    }

    /// The series of one backend of a pool.
    pub fn backend(&self, pool: &str, backend: &str) -> Result<BackendMetrics, LbError> {
        let class = |c: &str| {
            self.registry
                .counter(self.requests, &[pool, backend, c])
                .map_err(metrics_error)
        };
        Ok(BackendMetrics {
            classes: [
                class(CLASSES[0])?,
                class(CLASSES[1])?,
                class(CLASSES[2])?,
                class(CLASSES[3])?,
                class(CLASSES[4])?,
            ],
            duration: self
                .registry
                .histogram(self.duration, &[pool, backend])
                .map_err(metrics_error)?,
        })
    }

    /// The request counter of a route.
    pub fn route(&self, route: &str) -> Result<Counter, LbError> {
        self.registry
            .counter(self.route_requests, &[route])
            .map_err(metrics_error)
    }

    /// A single-writer shard for one worker thread.
    pub fn writer(&self) -> Result<ShardWriter, LbError> {
        self.registry.writer().map_err(metrics_error)
    }
}
