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

/**
 * How a column travels in a packed result: a JSON string (text: escaped; word: a value that never needs escaping,
 * such as an address from host() or a column whose CHECK allows only plain words), an integer, or a timestamptz as
 * integer milliseconds since the epoch (what a Date would hold).
 */
export type PackedKind = 'text' | 'word' | 'int' | 'ms';

export interface PackedColumn {
  readonly name: string;
  readonly kind: PackedKind;
}

function packedValue(column: PackedColumn): string {
  const ref = `r.${column.name}`;
  const text = column.kind === 'text' ? `to_json(${ref})::text`
    : column.kind === 'word' ? `'"' || ${ref} || '"'`
    : column.kind === 'ms' ? `floor(extract(epoch from ${ref}) * 1000)::bigint::text`
      : `${ref}::text`;
  // concat_ws skips NULLs: each value writes its own null so that positions hold.
  return `COALESCE(${text}, 'null')`;
}

/**
 * A query whose rows come back as ONE text value: a JSON array of arrays, one per row of `inner`, in its order.
 * Why: the cost of a large result is per row and per field on both engines (the embedded engine's wire output
 * decodes every field it sends, pg parses every field it receives), not in the query; one field of JSON costs a
 * few percent of that, and JSON.parse reads it natively. `inner` is a constant of this package (bound
 * parameters only); `columns` name its output columns.
 */
export function packed(inner: string, columns: readonly PackedColumn[]): string {
  const values = columns.map(packedValue).join(', ');
  return `SELECT COALESCE('[' || string_agg('[' || concat_ws(',', ${values}) || ']', ',') || ']', '[]') AS packed
FROM (${inner}) r`;
}

/** The rows of a packed() query as objects keyed by the column names. */
export function unpack<R>(rows: readonly { packed?: unknown }[], columns: readonly PackedColumn[]): R[] {
  const text = rows[0]?.packed;
  const arrays = (typeof text === 'string' ? JSON.parse(text) : []) as unknown[][];
  const out: R[] = new Array<R>(arrays.length);
  for (let i = 0; i < arrays.length; i++) {
    const values = arrays[i]!;
    const row: Record<string, unknown> = {};
    for (let c = 0; c < columns.length; c++) row[columns[c]!.name] = values[c];
    out[i] = row as R;
  }
  return out;
}
