/* The C harness of `python -m bench ec`: times tc_ec_apply (and ISA-L's ec_encode_data when
 * built with -DWITH_ISAL) on caller-sized shards, with no Python in the loop. Prints one line:
 * "<kernel> <bytes of data per call> <seconds per call>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "thecloud_ec.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s KERNEL K M SHARD_BYTES POOL_BYTES [SECONDS]\n", argv[0]);
        return 2;
    }
    const char *kernel = argv[1];
    int k = atoi(argv[2]), m = atoi(argv[3]);
    size_t len = strtoull(argv[4], NULL, 10), pool = strtoull(argv[5], NULL, 10);
    double seconds = argc > 6 ? atof(argv[6]) : 1.0;
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
