// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * conntrail's kernel side: tracks every TCP connection and UDP flow (socket x peer) of the host in BPF
 * hash maps, and sends a final record for each closed TCP connection through a ring buffer. UDP flows
 * have no close in the kernel; the loader times them out. Only tracepoints are used (kprobes and
 * fentry are unavailable on the kernels we target): tp_btf programs for the socket events, because they
 * get typed pointers and need no tracefs, and classic syscall tracepoints where a pid (accept) or a UDP
 * peer address (sendto/recvfrom on unconnected sockets) is only visible at the syscall boundary.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "conntrail.h"

#define AF_INET 2
#define AF_INET6 10
#define MSG_PEEK 2
#define RINGBUF_BYTES (4 << 20)

char LICENSE[] SEC("license") = "Dual BSD/GPL";

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

static __always_inline void fill_sock(struct ct_conn *c, const struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	c->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	/* inet_sport, not skc_num: TCP_CLOSE releases the port (skc_num = 0) before the tracepoint. */
	c->sport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	if (!c->sport)
		c->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	c->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET6) {
		c->family = 6;
		BPF_CORE_READ_INTO(&c->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&c->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		__u32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		c->family = 4;
		__builtin_memcpy(c->saddr, &s, 4);
		__builtin_memcpy(c->daddr, &d, 4);
	}
}

/* The current process: tgid, and the thread group leader's start time and name, because /proc/PID
 * reports the leader's (so the key matches the /proc scan's). */
static __always_inline void fill_task(struct ct_conn *c)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);

	c->pid = bpf_get_current_pid_tgid() >> 32;
	c->start_ns = BPF_CORE_READ(leader, start_boottime);
	BPF_CORE_READ_STR_INTO(&c->comm, leader, comm);
}

static __always_inline __u64 sock_inode(const struct sock *sk)
{
	return BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
}

static __always_inline __u32 tcp_rtt_us(const struct sock *sk)
{
	return BPF_CORE_READ((struct tcp_sock *)sk, srtt_us) >> 3;
}

static __always_inline int inet_family(const struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	return family == AF_INET || family == AF_INET6;
}

/* ---- TCP ---------------------------------------------------------------------------------- */

/* The entry of this socket, or NULL; an entry left by an earlier socket at the same address (its close
 * was missed) has another cookie and is dropped. */
static __always_inline struct ct_conn *tcp_lookup(__u64 *key, __u64 cookie)
{
	struct ct_conn *c = bpf_map_lookup_elem(&tcp_conns, key);

	if (c && c->cookie != cookie) {
		bpf_map_delete_elem(&tcp_conns, key);
		c = NULL;
	}
	/* Keeps clang from merging the NULL test with the cookie test, which the verifier cannot follow. */
	barrier_var(c);
	return c;
}

static __always_inline void tcp_emit_close(const struct sock *sk, struct ct_conn *c, __u64 key, __u64 now)
{
	__u64 cookie = bpf_get_socket_cookie((void *)sk);
	struct ct_event *e;

	bpf_map_update_elem(&recently_closed, &key, &cookie, BPF_ANY);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		stat_inc(CT_STAT_RINGBUF_FULL);
		if (c)
			bpf_map_delete_elem(&tcp_conns, &key);
		return;
	}
	if (c) {
		__builtin_memcpy(&e->conn, c, sizeof(*c));
	} else {
		/* Opened before we started: report what the socket itself still tells. */
		__builtin_memset(&e->conn, 0, sizeof(e->conn));
		e->conn.cookie = cookie;
		e->conn.proto = IPPROTO_TCP;
		e->conn.flags = CT_F_PREEXISTING;
	}
	fill_sock(&e->conn, sk);
	e->conn.state = TCP_CLOSE;
	e->conn.last_ns = now;
	e->conn.rtt_us = tcp_rtt_us(sk);
	e->close_ns = now;
	/* Delete before submitting, so a concurrent dump never reports a connection live after its
	 * close record was consumed. */
	if (c)
		bpf_map_delete_elem(&tcp_conns, &key);
	bpf_ringbuf_submit(e, ringbuf_flags());
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP || !inet_family(sk))
		return 0;
	/* Listening sockets are not connections. */
	if (oldstate == TCP_LISTEN || newstate == TCP_LISTEN)
		return 0;

	__u64 key = (__u64)sk;
	__u64 now = bpf_ktime_get_boot_ns();
	__u64 cookie = bpf_get_socket_cookie((void *)sk);
	struct ct_conn *c = tcp_lookup(&key, cookie);

	if (newstate == TCP_CLOSE) {
		if (oldstate == TCP_CLOSE)
			return 0; /* closed already: reported then */
		tcp_emit_close(sk, c, key, now);
		return 0;
	}
	if (c) {
		fill_sock(c, sk);
		c->state = newstate;
		c->last_ns = now;
		c->rtt_us = tcp_rtt_us(sk);
		if (newstate == TCP_ESTABLISHED)
			c->flags |= CT_F_ESTABLISHED;
		return 0;
	}

	struct ct_conn n = {};

	n.cookie = cookie;
	n.proto = IPPROTO_TCP;
	n.state = newstate;
	n.last_ns = now;
	if (newstate == TCP_SYN_SENT) {
		/* connect(): runs in the connecting process (the local port is not chosen yet; the
		 * addresses are refreshed at every later transition). */
		n.dir = CT_DIR_CONNECT;
		n.open_ns = now;
		fill_task(&n);
		n.inode = sock_inode(sk);
	} else if (oldstate == TCP_SYN_RECV && newstate == TCP_ESTABLISHED) {
		/* Passive open: runs in softirq, in whatever process was interrupted, so no pid here;
		 * accept() or the first send/recv supplies it. */
		n.dir = CT_DIR_ACCEPT;
		n.open_ns = now;
	} else {
		n.flags = CT_F_PREEXISTING;
	}
	if (newstate == TCP_ESTABLISHED)
		n.flags |= CT_F_ESTABLISHED;
	fill_sock(&n, sk);
	if (bpf_map_update_elem(&tcp_conns, &key, &n, BPF_ANY) == -7 /* E2BIG: full */)
		stat_inc(CT_STAT_TCP_MAP_FULL);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(on_retransmit, const struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct ct_conn *c = bpf_map_lookup_elem(&tcp_conns, &key);

	if (c)
		__sync_fetch_and_add(&c->retrans, 1);
	return 0;
}

static __always_inline void tcp_msg(struct sock *sk, __u64 bytes, int is_send)
{
	__u64 key = (__u64)sk;
	__u64 now = bpf_ktime_get_boot_ns();
	__u64 cookie = bpf_get_socket_cookie(sk);
	struct ct_conn *c = tcp_lookup(&key, cookie);

	if (!c) {
		int st = BPF_CORE_READ(sk, __sk_common.skc_state);
		__u64 *closed = bpf_map_lookup_elem(&recently_closed, &key);
		struct ct_conn n = {};

		/* A connection older than the helper. Not after CLOSE (reading leftover data after a
		 * reset), nor while its close is being reported: no close would remove that entry. */
		if (st == TCP_CLOSE || st == TCP_LISTEN || st == TCP_SYN_SENT || st == TCP_NEW_SYN_RECV)
			return;
		if (closed && *closed == cookie)
			return;
		n.cookie = cookie;
		n.proto = IPPROTO_TCP;
		n.state = st;
		n.flags = CT_F_PREEXISTING | CT_F_ESTABLISHED;
		fill_sock(&n, sk);
		if (bpf_map_update_elem(&tcp_conns, &key, &n, BPF_ANY) == -7)
			stat_inc(CT_STAT_TCP_MAP_FULL);
		c = bpf_map_lookup_elem(&tcp_conns, &key);
		if (!c)
			return;
	}
	/* send/recv run in the owning process: the place to learn the pid of an accepted connection
	 * whose accept() we did not see. */
	if (!c->pid)
		fill_task(c);
	if (!c->inode)
		c->inode = sock_inode(sk);
	if (is_send)
		__sync_fetch_and_add(&c->bytes_sent, bytes);
	else
		__sync_fetch_and_add(&c->bytes_recv, bytes);
	c->last_ns = now;
	c->rtt_us = tcp_rtt_us(sk);
}

/* ---- UDP ---------------------------------------------------------------------------------- */

static __always_inline void udp_template(struct ct_conn *t, struct sock *sk, __u64 cookie)
{
	t->cookie = cookie;
	t->proto = IPPROTO_UDP;
	t->state = TCP_ESTABLISHED;
	fill_sock(t, sk);
	fill_task(t);
	t->inode = sock_inode(sk);
}

/* Adds bytes to the flow `k`, creating it from the template (local side and process) if new. */
static __always_inline void udp_upsert(struct ct_udp_key *k, struct ct_conn *t, __u64 sent, __u64 recv)
{
	__u64 now = bpf_ktime_get_boot_ns();
	struct ct_conn *c = bpf_map_lookup_elem(&udp_flows, k);

	if (!c) {
		__builtin_memcpy(t->daddr, k->daddr, 16);
		t->dport = k->dport;
		t->family = k->family;
		t->bytes_sent = sent;
		t->bytes_recv = recv;
		t->open_ns = now;
		t->last_ns = now;
		t->dir = sent ? CT_DIR_CONNECT : CT_DIR_ACCEPT;
		t->flags = CT_F_ESTABLISHED;
		long err = bpf_map_update_elem(&udp_flows, k, t, BPF_NOEXIST);

		if (err == 0)
			return;
		c = bpf_map_lookup_elem(&udp_flows, k); /* lost a race with another CPU, or full */
		if (!c) {
			stat_inc(CT_STAT_UDP_MAP_FULL);
			return;
		}
	}
	if (sent)
		__sync_fetch_and_add(&c->bytes_sent, sent);
	if (recv)
		__sync_fetch_and_add(&c->bytes_recv, recv);
	c->last_ns = now;
	if (!c->pid) {
		c->pid = t->pid;
		c->start_ns = t->start_ns;
		__builtin_memcpy(c->comm, t->comm, CT_COMM_LEN);
	}
}

static __always_inline void udp_peer_from_sock(struct ct_udp_key *k, struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	k->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET6) {
		k->family = 6;
		BPF_CORE_READ_INTO(&k->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		__u32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		k->family = 4;
		__builtin_memcpy(k->daddr, &d, 4);
	}
}

static __always_inline int read_user_peer(struct ct_peer *p, const void *uaddr, __u64 len);

/* The peer of the current datagram of a sendmmsg, if one is in flight; advances to the next datagram. */
static __always_inline int mmsg_tx_peer(__u64 id, struct ct_peer *p)
{
	struct ct_pending_mtx *m = bpf_map_lookup_elem(&pending_mtx, &id);
	struct user_msghdr h = {};
	__u32 idx;

	if (!m || m->idx >= m->vlen)
		return 0;
	idx = m->idx++;
	if (bpf_probe_read_user(&h, sizeof(h), (const void *)(m->vec + (__u64)idx * sizeof(struct mmsghdr))))
		return 0;
	return read_user_peer(p, h.msg_name, h.msg_namelen);
}

static __always_inline void udp_msg(struct sock *sk, __u64 bytes, int is_send)
{
	__u64 id = bpf_get_current_pid_tgid();
	int connected = BPF_CORE_READ(sk, __sk_common.skc_dport) != 0;
	struct ct_udp_key k = {};
	struct ct_conn t = {};

	k.cookie = bpf_get_socket_cookie(sk);
	if (is_send) {
		struct ct_peer *p = bpf_map_lookup_elem(&pending_tx, &id);
		struct ct_peer mp = {};

		/* sendto() naming a peer wins even on a connected socket, as it does in the kernel. */
		if (p) {
			__builtin_memcpy(k.daddr, p->addr, 16);
			k.dport = p->port;
			k.family = p->family;
		} else if (mmsg_tx_peer(id, &mp)) {
			__builtin_memcpy(k.daddr, mp.addr, 16);
			k.dport = mp.port;
			k.family = mp.family;
		} else if (connected) {
			udp_peer_from_sock(&k, sk);
		} else {
			stat_inc(CT_STAT_UDP_NO_PEER);
			return;
		}
		udp_template(&t, sk, k.cookie);
		udp_upsert(&k, &t, bytes, 0);
		return;
	}
	if (connected) {
		udp_peer_from_sock(&k, sk);
		udp_template(&t, sk, k.cookie);
		udp_upsert(&k, &t, 0, bytes);
		return;
	}
	struct ct_pending_rx *rx = bpf_map_lookup_elem(&pending_rx, &id);

	if (!rx) {
		stat_inc(CT_STAT_UDP_NO_PEER);
		return;
	}
	if (!rx->ready)
		udp_template(&rx->tmpl, sk, k.cookie);
	rx->bytes = bytes;
	rx->ready = 1;
}

static __always_inline void on_msg(struct sock *sk, int ret, int flags, int is_send)
{
	if (ret == 0 && is_send) {
		/* An empty datagram of a sendmmsg still takes its place in the vector. */
		__u64 id = bpf_get_current_pid_tgid();
		struct ct_pending_mtx *m = bpf_map_lookup_elem(&pending_mtx, &id);

		if (m)
			m->idx++;
	}
	if (ret <= 0 || !sk || !inet_family(sk))
		return;
	if (!is_send && (flags & MSG_PEEK))
		return; /* peeked bytes are read again later */
	__u16 proto = BPF_CORE_READ(sk, sk_protocol);

	if (proto == IPPROTO_TCP)
		tcp_msg(sk, ret, is_send);
	else if (proto == IPPROTO_UDP)
		udp_msg(sk, ret, is_send);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(on_send_length, struct sock *sk, int ret, int flags)
{
	on_msg(sk, ret, flags, 1);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(on_recv_length, struct sock *sk, int ret, int flags)
{
	on_msg(sk, ret, flags, 0);
	return 0;
}

/* ---- syscalls (classic tracepoints; optional: the loader runs without them if tracefs is absent) */

/* Reads a user sockaddr_in / sockaddr_in6 into a peer; returns 0 when it is neither. */
static __always_inline int read_user_peer(struct ct_peer *p, const void *uaddr, __u64 len)
{
	struct sockaddr_in6 sa = {};

	if (!uaddr || len < sizeof(struct sockaddr_in))
		return 0;
	if (len >= sizeof(struct sockaddr_in6)) {
		if (bpf_probe_read_user(&sa, sizeof(struct sockaddr_in6), uaddr))
			return 0;
	} else if (bpf_probe_read_user(&sa, sizeof(struct sockaddr_in), uaddr)) {
		return 0;
	}
	if (sa.sin6_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;

		p->family = 4;
		p->port = bpf_ntohs(s4->sin_port);
		__builtin_memcpy(p->addr, &s4->sin_addr.s_addr, 4);
		return 1;
	}
	if (sa.sin6_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		p->family = 6;
		p->port = bpf_ntohs(sa.sin6_port);
		__builtin_memcpy(p->addr, sa.sin6_addr.in6_u.u6_addr8, 16);
		return 1;
	}
	return 0;
}

static __always_inline void remember_tx_peer(const void *uaddr, __u64 len)
{
	struct ct_peer p = {};
	__u64 id = bpf_get_current_pid_tgid();

	if (read_user_peer(&p, uaddr, len))
		bpf_map_update_elem(&pending_tx, &id, &p, BPF_ANY);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int on_enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	remember_tx_peer((const void *)ctx->args[4], ctx->args[5]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int on_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	struct user_msghdr m = {};

	if (bpf_probe_read_user(&m, sizeof(m), (const void *)ctx->args[1]))
		return 0;
	remember_tx_peer(m.msg_name, m.msg_namelen);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int on_exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&pending_tx, &id);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int on_exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&pending_tx, &id);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int on_enter_sendmmsg(struct trace_event_raw_sys_enter *ctx)
{
	struct ct_pending_mtx m = { .vec = ctx->args[1], .idx = 0, .vlen = (__u32)ctx->args[2] };
	__u64 id = bpf_get_current_pid_tgid();

	if (m.vec && m.vlen)
		bpf_map_update_elem(&pending_mtx, &id, &m, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int on_exit_sendmmsg(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&pending_mtx, &id);
	return 0;
}

static __always_inline void remember_rx(const void *uaddr)
{
	struct ct_pending_rx rx = {};
	__u64 id = bpf_get_current_pid_tgid();

	if (!uaddr)
		return;
	rx.uaddr = (__u64)uaddr;
	bpf_map_update_elem(&pending_rx, &id, &rx, BPF_ANY);
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int on_enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	remember_rx((const void *)ctx->args[4]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int on_enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	struct user_msghdr m = {};

	if (bpf_probe_read_user(&m, sizeof(m), (const void *)ctx->args[1]))
		return 0;
	remember_rx(m.msg_name);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvmmsg")
int on_enter_recvmmsg(struct trace_event_raw_sys_enter *ctx)
{
	struct ct_pending_rx rx = {};
	__u64 id = bpf_get_current_pid_tgid();

	if (!ctx->args[1])
		return 0;
	rx.uaddr = ctx->args[1];
	rx.mmsg = 1;
	bpf_map_update_elem(&pending_rx, &id, &rx, BPF_ANY);
	return 0;
}

#define MMSG_MAX 64

struct mmsg_rx_ctx {
	__u64 vec;
	__u32 n;
};

/* One received datagram of a recvmmsg: its length and sender are in the vector by now. */
static long mmsg_rx_one(__u32 i, void *data)
{
	struct mmsg_rx_ctx *c = data;
	__u64 id = bpf_get_current_pid_tgid();
	struct ct_pending_rx *rx;
	struct mmsghdr m = {};
	struct ct_peer p = {};
	struct ct_udp_key k = {};

	if (i >= c->n)
		return 1;
	rx = bpf_map_lookup_elem(&pending_rx, &id);
	if (!rx)
		return 1;
	if (bpf_probe_read_user(&m, sizeof(m), (const void *)(c->vec + (__u64)i * sizeof(struct mmsghdr))))
		return 1;
	if (!read_user_peer(&p, m.msg_hdr.msg_name, m.msg_hdr.msg_namelen)) {
		stat_inc(CT_STAT_UDP_NO_PEER);
		return 0;
	}
	k.cookie = rx->tmpl.cookie;
	__builtin_memcpy(k.daddr, p.addr, 16);
	k.dport = p.port;
	k.family = p.family;
	udp_upsert(&k, &rx->tmpl, 0, m.msg_len);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_recvmmsg")
int on_exit_recvmmsg(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ct_pending_rx *rx = bpf_map_lookup_elem(&pending_rx, &id);
	struct mmsg_rx_ctx c = {};

	if (!rx)
		return 0;
	if (rx->ready && rx->mmsg && ctx->ret > 0) {
		c.vec = rx->uaddr;
		c.n = ctx->ret > MMSG_MAX ? MMSG_MAX : (__u32)ctx->ret;
		if (ctx->ret > MMSG_MAX)
			stat_inc(CT_STAT_UDP_NO_PEER); /* datagrams past MMSG_MAX in one call are not attributed */
		bpf_loop(c.n, mmsg_rx_one, &c, 0);
	}
	bpf_map_delete_elem(&pending_rx, &id);
	return 0;
}

static __always_inline void finish_rx(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ct_pending_rx *rx = bpf_map_lookup_elem(&pending_rx, &id);
	struct ct_peer p = {};
	struct ct_udp_key k = {};

	if (!rx)
		return;
	if (rx->ready && !rx->mmsg && ret > 0) {
		if (read_user_peer(&p, (const void *)rx->uaddr, sizeof(struct sockaddr_in6))) {
			k.cookie = rx->tmpl.cookie;
			__builtin_memcpy(k.daddr, p.addr, 16);
			k.dport = p.port;
			k.family = p.family;
			udp_upsert(&k, &rx->tmpl, 0, rx->bytes);
		} else {
			stat_inc(CT_STAT_UDP_NO_PEER);
		}
	}
	bpf_map_delete_elem(&pending_rx, &id);
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int on_exit_recvfrom(struct trace_event_raw_sys_exit *ctx)
{
	finish_rx(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int on_exit_recvmsg(struct trace_event_raw_sys_exit *ctx)
{
	finish_rx(ctx->ret);
	return 0;
}

/* accept(): the accepting process is the server's owner; the established socket is already in
 * tcp_conns (SYN_RECV -> ESTABLISHED ran in softirq). Find it through the new fd. */
static __always_inline void on_accept(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt;
	struct file **fds;
	struct file *f = NULL;
	struct socket *so;
	struct sock *sk;
	struct ct_conn *c;
	__u64 key;

	if (fd < 0)
		return;
	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return;
	so = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ(so, sk);
	key = (__u64)sk;
	c = bpf_map_lookup_elem(&tcp_conns, &key);
	if (!c)
		return;
	fill_task(c);
	c->inode = BPF_CORE_READ(f, f_inode, i_ino);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int on_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	on_accept(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int on_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	on_accept(ctx->ret);
	return 0;
}
