/* bpf_sys: see bpf_sys.h. Uses the kernel UAPI's union bpf_attr directly (no libbpf), so the
 * only dependency is linux-libc-dev. */
#define _GNU_SOURCE
#include "bpf_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int sys_bpf(int cmd, union bpf_attr *attr) {
    long rc = syscall(__NR_bpf, cmd, attr, sizeof(*attr));
    return rc < 0 ? -errno : (int)rc;
}

static uint64_t ptr(const void *p) { return (uint64_t)(uintptr_t)p; }

static void copy_name(char *dst, const char *name) {
    if (name != NULL) {
        strncpy(dst, name, TC_BPF_OBJ_NAME_LEN - 1);
    }
}

int tc_bpf_map_create(uint32_t map_type, uint32_t key_size, uint32_t value_size,
                      uint32_t max_entries, uint32_t flags, int inner_map_fd, const char *name) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_type = map_type;
    attr.key_size = key_size;
    attr.value_size = value_size;
    attr.max_entries = max_entries;
    attr.map_flags = flags;
    attr.inner_map_fd = inner_map_fd < 0 ? 0 : (uint32_t)inner_map_fd;
    copy_name(attr.map_name, name);
    return sys_bpf(BPF_MAP_CREATE, &attr);
}

static int elem_op(int cmd, int fd, const void *key, const void *value, uint64_t flags) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_fd = (uint32_t)fd;
    attr.key = ptr(key);
    attr.value = ptr(value);
    attr.flags = flags;
    return sys_bpf(cmd, &attr);
}

int tc_bpf_map_update(int fd, const void *key, const void *value, uint64_t flags) {
    return elem_op(BPF_MAP_UPDATE_ELEM, fd, key, value, flags);
}

int tc_bpf_map_lookup(int fd, const void *key, void *value) {
    return elem_op(BPF_MAP_LOOKUP_ELEM, fd, key, value, 0);
}

int tc_bpf_map_delete(int fd, const void *key) {
    return elem_op(BPF_MAP_DELETE_ELEM, fd, key, NULL, 0);
}

/* The kernel's "operation not supported" for a map type without batch ops (ENOTSUPP, an errno
 * of the kernel's own that user-space headers do not define). */
#define KERNEL_ENOTSUPP 524

int tc_bpf_map_update_many(int fd, const void *keys, const void *values, uint32_t key_size,
                           uint32_t value_size, uint32_t count, uint64_t flags, uint32_t *done) {
    *done = 0;
    if (count == 0) {
        return 0;
    }
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.batch.map_fd = (uint32_t)fd;
    attr.batch.keys = ptr(keys);
    attr.batch.values = ptr(values);
    attr.batch.count = count;
    attr.batch.elem_flags = flags;
    int rc = sys_bpf(BPF_MAP_UPDATE_BATCH, &attr);
    if (rc != -KERNEL_ENOTSUPP && rc != -EOPNOTSUPP) {
        *done = attr.batch.count;
        return rc < 0 ? rc : 0;
    }
    /* This kernel has no batch update for this map type: one system call per element. */
    const uint8_t *k = keys;
    const uint8_t *v = values;
    for (uint32_t i = 0; i < count; i++) {
        rc = tc_bpf_map_update(fd, k + (size_t)i * key_size, v + (size_t)i * value_size, flags);
        if (rc < 0) {
            return rc;
        }
        *done = i + 1;
    }
    return 0;
}

int tc_bpf_possible_cpus(void) {
    char text[256];
    int fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    ssize_t n = read(fd, text, sizeof(text) - 1);
    int saved = errno;
    close(fd);
    if (n <= 0) {
        return n < 0 ? -saved : -EINVAL;
    }
    text[n] = '\0';
    /* A list of ranges such as "0-3,8-11" or "0". */
    int total = 0;
    char *cursor = text;
    while (*cursor != '\0' && *cursor != '\n') {
        char *end;
        long first = strtol(cursor, &end, 10);
        long last = first;
        if (end == cursor) {
            return -EINVAL;
        }
        if (*end == '-') {
            cursor = end + 1;
            last = strtol(cursor, &end, 10);
            if (end == cursor || last < first) {
                return -EINVAL;
            }
        }
        total += (int)(last - first + 1);
        cursor = *end == ',' ? end + 1 : end;
    }
    return total > 0 ? total : -EINVAL;
}

int tc_bpf_sum_percpu_u64(int fd, uint32_t count, uint32_t fields, uint64_t *out) {
    int ncpus = tc_bpf_possible_cpus();
    if (ncpus < 0) {
        return ncpus;
    }
    memset(out, 0, (size_t)count * fields * sizeof(uint64_t));
    if (count == 0 || fields == 0) {
        return 0;
    }
    size_t stride = (size_t)ncpus * fields; /* u64 per entry, every CPU */
    uint32_t *keys = malloc((size_t)count * sizeof(uint32_t));
    uint64_t *values = malloc((size_t)count * stride * sizeof(uint64_t));
    int rc = 0;
    if (keys == NULL || values == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    uint32_t batch_token = 0;
    int first = 1;
    uint32_t read_total = 0;
    while (read_total < count) {
        union bpf_attr attr;
        memset(&attr, 0, sizeof(attr));
        attr.batch.map_fd = (uint32_t)fd;
        attr.batch.in_batch = first ? 0 : ptr(&batch_token);
        attr.batch.out_batch = ptr(&batch_token);
        attr.batch.keys = ptr(keys);
        attr.batch.values = ptr(values);
        attr.batch.count = count - read_total;
        rc = sys_bpf(BPF_MAP_LOOKUP_BATCH, &attr);
        if (rc < 0 && rc != -ENOENT) {
            goto out;
        }
        for (uint32_t i = 0; i < attr.batch.count; i++) {
            if (keys[i] >= count) {
                continue; /* the caller asked for a prefix of a larger array */
            }
            const uint64_t *cpu_values = values + (size_t)i * stride;
            uint64_t *sums = out + (size_t)keys[i] * fields;
            for (int cpu = 0; cpu < ncpus; cpu++) {
                for (uint32_t f = 0; f < fields; f++) {
                    sums[f] += cpu_values[(size_t)cpu * fields + f];
                }
            }
        }
        read_total += attr.batch.count;
        first = 0;
        if (rc == -ENOENT || attr.batch.count == 0) {
            rc = 0; /* the end of the map */
            break;
        }
    }
    rc = 0;
out:
    free(keys);
    free(values);
    return rc;
}

int tc_bpf_prog_load(uint32_t prog_type, const void *insns, uint32_t insn_count,
                     const char *license, const char *name, uint32_t expected_attach_type,
                     uint32_t log_level, char *log, uint32_t log_size) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = prog_type;
    attr.insns = ptr(insns);
    attr.insn_cnt = insn_count;
    attr.license = ptr(license);
    attr.expected_attach_type = expected_attach_type;
    copy_name(attr.prog_name, name);
    if (log != NULL && log_size > 0) {
        log[0] = '\0';
        attr.log_level = log_level;
        attr.log_buf = ptr(log);
        attr.log_size = log_size;
    }
    return sys_bpf(BPF_PROG_LOAD, &attr);
}

int tc_bpf_prog_test_run(int prog_fd, const void *data, uint32_t data_size, uint32_t repeat,
                         const void *ctx_in, uint32_t ctx_size, void *data_out,
                         uint32_t *data_out_size, uint32_t *retval, uint32_t *duration_ns) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.test.prog_fd = (uint32_t)prog_fd;
    attr.test.data_in = ptr(data);
    attr.test.data_size_in = data_size;
    attr.test.repeat = repeat;
    if (ctx_in != NULL) {
        attr.test.ctx_in = ptr(ctx_in);
        attr.test.ctx_size_in = ctx_size;
    }
    if (data_out != NULL) {
        attr.test.data_out = ptr(data_out);
        attr.test.data_size_out = *data_out_size;
    }
    int rc = sys_bpf(BPF_PROG_TEST_RUN, &attr);
    if (data_out != NULL) {
        *data_out_size = attr.test.data_size_out;
    }
    *retval = attr.test.retval;
    *duration_ns = attr.test.duration;
    return rc;
}

int tc_bpf_obj_info(int fd, int is_map, struct tc_bpf_obj_info *info) {
    union bpf_attr attr;
    memset(info, 0, sizeof(*info));
    memset(&attr, 0, sizeof(attr));
    attr.info.bpf_fd = (uint32_t)fd;
    int rc;
    if (is_map) {
        struct bpf_map_info map;
        memset(&map, 0, sizeof(map));
        attr.info.info_len = sizeof(map);
        attr.info.info = ptr(&map);
        rc = sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr);
        if (rc == 0) {
            info->id = map.id;
            info->type = map.type;
            info->key_size = map.key_size;
            info->value_size = map.value_size;
            info->max_entries = map.max_entries;
            info->flags = map.map_flags;
            memcpy(info->name, map.name, sizeof(info->name));
        }
    } else {
        struct bpf_prog_info prog;
        memset(&prog, 0, sizeof(prog));
        attr.info.info_len = sizeof(prog);
        attr.info.info = ptr(&prog);
        rc = sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr);
        if (rc == 0) {
            info->id = prog.id;
            info->type = prog.type;
            memcpy(info->name, prog.name, sizeof(info->name));
        }
    }
    info->name[sizeof(info->name) - 1] = '\0';
    return rc;
}

int tc_bpf_next_id(int is_map, uint32_t start, uint32_t *next) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.start_id = start;
    int rc = sys_bpf(is_map ? BPF_MAP_GET_NEXT_ID : BPF_PROG_GET_NEXT_ID, &attr);
    *next = attr.next_id;
    return rc;
}

int tc_bpf_fd_by_id(int is_map, uint32_t id) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    if (is_map) {
        attr.map_id = id;
    } else {
        attr.prog_id = id;
    }
    return sys_bpf(is_map ? BPF_MAP_GET_FD_BY_ID : BPF_PROG_GET_FD_BY_ID, &attr);
}
