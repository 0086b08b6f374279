/**
 * Raw records and lookups: connections, nat, resolve, traffic.
 */
import type { NatGroup } from '../../domain/matching.js';
import { resolutionForStep } from '../../domain/resolution.js';
import { summariseNat } from '../../domain/talker-graph.js';
import {
  fetchConnectionPages, fetchNatPage, fetchOwners, fetchResolveTranslations, fetchTraffic, isConnectionKey, isNatKey,
  type ConnectionFilter, type ConnectionRecord, type NatRecord, type TrafficPoint,
} from '../../store/index.js';
import type { ApiContext } from '../context.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { ApiError } from '../errors.js';
import { checkAddress, checkPageSize, checkPid, checkPort, checkRange } from '../limits.js';
import type {
  ConnectionFilter as ConnectionFilterInput, QueryConnectionsArgs, QueryNatArgs, QueryResolveArgs, QueryTrafficArgs,
} from '../generated/graphql.js';
import { resolveWindow, type CoverageParent } from './coverage.js';
import { hostRef, relayPage, type ConnectionPageParent, type HostParent, type ProcessParentRef } from './shapes.js';

const DEFAULT_PAGE = 100;
const MAX_WITHIN_S = 3600;

export type { ConnectionFilterInput };

export function checkConnectionFilter(f: ConnectionFilterInput | null | undefined): ConnectionFilter | null {
  if (!f) return null;
  return {
    hosts: f.hosts ?? null, pid: checkPid(f.pid, 'filter.pid'), processName: f.processName ?? null, direction: f.direction ?? null,
    protocol: f.protocol ?? null, address: checkAddress(f.address, 'filter.address'), port: checkPort(f.port, 'filter.port'), state: f.state ?? null,
  };
}

interface ResolvedTargetParent {
  readonly role: 'BACKEND' | 'ORIGINAL_SOURCE' | 'SELF';
  readonly address: string;
  readonly port: number;
  readonly host: HostParent | null;
  readonly process: ProcessParentRef | null;
  readonly via: ReturnType<typeof summariseNat>;
  /** The time asked, for the target's names. */
  readonly atMs: number;
}

/** Groups translations by where they lead (backend, or original source), in a stable order. */
function targetsOf(groups: readonly NatGroup[], role: 'BACKEND' | 'ORIGINAL_SOURCE'): { address: string; port: number; via: NatGroup[] }[] {
  const byTarget = new Map<string, { address: string; port: number; via: NatGroup[] }>();
  for (const g of groups) {
    const address = role === 'BACKEND' ? g.replySrc : g.origSrc;
    const port = role === 'BACKEND' ? g.replySrcPort : g.origSrcPort;
    if (port === null) continue;
    const key = `${address}|${port}`;
    const t = byTarget.get(key) ?? { address, port, via: [] };
    t.via.push(g);
    byTarget.set(key, t);
  }
  return [...byTarget.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port));
}

export const recordQueries = {
  async connections(_: unknown, args: QueryConnectionsArgs, ctx: ApiContext): Promise<ConnectionPageParent<ConnectionRecord> & CoverageParent> {
    const window = checkRange(args.range, ctx.limits.maxRawRangeMs, 'raw rows');
    const first = checkPageSize(ctx.limits, args.first, DEFAULT_PAGE, 'first');
    const after = decodeCursor('connection', args.after, isConnectionKey);
    const pages = await fetchConnectionPages(ctx.db, { kind: 'all' }, window, checkConnectionFilter(args.filter), { first, after });
    return { ...relayPage('connection', pages.get('') ?? { rows: [], hasNextPage: false }, after !== null), window };
  },

  async nat(_: unknown, args: QueryNatArgs, ctx: ApiContext): Promise<ConnectionPageParent<NatRecord>> {
    const window = checkRange(args.range, ctx.limits.maxRawRangeMs, 'raw rows');
    const first = checkPageSize(ctx.limits, args.first, DEFAULT_PAGE, 'first');
    const address = checkAddress(args.address, 'address')!;
    const after = decodeCursor('nat', args.after, isNatKey);
    const page = await fetchNatPage(ctx.db, window, address, checkPort(args.port, 'port'), { first, after });
    return relayPage('nat', page, after !== null);
  },

  async resolve(_: unknown, args: QueryResolveArgs, ctx: ApiContext) {
    const address = checkAddress(args.address, 'address')!;
    const port = checkPort(args.port, 'port')!;
    const client = checkAddress(args.client, 'client');
    const within = args.withinSeconds ?? 60;
    if (!Number.isInteger(within) || within < 0 || within > MAX_WITHIN_S) throw new ApiError('BAD_USER_INPUT', `withinSeconds must be 0..${MAX_WITHIN_S}`);
    const withinMs = within * 1000;
    const translations = await fetchResolveTranslations(ctx.db, { address, port, atMs: args.at, withinMs, client, protocol: args.protocol ?? null });
    const found = [
      ...targetsOf(translations.forward, 'BACKEND').map((t) => ({ ...t, role: 'BACKEND' as const })),
      ...targetsOf(translations.reverse, 'ORIGINAL_SOURCE').map((t) => ({ ...t, role: 'ORIGINAL_SOURCE' as const })),
    ];
    const targets = found.length > 0 ? found : [{ role: 'SELF' as const, address, port, via: [] as NatGroup[] }];
    const owners = await fetchOwners(ctx.db, targets.map((t) => ({ address: t.address, port: t.port, role: t.role === 'ORIGINAL_SOURCE' ? 'client' as const : 'server' as const })), args.at, withinMs);
    const resolved: ResolvedTargetParent[] = targets.map((t, i) => {
      const owner = owners[i] ?? null;
      return {
        role: t.role, address: t.address, port: t.port, via: summariseNat(t.via), atMs: args.at,
        host: hostRef(owner?.hostId ?? null),
        process: owner && owner.pid !== null && owner.startedUs !== null ? { hostId: owner.hostId, pid: owner.pid, startedUs: owner.startedUs, name: owner.processName } : null,
      };
    });
    // Whether SELF is an answer or NO_DATA is decided by the Resolved fields (coverage.ts), read only when asked.
    return { address, port, at: args.at, translated: found.length > 0, targets: resolved, coverageWindow: resolveWindow(args.at, withinMs) };
  },

  async traffic(_: unknown, args: QueryTrafficArgs, ctx: ApiContext): Promise<TrafficPoint[]> {
    if (!Number.isInteger(args.step) || args.step <= 0) throw new ApiError('BAD_USER_INPUT', 'step must be a positive number of seconds');
    const stepMs = args.step * 1000;
    const resolution = resolutionForStep(stepMs);
    // Exactly the range asked: the first and last steps may be partial.
    const window = checkRange(args.range, resolution === 'RAW' ? ctx.limits.maxRawRangeMs : ctx.limits.maxAggregateRangeMs, resolution === 'RAW' ? 'raw rows' : 'aggregates');
    if ((window.toMs - window.fromMs) / stepMs > ctx.limits.maxTrafficPoints) {
      throw new ApiError('RANGE_TOO_LARGE', `the range holds more than ${ctx.limits.maxTrafficPoints} steps; use a larger step`);
    }
    const f = args.filter;
    const filter = f ? {
      hosts: f.hosts ?? null, processName: f.processName ?? null, direction: f.direction ?? null, protocol: f.protocol ?? null,
      address: checkAddress(f.address, 'filter.address'), port: checkPort(f.port, 'filter.port'),
    } : null;
    return fetchTraffic(ctx.db, window, stepMs, resolution, filter);
  },
};

export const recordTypes = {
  Connection: {
    id: (c: ConnectionRecord) => encodeCursor('connection', c.key),
    time: (c: ConnectionRecord) => c.timeMs,
    host: (c: ConnectionRecord): HostParent => ({ id: c.hostId }),
    process: (c: ConnectionRecord): ProcessParentRef | null =>
      c.pid !== null && c.processStartedUs !== null ? { hostId: c.hostId, pid: c.pid, startedUs: c.processStartedUs, name: c.processName, containerId: c.containerId } : null,
    openedAt: (c: ConnectionRecord) => c.openedAtMs,
    closedAt: (c: ConnectionRecord) => c.closedAtMs,
  },
  NatTranslation: {
    time: (n: NatRecord) => n.timeMs,
    host: (n: NatRecord): HostParent => ({ id: n.hostId }),
    firstSeen: (n: NatRecord) => n.firstSeenMs,
    lastSeen: (n: NatRecord) => n.lastSeenMs,
  },
  TrafficPoint: {
    time: (p: TrafficPoint) => p.timeMs,
  },
};
