import { readFile, readlink } from 'node:fs/promises';
import type { NatTranslation } from '../../../domain/connection.js';
import { readProcConntrack } from './list.js';
import { flowToNat } from './nat.js';
import { discoverNamespaces, netnsInodeOf, type NamespaceEntry } from './namespaces.js';
import { parseConntrackText } from './parse.js';
import type { Flow } from './types.js';

/**
 * The conntrack tables of the host's other network namespaces (a container's own iptables, a sidecar's
 * REDIRECT), polled once per interval: /proc/<pid>/net/nf_conntrack of one process per namespace (the kernel
 * shows each namespace's table there), or, for a named namespace without processes, the same file read from
 * inside it (nsenter). Only translated entries are kept, each tagged with its namespace's inode.
 *
 * Why polling and not one `conntrack -E` per namespace: a hundred namespaces would be a hundred long-lived
 * helper processes and netlink sockets; a file read per namespace per interval costs a fraction of that. What
 * polling cannot see is a translated connection that began and ended between two reads (the table keeps
 * closed TCP entries about two minutes in TIME_WAIT, so short TCP connections are mostly still there).
 *
 * Cost bounds: at most `concurrency` reads at once, no new read started after `budgetMs` (the rest are read
 * first next time and counted as deferred), a namespace that vanishes mid-read (its processes exited, or a pid
 * was reused by a process of another namespace) is skipped and counted.
 */

export interface NamespaceTablesOptions {
  /** Our own namespace: its table is the event-streamed source's, not polled here. */
  readonly ownNetns: number;
  readonly procRoot?: string;
  readonly netnsDir?: string | null;
  readonly concurrency?: number;
  readonly budgetMs?: number;
  /** Also read named namespaces without processes (one nsenter each); default true. */
  readonly readMounts?: boolean;
}

export interface NamespaceTablesReading {
  readonly nat: readonly NatTranslation[];
  /** Namespaces whose table was read. */
  readonly read: number;
  /** Namespaces gone before or while their table was read. */
  readonly vanished: number;
  /** Namespaces not read this time because the budget was spent. */
  readonly deferred: number;
  /** Table lines that could not be parsed. */
  readonly malformed: number;
  /** Tables that could not be read for another reason (conntrack not loaded there, permissions). */
  readonly failures: readonly string[];
  readonly durationMs: number;
}

export const DEFAULT_NAMESPACE_CONCURRENCY = 8;
export const DEFAULT_NAMESPACE_BUDGET_MS = 3_000;
/** Pids tried per namespace before it counts as vanished. */
const PIDS_TRIED = 3;

interface Sighting {
  readonly firstMs: number;
  readonly endedMs: number | null;
}

/** TCP states in which the connection is over and the entry only lingers until its timeout. */
const ENDED: ReadonlySet<string> = new Set(['TIME_WAIT', 'CLOSE']);

interface NamespaceState {
  /** Translated entries seen, by tuple pair: first sighting, and when first seen over (TIME_WAIT, CLOSE). */
  readonly seen: Map<string, Sighting>;
}

type TableResult =
  | { readonly kind: 'ok'; readonly flows: readonly Flow[]; readonly malformed: number }
  | { readonly kind: 'vanished' }
  | { readonly kind: 'failed'; readonly reason: string };

/** /proc lines carry no conntrack id: the tuple pair names the entry. */
function entryKey(f: Flow): string {
  const o = f.original, r = f.reply;
  return `${f.protocol}|${o.src}|${o.srcPort}|${o.dst}|${o.dstPort}|${r.src}|${r.srcPort}|${r.dst}|${r.dstPort}`;
}

async function readViaPid(root: string, ns: NamespaceEntry): Promise<TableResult> {
  for (const pid of ns.pids.slice(0, PIDS_TRIED)) {
    let text: string;
    try {
      text = await readFile(`${root}/${pid}/net/nf_conntrack`, 'utf8');
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ENOENT' || code === 'ESRCH') continue; // the process exited: try the next one
      return { kind: 'failed', reason: `${root}/${pid}/net/nf_conntrack: ${code ?? String(err)}` };
    }
    // The pid may have been reused by a process of another namespace while we read: check it still is this one.
    const after = await readlink(`${root}/${pid}/ns/net`).then(netnsInodeOf, () => null);
    if (after !== ns.inode) continue;
    const parsed = parseConntrackText(text);
    return { kind: 'ok', flows: parsed.flows, malformed: parsed.malformed };
  }
  return { kind: 'vanished' };
}

async function readViaMount(ns: NamespaceEntry, signal: AbortSignal): Promise<TableResult> {
  const listing = await readProcConntrack({ netnsPath: ns.mountPath!, timeoutMs: 10_000, signal });
  if (listing.available) return { kind: 'ok', flows: listing.flows, malformed: listing.malformed };
  // An unmounted (deleted) namespace fails to enter: that is a vanished one, not an error.
  if (/No such file|Invalid argument/i.test(listing.reason)) return { kind: 'vanished' };
  return { kind: 'failed', reason: listing.reason };
}

export class NamespaceConntrackTables {
  private readonly options: NamespaceTablesOptions;
  private readonly state = new Map<number, NamespaceState>();
  /** Namespaces the budget left unread, read first next time. */
  private deferredFirst = new Set<number>();

  constructor(options: NamespaceTablesOptions) {
    this.options = options;
  }

  async read(signal: AbortSignal): Promise<NamespaceTablesReading> {
    const started = performance.now();
    const root = this.options.procRoot ?? '/proc';
    const budget = this.options.budgetMs ?? DEFAULT_NAMESPACE_BUDGET_MS;
    const readMounts = this.options.readMounts ?? true;
    const discovery = await discoverNamespaces({ procRoot: root, ...(this.options.netnsDir !== undefined ? { netnsDir: this.options.netnsDir } : {}) });
    const all = discovery.namespaces.filter((n) => n.inode !== this.options.ownNetns && (n.pids.length > 0 || readMounts));
    // Forget namespaces that are gone: their entries went with them.
    const present = new Set(all.map((n) => n.inode));
    for (const inode of this.state.keys()) if (!present.has(inode)) this.state.delete(inode);
    const queue = [...all.filter((n) => this.deferredFirst.has(n.inode)), ...all.filter((n) => !this.deferredFirst.has(n.inode))];
    const nat: NatTranslation[] = [];
    const failures: string[] = [];
    let readCount = 0, vanished = 0, malformed = 0;
    const deferred = new Set<number>();
    const now = Date.now();
    let next = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        const ns = queue[next++];
        if (ns === undefined) return;
        if (signal.aborted || performance.now() - started > budget) {
          deferred.add(ns.inode);
          continue;
        }
        const result = ns.pids.length > 0 ? await readViaPid(root, ns) : await readViaMount(ns, signal);
        if (result.kind === 'vanished') {
          vanished++;
          this.state.delete(ns.inode);
          continue;
        }
        if (result.kind === 'failed') {
          failures.push(result.reason);
          continue;
        }
        readCount++;
        malformed += result.malformed;
        nat.push(...this.translations(ns.inode, result.flows, now));
      }
    };
    const concurrency = Math.max(1, this.options.concurrency ?? DEFAULT_NAMESPACE_CONCURRENCY);
    await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, () => worker()));
    this.deferredFirst = deferred;
    return { nat, read: readCount, vanished, deferred: deferred.size, malformed, failures, durationMs: performance.now() - started };
  }

  /** The translated entries of one table as NAT rows of its namespace; an entry counts as new in its first reading. */
  private translations(inode: number, flows: readonly Flow[], now: number): NatTranslation[] {
    const prior = this.state.get(inode)?.seen ?? new Map<string, Sighting>();
    const seen = new Map<string, Sighting>();
    const out: NatTranslation[] = [];
    for (const flow of flows) {
      if (flow.kind === null) continue;
      const key = entryKey(flow);
      const before = prior.get(key);
      const ended = flow.state !== null && ENDED.has(flow.state);
      // A connection over is not seen again just because its entry lingers: its last sighting stays when it ended.
      const sighting: Sighting = { firstMs: before?.firstMs ?? now, endedMs: before?.endedMs ?? (ended ? now : null) };
      seen.set(key, sighting);
      const n = flowToNat(flow, inode, sighting.firstMs, sighting.endedMs ?? now, before === undefined ? 1 : 0);
      if (n) out.push(n);
    }
    this.state.set(inode, { seen });
    return out;
  }
}
