// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The loader's output: records in the line format of FORMAT.md, written through a large stdout buffer. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include "loader.h"

static const char *const TCP_STATE_NAMES[] = {
	"UNKNOWN", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
	"CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV",
};

void out(struct helper *h, const char *fmt, ...)
{
	va_list ap;

	if (h->out_failed)
		return;
	va_start(ap, fmt);
	if (vprintf(fmt, ap) < 0)
		h->out_failed = 1;
	va_end(ap);
}

void out_flush(struct helper *h)
{
	if (!h->out_failed && fflush(stdout) != 0)
		h->out_failed = 1;
}

/* comm may hold any byte but NUL: escape what would break a tab-separated line (FORMAT.md). */
static void escape_comm(const char *comm, char *dst, size_t cap)
{
	size_t j = 0;

	for (size_t i = 0; i < CT_COMM_LEN && comm[i] && j + 5 < cap; i++) {
		unsigned char ch = (unsigned char)comm[i];

		if (ch <= 0x20 || ch >= 0x7f || ch == '\\')
			j += snprintf(dst + j, cap - j, "\\x%02x", ch);
		else
			dst[j++] = (char)ch;
	}
	if (j == 0)
		dst[j++] = '-';
	dst[j] = '\0';
}

static void format_addr(const __u8 *addr, int family, char *dst, size_t cap)
{
	if (!inet_ntop(family == 6 ? AF_INET6 : AF_INET, addr, dst, cap))
		snprintf(dst, cap, "?");
}

static const char *dir_name(int dir)
{
	return dir == CT_DIR_CONNECT ? "connect" : dir == CT_DIR_ACCEPT ? "accept" : "-";
}

static unsigned long long max_u64(__u64 a, __u64 b)
{
	return a > b ? a : b;
}

/* One connection record: kind 'C' (closed, close_ns set) or 'U' (live). Bytes: the larger of what the
 * syscalls moved and what the kernel's TCP counters say (zero for UDP), so data the process never
 * read (a close with unread data) or moved without a traced syscall still counts, and a connection
 * first seen mid-life still reports what it moved since. The close of a TCP connection followed from
 * its opening reports the kernel's final counters alone: they are exact, and the syscall sums can be
 * more (data handed to the socket and never acknowledged: a reset with data in flight). */
void print_conn(struct helper *h, char kind, const struct ct_conn *c, __u64 close_ns)
{
	char laddr[INET6_ADDRSTRLEN], raddr[INET6_ADDRSTRLEN], comm[CT_COMM_LEN * 4 + 2];
	const char *state = c->state < sizeof(TCP_STATE_NAMES) / sizeof(TCP_STATE_NAMES[0])
				    ? TCP_STATE_NAMES[c->state] : "UNKNOWN";
	unsigned long long start_ticks = c->pid ? c->start_ns / (unsigned long long)h->ns_per_tick : 0;

	format_addr(c->saddr, c->family, laddr, sizeof(laddr));
	format_addr(c->daddr, c->family, raddr, sizeof(raddr));
	if (c->pid)
		escape_comm(c->comm, comm, sizeof(comm));
	else
		snprintf(comm, sizeof(comm), "-");
	int final = (c->flags & CT_F_WIRE_FINAL) && !(c->flags & CT_F_PREEXISTING);
	unsigned long long sent = final ? c->wire_sent : max_u64(c->bytes_sent, c->wire_sent);
	unsigned long long recv = final ? c->wire_recv : max_u64(c->bytes_recv, c->wire_recv);

	if (kind == 'C')
		state = "CLOSE";
	out(h, "%c\t%llu\t%s\t%u\t%u\t%s\t%u\t%s\t%u\t%u\t%llu\t%s\t%s\t%s\t%u\t%llu\t%llu\t%llu\t%llu\t%u\t%u\t%llu\n",
	    kind, (unsigned long long)c->cookie, c->proto == 17 ? "udp" : "tcp", c->family, c->netns,
	    laddr, c->sport, raddr, c->dport, c->pid, start_ticks, comm, dir_name(c->dir), state,
	    c->flags, (unsigned long long)c->open_ns, (unsigned long long)close_ns,
	    sent, recv, c->retrans, c->rtt_us,
	    (unsigned long long)c->inode);
}

int on_event(void *ctx, void *data, size_t size)
{
	struct helper *h = ctx;
	const struct ct_event *e = data;

	if (size < sizeof(*e))
		return 0;
	print_conn(h, 'C', &e->conn, e->close_ns);
	return h->out_failed ? -EPIPE : 0;
}

/* A snooped DNS answer (--dns): the bytes copied, in hex, for the reader's DNS parser. */
int on_dns_event(void *ctx, void *data, size_t size)
{
	static const char HEX[] = "0123456789abcdef";
	struct helper *h = ctx;
	const struct ct_dns_event *e = data;
	char peer[INET6_ADDRSTRLEN], comm[CT_COMM_LEN * 4 + 2], hex[CT_DNS_MAX * 2 + 1];
	unsigned n;

	if (size < sizeof(*e))
		return 0;
	n = e->copied > CT_DNS_MAX ? CT_DNS_MAX : e->copied;
	for (unsigned i = 0; i < n; i++) {
		hex[2 * i] = HEX[e->data[i] >> 4];
		hex[2 * i + 1] = HEX[e->data[i] & 15];
	}
	hex[2 * n] = '\0';
	if (n == 0)
		snprintf(hex, sizeof(hex), "-");
	format_addr(e->peer, e->family, peer, sizeof(peer));
	escape_comm(e->comm, comm, sizeof(comm));
	out(h, "D\t%llu\t%u\t%llu\t%s\t%u\t%s\t%u\t%u\t%s\n", (unsigned long long)e->ts_ns, e->pid,
	    (unsigned long long)(e->start_ns / (unsigned long long)h->ns_per_tick), comm, e->netns, peer,
	    e->peer_port, e->len, hex);
	return h->out_failed ? -EPIPE : 0;
}
