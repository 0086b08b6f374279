/**
 * From API answers to the map's elements (pure): host boxes containing their nodes, edges sized by bytes and
 * labelled with connection counts and NAT hops, since-diff marks (new / gone), search hits.
 */
import type { EdgeData, NatHop, NodeData } from './types.js';

export interface MapNode {
  readonly id: string;
  readonly parent: string | null;
  readonly label: string;
  readonly kind: NodeData['kind'] | 'HOSTBOX';
  readonly classes: readonly string[];
  readonly node: NodeData | null;
}
export interface MapEdge {
  readonly id: string;
  readonly source: string;
  readonly target: string;
  readonly label: string;
  readonly width: number;
  readonly classes: readonly string[];
  readonly edge: EdgeData;
}
export interface MapModel {
  readonly nodes: readonly MapNode[];
  readonly edges: readonly MapEdge[];
}

export interface Diff {
  /** Edge ids first seen at or after `since`. */
  readonly fresh: ReadonlySet<string>;
  /** Edges seen before `since` and not after it. */
  readonly gone: readonly EdgeData[];
  /** Node ids that had an edge before `since`. */
  readonly knownBefore: ReadonlySet<string>;
}

export const nodeKey = (id: string): string => `n:${id}`;
export const edgeKey = (id: string): string => `e:${id}`;
export const hostKey = (id: string): string => `h:${id}`;

export function num(v: number | string): number {
  return typeof v === 'number' ? v : Number(v);
}

export function formatBytes(v: number | string): string {
  const n = num(v);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let x = n;
  while (x >= 1024 && i < units.length - 1) { x /= 1024; i += 1; }
  return `${i === 0 ? x : x.toFixed(1)} ${units[i]}`;
}

/** A NAT hop in one line: what the client dialled -> where it really went (and the masquerade, if any). */
export function natHopText(hop: NatHop): string {
  const port = (p: number | null): string => (p === null ? '' : `:${p}`);
  const dnat = `${hop.original.destination}${port(hop.original.destinationPort)} → ${hop.reply.source}${port(hop.reply.sourcePort)}`;
  const snat = `src ${hop.original.source} → ${hop.reply.destination}`;
  if (hop.kind === 'DNAT') return dnat;
  if (hop.kind === 'SNAT') return snat;
  return `${dnat} (${snat})`;
}

function edgeLabel(e: EdgeData): string {
  const count = num(e.connections);
  const conns = `${count} conn${count === 1 ? '' : 's'}`;
  const hops = [...new Set(e.nat.map((h) => {
    const port = (p: number | null): string => (p === null ? '' : `:${p}`);
    return h.kind === 'SNAT' ? `SNAT ${h.reply.destination}` : `${h.original.destination}${port(h.original.destinationPort)} → ${h.reply.source}${port(h.reply.sourcePort)}`;
  }))];
  return hops.length === 0 ? conns : `${conns} · ${hops.slice(0, 2).join(', ')}${hops.length > 2 ? ' …' : ''}`;
}

/** Line width from total bytes, on a log scale so one elephant flow does not hide the rest. */
export function edgeWidth(e: EdgeData): number {
  const bytes = num(e.bytesSent) + num(e.bytesReceived);
  return Math.round((1 + Math.min(11, Math.log10(1 + bytes))) * 10) / 10;
}

function nodeLabel(n: NodeData): string {
  if (n.kind === 'PROCESS' && n.process) return `${n.process.name} [${n.process.pid}]`;
  if (n.kind === 'CONTAINER' && n.containerId) return `container ${n.containerId.slice(0, 12)}`;
  return n.name;
}

/** The host box a node sits in: nodes finer than a host that belong to one host. */
function parentOf(n: NodeData): string | null {
  return n.kind !== 'HOST' && n.host ? hostKey(n.host.id) : null;
}

function matchesSearch(n: NodeData, q: string): boolean {
  const hay = [n.name, n.address ?? '', n.host?.id ?? '', n.containerId ?? '', n.process ? String(n.process.pid) : ''].join(' ').toLowerCase();
  return hay.includes(q);
}

export function buildModel(edges: readonly EdgeData[], diff: Diff | null, search: string): MapModel {
  const q = search.trim().toLowerCase();
  const nodes = new Map<string, MapNode>();
  const hosts = new Set<string>();
  const out: MapEdge[] = [];
  const all = diff ? [...edges.map((e) => ({ e, gone: false })), ...diff.gone.filter((g) => !edges.some((e) => e.id === g.id)).map((e) => ({ e, gone: true }))] : edges.map((e) => ({ e, gone: false }));
  const addNode = (n: NodeData, gone: boolean): void => {
    const key = nodeKey(n.id);
    const existing = nodes.get(key);
    if (existing && (gone || !existing.classes.includes('gone'))) return;
    const parent = parentOf(n);
    if (parent) hosts.add(parent);
    const classes = [`kind-${n.kind.toLowerCase()}`];
    if (gone) classes.push('gone');
    else if (diff && !diff.knownBefore.has(n.id)) classes.push('new');
    if (q) classes.push(matchesSearch(n, q) ? 'hit' : 'dim');
    nodes.set(key, { id: key, parent, label: nodeLabel(n), kind: n.kind, classes, node: n });
  };
  for (const { e, gone } of all) {
    addNode(e.client.node, gone);
    addNode(e.server.node, gone);
    const classes = [`match-${e.match.toLowerCase().replace('_', '-')}`];
    if (e.nat.length > 0) classes.push('nat');
    if (gone) classes.push('gone');
    else if (diff?.fresh.has(e.id)) classes.push('new');
    out.push({ id: edgeKey(e.id), source: nodeKey(e.client.node.id), target: nodeKey(e.server.node.id), label: edgeLabel(e), width: edgeWidth(e), classes, edge: e });
  }
  const boxes: MapNode[] = [...hosts].sort().map((id) => ({ id, parent: null, label: id.slice(2), kind: 'HOSTBOX', classes: ['hostbox'], node: null }));
  return { nodes: [...boxes, ...nodes.values()], edges: out };
}

/** Diff from the ledger answers: new edges and nodes (first seen since T), gone ones (seen before T only). */
export function buildDiff(fresh: ReadonlyArray<{ id: string }>, before: readonly EdgeData[], after: ReadonlyArray<{ id: string }>): Diff {
  const afterIds = new Set(after.map((e) => e.id));
  const knownBefore = new Set<string>();
  for (const e of before) { knownBefore.add(e.client.node.id); knownBefore.add(e.server.node.id); }
  return { fresh: new Set(fresh.map((e) => e.id)), gone: before.filter((e) => !afterIds.has(e.id)), knownBefore };
}

/**
 * Collapses host boxes (pure): each collapsed host becomes one node standing for everything drawn in it, and the
 * edges touching it are merged per (source, target), counts summed, so a 500-node map can be read host by host.
 */
export function collapseHosts(model: MapModel, collapsed: ReadonlySet<string>): MapModel {
  if (collapsed.size === 0) return model;
  const into = new Map<string, string>();
  const members = new Map<string, number>();
  for (const n of model.nodes) {
    if (n.parent && collapsed.has(n.parent.slice(2))) {
      into.set(n.id, n.parent);
      members.set(n.parent, (members.get(n.parent) ?? 0) + 1);
    }
  }
  const nodes = model.nodes.filter((n) => !into.has(n.id)).map((n) => (members.has(n.id)
    ? { ...n, label: `${n.label} (${members.get(n.id)} collapsed)`, classes: [...n.classes, 'collapsed'] }
    : n));
  const merged = new Map<string, MapEdge & { count: number }>();
  const edges: MapEdge[] = [];
  for (const e of model.edges) {
    const source = into.get(e.source) ?? e.source;
    const target = into.get(e.target) ?? e.target;
    if (source === e.source && target === e.target) { edges.push(e); continue; }
    const id = `c:${source}>${target}`;
    const seen = merged.get(id);
    const conns = num(e.edge.connections) + (seen ? num(seen.edge.connections) : 0);
    const bytesSent = num(e.edge.bytesSent) + (seen ? num(seen.edge.bytesSent) : 0);
    const bytesReceived = num(e.edge.bytesReceived) + (seen ? num(seen.edge.bytesReceived) : 0);
    const edge = { ...(seen?.edge ?? e.edge), connections: conns, bytesSent, bytesReceived };
    const classes = seen ? [...new Set([...seen.classes, ...e.classes])] : [...e.classes, 'merged'];
    merged.set(id, { id, source, target, label: `${conns} conn${conns === 1 ? '' : 's'} · ${(seen?.count ?? 0) + 1} edges`, width: edgeWidth(edge), classes, edge, count: (seen?.count ?? 0) + 1 });
  }
  return { nodes, edges: [...edges, ...[...merged.values()].map(({ count: _count, ...rest }) => rest)] };
}
