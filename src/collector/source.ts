import type { ListeningSocket, NatTranslation, ProcessInfo, SocketObservation, SourceName } from '../domain/connection.js';
import type { SourceRun } from '../domain/snapshot.js';

/**
 * The contract between the collector's loop and each way of seeing connections (eBPF, procfs, conntrack).
 * A source is read once per interval; the tracker merges the readings of all sources into one snapshot.
 */

/** What one source saw since the last call to `read`. */
export interface SourceReading {
  /**
   * Sockets alive now (procfs) or seen since the last read (ebpf, conntrack), including sockets that
   * were opened and closed in between. Counters are cumulative per socket; the tracker computes deltas.
   * The same socket may be reported by several sources; the tracker merges them by
   * (netns, protocol, local, remote).
   * Conntrack observations whose direction is 'unknown' are taken to be oriented by the ORIGINAL tuple
   * (local = original source, bytesSent = original-direction bytes); the tracker then joins them to the
   * socket another source saw under either orientation (or under the reply tuple of a NAT translation).
   */
  readonly observations: readonly SocketObservation[];
  /** Conntrack translations seen. */
  readonly nat: readonly NatTranslation[];
  readonly listening: readonly ListeningSocket[];
  readonly processes: readonly ProcessInfo[];
  /** How the read went, for the snapshot's completeness record. */
  readonly run: SourceRun;
}

export interface ConnectionSource {
  readonly name: SourceName;
  /**
   * Reads what the source saw since the last call. Should stop promptly when `signal` aborts; the loop
   * does not wait for a read beyond its timeout, and does not start another read of the same source
   * while one is still pending.
   */
  read(signal: AbortSignal): Promise<SourceReading>;
  close(): Promise<void>;
}
