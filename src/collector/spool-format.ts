import { createHash } from 'node:crypto';
import type { Snapshot } from '../domain/snapshot.js';

/**
 * The on-disk form of one spooled snapshot: a one-line header carrying the body's sha256, length and row
 * count, then the snapshot as JSON. The checksum catches torn writes and bit rot; the row count lets a
 * dropped file be accounted for without parsing its body. Pure.
 */

const MAGIC = 'conntrail-spool';
const VERSION = 1;
const HEADER = /^conntrail-spool 1 sha256=([0-9a-f]{64}) bytes=(\d+) rows=(\d+)$/;
/** File names sort in time order: a fixed-width time, so lexical order is numeric order. */
const NAME = /^(\d{15})\.snap$/;

export interface SpoolHeader {
  readonly sha256: string;
  readonly bytes: number;
  readonly rows: number;
}

export type Decoded =
  | { readonly ok: true; readonly snapshot: Snapshot; readonly header: SpoolHeader }
  | { readonly ok: false; readonly reason: string; readonly header: SpoolHeader | null };

export function spoolFileName(timeMs: number): string {
  return `${String(Math.trunc(timeMs)).padStart(15, '0')}.snap`;
}

export function timeOfSpoolFile(name: string): number | null {
  const m = NAME.exec(name);
  return m ? Number(m[1]) : null;
}

export function rowCount(s: Snapshot): number {
  return s.connections.length + s.nat.length + s.listening.length;
}

export function encodeSnapshot(s: Snapshot): Buffer {
  const body = Buffer.from(JSON.stringify(s), 'utf8');
  const sha = createHash('sha256').update(body).digest('hex');
  const header = Buffer.from(`${MAGIC} ${VERSION} sha256=${sha} bytes=${body.length} rows=${rowCount(s)}\n`, 'utf8');
  return Buffer.concat([header, body]);
}

export function decodeHeader(data: Buffer): SpoolHeader | null {
  const nl = data.indexOf(0x0a);
  if (nl < 0 || nl > 512) return null;
  const m = HEADER.exec(data.subarray(0, nl).toString('utf8'));
  if (!m) return null;
  return { sha256: m[1] as string, bytes: Number(m[2]), rows: Number(m[3]) };
}

function looksLikeSnapshot(v: unknown): v is Snapshot {
  if (v === null || typeof v !== 'object') return false;
  const s = v as Record<string, unknown>;
  return typeof s.hostId === 'string' && typeof s.timeMs === 'number' && typeof s.intervalMs === 'number'
    && Array.isArray(s.connections) && Array.isArray(s.nat) && Array.isArray(s.listening)
    && Array.isArray(s.processes) && typeof s.completeness === 'object' && s.completeness !== null;
}

export function decodeSnapshot(data: Buffer): Decoded {
  const header = decodeHeader(data);
  if (!header) return { ok: false, reason: 'missing or malformed header', header: null };
  const body = data.subarray(data.indexOf(0x0a) + 1);
  if (body.length !== header.bytes) {
    return { ok: false, reason: `body is ${body.length} bytes, header says ${header.bytes} (truncated?)`, header };
  }
  const sha = createHash('sha256').update(body).digest('hex');
  if (sha !== header.sha256) return { ok: false, reason: 'checksum mismatch', header };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, reason: 'body is not JSON', header };
  }
  if (!looksLikeSnapshot(parsed)) return { ok: false, reason: 'body is not a snapshot', header };
  return { ok: true, snapshot: parsed, header };
}
