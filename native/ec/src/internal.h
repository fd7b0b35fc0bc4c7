/* Shared between the kernels and the dispatcher; not part of the public API. */
#ifndef THECLOUD_EC_INTERNAL_H
#define THECLOUD_EC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Per coefficient: 16 bytes of low-nibble products, 16 of high-nibble products (PSHUFB tables),
 * the 8-byte GF2P8AFFINEQB matrix, padding to a 64-byte multiple. */
#define TC_EC_TABLE_BYTES 64
#define TC_EC_AFFINE_OFFSET 32

typedef void (*tc_ec_kernel)(size_t len, int k, int rows, const uint8_t *tables,
                             const uint8_t *const *in, uint8_t *const *out);

void tc_ec_kernel_scalar(size_t len, int k, int rows, const uint8_t *tables,
                         const uint8_t *const *in, uint8_t *const *out);
void tc_ec_kernel_avx2(size_t len, int k, int rows, const uint8_t *tables,
                       const uint8_t *const *in, uint8_t *const *out);
void tc_ec_kernel_gfni256(size_t len, int k, int rows, const uint8_t *tables,
                          const uint8_t *const *in, uint8_t *const *out);
void tc_ec_kernel_gfni512(size_t len, int k, int rows, const uint8_t *tables,
                          const uint8_t *const *in, uint8_t *const *out);

/* Calls ROWS_FN(len, k, tables, in, out, R) on groups of up to four output rows, with R a
 * compile-time constant in each call so the kernel's accumulators stay in registers. */
#define TC_EC_FOR_ROW_GROUPS(ROWS_FN, len, k, rows, tables, in, out)                     \
    for (int group = 0; group < (rows); group += 4) {                                   \
        const uint8_t *group_tables = (tables) + (size_t)group * (k) * TC_EC_TABLE_BYTES; \
        switch ((rows) - group) {                                                       \
        case 1: ROWS_FN(len, k, group_tables, in, (out) + group, 1); break;             \
        case 2: ROWS_FN(len, k, group_tables, in, (out) + group, 2); break;             \
        case 3: ROWS_FN(len, k, group_tables, in, (out) + group, 3); break;             \
        default: ROWS_FN(len, k, group_tables, in, (out) + group, 4); break;            \
        }                                                                               \
    }

/* Outputs at least this long use non-temporal stores (tc_ec_stream_stores_from). */
size_t tc_ec_stream_min(void);

/* Scalar product of one byte position, shared by the scalar kernel and the vector tails. */
static inline uint8_t tc_ec_mul_table(const uint8_t *t, uint8_t x) {
    return (uint8_t)(t[x & 15] ^ t[16 + (x >> 4)]);
}

/* Finishes bytes [from, len) of every output with scalar arithmetic. */
static inline void tc_ec_tail(size_t from, size_t len, int k, int rows, const uint8_t *tables,
                              const uint8_t *const *in, uint8_t *const *out) {
    for (int r = 0; r < rows; r++) {
        for (size_t i = from; i < len; i++) {
            uint8_t acc = 0;
            for (int j = 0; j < k; j++)
                acc ^= tc_ec_mul_table(tables + ((size_t)r * k + j) * TC_EC_TABLE_BYTES, in[j][i]);
            out[r][i] = acc;
        }
    }
}

#endif
