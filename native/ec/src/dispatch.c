/* Chooses the kernel once from the CPU, or from THECLOUD_EC_KERNEL; never silently slower:
 * forcing a kernel this CPU lacks is an error, reported by tc_ec_select_kernel. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "thecloud_ec.h"

struct kernel_entry {
    const char *name;
    tc_ec_kernel run;
    int (*supported)(void);
};

static int has_gfni512(void) {
    return __builtin_cpu_supports("gfni") && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw");
}
static int has_gfni256(void) {
    return __builtin_cpu_supports("gfni") && __builtin_cpu_supports("avx2");
}
static int has_avx2(void) { return __builtin_cpu_supports("avx2"); }
static int always(void) { return 1; }

/* Fastest first. */
static const struct kernel_entry KERNELS[] = {
    {"gfni512", tc_ec_kernel_gfni512, has_gfni512},
    {"gfni256", tc_ec_kernel_gfni256, has_gfni256},
    {"avx2", tc_ec_kernel_avx2, has_avx2},
    {"scalar", tc_ec_kernel_scalar, always},
};
#define KERNEL_COUNT (sizeof(KERNELS) / sizeof(KERNELS[0]))

static _Atomic(const struct kernel_entry *) active;
static _Atomic size_t stream_min = (size_t)-1;

void tc_ec_stream_stores_from(size_t min_len) { atomic_store(&stream_min, min_len); }

size_t tc_ec_stream_min(void) { return atomic_load_explicit(&stream_min, memory_order_relaxed); }

static const struct kernel_entry *find(const char *name) {
    for (size_t i = 0; i < KERNEL_COUNT; i++)
        if (strcmp(KERNELS[i].name, name) == 0) return KERNELS[i].supported() ? &KERNELS[i] : NULL;
    return NULL;
}

static const struct kernel_entry *best(void) {
    for (size_t i = 0; i < KERNEL_COUNT; i++)
        if (KERNELS[i].supported()) return &KERNELS[i];
    return &KERNELS[KERNEL_COUNT - 1];
}

int tc_ec_select_kernel(const char *name) {
    const struct kernel_entry *chosen = name == NULL ? best() : find(name);
    if (chosen == NULL) return TC_EC_EKERNEL;
    atomic_store(&active, chosen);
    return 0;
}

static const struct kernel_entry *current(void) {
    const struct kernel_entry *entry = atomic_load_explicit(&active, memory_order_acquire);
    if (entry == NULL) {
        const char *forced = getenv("THECLOUD_EC_KERNEL");
        entry = forced && *forced ? find(forced) : best();
        /* A forced kernel this CPU lacks: abort loudly rather than run another one. The Python
         * and Rust wrappers validate the variable first and raise a clear error instead. */
        if (entry == NULL) abort();
        atomic_store(&active, entry);
    }
    return entry;
}

void tc_ec_apply(size_t len, int k, int rows, const uint8_t *tables, const uint8_t *const *in,
                 uint8_t *const *out) {
    current()->run(len, k, rows, tables, in, out);
}

int tc_ec_encode_stripe(size_t len, int k, int m, const uint8_t *tables, uint8_t *stripe) {
    if (k < 1 || m < 1 || k + m > TC_EC_MAX_SHARDS) return TC_EC_EINVAL;
    const uint8_t *in[TC_EC_MAX_SHARDS];
    uint8_t *out[TC_EC_MAX_SHARDS];
    for (int j = 0; j < k; j++) in[j] = stripe + (size_t)j * len;
    for (int r = 0; r < m; r++) out[r] = stripe + (size_t)(k + r) * len;
    tc_ec_apply(len, k, m, tables, in, out);
    return 0;
}

int tc_ec_reconstruct_stripe(size_t len, int k, int m, const uint8_t *tables, const int *present,
                             const int *lost, int nlost, uint8_t *stripe) {
    if (k < 1 || m < 1 || k + m > TC_EC_MAX_SHARDS || nlost < 1 || nlost > m) return TC_EC_EINVAL;
    const uint8_t *in[TC_EC_MAX_SHARDS];
    uint8_t *out[TC_EC_MAX_SHARDS];
    for (int j = 0; j < k; j++) {
        if (present[j] < 0 || present[j] >= k + m) return TC_EC_EINVAL;
        in[j] = stripe + (size_t)present[j] * len;
    }
    for (int r = 0; r < nlost; r++) {
        if (lost[r] < 0 || lost[r] >= k + m) return TC_EC_EINVAL;
        out[r] = stripe + (size_t)lost[r] * len;
    }
    tc_ec_apply(len, k, nlost, tables, in, out);
    return 0;
}

int tc_ec_apply_with(const char *name, size_t len, int k, int rows, const uint8_t *tables,
                     const uint8_t *const *in, uint8_t *const *out) {
    const struct kernel_entry *entry = find(name);
    if (entry == NULL) return TC_EC_EKERNEL;
    entry->run(len, k, rows, tables, in, out);
    return 0;
}

const char *tc_ec_active_kernel(void) { return current()->name; }

const char *tc_ec_supported_kernels(void) {
    static char names[64];
    static atomic_int done;
    if (!atomic_load(&done)) {
        char buffer[64] = "";
        for (size_t i = 0; i < KERNEL_COUNT; i++) {
            if (!KERNELS[i].supported()) continue;
            if (buffer[0]) strcat(buffer, ",");
            strcat(buffer, KERNELS[i].name);
        }
        memcpy(names, buffer, sizeof names);
        atomic_store(&done, 1);
    }
    return names;
}
