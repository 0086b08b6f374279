/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Part of conntrail.bpf.c (one compilation unit, split for reading): syscall tracepoints for accept() pids and UDP peers. */

/* ---- syscalls (classic tracepoints; optional: the loader runs without them if tracefs is absent) */

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
	__builtin_memcpy(k.saddr, rx->tmpl.saddr, 16);
	udp_learnt_local(&k);
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
			__builtin_memcpy(k.saddr, rx->tmpl.saddr, 16);
			udp_learnt_local(&k);
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
