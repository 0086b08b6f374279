/** Why the eBPF source failed, for callers that branch on it (auto mode falls back on any of these). */
export type EbpfErrorCode =
  | 'EBPF_HELPER_MISSING' // the helper binary does not exist or is not executable
  | 'EBPF_LOAD_FAILED' // the helper exited before its header: not root, no BTF, verifier refused, ...
  | 'EBPF_FORMAT_VERSION' // the helper speaks a line format this reader does not know
  | 'EBPF_HELPER_DIED' // a running helper exited
  | 'EBPF_DUMP_TIMEOUT' // the helper did not answer a dump request in time
  | 'EBPF_DEAD' // the helper died twice within the restart window: the source gave up
  | 'EBPF_CLOSED'; // the source was closed

export class EbpfError extends Error {
  override readonly name = 'EbpfError';
  constructor(
    readonly code: EbpfErrorCode,
    message: string,
    readonly context: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
