/** The header controls: read into a ViewState, written from one. */
import { byId } from './dom.js';
import { MATCH_LABELS, type Filters, type Grouping, type MatchLabel, type Preset, type ViewState } from './state.js';

const toLocalInput = (t: number): string => new Date(t).toISOString().slice(0, 19);
const fromLocalInput = (v: string): number | null => {
  if (!v) return null;
  const t = Date.parse(`${v.length === 16 ? `${v}:00` : v}Z`);
  return Number.isFinite(t) ? t : null;
};

export function writeControls(s: ViewState): void {
  byId<HTMLSelectElement>('preset').value = s.preset ?? 'abs';
  byId<HTMLElement>('absolute').hidden = s.preset !== null;
  byId<HTMLInputElement>('from').value = toLocalInput(s.from);
  byId<HTMLInputElement>('to').value = toLocalInput(s.to);
  byId<HTMLSelectElement>('group').value = s.group;
  byId<HTMLInputElement>('f-host').value = s.filters.host;
  byId<HTMLInputElement>('f-process').value = s.filters.process;
  byId<HTMLInputElement>('f-address').value = s.filters.address;
  byId<HTMLInputElement>('f-port').value = s.filters.port === null ? '' : String(s.filters.port);
  for (const box of byId('f-match').querySelectorAll<HTMLInputElement>('input[type=checkbox]')) {
    box.checked = s.filters.match.length === 0 || s.filters.match.includes(box.value as MatchLabel);
  }
  byId<HTMLInputElement>('since').value = s.since === null ? '' : toLocalInput(s.since);
  byId<HTMLInputElement>('search').value = s.search;
}

export function readFilters(): Filters {
  const port = Number(byId<HTMLInputElement>('f-port').value.trim());
  const checked = [...byId('f-match').querySelectorAll<HTMLInputElement>('input[type=checkbox]')].filter((b) => b.checked).map((b) => b.value as MatchLabel);
  return {
    host: byId<HTMLInputElement>('f-host').value.trim(),
    process: byId<HTMLInputElement>('f-process').value.trim(),
    address: byId<HTMLInputElement>('f-address').value.trim(),
    port: Number.isInteger(port) && port > 0 && port < 65536 ? port : null,
    match: checked.length === MATCH_LABELS.length ? [] : checked,
  };
}

export const readGroup = (): Grouping => byId<HTMLSelectElement>('group').value as Grouping;
export const readPreset = (): Preset | 'abs' => byId<HTMLSelectElement>('preset').value as Preset | 'abs';
export const readAbsolute = (): { from: number | null; to: number | null } => ({
  from: fromLocalInput(byId<HTMLInputElement>('from').value), to: fromLocalInput(byId<HTMLInputElement>('to').value),
});
export const readSince = (): number | null => fromLocalInput(byId<HTMLInputElement>('since').value);
