/** Loading what a view needs from the API: the map (with its since-diff), the traffic chart, host coverage. */
import type { Api } from './api.js';
import { buildDiff, num, type Diff } from './model.js';
import { COVERAGE, DIFF, MAP, TRAFFIC } from './queries.js';
import { mapWindow, stepSeconds, type ViewState } from './state.js';
import type { EdgeData, HostCoverage, TrafficPoint } from './types.js';

/**
 * Edges asked per map: with every field the map and its details read (NAT hops included), 350 edges stay under
 * the API's default cost ceiling (100,000) even for the three-list since-diff. The status line says when more exist.
 */
export const MAP_LIMIT = 350;

const iso = (t: number): string => new Date(t).toISOString();

export interface MapData {
  readonly edges: readonly EdgeData[];
  readonly totalEdges: number;
  readonly resolution: string;
  readonly diff: Diff | null;
  /** The map window's coverage: how many hosts reported, and whether every expected host did so completely. */
  readonly reporting: number;
  readonly complete: boolean;
}

function talkerFilter(s: ViewState): Record<string, unknown> | null {
  const f = s.filters;
  const out: Record<string, unknown> = {};
  if (f.host) out.hosts = f.host.split(',').map((h) => h.trim()).filter(Boolean);
  if (f.process) out.processName = f.process;
  if (f.address) out.address = f.address;
  if (f.port !== null) out.port = f.port;
  if (f.match.length > 0) out.match = f.match;
  return Object.keys(out).length > 0 ? out : null;
}

export async function loadMap(api: Api, s: ViewState): Promise<MapData> {
  const w = mapWindow(s);
  const filter = talkerFilter(s);
  const common = { groupBy: s.group, filter, limit: MAP_LIMIT };
  const mapQuery = api.query<{ talkers: { resolution: string; totalEdges: number; coverage: { complete: boolean; hostsReporting: Array<{ id: string }> }; edges: EdgeData[] } }>(MAP, { range: { from: iso(w.from), to: iso(w.to) }, ...common });
  let diffQuery: Promise<Diff | null> = Promise.resolve(null);
  if (s.since !== null && s.since > w.from && s.since < w.to) {
    // The ledger needs history before `since` so that "first seen" means "new": the whole view range at least.
    const ledgerFrom = Math.min(s.from, w.from, s.since - (w.to - w.from));
    diffQuery = api.query<{ fresh: Array<{ id: string }>; before: EdgeData[]; after: Array<{ id: string }> }>(DIFF, {
      ledger: { from: iso(ledgerFrom), to: iso(w.to) }, before: { from: iso(ledgerFrom), to: iso(s.since) }, after: { from: iso(s.since), to: iso(w.to) },
      since: iso(s.since), ...common,
    }).then((d) => buildDiff(d.fresh, d.before.filter((e) => Date.parse(e.lastSeen) >= w.from), d.after));
  }
  const [map, diff] = await Promise.all([mapQuery, diffQuery]);
  return { edges: map.talkers.edges, totalEdges: map.talkers.totalEdges, resolution: map.talkers.resolution, diff,
    reporting: map.talkers.coverage.hostsReporting.length, complete: map.talkers.coverage.complete };
}

/**
 * Traffic per step, counted once: a connection between two observed hosts is recorded by both (outgoing at the
 * client, incoming at the server), one seen from one side only by that side; so each step shows the larger of the
 * two directions' totals.
 */
export async function loadTraffic(api: Api, s: ViewState): Promise<TrafficPoint[]> {
  const f = s.filters;
  const filter: Record<string, unknown> = {};
  if (f.host) filter.hosts = f.host.split(',').map((h) => h.trim()).filter(Boolean);
  if (f.process) filter.processName = f.process;
  if (f.address) filter.address = f.address;
  if (f.port !== null) filter.port = f.port;
  const data = await api.query<{ out: TrafficPoint[]; in: TrafficPoint[] }>(TRAFFIC, {
    range: { from: iso(s.from), to: iso(s.to) }, step: stepSeconds(s.from, s.to), out: { ...filter, direction: 'OUTGOING' }, in: { ...filter, direction: 'INCOMING' },
  });
  const byTime = new Map<string, TrafficPoint>();
  for (const p of [...data.out, ...data.in]) {
    const seen = byTime.get(p.time);
    const total = (x: TrafficPoint): number => num(x.bytesSent) + num(x.bytesReceived);
    if (!seen) byTime.set(p.time, p);
    else byTime.set(p.time, {
      time: p.time,
      bytesSent: total(p) > total(seen) ? p.bytesSent : seen.bytesSent,
      bytesReceived: total(p) > total(seen) ? p.bytesReceived : seen.bytesReceived,
      connections: Math.max(num(p.connections), num(seen.connections)),
    });
  }
  return [...byTime.values()].sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
}

/**
 * Which hosts reported over the range (the API's `coverage`): a host without records there is "no data", one with
 * stretches missing or incomplete records is "partial data"; neither is "no traffic".
 */
export async function loadCoverage(api: Api, s: ViewState): Promise<Map<string, HostCoverage>> {
  const { coverage } = await api.query<{ coverage: { hostsReporting: Array<{ id: string }>; hostsWithGaps: Array<{ host: { id: string }; gaps: Array<{ from: string; to: string }>; incompleteSnapshots: number }> } }>(
    COVERAGE, { range: { from: iso(s.from), to: iso(s.to) } });
  const reporting = new Set(coverage.hostsReporting.map((h) => h.id));
  const out = new Map<string, HostCoverage>();
  for (const id of reporting) out.set(id, { id, recorded: 1, gaps: [] });
  for (const g of coverage.hostsWithGaps) {
    out.set(g.host.id, { id: g.host.id, recorded: reporting.has(g.host.id) ? 1 : 0, gaps: g.gaps, incomplete: g.incompleteSnapshots });
  }
  return out;
}
