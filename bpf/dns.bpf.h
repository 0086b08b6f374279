/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Part of conntrail.bpf.c (one compilation unit, split for reading): DNS answers processes receive (--dns).
 *
 * Snooped at the syscall boundary because that is where the receiving process is known and the kernel here
 * offers only tracepoints: recvfrom()/recvmsg() enter remembers the user buffer, sock:sock_recv_length (in the
 * syscall, with the socket) marks a UDP socket connected to port 53 (glibc and c-ares connect theirs), and
 * the syscall exit copies the first CT_DNS_MAX bytes of the answer when the socket was marked or the sender
 * address the kernel wrote back has port 53. A per-CPU budget per second bounds the copies; what exceeds it
 * is counted (CT_STAT_DNS_DROPPED). The programs load only with --dns. DNS over TCP, read() on a socket
 * and recvmmsg() are not seen. */

#define DNS_PORT 53

/* One recvfrom/recvmsg in flight, per thread. */
struct ct_dns_rx {
	__u64 buf;         /* user buffer (recvmsg: the first iovec's) */
	__u64 buf_len;
	__u64 uaddr;       /* user sockaddr the kernel fills with the sender; 0 if none */
	__u32 server;      /* 1: sock_recv_length saw a UDP socket connected to port 53 */
	__u8 family;
	__u8 pad[3];
	__u8 peer[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct ct_dns_rx);
} dns_rx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} dns_events SEC(".maps");

struct ct_dns_budget {
	__u64 window_ns;
	__u64 used;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ct_dns_budget);
} dns_budget SEC(".maps");

/* Answers each CPU may copy per second (set by the loader from --dns-max-per-sec). */
const volatile __u64 dns_per_cpu_per_sec = 2000;

static __always_inline void dns_remember(__u64 buf, __u64 len, __u64 uaddr)
{
	struct ct_dns_rx rx = { .buf = buf, .buf_len = len, .uaddr = uaddr };
	__u64 id = bpf_get_current_pid_tgid();

	if (!buf || !len)
		return;
	bpf_map_update_elem(&dns_rx, &id, &rx, BPF_ANY);
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int dns_enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	dns_remember(ctx->args[1], ctx->args[2], ctx->args[4]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int dns_enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	struct user_msghdr m = {};
	struct iovec iov = {};

	if (bpf_probe_read_user(&m, sizeof(m), (const void *)ctx->args[1]) || !m.msg_iov || !m.msg_iovlen)
		return 0;
	if (bpf_probe_read_user(&iov, sizeof(iov), m.msg_iov))
		return 0;
	dns_remember((__u64)iov.iov_base, iov.iov_len, (__u64)m.msg_name);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(dns_recv_length, struct sock *sk, int ret, int flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ct_dns_rx *rx;
	__u16 family;

	if (ret <= 0 || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP)
		return 0;
	if (bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport)) != DNS_PORT)
		return 0;
	rx = bpf_map_lookup_elem(&dns_rx, &id);
	if (!rx)
		return 0;
	rx->server = 1;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_INET6) {
		rx->family = 6;
		BPF_CORE_READ_INTO(&rx->peer, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		__u32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		rx->family = 4;
		__builtin_memcpy(rx->peer, &d, 4);
	}
	return 0;
}

static __always_inline int dns_take_budget(__u64 now)
{
	__u32 zero = 0;
	struct ct_dns_budget *b = bpf_map_lookup_elem(&dns_budget, &zero);

	if (!b)
		return 0;
	if (now - b->window_ns >= 1000000000ULL) {
		b->window_ns = now;
		b->used = 0;
	}
	if (b->used >= dns_per_cpu_per_sec)
		return 0;
	b->used++;
	return 1;
}

static __always_inline void dns_finish(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ct_dns_rx *rx = bpf_map_lookup_elem(&dns_rx, &id);
	struct ct_peer p = {};
	struct ct_dns_event *e;
	__u64 now, n;

	if (!rx)
		return;
	if (ret <= 0)
		goto out;
	if (!rx->server) {
		/* Unconnected socket: the sender the kernel wrote back tells whether it was a DNS server. */
		if (!read_user_peer(&p, (const void *)rx->uaddr, sizeof(struct sockaddr_in6)) || p.port != DNS_PORT)
			goto out;
		rx->family = p.family;
		__builtin_memcpy(rx->peer, p.addr, 16);
	}
	now = bpf_ktime_get_boot_ns();
	if (!dns_take_budget(now)) {
		stat_inc(CT_STAT_DNS_DROPPED);
		goto out;
	}
	e = bpf_ringbuf_reserve(&dns_events, sizeof(*e), 0);
	if (!e) {
		stat_inc(CT_STAT_DNS_DROPPED);
		goto out;
	}
	n = (__u64)ret < rx->buf_len ? (__u64)ret : rx->buf_len;
	if (n > CT_DNS_MAX)
		n = CT_DNS_MAX;
	e->copied = 0;
	if (n > 0 && bpf_probe_read_user(e->data, n & (2 * CT_DNS_MAX - 1), (const void *)rx->buf) == 0)
		e->copied = (__u32)n;
	e->ts_ns = now;
	e->len = (__u32)ret;
	e->family = rx->family;
	e->peer_port = DNS_PORT;
	__builtin_memcpy(e->peer, rx->peer, 16);
	e->pid = id >> 32;
	{
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		struct task_struct *leader = BPF_CORE_READ(task, group_leader);

		e->start_ns = BPF_CORE_READ(leader, start_boottime);
		BPF_CORE_READ_STR_INTO(&e->comm, leader, comm);
		e->netns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	}
	bpf_ringbuf_submit(e, 0);
out:
	bpf_map_delete_elem(&dns_rx, &id);
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int dns_exit_recvfrom(struct trace_event_raw_sys_exit *ctx)
{
	dns_finish(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int dns_exit_recvmsg(struct trace_event_raw_sys_exit *ctx)
{
	dns_finish(ctx->ret);
	return 0;
}
