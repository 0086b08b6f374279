import type { NameObservation } from './dns.js';
import type { ConnectionRow, ListeningSocket, NatTranslation, ProcessInfo, SourceName } from './connection.js';

/** How one source fared during one interval. */
export interface SourceRun {
  readonly name: SourceName;
  readonly ok: boolean;
  readonly durationMs: number;
  /** Records the source could not parse or had to drop (malformed lines, lost events). */
  readonly skipped: number;
  readonly lost: number;
  readonly error: string | null;
}

/** The completeness record: lets a user tell "no traffic" from "no data". */
export interface Completeness {
  readonly sources: readonly SourceRun[];
  /** Events lost outside any one source (for example snapshots dropped from a full spool). */
  readonly eventsLost: number;
  readonly errors: readonly string[];
}

/**
 * Everything one host saw in one interval. `timeMs` is the interval boundary the snapshot was taken at
 * (a multiple of intervalMs): it shows the sockets alive then and what happened in the interval that ends
 * there. (hostId, timeMs) is the snapshot's identity: writing the same snapshot twice adds nothing.
 */
export interface Snapshot {
  readonly hostId: string;
  readonly timeMs: number;
  readonly intervalMs: number;
  readonly connections: readonly ConnectionRow[];
  readonly nat: readonly NatTranslation[];
  readonly listening: readonly ListeningSocket[];
  readonly processes: readonly ProcessInfo[];
  /** Names addresses had (snooped DNS answers, reverse lookups) learnt or still in use in this interval. Absent: none. */
  readonly names?: readonly NameObservation[];
  readonly completeness: Completeness;
}
