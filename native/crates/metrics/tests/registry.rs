//! Behaviour of the registry through its public API: rendering, sharding, sharing, limits.

use std::sync::Arc;

use thecloud_metrics::{
    hammer_counter, ErrorKind, FamilySpec, Format, Kind, RegionSizes, Registry,
};

fn small() -> RegionSizes {
    RegionSizes {
        max_shards: 8,
        cells_per_shard: 4096,
        meta_capacity: 1 << 16,
    }
}

fn spec(kind: Kind, name: &str, labels: &[&str], buckets: &[f64]) -> FamilySpec {
    FamilySpec {
        kind,
        name: name.into(),
        help: format!("help of {name}"),
        label_names: labels.iter().map(|s| s.to_string()).collect(),
        buckets: buckets.to_vec(),
    }
}

fn text(registry: &Registry, format: Format) -> String {
    String::from_utf8(registry.render(format).unwrap()).unwrap()
}

#[test]
fn counter_renders_in_both_formats() {
    let registry = Registry::new(small(), 100).unwrap();
    let family = registry
        .register(spec(Kind::Counter, "requests_total", &["route"], &[]))
        .unwrap();
    let counter = registry.counter(family, &["/a"]).unwrap();
    let writer = registry.writer().unwrap();
    writer.inc(counter, 2.0);
    assert_eq!(
        text(&registry, Format::Prometheus004),
        "# HELP requests_total help of requests_total\n# TYPE requests_total counter\n\
         requests_total{route=\"/a\"} 2.0\n"
    );
    assert_eq!(
        text(&registry, Format::OpenMetrics100),
        "# HELP requests help of requests_total\n# TYPE requests counter\n\
         requests_total{route=\"/a\"} 2.0\n# EOF\n"
    );
}

#[test]
fn histogram_is_cumulative_with_le_in_label_order() {
    let registry = Registry::new(small(), 100).unwrap();
    let family = registry
        .register(spec(
            Kind::Histogram,
            "latency",
            &["zone", "code"],
            &[0.5, 1.0, f64::INFINITY],
        ))
        .unwrap();
    let histogram = registry.histogram(family, &["eu", "200"]).unwrap();
    let writer = registry.writer().unwrap();
    for value in [0.1, 0.7, 3.0] {
        writer.observe(&histogram, value);
    }
    let out = text(&registry, Format::Prometheus004);
    assert!(
        out.contains("latency_bucket{code=\"200\",le=\"0.5\",zone=\"eu\"} 1.0\n"),
        "{out}"
    );
    assert!(
        out.contains("latency_bucket{code=\"200\",le=\"1.0\",zone=\"eu\"} 2.0\n"),
        "{out}"
    );
    assert!(
        out.contains("latency_bucket{code=\"200\",le=\"+Inf\",zone=\"eu\"} 3.0\n"),
        "{out}"
    );
    assert!(
        out.contains("latency_count{code=\"200\",zone=\"eu\"} 3.0\n"),
        "{out}"
    );
    assert!(
        out.contains("latency_sum{code=\"200\",zone=\"eu\"} 3.8\n"),
        "{out}"
    );
}

#[test]
fn gauges_are_atomic_and_settable() {
    let registry = Registry::new(small(), 100).unwrap();
    let family = registry
        .register(spec(Kind::Gauge, "in_flight", &[], &[]))
        .unwrap();
    let gauge = registry.gauge(family, &[]).unwrap();
    registry.gauge_add(gauge, 5.0);
    registry.gauge_add(gauge, -2.0);
    assert!(text(&registry, Format::Prometheus004).contains("in_flight 3.0\n"));
    registry.gauge_set(gauge, 0.25);
    assert!(text(&registry, Format::Prometheus004).contains("in_flight 0.25\n"));
}

#[test]
fn threads_on_one_series_lose_nothing() {
    let registry = Registry::new(small(), 100).unwrap();
    let family = registry
        .register(spec(Kind::Counter, "hits", &[], &[]))
        .unwrap();
    let counter = registry.counter(family, &[]).unwrap();
    let times = hammer_counter(&registry, counter, 4, 250_000).unwrap();
    assert_eq!(times.len(), 4);
    assert!(text(&registry, Format::Prometheus004).contains("hits_total 1e+06\n"));
}

#[test]
fn integer_and_float_increments_add_up() {
    let registry = Registry::new(small(), 100).unwrap();
    let family = registry
        .register(spec(Kind::Counter, "bytes", &[], &[]))
        .unwrap();
    let counter = registry.counter(family, &[]).unwrap();
    let writer = registry.writer().unwrap();
    writer.inc_by(counter, 40);
    writer.inc(counter, 1.5);
    writer.inc_by(counter, 2);
    assert!(text(&registry, Format::Prometheus004).contains("bytes_total 43.5\n"));
}

#[test]
fn released_shards_keep_their_values() {
    let registry = Registry::new(small(), 100).unwrap();
    let family = registry
        .register(spec(Kind::Counter, "c", &[], &[]))
        .unwrap();
    let counter = registry.counter(family, &[]).unwrap();
    for _ in 0..20 {
        let writer = registry.writer().unwrap();
        writer.inc(counter, 1.0);
    }
    assert!(text(&registry, Format::Prometheus004).contains("c_total 20.0\n"));
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let registry = Registry::new(small(), 2).unwrap();
    let kind_of = |r: Result<u32, thecloud_metrics::MetricsError>| r.unwrap_err().kind;
    assert_eq!(
        kind_of(registry.register(spec(Kind::Counter, "1bad", &[], &[]))),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind_of(registry.register(spec(Kind::Counter, "ok", &["__x"], &[]))),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind_of(registry.register(spec(Kind::Counter, "ok", &["a", "a"], &[]))),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind_of(registry.register(spec(Kind::Histogram, "h", &["le"], &[1.0, f64::INFINITY]))),
        ErrorKind::InvalidArgument
    );
    let family = registry
        .register(spec(Kind::Counter, "ok", &["a"], &[]))
        .unwrap();
    assert_eq!(
        kind_of(registry.register(spec(Kind::Gauge, "ok", &["a"], &[]))),
        ErrorKind::Conflict
    );
    assert_eq!(
        kind_of(registry.register(spec(Kind::Gauge, "ok_total", &[], &[]))),
        ErrorKind::Conflict
    );
    assert_eq!(
        registry.series(family, &[]).unwrap_err().kind,
        ErrorKind::InvalidArgument
    );
    registry.series(family, &["1"]).unwrap();
    registry.series(family, &["2"]).unwrap();
    assert_eq!(
        registry.series(family, &["3"]).unwrap_err().kind,
        ErrorKind::Capacity
    );
    registry.series(family, &["1"]).unwrap();
    assert_eq!(registry.counts().unwrap(), (1, 2));
}

#[test]
fn processes_sharing_a_file_see_one_catalog() {
    let dir = std::env::temp_dir().join(format!("thecloud-metrics-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("metrics.shm");
    let _ = std::fs::remove_file(&path);
    // Two registries over one file stand in for two processes (each claims its own shards).
    let first = Registry::shared(&path, small(), 100).unwrap();
    let second = Registry::shared(&path, RegionSizes::default(), 100).unwrap();
    assert_eq!(
        second.region().sizes(),
        small(),
        "an existing file keeps its creator's sizes"
    );
    let a = first
        .register(spec(Kind::Counter, "jobs", &["q"], &[]))
        .unwrap();
    let b = second
        .register(spec(Kind::Counter, "jobs", &["q"], &[]))
        .unwrap();
    assert_eq!(a, b);
    let ca = first.counter(a, &["x"]).unwrap();
    let cb = second.counter(b, &["x"]).unwrap();
    first.writer().unwrap().inc(ca, 1.0);
    second.writer().unwrap().inc(cb, 2.0);
    assert!(text(&first, Format::Prometheus004).contains("jobs_total{q=\"x\"} 3.0\n"));
    assert!(text(&second, Format::Prometheus004).contains("jobs_total{q=\"x\"} 3.0\n"));
    drop((first, second));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_full_region_says_so() {
    let sizes = RegionSizes {
        max_shards: 2,
        cells_per_shard: 8, // four counters of two cells
        meta_capacity: 4096,
    };
    let registry: Arc<Registry> = Registry::new(sizes, 100).unwrap();
    let family = registry
        .register(spec(Kind::Counter, "c", &["i"], &[]))
        .unwrap();
    for i in 0..4 {
        registry.series(family, &[&i.to_string()]).unwrap();
    }
    let err = registry.series(family, &["4"]).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Capacity);
    let _writer = registry.writer().unwrap();
    assert_eq!(registry.writer().unwrap_err().kind, ErrorKind::Capacity);
}
