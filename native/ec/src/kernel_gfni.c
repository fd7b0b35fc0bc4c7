/* GFNI kernels: each product is one GF2P8AFFINEQB with the coefficient's 8x8 bit matrix, at
 * AVX-512 (64-byte) or AVX (32-byte) width. */
#include <immintrin.h>
#include <string.h>

#include "internal.h"

#define TARGET512 __attribute__((target("avx512f,avx512bw,gfni")))
#define TARGET256 __attribute__((target("avx2,gfni")))

static inline uint64_t affine_of(const uint8_t *tables, int k, int r, int j) {
    uint64_t m;
    memcpy(&m, tables + ((size_t)r * k + j) * TC_EC_TABLE_BYTES + TC_EC_AFFINE_OFFSET, 8);
    return m;
}

static inline int all_aligned(uint8_t *const *out, int rows) {
    for (int r = 0; r < rows; r++)
        if ((uintptr_t)out[r] % 64) return 0;
    return 1;
}

/* Up to four output rows, 128 bytes per step, then 64, then a masked tail. */
static inline __attribute__((always_inline)) TARGET512 void rows_gfni512(
    size_t len, int k, const uint8_t *tables, const uint8_t *const *in, uint8_t *const *out,
    const int R) {
    /* Non-temporal stores skip the read-for-ownership of the output lines, leaving the memory
     * bandwidth to the inputs when streaming (encode 14 -> 24 GB/s here); off by default because
     * they push the outputs out of the cache. */
    const int stream = len >= tc_ec_stream_min() && all_aligned(out, R);
    size_t i = 0;
    for (; i + 128 <= len; i += 128) {
        __m512i acc0[4], acc1[4];
        for (int r = 0; r < R; r++) acc0[r] = acc1[r] = _mm512_setzero_si512();
        int j = 0;
        /* Two inputs per step: one three-way XOR (VPTERNLOG) folds both products in. */
        for (; j + 2 <= k; j += 2) {
            __m512i a0 = _mm512_loadu_si512(in[j] + i);
            __m512i a1 = _mm512_loadu_si512(in[j] + i + 64);
            __m512i b0 = _mm512_loadu_si512(in[j + 1] + i);
            __m512i b1 = _mm512_loadu_si512(in[j + 1] + i + 64);
            for (int r = 0; r < R; r++) {
                __m512i ma = _mm512_set1_epi64((long long)affine_of(tables, k, r, j));
                __m512i mb = _mm512_set1_epi64((long long)affine_of(tables, k, r, j + 1));
                acc0[r] = _mm512_ternarylogic_epi64(acc0[r], _mm512_gf2p8affine_epi64_epi8(a0, ma, 0),
                                                    _mm512_gf2p8affine_epi64_epi8(b0, mb, 0), 0x96);
                acc1[r] = _mm512_ternarylogic_epi64(acc1[r], _mm512_gf2p8affine_epi64_epi8(a1, ma, 0),
                                                    _mm512_gf2p8affine_epi64_epi8(b1, mb, 0), 0x96);
            }
        }
        for (; j < k; j++) {
            __m512i d0 = _mm512_loadu_si512(in[j] + i);
            __m512i d1 = _mm512_loadu_si512(in[j] + i + 64);
            for (int r = 0; r < R; r++) {
                __m512i m = _mm512_set1_epi64((long long)affine_of(tables, k, r, j));
                acc0[r] = _mm512_xor_si512(acc0[r], _mm512_gf2p8affine_epi64_epi8(d0, m, 0));
                acc1[r] = _mm512_xor_si512(acc1[r], _mm512_gf2p8affine_epi64_epi8(d1, m, 0));
            }
        }
        if (stream) {
            for (int r = 0; r < R; r++) {
                _mm512_stream_si512((void *)(out[r] + i), acc0[r]);
                _mm512_stream_si512((void *)(out[r] + i + 64), acc1[r]);
            }
        } else {
            for (int r = 0; r < R; r++) {
                _mm512_storeu_si512(out[r] + i, acc0[r]);
                _mm512_storeu_si512(out[r] + i + 64, acc1[r]);
            }
        }
    }
    if (stream) _mm_sfence(); /* order the streamed parity before anything the caller does next */
    while (i < len) {
        size_t n = len - i < 64 ? len - i : 64;
        __mmask64 mask = n == 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
        __m512i acc[4];
        for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_si512();
        for (int j = 0; j < k; j++) {
            __m512i d = _mm512_maskz_loadu_epi8(mask, in[j] + i);
            for (int r = 0; r < R; r++) {
                __m512i m = _mm512_set1_epi64((long long)affine_of(tables, k, r, j));
                acc[r] = _mm512_xor_si512(acc[r], _mm512_gf2p8affine_epi64_epi8(d, m, 0));
            }
        }
        for (int r = 0; r < R; r++) _mm512_mask_storeu_epi8(out[r] + i, mask, acc[r]);
        i += n;
    }
}

TARGET512 void tc_ec_kernel_gfni512(size_t len, int k, int rows, const uint8_t *tables,
                                    const uint8_t *const *in, uint8_t *const *out) {
    TC_EC_FOR_ROW_GROUPS(rows_gfni512, len, k, rows, tables, in, out);
}

static inline __attribute__((always_inline)) TARGET256 void rows_gfni256(
    size_t len, int k, const uint8_t *tables, const uint8_t *const *in, uint8_t *const *out,
    const int R) {
    size_t i = 0;
    for (; i + 64 <= len; i += 64) {
        __m256i acc0[4], acc1[4];
        for (int r = 0; r < R; r++) acc0[r] = acc1[r] = _mm256_setzero_si256();
        for (int j = 0; j < k; j++) {
            __m256i d0 = _mm256_loadu_si256((const __m256i *)(in[j] + i));
            __m256i d1 = _mm256_loadu_si256((const __m256i *)(in[j] + i + 32));
            for (int r = 0; r < R; r++) {
                __m256i m = _mm256_set1_epi64x((long long)affine_of(tables, k, r, j));
                acc0[r] = _mm256_xor_si256(acc0[r], _mm256_gf2p8affine_epi64_epi8(d0, m, 0));
                acc1[r] = _mm256_xor_si256(acc1[r], _mm256_gf2p8affine_epi64_epi8(d1, m, 0));
            }
        }
        for (int r = 0; r < R; r++) {
            _mm256_storeu_si256((__m256i *)(out[r] + i), acc0[r]);
            _mm256_storeu_si256((__m256i *)(out[r] + i + 32), acc1[r]);
        }
    }
    tc_ec_tail(i, len, k, R, tables, in, out);
}

TARGET256 void tc_ec_kernel_gfni256(size_t len, int k, int rows, const uint8_t *tables,
                                    const uint8_t *const *in, uint8_t *const *out) {
    TC_EC_FOR_ROW_GROUPS(rows_gfni256, len, k, rows, tables, in, out);
}
