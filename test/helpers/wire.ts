import assert from 'node:assert/strict';
import net from 'node:net';

/**
 * A raw PostgreSQL wire client, to send what pg never would (FunctionCall, unknown types, a bare Flush,
 * oversized or missing authentication messages).
 */
export function frame(type: string, body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.write(type, 0, 'latin1');
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

export function startupPacket(user: string): Buffer {
  const params = Buffer.from(`user\0${user}\0database\0postgres\0\0`);
  const startup = Buffer.alloc(8 + params.length);
  startup.writeInt32BE(startup.length, 0);
  startup.writeInt32BE(196608, 4);
  params.copy(startup, 8);
  return startup;
}

export interface RawConnection {
  readonly socket: net.Socket;
  /** Resolves when the server has closed the connection. */
  readonly closed: Promise<void>;
  /** What arrived since the last read, after something arrives (or 5 s pass). */
  read(): Promise<Buffer>;
}

export async function rawConnect(port: number): Promise<RawConnection> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let received = Buffer.alloc(0);
  const waiting: Array<() => void> = [];
  socket.on('data', (d: Buffer) => {
    received = Buffer.concat([received, d]);
    waiting.splice(0).forEach((w) => w());
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => {
    waiting.splice(0).forEach((w) => w());
    resolve();
  }));
  const read = async (): Promise<Buffer> => {
    if (received.length === 0) {
      await new Promise<void>((r) => {
        waiting.push(r);
        setTimeout(r, 5000);
      });
    }
    const out = received;
    received = Buffer.alloc(0);
    return out;
  };
  return { socket, closed, read };
}

/** A raw client logged in without a secret (the store must trust loopback), ready for queries. */
export async function rawSession(port: number, user = 'conntrail_reader'): Promise<RawConnection> {
  const raw = await rawConnect(port);
  raw.socket.write(startupPacket(user));
  let hello = Buffer.alloc(0);
  for (let i = 0; i < 10 && !hello.includes(Buffer.from('Z\0\0\0\x05I', 'latin1')); i++) hello = Buffer.concat([hello, await raw.read()]);
  assert.ok(hello.includes(Buffer.from('Z\0\0\0\x05I', 'latin1')), 'logged in');
  return raw;
}
