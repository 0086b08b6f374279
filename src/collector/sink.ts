import type { Snapshot } from '../domain/snapshot.js';

/**
 * Where finished snapshots go. Declared here so the collector never depends on the store: the store
 * (or a network client of the conntrail server) implements it and the cli wires the two together.
 */
export interface SnapshotSink {
  /**
   * Persists one snapshot. Must be idempotent: writing the same (hostId, timeMs) twice adds nothing.
   * Rejects with an error whose `code` is 'STORE_UNAVAILABLE' when the destination is down (the collector
   * then spools the snapshot and retries later); any other error means the snapshot itself was refused.
   */
  write(snapshot: Snapshot, signal: AbortSignal): Promise<void>;
}

export const SINK_UNAVAILABLE_CODE = 'STORE_UNAVAILABLE';

/** True when the error says "the sink is down, keep the snapshot for later" rather than "bad snapshot". */
export function isSinkUnavailable(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const code = (err as { code?: unknown }).code;
  return code === SINK_UNAVAILABLE_CODE;
}
