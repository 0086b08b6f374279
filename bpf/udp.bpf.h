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

static __always_inline int addr_known(const __u8 *a)
{
	__u64 w[2];

	__builtin_memcpy(w, a, 16);
	return w[0] != 0 || w[1] != 0;
}

/* Adds bytes to the flow `k`, creating it from the template (local side and process) if new. A flow whose
 * local address was just learnt takes over what was counted for the same peer while it was unknown (the
 * first datagrams a wildcard socket sent there, before any answer showed which address they used). */
static __always_inline void udp_upsert(struct ct_udp_key *k, struct ct_conn *t, __u64 sent, __u64 recv)
{
	__u64 now = bpf_ktime_get_boot_ns();
	struct ct_conn *c = bpf_map_lookup_elem(&udp_flows, k);

	if (!c) {
		struct ct_conn *unknown = NULL;
		struct ct_udp_key uk;

		__builtin_memcpy(t->saddr, k->saddr, 16);
		__builtin_memcpy(t->daddr, k->daddr, 16);
		t->dport = k->dport;
		t->family = k->family;
		t->bytes_sent = sent;
		t->bytes_recv = recv;
		t->open_ns = now;
		t->last_ns = now;
		t->dir = sent ? CT_DIR_CONNECT : CT_DIR_ACCEPT;
		t->flags = CT_F_ESTABLISHED;
		if (addr_known(k->saddr)) {
			__builtin_memcpy(&uk, k, sizeof(uk));
			__builtin_memset(uk.saddr, 0, 16);
			unknown = bpf_map_lookup_elem(&udp_flows, &uk);
		}
		if (unknown) {
			t->bytes_sent += unknown->bytes_sent;
			t->bytes_recv += unknown->bytes_recv;
			t->open_ns = unknown->open_ns;
			t->dir = unknown->dir;
			t->flags = unknown->flags;
		}
		long err = bpf_map_update_elem(&udp_flows, k, t, BPF_NOEXIST);

		if (err == 0) {
			if (unknown)
				bpf_map_delete_elem(&udp_flows, &uk);
			return;
		}
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

/* The socket's own local address: bound or connected; zero for a socket bound to 0.0.0.0 or [::]. */
static __always_inline void udp_local_from_sock(struct ct_udp_key *k, struct sock *sk)
{
	if (BPF_CORE_READ(sk, __sk_common.skc_family) == AF_INET6) {
		BPF_CORE_READ_INTO(&k->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
	} else {
		__u32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);

		__builtin_memcpy(k->saddr, &s, 4);
	}
}

static __always_inline void peer_of(struct ct_udp_peer *p, const struct ct_udp_key *k)
{
	p->cookie = k->cookie;
	__builtin_memcpy(p->daddr, k->daddr, 16);
	p->dport = k->dport;
	p->family = k->family;
}

/* An IPv4 address as an IPv6 socket sees it: ::ffff:a.b.c.d. */
static __always_inline void v4_mapped(__u8 *dst, const __u8 *v4)
{
	__u32 a;

	__builtin_memcpy(&a, v4, 4);
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &a, 4);
}

/* A wildcard socket's local address for a peer: what that peer's datagrams were last sent to. */
static __always_inline void udp_learnt_local(struct ct_udp_key *k)
{
	struct ct_udp_peer pk = {};
	struct ct_addr *a;

	if (addr_known(k->saddr))
		return;
	peer_of(&pk, k);
	a = bpf_map_lookup_elem(&udp_local, &pk);
	if (a)
		__builtin_memcpy(k->saddr, a->a, 16);
}

/* A read with no syscall record (it began before the helper started): attributed from the latest datagram
 * queued to the socket when its length fits. Returns 0 when it does not. */
static __always_inline int udp_recv_from_queue(struct sock *sk, struct ct_udp_key *k, struct ct_conn *t, __u64 bytes)
{
	struct ct_rx_dgram *r = bpf_map_lookup_elem(&udp_last_rx, &k->cookie);

	if (!r || bytes > r->len)
		return 0;
	__builtin_memcpy(k->saddr, r->local, 16);
	__builtin_memcpy(k->daddr, r->peer, 16);
	k->dport = r->pport;
	k->family = r->family;
	udp_template(t, sk, k->cookie);
	udp_upsert(k, t, 0, bytes);
	return 1;
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
		udp_local_from_sock(&k, sk);
		udp_learnt_local(&k);
		udp_template(&t, sk, k.cookie);
		udp_upsert(&k, &t, bytes, 0);
		return;
	}
	if (connected) {
		udp_peer_from_sock(&k, sk);
		udp_local_from_sock(&k, sk);
		udp_template(&t, sk, k.cookie);
		udp_upsert(&k, &t, 0, bytes);
		return;
	}
	struct ct_pending_rx *rx = bpf_map_lookup_elem(&pending_rx, &id);

	if (!rx) {
		if (!udp_recv_from_queue(sk, &k, &t, bytes))
			stat_inc(CT_STAT_UDP_NO_PEER);
		return;
	}
	if (!rx->ready)
		udp_template(&rx->tmpl, sk, k.cookie);
	rx->bytes = bytes;
	rx->ready = 1;
}

/* sock:sk_data_ready: a datagram was just queued to a UDP socket (softirq, after the whole IP input of
 * this host, NAT included). The queue's tail is that datagram: its destination is the local address it
 * really used, which a socket bound to 0.0.0.0 or [::] does not tell. */
static __always_inline void on_udp_queued(struct sock *sk)
{
	struct sk_buff *skb;
	unsigned char *head;
	__u16 nh, th;
	struct ct_rx_dgram r = {};
	struct ct_udp_peer pk = {};
	struct ct_addr local = {};
	__u8 ip[40];
	__u16 udp[4];
	__u64 cookie;
	int v6sock;

	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP || !inet_family(sk))
		return;
	if (BPF_CORE_READ(sk, sk_receive_queue.qlen) == 0)
		return;
	skb = BPF_CORE_READ(sk, sk_receive_queue.prev);
	if (!skb)
		return;
	head = BPF_CORE_READ(skb, head);
	nh = BPF_CORE_READ(skb, network_header);
	th = BPF_CORE_READ(skb, transport_header);
	if (!head || nh == (__u16)~0U || th == (__u16)~0U || th <= nh)
		return;
	if (bpf_probe_read_kernel(ip, 40, head + nh))
		return;
	v6sock = BPF_CORE_READ(sk, __sk_common.skc_family) == AF_INET6;
	if ((ip[0] >> 4) == 4) {
		if (v6sock) {
			v4_mapped(r.peer, ip + 12);
			v4_mapped(r.local, ip + 16);
			r.family = 6;
		} else {
			__builtin_memcpy(r.peer, ip + 12, 4);
			__builtin_memcpy(r.local, ip + 16, 4);
			r.family = 4;
		}
	} else if ((ip[0] >> 4) == 6) {
		__builtin_memcpy(r.peer, ip + 8, 16);
		__builtin_memcpy(r.local, ip + 24, 16);
		r.family = 6;
	} else {
		return;
	}
	if (bpf_probe_read_kernel(udp, sizeof(udp), head + th))
		return;
	r.pport = bpf_ntohs(udp[0]);
	r.len = bpf_ntohs(udp[2]) >= 8 ? bpf_ntohs(udp[2]) - 8 : 0;
	cookie = bpf_get_socket_cookie(sk);
	bpf_map_update_elem(&udp_last_rx, &cookie, &r, BPF_ANY);
	pk.cookie = cookie;
	__builtin_memcpy(pk.daddr, r.peer, 16);
	pk.dport = r.pport;
	pk.family = r.family;
	__builtin_memcpy(local.a, r.local, 16);
	bpf_map_update_elem(&udp_local, &pk, &local, BPF_ANY);
}

SEC("tp_btf/sk_data_ready")
int BPF_PROG(on_data_ready, struct sock *sk)
{
	on_udp_queued(sk);
	return 0;
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
