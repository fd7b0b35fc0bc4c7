//! thecloud-ec: systematic Reed-Solomon erasure coding over GF(2^8) and CRC32C, a safe wrapper of
//! the C library in native/ec (the same bytes Python's `thecloud.dataplane.ec` produces).
//!
//! ```
//! use thecloud_ec::ReedSolomon;
//! let code = ReedSolomon::new(4, 2).unwrap();
//! let data: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 1024]).collect();
//! let mut parity = vec![vec![0u8; 1024]; 2];
//! code.encode(&data, &mut parity).unwrap();
//! let mut shards: Vec<Option<Vec<u8>>> = data.into_iter().chain(parity).map(Some).collect();
//! let original = shards[1].take();
//! code.reconstruct(&mut shards).unwrap();
//! assert_eq!(shards[1], original);
//! ```

mod ffi;

use std::ffi::CStr;
use std::fmt;
use std::os::raw::c_int;

/// Why a call was refused; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcError {
    /// k, m, a shard count or a shard size is out of range or inconsistent.
    InvalidArgument(String),
    /// More shards are lost than the code can rebuild.
    TooManyLost { lost: usize, max: usize },
}

impl fmt::Display for EcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidArgument(message) => f.write_str(message),
            Self::TooManyLost { lost, max } => {
                write!(
                    f,
                    "{lost} shards are lost but the code rebuilds at most {max}"
                )
            }
        }
    }
}

impl std::error::Error for EcError {}

fn invalid(message: impl Into<String>) -> EcError {
    EcError::InvalidArgument(message.into())
}

/// A k+m code: shards 0..k are data, k..k+m parity; any k shards rebuild the rest.
pub struct ReedSolomon {
    k: usize,
    m: usize,
    parity_tables: Vec<u8>,
}

impl ReedSolomon {
    /// A code with k data and m parity shards (k, m >= 1, k + m <= 255).
    pub fn new(k: usize, m: usize) -> Result<Self, EcError> {
        if k == 0 || m == 0 || k + m > ffi::TC_EC_MAX_SHARDS {
            return Err(invalid(format!(
                "a code needs k, m >= 1 and k + m <= 255; got {k}+{m}"
            )));
        }
        let mut matrix = vec![0u8; (k + m) * k];
        // SAFETY: matrix holds (k+m)*k bytes, as the C function writes.
        check(unsafe { ffi::tc_ec_encode_matrix(k as c_int, m as c_int, matrix.as_mut_ptr()) })?;
        let parity_tables = tables(k, m, &matrix[k * k..])?;
        Ok(Self {
            k,
            m,
            parity_tables,
        })
    }

    pub fn data_shards(&self) -> usize {
        self.k
    }

    pub fn parity_shards(&self) -> usize {
        self.m
    }

    /// Writes the parity of `data` (k equal shards) into `parity` (m shards of the same size).
    pub fn encode<D: AsRef<[u8]>, P: AsMut<[u8]>>(
        &self,
        data: &[D],
        parity: &mut [P],
    ) -> Result<(), EcError> {
        if data.len() != self.k || parity.len() != self.m {
            return Err(invalid(format!(
                "a {}+{} code encodes {} data shards into {}; got {} and {}",
                self.k,
                self.m,
                self.k,
                self.m,
                data.len(),
                parity.len()
            )));
        }
        let inputs: Vec<*const u8> = data.iter().map(|d| d.as_ref().as_ptr()).collect();
        let len = same_length(data.iter().map(|d| d.as_ref().len()))?;
        let outputs: Vec<*mut u8> = parity.iter_mut().map(|p| p.as_mut().as_mut_ptr()).collect();
        if same_length(parity.iter_mut().map(|p| p.as_mut().len()))? != len {
            return Err(invalid("parity shards must be as long as data shards"));
        }
        // SAFETY: k input pointers and m output pointers of `len` bytes each, outputs disjoint
        // from inputs (distinct &mut borrows versus shared borrows).
        unsafe {
            ffi::tc_ec_apply(
                len,
                self.k as c_int,
                self.m as c_int,
                self.parity_tables.as_ptr(),
                inputs.as_ptr(),
                outputs.as_ptr(),
            )
        };
        Ok(())
    }

    /// Encodes a contiguous stripe in place: k data shards then m parity shards to fill.
    pub fn encode_stripe(&self, stripe: &mut [u8]) -> Result<(), EcError> {
        let n = self.k + self.m;
        if stripe.len() % n != 0 {
            return Err(invalid(format!(
                "a stripe of {} bytes does not split into {n} shards",
                stripe.len()
            )));
        }
        // SAFETY: the stripe holds k+m shards of len/(k+m) bytes, as the C function expects.
        check(unsafe {
            ffi::tc_ec_encode_stripe(
                stripe.len() / n,
                self.k as c_int,
                self.m as c_int,
                self.parity_tables.as_ptr(),
                stripe.as_mut_ptr(),
            )
        })
    }

    /// Rebuilds the `None` shards (at most m) from the others, in place.
    pub fn reconstruct(&self, shards: &mut [Option<Vec<u8>>]) -> Result<(), EcError> {
        if shards.len() != self.k + self.m {
            return Err(invalid(format!(
                "expected {} shards, got {}",
                self.k + self.m,
                shards.len()
            )));
        }
        let lost: Vec<c_int> = (0..shards.len())
            .filter(|&i| shards[i].is_none())
            .map(|i| i as c_int)
            .collect();
        if lost.len() > self.m {
            return Err(EcError::TooManyLost {
                lost: lost.len(),
                max: self.m,
            });
        }
        if lost.is_empty() {
            return Ok(());
        }
        let present: Vec<c_int> = (0..shards.len())
            .filter(|&i| shards[i].is_some())
            .take(self.k)
            .map(|i| i as c_int)
            .collect();
        let len = same_length(
            present
                .iter()
                .map(|&i| shards[i as usize].as_ref().map_or(0, Vec::len)),
        )?;
        let mut rows = vec![0u8; lost.len() * self.k];
        // SAFETY: k present and |lost| wanted indices, rows sized |lost| * k.
        check(unsafe {
            ffi::tc_ec_decode_rows(
                self.k as c_int,
                self.m as c_int,
                present.as_ptr(),
                lost.as_ptr(),
                lost.len() as c_int,
                rows.as_mut_ptr(),
            )
        })?;
        let decode_tables = tables(self.k, lost.len(), &rows)?;
        let mut rebuilt: Vec<Vec<u8>> = lost.iter().map(|_| vec![0u8; len]).collect();
        let inputs: Vec<*const u8> = present
            .iter()
            .map(|&i| {
                shards[i as usize]
                    .as_ref()
                    .map_or(std::ptr::null(), |s| s.as_ptr())
            })
            .collect();
        let outputs: Vec<*mut u8> = rebuilt.iter_mut().map(|s| s.as_mut_ptr()).collect();
        // SAFETY: k inputs and |lost| fresh outputs of `len` bytes each.
        unsafe {
            ffi::tc_ec_apply(
                len,
                self.k as c_int,
                lost.len() as c_int,
                decode_tables.as_ptr(),
                inputs.as_ptr(),
                outputs.as_ptr(),
            )
        };
        for (&index, shard) in lost.iter().zip(rebuilt) {
            shards[index as usize] = Some(shard);
        }
        Ok(())
    }
}

/// The kernel the library chose for this CPU (or THECLOUD_EC_KERNEL forced).
pub fn active_kernel() -> &'static str {
    // SAFETY: the C library returns a static NUL-terminated ASCII string.
    unsafe { CStr::from_ptr(ffi::tc_ec_active_kernel()) }
        .to_str()
        .unwrap_or("unknown")
}

/// CRC32C of `data` continuing from `crc` (0 to start).
pub fn crc32c(crc: u32, data: &[u8]) -> u32 {
    // SAFETY: a valid slice.
    unsafe { ffi::tc_crc32c(crc, data.as_ptr(), data.len()) }
}

fn tables(k: usize, rows: usize, coefficients: &[u8]) -> Result<Vec<u8>, EcError> {
    // SAFETY: pure size computation.
    let mut tables = vec![0u8; unsafe { ffi::tc_ec_tables_size(k as c_int, rows as c_int) }];
    // SAFETY: coefficients hold rows*k bytes; tables is sized by tc_ec_tables_size.
    check(unsafe {
        ffi::tc_ec_init_tables(
            k as c_int,
            rows as c_int,
            coefficients.as_ptr(),
            tables.as_mut_ptr(),
        )
    })?;
    Ok(tables)
}

fn same_length(mut lengths: impl Iterator<Item = usize>) -> Result<usize, EcError> {
    let first = lengths.next().unwrap_or(0);
    if lengths.all(|l| l == first) {
        Ok(first)
    } else {
        Err(invalid("shards must all be the same size"))
    }
}

fn check(status: c_int) -> Result<(), EcError> {
    if status == 0 {
        Ok(())
    } else {
        Err(invalid(format!(
            "the erasure-coding library refused the request (code {status})"
        )))
    }
}
