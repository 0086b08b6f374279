/**
 * The whole view as one immutable value, and its round trip through the URL's query string, so a copied link
 * reproduces the view: range (absolute, even when picked as "last 1 h", so the link shows the same moment later),
 * scrubber position, grouping, filters, since-diff, search and selection.
 */
export type Grouping = 'PROCESS' | 'PROCESS_NAME' | 'CONTAINER' | 'HOST' | 'ADDRESS';
export type MatchLabel = 'BOTH_ENDS' | 'NAT_RESOLVED' | 'CLIENT_ONLY' | 'SERVER_ONLY';
export type Preset = '15m' | '1h' | '24h' | '7d';

export const GROUPINGS: readonly Grouping[] = ['PROCESS', 'PROCESS_NAME', 'CONTAINER', 'HOST', 'ADDRESS'];
export const MATCH_LABELS: readonly MatchLabel[] = ['BOTH_ENDS', 'NAT_RESOLVED', 'CLIENT_ONLY', 'SERVER_ONLY'];
export const PRESETS: Readonly<Record<Preset, number>> = { '15m': 900_000, '1h': 3_600_000, '24h': 86_400_000, '7d': 604_800_000 };

export interface Filters {
  readonly host: string;
  readonly process: string;
  readonly address: string;
  readonly port: number | null;
  /** Empty means every label. */
  readonly match: readonly MatchLabel[];
}

export interface ViewState {
  readonly from: number;
  readonly to: number;
  /** The preset the range was picked with (informational: the range itself is always absolute). */
  readonly preset: Preset | null;
  /** Start of the scrubbed step window; null = the whole range. */
  readonly at: number | null;
  readonly group: Grouping;
  readonly filters: Filters;
  /** "What is new since": null = no diff. */
  readonly since: number | null;
  readonly search: string;
  /** 'n:<node id>', 'e:<edge id>', 'h:<collapsed host>' or 'c:<merged edge>'. */
  readonly selection: string | null;
  /** Host boxes drawn as one node each. */
  readonly collapsed: readonly string[];
}

export const NO_FILTERS: Filters = { host: '', process: '', address: '', port: null, match: [] };

export function presetState(preset: Preset, now: number): Pick<ViewState, 'from' | 'to' | 'preset' | 'at'> {
  return { from: now - PRESETS[preset], to: now, preset, at: null };
}

export function defaultState(now: number): ViewState {
  return { ...presetState('1h', now), group: 'PROCESS', filters: NO_FILTERS, since: null, search: '', selection: null, collapsed: [] };
}

function time(value: string | null): number | null {
  if (!value) return null;
  const t = Date.parse(value);
  return Number.isFinite(t) ? t : null;
}

/** Reads a view from a query string; anything missing or malformed falls back to the default. */
export function parseState(search: string, now: number): ViewState {
  const p = new URLSearchParams(search);
  const base = defaultState(now);
  const presetParam = p.get('preset');
  const preset = presetParam && presetParam in PRESETS ? (presetParam as Preset) : null;
  let from = time(p.get('from'));
  let to = time(p.get('to'));
  if (from === null || to === null || from >= to) ({ from, to } = preset ? presetState(preset, now) : base);
  const at = time(p.get('at'));
  const group = GROUPINGS.find((g) => g === p.get('group')) ?? base.group;
  const port = Number(p.get('port'));
  const match = (p.get('match') ?? '').split(',').filter((m): m is MatchLabel => (MATCH_LABELS as readonly string[]).includes(m));
  return {
    from, to, preset,
    at: at !== null && at >= from && at < to ? at : null,
    group,
    filters: {
      host: p.get('host') ?? '', process: p.get('process') ?? '', address: p.get('address') ?? '',
      port: Number.isInteger(port) && port > 0 && port < 65536 ? port : null, match,
    },
    since: time(p.get('since')),
    search: p.get('q') ?? '',
    selection: /^[nech]:/.test(p.get('sel') ?? '') ? p.get('sel') : null,
    collapsed: p.getAll('collapse').filter(Boolean),
  };
}

/** The query string for a view (stable key order, empty values left out). */
export function serializeState(s: ViewState): string {
  const p = new URLSearchParams();
  p.set('from', new Date(s.from).toISOString());
  p.set('to', new Date(s.to).toISOString());
  if (s.preset) p.set('preset', s.preset);
  if (s.at !== null) p.set('at', new Date(s.at).toISOString());
  p.set('group', s.group);
  if (s.filters.host) p.set('host', s.filters.host);
  if (s.filters.process) p.set('process', s.filters.process);
  if (s.filters.address) p.set('address', s.filters.address);
  if (s.filters.port !== null) p.set('port', String(s.filters.port));
  if (s.filters.match.length > 0 && s.filters.match.length < MATCH_LABELS.length) p.set('match', s.filters.match.join(','));
  if (s.since !== null) p.set('since', new Date(s.since).toISOString());
  if (s.search) p.set('q', s.search);
  if (s.selection) p.set('sel', s.selection);
  for (const host of s.collapsed) p.append('collapse', host);
  return `?${p.toString()}`;
}

const NICE_STEPS_S = [15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];

/** The scrubber's and the chart's step: at most ~60 steps over the range, in sizes the aggregates answer. */
export function stepSeconds(from: number, to: number): number {
  const wanted = (to - from) / 1000 / 60;
  return NICE_STEPS_S.find((s) => s >= wanted) ?? Math.ceil(wanted / 86400) * 86400;
}

/** The window the map shows: one scrubber step, or the whole range. */
export function mapWindow(s: ViewState): { from: number; to: number } {
  if (s.at === null) return { from: s.from, to: s.to };
  return { from: s.at, to: Math.min(s.to, s.at + stepSeconds(s.from, s.to) * 1000) };
}

/** The scrubber's steps: their start times, aligned to the range's start. */
export function stepStarts(from: number, to: number): number[] {
  const step = stepSeconds(from, to) * 1000;
  const out: number[] = [];
  for (let t = from; t < to; t += step) out.push(t);
  return out;
}
