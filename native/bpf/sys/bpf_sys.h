/* bpf_sys: a thin, complete-enough wrapper of the bpf(2) system call for the control plane.
 *
 * Used by Python through cffi (thecloud.dataplane.bpf.syscall). It exists so that hot control
 * operations are one C call each: filling 100k LPM entries, reading every per-CPU counter of an
 * array, timing a program with BPF_PROG_TEST_RUN. Everything else (compiling and attaching the
 * programs) is bcc's job.
 *
 * Every function returns a value >= 0 on success (an fd, a count or 0) and -errno on failure;
 * nothing is retried and nothing is written to stderr.
 */
#ifndef THECLOUD_BPF_SYS_H
#define THECLOUD_BPF_SYS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cffi-begin: the declarations below are read by cffi (native/bpf/sys/cffi_build.py) as they are. */
enum {
    TC_BPF_OBJ_NAME_LEN = 16, /* BPF_OBJ_NAME_LEN, with the terminating NUL */
};

/* Information about a loaded program or map (the fields both kinds share, plus map geometry). */
struct tc_bpf_obj_info {
    uint32_t id;
    uint32_t type;
    uint32_t key_size;    /* maps only */
    uint32_t value_size;  /* maps only */
    uint32_t max_entries; /* maps only */
    uint32_t flags;       /* maps only */
    char name[16];
};

/* BPF_MAP_CREATE; `name` may be NULL or empty, inner_map_fd < 0 means none. Returns the fd. */
int tc_bpf_map_create(uint32_t map_type, uint32_t key_size, uint32_t value_size,
                      uint32_t max_entries, uint32_t flags, int inner_map_fd, const char *name);

/* BPF_MAP_UPDATE_ELEM, BPF_MAP_LOOKUP_ELEM (-ENOENT when absent), BPF_MAP_DELETE_ELEM. */
int tc_bpf_map_update(int fd, const void *key, const void *value, uint64_t flags);
int tc_bpf_map_lookup(int fd, const void *key, void *value);
int tc_bpf_map_delete(int fd, const void *key);

/* Writes `count` packed keys and values with one BPF_MAP_UPDATE_BATCH; where the kernel has no
 * batch update for the map's type (it answers ENOTSUPP; older kernels for LPM tries), with a
 * loop of BPF_MAP_UPDATE_ELEM. *done receives how many elements were written, also on error. */
int tc_bpf_map_update_many(int fd, const void *keys, const void *values, uint32_t key_size,
                           uint32_t value_size, uint32_t count, uint64_t flags, uint32_t *done);

/* Reads a per-CPU array of `count` entries, each `fields` u64 per CPU, and writes the sums over
 * CPUs to out[count * fields] (batch lookup: one or a few system calls). */
int tc_bpf_sum_percpu_u64(int fd, uint32_t count, uint32_t fields, uint64_t *out);

/* Number of possible CPUs (the stride of per-CPU map values), from sysfs. */
int tc_bpf_possible_cpus(void);

/* BPF_PROG_LOAD of raw instructions (8 bytes each). With log_size > 0 the verifier log at
 * log_level is written to `log` (NUL-terminated). Returns the fd. */
int tc_bpf_prog_load(uint32_t prog_type, const void *insns, uint32_t insn_count,
                     const char *license, const char *name, uint32_t expected_attach_type,
                     uint32_t log_level, char *log, uint32_t log_size);

/* BPF_PROG_TEST_RUN: runs the program `repeat` times over `data`. ctx_in may be NULL;
 * data_out may be NULL (then *data_out_size is ignored), else *data_out_size is its capacity on
 * entry and the output length on return. *duration_ns is the kernel's average per run. */
int tc_bpf_prog_test_run(int prog_fd, const void *data, uint32_t data_size, uint32_t repeat,
                         const void *ctx_in, uint32_t ctx_size, void *data_out,
                         uint32_t *data_out_size, uint32_t *retval, uint32_t *duration_ns);

/* BPF_OBJ_GET_INFO_BY_FD for a program (is_map = 0) or a map (is_map = 1). */
int tc_bpf_obj_info(int fd, int is_map, struct tc_bpf_obj_info *info);

/* BPF_PROG_GET_NEXT_ID / BPF_MAP_GET_NEXT_ID: the id after `start` (0 for the first) in *next;
 * -ENOENT after the last. */
int tc_bpf_next_id(int is_map, uint32_t start, uint32_t *next);

/* BPF_PROG_GET_FD_BY_ID / BPF_MAP_GET_FD_BY_ID. Returns the fd (-ENOENT if the object is gone). */
int tc_bpf_fd_by_id(int is_map, uint32_t id);
/* cffi-end */

#ifdef __cplusplus
}
#endif

#endif
