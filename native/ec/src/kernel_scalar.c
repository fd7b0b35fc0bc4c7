/* The scalar reference kernel: every vector kernel must produce exactly these bytes. */
#include "internal.h"

void tc_ec_kernel_scalar(size_t len, int k, int rows, const uint8_t *tables,
                         const uint8_t *const *in, uint8_t *const *out) {
    tc_ec_tail(0, len, k, rows, tables, in, out);
}
