/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Part of conntrail.bpf.c (one compilation unit, split for reading): reading sockets, tasks and user sockaddrs. */

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
