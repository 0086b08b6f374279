/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Part of conntrail.bpf.c (one compilation unit, split for reading): UDP flows (socket x peer). */

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
