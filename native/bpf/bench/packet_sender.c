/* packet_sender: the traffic source of `python -m bench filter`.
 *
 * Sends 60-byte IPv4/UDP frames out of one interface through an AF_PACKET socket with
 * PACKET_QDISC_BYPASS and sendmmsg (64 frames per call), for a fixed time or a fixed count,
 * pinned to one CPU. Frames cycle through `flows` source ports so that a stateful filter sees
 * that many connections. No IP stack on the sending side: the bench measures the receiving
 * path (a router namespace forwarding, filtering, and handing over to the receiver).
 *
 * usage: packet_sender IFNAME SRC_MAC DST_MAC SRC_IP DST_IP DPORT FLOWS CPU (-t SECONDS | -n COUNT)
 * prints: "sent PACKETS seconds ELAPSED oncpu ON_CPU_SECONDS errors FAILED_CALLS"
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { FRAME = 60, BATCH = 64, SPORT_BASE = 10000 };

static int parse_mac(const char *text, uint8_t mac[6]) {
    unsigned v[6];
    if (sscanf(text, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) {
        return -1;
    }
    for (int i = 0; i < 6; i++) {
        mac[i] = (uint8_t)v[i];
    }
    return 0;
}

static uint16_t ip_checksum(const uint8_t *header, size_t len) {
    uint32_t sum = 0;
    for (size_t i = 0; i < len; i += 2) {
        sum += (uint32_t)(header[i] << 8 | header[i + 1]);
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

static void build_frame(uint8_t *f, const uint8_t src_mac[6], const uint8_t dst_mac[6],
                        struct in_addr src, struct in_addr dst, uint16_t sport, uint16_t dport) {
    memset(f, 0, FRAME);
    memcpy(f, dst_mac, 6);
    memcpy(f + 6, src_mac, 6);
    f[12] = 0x08; /* IPv4 */
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    uint16_t total = FRAME - 14;
    ip[2] = (uint8_t)(total >> 8);
    ip[3] = (uint8_t)total;
    ip[8] = 64;  /* TTL */
    ip[9] = 17;  /* UDP */
    memcpy(ip + 12, &src, 4);
    memcpy(ip + 16, &dst, 4);
    uint16_t check = ip_checksum(ip, 20);
    ip[10] = (uint8_t)(check >> 8);
    ip[11] = (uint8_t)check;
    uint8_t *udp = ip + 20;
    udp[0] = (uint8_t)(sport >> 8);
    udp[1] = (uint8_t)sport;
    udp[2] = (uint8_t)(dport >> 8);
    udp[3] = (uint8_t)dport;
    uint16_t udp_len = total - 20;
    udp[4] = (uint8_t)(udp_len >> 8);
    udp[5] = (uint8_t)udp_len; /* checksum 0: none, legal for UDP over IPv4 */
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Nanoseconds this thread has been on a CPU, including the softirq work (forwarding, filtering,
 * delivery) that runs in its context: rates per on-CPU second do not suffer from preemption. */
static long long on_cpu_ns(void) {
    long long ns = -1;
    FILE *f = fopen("/proc/thread-self/schedstat", "r");
    if (f != NULL) {
        if (fscanf(f, "%lld", &ns) != 1) {
            ns = -1;
        }
        fclose(f);
    }
    return ns;
}

static int fail(const char *what) {
    fprintf(stderr, "packet_sender: %s: %s\n", what, strerror(errno));
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 11 || (strcmp(argv[9], "-t") != 0 && strcmp(argv[9], "-n") != 0)) {
        fprintf(stderr, "usage: %s IFNAME SRC_MAC DST_MAC SRC_IP DST_IP DPORT FLOWS CPU "
                        "(-t SECONDS | -n COUNT)\n", argv[0]);
        return 2;
    }
    uint8_t src_mac[6], dst_mac[6];
    struct in_addr src, dst;
    long dport = strtol(argv[6], NULL, 10);
    long flows = strtol(argv[7], NULL, 10);
    int cpu = atoi(argv[8]);
    int by_time = strcmp(argv[9], "-t") == 0;
    double seconds = by_time ? strtod(argv[10], NULL) : 0;
    long long count = by_time ? 0 : strtoll(argv[10], NULL, 10);
    if (parse_mac(argv[2], src_mac) || parse_mac(argv[3], dst_mac) ||
        inet_pton(AF_INET, argv[4], &src) != 1 || inet_pton(AF_INET, argv[5], &dst) != 1 ||
        dport < 1 || dport > 65535 || flows < 1 || flows > 65535 - SPORT_BASE ||
        (by_time ? seconds <= 0 : count <= 0)) {
        fprintf(stderr, "packet_sender: bad argument\n");
        return 2;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) {
        return fail("sched_setaffinity");
    }
    int fd = socket(AF_PACKET, SOCK_RAW, 0); /* protocol 0: transmit only, nothing queued to us */
    if (fd < 0) {
        return fail("socket(AF_PACKET)");
    }
    int one = 1;
    if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) != 0) {
        return fail("PACKET_QDISC_BYPASS");
    }
    struct sockaddr_ll addr = {
        .sll_family = AF_PACKET,
        .sll_protocol = htons(ETH_P_IP),
        .sll_ifindex = (int)if_nametoindex(argv[1]),
    };
    if (addr.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        return fail(argv[1]);
    }
    uint8_t *frames = malloc((size_t)flows * FRAME);
    if (frames == NULL) {
        return fail("malloc");
    }
    for (long i = 0; i < flows; i++) {
        build_frame(frames + i * FRAME, src_mac, dst_mac, src, dst, (uint16_t)(SPORT_BASE + i),
                    (uint16_t)dport);
    }
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    memset(msgs, 0, sizeof(msgs));
    long next_flow = 0;
    long long sent = 0, errors = 0;
    long long cpu_start = on_cpu_ns();
    double start = now(), elapsed = 0;
    for (;;) {
        int batch = BATCH;
        if (!by_time && count - sent < batch) {
            batch = (int)(count - sent);
        }
        for (int i = 0; i < batch; i++) {
            iov[i].iov_base = frames + next_flow * FRAME;
            iov[i].iov_len = FRAME;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            next_flow = next_flow + 1 == flows ? 0 : next_flow + 1;
        }
        int rc = sendmmsg(fd, msgs, (unsigned)batch, 0);
        if (rc > 0) {
            sent += rc;
        } else if (errno == ENOBUFS || errno == EAGAIN) {
            errors++; /* the device queue is full: try again */
        } else {
            return fail("sendmmsg");
        }
        elapsed = now() - start;
        if (by_time ? elapsed >= seconds : sent >= count) {
            break;
        }
    }
    long long cpu_end = on_cpu_ns();
    if (cpu_start < 0 || cpu_end < 0) {
        return fail("/proc/thread-self/schedstat");
    }
    printf("sent %lld seconds %.6f oncpu %.6f errors %lld\n", sent, elapsed,
           (double)(cpu_end - cpu_start) * 1e-9, errors);
    close(fd);
    free(frames);
    return 0;
}
