//! The C API of native/ec/include/thecloud_ec.h.

use std::os::raw::{c_char, c_int};

pub const TC_EC_MAX_SHARDS: usize = 255;

extern "C" {
    pub fn tc_ec_tables_size(k: c_int, rows: c_int) -> usize;
    pub fn tc_ec_encode_matrix(k: c_int, m: c_int, matrix: *mut u8) -> c_int;
    pub fn tc_ec_init_tables(
        k: c_int,
        rows: c_int,
        coefficients: *const u8,
        tables: *mut u8,
    ) -> c_int;
    pub fn tc_ec_apply(
        len: usize,
        k: c_int,
        rows: c_int,
        tables: *const u8,
        input: *const *const u8,
        output: *const *mut u8,
    );
    pub fn tc_ec_encode_stripe(
        len: usize,
        k: c_int,
        m: c_int,
        tables: *const u8,
        stripe: *mut u8,
    ) -> c_int;
    pub fn tc_ec_decode_rows(
        k: c_int,
        m: c_int,
        present: *const c_int,
        wanted: *const c_int,
        nwanted: c_int,
        rows: *mut u8,
    ) -> c_int;
    pub fn tc_ec_active_kernel() -> *const c_char;
    pub fn tc_crc32c(crc: u32, data: *const u8, len: usize) -> u32;
}
