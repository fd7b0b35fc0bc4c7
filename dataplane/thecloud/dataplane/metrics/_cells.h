/* Cell operations shared with the Rust registry (native/crates/metrics, see region.rs; the cell
 * layout of each metric kind is documented in writer.rs).
 *
 * A cell is 8 bytes holding an IEEE-754 double's bits, or a u64 count. In a single-writer shard the owner adds
 * with a relaxed load and a relaxed store (no lock prefix); the atomic shard is written with
 * atomic stores and compare-and-swap so any thread of any process may write it. */
#ifndef THECLOUD_METRICS_CELLS_H
#define THECLOUD_METRICS_CELLS_H

#include <stdint.h>
#include <string.h>

static inline double tc_bits_to_double(uint64_t bits) { double v; memcpy(&v, &bits, 8); return v; }
static inline uint64_t tc_double_to_bits(double v) { uint64_t bits; memcpy(&bits, &v, 8); return bits; }

/* Adds to a cell of a shard the caller owns. */
static inline void tc_cell_add(uint64_t *cell, double delta) {
    double v = tc_bits_to_double(__atomic_load_n(cell, __ATOMIC_RELAXED)) + delta;
    __atomic_store_n(cell, tc_double_to_bits(v), __ATOMIC_RELAXED);
}

/* Adds a whole number to an integer cell of a shard the caller owns (histogram bucket counts). */
static inline void tc_cell_add_integer(uint64_t *cell, uint64_t delta) {
    __atomic_store_n(cell, __atomic_load_n(cell, __ATOMIC_RELAXED) + delta, __ATOMIC_RELAXED);
}

/* Adds to a cell of the atomic shard. */
static inline void tc_cell_atomic_add(uint64_t *cell, double delta) {
    uint64_t seen = __atomic_load_n(cell, __ATOMIC_RELAXED);
    uint64_t next;
    do {
        next = tc_double_to_bits(tc_bits_to_double(seen) + delta);
    } while (!__atomic_compare_exchange_n(cell, &seen, next, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

static inline void tc_cell_store(uint64_t *cell, double value) {
    __atomic_store_n(cell, tc_double_to_bits(value), __ATOMIC_RELAXED);
}

static inline double tc_cell_load(const uint64_t *cell) {
    return tc_bits_to_double(__atomic_load_n(cell, __ATOMIC_RELAXED));
}

/* Index of the first bound >= value, or n when none is (NaN): such a value lands in no bucket,
 * only in the sum, as in prometheus-client. */
static inline Py_ssize_t tc_bucket_index(const double *bounds, Py_ssize_t n, double value) {
    Py_ssize_t i = 0;
    while (i < n && !(value <= bounds[i])) i++;
    return i;
}

#endif
