//! The memory region behind a registry: a header, an append-only metadata log and cell shards.
//!
//! Layout (offsets from the mapping's base; every part starts on a page boundary):
//! ```text
//!   [0, HEADER_BYTES)                         Header
//!   [HEADER_BYTES, +meta_capacity)            metadata log: family and series records
//!   then max_shards shards of cells_per_shard 8-byte cells (f64 bit patterns)
//! ```
//! Invariants:
//! 1. Shard 0 is the atomic shard: every write to it is an atomic store or compare-and-swap, so
//!    any thread of any process may write it (gauges live there).
//! 2. Every other shard has at most one writer at a time, its owner in `shard_owner`; the writer
//!    updates a cell with a relaxed load, an add and a relaxed store (no lock prefix), readers use
//!    relaxed loads and sum a cell across shards.
//! 3. A cell index is handed out once (`next_cell` only grows) and keeps its meaning forever.
//! 4. The log only grows; `meta_len` is published with Release after the record's bytes are written,
//!    so a reader that loads it with Acquire sees whole records.
//!
//! The mapping is anonymous and private for a process-local registry (a fork gets its own copy),
//! or a shared mapping of a sparse file (e.g. under /dev/shm) when several processes report into one
//! registry. Untouched pages cost no memory in either case.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::error::MetricsError;

const MAGIC: u64 = 0x7468_6563_6c6f_7564; // "thecloud"
const LAYOUT_VERSION: u32 = 1;
const HEADER_BYTES: usize = 4096;
const PAGE: usize = 4096;
/// Upper bound on shards; the owner table must fit in the header page.
pub const MAX_SHARDS: usize = 256;

/// Sizes of a region; fixed when the region is created (a shared file keeps its creator's sizes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionSizes {
    pub max_shards: u32,
    pub cells_per_shard: u64,
    pub meta_capacity: u64,
}

impl Default for RegionSizes {
    fn default() -> Self {
        // 4 Mi cells (32 MiB of address space) per shard, 64 shards, 64 MiB of metadata: 2.1 GiB
        // of address space, of which only touched pages become memory.
        Self {
            max_shards: 64,
            cells_per_shard: 1 << 22,
            meta_capacity: 64 << 20,
        }
    }
}

impl RegionSizes {
    fn validate(&self) -> Result<(), MetricsError> {
        if self.max_shards < 2 || self.max_shards as usize > MAX_SHARDS {
            return Err(MetricsError::invalid(format!(
                "max_shards must be in 2..={MAX_SHARDS}, got {}",
                self.max_shards
            )));
        }
        if self.cells_per_shard == 0 || self.cells_per_shard > 1 << 32 {
            return Err(MetricsError::invalid("cells_per_shard must be in 1..=2^32"));
        }
        if self.meta_capacity < PAGE as u64 || self.meta_capacity > 1 << 34 {
            return Err(MetricsError::invalid(
                "meta_capacity must be in 4 KiB..=16 GiB",
            ));
        }
        Ok(())
    }

    fn shard_bytes(&self) -> usize {
        round_up(self.cells_per_shard as usize * 8, PAGE)
    }

    fn meta_bytes(&self) -> usize {
        round_up(self.meta_capacity as usize, PAGE)
    }

    fn total_bytes(&self) -> usize {
        HEADER_BYTES + self.meta_bytes() + self.max_shards as usize * self.shard_bytes()
    }
}

fn round_up(value: usize, to: usize) -> usize {
    value.div_ceil(to) * to
}

#[repr(C)]
struct Header {
    magic: u64,
    layout_version: u32,
    max_shards: u32,
    cells_per_shard: u64,
    meta_capacity: u64,
    meta_len: AtomicU64,
    next_cell: AtomicU64,
    shard_high_water: AtomicU32,
    _reserved: u32,
    /// 0 when free, else `pid << 32 | 1`; shard 0 is never owned.
    shard_owner: [AtomicU64; MAX_SHARDS],
}

const _: () = assert!(std::mem::size_of::<Header>() <= HEADER_BYTES);

/// A mapped region; see the module documentation for its layout and invariants.
pub struct Region {
    base: NonNull<u8>,
    len: usize,
    sizes: RegionSizes,
    file: Option<(File, PathBuf)>,
}

// SAFETY: all shared mutation of the mapping goes through atomics (invariants 1-4); the metadata
// log is written only under the registry's write lock.
unsafe impl Send for Region {}
unsafe impl Sync for Region {}

impl Region {
    /// A process-local region (private anonymous mapping).
    pub fn anonymous(sizes: RegionSizes) -> Result<Self, MetricsError> {
        sizes.validate()?;
        let len = sizes.total_bytes();
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        let base = map(len, flags, -1)?;
        let region = Self {
            base,
            len,
            sizes,
            file: None,
        };
        region.init_header();
        Ok(region)
    }

    /// A region in a shared file, created with `sizes` if new, else opened with the sizes it has.
    pub fn shared(path: &Path, sizes: RegionSizes) -> Result<Self, MetricsError> {
        sizes.validate()?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| {
                MetricsError::io(format!("cannot open metrics file {}", path.display()), e)
            })?;
        // Held until the header is valid; the descriptor stays open inside the returned region.
        let _init = FileLock::exclusive(&file)?.detach();
        let existing = file
            .metadata()
            .map_err(|e| MetricsError::io("cannot stat metrics file", e))?;
        let sizes = if existing.len() == 0 {
            file.set_len(sizes.total_bytes() as u64)
                .map_err(|e| MetricsError::io("cannot size metrics file", e))?;
            sizes
        } else {
            read_sizes(&file, existing.len())?
        };
        let len = sizes.total_bytes();
        let base = map(
            len,
            libc::MAP_SHARED | libc::MAP_NORESERVE,
            file.as_raw_fd(),
        )?;
        let region = Self {
            base,
            len,
            sizes,
            file: Some((file, path.to_path_buf())),
        };
        if region.header().magic != MAGIC {
            region.init_header();
        }
        Ok(region)
    }

    fn init_header(&self) {
        // SAFETY: the header page is mapped and nobody else can see a region without its magic.
        let header = unsafe { &mut *(self.base.as_ptr() as *mut Header) };
        header.layout_version = LAYOUT_VERSION;
        header.max_shards = self.sizes.max_shards;
        header.cells_per_shard = self.sizes.cells_per_shard;
        header.meta_capacity = self.sizes.meta_capacity;
        header.shard_high_water.store(1, Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Release);
        header.magic = MAGIC;
    }

    fn header(&self) -> &Header {
        // SAFETY: the header page is mapped for the region's lifetime and is accessed through
        // atomics or fields written once before `magic`.
        unsafe { &*(self.base.as_ptr() as *const Header) }
    }

    pub fn sizes(&self) -> RegionSizes {
        self.sizes
    }

    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(_, p)| p.as_path())
    }

    /// Takes the cross-process write lock (a no-op guard for a process-local region).
    pub fn lock_writers(&self) -> Result<Option<FileLock<'_>>, MetricsError> {
        self.file
            .as_ref()
            .map(|(f, _)| FileLock::exclusive(f))
            .transpose()
    }

    /// Reserves `count` consecutive cells, or fails when the region is full.
    pub fn allocate_cells(&self, count: u64) -> Result<u64, MetricsError> {
        let next = &self.header().next_cell;
        let mut current = next.load(Ordering::Relaxed);
        loop {
            let end = current + count;
            if end > self.sizes.cells_per_shard {
                return Err(MetricsError::capacity(format!(
                    "metrics region is full: {} of {} cells used",
                    current, self.sizes.cells_per_shard
                )));
            }
            match next.compare_exchange_weak(current, end, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Ok(current),
                Err(seen) => current = seen,
            }
        }
    }

    pub fn cells_in_use(&self) -> u64 {
        self.header().next_cell.load(Ordering::Acquire)
    }

    /// Address of cell 0 of `shard`.
    pub fn shard_base(&self, shard: u32) -> *mut AtomicU64 {
        assert!(shard < self.sizes.max_shards, "shard {shard} out of range");
        let offset =
            HEADER_BYTES + self.sizes.meta_bytes() + shard as usize * self.sizes.shard_bytes();
        // SAFETY: offset is inside the mapping by construction.
        unsafe { self.base.as_ptr().add(offset) as *mut AtomicU64 }
    }

    /// Number of shards that may hold non-zero cells (those ever claimed, plus shard 0).
    pub fn shards_in_use(&self) -> u32 {
        self.header().shard_high_water.load(Ordering::Acquire)
    }

    /// Claims a free single-writer shard for the calling process (invariant 2).
    pub fn claim_shard(&self) -> Result<u32, MetricsError> {
        let me = (std::process::id() as u64) << 32 | 1;
        let header = self.header();
        for shard in 1..self.sizes.max_shards {
            let slot = &header.shard_owner[shard as usize];
            let owner = slot.load(Ordering::Acquire);
            let free = owner == 0 || (self.file.is_some() && owner_is_dead(owner));
            if free
                && slot
                    .compare_exchange(owner, me, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                header
                    .shard_high_water
                    .fetch_max(shard + 1, Ordering::AcqRel);
                return Ok(shard);
            }
        }
        Err(MetricsError::capacity(format!(
            "all {} writer shards are in use",
            self.sizes.max_shards - 1
        )))
    }

    /// Gives a shard back; its cells keep their values and the next owner adds on top.
    pub fn release_shard(&self, shard: u32) {
        if shard > 0 && shard < self.sizes.max_shards {
            self.header().shard_owner[shard as usize].store(0, Ordering::Release);
        }
    }

    /// The committed bytes of the metadata log.
    pub fn meta_committed(&self) -> &[u8] {
        let len = self.header().meta_len.load(Ordering::Acquire) as usize;
        // SAFETY: bytes below meta_len were fully written before meta_len was published.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(HEADER_BYTES), len) }
    }

    /// Appends a record to the log; the caller holds the region's write lock.
    pub fn meta_append(&self, record: &[u8]) -> Result<(), MetricsError> {
        let header = self.header();
        let len = header.meta_len.load(Ordering::Acquire) as usize;
        if (len + record.len()) as u64 > self.sizes.meta_capacity {
            return Err(MetricsError::capacity(format!(
                "metrics metadata area is full ({} bytes)",
                self.sizes.meta_capacity
            )));
        }
        // SAFETY: [len, len+record.len()) is inside the log and unpublished, so nobody reads it.
        unsafe {
            std::ptr::copy_nonoverlapping(
                record.as_ptr(),
                self.base.as_ptr().add(HEADER_BYTES + len),
                record.len(),
            );
        }
        header
            .meta_len
            .store((len + record.len()) as u64, Ordering::Release);
        Ok(())
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: base/len describe the mapping made in `map`.
        unsafe { libc::munmap(self.base.as_ptr() as *mut libc::c_void, self.len) };
    }
}

fn map(len: usize, flags: libc::c_int, fd: libc::c_int) -> Result<NonNull<u8>, MetricsError> {
    // SAFETY: a fresh mapping chosen by the kernel; checked for MAP_FAILED below.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            fd,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(MetricsError::io(
            "mmap of the metrics region failed",
            std::io::Error::last_os_error(),
        ));
    }
    NonNull::new(ptr as *mut u8).ok_or_else(|| MetricsError::invalid("mmap returned null"))
}

fn read_sizes(file: &File, file_len: u64) -> Result<RegionSizes, MetricsError> {
    let mut raw = [0u8; 32];
    let read = unsafe {
        // SAFETY: reading into a local buffer of the given size.
        libc::pread(
            file.as_raw_fd(),
            raw.as_mut_ptr() as *mut libc::c_void,
            raw.len(),
            0,
        )
    };
    let word = |at: usize| u64::from_le_bytes(raw[at..at + 8].try_into().expect("8 bytes"));
    if read != raw.len() as isize || word(0) != MAGIC {
        return Err(MetricsError::invalid(
            "metrics file exists but is not a thecloud metrics region",
        ));
    }
    let version = word(8) as u32;
    if version != LAYOUT_VERSION {
        return Err(MetricsError::invalid(format!(
            "metrics file has layout version {version}, this build reads {LAYOUT_VERSION}"
        )));
    }
    let sizes = RegionSizes {
        max_shards: (word(8) >> 32) as u32,
        cells_per_shard: word(16),
        meta_capacity: word(24),
    };
    sizes.validate()?;
    if sizes.total_bytes() as u64 != file_len {
        return Err(MetricsError::invalid(
            "metrics file size does not match its header",
        ));
    }
    Ok(sizes)
}

fn owner_is_dead(owner: u64) -> bool {
    let pid = (owner >> 32) as libc::pid_t;
    // SAFETY: signal 0 only checks for existence.
    pid > 0
        && unsafe { libc::kill(pid, 0) } != 0
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// An exclusive `flock` held until dropped.
pub struct FileLock<'a> {
    fd: libc::c_int,
    _file: std::marker::PhantomData<&'a File>,
}

impl<'a> FileLock<'a> {
    fn exclusive(file: &'a File) -> Result<Self, MetricsError> {
        let fd = file.as_raw_fd();
        loop {
            // SAFETY: flock on an open descriptor.
            if unsafe { libc::flock(fd, libc::LOCK_EX) } == 0 {
                return Ok(Self {
                    fd,
                    _file: std::marker::PhantomData,
                });
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(MetricsError::io("cannot lock the metrics file", err));
            }
        }
    }
}

impl FileLock<'_> {
    /// The same lock, no longer tied to the borrow of its file (the caller keeps the file open).
    fn detach(self) -> FileLock<'static> {
        let fd = self.fd;
        std::mem::forget(self);
        FileLock {
            fd,
            _file: std::marker::PhantomData,
        }
    }
}

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        // SAFETY: unlocking the descriptor locked in `exclusive`.
        unsafe { libc::flock(self.fd, libc::LOCK_UN) };
    }
}
