/**
 * What one request may ask for. Every bound is enforced before the store is touched, with a stable error code.
 */
import { isIP } from 'node:net';
import { DAY_MS } from '../domain/resolution.js';
import type { TimeRange } from '../domain/time-range.js';
import type { TimeRange as RangeInput } from './generated/graphql.js';
import { ApiError } from './errors.js';

export interface ApiLimits {
  /** Deepest field nesting of an operation (introspection excluded). */
  readonly maxDepth: number;
  /** Most aliased fields in one document (each alias runs its field again). */
  readonly maxAliases: number;
  /** Most lexical tokens in one document (parsing stops there, before any other work). */
  readonly maxTokens: number;
  /** Estimated cost ceiling of an operation (fields weighted by the list sizes they may return). */
  readonly maxCost: number;
  /** Largest `first` / `limit`. */
  readonly maxPageSize: number;
  /** Longest range read from raw rows. */
  readonly maxRawRangeMs: number;
  /** Longest range read from the aggregates. */
  readonly maxAggregateRangeMs: number;
  /** Most operations in one batched HTTP request. */
  readonly maxBatch: number;
  /** Largest request body. */
  readonly maxBodyBytes: number;
  /** Most points of one traffic series. */
  readonly maxTrafficPoints: number;
  /** Most hosts listed by `hosts`. */
  readonly maxHosts: number;
}

export const DEFAULT_LIMITS: ApiLimits = Object.freeze({
  maxDepth: 15,
  maxAliases: 100,
  maxTokens: 10_000,
  maxCost: 100_000,
  maxPageSize: 1000,
  maxRawRangeMs: 31 * DAY_MS,
  maxAggregateRangeMs: 400 * DAY_MS,
  maxBatch: 10,
  maxBodyBytes: 1024 * 1024,
  maxTrafficPoints: 10_000,
  maxHosts: 10_000,
});

/** The schema's TimeRange input (epoch ms, as the DateTime scalar parses it), before it is checked. */
export type { TimeRange as RangeInput } from './generated/graphql.js';


/** A validated window: from before to, and no longer than `maxMs`. */
export function checkRange(range: RangeInput, maxMs: number, what: string): TimeRange {
  if (!(range.from < range.to)) throw new ApiError('BAD_USER_INPUT', `${what}: range.from must be before range.to`);
  if (range.to - range.from > maxMs) {
    throw new ApiError('RANGE_TOO_LARGE', `${what}: the range may span at most ${Math.floor(maxMs / DAY_MS)} days here`, { from: range.from, to: range.to, maxMs });
  }
  return { fromMs: range.from, toMs: range.to };
}

export function checkPageSize(limits: ApiLimits, value: number | null | undefined, fallback: number, what: string): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < 0) throw new ApiError('BAD_USER_INPUT', `${what} must be a non-negative integer`);
  if (n > limits.maxPageSize) throw new ApiError('PAGE_TOO_LARGE', `${what} may be at most ${limits.maxPageSize}`, { requested: n });
  return n;
}

export function checkAddress(value: string | null | undefined, what: string): string | null {
  if (value == null) return null;
  if (isIP(value) === 0) throw new ApiError('BAD_USER_INPUT', `${what} is not an IP address`);
  return value;
}

export function checkPort(value: number | null | undefined, what: string): number | null {
  if (value == null) return null;
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new ApiError('BAD_USER_INPUT', `${what} must be 0..65535`);
  return value;
}

export function checkPid(value: number | null | undefined, what: string): number | null {
  if (value == null) return null;
  if (!Number.isInteger(value) || value <= 0) throw new ApiError('BAD_USER_INPUT', `${what} must be a positive integer`);
  return value;
}
