/* GF(2^8) arithmetic with the polynomial x^8+x^4+x^3+x^2+1 (0x11D), matrices and tables. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "thecloud_ec.h"

static uint8_t gf_exp[512];
static uint8_t gf_log[256];

/* Runs before main and before any cffi or Rust caller: the tables are read-only afterwards. */
__attribute__((constructor)) static void gf_build_tables(void) {
    unsigned x = 1;
    for (int i = 0; i < 255; i++) {
        gf_exp[i] = (uint8_t)x;
        gf_log[x] = (uint8_t)i;
        x <<= 1;
        if (x & 0x100) x ^= 0x11D;
    }
    for (int i = 255; i < 512; i++) gf_exp[i] = gf_exp[i - 255];
}

uint8_t tc_gf_mul(uint8_t a, uint8_t b) {
    if (a == 0 || b == 0) return 0;
    return gf_exp[gf_log[a] + gf_log[b]];
}

uint8_t tc_gf_inv(uint8_t a) {
    if (a == 0) return 0;
    return gf_exp[255 - gf_log[a]];
}

static int valid_code(int k, int m) {
    return k >= 1 && m >= 1 && k + m <= TC_EC_MAX_SHARDS;
}

int tc_ec_encode_matrix(int k, int m, uint8_t *matrix) {
    if (!valid_code(k, m)) return TC_EC_EINVAL;
    memset(matrix, 0, (size_t)(k + m) * (size_t)k);
    for (int i = 0; i < k; i++) matrix[i * k + i] = 1;
    for (int i = k; i < k + m; i++)
        for (int j = 0; j < k; j++) matrix[i * k + j] = tc_gf_inv((uint8_t)(i ^ j));
    return 0;
}

size_t tc_ec_tables_size(int k, int rows) {
    return (size_t)k * (size_t)rows * TC_EC_TABLE_BYTES;
}

/* The 8x8 bit matrix of "multiply by c" for GF2P8AFFINEQB: byte 7-i of the qword holds the input
 * bits that produce output bit i. */
static uint64_t affine_matrix(uint8_t c) {
    uint8_t rows[8] = {0};
    for (int j = 0; j < 8; j++) {
        uint8_t product = tc_gf_mul(c, (uint8_t)(1u << j));
        for (int i = 0; i < 8; i++)
            if (product & (1u << i)) rows[i] |= (uint8_t)(1u << j);
    }
    uint64_t qword = 0;
    for (int i = 0; i < 8; i++) qword |= (uint64_t)rows[i] << (8 * (7 - i));
    return qword;
}

int tc_ec_init_tables(int k, int rows, const uint8_t *coefficients, uint8_t *tables) {
    if (k < 1 || rows < 1 || k > TC_EC_MAX_SHARDS || rows > TC_EC_MAX_SHARDS) return TC_EC_EINVAL;
    for (int r = 0; r < rows; r++) {
        for (int j = 0; j < k; j++) {
            uint8_t c = coefficients[r * k + j];
            uint8_t *t = tables + ((size_t)r * k + j) * TC_EC_TABLE_BYTES;
            for (int x = 0; x < 16; x++) {
                t[x] = tc_gf_mul(c, (uint8_t)x);
                t[16 + x] = tc_gf_mul(c, (uint8_t)(x << 4));
            }
            uint64_t affine = affine_matrix(c);
            memcpy(t + 32, &affine, 8);
            memset(t + 40, 0, TC_EC_TABLE_BYTES - 40);
        }
    }
    return 0;
}

/* Inverts an n x n matrix in place by Gauss-Jordan elimination; TC_EC_ESINGULAR if singular. */
static int invert(uint8_t *a, uint8_t *inverse, int n) {
    memset(inverse, 0, (size_t)n * n);
    for (int i = 0; i < n; i++) inverse[i * n + i] = 1;
    for (int col = 0; col < n; col++) {
        int pivot = col;
        while (pivot < n && a[pivot * n + col] == 0) pivot++;
        if (pivot == n) return TC_EC_ESINGULAR;
        if (pivot != col) {
            for (int j = 0; j < n; j++) {
                uint8_t t = a[col * n + j]; a[col * n + j] = a[pivot * n + j]; a[pivot * n + j] = t;
                t = inverse[col * n + j]; inverse[col * n + j] = inverse[pivot * n + j];
                inverse[pivot * n + j] = t;
            }
        }
        uint8_t scale = tc_gf_inv(a[col * n + col]);
        for (int j = 0; j < n; j++) {
            a[col * n + j] = tc_gf_mul(a[col * n + j], scale);
            inverse[col * n + j] = tc_gf_mul(inverse[col * n + j], scale);
        }
        for (int row = 0; row < n; row++) {
            uint8_t factor = a[row * n + col];
            if (row == col || factor == 0) continue;
            for (int j = 0; j < n; j++) {
                a[row * n + j] ^= tc_gf_mul(factor, a[col * n + j]);
                inverse[row * n + j] ^= tc_gf_mul(factor, inverse[col * n + j]);
            }
        }
    }
    return 0;
}

int tc_ec_decode_rows(int k, int m, const int *present, const int *wanted, int nwanted,
                      uint8_t *rows) {
    if (!valid_code(k, m) || nwanted < 1 || nwanted > k + m) return TC_EC_EINVAL;
    for (int i = 0; i < k; i++)
        if (present[i] < 0 || present[i] >= k + m || (i > 0 && present[i] <= present[i - 1]))
            return TC_EC_EINVAL;
    for (int w = 0; w < nwanted; w++)
        if (wanted[w] < 0 || wanted[w] >= k + m) return TC_EC_EINVAL;

    size_t square = (size_t)k * (size_t)k;
    uint8_t *encode = malloc((size_t)(k + m) * (size_t)k + 2 * square);
    if (encode == NULL) return TC_EC_ENOMEM;
    uint8_t *chosen = encode + (size_t)(k + m) * (size_t)k;
    uint8_t *inverse = chosen + square;
    tc_ec_encode_matrix(k, m, encode);
    for (int i = 0; i < k; i++) memcpy(chosen + i * k, encode + present[i] * k, (size_t)k);
    int status = invert(chosen, inverse, k);
    /* Shard w = encode[w] . data = encode[w] . inverse . present_shards. */
    for (int w = 0; status == 0 && w < nwanted; w++) {
        const uint8_t *row = encode + wanted[w] * k;
        for (int j = 0; j < k; j++) {
            uint8_t sum = 0;
            for (int t = 0; t < k; t++) sum ^= tc_gf_mul(row[t], inverse[t * k + j]);
            rows[w * k + j] = sum;
        }
    }
    free(encode);
    return status;
}
