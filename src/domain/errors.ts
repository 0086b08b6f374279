/**
 * One error base for the whole tree. Every typed error (store, collector and its sources, API start-up,
 * command line, time input) carries a stable `code` from one union and the context a log line needs, so a
 * caller branches with `instanceof` and `code`, never on `err.name` strings. The codes live here, in the
 * domain, because each layer may import the domain and none may import a layer above it.
 */

export type StoreErrorCode =
  | 'STORE_UNAVAILABLE'
  | 'MIGRATION_EDITED'
  | 'MIGRATION_MISSING'
  | 'MIGRATION_FAILED'
  | 'INVALID_ROW'
  | 'QUERY_FAILED'
  | 'CONFIG_INVALID';

export type CollectorErrorCode =
  | 'CONFIG_INVALID'
  | 'SOURCE_FAILED'
  | 'SOURCE_TIMEOUT'
  | 'SOURCE_BUSY'
  | 'SINK_TIMEOUT'
  | 'SPOOL_IO'
  | 'SPOOL_CORRUPT';

/** Why a /proc read failed, for callers that branch on it (and for the completeness record). */
export type ProcfsErrorCode =
  | 'PROC_UNREADABLE' // a file or directory the source needs could not be read
  | 'NETNS_UNRESOLVED' // a namespace link did not have the form net:[INODE]
  | 'BOOT_TIME_UNKNOWN'; // /proc/stat had no btime line

/** Why the eBPF source failed, for callers that branch on it (auto mode falls back on any of these). */
export type EbpfErrorCode =
  | 'EBPF_HELPER_MISSING' // the helper binary does not exist or is not executable
  | 'EBPF_LOAD_FAILED' // the helper exited before its header: not root, no BTF, verifier refused, ...
  | 'EBPF_FORMAT_VERSION' // the helper speaks a line format this reader does not know
  | 'EBPF_HELPER_DIED' // a running helper exited
  | 'EBPF_DUMP_TIMEOUT' // the helper did not answer a dump request in time
  | 'EBPF_DEAD' // the helper died twice within the restart window: the source gave up
  | 'EBPF_CLOSED'; // the source was closed

/** Why conntrack could not be read, for callers that branch on it. */
export type ConntrackErrorCode =
  | 'CONNTRACK_UNAVAILABLE' // neither the conntrack tool nor /proc/net/nf_conntrack can be used
  | 'CONNTRACK_FAILED' // the tool ran but failed (non-zero exit, killed, timed out)
  | 'CONNTRACK_STOPPED'; // the stream was stopped before it subscribed

export type ApiConfigErrorCode = 'TOKEN_REQUIRED' | 'CONFIG_INVALID' | 'ALREADY_STARTED';

/** The sink's one answer that makes the collector drop a snapshot (see collector/sink.ts). */
export type SinkErrorCode = 'SNAPSHOT_REFUSED';

export type ErrorCode =
  | StoreErrorCode
  | CollectorErrorCode
  | ProcfsErrorCode
  | EbpfErrorCode
  | ConntrackErrorCode
  | ApiConfigErrorCode
  | SinkErrorCode
  | 'TIME_INPUT'
  | 'USAGE';

/** The base every typed error extends; `name` is the subclass's own name (what logs print). */
export abstract class ConntrailError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  readonly context: Readonly<Record<string, unknown>>;
  constructor(code: C, message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.context = context;
  }
}
