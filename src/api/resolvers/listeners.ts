/**
 * Listener history: `listeners` for the fleet or one host, and `Host.listeners` / `Process.listeners` read through
 * one per-request loader (one statement per distinct set of arguments, whatever the number of parents).
 */
import { fetchListenerPages, isListenerKey, processParentKey, type ListenerFilter, type ListenerRecord, type ProcessParent } from '../../store/index.js';
import type { ApiContext } from '../context.js';
import { decodeCursor } from '../cursor.js';
import { argsKeyOf, type ListenerPageKey } from '../loaders.js';
import { checkAddress, checkPageSize, checkPort, checkRange } from '../limits.js';
import type { HostListenersArgs, ProcessListenersArgs, QueryListenersArgs } from '../generated/graphql.js';
import { relayPage, type ConnectionPageParent, type HostParent, type ProcessParentRef } from './shapes.js';

const DEFAULT_PAGE = 100;

/** Host.listeners and Process.listeners take the same arguments; Query.listeners adds `host`. */
type ListenersArgs = HostListenersArgs & ProcessListenersArgs;

interface Checked {
  readonly window: { fromMs: number; toMs: number };
  readonly filter: ListenerFilter;
  readonly first: number;
  readonly after: ListenerPageKey['after'];
}

/** Every argument checked before the store is touched. Listener history is read from raw rows: the raw range limit. */
function check(args: ListenersArgs, ctx: ApiContext, hosts: readonly string[] | null): Checked {
  const window = checkRange(args.range, ctx.limits.maxRawRangeMs, 'listeners');
  const filter: ListenerFilter = {
    hosts, port: checkPort(args.port, 'port'), address: checkAddress(args.address, 'address'), protocol: args.protocol ?? null,
  };
  const first = checkPageSize(ctx.limits, args.first, DEFAULT_PAGE, 'first');
  return { window, filter, first, after: decodeCursor('listener', args.after, isListenerKey) };
}

function nestedListeners(
  parent: ListenerPageKey['parent'], parentKey: string, args: ListenersArgs, ctx: ApiContext,
): Promise<ConnectionPageParent<ListenerRecord>> {
  const c = check(args, ctx, null);
  return ctx.loaders.listenerPage
    .load({ parent, parentKey, window: c.window, filter: c.filter, first: c.first, after: c.after, argsKey: argsKeyOf([parent.kind, c.window, c.filter, c.first, c.after]) })
    .then((page) => relayPage('listener', page, c.after !== null));
}

export const listenerQueries = {
  async listeners(_: unknown, args: QueryListenersArgs, ctx: ApiContext): Promise<ConnectionPageParent<ListenerRecord>> {
    const c = check(args, ctx, args.host == null ? null : [args.host]);
    const pages = await fetchListenerPages(ctx.db, { kind: 'all' }, c.window, c.filter, { first: c.first, after: c.after });
    return relayPage('listener', pages.get('') ?? { rows: [], hasNextPage: false }, c.after !== null);
  },
};

export const listenerTypes = {
  Host: {
    listeners: (h: HostParent, args: ListenersArgs, ctx: ApiContext) => nestedListeners({ kind: 'host', hostId: h.id }, h.id, args, ctx),
  },
  Process: {
    listeners: (p: ProcessParentRef, args: ListenersArgs, ctx: ApiContext) => {
      const process: ProcessParent = { hostId: p.hostId, pid: p.pid, startedUs: p.startedUs };
      return nestedListeners({ kind: 'process', process }, processParentKey(process), args, ctx);
    },
  },
  Listener: {
    host: (l: ListenerRecord): HostParent => ({ id: l.hostId }),
    // A socket whose owner the collector could not tell has no process; one with a pid but no process record
    // still names it (Process.name says `[pid N]`).
    process: (l: ListenerRecord): ProcessParentRef | null =>
      l.pid === null || l.processStartedUs === null ? null : { hostId: l.hostId, pid: l.pid, startedUs: l.processStartedUs, name: l.processName },
    firstSeen: (l: ListenerRecord) => l.firstSeenMs,
    lastSeen: (l: ListenerRecord) => l.lastSeenMs,
    openedAfter: (l: ListenerRecord) => l.openedAfterMs,
    closedBefore: (l: ListenerRecord) => l.closedBeforeMs,
  },
};
