import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { SnapshotWriter } from '../../src/store/index.js';
import { freshStore } from '../helpers/env.js';
import { snapshot } from '../helpers/snapshots.js';
import { frame, rawSession } from '../helpers/wire.js';

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

test('statements that once killed the engine are refused for every login, the owner included, and the engine goes on', async () => {
  const { store, dispose } = await freshStore();
  try {
    const owner = new pg.Client({ connectionString: store.embedded!.url('conntrail') });
    await owner.connect();
    const killers = [
      'CREATE TEMP TABLE t (a int)',
      'CREATE TABLE pg_temp.t (a int)',
      'COPY conntrail.hosts FROM STDIN',
      "CREATE FUNCTION public.f(n int) RETURNS int LANGUAGE sql AS 'SELECT public.f(n + 1)'",
      'DO $$ BEGIN PERFORM 1; END $$',
      "SELECT lo_from_bytea(0, 'x')",
    ];
    for (const sql of killers) {
      await assert.rejects(owner.query(sql), /refused by the conntrail SQL endpoint/, sql);
    }
    assert.equal((await owner.query('SELECT 1 AS x')).rows[0].x, 1);
    await owner.end();
    const writer = new SnapshotWriter(store.writer);
    assert.equal((await writer.write(snapshot({ hostId: 'h', timeMs: 15_000 * 1000 }))).written, true);
  } finally {
    await dispose();
  }
});

test('hand-overs between clients of one role skip the reset only after reads: a SET, also one re-bound from an earlier turn, never reaches the next client', async () => {
  const { store, dispose } = await freshStore();
  const url = store.embedded!.url('conntrail_reader');
  const clients = [new pg.Client({ connectionString: url }), new pg.Client({ connectionString: url }), new pg.Client({ connectionString: url })];
  try {
    for (const c of clients) await c.connect();
    const [a, b, c] = clients as [pg.Client, pg.Client, pg.Client];
    const timeoutOf = async (client: pg.Client): Promise<string> => (await client.query('SHOW statement_timeout')).rows[0].statement_timeout as string;
    // Reads only, back and forth: every client still sees the defaults.
    for (let i = 0; i < 3; i++) for (const x of clients) assert.equal((await x.query('SELECT 1 AS one')).rows[0].one, 1);
    // A named statement that changes the session: parsed, bound and run in a first turn...
    await a.query({ name: 'shorten', text: 'SET statement_timeout = 1' });
    assert.equal(await timeoutOf(b), '0');
    assert.equal(await timeoutOf(c), '0');
    // ...and bound again in a later turn without a Parse (pg reuses its named statement): still not passed on.
    await a.query({ name: 'shorten', text: 'SET statement_timeout = 1' });
    assert.equal(await timeoutOf(b), '0');
    await a.query({ name: 'shorten', text: 'SET statement_timeout = 1' });
    assert.equal((await c.query('SELECT 2 AS two')).rows[0].two, 2);
    assert.equal(await timeoutOf(b), '0');
    // A plain SET, then reads by others: each gets the defaults.
    await b.query("SET search_path = pg_catalog");
    assert.equal((await c.query('SHOW search_path')).rows[0].search_path, '"$user", public');
    assert.equal((await a.query('SHOW search_path')).rows[0].search_path, '"$user", public');
  } finally {
    await Promise.all(clients.map((x) => x.end().catch(() => undefined)));
    await dispose();
  }
});
