/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78): SSE4.2's CRC32 instruction with three
 * independent streams to hide its latency, or a table when the CPU lacks it. */
#include <nmmintrin.h>
#include <string.h>

#include "thecloud_ec.h"

enum { BLOCK = 4096 }; /* bytes per stream in the three-stream loop */

static uint32_t table[256];
static uint32_t shift_block; /* x^(8*BLOCK) mod P */

static uint32_t shift_constant(size_t bytes);

/* Runs before any caller: both tables are read-only afterwards. */
__attribute__((constructor)) static void crc_build_tables(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int b = 0; b < 8; b++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
        table[i] = c;
    }
    shift_block = shift_constant(BLOCK);
}

static uint32_t crc_table(uint32_t crc, const uint8_t *p, size_t n) {
    while (n--) crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

/* a * b mod P in the reflected representation (bit 31 is x^0). */
static uint32_t gf2_multiply(uint32_t a, uint32_t b) {
    uint32_t product = 0;
    for (int i = 0; i < 32; i++) {
        if (b & 0x80000000u) product ^= a;
        b <<= 1;
        a = (a >> 1) ^ (0x82F63B78u & (0u - (a & 1)));
    }
    return product;
}

/* x^(8*bytes) mod P: multiplying a CRC register by it moves the CRC past `bytes` zero bytes. */
static uint32_t shift_constant(size_t bytes) {
    uint32_t result = 0x80000000u; /* x^0 */
    uint32_t power = 0x40000000u;  /* x^1 */
    size_t exponent = 8 * bytes;
    while (exponent) {
        if (exponent & 1) result = gf2_multiply(result, power);
        power = gf2_multiply(power, power);
        exponent >>= 1;
    }
    return result;
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p,
                                                          size_t n) {
    while (n >= 3 * BLOCK) {
        uint64_t a = crc, b = 0, c = 0;
        for (size_t i = 0; i < BLOCK; i += 8) {
            uint64_t x, y, z;
            memcpy(&x, p + i, 8);
            memcpy(&y, p + BLOCK + i, 8);
            memcpy(&z, p + 2 * BLOCK + i, 8);
            a = _mm_crc32_u64(a, x);
            b = _mm_crc32_u64(b, y);
            c = _mm_crc32_u64(c, z);
        }
        /* crc(A|B|C) = shift(shift(a) ^ b) ^ c, each shift being multiplication by x^(8*BLOCK). */
        uint32_t ab = gf2_multiply((uint32_t)a, shift_block) ^ (uint32_t)b;
        crc = gf2_multiply(ab, shift_block) ^ (uint32_t)c;
        p += 3 * BLOCK;
        n -= 3 * BLOCK;
    }
    uint64_t c64 = crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        c64 = _mm_crc32_u64(c64, x);
    }
    crc = (uint32_t)c64;
    for (; n; n--) crc = _mm_crc32_u8(crc, *p++);
    return crc;
}

uint32_t tc_crc32c(uint32_t crc, const uint8_t *data, size_t len) {
    crc = ~crc;
    crc = __builtin_cpu_supports("sse4.2") ? crc_hw(crc, data, len) : crc_table(crc, data, len);
    return ~crc;
}
