/**
 * Small helpers shared by the read queries. Every fragment passed in is a constant of this package: user input
 * only ever travels as a bound parameter ($n), never inside the SQL text.
 */

/** Collects bound parameters and returns their placeholders, so fragments never hard-code positions. */
export class Params {
  readonly values: unknown[] = [];

  /** Binds a value and returns its placeholder. */
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** A timestamptz column as integer microseconds since the epoch: exact, unlike a float of seconds. */
export function epochUs(column: string): string {
  return `(extract(epoch from ${column}) * 1000000)::bigint`;
}

/** A bound integer of microseconds as a timestamptz (the inverse of epochUs). */
export function fromEpochUs(placeholder: string): string {
  return `('epoch'::timestamptz + ${placeholder}::bigint * interval '1 microsecond')`;
}

export function msToUs(ms: number): number {
  return Math.round(ms * 1000);
}

export function toMs(value: Date | string | number): number {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'number') return value;
  return new Date(value).getTime();
}

export function isoOf(ms: number): string {
  return new Date(ms).toISOString();
}

/** Numbers from bigint/numeric columns (the pool parses safe integers to numbers, larger ones stay strings). */
export function num(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return Number(value);
  return 0;
}

export type { TimeRange } from '../../domain/time-range.js';

/** Keyset pagination: a page of up to `first` rows after an optional key, in a fixed total order. */
export interface PageRequest<K> {
  readonly first: number;
  readonly after: K | null;
}

/** One more row than asked is fetched so hasNextPage needs no count. */
export interface Page<R> {
  readonly rows: R[];
  readonly hasNextPage: boolean;
}

export function toPage<R>(rows: R[], first: number): Page<R> {
  return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
}

export function isStringOrNumberArray(value: unknown, length: number): value is (string | number)[] {
  return Array.isArray(value) && value.length === length && value.every((v) => typeof v === 'string' || typeof v === 'number');
}
