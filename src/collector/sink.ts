import type { Snapshot } from '../domain/snapshot.js';
import { ConntrailError, type SinkErrorCode } from '../domain/errors.js';

/**
 * Where finished snapshots go. Declared here so the collector never depends on the store: the store
 * (or a network client of the conntrail server) implements it and the cli wires the two together.
 */
export interface SnapshotSink {
  /**
   * Persists one snapshot. Must be idempotent: writing the same (hostId, timeMs) twice adds nothing.
   * Rejects with an error whose `code` is 'SNAPSHOT_REFUSED' when this snapshot's own data can never be
   * stored (a row-level data error): the collector then drops it and counts the loss. Any other error
   * (the destination down, read-only, overloaded, timing out, or failing in a way nobody foresaw) means
   * "not now": the collector spools the snapshot and retries later, so nothing is lost to a store outage.
   */
  write(snapshot: Snapshot, signal: AbortSignal): Promise<void>;
}

export const SINK_REFUSED_CODE: SinkErrorCode = 'SNAPSHOT_REFUSED';

/** The one answer that makes the collector drop a snapshot: its data was refused, retrying cannot help. */
export class SnapshotRefusedError extends ConntrailError<SinkErrorCode> {
  constructor(message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(SINK_REFUSED_CODE, message, context, options);
  }
}

/**
 * True only when the sink said "this snapshot can never be stored". Everything else, unknown errors
 * included, is treated as the sink being unavailable: dropping on an error nobody classified would lose
 * data for what is most often an outage (a dead engine, a read-only database, a timeout).
 */
export function isSnapshotRefused(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  return (err as { code?: unknown }).code === SINK_REFUSED_CODE;
}
