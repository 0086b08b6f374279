/** Typed store errors: each carries a stable code and the context a log line or an API error needs. */
import { ConntrailError, type StoreErrorCode } from '../domain/errors.js';

export type { StoreErrorCode } from '../domain/errors.js';

export class StoreError extends ConntrailError<StoreErrorCode> {}

/** Connection-level failures (refused, reset, terminated) as opposed to SQL errors. */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof StoreError) return err.code === 'STORE_UNAVAILABLE';
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', '57P01', '57P02', '57P03', '08006', '08001', '08003', '08004'].includes(code)) return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  return /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(message);
}

/**
 * A row-level data error: the snapshot's own values were refused (SQLSTATE class 22 data exception or
 * 23 integrity constraint violation, or our own validation). Retrying the same data cannot succeed. Every
 * other failure (connection lost, 57P01, read-only 25006, resources 53xxx, 40001, timeouts, unknown) may
 * pass, so a writer keeps the data for later.
 */
export function isDataError(err: unknown): boolean {
  if (err instanceof StoreError) {
    if (err.code === 'INVALID_ROW') return true;
    if (err.code !== 'QUERY_FAILED') return false;
    return isDataSqlState(err.context.sqlState);
  }
  return isDataSqlState((err as { code?: unknown } | null)?.code);
}

function isDataSqlState(state: unknown): boolean {
  return typeof state === 'string' && /^2[23][0-9A-Z]{3}$/.test(state);
}
