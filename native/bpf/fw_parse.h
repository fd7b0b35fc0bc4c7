/* Packet parsing shared by the tc and XDP programs: Ethernet (up to two VLAN tags), IPv4 (options
 * through ihl), IPv6 (up to FW_MAX_EXT extension headers), then TCP/UDP/ICMP/ICMPv6 ports.
 *
 * Every read is bounds-checked against data_end; a header that does not fit is FW_PARSE_DROP.
 * Non-first fragments (IPv4 offset != 0, IPv6 fragment header offset != 0) carry no L4 header:
 * they are marked `fragment` with ports 0 and are judged by address only (see firewall.bpf.c).
 * An ICMP error's quoted packet is parsed here too (q_*), so the firewall can relate it to a flow.
 */
#ifndef THECLOUD_FW_PARSE_H
#define THECLOUD_FW_PARSE_H

#define FW_PARSE_OK 0
#define FW_PARSE_DROP 1
#define FW_PARSE_NOT_IP 2

#define FW_MAX_EXT 4
#define FW_ETH_P_IP 0x0800
#define FW_ETH_P_IPV6 0x86DD
#define FW_ETH_P_8021Q 0x8100
#define FW_ETH_P_8021AD 0x88A8

struct fw_pkt {
    __u8 saddr[16];
    __u8 daddr[16];
    __u16 sport;
    __u16 dport;
    __u8 family;
    __u8 ipproto;  /* IP protocol number */
    __u8 pclass;   /* FW_PROTO_* */
    __u8 fragment; /* 1: non-first fragment, no L4 header */
    __u8 tcp_flags;
    __u8 icmp_type;
    __u8 icmp_echo; /* ICMP(v6) echo request or reply: sport/dport hold the identifier */
    __u8 quoted; /* an ICMP error quoting a TCP, UDP or echo packet: q_* hold its flow */
    __u8 q_proto;
    __u8 pad[3];
    __u16 q_sport; /* echo: the identifier, in both */
    __u16 q_dport;
    __u8 q_saddr[16];
    __u8 q_daddr[16];
};

#define FW_TCP_FIN 0x01
#define FW_TCP_SYN 0x02
#define FW_TCP_RST 0x04
#define FW_TCP_ACK 0x10

struct fw_vlan_hdr {
    __be16 tci;
    __be16 proto;
};

static __always_inline __u8 fw_proto_class(__u8 ipproto, __u8 family)
{
    if (ipproto == IPPROTO_TCP)
        return FW_PROTO_TCP;
    if (ipproto == IPPROTO_UDP)
        return FW_PROTO_UDP;
    if (ipproto == IPPROTO_ICMP && family == FW_FAMILY_V4)
        return FW_PROTO_ICMP;
    if (ipproto == IPPROTO_ICMPV6 && family == FW_FAMILY_V6)
        return FW_PROTO_ICMPV6;
    return FW_PROTO_OTHER;
}

static __always_inline int fw_is_error_type(__u8 family, __u8 type)
{
    if (family == FW_FAMILY_V4)
        return type == 3 || type == 11 || type == 12; /* unreachable, time exceeded, param */
    return type >= 1 && type <= 4; /* unreachable, too big, time exceeded, param */
}

/* The flow of the packet an ICMP error quotes (its IP header and first 8 bytes, at `off`): sets
 * `quoted` when it is a TCP, UDP or echo packet of the error's own family. */
static __always_inline void fw_parse_quoted(void *data, void *data_end, __u32 off,
                                            struct fw_pkt *p)
{
    if (off > 1024)
        return;
    __u8 *q = data + off;
    asm volatile("" : "+r"(q));
    __u32 l4;
    if (p->family == FW_FAMILY_V4) {
        if ((void *)(q + 20) > data_end || (q[0] >> 4) != 4 || (q[0] & 15) < 5)
            return;
        p->q_proto = q[9];
        __builtin_memcpy(p->q_saddr, q + 12, 4);
        __builtin_memcpy(p->q_daddr, q + 16, 4);
        l4 = (q[0] & 15) * 4;
    } else {
        if ((void *)(q + 40) > data_end || (q[0] >> 4) != 6)
            return;
        p->q_proto = q[6];
        __builtin_memcpy(p->q_saddr, q + 8, 16);
        __builtin_memcpy(p->q_daddr, q + 24, 16);
        l4 = 40;
    }
    __u8 *ports = q + l4;
    asm volatile("" : "+r"(ports));
    if ((void *)(ports + 8) > data_end)
        return;
    if (p->q_proto == IPPROTO_TCP || p->q_proto == IPPROTO_UDP) {
        p->q_sport = ((__u16)ports[0] << 8) | ports[1];
        p->q_dport = ((__u16)ports[2] << 8) | ports[3];
    } else if ((p->q_proto == IPPROTO_ICMP && (ports[0] == 8 || ports[0] == 0)) ||
               (p->q_proto == IPPROTO_ICMPV6 && (ports[0] == 128 || ports[0] == 129))) {
        p->q_sport = p->q_dport = ((__u16)ports[4] << 8) | ports[5];
    } else {
        return;
    }
    p->quoted = 1;
}

static __always_inline int fw_parse_l4(void *data, void *data_end, __u32 off, struct fw_pkt *p)
{
    if (p->fragment) {
        p->pclass = fw_proto_class(p->ipproto, p->family);
        return FW_PARSE_OK;
    }
    if (off > 1024)
        return FW_PARSE_DROP;
    void *l4 = data + off;
    /* One register for the bounds check and the reads (clang may otherwise rebuild the
     * pointer from data + off after the check, which the verifier refuses). */
    asm volatile("" : "+r"(l4));
    if (p->ipproto == IPPROTO_TCP) {
        struct tcphdr *th = l4;
        if ((void *)(th + 1) > data_end)
            return FW_PARSE_DROP;
        p->pclass = FW_PROTO_TCP;
        p->sport = bpf_ntohs(th->source);
        p->dport = bpf_ntohs(th->dest);
        p->tcp_flags = ((__u8 *)th)[13];
    } else if (p->ipproto == IPPROTO_UDP) {
        struct udphdr *uh = l4;
        if ((void *)(uh + 1) > data_end)
            return FW_PARSE_DROP;
        p->pclass = FW_PROTO_UDP;
        p->sport = bpf_ntohs(uh->source);
        p->dport = bpf_ntohs(uh->dest);
    } else if (p->ipproto == IPPROTO_ICMP || p->ipproto == IPPROTO_ICMPV6) {
        /* type, code, checksum, then the echo identifier */
        __u8 *ih = l4;
        if ((void *)(ih + 8) > data_end)
            return FW_PARSE_DROP;
        p->icmp_type = ih[0];
        if (p->ipproto == IPPROTO_ICMP) {
            if (p->family != FW_FAMILY_V4)
                return FW_PARSE_DROP;
            p->pclass = FW_PROTO_ICMP;
            p->icmp_echo = ih[0] == 8 || ih[0] == 0;
        } else {
            if (p->family != FW_FAMILY_V6)
                return FW_PARSE_DROP;
            p->pclass = FW_PROTO_ICMPV6;
            p->icmp_echo = ih[0] == 128 || ih[0] == 129;
        }
        if (p->icmp_echo) {
            __u16 id = ((__u16)ih[4] << 8) | ih[5];
            p->sport = id;
            p->dport = id;
        } else if (fw_is_error_type(p->family, ih[0])) {
            fw_parse_quoted(data, data_end, off + 8, p);
        }
    } else {
        p->pclass = FW_PROTO_OTHER;
    }
    return FW_PARSE_OK;
}

static __always_inline int fw_parse_ipv6(void *data, void *data_end, __u32 off, struct fw_pkt *p)
{
    struct ipv6hdr *ip6 = data + off;
    if ((void *)(ip6 + 1) > data_end)
        return FW_PARSE_DROP;
    if ((ip6->version) != 6)
        return FW_PARSE_DROP;
    p->family = FW_FAMILY_V6;
    __builtin_memcpy(p->saddr, &ip6->saddr, 16);
    __builtin_memcpy(p->daddr, &ip6->daddr, 16);
    __u8 next = ip6->nexthdr;
    off += sizeof(*ip6);
#pragma unroll
    for (int i = 0; i < FW_MAX_EXT; i++) {
        if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
            next != IPPROTO_FRAGMENT && next != IPPROTO_AH)
            break;
        if (off > 512)
            return FW_PARSE_DROP;
        __u8 *ext = data + off;
        if ((void *)(ext + 8) > data_end)
            return FW_PARSE_DROP;
        if (next == IPPROTO_FRAGMENT) {
            __u16 frag = ((__u16)ext[2] << 8) | ext[3];
            if (frag & 0xFFF8)
                p->fragment = 1;
            next = ext[0];
            off += 8;
        } else if (next == IPPROTO_AH) {
            next = ext[0];
            off += ((__u32)ext[1] + 2) * 4;
        } else {
            next = ext[0];
            off += ((__u32)ext[1] + 1) * 8;
        }
    }
    /* Still an extension header after FW_MAX_EXT: too deep to judge, drop. */
    if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS ||
        next == IPPROTO_FRAGMENT || next == IPPROTO_AH)
        return FW_PARSE_DROP;
    p->ipproto = next;
    return fw_parse_l4(data, data_end, off, p);
}

static __always_inline int fw_parse_ipv4(void *data, void *data_end, __u32 off, struct fw_pkt *p)
{
    struct iphdr *ip = data + off;
    if ((void *)(ip + 1) > data_end)
        return FW_PARSE_DROP;
    if (ip->version != 4 || ip->ihl < 5)
        return FW_PARSE_DROP;
    p->family = FW_FAMILY_V4;
    __builtin_memcpy(p->saddr, &ip->saddr, 4);
    __builtin_memcpy(p->daddr, &ip->daddr, 4);
    p->ipproto = ip->protocol;
    if (bpf_ntohs(ip->frag_off) & 0x1FFF)
        p->fragment = 1;
    return fw_parse_l4(data, data_end, off + ip->ihl * 4, p);
}

static __always_inline int fw_parse(void *data, void *data_end, struct fw_pkt *p)
{
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end)
        return FW_PARSE_DROP;
    __u16 proto = bpf_ntohs(eth->h_proto);
    __u32 off = sizeof(*eth);
#pragma unroll
    for (int i = 0; i < 2; i++) {
        if (proto != FW_ETH_P_8021Q && proto != FW_ETH_P_8021AD)
            break;
        struct fw_vlan_hdr *vh = data + off;
        if ((void *)(vh + 1) > data_end)
            return FW_PARSE_DROP;
        proto = bpf_ntohs(vh->proto);
        off += sizeof(*vh);
    }
    if (proto == FW_ETH_P_IP)
        return fw_parse_ipv4(data, data_end, off, p);
    if (proto == FW_ETH_P_IPV6)
        return fw_parse_ipv6(data, data_end, off, p);
    if (proto == FW_ETH_P_8021Q || proto == FW_ETH_P_8021AD)
        return FW_PARSE_DROP; /* a third tag: refuse rather than guess */
    return FW_PARSE_NOT_IP;
}

#endif
