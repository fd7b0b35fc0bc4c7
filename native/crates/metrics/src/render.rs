//! Exposition: Prometheus text format 0.0.4 and OpenMetrics 1.0.0, byte-compatible with
//! prometheus-client's output for the same families (label pairs sorted by name, counters as
//! `_total`, histograms cumulative with `_count` and `_sum`), minus `_created` samples.

use crate::catalog::{Family, Kind};
use crate::error::MetricsError;
use crate::format;
use crate::registry::Registry;

/// Which text format to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Prometheus004,
    OpenMetrics100,
}

impl Format {
    /// The Content-Type header of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Prometheus004 => "text/plain; version=0.0.4; charset=utf-8",
            Self::OpenMetrics100 => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

impl Registry {
    /// Renders every family; takes the catalog lock for the duration (no new series meanwhile).
    pub fn render(&self, format: Format) -> Result<Vec<u8>, MetricsError> {
        let catalog = self.catalog()?;
        let totals = self.cell_totals();
        let log = self.region.meta_committed();
        let mut out = Vec::with_capacity(64 + catalog.series.len() * 64);
        for family in &catalog.families {
            write_header(&mut out, family, format);
            for &id in &family.series {
                let series = &catalog.series[id as usize];
                let first = series.first_cell as usize;
                let (floats, integers) = (&totals.floats[first..], &totals.integers[first..]);
                let labels = series.labels(log);
                match family.spec.kind {
                    Kind::Counter => write_sample(
                        &mut out,
                        &family.spec.name,
                        b"_total",
                        labels,
                        counter_value(integers[0], floats[1]),
                    ),
                    Kind::Gauge => {
                        write_sample(&mut out, &family.spec.name, b"", labels, floats[0])
                    }
                    Kind::Histogram => write_histogram(
                        &mut out,
                        family,
                        labels,
                        series.le_offset as usize,
                        floats,
                        integers,
                    ),
                }
            }
        }
        if format == Format::OpenMetrics100 {
            out.extend_from_slice(b"# EOF\n");
        }
        Ok(out)
    }
}

fn write_header(out: &mut Vec<u8>, family: &Family, format: Format) {
    let name = family.spec.name.as_bytes();
    let openmetrics = format == Format::OpenMetrics100;
    // The 0.0.4 format names a counter family after its sample, OpenMetrics after the stem.
    let suffix: &[u8] = if family.spec.kind == Kind::Counter && !openmetrics {
        b"_total"
    } else {
        b""
    };
    out.extend_from_slice(b"# HELP ");
    out.extend_from_slice(name);
    out.extend_from_slice(suffix);
    out.push(b' ');
    format::write_help(out, &family.spec.help, openmetrics);
    out.extend_from_slice(b"\n# TYPE ");
    out.extend_from_slice(name);
    out.extend_from_slice(suffix);
    out.push(b' ');
    out.extend_from_slice(family.spec.kind.type_name().as_bytes());
    out.push(b'\n');
}

fn write_sample(out: &mut Vec<u8>, name: &str, suffix: &[u8], labels: &[u8], value: f64) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(suffix);
    if !labels.is_empty() {
        out.push(b'{');
        out.extend_from_slice(labels);
        out.push(b'}');
    }
    out.push(b' ');
    format::write_float(out, value);
    out.push(b'\n');
}

/// A counter's integer increments (from engines) plus its float increments (from Python).
fn counter_value(integer: u64, float: f64) -> f64 {
    if integer == 0 {
        float
    } else {
        integer as f64 + float
    }
}

fn write_histogram(
    out: &mut Vec<u8>,
    family: &Family,
    labels: &[u8],
    le_offset: usize,
    floats: &[f64],
    integers: &[u64],
) {
    let name = family.spec.name.as_bytes();
    let (before, after) = labels.split_at(le_offset);
    let mut cumulative = 0u64;
    for (bucket, le) in family.le_values.iter().enumerate() {
        cumulative += integers[bucket];
        out.extend_from_slice(name);
        out.extend_from_slice(b"_bucket{");
        out.extend_from_slice(before);
        if !before.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(b"le=\"");
        out.extend_from_slice(le);
        out.push(b'"');
        // `after` starts with its separating comma unless `le` goes first.
        if before.is_empty() && !after.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(after);
        out.extend_from_slice(b"} ");
        format::write_float(out, cumulative as f64);
        out.push(b'\n');
    }
    let sum = floats[family.le_values.len()];
    let name = &family.spec.name;
    write_sample(out, name, b"_count", labels, cumulative as f64);
    write_sample(out, name, b"_sum", labels, sum);
}
