import { networkInterfaces } from 'node:os';
import { readlinkSync } from 'node:fs';
import type { NatTranslation, SocketObservation } from '../../domain/connection.js';
import type { SourceRun } from '../../domain/snapshot.js';
import type { Logger } from '../../domain/logger.js';
import type { ConnectionSource, SourceReading } from '../source.js';
import { ConntrackStream, flowToNat, flowToObservation, listConntrack, type ConntrackEvent, type Flow } from './conntrack/index.js';

/**
 * Conntrack as a source: the table at start (`conntrack -L`, or /proc/net/nf_conntrack when the tool is
 * missing), then the event stream (`conntrack -E`), so connections shorter than an interval and every NAT
 * translation are seen. A flow becomes a connection observation only when it starts or ends on this host
 * (one of its addresses is ours); forwarded flows (a router's) give NAT translations only. The stream is
 * restarted when it dies; losses (netlink overruns, restarts) are counted in the completeness record.
 */
export interface ConntrackSourceOptions {
  readonly logger: Logger;
  /** Namespace inode the flows are tagged with (default: our own). */
  readonly netns?: number;
  /** Enter another namespace (a path like /proc/PID/ns/net) for the tool. */
  readonly netnsPath?: string;
  readonly bufferSize?: number;
  /** Addresses of this host; default: the interfaces of our namespace. */
  readonly localAddresses?: () => ReadonlySet<string>;
}

interface Tracked {
  flow: Flow;
  firstSeenMs: number;
  lastSeenMs: number;
  /** When the connection ended: conntrack reached TIME_WAIT or CLOSE, or destroyed the entry. */
  closedAtMs: number | null;
  /**
   * Reported closed (or closed before we started): the entry lingers in the kernel table until its timeout
   * (two minutes in TIME_WAIT) but the connection is over, so it is not reported again; kept until DESTROY
   * so that event is not taken for a connection of its own.
   */
  done: boolean;
  /** DESTROY was seen: nothing more will come for this entry. */
  destroyed: boolean;
  /** Its translation was reported in a reading already (the next ones are not new). */
  natReported?: boolean;
  /**
   * The observation made of `flow` while open: an unchanged flow is reported with the same object each
   * read, which lets the tracker recognise it without looking inside (as for the other sources).
   */
  observed?: { readonly flow: Flow; readonly observation: SocketObservation };
}

/** Conntrack TCP states in which the connection itself is over (the entry only waits for late packets). */
const ENDED_STATES: ReadonlySet<string> = new Set(['TIME_WAIT', 'CLOSE']);

function ended(flow: Flow): boolean {
  return flow.state !== null && ENDED_STATES.has(flow.state);
}

const MAX_TRACKED_FLOWS = 262_144;

function ownNetns(): number {
  try {
    const link = readlinkSync('/proc/self/ns/net');
    return Number(/\[(\d+)\]/.exec(link)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function interfaceAddresses(): ReadonlySet<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(a.address);
  return out;
}

/** The entry's id when known (a tuple reused after DESTROY is another entry), else its original tuple. */
function flowKey(f: Flow): string {
  const o = f.original;
  return `${f.protocol}|${o.src}|${o.srcPort}|${o.dst}|${o.dstPort}|${f.id ?? ''}`;
}

export class ConntrackSource implements ConnectionSource {
  readonly name = 'conntrack' as const;
  private readonly options: ConntrackSourceOptions;
  private readonly netns: number;
  /** Flows seen since the last read (and, until closed, still alive). */
  private readonly live = new Map<string, Tracked>();
  private stream: ConntrackStream | null = null;
  private started: Promise<void> | null = null;
  /** Losses of streams that ended, not yet reported; and what the current stream already reported. */
  private carried = { lost: 0, skipped: 0 };
  private reported = { lost: 0, skipped: 0 };
  private unavailable: string | null = null;
  private closing = false;

  constructor(options: ConntrackSourceOptions) {
    this.options = options;
    this.netns = options.netns ?? ownNetns();
  }

  /** Lists the table and starts the stream (also done by the first read). */
  start(): Promise<void> {
    this.started ??= this.begin();
    return this.started;
  }

  async read(signal: AbortSignal): Promise<SourceReading> {
    const startedAt = performance.now();
    await this.start();
    if (signal.aborted) throw signal.reason;
    const local = (this.options.localAddresses ?? interfaceAddresses)();
    const observations: SocketObservation[] = [];
    const nat: NatTranslation[] = [];
    for (const [key, t] of this.live) {
      if (t.done) continue;
      const n = flowToNat(t.flow, this.netns, t.firstSeenMs, t.lastSeenMs, t.natReported ? 0 : 1);
      if (n) {
        nat.push(n);
        t.natReported = true;
      }
      const originalIsLocal = local.has(t.flow.original.src);
      if (originalIsLocal || local.has(t.flow.reply.src)) {
        if (t.closedAtMs === null && t.observed?.flow === t.flow) observations.push(t.observed.observation);
        else {
          const observation = flowToObservation(t.flow, this.netns, { openedAtMs: t.firstSeenMs, closedAtMs: t.closedAtMs }, originalIsLocal);
          t.observed = { flow: t.flow, observation };
          observations.push(observation);
        }
      }
      if (t.closedAtMs === null) t.lastSeenMs = Date.now();
      else if (t.destroyed) this.live.delete(key);
      else t.done = true;
    }
    const stats = this.stream?.stats() ?? { lost: 0, malformed: 0 };
    const lost = this.carried.lost + stats.lost - this.reported.lost;
    const skipped = this.carried.skipped + stats.malformed - this.reported.skipped;
    this.carried = { lost: 0, skipped: 0 };
    this.reported = { lost: stats.lost, skipped: stats.malformed };
    const run: SourceRun = {
      name: 'conntrack', ok: this.unavailable === null, durationMs: performance.now() - startedAt,
      skipped, lost, error: this.unavailable,
    };
    return { observations, nat, listening: [], processes: [], run };
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.stream?.stop();
  }

  private async begin(): Promise<void> {
    const listing = await listConntrack({ ...(this.options.netnsPath ? { netnsPath: this.options.netnsPath } : {}) });
    if (!listing.available) {
      this.unavailable = `conntrack unavailable: ${listing.reason}`;
      this.options.logger.warn({ reason: listing.reason }, 'conntrack source unavailable: short-lived connections and NAT will not be seen');
      return;
    }
    if (listing.via === 'proc') {
      this.options.logger.warn({}, 'conntrack tool missing: read /proc/net/nf_conntrack once; no event stream, so connections shorter than an interval are missed');
      this.unavailable = 'conntrack tool missing: table read from /proc/net/nf_conntrack, no event stream';
    }
    const now = Date.now();
    this.carried.skipped += listing.malformed;
    // Entries already over when we start are not connections of ours to report (only their DESTROY is to come).
    for (const flow of listing.flows) {
      this.live.set(flowKey(flow), { flow, firstSeenMs: now, lastSeenMs: now, closedAtMs: ended(flow) ? now : null, done: ended(flow), destroyed: false });
    }
    if (listing.via === 'conntrack') this.startStream();
  }

  private startStream(): void {
    const stream = ConntrackStream.start({
      logger: this.options.logger,
      // UPDATE too: the state follows the kernel's (a flow is not SYN_SENT for its whole life), and its end is seen
      // when it happens rather than when the entry times out.
      events: ['NEW', 'UPDATE', 'DESTROY'],
      ...(this.options.netnsPath ? { netnsPath: this.options.netnsPath } : {}),
      ...(this.options.bufferSize ? { bufferSize: this.options.bufferSize } : {}),
    }, (event) => this.onEvent(event));
    this.stream = stream;
    stream.on('exit', (exit) => {
      if (this.closing || exit.requested) return;
      // Whatever happened while no stream ran is unknown: count the gap as a loss and start again.
      this.carried = {
        lost: this.carried.lost + exit.stats.lost - this.reported.lost + 1,
        skipped: this.carried.skipped + exit.stats.malformed - this.reported.skipped,
      };
      this.reported = { lost: 0, skipped: 0 };
      this.options.logger.warn({ reason: exit.reason }, 'conntrack event stream ended; restarting');
      if (exit.unavailable) {
        this.unavailable = `conntrack stream unavailable: ${exit.reason}`;
        return;
      }
      setTimeout(() => { if (!this.closing) this.startStream(); }, 1000).unref();
    });
  }

  private onEvent(event: ConntrackEvent): void {
    const key = flowKey(event.flow);
    const at = event.timestampMs ?? Date.now();
    const known = this.live.get(key);
    if (event.type === 'DESTROY') {
      if (known?.done) this.live.delete(key);
      else if (known) {
        known.destroyed = true;
        known.lastSeenMs = at;
        known.closedAtMs ??= at;
        // DESTROY events carry no state; keep what the last event told us, but take counters if present.
        if (event.flow.originalCounters) known.flow = { ...known.flow, originalCounters: event.flow.originalCounters, replyCounters: event.flow.replyCounters };
      } else if (this.live.size < MAX_TRACKED_FLOWS) {
        this.live.set(key, { flow: event.flow, firstSeenMs: at, lastSeenMs: at, closedAtMs: at, done: false, destroyed: true });
      } else {
        this.carried.lost++;
      }
      return;
    }
    if (known) {
      if (known.done) return; // late packets of a connection already over
      // UPDATE events of a TCP flow carry its new state; one without state (UDP) keeps what was known.
      known.flow = event.flow.state === null && known.flow.state !== null ? { ...event.flow, state: known.flow.state } : event.flow;
      known.lastSeenMs = at;
      if (known.closedAtMs === null && ended(known.flow)) known.closedAtMs = at;
    } else if (this.live.size >= MAX_TRACKED_FLOWS) {
      this.carried.lost++; // bounded memory: a flow we cannot hold is a lost event, and says so
    } else {
      this.live.set(key, { flow: event.flow, firstSeenMs: at, lastSeenMs: at, closedAtMs: ended(event.flow) ? at : null, done: false, destroyed: false });
    }
  }
}
