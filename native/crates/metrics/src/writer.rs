//! Writing values: single-writer shards for counters and histograms, the atomic shard for gauges.
//!
//! An engine thread takes a `ShardWriter` once and keeps it; each `inc`/`observe` is then a plain
//! load, add and store into memory no other thread writes (invariant 2 of `region`), so threads
//! never contend on a cache line and no instruction carries a lock prefix.
//!
//! Cell layout of a series:
//! - counter: [integer increments as u64, float increments as f64]. Engines count in integers
//!   (an integer add through memory costs a fraction of a float add's latency); Python adds floats,
//!   in order, so its sums are bit-identical to prometheus-client's. A scrape adds the two.
//! - gauge: [value as f64], in the atomic shard.
//! - histogram: [count per bucket as u64 ..., sum of observations as f64].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::catalog::Kind;
use crate::error::MetricsError;
use crate::registry::Registry;

/// A counter series' cells.
#[derive(Clone, Copy, Debug)]
pub struct Counter {
    cell: u64,
}

/// A gauge series' cell (in the atomic shard).
#[derive(Clone, Copy, Debug)]
pub struct Gauge {
    cell: u64,
}

/// A histogram series' cells: one per bucket, then the sum.
#[derive(Clone, Debug)]
pub struct Histogram {
    first_cell: u64,
    bounds: Arc<[f64]>,
}

impl Registry {
    fn cells_of(&self, family: u32, values: &[&str], kind: Kind) -> Result<u64, MetricsError> {
        let actual = self.kind(family)?;
        if actual != kind {
            return Err(MetricsError::conflict(format!(
                "metric family {family} is a {}, not a {}",
                actual.type_name(),
                kind.type_name()
            )));
        }
        Ok(self.series(family, values)?.first)
    }

    /// The counter series of `family` with these label values.
    pub fn counter(&self, family: u32, values: &[&str]) -> Result<Counter, MetricsError> {
        Ok(Counter {
            cell: self.cells_of(family, values, Kind::Counter)?,
        })
    }

    /// The gauge series of `family` with these label values.
    pub fn gauge(&self, family: u32, values: &[&str]) -> Result<Gauge, MetricsError> {
        Ok(Gauge {
            cell: self.cells_of(family, values, Kind::Gauge)?,
        })
    }

    /// The histogram series of `family` with these label values.
    pub fn histogram(&self, family: u32, values: &[&str]) -> Result<Histogram, MetricsError> {
        let first_cell = self.cells_of(family, values, Kind::Histogram)?;
        let bounds = self.catalog()?.family(family)?.spec.buckets.clone();
        Ok(Histogram {
            first_cell,
            bounds: bounds.into(),
        })
    }

    fn atomic_cell(&self, cell: u64) -> &AtomicU64 {
        assert!(
            cell < self.region.sizes().cells_per_shard,
            "cell {cell} is not in this registry"
        );
        // SAFETY: in bounds (checked); shard 0 is only ever accessed atomically (invariant 1).
        unsafe { &*self.region.shard_base(0).add(cell as usize) }
    }

    /// Sets a gauge; safe from any thread or process.
    pub fn gauge_set(&self, gauge: Gauge, value: f64) {
        self.atomic_cell(gauge.cell)
            .store(value.to_bits(), Ordering::Relaxed);
    }

    /// Adds to a gauge atomically; safe from any thread or process.
    pub fn gauge_add(&self, gauge: Gauge, delta: f64) {
        let cell = self.atomic_cell(gauge.cell);
        let mut current = cell.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(current) + delta).to_bits();
            match cell.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// Takes a single-writer shard for the calling thread.
    pub fn writer(self: &Arc<Self>) -> Result<ShardWriter, MetricsError> {
        let shard = self.region.claim_shard()?;
        Ok(ShardWriter {
            base: self.region.shard_base(shard),
            cells: self.region.sizes().cells_per_shard,
            shard,
            registry: Arc::clone(self),
        })
    }
}

/// Exclusive write access to one shard; `Send` (it may move to another thread) but not `Sync`.
pub struct ShardWriter {
    base: *mut AtomicU64,
    cells: u64,
    shard: u32,
    registry: Arc<Registry>,
}

// SAFETY: the writer owns its shard; moving it to another thread keeps a single writer.
unsafe impl Send for ShardWriter {}

impl ShardWriter {
    #[inline(always)]
    fn cell(&self, cell: u64) -> &AtomicU64 {
        assert!(cell < self.cells, "cell {cell} is not in this registry");
        // SAFETY: in bounds (checked). This writer is the shard's only writer, so a relaxed
        // load/store pair cannot lose an update, and readers only load.
        unsafe { &*self.base.add(cell as usize) }
    }

    #[inline(always)]
    fn add_float(&self, cell: u64, delta: f64) {
        let cell = self.cell(cell);
        let value = f64::from_bits(cell.load(Ordering::Relaxed)) + delta;
        cell.store(value.to_bits(), Ordering::Relaxed);
    }

    #[inline(always)]
    fn add_integer(&self, cell: u64, delta: u64) {
        let cell = self.cell(cell);
        cell.store(
            cell.load(Ordering::Relaxed).wrapping_add(delta),
            Ordering::Relaxed,
        );
    }

    /// Adds a whole number to a counter (requests, bytes): the engines' fast path.
    #[inline]
    pub fn inc_by(&self, counter: Counter, amount: u64) {
        self.add_integer(counter.cell, amount);
    }

    /// Adds a fractional `amount` (non-negative; not checked on this hot path) to a counter.
    #[inline]
    pub fn inc(&self, counter: Counter, amount: f64) {
        self.add_float(counter.cell + 1, amount);
    }

    /// Records one observation in a histogram.
    #[inline]
    pub fn observe(&self, histogram: &Histogram, value: f64) {
        if let Some(bucket) = histogram.bounds.iter().position(|&bound| value <= bound) {
            self.add_integer(histogram.first_cell + bucket as u64, 1);
        }
        self.add_float(histogram.first_cell + histogram.bounds.len() as u64, value);
    }

    /// The shard this writer owns.
    pub fn shard(&self) -> u32 {
        self.shard
    }
}

impl std::fmt::Debug for ShardWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardWriter")
            .field("shard", &self.shard)
            .finish()
    }
}

impl Drop for ShardWriter {
    fn drop(&mut self) {
        self.registry.region.release_shard(self.shard);
    }
}
