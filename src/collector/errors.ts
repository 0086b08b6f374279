/** Typed collector errors: a stable code plus the context a log line needs. */
import { ConntrailError, type CollectorErrorCode } from '../domain/errors.js';

export type { CollectorErrorCode } from '../domain/errors.js';

export class CollectorError extends ConntrailError<CollectorErrorCode> {}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
