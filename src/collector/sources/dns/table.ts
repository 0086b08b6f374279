import type { NameObservation } from '../../../domain/dns.js';

/**
 * The names learnt so far, bounded: at most `maxEntries` (netns, address, name) entries, the one seen
 * longest ago evicted first. Each snapshot takes the entries changed since the previous one, and again
 * those still in use (their address in the snapshot) once per `reannounceMs`, so that a store query
 * looking back a bounded time finds the name of a connection that outlives its answer by days.
 */

interface Entry {
  obs: NameObservation;
  dirty: boolean;
  announcedMs: number;
}

export interface NameTableStats {
  readonly entries: number;
  readonly evicted: number;
}

export class NameTable {
  private readonly entries = new Map<string, Entry>();
  private readonly byAddress = new Map<string, Set<string>>();
  private evicted = 0;

  constructor(private readonly maxEntries: number, private readonly reannounceMs: number) {}

  stats(): NameTableStats {
    return { entries: this.entries.size, evicted: this.evicted };
  }

  /** Records one sighting of address -> name. */
  see(obs: NameObservation): void {
    const key = `${obs.source}|${obs.netns ?? '-'}|${obs.address}|${obs.name}`;
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.entries.delete(key); // re-inserted below: Map order is then least recently seen first
      old.obs = {
        ...obs,
        asked: obs.asked || old.obs.asked,
        firstSeenMs: Math.min(old.obs.firstSeenMs, obs.firstSeenMs),
        lastSeenMs: Math.max(old.obs.lastSeenMs, obs.lastSeenMs),
        pid: obs.pid ?? old.obs.pid,
        processStartedAtMs: obs.pid !== null ? obs.processStartedAtMs : old.obs.processStartedAtMs,
      };
      old.dirty = true;
      this.entries.set(key, old);
      return;
    }
    while (this.entries.size >= this.maxEntries) this.evictOldest();
    this.entries.set(key, { obs, dirty: true, announcedMs: 0 });
    let keys = this.byAddress.get(obs.address);
    if (keys === undefined) this.byAddress.set(obs.address, (keys = new Set()));
    keys.add(key);
  }

  /** The entries to write with the snapshot at `timeMs` whose connections touch `inUse` addresses. */
  take(timeMs: number, inUse: ReadonlySet<string>): NameObservation[] {
    const out: NameObservation[] = [];
    const emit = (e: Entry): void => {
      e.dirty = false;
      e.announcedMs = timeMs;
      out.push(e.obs);
    };
    for (const e of this.entries.values()) if (e.dirty) emit(e);
    for (const address of inUse) {
      for (const key of this.byAddress.get(address) ?? []) {
        const e = this.entries.get(key);
        if (e !== undefined && timeMs - e.announcedMs >= this.reannounceMs) emit(e);
      }
    }
    return out;
  }

  private evictOldest(): void {
    const first = this.entries.keys().next();
    if (first.done === true) return;
    const key = first.value;
    const e = this.entries.get(key);
    this.entries.delete(key);
    this.evicted++;
    if (e === undefined) return;
    const keys = this.byAddress.get(e.obs.address);
    keys?.delete(key);
    if (keys !== undefined && keys.size === 0) this.byAddress.delete(e.obs.address);
  }
}
