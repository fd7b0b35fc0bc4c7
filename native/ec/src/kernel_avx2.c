/* AVX2 split-nibble kernel: each product is two PSHUFB lookups (low and high nibble). */
#include <immintrin.h>

#include "internal.h"

#define TARGET __attribute__((target("avx2")))

/* Up to four output rows at once, 64 bytes per step; R is a compile-time constant per call. */
static inline __attribute__((always_inline)) TARGET void rows_avx2(
    size_t len, int k, const uint8_t *tables, const uint8_t *const *in, uint8_t *const *out,
    const int R) {
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    size_t i = 0;
    for (; i + 64 <= len; i += 64) {
        __m256i acc0[4], acc1[4];
        for (int r = 0; r < R; r++) acc0[r] = acc1[r] = _mm256_setzero_si256();
        for (int j = 0; j < k; j++) {
            __m256i d0 = _mm256_loadu_si256((const __m256i *)(in[j] + i));
            __m256i d1 = _mm256_loadu_si256((const __m256i *)(in[j] + i + 32));
            __m256i lo0 = _mm256_and_si256(d0, nibble);
            __m256i hi0 = _mm256_and_si256(_mm256_srli_epi64(d0, 4), nibble);
            __m256i lo1 = _mm256_and_si256(d1, nibble);
            __m256i hi1 = _mm256_and_si256(_mm256_srli_epi64(d1, 4), nibble);
            for (int r = 0; r < R; r++) {
                const uint8_t *t = tables + ((size_t)r * k + j) * TC_EC_TABLE_BYTES;
                __m256i tlo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)t));
                __m256i thi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(t + 16)));
                acc0[r] = _mm256_xor_si256(acc0[r], _mm256_xor_si256(_mm256_shuffle_epi8(tlo, lo0),
                                                                     _mm256_shuffle_epi8(thi, hi0)));
                acc1[r] = _mm256_xor_si256(acc1[r], _mm256_xor_si256(_mm256_shuffle_epi8(tlo, lo1),
                                                                     _mm256_shuffle_epi8(thi, hi1)));
            }
        }
        for (int r = 0; r < R; r++) {
            _mm256_storeu_si256((__m256i *)(out[r] + i), acc0[r]);
            _mm256_storeu_si256((__m256i *)(out[r] + i + 32), acc1[r]);
        }
    }
    tc_ec_tail(i, len, k, R, tables, in, out);
}

TARGET void tc_ec_kernel_avx2(size_t len, int k, int rows, const uint8_t *tables,
                              const uint8_t *const *in, uint8_t *const *out) {
    TC_EC_FOR_ROW_GROUPS(rows_avx2, len, k, rows, tables, in, out);
}
