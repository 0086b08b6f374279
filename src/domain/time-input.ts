/**
 * Durations and instants as people type them on a command line (`15s`, `1m30s`, `500ms`; `now-1h`, `-15m`,
 * ISO-8601, Unix seconds), parsed to milliseconds. Pure: "now" is an argument, never read from a clock here.
 */
import { ConntrailError } from './errors.js';

export class TimeInputError extends ConntrailError<'TIME_INPUT'> {
  readonly input: string;
  constructor(message: string, input: string) {
    super('TIME_INPUT', message, { input });
    this.input = input;
  }
}

const UNIT_MS: Readonly<Record<string, number>> = Object.freeze({
  ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000,
});

/** One or more `<number><unit>` parts, largest first or not: `1h30m`, `1.5s`, `500ms`. */
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;

/**
 * A duration in ms. A bare number is seconds (what `--interval 15` always meant). Negative durations are
 * refused: a relative time carries its sign itself (`-15m`).
 */
export function parseDuration(text: string): number {
  const input = text.trim();
  if (/^\d+(\.\d+)?$/.test(input)) return Math.round(Number(input) * 1000);
  DURATION_PART.lastIndex = 0;
  let total = 0;
  let consumed = 0;
  for (let m = DURATION_PART.exec(input); m !== null; m = DURATION_PART.exec(input)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    consumed = DURATION_PART.lastIndex;
  }
  if (input.length === 0 || consumed !== input.length) {
    throw new TimeInputError(`"${text}" is not a duration: write a number and a unit, e.g. 500ms, 15s, 1m, 1h30m, 2d (a bare number is seconds)`, text);
  }
  return Math.round(total);
}

/** ISO-8601 with a time zone (Z or an offset); seconds and fractions optional. */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;
const ISO_WITHOUT_ZONE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$/;
/** Above this a number is surely milliseconds (year 5138 in seconds), not the Unix seconds asked for. */
const MAX_UNIX_SECONDS = 1e11;

/**
 * An instant in epoch ms: `now`; `now-1h`, `now+30s` or just `-15m` (relative to `nowMs`); ISO-8601 with a zone;
 * Unix seconds (fractions allowed). A date or time without a zone is refused: which zone was meant is unknown.
 */
export function parseInstant(text: string, nowMs: number): number {
  const input = text.trim();
  if (input === 'now') return nowMs;
  const relative = /^(?:now)?\s*([+-])\s*(.+)$/.exec(input);
  if (relative) {
    let ms: number;
    try {
      ms = parseDuration(relative[2]!);
    } catch {
      throw new TimeInputError(`"${text}" is not a time: after now+ or now- (or a bare - or +) comes a duration such as 30s, 15m, 1h, 2d`, text);
    }
    return relative[1] === '-' ? nowMs - ms : nowMs + ms;
  }
  if (/^\d+(\.\d+)?$/.test(input)) {
    const seconds = Number(input);
    if (seconds >= MAX_UNIX_SECONDS) throw new TimeInputError(`"${text}" is too large for Unix seconds (milliseconds? divide by 1000)`, text);
    return Math.round(seconds * 1000);
  }
  if (ISO_INSTANT.test(input)) {
    const ms = Date.parse(input.replace(' ', 'T'));
    if (Number.isFinite(ms)) return ms;
  }
  if (ISO_WITHOUT_ZONE.test(input)) {
    throw new TimeInputError(`"${text}" has no time zone: add Z for UTC or an offset, e.g. ${input.length === 10 ? `${input}T00:00:00Z` : `${input.replace(' ', 'T')}Z`}`, text);
  }
  throw new TimeInputError(`"${text}" is not a time: write now, now-1h, -15m, an ISO-8601 time with a zone (2026-12-06T10:00:00Z) or Unix seconds`, text);
}
