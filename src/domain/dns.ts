import { isIP } from 'node:net';
/**
 * Names of addresses: what DNS said an address was called, and when. Plain types; the collector produces
 * them (snooped answers, reverse lookups), a snapshot carries them, the store keeps them over time.
 */

/** snoop: an answer a process on the host received; reverse: a PTR lookup conntrail made itself. */
export type NameSourceKind = 'snoop' | 'reverse';

export interface NameObservation {
  readonly source: NameSourceKind;
  /** Network namespace of the process that received the answer; null for reverse lookups (host-wide). */
  readonly netns: number | null;
  /** Textual address, canonical as in Endpoint.address. */
  readonly address: string;
  /** Lower-case name without the trailing dot. */
  readonly name: string;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  /** True when this is the name the process asked for (the question of a snooped answer, not a CNAME target). */
  readonly asked: boolean;
  /** TTL of the latest answer, seconds; null when unknown. */
  readonly ttlSeconds: number | null;
  /** The process that received the answer (snoop), when known. */
  readonly pid: number | null;
  readonly processStartedAtMs: number | null;
}

/** A validation problem with a name row, or null (used by the store writer like validate.ts). */
export function validateName(n: NameObservation): string | null {
  if (n.source !== 'snoop' && n.source !== 'reverse') return `bad source ${String(n.source)}`;
  if (typeof n.address !== 'string' || isIP(n.address) === 0) return `address is not an IP address (got ${JSON.stringify(n.address)})`;
  if (typeof n.name !== 'string' || n.name.length === 0 || n.name.length > 253) return 'bad name';
  if (!Number.isFinite(n.firstSeenMs) || !Number.isFinite(n.lastSeenMs) || n.lastSeenMs < n.firstSeenMs) return 'bad first/last seen';
  if (typeof n.asked !== 'boolean') return 'bad asked flag';
  if (n.netns !== null && !(Number.isInteger(n.netns) && n.netns >= 0)) return 'bad netns';
  if (n.pid !== null && !(Number.isInteger(n.pid) && n.pid > 0 && Number.isFinite(n.processStartedAtMs))) return 'bad process';
  if (n.ttlSeconds !== null && !(Number.isInteger(n.ttlSeconds) && n.ttlSeconds >= 0 && n.ttlSeconds <= 0x7fffffff)) return 'bad ttl';
  return null;
}
