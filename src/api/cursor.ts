/**
 * Opaque cursors: a keyset position tagged with the list it belongs to, base64url-encoded. A cursor from one
 * list is refused by another, and anything malformed is BAD_USER_INPUT rather than a database error.
 */
import { ApiError } from './errors.js';

export type CursorKind = 'connection' | 'nat' | 'process' | 'snapshot' | 'listener';

export function encodeCursor(kind: CursorKind, key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify([kind, ...key]), 'utf8').toString('base64url');
}

export function decodeCursor<K>(kind: CursorKind, cursor: string | null | undefined, isKey: (value: unknown) => value is K): K | null {
  if (cursor == null) return null;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new ApiError('BAD_USER_INPUT', 'the cursor is malformed');
  }
  if (!Array.isArray(decoded) || decoded[0] !== kind) throw new ApiError('BAD_USER_INPUT', 'the cursor does not belong to this list');
  const key = decoded.slice(1);
  if (!isKey(key)) throw new ApiError('BAD_USER_INPUT', 'the cursor is malformed');
  return key;
}
