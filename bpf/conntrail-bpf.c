// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * conntrail-bpf: loads conntrail.bpf.c and streams connection records to stdout in the line format
 * described in FORMAT.md (tab-separated, one record per line, versioned header first).
 *
 * Closed TCP connections arrive through the ring buffer and are printed as they are drained (every
 * DRAIN_MS). Live connections are printed by a dump: on "dump <token>" read from stdin, and every
 * --interval-ms if given. UDP flows idle for --udp-idle-ms are removed and printed as closed.
 * EOF on stdin, SIGTERM, SIGINT or SIGHUP end the helper cleanly (exit 0); so does a closed stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "loader.h"
#include "conntrail.skel.h"

void die(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "conntrail-bpf: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list args)
{
	/* Verifier logs come at WARN level on a failed load: they are what a user needs to see. */
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, args);
}

long long clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CLOCK_REALTIME - CLOCK_BOOTTIME in ns: add it to a BPF timestamp to get epoch ns. Bracketed
 * so the error is half the time between the two boottime reads. */
long long boot_to_epoch_ns(void)
{
	long long b1 = clock_ns(CLOCK_BOOTTIME);
	long long r = clock_ns(CLOCK_REALTIME);
	long long b2 = clock_ns(CLOCK_BOOTTIME);

	return r - (b1 + (b2 - b1) / 2);
}

/* ---- setup ------------------------------------------------------------------------------- */

/* Classic tracepoints are found through tracefs; mount it where the kernel documents it if no
 * tracefs is visible yet. Returns 0 when tracepoint ids can be read. */
static int ensure_tracefs(void)
{
	struct stat st;

	if (stat("/sys/kernel/tracing/events", &st) == 0 || stat("/sys/kernel/debug/tracing/events", &st) == 0)
		return 0;
	if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) != 0)
		return -errno;
	return stat("/sys/kernel/tracing/events", &st) == 0 ? 0 : -ENOENT;
}

static struct bpf_program *const *syscall_programs(struct conntrail_bpf *s, size_t *n)
{
	static struct bpf_program *progs[14];

	progs[0] = s->progs.on_enter_sendto;
	progs[1] = s->progs.on_enter_sendmsg;
	progs[2] = s->progs.on_exit_sendto;
	progs[3] = s->progs.on_exit_sendmsg;
	progs[4] = s->progs.on_enter_recvfrom;
	progs[5] = s->progs.on_enter_recvmsg;
	progs[6] = s->progs.on_exit_recvfrom;
	progs[7] = s->progs.on_exit_recvmsg;
	progs[8] = s->progs.on_exit_accept4;
	progs[9] = s->progs.on_exit_accept;
	progs[10] = s->progs.on_enter_sendmmsg;
	progs[11] = s->progs.on_exit_sendmmsg;
	progs[12] = s->progs.on_enter_recvmmsg;
	progs[13] = s->progs.on_exit_recvmmsg;
	*n = 14;
	return progs;
}

static void load(struct helper *h)
{
	struct stat st;
	size_t nsys;
	struct bpf_program *const *sys;
	int tracefs, err;

	if (geteuid() != 0)
		die(EXIT_NOT_ROOT, "must run as root (loading eBPF programs needs CAP_BPF and CAP_PERFMON)");
	if (stat("/sys/kernel/btf/vmlinux", &st) != 0)
		die(EXIT_NO_BTF, "kernel BTF not found at /sys/kernel/btf/vmlinux (needs CONFIG_DEBUG_INFO_BTF)");
	libbpf_set_print(h->opt.verbose ? NULL : libbpf_log);

	h->skel = conntrail_bpf__open();
	if (!h->skel)
		die(EXIT_LOAD, "cannot open the BPF object: %s", strerror(errno));
	bpf_map__set_max_entries(h->skel->maps.tcp_conns, h->opt.max_conns);
	bpf_map__set_max_entries(h->skel->maps.udp_flows, h->opt.max_conns);
	{
		struct bpf_program *dns[] = { h->skel->progs.dns_enter_recvfrom, h->skel->progs.dns_enter_recvmsg,
					      h->skel->progs.dns_exit_recvfrom, h->skel->progs.dns_exit_recvmsg,
					      h->skel->progs.dns_recv_length };
		int ncpu = libbpf_num_possible_cpus();

		for (size_t i = 0; i < sizeof(dns) / sizeof(dns[0]); i++)
			bpf_program__set_autoload(dns[i], h->opt.dns != 0);
		/* The budget is per CPU (no shared counter on the hot path): split the host's among them. */
		h->skel->rodata->dns_per_cpu_per_sec = ncpu > 0 ? (h->opt.dns_max_per_sec + ncpu - 1) / ncpu : h->opt.dns_max_per_sec;
	}

	tracefs = ensure_tracefs();
	sys = syscall_programs(h->skel, &nsys);
	if (tracefs != 0 && h->opt.dns) {
		/* Connections matter more than names: run without DNS (no `dns` feature in the header tells the reader). */
		fprintf(stderr, "conntrail-bpf: warning: --dns needs the syscall tracepoints: no DNS answers without tracefs\n");
		h->opt.dns = 0;
		bpf_program__set_autoload(h->skel->progs.dns_recv_length, false);
		bpf_program__set_autoload(h->skel->progs.dns_enter_recvfrom, false);
		bpf_program__set_autoload(h->skel->progs.dns_enter_recvmsg, false);
		bpf_program__set_autoload(h->skel->progs.dns_exit_recvfrom, false);
		bpf_program__set_autoload(h->skel->progs.dns_exit_recvmsg, false);
	}
	if (tracefs != 0) {
		fprintf(stderr, "conntrail-bpf: warning: tracefs unavailable (%s): no syscall tracepoints, "
				"so no accept() pids and no peers for unconnected UDP\n", strerror(-tracefs));
		for (size_t i = 0; i < nsys; i++)
			bpf_program__set_autoload(sys[i], false);
	}
	err = conntrail_bpf__load(h->skel);
	if (err)
		die(EXIT_LOAD, "cannot load the BPF programs: %s (the verifier log, if any, is above)", strerror(-err));

	struct bpf_program *core[] = { h->skel->progs.on_set_state, h->skel->progs.on_retransmit,
				       h->skel->progs.on_send_length, h->skel->progs.on_recv_length,
				       h->skel->progs.on_data_ready };
	for (size_t i = 0; i < sizeof(core) / sizeof(core[0]); i++)
		if (!bpf_program__attach(core[i]))
			die(EXIT_ATTACH, "cannot attach %s: %s", bpf_program__name(core[i]), strerror(errno));
	strcpy(h->features, "tcp,udp,udp-local");
	if (tracefs == 0) {
		int attached = 0;

		for (size_t i = 0; i < nsys; i++) {
			if (bpf_program__attach(sys[i]))
				attached++;
			else
				fprintf(stderr, "conntrail-bpf: warning: cannot attach %s: %s\n",
					bpf_program__name(sys[i]), strerror(errno));
		}
		if (attached == (int)nsys)
			strcat(h->features, ",syscalls");
	}
	if (h->opt.dns) {
		struct bpf_program *dns[] = { h->skel->progs.dns_enter_recvfrom, h->skel->progs.dns_enter_recvmsg,
					      h->skel->progs.dns_exit_recvfrom, h->skel->progs.dns_exit_recvmsg,
					      h->skel->progs.dns_recv_length };

		for (size_t i = 0; i < sizeof(dns) / sizeof(dns[0]); i++)
			if (!bpf_program__attach(dns[i]))
				die(EXIT_ATTACH, "cannot attach %s: %s", bpf_program__name(dns[i]), strerror(errno));
		strcat(h->features, ",dns");
	}
	h->rb = ring_buffer__new(bpf_map__fd(h->skel->maps.events), on_event, h, NULL);
	if (!h->rb)
		die(EXIT_LOAD, "cannot open the ring buffer: %s", strerror(errno));
	if (h->opt.dns && ring_buffer__add(h->rb, bpf_map__fd(h->skel->maps.dns_events), on_dns_event, h))
		die(EXIT_LOAD, "cannot open the DNS ring buffer: %s", strerror(errno));
}

static void usage(FILE *f)
{
	fprintf(f, "usage: conntrail-bpf [--interval-ms N] [--udp-idle-ms N] [--max-conns N] [--dns [--dns-max-per-sec N]] [--no-stdin] [--verbose]\n"
		   "  Streams connection records to stdout (format version %d, see FORMAT.md).\n"
		   "  stdin commands: 'dump <token>' prints live connections then 'E <token> ...'; 'quit'.\n",
		FORMAT_VERSION);
}

static unsigned parse_uint(const char *s, const char *what)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v > 0x7fffffffUL)
		die(EXIT_USAGE, "bad %s: %s", what, s);
	return (unsigned)v;
}

static void parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {
		{ "interval-ms", required_argument, NULL, 'i' }, { "udp-idle-ms", required_argument, NULL, 'u' },
		{ "max-conns", required_argument, NULL, 'm' },   { "no-stdin", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },           { "help", no_argument, NULL, 'h' },
		{ "format-version", no_argument, NULL, 'V' },    { "dns", no_argument, NULL, 'd' },
		{ "dns-max-per-sec", required_argument, NULL, 'D' }, { NULL, 0, NULL, 0 },
	};
	int c;

	o->interval_ms = 0;
	o->udp_idle_ms = 30000;
	o->max_conns = 65536;
	o->read_stdin = 1;
	o->verbose = 0;
	o->dns = 0;
	o->dns_max_per_sec = 5000;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'i': o->interval_ms = parse_uint(optarg, "--interval-ms"); break;
		case 'u': o->udp_idle_ms = parse_uint(optarg, "--udp-idle-ms"); break;
		case 'm': o->max_conns = parse_uint(optarg, "--max-conns"); break;
		case 'n': o->read_stdin = 0; break;
		case 'v': o->verbose = 1; break;
		case 'd': o->dns = 1; break;
		case 'D': o->dns_max_per_sec = parse_uint(optarg, "--dns-max-per-sec"); break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("%d\n", FORMAT_VERSION); exit(0);
		default: usage(stderr); exit(EXIT_USAGE);
		}
	}
	if (optind < argc || o->max_conns == 0)
		die(EXIT_USAGE, "unexpected arguments (see --help)");
}

/* ---- main loop --------------------------------------------------------------------------- */

/* Handles complete lines in buf; returns 1 when told to quit. Keeps a partial line. */
static int handle_commands(struct helper *h, char *buf, size_t *len)
{
	char *start = buf, *nl;

	while ((nl = memchr(start, '\n', *len - (size_t)(start - buf)))) {
		*nl = '\0';
		if (strncmp(start, "dump", 4) == 0 && (start[4] == ' ' || start[4] == '\0')) {
			const char *token = start[4] ? start + 5 : "-";

			dump(h, *token && !strpbrk(token, "\t\r") ? token : "-");
		} else if (strcmp(start, "quit") == 0) {
			return 1;
		} else if (*start) {
			fprintf(stderr, "conntrail-bpf: unknown command: %.64s\n", start);
		}
		start = nl + 1;
	}
	*len -= (size_t)(start - buf);
	memmove(buf, start, *len);
	if (*len == 4096) /* a line longer than any command: drop it */
		*len = 0;
	return 0;
}

/* The signals that stop us, blocked so they queue for the signalfd instead of killing us. */
static void stop_signals(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGHUP);
	sigprocmask(SIG_BLOCK, mask, NULL);
}

static int add_fd(int ep, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static int run(struct helper *h)
{
	sigset_t mask;
	int ep, sfd, tfd, rbfd = ring_buffer__epoll_fd(h->rb), in_fd = h->opt.read_stdin ? STDIN_FILENO : -1;
	struct itimerspec tick = { .it_interval = { 0, DRAIN_MS * 1000000L }, .it_value = { 0, DRAIN_MS * 1000000L } };
	long long next_dump = 0, next_sweep = 0;
	char cmd[4096];
	size_t cmd_len = 0;

	stop_signals(&mask);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || tfd < 0 || ep < 0 || timerfd_settime(tfd, 0, &tick, NULL) || add_fd(ep, sfd) ||
	    add_fd(ep, tfd) || add_fd(ep, rbfd))
		die(EXIT_RUNTIME, "cannot set up the event loop: %s", strerror(errno));
	/* stdin that cannot be polled (a regular file, /dev/null) carries no commands. */
	if (in_fd >= 0 && add_fd(ep, in_fd) != 0)
		in_fd = -1;

	while (!h->out_failed) {
		struct epoll_event evs[4];
		int n = epoll_wait(ep, evs, 4, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die(EXIT_RUNTIME, "epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == sfd) {
				return 0;
			} else if (fd == tfd) {
				long long now = clock_ns(CLOCK_MONOTONIC);
				__u64 expirations;

				if (read(tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
					die(EXIT_RUNTIME, "timerfd: %s", strerror(errno));
				ring_buffer__consume(h->rb);
				if (now >= next_sweep) {
					unsigned every = h->opt.udp_idle_ms / 4 > 1000 ? 1000 : h->opt.udp_idle_ms / 4;

					sweep_udp(h);
					next_sweep = now + (long long)(every ? every : 1) * 1000000LL;
				}
				if (h->opt.interval_ms && now >= next_dump) {
					dump(h, "-");
					next_dump = now + (long long)h->opt.interval_ms * 1000000LL;
				}
				out_flush(h);
			} else if (fd == rbfd) {
				ring_buffer__consume(h->rb);
				out_flush(h);
			} else if (fd == in_fd) {
				ssize_t r = read(in_fd, cmd + cmd_len, sizeof(cmd) - cmd_len);

				if (r == 0)
					return 0; /* our reader went away */
				if (r < 0 && errno != EINTR && errno != EAGAIN)
					return 0;
				if (r > 0) {
					cmd_len += (size_t)r;
					if (handle_commands(h, cmd, &cmd_len))
						return 0;
				}
			}
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static char outbuf[1 << 18];
	struct helper h = { 0 };
	int rc;

	sigset_t stops;

	parse_args(argc, argv, &h.opt);
	/* Block the stop signals from the start: one that arrives while loading (or just after the header)
	 * waits in the signalfd and ends the helper cleanly, with the programs detached. */
	stop_signals(&stops);
	/* A closed stdout shows up as EPIPE from fflush; we stop then instead of dying of SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	/* Do not outlive the collector that started us. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	h.ns_per_tick = 1000000000LL / sysconf(_SC_CLK_TCK);

	load(&h);
	out(&h, "H\tconntrail-bpf\t%d\t%lld\t%s\n", FORMAT_VERSION, boot_to_epoch_ns(), h.features);
	out_flush(&h);

	rc = run(&h);
	ring_buffer__consume(h.rb);
	out_flush(&h);
	ring_buffer__free(h.rb);
	conntrail_bpf__destroy(h.skel);
	return rc;
}
