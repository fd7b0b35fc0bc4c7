//! The registry: registers families and series into a region and hands out cell handles.
//!
//! Reads of the catalog and writes of new records happen under a process-local mutex; writes also
//! take the region's cross-process lock, catching up on other processes' records before looking
//! up again, so the same name or label set maps to the same cells in every process.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::catalog::{self, Catalog, FamilySpec, Kind};
use crate::error::MetricsError;
use crate::region::{Region, RegionSizes};
use crate::validate;

/// The default cap on label sets per family, protecting memory from unbounded label values.
pub const DEFAULT_CARDINALITY_LIMIT: usize = 10_000;

/// Where a series' cells start, and how many it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeriesCells {
    pub first: u64,
    pub count: u64,
}

/// A metrics registry over a process-local or shared region.
pub struct Registry {
    pub(crate) region: Region,
    catalog: Mutex<Catalog>,
    cardinality_limit: usize,
}

impl Registry {
    /// A process-local registry.
    pub fn new(sizes: RegionSizes, cardinality_limit: usize) -> Result<Arc<Self>, MetricsError> {
        Self::with_region(Region::anonymous(sizes)?, cardinality_limit)
    }

    /// A registry in a shared file that several processes open together.
    pub fn shared(
        path: &Path,
        sizes: RegionSizes,
        cardinality_limit: usize,
    ) -> Result<Arc<Self>, MetricsError> {
        Self::with_region(Region::shared(path, sizes)?, cardinality_limit)
    }

    fn with_region(region: Region, cardinality_limit: usize) -> Result<Arc<Self>, MetricsError> {
        if cardinality_limit == 0 {
            return Err(MetricsError::invalid(
                "cardinality_limit must be at least 1",
            ));
        }
        let registry = Self {
            region,
            catalog: Mutex::new(Catalog::default()),
            cardinality_limit,
        };
        drop(registry.catalog()?); // reads an existing shared log now, so corruption fails early
        Ok(Arc::new(registry))
    }

    /// The catalog, caught up with every committed record.
    pub(crate) fn catalog(&self) -> Result<MutexGuard<'_, Catalog>, MetricsError> {
        // A panic while holding the lock cannot leave the catalog half-applied in a way that
        // matters: records are applied whole, so a poisoned lock is still usable.
        let mut catalog = self
            .catalog
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        catalog.catch_up(self.region.meta_committed())?;
        Ok(catalog)
    }

    pub fn region(&self) -> &Region {
        &self.region
    }

    pub fn cardinality_limit(&self) -> usize {
        self.cardinality_limit
    }

    /// Registers a family (idempotent for an identical spec) and returns its id.
    ///
    /// A counter named `x_total` is stored as family `x`, as prometheus-client does.
    pub fn register(&self, mut spec: FamilySpec) -> Result<u32, MetricsError> {
        validate::metric_name(&spec.name)?;
        if spec.kind == Kind::Counter {
            if let Some(stem) = spec.name.strip_suffix("_total") {
                spec.name = stem.to_owned();
                validate::metric_name(&spec.name)?;
            }
        }
        for (i, name) in spec.label_names.iter().enumerate() {
            validate::label_name(name)?;
            if spec.label_names[..i].contains(name) {
                return Err(MetricsError::invalid(format!(
                    "label name {name:?} is given twice"
                )));
            }
        }
        if spec.kind == Kind::Histogram {
            validate::buckets(&spec.buckets)?;
            if spec.label_names.iter().any(|n| n == "le") {
                return Err(MetricsError::invalid(
                    "a histogram cannot have a label named 'le'",
                ));
            }
        } else if !spec.buckets.is_empty() {
            return Err(MetricsError::invalid("only histograms have buckets"));
        }
        let mut catalog = self.catalog()?;
        if let Some(id) = catalog.find_family(&spec)? {
            return Ok(id);
        }
        let _cross_process = self.region.lock_writers()?;
        catalog.catch_up(self.region.meta_committed())?;
        if let Some(id) = catalog.find_family(&spec)? {
            return Ok(id);
        }
        self.region.meta_append(&catalog::encode_family(&spec)?)?;
        catalog.catch_up(self.region.meta_committed())?;
        Ok(catalog.families.len() as u32 - 1)
    }

    /// The cells of a family's series with these label values (in label-name order), created on
    /// first use. Fails without side effects on a wrong value count or over the cardinality limit.
    pub fn series(&self, family: u32, values: &[&str]) -> Result<SeriesCells, MetricsError> {
        let mut catalog = self.catalog()?;
        let fam = catalog.family(family)?;
        let count = fam.spec.cells_per_series();
        let (labels, le_offset) = catalog::render_labels(fam, values)?;
        if let Some(id) = catalog.find_series(family, &labels, self.region.meta_committed()) {
            return Ok(SeriesCells {
                first: u64::from(catalog.series[id as usize].first_cell),
                count,
            });
        }
        let _cross_process = self.region.lock_writers()?;
        catalog.catch_up(self.region.meta_committed())?;
        if let Some(id) = catalog.find_series(family, &labels, self.region.meta_committed()) {
            return Ok(SeriesCells {
                first: u64::from(catalog.series[id as usize].first_cell),
                count,
            });
        }
        let fam = catalog.family(family)?;
        if fam.series.len() >= self.cardinality_limit {
            return Err(MetricsError::capacity(format!(
                "metric {:?} already has {} label sets, its cardinality limit",
                fam.spec.name, self.cardinality_limit
            )));
        }
        let first = self.region.allocate_cells(count)?;
        self.region
            .meta_append(&catalog::encode_series(family, first, le_offset, &labels)?)?;
        catalog.catch_up(self.region.meta_committed())?;
        Ok(SeriesCells { first, count })
    }

    /// The kind of a registered family.
    pub fn kind(&self, family: u32) -> Result<Kind, MetricsError> {
        Ok(self.catalog()?.family(family)?.spec.kind)
    }

    /// Families and series registered so far (across processes for a shared region).
    pub fn counts(&self) -> Result<(usize, usize), MetricsError> {
        let catalog = self.catalog()?;
        Ok((catalog.families.len(), catalog.series.len()))
    }

    /// Sums every cell in use across shards, read both as f64 and as u64 (the kind of the series
    /// says which applies): the values a scrape reports.
    pub(crate) fn cell_totals(&self) -> CellTotals {
        let cells = self.region.cells_in_use() as usize;
        let mut totals = CellTotals {
            floats: vec![0.0f64; cells],
            integers: vec![0u64; cells],
        };
        for shard in 0..self.region.shards_in_use() {
            let base = self.region.shard_base(shard);
            // SAFETY: cells below cells_in_use are inside every shard; reads are atomic.
            let shard_cells = unsafe { std::slice::from_raw_parts(base, cells) };
            let sums = totals.floats.iter_mut().zip(totals.integers.iter_mut());
            for ((float, integer), cell) in sums.zip(shard_cells) {
                let bits = cell.load(std::sync::atomic::Ordering::Relaxed);
                // Skipping zero is exact, and keeps a gauge set to -0.0 reading -0.0.
                if bits != 0 {
                    *integer = integer.wrapping_add(bits);
                    *float = if *float == 0.0 && float.is_sign_positive() {
                        f64::from_bits(bits)
                    } else {
                        *float + f64::from_bits(bits)
                    };
                }
            }
        }
        totals
    }
}

/// Per-cell sums across shards; a float cell is read from `floats`, an integer cell from
/// `integers`.
pub(crate) struct CellTotals {
    pub floats: Vec<f64>,
    pub integers: Vec<u64>,
}
