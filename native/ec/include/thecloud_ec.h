/* thecloud_ec: systematic Reed-Solomon erasure coding over GF(2^8) and CRC32C.
 *
 * One C library used twice: by Python through cffi (thecloud.dataplane.ec) and by the Rust NBD
 * server through the `cc` crate (native/crates/ec). The field polynomial (0x11D) and the
 * Cauchy encoding matrix are those of ISA-L, so parity is byte-identical to ISA-L's.
 *
 * Every kernel computes out[r] = XOR_j coeff[r][j] * in[j] over `len` bytes. Encoding uses the
 * parity rows of the encoding matrix; reconstruction uses rows from tc_ec_decode_rows. Kernels are
 * chosen once at run time from the CPU (GFNI with AVX-512 or AVX2 widths, AVX2 PSHUFB, scalar), or
 * forced with THECLOUD_EC_KERNEL=gfni512|gfni256|avx2|scalar. All produce identical bytes.
 *
 * Errors are negative return values (TC_EC_E*); nothing is written on error.
 */
#ifndef THECLOUD_EC_H
#define THECLOUD_EC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cffi-begin: the declarations below are read by cffi (native/ec/cffi_build.py) as they are. */
enum {
    TC_EC_MAX_SHARDS = 255,
    TC_EC_EINVAL = -22,   /* k, m, a row count or an index is out of range */
    TC_EC_ESINGULAR = -5, /* the chosen shards cannot reconstruct (never for distinct shards) */
    TC_EC_EKERNEL = -95,  /* the requested kernel is unknown or this CPU lacks it */
    TC_EC_ENOMEM = -12,   /* scratch memory could not be allocated */
};

/* Bytes of expanded tables for `rows` x `k` coefficients. */
size_t tc_ec_tables_size(int k, int rows);

/* Writes the (k+m) x k encoding matrix: identity on top, Cauchy rows 1/(i ^ j) below. */
int tc_ec_encode_matrix(int k, int m, uint8_t *matrix);

/* Expands a rows x k coefficient matrix into tables for every kernel. */
int tc_ec_init_tables(int k, int rows, const uint8_t *coefficients, uint8_t *tables);

/* out[r][0..len) = XOR_j coeff[r][j] * in[j][0..len), r < rows, j < k, with the active kernel. */
void tc_ec_apply(size_t len, int k, int rows, const uint8_t *tables, const uint8_t *const *in,
                 uint8_t *const *out);

/* Encodes a contiguous stripe in place: k data shards of `len` bytes followed by m parity shards
 * (one call, no pointer arrays to build: the cheap path for callers in other languages). */
int tc_ec_encode_stripe(size_t len, int k, int m, const uint8_t *tables, uint8_t *stripe);

/* Rebuilds shards `lost` of a contiguous stripe in place from its shards `present` (k indices),
 * with tables made from tc_ec_decode_rows(k, m, present, lost, nlost). */
int tc_ec_reconstruct_stripe(size_t len, int k, int m, const uint8_t *tables, const int *present,
                             const int *lost, int nlost, uint8_t *stripe);

/* The same with a named kernel (for tests and benchmarks). */
int tc_ec_apply_with(const char *kernel, size_t len, int k, int rows, const uint8_t *tables,
                     const uint8_t *const *in, uint8_t *const *out);

/* Coefficient rows (nwanted x k) that rebuild shards `wanted` from the k shards `present`
 * (indices into the k+m shards of the code, present in increasing order, all distinct). */
int tc_ec_decode_rows(int k, int m, const int *present, const int *wanted, int nwanted,
                      uint8_t *rows);

/* Outputs of at least `min_len` bytes (64-byte aligned) are written with non-temporal stores from
 * now on: right for streaming work whose results are not read back soon (bulk rebuilds, ingest
 * of data larger than the caches); wrong when the caller reads the parity next. (size_t)-1, the
 * default, turns them off. Kernels without them ignore the setting. */
void tc_ec_stream_stores_from(size_t min_len);

/* Names of the kernel in use and of every kernel this CPU can run, comma-separated. */
const char *tc_ec_active_kernel(void);
const char *tc_ec_supported_kernels(void);
/* Selects the kernel for tc_ec_apply; NULL restores the automatic choice. */
int tc_ec_select_kernel(const char *kernel);

/* CRC32C (Castagnoli), hardware-accelerated where SSE4.2 exists; `crc` is the running value
 * (0 to start), as in RFC 3720. */
uint32_t tc_crc32c(uint32_t crc, const uint8_t *data, size_t len);

/* GF(2^8) multiplication and inverse (0 has none: returns 0), for references and tests. */
uint8_t tc_gf_mul(uint8_t a, uint8_t b);
uint8_t tc_gf_inv(uint8_t a);
/* cffi-end */

#ifdef __cplusplus
}
#endif

#endif
