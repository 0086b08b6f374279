/**
 * Per-request DataLoaders: every nested field (a host's processes, a process's connections, a connection's
 * process...) is collected for one tick and read with one statement per distinct set of arguments, so the
 * number of statements is bounded by the shape of the query, never by the number of rows.
 */
import DataLoader from 'dataloader';
import type { Database } from '../store/index.js';
import { fleetCoverage, type FleetCoverage } from '../domain/fleet-coverage.js';
import type { BatchObserver, LoaderName } from './metrics.js';
import type { RootGate } from './root-gate.js';
import {
  fetchConnectionPages, fetchCoverage, fetchFleetCoverage, fetchListenerPages, fetchProcessPages, fetchSnapshotPages, hostsByIds, processParentKey, processesByKeys,
  type ConnectionFilter, type ConnectionKey, type ConnectionRecord, type Coverage, type HostRecord, type ListenerFilter, type ListenerKey, type ListenerRecord, type Page, type ProcessKeyset,
  namesForAddresses, nameKeyOf, type AddressNames, type NameKey,
  type ProcessParent, type ProcessRecord, type SnapshotKey, type SnapshotRecord, type TimeRange,
} from '../store/index.js';

/** A keyed request whose arguments are shared by a batch: argsKey groups, parentKey picks the row set. */
interface Keyed {
  readonly argsKey: string;
  readonly parentKey: string;
}

export interface ConnectionPageKey extends Keyed {
  readonly parent: { readonly kind: 'host'; readonly hostId: string } | { readonly kind: 'process'; readonly process: ProcessParent };
  readonly window: TimeRange;
  readonly filter: ConnectionFilter | null;
  readonly first: number;
  readonly after: ConnectionKey | null;
}

export interface ProcessPageKey extends Keyed {
  readonly hostId: string;
  readonly window: TimeRange | null;
  readonly first: number;
  readonly after: ProcessKeyset | null;
}

export interface SnapshotPageKey extends Keyed {
  readonly hostId: string;
  readonly window: TimeRange;
  readonly first: number;
  readonly after: SnapshotKey | null;
}

export interface CoverageKey extends Keyed {
  readonly hostId: string;
  readonly window: TimeRange;
}

export interface ListenerPageKey extends Keyed {
  readonly parent: { readonly kind: 'host'; readonly hostId: string } | { readonly kind: 'process'; readonly process: ProcessParent };
  readonly window: TimeRange;
  readonly filter: ListenerFilter | null;
  readonly first: number;
  readonly after: ListenerKey | null;
}

export interface Loaders {
  readonly host: DataLoader<string, HostRecord | null>;
  readonly process: DataLoader<ProcessParent, ProcessRecord | null, string>;
  readonly connectionPage: DataLoader<ConnectionPageKey, Page<ConnectionRecord>, string>;
  readonly processPage: DataLoader<ProcessPageKey, Page<ProcessRecord>, string>;
  readonly snapshotPage: DataLoader<SnapshotPageKey, Page<SnapshotRecord>, string>;
  readonly coverage: DataLoader<CoverageKey, Coverage | null, string>;
  /**
   * Which hosts had (complete) data in a window: one statement per batch, whatever the number of windows in it,
   * and the batch waits for every root field of the request, so a request reads the snapshots at most once.
   */
  readonly fleetCoverage: DataLoader<TimeRange, FleetCoverage, string>;
  readonly listenerPage: DataLoader<ListenerPageKey, Page<ListenerRecord>, string>;
  /** The DNS names of an address over a window: one statement per batch, whatever the number of endpoints. */
  readonly names: DataLoader<NameKey, AddressNames, string>;
}

const EMPTY_PAGE: Page<never> = Object.freeze({ rows: [], hasNextPage: false }) as Page<never>;

/** `fn` reporting each batch's size (the API's metrics) before it runs. */
function observed<K, V>(name: LoaderName, onBatch: BatchObserver, fn: (keys: readonly K[]) => Promise<readonly V[]>): (keys: readonly K[]) => Promise<readonly V[]> {
  return (keys) => {
    onBatch(name, keys.length);
    return fn(keys);
  };
}

/** A loader whose batch splits by argsKey; each group is one call of `load`, which answers per parentKey. */
function groupedLoader<K extends Keyed, V>(name: LoaderName, onBatch: BatchObserver, load: (keys: K[]) => Promise<Map<string, V>>, missing: V): DataLoader<K, V, string> {
  return new DataLoader<K, V, string>(observed(name, onBatch, async (keys: readonly K[]) => {
    const groups = new Map<string, K[]>();
    for (const k of keys) {
      const g = groups.get(k.argsKey);
      if (g) g.push(k);
      else groups.set(k.argsKey, [k]);
    }
    const answers = new Map<string, Map<string, V>>();
    await Promise.all([...groups].map(async ([argsKey, group]) => answers.set(argsKey, await load(group))));
    return keys.map((k) => answers.get(k.argsKey)?.get(k.parentKey) ?? missing);
  }), { cacheKeyFn: (k) => `${k.argsKey}#${k.parentKey}` });
}

export function argsKeyOf(value: unknown): string {
  return JSON.stringify(value);
}

export function createLoaders(db: Database, gate: RootGate, onBatch: BatchObserver = () => undefined): Loaders {
  return {
    host: new DataLoader<string, HostRecord | null>(observed('host', onBatch, async (ids: readonly string[]) => {
      const rows = await hostsByIds(db, ids);
      const byId = new Map(rows.map((h) => [h.id, h]));
      return ids.map((id) => byId.get(id) ?? null);
    })),
    process: new DataLoader<ProcessParent, ProcessRecord | null, string>(observed('process', onBatch, async (keys: readonly ProcessParent[]) => {
      const rows = await processesByKeys(db, keys);
      const byKey = new Map(rows.map((p) => [processParentKey(p), p]));
      return keys.map((k) => byKey.get(processParentKey(k)) ?? null);
    }), { cacheKeyFn: processParentKey }),
    connectionPage: groupedLoader<ConnectionPageKey, Page<ConnectionRecord>>('connectionPage', onBatch, async (keys) => {
      const k0 = keys[0]!;
      const page = { first: k0.first, after: k0.after };
      const scope = k0.parent.kind === 'host'
        ? { kind: 'hosts' as const, hostIds: keys.map((k) => (k.parent.kind === 'host' ? k.parent.hostId : '')) }
        : { kind: 'processes' as const, processes: keys.flatMap((k) => (k.parent.kind === 'process' ? [k.parent.process] : [])) };
      return fetchConnectionPages(db, scope, k0.window, k0.filter, page);
    }, EMPTY_PAGE),
    processPage: groupedLoader<ProcessPageKey, Page<ProcessRecord>>('processPage', onBatch, async (keys) => {
      const k0 = keys[0]!;
      return fetchProcessPages(db, keys.map((k) => k.hostId), k0.window, { first: k0.first, after: k0.after });
    }, EMPTY_PAGE),
    snapshotPage: groupedLoader<SnapshotPageKey, Page<SnapshotRecord>>('snapshotPage', onBatch, async (keys) => {
      const k0 = keys[0]!;
      return fetchSnapshotPages(db, keys.map((k) => k.hostId), k0.window, { first: k0.first, after: k0.after });
    }, EMPTY_PAGE),
    coverage: groupedLoader<CoverageKey, Coverage | null>('coverage', onBatch, async (keys) => fetchCoverage(db, keys.map((k) => k.hostId), keys[0]!.window), null),
    fleetCoverage: new DataLoader<TimeRange, FleetCoverage, string>(observed('fleetCoverage', onBatch, async (windows: readonly TimeRange[]) => {
      const facts = await fetchFleetCoverage(db, windows);
      return windows.map((w, i) => fleetCoverage(w, facts.hosts[i] ?? [], facts.keptFromMs));
    }), { cacheKeyFn: (w) => `${w.fromMs}|${w.toMs}`, batchScheduleFn: (dispatch) => gate.whenIdle(dispatch) }),
    // argsKey includes the parent kind, so a batch is all hosts or all processes.
    listenerPage: groupedLoader<ListenerPageKey, Page<ListenerRecord>>('listenerPage', onBatch, async (keys) => {
      const k0 = keys[0]!;
      const scope = k0.parent.kind === 'host'
        ? { kind: 'hosts' as const, hostIds: keys.flatMap((k) => (k.parent.kind === 'host' ? [k.parent.hostId] : [])) }
        : { kind: 'processes' as const, processes: keys.flatMap((k) => (k.parent.kind === 'process' ? [k.parent.process] : [])) };
      return fetchListenerPages(db, scope, k0.window, k0.filter, { first: k0.first, after: k0.after });
    }, EMPTY_PAGE),
    names: new DataLoader<NameKey, AddressNames, string>(observed('names', onBatch, (keys: readonly NameKey[]) => namesForAddresses(db, keys)), { cacheKeyFn: nameKeyOf }),
  };
}
