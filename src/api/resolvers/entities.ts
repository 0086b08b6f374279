/**
 * Hosts, processes and completeness records, with their nested lists read through the per-request loaders.
 */
import { coverageGaps } from '../../domain/coverage.js';
import {
  isConnectionKey, isProcessKeyset, isSnapshotKey, listHosts, processAt,
  type ConnectionRecord, type HostRecord, type ProcessRecord, type SnapshotRecord, type TimeRange,
} from '../../store/index.js';
import type { ApiContext } from '../context.js';
import { decodeCursor } from '../cursor.js';
import { ApiError } from '../errors.js';
import { argsKeyOf } from '../loaders.js';
import { checkPageSize, checkPid, checkRange } from '../limits.js';
import type {
  HostConnectionsArgs, HostProcessesArgs, HostSnapshotsArgs, ProcessConnectionsArgs, QueryHostArgs, QueryProcessArgs, QuerySnapshotsArgs,
} from '../generated/graphql.js';
import { checkConnectionFilter } from './records.js';
import { relayPage, relayPageBy, windowOf, type ConnectionPageParent, type HostParent, type ProcessParentRef } from './shapes.js';

const DEFAULT_PAGE = 100;

/** Host.connections and Process.connections take the same arguments. */
type ConnectionsArgs = HostConnectionsArgs & ProcessConnectionsArgs;

interface SnapshotsParent {
  readonly hostId: string;
  readonly window: TimeRange;
  readonly first: number;
  readonly after: [number] | null;
}

type ProcessParentValue = ProcessParentRef | ProcessRecord;

function isFullProcess(p: ProcessParentValue): p is ProcessRecord {
  return 'cmdline' in p;
}

async function fullProcess(p: ProcessParentValue, ctx: ApiContext): Promise<ProcessRecord | null> {
  return isFullProcess(p) ? p : ctx.loaders.process.load({ hostId: p.hostId, pid: p.pid, startedUs: p.startedUs });
}

async function hostRecord(h: HostParent, ctx: ApiContext): Promise<HostRecord> {
  if (h.firstSeenMs !== undefined && h.lastSeenMs !== undefined) return { id: h.id, firstSeenMs: h.firstSeenMs, lastSeenMs: h.lastSeenMs };
  const record = await ctx.loaders.host.load(h.id);
  // Every host that wrote a row has a hosts record; a miss means the store is inconsistent.
  if (!record) throw new ApiError('INTERNAL_SERVER_ERROR', 'host record missing', { hostId: h.id });
  return record;
}

function connectionsOf(parent: { kind: 'host'; hostId: string } | { kind: 'process'; process: ProcessParentRef }, args: ConnectionsArgs, ctx: ApiContext): Promise<ConnectionPageParent<ConnectionRecord>> {
  const window = checkRange(args.range, ctx.limits.maxRawRangeMs, 'raw rows');
  const first = checkPageSize(ctx.limits, args.first, DEFAULT_PAGE, 'first');
  const after = decodeCursor('connection', args.after, isConnectionKey);
  const filter = checkConnectionFilter(args.filter);
  const parentKey = parent.kind === 'host' ? parent.hostId : `${parent.process.hostId}/${parent.process.pid}/${parent.process.startedUs}`;
  const processKey = parent.kind === 'process' ? { hostId: parent.process.hostId, pid: parent.process.pid, startedUs: parent.process.startedUs } : null;
  return ctx.loaders.connectionPage
    .load({
      parent: processKey ? { kind: 'process', process: processKey } : { kind: 'host', hostId: parentKey },
      window, filter, first, after, parentKey, argsKey: argsKeyOf([parent.kind, window, filter, first, after]),
    })
    .then((page) => relayPage('connection', page, after !== null));
}

function snapshotsOf(hostId: string, args: HostSnapshotsArgs, ctx: ApiContext): SnapshotsParent {
  const window = checkRange(args.range, ctx.limits.maxAggregateRangeMs, 'snapshots');
  const first = checkPageSize(ctx.limits, args.first, DEFAULT_PAGE, 'first');
  return { hostId, window, first, after: decodeCursor('snapshot', args.after, isSnapshotKey) };
}

export const entityQueries = {
  async hosts(_: unknown, __: unknown, ctx: ApiContext): Promise<HostParent[]> {
    return listHosts(ctx.db, ctx.limits.maxHosts);
  },
  async host(_: unknown, args: QueryHostArgs, ctx: ApiContext): Promise<HostParent | null> {
    return ctx.loaders.host.load(args.id);
  },
  async process(_: unknown, args: QueryProcessArgs, ctx: ApiContext): Promise<ProcessRecord | null> {
    return processAt(ctx.db, args.host, checkPid(args.pid, 'pid')!, args.at ?? null);
  },
  snapshots(_: unknown, args: QuerySnapshotsArgs, ctx: ApiContext): SnapshotsParent {
    return snapshotsOf(args.host, args, ctx);
  },
};

export const entityTypes = {
  Host: {
    firstSeen: async (h: HostParent, _: unknown, ctx: ApiContext) => (await hostRecord(h, ctx)).firstSeenMs,
    lastSeen: async (h: HostParent, _: unknown, ctx: ApiContext) => (await hostRecord(h, ctx)).lastSeenMs,
    async processes(h: HostParent, args: HostProcessesArgs, ctx: ApiContext) {
      const window = args.range ? checkRange(args.range, Number.MAX_SAFE_INTEGER, 'processes') : null;
      const first = checkPageSize(ctx.limits, args.first, DEFAULT_PAGE, 'first');
      const after = decodeCursor('process', args.after, isProcessKeyset);
      const page = await ctx.loaders.processPage.load({ hostId: h.id, window, first, after, parentKey: h.id, argsKey: argsKeyOf([window, first, after]) });
      return relayPageBy('process', page, (p) => [p.startedUs, p.pid], after !== null);
    },
    connections: (h: HostParent, args: ConnectionsArgs, ctx: ApiContext) => connectionsOf({ kind: 'host', hostId: h.id }, args, ctx),
    snapshots: (h: HostParent, args: HostSnapshotsArgs, ctx: ApiContext) => snapshotsOf(h.id, args, ctx),
  },
  Process: {
    host: (p: ProcessParentValue): HostParent => ({ id: p.hostId }),
    startedAt: (p: ProcessParentValue) => p.startedUs / 1000,
    // Synchronous when the parent already knows: most processes arrive with their name from a joined row.
    name: (p: ProcessParentValue, _: unknown, ctx: ApiContext) => p.name ?? fullProcess(p, ctx).then((r) => r?.name ?? `[pid ${p.pid}]`),
    exe: async (p: ProcessParentValue, _: unknown, ctx: ApiContext) => (await fullProcess(p, ctx))?.exe ?? null,
    cmdline: async (p: ProcessParentValue, _: unknown, ctx: ApiContext) => (await fullProcess(p, ctx))?.cmdline ?? '',
    uid: async (p: ProcessParentValue, _: unknown, ctx: ApiContext) => (await fullProcess(p, ctx))?.uid ?? null,
    cgroup: async (p: ProcessParentValue, _: unknown, ctx: ApiContext) => (await fullProcess(p, ctx))?.cgroup ?? null,
    containerId: (p: ProcessParentValue, _: unknown, ctx: ApiContext) =>
      p.containerId !== undefined ? p.containerId : fullProcess(p, ctx).then((r) => r?.containerId ?? null),
    firstSeen: async (p: ProcessParentValue, _: unknown, ctx: ApiContext) => (await fullProcess(p, ctx))?.firstSeenMs ?? null,
    lastSeen: async (p: ProcessParentValue, _: unknown, ctx: ApiContext) => (await fullProcess(p, ctx))?.lastSeenMs ?? null,
    connections: (p: ProcessParentValue, args: ConnectionsArgs, ctx: ApiContext) =>
      connectionsOf({ kind: 'process', process: { hostId: p.hostId, pid: p.pid, startedUs: p.startedUs } }, args, ctx),
  },
  SnapshotConnection: {
    async edges(s: SnapshotsParent, _: unknown, ctx: ApiContext) {
      const page = await ctx.loaders.snapshotPage.load({ ...s, parentKey: s.hostId, argsKey: argsKeyOf([s.window, s.first, s.after]) });
      return relayPage('snapshot', page, s.after !== null).edges;
    },
    async pageInfo(s: SnapshotsParent, _: unknown, ctx: ApiContext) {
      const page = await ctx.loaders.snapshotPage.load({ ...s, parentKey: s.hostId, argsKey: argsKeyOf([s.window, s.first, s.after]) });
      return relayPage('snapshot', page, s.after !== null).pageInfo;
    },
    async recorded(s: SnapshotsParent, _: unknown, ctx: ApiContext) {
      return (await ctx.loaders.coverage.load({ hostId: s.hostId, window: s.window, parentKey: s.hostId, argsKey: argsKeyOf(s.window) }))?.recorded ?? 0;
    },
    async gaps(s: SnapshotsParent, _: unknown, ctx: ApiContext) {
      const coverage = await ctx.loaders.coverage.load({ hostId: s.hostId, window: s.window, parentKey: s.hostId, argsKey: argsKeyOf(s.window) });
      const facts = coverage ?? { firstMs: null, lastEndMs: null, intervalMs: 0, inner: [] };
      return coverageGaps(s.window, facts).map(windowOf);
    },
  },
  Snapshot: {
    host: (s: SnapshotRecord): HostParent => ({ id: s.hostId }),
    time: (s: SnapshotRecord) => s.timeMs,
    writtenAt: (s: SnapshotRecord) => s.writtenAtMs,
    // The same test as fleet coverage's "incomplete" (src/store/queries/coverage.ts): a source that lost events counts.
    degraded: (s: SnapshotRecord) => s.sources.some((r) => !r.ok || r.lost > 0) || s.eventsLost > 0 || s.rowsRejected > 0 || s.errors.length > 0,
  },
};
