// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Walking the BPF maps: dumps of the live connections, and the UDP idle timeout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "loader.h"
#include "conntrail.skel.h"

#define BATCH 256

typedef void (*visit_fn)(struct helper *h, const void *key, const struct ct_conn *c, long long now);

/* Walks a hash map with batched lookups (one syscall per BATCH entries, and no restart when an
 * entry is deleted under us, unlike get_next_key). */
static int walk_map(struct helper *h, int fd, size_t key_size, visit_fn visit, long long now)
{
	char keys[BATCH * sizeof(struct ct_udp_key)];
	struct ct_conn vals[BATCH];
	__u32 in_batch = 0, out_batch = 0;
	int first = 1;

	for (;;) {
		__u32 count = BATCH;
		int err = bpf_map_lookup_batch(fd, first ? NULL : &in_batch, &out_batch, keys, vals, &count, NULL);
		int done = err && errno == ENOENT;

		if (err && !done)
			return -errno;
		for (__u32 i = 0; i < count; i++)
			visit(h, keys + i * key_size, &vals[i], now);
		if (done)
			return 0;
		in_batch = out_batch;
		first = 0;
	}
}

static void visit_live(struct helper *h, const void *key, const struct ct_conn *c, long long now)
{
	(void)key;
	(void)now;
	print_conn(h, 'U', c, 0);
}

static void visit_udp_idle(struct helper *h, const void *key, const struct ct_conn *c, long long now)
{
	struct ct_conn last;
	int fd = bpf_map__fd(h->skel->maps.udp_flows);

	if (now - (long long)c->last_ns < (long long)h->opt.udp_idle_ms * 1000000LL)
		return;
	/* Take the freshest counters as the entry goes; a datagram after this starts a new flow. */
	if (bpf_map_lookup_and_delete_elem(fd, key, &last) != 0)
		return;
	last.state = 7; /* TCP_CLOSE */
	print_conn(h, 'C', &last, last.last_ns);
}

static void stats_line(struct helper *h)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 sum[CT_STAT_COUNT] = {0};
	__u32 zero = 0;

	if (ncpu > 0) {
		__u64 *vals = calloc((size_t)ncpu, sizeof(__u64) * CT_STAT_COUNT);

		if (vals && bpf_map_lookup_elem(bpf_map__fd(h->skel->maps.stats), &zero, vals) == 0)
			for (int cpu = 0; cpu < ncpu; cpu++)
				for (int i = 0; i < CT_STAT_COUNT; i++)
					sum[i] += vals[cpu * CT_STAT_COUNT + i];
		free(vals);
	}
	out(h, "S\t%llu\t%llu\t%llu\t%llu\n", (unsigned long long)sum[CT_STAT_RINGBUF_FULL],
	    (unsigned long long)sum[CT_STAT_TCP_MAP_FULL], (unsigned long long)sum[CT_STAT_UDP_MAP_FULL],
	    (unsigned long long)sum[CT_STAT_UDP_NO_PEER]);
	if (h->opt.dns)
		out(h, "DS\t%llu\n", (unsigned long long)sum[CT_STAT_DNS_DROPPED]);
}

void sweep_udp(struct helper *h)
{
	long long now = clock_ns(CLOCK_BOOTTIME);

	if (walk_map(h, bpf_map__fd(h->skel->maps.udp_flows), sizeof(struct ct_udp_key), visit_udp_idle, now))
		fprintf(stderr, "conntrail-bpf: walking udp_flows failed: %s\n", strerror(errno));
}

/* A dump: everything closed so far, then every live connection, then the counters, then the end
 * marker carrying the caller's token, so a reader knows the cut is complete. */
void dump(struct helper *h, const char *token)
{
	long long now;

	ring_buffer__consume(h->rb);
	sweep_udp(h);
	now = clock_ns(CLOCK_BOOTTIME);
	if (walk_map(h, bpf_map__fd(h->skel->maps.tcp_conns), sizeof(__u64), visit_live, now) ||
	    walk_map(h, bpf_map__fd(h->skel->maps.udp_flows), sizeof(struct ct_udp_key), visit_live, now))
		fprintf(stderr, "conntrail-bpf: walking maps failed: %s\n", strerror(errno));
	stats_line(h);
	out(h, "E\t%s\t%lld\t%lld\n", token, now, boot_to_epoch_ns());
	out_flush(h);
}
