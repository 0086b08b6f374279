import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import pg from 'pg';
import { SnapshotWriter } from '../../src/store/index.js';
import { freshStore } from '../helpers/env.js';
import { snapshot } from '../helpers/snapshots.js';

/** Each way a reader once became superuser (issue 11); every one must be refused or harmless. */
const ESCALATIONS = [
  'set/**/role postgres',
  'set "role" = postgres',
  'reset/**/role',
  'SET ROLE postgres -- just a comment',
  "select set_config(E'role', 'postgres', false)",
  "select set_config('ro' || 'le', 'postgres', false)",
  "PREPARE p AS SELECT set_config('role','postgres',false); EXECUTE p",
  "DO $$ BEGIN EXECUTE 'set role postgres'; END $$",
  'SET SESSION AUTHORIZATION postgres',
  'RESET ALL',
];

test('a reader cannot become anyone else: every escalation variant is refused and it cannot write conntrail.hosts', async () => {
  const { store, dispose } = await freshStore();
  try {
    const reader = new pg.Client({ connectionString: store.embedded!.url('conntrail_reader') });
    await reader.connect();
    for (const sql of ESCALATIONS) {
      await reader.query(sql).then(() => undefined, () => undefined);
      const who = await reader.query('SELECT current_user AS cu, session_user AS su').catch(() => null);
      if (who) assert.equal(who.rows[0].cu, 'conntrail_reader', `after: ${sql}`);
    }
    // Extended-protocol parameters: the role name never appears in the SQL text.
    await assert.rejects(reader.query('SELECT set_config($1, $2, false)', ['role', 'postgres']));
    await assert.rejects(reader.query("INSERT INTO conntrail.hosts (host_id, first_seen, last_seen) VALUES ('evil', now(), now())"));
    await assert.rejects(reader.query("WITH x AS (INSERT INTO conntrail.hosts (host_id, first_seen, last_seen) VALUES ('evil', now(), now()) RETURNING 1) SELECT * FROM x"));
    assert.equal((await reader.query('SELECT count(*)::int AS n FROM bi.hosts')).rows[0].n, 0);
    await reader.end().catch(() => undefined);
    const owner = new pg.Client({ connectionString: store.embedded!.url('conntrail') });
    await owner.connect();
    assert.equal((await owner.query("SELECT count(*)::int AS n FROM conntrail.hosts WHERE host_id = 'evil'")).rows[0].n, 0);
    // The owner is a local owner, not the engine's superuser.
    assert.equal((await owner.query('SELECT rolsuper FROM pg_roles WHERE rolname = current_user')).rows[0].rolsuper, false);
    await owner.end();
  } finally {
    await dispose();
  }
});

function frame(type: string, body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.write(type, 0, 'latin1');
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

/** A raw client logged in without a secret (the store trusts loopback), to send what pg never would. */
async function rawSession(port: number): Promise<{ socket: net.Socket; read(): Promise<Buffer> }> {
  const socket = net.connect(port, '127.0.0.1');
  let received = Buffer.alloc(0);
  const waiting: Array<() => void> = [];
  socket.on('data', (d) => {
    received = Buffer.concat([received, d]);
    waiting.splice(0).forEach((w) => w());
  });
  socket.on('close', () => waiting.splice(0).forEach((w) => w()));
  const params = Buffer.from('user\0conntrail_reader\0database\0postgres\0\0');
  const startup = Buffer.alloc(8 + params.length);
  startup.writeInt32BE(startup.length, 0);
  startup.writeInt32BE(196608, 4);
  params.copy(startup, 8);
  socket.write(startup);
  const read = async (): Promise<Buffer> => {
    await new Promise<void>((r) => {
      waiting.push(r);
      setTimeout(r, 5000);
    });
    const out = received;
    received = Buffer.alloc(0);
    return out;
  };
  const hello = await read();
  assert.ok(hello.includes(Buffer.from('Z\0\0\0\x05I', 'latin1')), 'logged in');
  return { socket, read };
}

test('a FunctionCall message and an unknown message type are refused, and the engine goes on serving', async () => {
  const { store, dispose } = await freshStore({ sqlTrustLoopback: true });
  try {
    for (const message of [frame('F', Buffer.from([0, 0, 0x08, 0x4c, 0, 0, 0, 0])), frame('!', Buffer.alloc(0))]) {
      const raw = await rawSession(store.embedded!.port);
      raw.socket.write(message);
      const reply = await raw.read();
      assert.equal(String.fromCharCode(reply[0] ?? 0), 'E', 'an ErrorResponse');
      raw.socket.destroy();
    }
    const writer = new SnapshotWriter(store.writer);
    assert.equal((await writer.write(snapshot({ hostId: 'h', timeMs: 15_000 * 1000 }))).written, true);
  } finally {
    await dispose();
  }
});

test("one client's settings and prepared statements do not reach the next client", async () => {
  const { store, dispose } = await freshStore();
  try {
    const reader = new pg.Client({ connectionString: store.embedded!.url('conntrail_reader') });
    await reader.connect();
    await assert.rejects(reader.query('SET default_transaction_read_only = on'));
    await reader.query('SET statement_timeout = 1');
    const writer = new SnapshotWriter(store.writer);
    assert.equal((await writer.write(snapshot({ hostId: 'h', timeMs: 15_000 * 1000 }))).written, true);
    const other = new pg.Client({ connectionString: store.embedded!.url('conntrail_reader') });
    await other.connect();
    await reader.query({ name: 'mine', text: 'SELECT 1 AS x' });
    await assert.rejects(other.query('EXECUTE mine'));
    await assert.rejects(other.query('SELECT name FROM pg_prepared_statements'));
    assert.equal((await other.query('SHOW statement_timeout')).rows[0].statement_timeout, '0');
    await Promise.all([reader.end(), other.end()]);
  } finally {
    await dispose();
  }
});

test('a reader holding BEGIN and sending select 1 every second is cut off; the writer gets its turn', async () => {
  const { store, dispose } = await freshStore({ sqlLimits: { maxHoldMs: 3000 } });
  try {
    const reader = new pg.Client({ connectionString: store.embedded!.url('conntrail_reader') });
    let cut: unknown = null;
    // The endpoint may cut the reader between two pings: pg then reports the FATAL as an 'error' event.
    reader.on('error', (err) => { cut ??= err; });
    await reader.connect();
    await reader.query('BEGIN');
    const pinger = (async () => {
      for (let i = 0; i < 20 && cut === null; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        await reader.query('SELECT 1').catch((err: unknown) => { cut ??= err; });
      }
    })();
    const writer = new SnapshotWriter(store.writer);
    const result = await writer.write(snapshot({ hostId: 'h', timeMs: 15_000 * 1000 }));
    assert.equal(result.written, true);
    await pinger;
    assert.ok(cut !== null, 'the reader was disconnected');
    assert.match(String((cut as Error).message), /held the database engine/);
  } finally {
    await dispose();
  }
});
