/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Part of conntrail.bpf.c (one compilation unit, split for reading): TCP connections (lifecycle, bytes, RTT, retransmits). */

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
