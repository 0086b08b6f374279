import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { SnapshotWriter } from '../../src/store/index.js';
import { freshStore } from '../helpers/env.js';
import { eventually } from '../helpers/netns.js';
import { snapshot } from '../helpers/snapshots.js';
import { frame, rawConnect, rawSession, startupPacket } from '../helpers/wire.js';

/**
 * Issue 11 items 4 and 6: what a client controls is bounded. Connections that never log in, a huge
 * authentication message, a bare Flush, a statement that never ends: none of them keeps the writer out.
 */

test('connections that never log in are closed after the authentication timeout and cannot lock a real client out', async () => {
  const { store, dispose } = await freshStore({ sqlLimits: { authTimeoutMs: 2000 } });
  const silent: Awaited<ReturnType<typeof rawConnect>>[] = [];
  try {
    const port = store.embedded!.port;
    for (let i = 0; i < 70; i++) silent.push(await rawConnect(port));
    // A real client still logs in and is served while the 70 say nothing.
    const reader = new pg.Client({ connectionString: store.embedded!.url('conntrail_reader') });
    await reader.connect();
    assert.equal((await reader.query('SELECT count(*)::int AS n FROM bi.hosts')).rows[0].n, 0);
    await reader.end();
    // Every silent one is closed by the server (the authentication timeout, or room made for newer ones).
    await Promise.all(silent.map((s) => s.closed));
    // A 250 MB password message is refused from its header, without waiting for its body.
    const big = await rawConnect(port);
    big.socket.write(startupPacket('conntrail_reader'));
    await big.read();
    const header = Buffer.alloc(5);
    header.write('p', 0, 'latin1');
    header.writeInt32BE(250 * 1024 * 1024, 1);
    big.socket.write(header);
    big.socket.write(Buffer.alloc(64 * 1024));
    const reply = await big.read();
    assert.equal(String.fromCharCode(reply[0] ?? 0), 'E', 'an ErrorResponse');
    await big.closed;
  } finally {
    for (const s of silent) s.socket.destroy();
    await dispose();
  }
});

test('a client that sends Parse and a bare Flush cannot hold the engine: it is cut off and the writer writes', async () => {
  const { store, dispose } = await freshStore({ sqlTrustLoopback: true, sqlLimits: { maxHoldMs: 3000 } });
  try {
    const raw = await rawSession(store.embedded!.port);
    raw.socket.write(Buffer.concat([frame('P', Buffer.from('\0SELECT 1\0\0\0', 'latin1')), frame('H', Buffer.alloc(0))]));
    const parsed = await raw.read();
    assert.equal(String.fromCharCode(parsed[0] ?? 0), '1', 'ParseComplete: the client now holds the engine without a Sync');
    let cut = false;
    void raw.closed.then(() => { cut = true; });
    // It goes on sending a Flush every second: that alone must not keep the engine.
    const flusher = (async () => {
      for (let i = 0; i < 40 && !cut; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        if (!cut) raw.socket.write(frame('H', Buffer.alloc(0)));
      }
    })();
    const writer = new SnapshotWriter(store.writer);
    assert.equal((await writer.write(snapshot({ hostId: 'h', timeMs: 15_000 * 1000 }))).written, true);
    await flusher;
    assert.ok(cut, 'the server closed the connection while it was still flushing');
  } finally {
    await dispose();
  }
});

test('a statement that never ends is stopped: the engine restarts on the same data dir and the writer goes on', async () => {
  const { store, dispose } = await freshStore({ sqlLimits: { maxHoldMs: 3000 } });
  try {
    const writer = new SnapshotWriter(store.writer);
    assert.equal((await writer.write(snapshot({ hostId: 'before', timeMs: 15_000 * 1000 }))).written, true);
    const reader = new pg.Client({ connectionString: store.embedded!.url('conntrail_reader') });
    reader.on('error', () => undefined);
    await reader.connect();
    // PGlite cannot be interrupted inside a statement (no statement_timeout there) and this one runs for hours.
    await assert.rejects(reader.query('SELECT count(*) FROM generate_series(1, 1e12::bigint)'));
    await eventually('the writer to write again', 120_000, async () =>
      (await writer.write(snapshot({ hostId: 'after', timeMs: 15_000 * 1001 }))).written ? true : undefined);
    assert.equal(store.embedded!.restarts, 1);
    const hosts = (await store.writer.query<{ host_id: string }>('SELECT host_id FROM conntrail.hosts ORDER BY 1')).rows.map((r) => r.host_id);
    assert.deepEqual(hosts, ['after', 'before'], 'what was written before the restart is still there');
  } finally {
    await dispose();
  }
});

test('a 1.3 GB result does not kill the engine for good: the client gets 57P01, the engine restarts with the data and the writer goes on', async () => {
  const { store, dispose } = await freshStore();
  try {
    const writer = new SnapshotWriter(store.writer);
    assert.equal((await writer.write(snapshot({ hostId: 'before', timeMs: 15_000 * 1000 }))).written, true);
    const reader = new pg.Client({ connectionString: store.embedded!.url('conntrail_reader') });
    reader.on('error', () => undefined);
    await reader.connect();
    // The engine runs out of memory building it (PGlite builds a whole result before the reply cap can act).
    await assert.rejects(reader.query(`SELECT repeat('x', 1000000) AS s FROM generate_series(1, 1300)`),
      (err: unknown) => (err as { code?: string }).code === '57P01' || (err as { code?: string }).code === '54000');
    await reader.end().catch(() => undefined);
    await eventually('the writer to write again', 120_000, async () =>
      (await writer.write(snapshot({ hostId: 'after', timeMs: 15_000 * 1001 })).catch(() => ({ written: false }))).written ? true : undefined);
    const hosts = (await store.writer.query<{ host_id: string }>('SELECT host_id FROM conntrail.hosts ORDER BY 1')).rows.map((r) => r.host_id);
    assert.deepEqual(hosts, ['after', 'before'], 'what was written before the restart is still there');
  } finally {
    await dispose();
  }
});
