/* The C harness of `python -m bench ec`: times tc_ec_apply on stripes walked through a pool of
 * POOL_BYTES (small: in cache; large: streaming from memory), with no Python in the loop, in
 * process CPU time. KERNEL "read" instead times reading the pool (the core's read bandwidth).
 * Prints one line: "<kernel> <bytes of data per call> <seconds per call>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "thecloud_ec.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Reads every byte of the pool (XOR of 64-bit words, kept live) and returns seconds per pass. */
static double read_pool(const uint8_t *pool, size_t bytes, double seconds) {
    uint64_t sink = 0;
    size_t passes = 0;
    double start = now(), elapsed;
    do {
        __asm__ volatile("" : : "r"(pool) : "memory"); /* the pool may have changed: read it again */
        uint64_t a = 0, b = 0, c = 0, d = 0;
        for (size_t i = 0; i + 32 <= bytes; i += 32) {
            uint64_t w[4];
            memcpy(w, pool + i, 32);
            a ^= w[0]; b ^= w[1]; c ^= w[2]; d ^= w[3];
        }
        sink ^= a ^ b ^ c ^ d;
        __asm__ volatile("" : : "r"(sink)); /* the result is used: the loads must happen */
        passes++;
        elapsed = now() - start;
    } while (elapsed < seconds);
    return elapsed / passes;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s KERNEL K M SHARD_BYTES POOL_BYTES [SECONDS [STREAM_MIN]]\n",
                argv[0]);
        return 2;
    }
    const char *kernel = argv[1];
    int k = atoi(argv[2]), m = atoi(argv[3]);
    size_t len = strtoull(argv[4], NULL, 10), pool = strtoull(argv[5], NULL, 10);
    double seconds = argc > 6 ? atof(argv[6]) : 1.0;
    if (argc > 7) tc_ec_stream_stores_from(strtoull(argv[7], NULL, 10));
    size_t stripe = (size_t)(k + m) * len;
    size_t stripes = pool / stripe ? pool / stripe : 1;
    uint8_t *memory = aligned_alloc(64, stripes * stripe);
    for (size_t i = 0; i < stripes * stripe; i++) memory[i] = (uint8_t)(i * 2654435761u >> 13);
    uint8_t matrix[TC_EC_MAX_SHARDS * 16];
    uint8_t *tables = malloc(tc_ec_tables_size(k, m));
    tc_ec_encode_matrix(k, m, matrix);
    tc_ec_init_tables(k, m, matrix + k * k, tables);
    const uint8_t *in[TC_EC_MAX_SHARDS];
    uint8_t *out[TC_EC_MAX_SHARDS];
    if (strcmp(kernel, "read") == 0) {
        printf("read %zu %.9f\n", stripes * stripe, read_pool(memory, stripes * stripe, seconds));
        return 0;
    }
    if (tc_ec_select_kernel(kernel) != 0) { fprintf(stderr, "kernel %s unsupported\n", kernel); return 1; }
    size_t calls = 0;
    double start = now(), elapsed;
    do {
        for (int rep = 0; rep < 16; rep++, calls++) {
            uint8_t *base = memory + (calls % stripes) * stripe;
            for (int j = 0; j < k; j++) in[j] = base + (size_t)j * len;
            for (int r = 0; r < m; r++) out[r] = base + (size_t)(k + r) * len;
            tc_ec_apply(len, k, m, tables, in, out);
        }
        elapsed = now() - start;
    } while (elapsed < seconds);
    printf("%s %zu %.9f\n", kernel, (size_t)k * len, elapsed / calls);
    return 0;
}
