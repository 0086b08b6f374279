import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import { SnapshotWriter, openStore, secretsDir } from '../../src/store/index.js';
import { freshStore, tempDir, testLog } from '../helpers/env.js';
import { snapshot } from '../helpers/snapshots.js';

const run = promisify(execFile);

test('many clients at once take turns a transaction at a time, with their own prepared statements', async () => {
  const { store, dispose } = await freshStore();
  try {
    const endpoint = store.embedded!;
    const clients = await Promise.all(Array.from({ length: 8 }, async () => {
      const c = new pg.Client({ connectionString: endpoint.url('conntrail') });
      await c.connect();
      return c;
    }));
    await clients[0]!.query('CREATE TABLE public.counter (n int)');
    await Promise.all(clients.map(async (c, i) => {
      for (let k = 0; k < 10; k++) {
        await c.query('BEGIN');
        await c.query('INSERT INTO public.counter VALUES ($1)', [i]);
        // The same statement name on every client with different SQL: namespaced per client.
        const r = await c.query({ name: 'probe', text: `SELECT $1::int + ${i} AS v`, values: [k] });
        assert.equal(r.rows[0].v, k + i);
        await c.query('COMMIT');
      }
    }));
    const total = await clients[0]!.query('SELECT count(*)::int AS n FROM public.counter');
    assert.equal(total.rows[0].n, 80);
    await Promise.all(clients.map((c) => c.end()));
  } finally {
    await dispose();
  }
});

test('a client that stalls inside a transaction is cut off, and the writer goes on', async () => {
  const dir = tempDir('idle');
  const store = await openStore({ dataDir: dir.path, sqlPort: 0, maintenance: false }, testLog);
  try {
    const stalled = new pg.Client({ connectionString: store.embedded!.url('conntrail_reader') });
    stalled.on('error', () => undefined);
    await stalled.connect();
    await stalled.query('BEGIN');
    await stalled.query('SELECT count(*) FROM bi.hosts');
    // The BI client now holds the session and says nothing more. The writer must still get through.
    const started = Date.now();
    const writer = new SnapshotWriter(store.writer);
    const result = await writer.write(snapshot({ hostId: 'h', timeMs: 15_000 * 1000 }));
    assert.equal(result.written, true);
    assert.ok(Date.now() - started < 30_000);
    await assert.rejects(stalled.query('SELECT 1'));
  } finally {
    await store.close();
    dir.remove();
    rmSync(secretsDir(dir.path), { recursive: true, force: true });
  }
});

test('each login has its own secret (SCRAM-SHA-256): the secret of another login, a wrong or a missing one is refused, loopback included', async () => {
  const { store, dispose } = await freshStore({ sqlSecrets: { reader: 'reader-s3cret' } });
  try {
    const url = store.embedded!.url('conntrail_reader');
    assert.match(url, /reader-s3cret/);
    const good = new pg.Client({ connectionString: url });
    await good.connect();
    assert.equal((await good.query('SELECT 1 AS x')).rows[0].x, 1);
    await good.end();
    const bad = new pg.Client({ connectionString: url.replace('reader-s3cret', 'wrong') });
    await assert.rejects(bad.connect(), /password authentication failed/);
    // The reader's secret does not open the owner's or the writer's login.
    for (const user of ['conntrail', 'conntrail_writer']) {
      const other = new pg.Client({ connectionString: url.replace('conntrail_reader', user) });
      await assert.rejects(other.connect(), /password authentication failed/);
    }
    const none = new pg.Client({ host: '127.0.0.1', port: store.embedded!.port, user: 'conntrail_reader', password: '', database: 'postgres' });
    await assert.rejects(none.connect());
    const superuser = new pg.Client({ connectionString: url.replace('conntrail_reader', 'postgres') });
    await assert.rejects(superuser.connect(), /not a conntrail login/);
  } finally {
    await dispose();
  }
});

test('TLS with a self-signed certificate kept beside the data dir: pg and psql connect with sslmode=require', async () => {
  const { store, dir, dispose } = await freshStore();
  try {
    const cert = readFileSync(join(secretsDir(dir), 'tls.crt'), 'utf8');
    const client = new pg.Client({ connectionString: store.embedded!.url('conntrail_reader').replace('sslmode=disable', 'sslmode=no-verify') });
    await client.connect();
    const stream = (client as unknown as { connection: { stream: TLSSocket } }).connection.stream;
    assert.ok(stream instanceof TLSSocket && stream.encrypted, 'the connection is encrypted');
    assert.equal(stream.getPeerX509Certificate()?.fingerprint256, new X509Certificate(cert).fingerprint256);
    assert.equal((await client.query('SELECT 1 AS x')).rows[0].x, 1);
    await client.end();
    const { stdout } = await run('psql', [store.embedded!.url('conntrail_reader').replace('sslmode=disable', 'sslmode=require'), '-c', '\\conninfo'],
      { env: { ...process.env, PGCONNECT_TIMEOUT: '10' } });
    assert.match(stdout, /SSL connection/);
  } finally {
    await dispose();
  }
});

test('psql lists the BI views through the SQL endpoint', async () => {
  const { store, dispose } = await freshStore();
  try {
    const { stdout } = await run('psql', [store.embedded!.url('conntrail_reader'), '-Atc', '\\dv bi.*'],
      { env: { ...process.env, PGCONNECT_TIMEOUT: '10' } });
    const names = stdout.trim().split('\n').map((l) => l.split('|')[1]);
    for (const v of ['connections', 'nat_translations', 'traffic_1m', 'traffic_1h', 'snapshots']) assert.ok(names.includes(v), `${v} not listed: ${stdout}`);
  } finally {
    await dispose();
  }
});
