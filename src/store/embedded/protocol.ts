/**
 * Just enough of the PostgreSQL v3 wire protocol for the embedded gateway: framing of client messages,
 * the few backend messages the gateway writes itself, and the spots it must look into
 * (ReadyForQuery status, statement and portal names, SQL text).
 */

export const PROTOCOL_3_0 = 196608;
export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;

export type TransactionStatus = 'I' | 'T' | 'E';

export interface StartupPacket {
  readonly code: number;
  readonly params: ReadonlyMap<string, string>;
}

/** Reads one untyped startup-phase packet, or null when more bytes are needed. */
export function readStartupPacket(buf: Buffer, maxSize = 10_000): { packet: StartupPacket; size: number } | null {
  if (buf.length < 8) return null;
  const size = buf.readInt32BE(0);
  if (size < 8 || size > maxSize) throw new ProtocolViolation(`invalid startup packet length ${size}`);
  if (buf.length < size) return null;
  const code = buf.readInt32BE(4);
  const params = new Map<string, string>();
  if (code === PROTOCOL_3_0) {
    const parts = buf.subarray(8, size - 1).toString('utf8').split('\0');
    for (let i = 0; i + 1 < parts.length; i += 2) params.set(parts[i] ?? '', parts[i + 1] ?? '');
  }
  return { packet: { code, params }, size };
}

/** Reads one typed frontend message (type byte + int32 length), or null when more bytes are needed. */
export function readMessage(buf: Buffer, maxSize: number): { type: string; message: Buffer; size: number } | null {
  if (buf.length < 5) return null;
  const length = buf.readInt32BE(1);
  if (length < 4 || length > maxSize) throw new ProtocolViolation(`invalid message length ${length}`);
  const size = length + 1;
  if (buf.length < size) return null;
  return { type: String.fromCharCode(buf[0] ?? 0), message: buf.subarray(0, size), size };
}

export class ProtocolViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolViolation';
  }
}

export function frameMessage(type: string, body: Buffer): Buffer {
  return frame(type, body);
}

function frame(type: string, body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.write(type, 0, 'latin1');
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`, 'utf8');
}

export function authRequest(code: number): Buffer {
  const body = Buffer.alloc(4);
  body.writeInt32BE(code, 0);
  return frame('R', body);
}

export function parameterStatus(name: string, value: string): Buffer {
  return frame('S', Buffer.concat([cstr(name), cstr(value)]));
}

export function backendKeyData(pid: number, secret: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeInt32BE(pid, 0);
  body.writeInt32BE(secret, 4);
  return frame('K', body);
}

export function readyForQuery(status: TransactionStatus): Buffer {
  return frame('Z', Buffer.from(status, 'latin1'));
}

export function errorResponse(severity: 'ERROR' | 'FATAL', sqlState: string, message: string): Buffer {
  return frame('E', Buffer.concat([
    Buffer.from('S'), cstr(severity), Buffer.from('V'), cstr(severity),
    Buffer.from('C'), cstr(sqlState), Buffer.from('M'), cstr(message), Buffer.from([0]),
  ]));
}

/** The status of the last ReadyForQuery in a backend reply, or null when the reply has none. */
export function lastReadyStatus(reply: Uint8Array): TransactionStatus | null {
  let status: TransactionStatus | null = null;
  let offset = 0;
  const view = Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength);
  while (offset + 5 <= view.length) {
    const type = view[offset];
    const length = view.readInt32BE(offset + 1);
    if (length < 4) break;
    if (type === 0x5a /* Z */ && length === 5 && offset + 5 < view.length) {
      status = String.fromCharCode(view[offset + 5] ?? 0x49) as TransactionStatus;
    }
    offset += 1 + length;
  }
  return status;
}

/** Reads a NUL-terminated string at offset; returns it and the offset after the NUL. */
function readCString(buf: Buffer, offset: number): { value: string; next: number } {
  const end = buf.indexOf(0, offset);
  if (end < 0) throw new ProtocolViolation('unterminated string in message');
  return { value: buf.toString('utf8', offset, end), next: end + 1 };
}

/** SQL text carried by a Query or Parse message (for the role-escalation guard). */
export function sqlOf(type: string, message: Buffer): string | null {
  if (type === 'Q') return readCString(message, 5).value;
  if (type === 'P') {
    const name = readCString(message, 5);
    return readCString(message, name.next).value;
  }
  return null;
}

/**
 * Clients share one backend session, so named prepared statements and portals are namespaced per client:
 * "S_1" from client 7 becomes "c7:S_1". The unnamed ones stay unnamed (they live only until the next Sync,
 * while the client holds the session).
 */
export function namespaceNames(type: string, message: Buffer, prefix: string): Buffer {
  const rename = (name: string): string => (name === '' ? '' : `${prefix}${name}`);
  switch (type) {
    case 'P': { // Parse: statement name, query, ...
      const stmt = readCString(message, 5);
      return rebuild(type, [cstr(rename(stmt.value)), message.subarray(stmt.next)]);
    }
    case 'B': { // Bind: portal name, statement name, ...
      const portal = readCString(message, 5);
      const stmt = readCString(message, portal.next);
      return rebuild(type, [cstr(rename(portal.value)), cstr(rename(stmt.value)), message.subarray(stmt.next)]);
    }
    case 'D': case 'C': { // Describe / Close: 'S' or 'P', then a name
      const kind = message.subarray(5, 6);
      const name = readCString(message, 6);
      return rebuild(type, [kind, cstr(rename(name.value)), message.subarray(name.next)]);
    }
    case 'E': { // Execute: portal name, max rows
      const portal = readCString(message, 5);
      return rebuild(type, [cstr(rename(portal.value)), message.subarray(portal.next)]);
    }
    default:
      return message;
  }
}

function rebuild(type: string, parts: Buffer[]): Buffer {
  return frame(type, Buffer.concat(parts));
}

/** Names of statements a Parse message creates (so they can be deallocated when the client leaves). */
export function parsedStatementName(message: Buffer): string {
  return readCString(message, 5).value;
}

/** The statement a Bind message binds (its name as the client wrote it). */
export function boundStatementName(message: Buffer): string {
  const portal = readCString(message, 5);
  return readCString(message, portal.next).value;
}
