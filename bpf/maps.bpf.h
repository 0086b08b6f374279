/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Part of conntrail.bpf.c (one compilation unit, split for reading): the maps and the counters. */

/* TCP connections, keyed by the struct sock pointer (unique while the socket lives; the entry is
 * removed at TCP_CLOSE, before the socket can be freed and its address reused). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct ct_conn);
} tcp_conns SEC(".maps");

/* UDP flows, keyed by socket cookie and peer: a cookie is never reused, so a freed socket cannot
 * leak its counters into a new one before the idle timeout removes the entry. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ct_udp_key);
	__type(value, struct ct_conn);
} udp_flows SEC(".maps");

/* Sockets closed lately (sk pointer -> cookie). A send/recv racing the close on another CPU still sees
 * the old state (the tracepoint fires before the state is stored) and would re-create the entry for
 * good; this tells it the socket is gone. A new socket at the same address has another cookie. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} recently_closed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RINGBUF_BYTES);
} events SEC(".maps");

struct ct_stats {
	__u64 n[CT_STAT_COUNT];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ct_stats);
} stats SEC(".maps");

/* Peer named by a sendto/sendmsg in flight, per thread (key: pid_tgid). */
struct ct_peer {
	__u8 addr[16];
	__u16 port;
	__u8 family;
	__u8 pad[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct ct_peer);
} pending_tx SEC(".maps");

/* A recvfrom/recvmsg in flight on an unconnected UDP socket: the peer address is written to user
 * memory only when the syscall returns, after sock_recv_length fired, so the datagram waits here. */
struct ct_pending_rx {
	__u64 uaddr;       /* user pointer to the sockaddr the kernel fills in; recvmmsg: to the mmsghdr vector */
	__u64 bytes;       /* set by sock_recv_length (recvmsg/recvfrom) */
	__u32 ready;       /* 1 once sock_recv_length filled tmpl */
	__u32 mmsg;        /* 1 for recvmmsg: bytes and peers are read from the vector at exit */
	struct ct_conn tmpl;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct ct_pending_rx);
} pending_rx SEC(".maps");

/* A sendmmsg in flight, per thread: sock_send_length fires once per datagram, in vector order. */
struct ct_pending_mtx {
	__u64 vec;         /* user pointer to the struct mmsghdr vector */
	__u32 idx;         /* the datagram the next sock_send_length is about */
	__u32 vlen;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct ct_pending_mtx);
} pending_mtx SEC(".maps");

/* A UDP socket's peer (socket cookie x peer address and port): the key of udp_local. */
struct ct_udp_peer {
	__u64 cookie;
	__u8 daddr[16];
	__u16 dport;       /* host order */
	__u8 family;
	__u8 pad[5];
};

struct ct_addr {
	__u8 a[16];
};

/* The local address a wildcard-bound UDP socket last received a peer's datagram on: its replies to that
 * peer leave from it (a request/response server must answer from the address it was asked on, or the
 * peer and any NAT on the way would not recognise the answer). Sends to a peer not heard from yet keep
 * an unknown (zero) local address. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ct_udp_peer);
	__type(value, struct ct_addr);
} udp_local SEC(".maps");

/* The latest datagram queued to a UDP socket (sock:sk_data_ready, socket cookie -> its addresses as they
 * arrived, after any NAT of this host): a read with no syscall record of its own (one that began before
 * the helper started, like a server already blocked in recvfrom) is attributed from it when it fits. */
struct ct_rx_dgram {
	__u8 local[16];    /* the datagram's destination: the local address it really used */
	__u8 peer[16];     /* its source */
	__u32 len;         /* UDP payload length */
	__u16 pport;       /* source port, host order */
	__u8 family;       /* as the socket sees it: 6 for an IPv6 socket (IPv4 peers v4-mapped) */
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct ct_rx_dgram);
} udp_last_rx SEC(".maps");

static __always_inline void stat_inc(int which)
{
	__u32 zero = 0;
	struct ct_stats *s = bpf_map_lookup_elem(&stats, &zero);

	if (s && which >= 0 && which < CT_STAT_COUNT)
		s->n[which]++;
}

/* Ask for a wakeup only when the ring is filling up: the loader drains it on a short timer anyway,
 * and a wakeup per close would cost a context switch per connection in a storm. */
static __always_inline __u64 ringbuf_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > RINGBUF_BYTES / 4 ? BPF_RB_FORCE_WAKEUP
										  : BPF_RB_NO_WAKEUP;
}
