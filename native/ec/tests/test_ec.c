/* C-level tests of thecloud_ec, built with AddressSanitizer by `make native-test`: every kernel
 * against the scalar reference, reconstruction of every single and double loss, CRC32C vectors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thecloud_ec.h"

static int failures;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static void fill(uint8_t *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) { seed = seed * 1103515245u + 12345u; p[i] = (uint8_t)(seed >> 16); }
}

static void test_code(int k, int m, size_t len) {
    if (k < 1 || m < 1) return;
    int n = k + m;
    uint8_t *matrix = malloc((size_t)n * k);
    uint8_t *tables = malloc(tc_ec_tables_size(k, m));
    uint8_t **shards = malloc(sizeof(uint8_t *) * n);
    uint8_t **check = malloc(sizeof(uint8_t *) * m);
    /* 64-byte aligned, as the codec's own buffers are: exercises the streaming-store path too. */
    size_t padded = (len + 63) / 64 * 64 + 64;
    for (int i = 0; i < n; i++) shards[i] = aligned_alloc(64, padded);
    for (int i = 0; i < m; i++) check[i] = aligned_alloc(64, padded);
    for (int i = 0; i < k; i++) fill(shards[i], len, (unsigned)(i * 7919 + k));
    CHECK(tc_ec_encode_matrix(k, m, matrix) == 0, "matrix %d+%d", k, m);
    CHECK(tc_ec_init_tables(k, m, matrix + k * k, tables) == 0, "tables");
    CHECK(tc_ec_apply_with("scalar", len, k, m, tables, (const uint8_t *const *)shards, shards + k) == 0, "scalar");
    const char *kernels[] = {"gfni512", "gfni256", "avx2"};
    for (int v = 0; v < 3; v++) {
        if (!strstr(tc_ec_supported_kernels(), kernels[v])) continue;
        tc_ec_apply_with(kernels[v], len, k, m, tables, (const uint8_t *const *)shards, check);
        for (int i = 0; i < m; i++)
            CHECK(memcmp(check[i], shards[k + i], len) == 0, "%s differs from scalar: %d+%d len %zu row %d", kernels[v], k, m, len, i);
    }
    /* Lose every pair (a, b) of shards and rebuild them from the first k survivors. */
    for (int a = 0; a < n; a++) {
        for (int b = a; b < n && b < a + (m >= 2 ? n : 1); b++) {
            int lost[2] = {a, b}, nlost = a == b ? 1 : 2;
            if (nlost > m) continue;
            int present[TC_EC_MAX_SHARDS], np = 0;
            for (int i = 0; i < n && np < k; i++) if (i != a && i != b) present[np++] = i;
            uint8_t *rows = malloc((size_t)(nlost * k));
            uint8_t *rtables = malloc(tc_ec_tables_size(k, nlost));
            const uint8_t *in[TC_EC_MAX_SHARDS];
            for (int i = 0; i < k; i++) in[i] = shards[present[i]];
            CHECK(tc_ec_decode_rows(k, m, present, lost, nlost, rows) == 0, "decode rows");
            tc_ec_init_tables(k, nlost, rows, rtables);
            tc_ec_apply(len, k, nlost, rtables, in, check);
            for (int i = 0; i < nlost; i++)
                CHECK(memcmp(check[i], shards[lost[i]], len) == 0, "rebuild %d of %d+%d (lost %d,%d)", lost[i], k, m, a, b);
            free(rows); free(rtables);
        }
    }
    for (int i = 0; i < n; i++) free(shards[i]);
    for (int i = 0; i < m; i++) free(check[i]);
    free(shards); free(check); free(matrix); free(tables);
}

int main(void) {
    size_t lengths[] = {0, 1, 31, 63, 64, 65, 127, 128, 129, 1000, 4096, 65536 + 17, 262144};
    int codes[][2] = {{1, 1}, {2, 1}, {4, 2}, {8, 3}, {10, 4}, {5, 5}, {3, 7}};
    for (size_t c = 0; c < sizeof codes / sizeof codes[0]; c++)
        for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) test_code(codes[c][0], codes[c][1], lengths[l]);
    /* Again with non-temporal stores for every output of 4 KiB or more. */
    tc_ec_stream_stores_from(4096);
    for (size_t c = 0; c < sizeof codes / sizeof codes[0]; c++)
        for (size_t l = 9; l < sizeof lengths / sizeof lengths[0]; l++) test_code(codes[c][0], codes[c][1], lengths[l]);
    tc_ec_stream_stores_from((size_t)-1);
    /* Limits. */
    uint8_t scratch[16];
    CHECK(tc_ec_encode_matrix(0, 1, scratch) == TC_EC_EINVAL, "k=0");
    CHECK(tc_ec_encode_matrix(200, 56, NULL) == TC_EC_EINVAL, "k+m=256");
    int present[2] = {1, 1}, wanted[1] = {0};
    CHECK(tc_ec_decode_rows(2, 1, present, wanted, 1, scratch) == TC_EC_EINVAL, "repeated shard");
    CHECK(tc_ec_select_kernel("no-such-kernel") == TC_EC_EKERNEL, "unknown kernel");
    /* CRC32C check values (RFC 3720 B.4 and the common "123456789"). */
    uint8_t zeros[32] = {0}, ones[32];
    memset(ones, 0xff, sizeof ones);
    CHECK(tc_crc32c(0, (const uint8_t *)"123456789", 9) == 0xE3069283u, "crc 123456789");
    CHECK(tc_crc32c(0, zeros, 32) == 0x8A9136AAu, "crc zeros");
    CHECK(tc_crc32c(0, ones, 32) == 0x62A8AB43u, "crc ones");
    size_t big = 3 * 4096 * 3 + 77;
    uint8_t *data = malloc(big);
    fill(data, big, 42);
    uint32_t split = tc_crc32c(tc_crc32c(0, data, 1000), data + 1000, big - 1000);
    uint32_t whole = tc_crc32c(0, data, big);
    uint32_t bytewise = 0;
    for (size_t i = 0; i < big; i++) bytewise = tc_crc32c(bytewise, data + i, 1);
    CHECK(split == whole && whole == bytewise, "crc streams %08x %08x %08x", split, whole, bytewise);
    free(data);
    printf("thecloud_ec C tests: kernels %s; %s\n", tc_ec_supported_kernels(), failures ? "FAILED" : "ok");
    return failures != 0;
}
