import { ConntrailError, type ProcfsErrorCode } from '../../../domain/errors.js';

export type { ProcfsErrorCode } from '../../../domain/errors.js';

export class ProcfsError extends ConntrailError<ProcfsErrorCode> {}

/** errno code of a Node system error, if any. */
export function errnoCode(err: unknown): string | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** A process that exited between listing /proc and reading its files: normal, not an error. */
export function isVanished(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ENOENT' || code === 'ESRCH';
}
