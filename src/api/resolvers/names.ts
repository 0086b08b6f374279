/**
 * Names of addresses: the `names` and `addresses` queries, and the `names` fields of endpoints, connections and
 * resolved targets (read through the per-request `names` loader: one statement per request).
 */
import type { GraphEndpoint } from '../../domain/talker-graph.js';
import { fetchAddressesOf, fetchNamesOf, type AddressNameRecord, type ConnectionRecord, type TimeRange } from '../../store/index.js';
import type { ApiContext } from '../context.js';
import { ApiError } from '../errors.js';
import { checkAddress, checkRange, type RangeInput } from '../limits.js';
import type { HostParent, ProcessParentRef } from './shapes.js';

const MAX_NAME_ROWS = 1000;

/** A DNS name as the store keeps it: lower case, no trailing dot, 1..253 characters of printable ASCII. */
export function checkDnsName(value: string, what: string): string {
  const name = value.trim().toLowerCase().replace(/\.$/, '');
  if (name.length === 0 || name.length > 253 || !/^[\x21-\x7e]+$/.test(name) || name.includes('..')) {
    throw new ApiError('BAD_USER_INPUT', `${what} is not a DNS name`);
  }
  return name;
}

async function namesOf(ctx: ApiContext, addresses: readonly string[], window: TimeRange): Promise<string[]> {
  const lists = await ctx.loaders.names.loadMany(addresses.map((address) => ({ address, window })));
  const all = new Set<string>();
  for (const l of lists) {
    if (l instanceof Error) throw l;
    for (const n of l.names) all.add(n);
  }
  return [...all].sort();
}

/** An edge's endpoint with the window its talkers/edges query asked (set by the graph resolvers). */
export type NamedEndpoint = GraphEndpoint & { readonly nameWindow: TimeRange };

export interface NamedTarget {
  readonly address: string;
  readonly atMs: number;
}

export const nameQueries = {
  async names(_: unknown, args: { address: string; range: RangeInput }, ctx: ApiContext): Promise<AddressNameRecord[]> {
    const address = checkAddress(args.address, 'address') as string;
    const window = checkRange(args.range, ctx.limits.maxRawRangeMs, 'names');
    return fetchNamesOf(ctx.db, address, window, MAX_NAME_ROWS);
  },
  async addresses(_: unknown, args: { name: string; range: RangeInput }, ctx: ApiContext): Promise<AddressNameRecord[]> {
    const name = checkDnsName(args.name, 'name');
    const window = checkRange(args.range, ctx.limits.maxRawRangeMs, 'addresses');
    return fetchAddressesOf(ctx.db, name, window, MAX_NAME_ROWS);
  },
};

export const nameTypes = {
  NameSource: { SNOOP: 'snoop', REVERSE: 'reverse' },
  AddressName: {
    host: (r: AddressNameRecord): HostParent => ({ id: r.hostId }),
    firstSeen: (r: AddressNameRecord) => r.firstSeenMs,
    lastSeen: (r: AddressNameRecord) => r.lastSeenMs,
    ttl: (r: AddressNameRecord) => r.ttlSeconds,
    process: (r: AddressNameRecord): ProcessParentRef | null =>
      r.pid === null || r.processStartedUs === null ? null : { hostId: r.hostId, pid: r.pid, startedUs: r.processStartedUs },
  },
  EdgeEndpoint: {
    names: (e: NamedEndpoint, _: unknown, ctx: ApiContext) => namesOf(ctx, e.addresses, e.nameWindow),
  },
  Connection: {
    remoteNames: (c: ConnectionRecord, _: unknown, ctx: ApiContext) => namesOf(ctx, [c.remoteAddress], { fromMs: c.timeMs, toMs: c.timeMs }),
    localNames: (c: ConnectionRecord, _: unknown, ctx: ApiContext) => namesOf(ctx, [c.localAddress], { fromMs: c.timeMs, toMs: c.timeMs }),
  },
  ResolvedTarget: {
    names: (t: NamedTarget, _: unknown, ctx: ApiContext) => namesOf(ctx, [t.address], { fromMs: t.atMs, toMs: t.atMs }),
  },
};
