import { Resolver } from 'node:dns/promises';
import type { NameObservation } from '../../../domain/dns.js';

/**
 * Reverse (PTR) lookups in the background: addresses are queued by the interval path (a Set insertion,
 * nothing awaited there) and resolved by a timer at most `perSecond` at a time, each with a timeout, one
 * try. Results (names and failures) are cached for `cacheMs`, so an address is looked up again only after
 * that; the queue and the cache are bounded, and what does not fit is counted and dropped.
 */

export interface ReverseOptions {
  /** DNS server(s) to ask, "ip" or "ip:port"; empty: the system's (resolv.conf). */
  readonly servers: readonly string[];
  readonly perSecond: number;
  readonly timeoutMs: number;
  readonly cacheMs: number;
  readonly maxCache: number;
  readonly maxQueue: number;
}

export interface ReverseStats {
  readonly lookups: number;
  readonly failures: number;
  readonly queueDropped: number;
  readonly queued: number;
}

export class ReverseResolver {
  private readonly resolver: Resolver;
  private readonly cache = new Map<string, number>(); // address -> when it was looked up
  private readonly queue = new Set<string>();
  private readonly done: NameObservation[] = [];
  private readonly timer: NodeJS.Timeout;
  private inFlight = 0;
  private counts = { lookups: 0, failures: 0, queueDropped: 0 };
  private closed = false;

  constructor(private readonly o: ReverseOptions, private readonly now: () => number = Date.now) {
    this.resolver = new Resolver({ timeout: o.timeoutMs, tries: 1 });
    if (o.servers.length > 0) this.resolver.setServers([...o.servers]);
    // Ten slices a second keep the rate smooth; unref: it never holds the process up.
    this.timer = setInterval(() => this.pump(), 100);
    this.timer.unref();
  }

  stats(): ReverseStats {
    return { ...this.counts, queued: this.queue.size };
  }

  /** Queues addresses not looked up lately. Never waits. */
  want(addresses: Iterable<string>): void {
    const now = this.now();
    for (const a of addresses) {
      const at = this.cache.get(a);
      if (at !== undefined && now - at < this.o.cacheMs) continue;
      if (this.queue.has(a)) continue;
      if (this.queue.size >= this.o.maxQueue) {
        this.counts.queueDropped++;
        continue;
      }
      this.queue.add(a);
    }
  }

  /** Names found since the previous call. */
  take(): NameObservation[] {
    return this.done.splice(0, this.done.length);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.resolver.cancel();
  }

  private pump(): void {
    const slice = Math.max(1, Math.floor(this.o.perSecond / 10));
    // In-flight lookups count against the rate too: a slow server never piles up more than one second's worth.
    let budget = Math.min(slice, this.o.perSecond - this.inFlight);
    for (const address of this.queue) {
      if (budget-- <= 0) break;
      this.queue.delete(address);
      void this.lookup(address);
    }
  }

  private async lookup(address: string): Promise<void> {
    this.inFlight++;
    this.counts.lookups++;
    const started = this.now();
    this.remember(address, started);
    try {
      const names = await this.resolver.reverse(address);
      if (this.closed) return;
      const at = this.now();
      for (const raw of names) {
        const name = raw.toLowerCase().replace(/\.$/, '');
        if (name.length === 0 || name.length > 253) continue;
        this.done.push({ source: 'reverse', netns: null, address, name, asked: false, firstSeenMs: at, lastSeenMs: at, ttlSeconds: null, pid: null, processStartedAtMs: null });
      }
    } catch {
      // NXDOMAIN, timeout, refused: cached as "no name" until cacheMs passes, like a negative answer.
      this.counts.failures++;
    } finally {
      this.inFlight--;
    }
  }

  private remember(address: string, at: number): void {
    this.cache.delete(address);
    if (this.cache.size >= this.o.maxCache) {
      const oldest = this.cache.keys().next();
      if (oldest.done !== true) this.cache.delete(oldest.value);
    }
    this.cache.set(address, at);
  }
}
