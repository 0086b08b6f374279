/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Structures shared by the BPF programs (conntrail.bpf.c) and their loader (conntrail-bpf.c).
 * Both sides must agree byte for byte, so only fixed-width fields, ordered by size, no implicit padding.
 */
#ifndef CONNTRAIL_H
#define CONNTRAIL_H

#define CT_COMM_LEN 16

/* How the connection started, as far as this host can tell. */
#define CT_DIR_UNKNOWN 0
#define CT_DIR_CONNECT 1
#define CT_DIR_ACCEPT 2

/* ct_conn.flags */
#define CT_F_ESTABLISHED 1  /* reached ESTABLISHED at least once (a TCP connect that failed has it clear) */
#define CT_F_PREEXISTING 2  /* first seen mid-life (opened before the helper started): open time unknown */
#define CT_F_WIRE_FINAL 4   /* TCP close: wire_* are the kernel's final counters since tracking began (see tcp_wire_final) */

/* Counters in the per-cpu `stats` map; the loader sums them over CPUs. */
#define CT_STAT_RINGBUF_FULL 0    /* close events lost: ring buffer reservation failed */
#define CT_STAT_TCP_MAP_FULL 1    /* TCP connections not tracked: tcp_conns was full */
#define CT_STAT_UDP_MAP_FULL 2    /* UDP flows not tracked: udp_flows was full */
#define CT_STAT_UDP_NO_PEER 3     /* UDP datagrams on unconnected sockets whose peer was unknown */
#define CT_STAT_DNS_DROPPED 4     /* DNS answers not copied: over the per-second budget or ring buffer full (--dns) */
#define CT_STAT_COUNT 5

/* One TCP connection or one UDP flow (socket x peer). Counters are cumulative. 168 bytes. */
struct ct_conn {
	__u64 cookie;      /* socket cookie: unique per socket for the life of the boot */
	__u64 open_ns;     /* CLOCK_BOOTTIME ns; 0 when unknown (CT_F_PREEXISTING) */
	__u64 last_ns;     /* CLOCK_BOOTTIME ns of the latest event */
	__u64 bytes_sent;  /* payload bytes the local process handed to the socket */
	__u64 bytes_recv;  /* payload bytes the local process read from the socket */
	__u64 start_ns;    /* start_boottime of the process (thread group leader), ns since boot */
	__u64 inode;       /* socket inode (as in /proc/PID/fd socket:[N]); 0 when unknown */
	/* TCP only: payload bytes by the kernel's own per-socket counters (see tcp_wire_sample), counted from
	 * when tracking began (the *_base values, in the same units). The record reports the larger of
	 * these and the syscall sums above. */
	__u64 wire_sent;   /* payload bytes the peer acknowledged */
	__u64 wire_recv;   /* payload bytes received in order, read by the process or not */
	__u64 acked_base;
	__u64 recv_base;
	__u32 pid;         /* tgid of the process that owns the connection; 0 when unknown */
	__u32 netns;       /* network namespace inode */
	__u32 retrans;     /* TCP segments retransmitted */
	__u32 rtt_us;      /* TCP smoothed RTT (srtt_us >> 3) at the latest event */
	__u8 saddr[16];    /* local address: IPv4 in the first 4 bytes, else IPv6 (maybe v4-mapped) */
	__u8 daddr[16];    /* remote address, same layout */
	__u16 sport;       /* local port, host order */
	__u16 dport;       /* remote port, host order */
	__u8 family;       /* 4 or 6 */
	__u8 proto;        /* 6 (TCP) or 17 (UDP) */
	__u8 dir;          /* CT_DIR_* */
	__u8 state;        /* kernel TCP state number (TCP_ESTABLISHED = 1 ...) */
	__u8 flags;        /* CT_F_* */
	__u8 pad[7];
	char comm[CT_COMM_LEN]; /* process name (thread group leader's comm) */
};

/* A TCP close, sent through the ring buffer. */
struct ct_event {
	struct ct_conn conn;
	__u64 close_ns;    /* CLOCK_BOOTTIME ns */
};

/* UDP flows are tracked per socket, local address and peer: a socket bound to 0.0.0.0 or [::] serves
 * every address of its namespace, and each one its datagrams really used is a flow of its own. */
struct ct_udp_key {
	__u64 cookie;
	__u8 saddr[16];    /* local address the datagrams used; all zero while unknown (see udp.bpf.h) */
	__u8 daddr[16];
	__u16 dport;       /* host order */
	__u8 family;       /* 4 or 6 */
	__u8 pad[5];
};

/* DNS answers snooped at the syscall boundary (dns.bpf.h): at most CT_DNS_MAX bytes of each are copied. */
#define CT_DNS_MAX 512

struct ct_dns_event {
	__u64 ts_ns;       /* CLOCK_BOOTTIME ns when the process received it */
	__u64 start_ns;    /* start_boottime of the receiving process */
	__u32 pid;
	__u32 netns;
	__u32 len;         /* bytes the syscall returned (the answer may be longer than what was copied) */
	__u32 copied;      /* bytes in data */
	__u8 peer[16];     /* the DNS server's address, IPv4 in the first 4 bytes */
	__u16 peer_port;   /* host order: 53 */
	__u8 family;       /* 4 or 6 */
	__u8 pad[5];
	char comm[CT_COMM_LEN];
	__u8 data[CT_DNS_MAX];
};

#endif /* CONNTRAIL_H */
