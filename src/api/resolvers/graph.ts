/**
 * talkers and edges: fetch both sides and the translations, match them (domain), group them (domain).
 */
import { matchFlows, type Flow, type MatchLabel } from '../../domain/matching.js';
import { joinThroughProxies } from '../../domain/proxies.js';
import { buildTalkerGraph, type FlowFilter, type GraphEdge, type GraphEndpoint, type GraphNode, type Grouping, type NameLookup, type NatHopSummary, type ProxySummary, type TalkerGraph } from '../../domain/talker-graph.js';
import { bucketMs, chooseResolution, type Resolution, type ResolutionChoice } from '../../domain/resolution.js';
import type { Protocol } from '../../domain/connection.js';
import { fetchLongestIntervalMs, fetchNatGroups, fetchSideGroups, type AddressNames, type TimeRange } from '../../store/index.js';
import type { ApiContext } from '../context.js';
import { ApiError } from '../errors.js';
import { checkAddress, checkPageSize, checkPort, checkRange, type RangeInput } from '../limits.js';
import type { QueryEdgesArgs, QueryTalkersArgs, TalkerFilter } from '../generated/graphql.js';
import { checkDnsName } from './names.js';
import { hostRef, processFromDomain, windowOf, type WindowParent } from './shapes.js';

/** Two raw records join when sighted within one collection interval of each other (clocks and alignment differ). */
const RAW_MATCH_TOLERANCE_MS = 60_000;
const DEFAULT_TALKER_LIMIT = 200;
const DEFAULT_EDGES_LIMIT = 1000;

type GraphArgs = QueryTalkersArgs;
type EdgesArgs = QueryEdgesArgs;

export interface TalkerGraphParent extends TalkerGraph {
  readonly range: WindowParent;
  readonly resolution: Resolution;
}

function checkFilter(filter: TalkerFilter | null | undefined): FlowFilter | null {
  if (!filter) return null;
  return {
    hosts: filter.hosts ?? null,
    processName: filter.processName ?? null,
    address: checkAddress(filter.address, 'filter.address'),
    port: checkPort(filter.port, 'filter.port'),
    protocol: filter.protocol ?? null,
    match: filter.match ?? null,
    name: filter.name == null ? null : checkDnsName(filter.name, 'filter.name'),
  };
}

/** The names of every address of the flows over the window, read in one statement (the request's names loader). */
async function nameLookup(ctx: ApiContext, flows: readonly Flow[], window: TimeRange): Promise<NameLookup> {
  const addresses = [...new Set(flows.flatMap((f) => [f.client.address, f.server.address]))];
  const lists = await ctx.loaders.names.loadMany(addresses.map((address) => ({ address, window })));
  const byAddress = new Map<string, AddressNames>();
  addresses.forEach((a, i) => {
    const l = lists[i];
    if (l instanceof Error) throw l;
    if (l !== undefined && l.primary !== null) byAddress.set(a, l);
  });
  const none: AddressNames = { names: [], primary: null };
  return (address) => byAddress.get(address) ?? none;
}

async function computeGraph(args: GraphArgs, ctx: ApiContext, limit: number): Promise<TalkerGraphParent> {
  if (!(args.range.from < args.range.to)) throw new ApiError('BAD_USER_INPUT', 'range.from must be before range.to');
  const resolution = chooseResolution(args.resolution ?? 'AUTO', { fromMs: args.range.from, toMs: args.range.to });
  const max = resolution === 'RAW' ? ctx.limits.maxRawRangeMs : ctx.limits.maxAggregateRangeMs;
  // Exactly the range asked, at every resolution: aggregates for the whole buckets inside it, finer data for the edges.
  const window = checkRange(args.range, max, resolution === 'RAW' ? 'raw rows' : 'aggregates');
  const filter = checkFilter(args.filter);
  const exact = resolution === 'RAW';
  // Both reads plan the same window: its longest collection interval is read once for the two.
  const longest = await fetchLongestIntervalMs(ctx.db, window);
  const [groups, translations] = await Promise.all([fetchSideGroups(ctx.db, window, resolution, longest), fetchNatGroups(ctx.db, window, exact ? 'EXACT' : resolution, longest)]);
  const toleranceMs = exact ? RAW_MATCH_TOLERANCE_MS : bucketMs(resolution);
  const matched = matchFlows(groups, translations, { exact, toleranceMs });
  const flows = args.throughProxies === true ? joinThroughProxies(matched, toleranceMs) : matched;
  const groupBy = args.groupBy ?? 'PROCESS';
  const names = groupBy === 'NAME' || filter?.name != null ? await nameLookup(ctx, flows, window) : undefined;
  const graph = buildTalkerGraph(flows, groupBy, filter, limit, names);
  ctx.log.debug({ resolution, groups: groups.length, translations: translations.length, flows: flows.length, edges: graph.totalEdges }, 'talkers computed');
  // Endpoints read their names over the window asked: the same loader keys as the grouping's, so a request reads
  // names once.
  const edges = graph.edges.map((e) => ({ ...e, client: { ...e.client, nameWindow: window }, server: { ...e.server, nameWindow: window } }));
  return { ...graph, edges, range: windowOf(window), resolution };
}

export const graphQueries = {
  async talkers(_: unknown, args: GraphArgs, ctx: ApiContext): Promise<TalkerGraphParent> {
    const limit = checkPageSize(ctx.limits, args.limit, DEFAULT_TALKER_LIMIT, 'limit');
    return computeGraph(args, ctx, limit);
  },

  async edges(_: unknown, args: EdgesArgs, ctx: ApiContext): Promise<readonly GraphEdge[]> {
    const limit = checkPageSize(ctx.limits, args.limit, DEFAULT_EDGES_LIMIT, 'limit');
    const graph = await computeGraph({ ...args, groupBy: args.groupBy ?? 'PROCESS_NAME' }, ctx, Number.MAX_SAFE_INTEGER);
    const since = args.since;
    const edges = since == null ? graph.edges : graph.edges.filter((e) => e.firstSeenMs >= since);
    return edges.slice(0, limit);
  },
};

export const graphTypes = {
  Node: {
    host: (n: GraphNode) => hostRef(n.hostId),
    process: (n: GraphNode) => processFromDomain(n.hostId, n.process),
  },
  Edge: {
    firstSeen: (e: GraphEdge) => e.firstSeenMs,
    lastSeen: (e: GraphEdge) => e.lastSeenMs,
  },
  EdgeEndpoint: {
    host: (e: GraphEndpoint) => hostRef(e.hostId),
    process: (e: GraphEndpoint) => processFromDomain(e.hostId, e.process),
  },
  ProxyHop: {
    host: (p: ProxySummary) => hostRef(p.hostId),
    process: (p: ProxySummary) => processFromDomain(p.hostId, p.process),
  },
  NatHop: {
    host: (h: NatHopSummary) => hostRef(h.hostId),
    firstSeen: (h: NatHopSummary) => h.firstSeenMs,
    lastSeen: (h: NatHopSummary) => h.lastSeenMs,
  },
};
