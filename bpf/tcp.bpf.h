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

/*
 * Bytes of a TCP connection by the kernel's own per-socket counters, not by summing syscalls: a socket
 * reaches TCP_CLOSE (TIME_WAIT after a half-close, a reset, close() with unread data) while received
 * data may still be queued, and the reads that follow come after the close record. The counters are
 * final at that moment, so the close record is exact however the connection ended.
 *
 * Which counter equals payload bytes (checked on this kernel with programs counting their own bytes):
 *  - bytes_received advances with rcv_nxt, which counts a received FIN as one byte (the SYN is not
 *    counted: the client sets rcv_nxt directly, the server starts after it). tcp_fin() alone sets
 *    SOCK_DONE, so that flag says the extra byte is there.
 *  - bytes_acked advances with snd_una: the client's SYN, once acknowledged, counts one (taken into
 *    acked_base at ESTABLISHED), and so does our FIN once acknowledged. Our FIN was sent only after
 *    leaving ESTABLISHED/CLOSE_WAIT for FIN_WAIT1, FIN_WAIT2, CLOSING or LAST_ACK (tcp_send_fin adds it
 *    to write_seq), and it is acknowledged when snd_una reached write_seq. bytes_acked is preferred
 *    over bytes_sent, which also counts retransmitted segments.
 * `state` is the state the socket was in before the event (a transition's old state): at
 * ESTABLISHED -> FIN_WAIT1 the FIN is not queued yet.
 */
static __always_inline int tcp_fin_sent_state(int state)
{
	return state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 || state == TCP_CLOSING || state == TCP_LAST_ACK;
}

#define CT_TCPHDR_FIN 0x01

/*
 * Whether the peer's FIN is counted in rcv_nxt (so in bytes_received). tcp_fin() sets SOCK_DONE, but only
 * after the FIN's segment advanced rcv_nxt and was queued: a sample taken in between (a send/recv on
 * another CPU while softirq takes the FIN) would keep one byte too many, and samples never go down. In
 * that window the FIN is on the tail of the receive queue (its flags are merged into the tail when it
 * is coalesced), and no reader can have taken it: the reader needs the socket lock tcp_fin() runs under.
 */
static __always_inline int tcp_fin_received(const struct sock *sk)
{
	unsigned long flags = BPF_CORE_READ(sk, __sk_common.skc_flags);
	const struct sk_buff *tail;
	const struct tcp_skb_cb *cb;

	if (flags & (1UL << SOCK_DONE))
		return 1;
	tail = BPF_CORE_READ(sk, sk_receive_queue.prev);
	if (!tail || (const void *)tail == (const void *)&sk->sk_receive_queue)
		return 0;
	cb = (const struct tcp_skb_cb *)((const char *)tail + bpf_core_field_offset(struct sk_buff, cb));
	return (BPF_CORE_READ(cb, tcp_flags) & CT_TCPHDR_FIN) != 0;
}

static __always_inline __u64 tcp_payload_received(const struct sock *sk)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u64 n = BPF_CORE_READ(tp, bytes_received);

	if (n > 0 && tcp_fin_received(sk))
		n--;
	return n;
}

static __always_inline __u64 tcp_payload_acked(const struct sock *sk, int state)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u64 n = BPF_CORE_READ(tp, bytes_acked);

	if (tcp_fin_sent_state(state) && BPF_CORE_READ(tp, snd_una) == BPF_CORE_READ(tp, write_seq) && n > 0)
		n--;
	return n;
}

/* Where counting starts: what the counters held when tracking began (or at ESTABLISHED, past the SYN). */
static __always_inline void tcp_wire_base(struct ct_conn *c, const struct sock *sk, int state)
{
	c->recv_base = tcp_payload_received(sk);
	c->acked_base = tcp_payload_acked(sk, state);
	c->wire_recv = 0;
	c->wire_sent = 0;
}

/* Refreshes wire_* from the counters while the connection lives. Never lowers them: a live record's
 * cumulative counters only grow (tcp_wire_final sets the exact values at the close). */
static __always_inline void tcp_wire_sample(struct ct_conn *c, const struct sock *sk, int state)
{
	__u64 recv = tcp_payload_received(sk);
	__u64 acked = tcp_payload_acked(sk, state);

	recv = recv > c->recv_base ? recv - c->recv_base : 0;
	acked = acked > c->acked_base ? acked - c->acked_base : 0;
	if (recv > c->wire_recv)
		c->wire_recv = recv;
	if (acked > c->wire_sent)
		c->wire_sent = acked;
}

/*
 * The close: the kernel's counters are final and settled (the FIN accounting of tcp_fin() and of our own
 * FIN is done), so they are the connection's bytes, exactly, even where an earlier sample was higher
 * (data handed to the socket and never acknowledged: a reset with data in flight).
 */
static __always_inline void tcp_wire_final(struct ct_conn *c, const struct sock *sk, int state)
{
	__u64 recv = tcp_payload_received(sk);
	__u64 acked = tcp_payload_acked(sk, state);

	c->wire_recv = recv > c->recv_base ? recv - c->recv_base : 0;
	c->wire_sent = acked > c->acked_base ? acked - c->acked_base : 0;
	c->flags |= CT_F_WIRE_FINAL;
}

static __always_inline void tcp_emit_close(const struct sock *sk, struct ct_conn *c, __u64 key, __u64 now, int oldstate)
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
		tcp_wire_final(c, sk, oldstate);
		__builtin_memcpy(&e->conn, c, sizeof(*c));
	} else {
		/* Opened before we started: report what the socket itself still tells (no bytes: what it
		 * moved before may have been reported by an earlier helper). */
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
		tcp_emit_close(sk, c, key, now, oldstate);
		return 0;
	}
	if (c) {
		fill_sock(c, sk);
		c->state = newstate;
		c->last_ns = now;
		c->rtt_us = tcp_rtt_us(sk);
		if (newstate == TCP_ESTABLISHED && (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV))
			tcp_wire_base(c, sk, oldstate); /* past the SYN: bytes_acked counted ours */
		else
			tcp_wire_sample(c, sk, oldstate);
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
	tcp_wire_base(&n, sk, oldstate);
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
		/* The counters so far include what this send/recv moved: it is counted by the sums below. */
		tcp_wire_base(&n, sk, st);
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
	tcp_wire_sample(c, sk, BPF_CORE_READ(sk, __sk_common.skc_state));
	c->last_ns = now;
	c->rtt_us = tcp_rtt_us(sk);
}
