// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * conntrail's kernel side: tracks every TCP connection and UDP flow (socket x peer) of the host in BPF
 * hash maps, and sends a final record for each closed TCP connection through a ring buffer. UDP flows
 * have no close in the kernel; the loader times them out. Only tracepoints are used (kprobes and
 * fentry are unavailable on the kernels we target): tp_btf programs for the socket events, because they
 * get typed pointers and need no tracefs, and classic syscall tracepoints where a pid (accept) or a UDP
 * peer address (sendto/recvfrom on unconnected sockets) is only visible at the syscall boundary.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "conntrail.h"

#define AF_INET 2
#define AF_INET6 10
#define MSG_PEEK 2
#define RINGBUF_BYTES (4 << 20)

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#include "maps.bpf.h"
#include "sock.bpf.h"
#include "tcp.bpf.h"
#include "udp.bpf.h"
#include "syscalls.bpf.h"
#include "dns.bpf.h"
