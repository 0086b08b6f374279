/**
 * The details panel: a node's identity (process, container, host), its connections over the range (paged);
 * an edge's bytes each way, first/last seen, match shares, NAT hops, `resolve` answers for its NAT'd
 * destinations, and its client's connections to the server port (paged).
 */
import type { Api } from './api.js';
import { el, facts, utc } from './dom.js';
import { sentenceFor } from './errors.js';
import { formatBytes, natHopText, num } from './model.js';
import { EDGE_CONNECTIONS, HOST_DETAILS, PROCESS_DETAILS, RESOLVE } from './queries.js';
import type { EdgeData, HostCoverage, NodeData } from './types.js';

export interface DetailsContext {
  readonly api: Api;
  readonly range: { from: string; to: string };
  readonly coverage: ReadonlyMap<string, HostCoverage>;
}

interface ConnRow {
  time: string; direction: string; protocol: string; localAddress: string; localPort: number; remoteAddress: string; remotePort: number;
  state: string; bytesSent: number | string; bytesReceived: number | string; count: number; host: { id: string }; process: { pid: number; name: string } | null;
}
interface ConnPage { pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: Array<{ node: ConnRow }> }

const PAGE = 25;

/** A paged table of connection rows; `fetchPage` answers one page after a cursor. */
function connectionTable(title: string, fetchPage: (after: string | null) => Promise<ConnPage | null>): HTMLElement {
  const body = el('tbody');
  const more = el('button', { type: 'button', class: 'more' }, 'More');
  const note = el('p', { class: 'note' });
  const section = el('section', { class: 'connections' }, el('h3', {}, title),
    el('table', { class: 'rows' }, el('thead', {}, el('tr', {}, ...['time', 'host', 'process', 'dir', 'local', 'remote', 'state', 'sent', 'recv'].map((h) => el('th', {}, h)))), body),
    more, note);
  let cursor: string | null = null;
  const load = async (): Promise<void> => {
    more.disabled = true;
    try {
      const page = await fetchPage(cursor);
      if (!page) { note.textContent = 'No connection rows for this in the range.'; more.hidden = true; return; }
      for (const { node: r } of page.edges) {
        body.append(el('tr', {}, el('td', {}, utc(r.time)), el('td', {}, r.host.id), el('td', {}, r.process ? `${r.process.name} [${r.process.pid}]` : '—'),
          el('td', {}, r.direction.toLowerCase()), el('td', {}, `${r.localAddress}:${r.localPort}`), el('td', {}, `${r.remoteAddress}:${r.remotePort}`),
          el('td', {}, r.state), el('td', {}, formatBytes(r.bytesSent)), el('td', {}, formatBytes(r.bytesReceived))));
      }
      if (body.childElementCount === 0) note.textContent = 'No connection rows for this in the range.';
      cursor = page.pageInfo.endCursor;
      more.hidden = !page.pageInfo.hasNextPage;
    } catch (err) {
      note.textContent = sentenceFor(err);
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener('click', () => void load());
  void load();
  return section;
}

function coverageLine(ctx: DetailsContext, hostId: string | null): HTMLElement | null {
  if (!hostId) return null;
  const c = ctx.coverage.get(hostId);
  if (!c) return null;
  if (c.recorded === 0) return el('p', { class: 'nodata' }, `No data: ${hostId} sent no snapshots in this range (not the same as no traffic).`);
  if (c.gaps.length === 0 && (c.incomplete ?? 0) > 0) return el('p', { class: 'nodata' }, `Partial data: ${c.incomplete} of ${hostId}'s records in this range are incomplete (a source failed or lost events).`);
  if (c.gaps.length > 0) return el('p', { class: 'nodata' }, `Partial data: ${hostId} sent no snapshots for ${c.gaps.length} stretch(es) of this range, e.g. ${utc(c.gaps[0]!.from)} – ${utc(c.gaps[0]!.to)}.`);
  return el('p', { class: 'note' }, `${hostId} reported every interval of this range.`);
}

export function nodeDetails(ctx: DetailsContext, n: NodeData): HTMLElement {
  const panel = el('div', {}, el('h2', {}, n.name), facts([['kind', n.kind.toLowerCase().replace('_', ' ')], ['host', n.host?.id ?? '—'], ['container', n.containerId ?? '—'], ['address', n.address ?? '—']]));
  const cov = coverageLine(ctx, n.host?.id ?? (n.kind === 'HOST' ? n.name : null));
  if (cov) panel.append(cov);
  if (n.process && n.host) {
    const host = n.host.id;
    const { pid, startedAt } = n.process;
    const identity = el('div', { class: 'identity' }, 'Loading the process…');
    panel.append(identity);
    let first = true;
    panel.append(connectionTable('Connections in the range', async (after) => {
      const data = await ctx.api.query<{ process: null | { pid: number; startedAt: string; name: string; exe: string | null; cmdline: string; uid: number | null; containerId: string | null; cgroup: string | null; firstSeen: string | null; lastSeen: string | null; connections: ConnPage; listeners: { edges: Array<{ node: { protocol: string; address: string; port: number; firstSeen: string; lastSeen: string } }> } } }>(
        PROCESS_DETAILS, { host, pid, at: startedAt, range: ctx.range, first: PAGE, after });
      const p = data.process;
      if (first) {
        first = false;
        identity.replaceChildren(p ? facts([['pid', String(p.pid)], ['started', utc(p.startedAt)], ['exe', p.exe ?? '—'], ['cmdline', p.cmdline || '—'], ['uid', p.uid === null ? '—' : String(p.uid)],
          ['container', p.containerId ?? '—'], ['cgroup', p.cgroup ?? '—'], ['seen', `${utc(p.firstSeen)} → ${utc(p.lastSeen)}`],
          ['listening', p.listeners.edges.length === 0 ? 'nothing in this window' : p.listeners.edges.map(({ node: l }) => `${l.protocol} ${l.address}:${l.port} (${utc(l.firstSeen)} → ${utc(l.lastSeen)})`).join('; ')]])
          : el('p', { class: 'note' }, 'conntrail has no record of this process.'));
      }
      return p?.connections ?? null;
    }));
  } else if (n.kind === 'HOST' || (n.host && n.kind !== 'ADDRESS')) {
    const host = n.host?.id ?? n.name;
    panel.append(connectionTable(`Connections of ${host} in the range`, async (after) => {
      const data = await ctx.api.query<{ host: null | { connections: ConnPage } }>(HOST_DETAILS, { host, range: ctx.range, first: PAGE, after });
      return data.host?.connections ?? null;
    }));
  } else if (n.address) {
    panel.append(connectionTable(`Connections touching ${n.address}`, async (after) =>
      (await ctx.api.query<{ connections: ConnPage }>(EDGE_CONNECTIONS, { range: ctx.range, filter: { address: n.address }, first: PAGE, after })).connections));
  }
  return panel;
}

export function edgeDetails(ctx: DetailsContext, e: EdgeData): HTMLElement {
  const end = (x: EdgeData['client']): string => `${x.node.name}${x.address ? ` (${x.address}${x.port ? `:${x.port}` : ''})` : x.port ? ` :${x.port}` : ''}`;
  const panel = el('div', {},
    el('h2', {}, `${e.client.node.name} → ${e.server.node.name}`),
    facts([
      ['client', end(e.client)], ['server', end(e.server)], ['protocol', `${e.protocol} port ${e.server.port ?? '—'}`],
      ['match', e.matches.map((m) => `${m.match.toLowerCase().replace('_', ' ')} (${num(m.connections)})`).join(', ')],
      ['connections', String(num(e.connections))], ['client sent', formatBytes(e.bytesSent)], ['client received', formatBytes(e.bytesReceived)],
      ['first seen', utc(e.firstSeen)], ['last seen', utc(e.lastSeen)],
    ]));
  for (const hostId of new Set([e.client.host?.id, e.server.host?.id])) {
    const cov = coverageLine(ctx, hostId ?? null);
    if (cov && cov.className === 'nodata') panel.append(cov);
  }
  const hops = el('section', { class: 'nat' }, el('h3', {}, 'NAT hops'));
  if (e.nat.length === 0) hops.append(el('p', { class: 'note' }, 'No NAT translation on this edge.'));
  for (const hop of e.nat) {
    hops.append(el('p', { class: 'hop' }, `${hop.kind} on ${hop.host?.id ?? 'an unknown router'}: ${natHopText(hop)} — ${hop.translations} translation(s), ${utc(hop.firstSeen)} → ${utc(hop.lastSeen)}`));
  }
  panel.append(hops);
  const dnat = e.nat.filter((h) => h.kind !== 'SNAT' && h.original.destinationPort !== null);
  const targets = new Map(dnat.map((h) => [`${h.original.destination}:${h.original.destinationPort}|${h.original.source}`, h]));
  if (targets.size > 0) {
    const resolved = el('section', { class: 'resolve' }, el('h3', {}, 'What the VIP resolved to'));
    panel.append(resolved);
    for (const hop of [...targets.values()].slice(0, 5)) {
      const line = el('p', {}, `${hop.original.destination}:${hop.original.destinationPort} at ${utc(hop.lastSeen)}: …`);
      resolved.append(line);
      ctx.api.query<{ resolve: { translated: boolean; targets: Array<{ role: string; address: string; port: number; host: { id: string } | null; process: { pid: number; name: string } | null }> } }>(
        RESOLVE, { address: hop.original.destination, port: hop.original.destinationPort, at: hop.lastSeen, client: hop.original.source })
        .then(({ resolve }) => {
          const what = resolve.targets.map((t) => `${t.role.toLowerCase().replace('_', ' ')} ${t.address}:${t.port}${t.host ? ` on ${t.host.id}` : ''}${t.process ? ` (${t.process.name} [${t.process.pid}])` : ''}`);
          line.textContent = `${hop.original.destination}:${hop.original.destinationPort} at ${utc(hop.lastSeen)}: ${resolve.translated ? what.join(', ') || 'translated, no target known' : 'not translated then'}`;
        })
        .catch((err: unknown) => { line.textContent = sentenceFor(err); });
    }
  }
  const clientHost = e.client.host?.id;
  const serverHost = e.server.host?.id;
  const filter = clientHost
    ? { hosts: [clientHost], direction: 'OUTGOING', ...(e.client.process ? { processName: e.client.process.name } : {}), ...(e.nat[0]?.original.destinationPort ? { port: e.nat[0].original.destinationPort } : e.server.port ? { port: e.server.port } : {}) }
    : serverHost ? { hosts: [serverHost], direction: 'INCOMING', ...(e.server.process ? { processName: e.server.process.name } : {}), ...(e.server.port ? { port: e.server.port } : {}) } : null;
  if (filter) {
    panel.append(connectionTable(`Connections (as ${clientHost ? 'the client' : 'the server'} recorded them)`, async (after) =>
      (await ctx.api.query<{ connections: ConnPage }>(EDGE_CONNECTIONS, { range: ctx.range, filter: { ...filter, protocol: e.protocol }, first: PAGE, after })).connections));
  }
  return panel;
}
