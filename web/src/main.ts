/**
 * The UI's composition: view state <-> URL, controls, loading, map, timeline, details, errors, sign-in.
 * Every change goes through apply(): the URL always holds the whole view.
 */
import { createApi, type Api } from './api.js';
import { cachingApi } from './cache.js';
import { drawChart } from './chart.js';
import { readAbsolute, readFilters, readGroup, readPreset, readSince, writeControls } from './controls.js';
import { loadCoverage, loadMap, loadTraffic, type MapData } from './data.js';
import { edgeDetails, nodeDetails, type DetailsContext } from './details.js';
import { byId, el, utc } from './dom.js';
import { sentenceFor, UiError } from './errors.js';
import { createMap, type MapView } from './map.js';
import { buildModel, collapseHosts, edgeKey, nodeKey, type MapModel } from './model.js';
import { mapWindow, parseState, presetState, serializeState, stepSeconds, stepStarts, type ViewState } from './state.js';
import type { HostCoverage, TrafficPoint } from './types.js';
import type { EdgeSingular, NodeSingular } from 'cytoscape';

type Reload = 'all' | 'map' | 'model';

/** How long after a window's end its map answer may be cached: a few collector intervals, for late reports. */
const SETTLE_MS = 120_000;

/** What the page exposes for its browser tests and bench: a read-only summary of what is drawn. */
export interface PageProbe {
  readonly renders: number;
  /** Where an element is drawn, in CSS pixels relative to the map's container (to click it). */
  position(id: string): { x: number; y: number } | null;
  summary(): { nodes: Array<{ id: string; label: string; classes: string[]; parent: string | null }>; edges: Array<{ id: string; source: string; target: string; label: string; classes: string[] }> };
}

function start(): void {
  const api: Api = createApi();
  // Map answers of settled windows go through a short-lived cache: scrubbing back is instant and the next steps are
  // fetched ahead. A window ending less than SETTLE_MS ago is always asked afresh: collectors are still reporting it.
  const cached: Api = cachingApi(api, { maxEntries: 24, ttlMs: 30_000 });
  const mapApi = (s: ViewState): Api => (mapWindow(s).to < Date.now() - SETTLE_MS ? cached : api);
  const map: MapView = createMap(byId('map'));
  let state: ViewState = parseState(location.search, Date.now());
  let data: MapData | null = null;
  let model: MapModel | null = null;
  let traffic: TrafficPoint[] = [];
  let coverage = new Map<string, HostCoverage>();
  let generation = 0;
  let renders = 0;
  const message = byId<HTMLElement>('message');
  const status = byId<HTMLElement>('status');
  const details = byId<HTMLElement>('details');
  const scrubber = byId<HTMLInputElement>('scrubber');

  const drawnIn = (n: NodeSingular): string | null => {
    const host = (n.data('host') as string | null | undefined) ?? null;
    const box = host === null ? null : map.cy.getElementById(host);
    if (!box || box.empty()) return null;
    const c = (box as NodeSingular).position();
    const p = n.position();
    return Math.abs(p.x - c.x) <= (box as NodeSingular).width() / 2 && Math.abs(p.y - c.y) <= (box as NodeSingular).height() / 2 ? host : null;
  };
  const probe: PageProbe = {
    get renders() { return renders; },
    position: (id) => {
      const found = map.cy.getElementById(id);
      if (found.empty()) return null;
      const p = found.isEdge() ? (found as EdgeSingular).renderedMidpoint() : (found as NodeSingular).renderedPosition();
      return { x: p.x, y: p.y };
    },
    summary: () => ({
      // A node's parent is the host box it is drawn inside: named by its data and where both are on the canvas.
      nodes: map.cy.nodes().map((n) => ({ id: n.id(), label: String(n.data('label')), classes: n.classes(), parent: drawnIn(n) })),
      edges: map.cy.edges().map((e) => ({ id: e.id(), source: e.source().id(), target: e.target().id(), label: String(e.data('label')), classes: e.classes() })),
    }),
  };
  (window as unknown as { conntrail: PageProbe }).conntrail = probe;

  const showError = (err: unknown): void => {
    document.body.dataset.state = 'error';
    message.textContent = sentenceFor(err);
    message.hidden = false;
    if (err instanceof UiError && err.code === 'UNAUTHENTICATED') signIn(err);
  };

  const signIn = (err: UiError | null): void => {
    const dialog = byId<HTMLDialogElement>('login');
    byId('login-error').textContent = err && api.hasToken() ? 'That token was not accepted.' : '';
    if (!dialog.open) dialog.showModal();
  };
  byId<HTMLFormElement>('login-form').addEventListener('submit', () => {
    cached.setToken(byId<HTMLInputElement>('token').value.trim() || null);
    byId<HTMLInputElement>('token').value = '';
    byId('logout').hidden = false;
    void reload('all');
  });
  byId('logout').hidden = !api.hasToken();
  byId('logout').addEventListener('click', () => { cached.setToken(null); byId('logout').hidden = true; signIn(null); });

  const coverageSummary = (): string => {
    const none = [...coverage.values()].filter((c) => c.recorded === 0).map((c) => c.id);
    const partial = [...coverage.values()].filter((c) => c.recorded > 0 && (c.gaps.length > 0 || (c.incomplete ?? 0) > 0)).map((c) => c.id);
    return [none.length ? `no data from ${none.join(', ')}` : '', partial.length ? `partial data from ${partial.join(', ')}` : ''].filter(Boolean).join(' · ');
  };

  const renderStatus = (): void => {
    const w = mapWindow(state);
    const parts = [`${utc(new Date(w.from).toISOString())} → ${utc(new Date(w.to).toISOString())}`];
    if (data && model) {
      const drawn = model.nodes.filter((n) => n.kind !== 'HOSTBOX').length;
      parts.push(`${drawn} nodes · ${data.edges.length} edges${data.totalEdges > data.edges.length ? ` (of ${data.totalEdges}: narrow the filters to see the rest)` : ''} · ${data.resolution.toLowerCase()} data`);
      if (data.edges.length === 0) {
        parts.push(data.reporting === 0 ? 'No data: no host sent snapshots for this window'
          : data.complete ? 'No traffic in this window' : 'No traffic recorded, but the data for this window is incomplete');
      } else if (!data.complete) parts.push('some data missing in this window');
      if (data.diff) parts.push(`since ${utc(new Date(state.since!).toISOString())}: ${data.diff.fresh.size} new, ${data.diff.gone.length} gone`);
    }
    const cov = coverageSummary();
    if (cov) parts.push(cov);
    status.textContent = parts.join(' · ');
  };

  const renderDetails = (): void => {
    const key = state.selection;
    map.select(key);
    if (!key || !data) {
      if (!details.hidden) { details.hidden = true; map.cy.resize(); }
      details.replaceChildren();
      return;
    }
    const w = mapWindow(state);
    const ctx: DetailsContext = { api, range: { from: new Date(w.from).toISOString(), to: new Date(w.to).toISOString() }, coverage };
    const close = el('button', { type: 'button', class: 'close', 'aria-label': 'close details' }, '×');
    close.addEventListener('click', () => apply({ ...state, selection: null }, 'model'));
    const all = [...data.edges, ...(data.diff?.gone ?? [])];
    const edge = all.find((e) => edgeKey(e.id) === key);
    const node = key.startsWith('h:')
      ? { id: key, kind: 'HOST' as const, name: key.slice(2), containerId: null, address: null, host: { id: key.slice(2) }, process: null }
      : all.flatMap((e) => [e.client.node, e.server.node]).find((n) => nodeKey(n.id) === key);
    const merged = model?.edges.find((e) => e.id === key && key.startsWith('c:'));
    const body = merged ? el('div', {}, el('h2', {}, merged.label), el('p', { class: 'note' }, 'Edges of a collapsed host, merged: double-click the host to unfold them.'))
      : edge ? edgeDetails(ctx, edge) : node ? nodeDetails(ctx, node) : el('p', { class: 'note' }, 'The selection is not on the map in this window.');
    details.replaceChildren(close, body);
    // The map's container narrows when the panel opens: Cytoscape must re-read its size to keep clicks aligned.
    if (details.hidden) { details.hidden = false; map.cy.resize(); }
  };

  const renderChart = (): void => {
    const w = mapWindow(state);
    const gaps = [...coverage.values()].flatMap((c) => (c.recorded === 0 ? [{ from: state.from, to: state.to }] : c.gaps.map((g) => ({ from: Date.parse(g.from), to: Date.parse(g.to) }))));
    drawChart(byId<HTMLCanvasElement>('chart'), { from: state.from, to: state.to, stepMs: stepSeconds(state.from, state.to) * 1000, points: traffic, gaps, cursor: state.at === null ? null : w });
    const steps = stepStarts(state.from, state.to);
    scrubber.max = String(steps.length);
    scrubber.value = String(state.at === null ? steps.length : Math.max(0, steps.findIndex((t) => t >= state.at!)));
    byId('window-label').textContent = state.at === null ? 'whole range' : `${utc(new Date(w.from).toISOString())} – ${utc(new Date(w.to).toISOString())}`;
  };

  const rebuild = (fit: boolean): void => {
    if (!data) return;
    performance.mark('conntrail:model-start');
    model = collapseHosts(buildModel(data.edges, data.diff, state.search), new Set(state.collapsed));
    performance.mark('conntrail:draw-start');
    map.render(model, fit);
    // Phases for the bench: building the model, handing it to the graph library.
    performance.measure('conntrail:model', 'conntrail:model-start', 'conntrail:draw-start');
    performance.measure('conntrail:draw', 'conntrail:draw-start');
    renders += 1;
    document.body.dataset.renders = String(renders);
    renderStatus();
    renderDetails();
  };

  // The scrubber's neighbouring steps, fetched into the cache while the user looks at this one.
  const prefetchNeighbours = (): void => {
    if (state.at === null) return;
    const steps = stepStarts(state.from, state.to);
    const i = steps.indexOf(state.at);
    for (const j of [i + 1, i - 1]) {
      const at = steps[j];
      if (i < 0 || at === undefined) continue;
      const next = { ...state, at };
      if (mapApi(next) === cached) loadMap(cached, next).catch(() => undefined);
    }
  };

  const reload = async (what: Reload, fit = false): Promise<void> => {
    const mine = ++generation;
    document.body.dataset.state = 'loading';
    renderChart();
    if (what === 'model') { rebuild(fit); document.body.dataset.state = 'ready'; return; }
    try {
      const mapP = loadMap(mapApi(state), state);
      // Awaited below; a failure while the others are awaited must not count as unhandled meanwhile.
      mapP.catch(() => undefined);
      if (what === 'all') {
        const [t, c] = await Promise.all([loadTraffic(api, state), loadCoverage(api, state)]);
        if (mine !== generation) return;
        traffic = t;
        coverage = c;
        renderChart();
      }
      const d = await mapP;
      if (mine !== generation) return;
      data = d;
      message.hidden = true;
      rebuild(fit);
      document.body.dataset.state = 'ready';
      prefetchNeighbours();
    } catch (err) {
      if (mine === generation) showError(err);
    }
  };

  const apply = (next: ViewState, what: Reload, fit = false): void => {
    state = next;
    history.replaceState(null, '', serializeState(state));
    void reload(what, fit);
  };

  map.onSelect((key) => apply({ ...state, selection: key }, 'model'));
  // Double-click on a host box (or its collapsed node) folds it into one node, or unfolds it.
  map.cy.on('dbltap', 'node', (ev) => {
    const id = String(ev.target.id());
    const host = id.startsWith('h:') ? id.slice(2) : null;
    if (!host) return;
    const collapsed = state.collapsed.includes(host) ? state.collapsed.filter((h) => h !== host) : [...state.collapsed, host];
    apply({ ...state, collapsed, selection: null }, 'model');
  });
  byId('preset').addEventListener('change', () => {
    const p = readPreset();
    if (p === 'abs') { byId('absolute').hidden = false; return; }
    apply({ ...state, ...presetState(p, Date.now()) }, 'all', true);
  });
  byId('apply-abs').addEventListener('click', () => {
    const { from, to } = readAbsolute();
    if (from === null || to === null || from >= to) { showError(new UiError('BAD_USER_INPUT', 'the range needs a start before its end')); return; }
    apply({ ...state, from, to, preset: null, at: null }, 'all', true);
  });
  byId('group').addEventListener('change', () => apply({ ...state, group: readGroup(), selection: null }, 'map', true));
  for (const id of ['f-host', 'f-process', 'f-address', 'f-port']) byId(id).addEventListener('change', () => apply({ ...state, filters: readFilters() }, 'all', true));
  byId('f-match').addEventListener('change', () => apply({ ...state, filters: readFilters() }, 'map'));
  byId('since').addEventListener('change', () => apply({ ...state, since: readSince() }, 'map'));
  byId('clear-since').addEventListener('click', () => { byId<HTMLInputElement>('since').value = ''; apply({ ...state, since: null }, 'map'); });
  byId('search').addEventListener('input', () => apply({ ...state, search: byId<HTMLInputElement>('search').value }, 'model'));
  byId('relayout').addEventListener('click', () => map.forceLayout());
  byId('whole').addEventListener('click', () => apply({ ...state, at: null }, 'map'));
  scrubber.addEventListener('input', () => {
    const steps = stepStarts(state.from, state.to);
    const i = Number(scrubber.value);
    apply({ ...state, at: i >= steps.length ? null : steps[i]! }, 'map');
  });
  window.addEventListener('resize', renderChart);
  window.addEventListener('error', (ev) => showError(ev.error));
  window.addEventListener('unhandledrejection', (ev) => showError(ev.reason));

  writeControls(state);
  apply(state, 'all', true);
}

start();
