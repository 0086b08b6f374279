/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What the parts of the conntrail-bpf loader share: its state, and the functions one part offers another. */
#ifndef CONNTRAIL_LOADER_H
#define CONNTRAIL_LOADER_H

#include <stddef.h>
#include <time.h>
#include <linux/types.h>
#include "conntrail.h"

#define FORMAT_VERSION 1
#define DRAIN_MS 100

/* Exit codes (FORMAT.md lists them). */
enum { EXIT_USAGE = 64, EXIT_NOT_ROOT = 65, EXIT_NO_BTF = 66, EXIT_LOAD = 67, EXIT_ATTACH = 68, EXIT_RUNTIME = 69 };

struct options {
	unsigned interval_ms;
	unsigned udp_idle_ms;
	unsigned max_conns;
	int read_stdin;
	int verbose;
	int dns;              /* --dns: snoop DNS answers (D records) */
	unsigned dns_max_per_sec; /* --dns-max-per-sec: answers copied per second, whole host */
};

struct helper {
	struct options opt;
	struct conntrail_bpf *skel;
	struct ring_buffer *rb;
	int out_failed;       /* stdout closed or failing: stop */
	long long ns_per_tick; /* ns per USER_HZ tick, for process start times */
	char features[128];
};

void die(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
long long clock_ns(clockid_t id);
long long boot_to_epoch_ns(void);

/* output.c: the line format (FORMAT.md) */
void out(struct helper *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void out_flush(struct helper *h);
void print_conn(struct helper *h, char kind, const struct ct_conn *c, __u64 close_ns);
int on_event(void *ctx, void *data, size_t size);
int on_dns_event(void *ctx, void *data, size_t size);

/* dump.c: walking the maps */
void sweep_udp(struct helper *h);
void dump(struct helper *h, const char *token);

#endif /* CONNTRAIL_LOADER_H */
