//! The catalog: metric families and series, decoded from the region's append-only metadata log.
//!
//! Every process keeps its own decoded copy and catches up on records other processes appended.
//! Records are applied in log order, so family and series ids are the same in every process.
//!
//! Record encoding (little-endian; `str` is a u32 byte length then UTF-8 bytes):
//! ```text
//!   family: u32 record_len, u8 1, u8 kind, str name, str help, u16 n, str label_name * n,
//!           u16 b, f64 bound * b
//!   series: u32 record_len, u8 2, u32 family, u64 first_cell, u32 le_offset, str labels
//! ```
//! `labels` is the series' label pairs rendered once, sorted by label name and escaped
//! (`a="x",b="y"`): it is both the lookup key and the text written on every scrape. Series point
//! at that text inside the (immutable, committed) log instead of copying it: a series costs 16
//! bytes of catalog plus a hash-table slot.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use crate::error::MetricsError;
use crate::format;

/// The metric types the registry stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Counter = 0,
    Gauge = 1,
    Histogram = 2,
}

impl Kind {
    fn from_byte(b: u8) -> Result<Self, MetricsError> {
        match b {
            0 => Ok(Self::Counter),
            1 => Ok(Self::Gauge),
            2 => Ok(Self::Histogram),
            _ => Err(corrupt()),
        }
    }

    /// The name used in `# TYPE` lines.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// What a caller asks to register.
#[derive(Clone, Debug, PartialEq)]
pub struct FamilySpec {
    pub kind: Kind,
    pub name: String,
    pub help: String,
    pub label_names: Vec<String>,
    /// Histogram upper bounds ending in +Inf; empty for other kinds.
    pub buckets: Vec<f64>,
}

impl FamilySpec {
    /// Cells one series of this family occupies (see `Cell layout` in `writer`).
    pub fn cells_per_series(&self) -> u64 {
        match self.kind {
            Kind::Counter => 2,
            Kind::Gauge => 1,
            Kind::Histogram => self.buckets.len() as u64 + 1,
        }
    }

    /// Sample names this family writes; no two families may share one.
    pub fn sample_names(&self) -> Vec<String> {
        let suffixes: &[&str] = match self.kind {
            Kind::Counter => &["", "_total", "_created"],
            Kind::Gauge => &[""],
            Kind::Histogram => &["", "_bucket", "_count", "_sum", "_created"],
        };
        suffixes
            .iter()
            .map(|s| format!("{}{s}", self.name))
            .collect()
    }
}

/// A registered family with its decoded series.
pub struct Family {
    pub spec: FamilySpec,
    /// Label indices in the order they are rendered (sorted by name, as prometheus-client does).
    pub render_order: Vec<usize>,
    /// Pre-formatted `le` values of the histogram buckets.
    pub le_values: Vec<Box<[u8]>>,
    /// Series ids in creation order.
    pub series: Vec<u32>,
    /// Series ids, found by the hash of their label text.
    by_labels: HashTable<u32>,
}

/// One label set of a family and where its cells are.
pub struct Series {
    pub first_cell: u32,
    /// Byte offset in the label text where a histogram's `le` label is inserted.
    pub le_offset: u32,
    labels_at: u32,
    labels_len: u32,
}

impl Series {
    /// The rendered label text, read from the committed log.
    pub fn labels<'log>(&self, log: &'log [u8]) -> &'log [u8] {
        &log[self.labels_at as usize..][..self.labels_len as usize]
    }
}

/// The decoded catalog of one process.
#[derive(Default)]
pub struct Catalog {
    parsed: usize,
    pub families: Vec<Family>,
    pub series: Vec<Series>,
    by_name: HashMap<String, u32>,
    sample_owner: HashMap<String, u32>,
    hasher: RandomState,
}

fn corrupt() -> MetricsError {
    MetricsError::invalid("the metrics metadata log is corrupt")
}

impl Catalog {
    /// Applies the records of `log` this catalog has not seen yet.
    pub fn catch_up(&mut self, log: &[u8]) -> Result<(), MetricsError> {
        while self.parsed < log.len() {
            let mut reader = Reader {
                bytes: &log[self.parsed..],
                at: 0,
            };
            let len = reader.u32()? as usize;
            if len < 5 || self.parsed + len > log.len() {
                return Err(corrupt());
            }
            let mut record = Reader {
                bytes: &log[self.parsed + 4..self.parsed + len],
                at: 0,
            };
            match record.u8()? {
                1 => self.apply_family(&mut record)?,
                2 => self.apply_series(&mut record, self.parsed + 4, log)?,
                _ => return Err(corrupt()),
            }
            self.parsed += len;
        }
        Ok(())
    }

    fn apply_family(&mut self, r: &mut Reader<'_>) -> Result<(), MetricsError> {
        let kind = Kind::from_byte(r.u8()?)?;
        let name = r.string()?;
        let help = r.string()?;
        let label_names = (0..r.u16()?)
            .map(|_| r.string())
            .collect::<Result<Vec<_>, _>>()?;
        let buckets = (0..r.u16()?)
            .map(|_| r.f64())
            .collect::<Result<Vec<_>, _>>()?;
        let spec = FamilySpec {
            kind,
            name,
            help,
            label_names,
            buckets,
        };
        let id = self.families.len() as u32;
        for sample in spec.sample_names() {
            self.sample_owner.insert(sample, id);
        }
        self.by_name.insert(spec.name.clone(), id);
        let mut render_order: Vec<usize> = (0..spec.label_names.len()).collect();
        render_order.sort_by(|&a, &b| spec.label_names[a].cmp(&spec.label_names[b]));
        let le_values = spec
            .buckets
            .iter()
            .map(|&b| {
                let mut text = Vec::new();
                format::write_float(&mut text, b);
                text.into_boxed_slice()
            })
            .collect();
        self.families.push(Family {
            spec,
            render_order,
            le_values,
            series: Vec::new(),
            by_labels: HashTable::new(),
        });
        Ok(())
    }

    fn apply_series(
        &mut self,
        r: &mut Reader<'_>,
        record_at: usize,
        log: &[u8],
    ) -> Result<(), MetricsError> {
        let family = r.u32()?;
        let first_cell = u32::try_from(r.u64()?).map_err(|_| corrupt())?;
        let le_offset = r.u32()?;
        let (start, len) = r.str_span()?;
        let series = Series {
            first_cell,
            le_offset,
            labels_at: u32::try_from(record_at + start).map_err(|_| corrupt())?,
            labels_len: len as u32,
        };
        let hash = self.hasher.hash_one(series.labels(log));
        let id = self.series.len() as u32;
        let owner = self.families.get_mut(family as usize).ok_or_else(corrupt)?;
        owner.series.push(id);
        let (all, hasher) = (&self.series, &self.hasher);
        owner.by_labels.insert_unique(hash, id, |&other| {
            // Rehashing existing entries: the new series is not in `all` yet, but never rehashed.
            hasher.hash_one(all[other as usize].labels(log))
        });
        self.series.push(series);
        Ok(())
    }

    /// The id of an already registered family equal to `spec`, or a conflict error.
    pub fn find_family(&self, spec: &FamilySpec) -> Result<Option<u32>, MetricsError> {
        if let Some(&id) = self.by_name.get(&spec.name) {
            let existing = &self.families[id as usize].spec;
            if existing.kind != spec.kind
                || existing.label_names != spec.label_names
                || existing.buckets != spec.buckets
            {
                return Err(MetricsError::conflict(format!(
                    "metric {:?} is already registered as a {} with labels {:?}",
                    spec.name,
                    existing.kind.type_name(),
                    existing.label_names
                )));
            }
            return Ok(Some(id));
        }
        for sample in spec.sample_names() {
            if let Some(&owner) = self.sample_owner.get(&sample) {
                return Err(MetricsError::conflict(format!(
                    "metric {:?} would write sample {sample:?}, which metric {:?} already writes",
                    spec.name, self.families[owner as usize].spec.name
                )));
            }
        }
        Ok(None)
    }

    /// The series id of a rendered label set, if registered.
    pub fn find_series(&self, family: u32, labels: &str, log: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(labels.as_bytes());
        self.families[family as usize]
            .by_labels
            .find(hash, |&id| {
                self.series[id as usize].labels(log) == labels.as_bytes()
            })
            .copied()
    }

    pub fn family(&self, id: u32) -> Result<&Family, MetricsError> {
        self.families
            .get(id as usize)
            .ok_or_else(|| MetricsError::invalid(format!("no metric family with id {id}")))
    }
}

/// Renders a label set as stored in a series record; returns the text and the `le` offset.
pub fn render_labels(family: &Family, values: &[&str]) -> Result<(String, u32), MetricsError> {
    let names = &family.spec.label_names;
    if values.len() != names.len() {
        return Err(MetricsError::invalid(format!(
            "metric {:?} takes {} label values ({:?}), got {}",
            family.spec.name,
            names.len(),
            names,
            values.len()
        )));
    }
    let mut out = Vec::with_capacity(values.iter().map(|v| v.len() + 8).sum());
    let mut le_offset = None;
    for &index in &family.render_order {
        let name = &names[index];
        if le_offset.is_none() && name.as_str() > "le" {
            le_offset = Some(out.len());
        }
        if !out.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"=\"");
        format::write_label_value(&mut out, values[index]);
        out.push(b'"');
    }
    let le_offset = le_offset.unwrap_or(out.len()) as u32;
    let text = String::from_utf8(out).expect("escaping keeps UTF-8 intact");
    Ok((text, le_offset))
}

/// Encodes a family record.
pub fn encode_family(spec: &FamilySpec) -> Result<Vec<u8>, MetricsError> {
    let mut w = Writer::new(1);
    w.u8(spec.kind as u8);
    w.string(&spec.name)?;
    w.string(&spec.help)?;
    w.u16(
        u16::try_from(spec.label_names.len())
            .map_err(|_| MetricsError::invalid("too many labels"))?,
    );
    for name in &spec.label_names {
        w.string(name)?;
    }
    w.u16(
        u16::try_from(spec.buckets.len()).map_err(|_| MetricsError::invalid("too many buckets"))?,
    );
    for &bound in &spec.buckets {
        w.bytes.extend_from_slice(&bound.to_le_bytes());
    }
    Ok(w.finish())
}

/// Encodes a series record.
pub fn encode_series(
    family: u32,
    first_cell: u64,
    le_offset: u32,
    labels: &str,
) -> Result<Vec<u8>, MetricsError> {
    let mut w = Writer::new(2);
    w.bytes.extend_from_slice(&family.to_le_bytes());
    w.bytes.extend_from_slice(&first_cell.to_le_bytes());
    w.bytes.extend_from_slice(&le_offset.to_le_bytes());
    w.string(labels)?;
    Ok(w.finish())
}

struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    fn new(tag: u8) -> Self {
        Self {
            bytes: vec![0, 0, 0, 0, tag],
        }
    }
    fn u8(&mut self, v: u8) {
        self.bytes.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    fn string(&mut self, s: &str) -> Result<(), MetricsError> {
        let len = u32::try_from(s.len()).map_err(|_| MetricsError::invalid("string too long"))?;
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(s.as_bytes());
        Ok(())
    }
    fn finish(mut self) -> Vec<u8> {
        let len = self.bytes.len() as u32;
        self.bytes[..4].copy_from_slice(&len.to_le_bytes());
        self.bytes
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], MetricsError> {
        let slice = self.bytes.get(self.at..self.at + n).ok_or_else(corrupt)?;
        self.at += n;
        Ok(slice)
    }
    fn u8(&mut self) -> Result<u8, MetricsError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, MetricsError> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&mut self) -> Result<u32, MetricsError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, MetricsError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn f64(&mut self) -> Result<f64, MetricsError> {
        Ok(f64::from_bits(self.u64()?))
    }
    /// The position and length of a string field, checked to be UTF-8 but not copied.
    fn str_span(&mut self) -> Result<(usize, usize), MetricsError> {
        let len = self.u32()? as usize;
        let start = self.at;
        std::str::from_utf8(self.take(len)?).map_err(|_| corrupt())?;
        Ok((start, len))
    }

    fn string(&mut self) -> Result<String, MetricsError> {
        let len = self.u32()? as usize;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| corrupt())
    }
}
