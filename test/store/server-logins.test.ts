import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommand } from '../../src/cli/args.js';
import { openStore, STORE_ROLES, StoreError, type Store } from '../../src/store/index.js';
import { freshStore, testLog } from '../helpers/env.js';

/**
 * Server mode, run for real: the server-mode code path (a pg pool per login URL) pointed at an embedded
 * store's SQL endpoint, which speaks the PostgreSQL wire protocol and knows the three login names. Each
 * handle must log in as its own role, so that no statement a client sends (RESET ROLE) gives it more.
 */
const isConfigError = (pattern: RegExp) => (err: unknown): boolean =>
  err instanceof StoreError && err.code === 'CONFIG_INVALID' && pattern.test(err.message);

describe('server mode: one login per role', () => {
  let embedded: Store;
  let dispose: () => Promise<void>;
  let url: (user: 'conntrail' | 'conntrail_writer' | 'conntrail_reader') => string;

  before(async () => {
    ({ store: embedded, dispose } = await freshStore());
    url = (user) => embedded.embedded!.url(user);
  });
  after(async () => {
    await dispose();
  });

  it('the reader and the writer log in as their roles, and RESET ROLE gives the reader no write', async () => {
    const server = await openStore({
      // freshStore migrated already; the endpoint's owner login may not take the migrations' advisory lock.
      databaseUrl: url('conntrail'), writerUrl: url('conntrail_writer'), readerUrl: url('conntrail_reader'), maintenance: false, migrate: false,
    }, testLog);
    try {
      assert.equal(server.mode, 'server');
      const who = async (db: Store['reader']): Promise<unknown> => (await db.query<{ u: string }>('SELECT current_user AS u')).rows[0]?.u;
      assert.equal(await who(server.reader), 'conntrail_reader');
      assert.equal(await who(server.writer), 'conntrail_writer');
      // Whether the endpoint refuses RESET ROLE or runs it, the reader's login has no write to fall back to.
      await assert.rejects(server.reader.transaction(async (tx) => {
        await tx.query('RESET ROLE');
        await tx.query(`INSERT INTO conntrail.hosts (host_id, first_seen, last_seen) VALUES ('reader-wrote', now(), now())`);
      }));
      const written = await embedded.admin.query(`SELECT 1 FROM conntrail.hosts WHERE host_id = 'reader-wrote'`);
      assert.equal(written.rowCount, 0, 'the reader wrote a row');
    } finally {
      await server.close();
    }
  });

  it('refuses a login shared between roles, a missing login, and a reader or writer that can do more than its role', async () => {
    await assert.rejects(openStore({ databaseUrl: url('conntrail'), writerUrl: url('conntrail_writer'), readerUrl: url('conntrail'), maintenance: false }, testLog),
      isConfigError(/the owner and the reader log in as the same user "conntrail"/));
    await assert.rejects(openStore({ databaseUrl: url('conntrail'), writerUrl: url('conntrail_writer'), maintenance: false }, testLog),
      isConfigError(/--reader-url \(or CONNTRAIL_READER_URL\)/));
    await assert.rejects(openStore({ readerUrl: url('conntrail_writer'), logins: ['reader'], migrate: false }, testLog),
      isConfigError(/reader logs in as "conntrail_writer", which can write/));
    // The endpoint's owner login owns the schema (it is no superuser: the engine's superuser never logs in
    // from the network).
    await assert.rejects(openStore({ writerUrl: url('conntrail'), logins: ['writer'], migrate: false }, testLog),
      isConfigError(/the writer logs in as "\w+", which can change the conntrail schema or delete its rows/));
    // A collector needs only its writer login; the other handles say so when used instead of borrowing one.
    const collector = await openStore({ writerUrl: url('conntrail_writer'), logins: ['writer'], migrate: false }, testLog);
    try {
      await assert.rejects(collector.reader.query('SELECT 1'), isConfigError(/no reader login configured/));
      await assert.rejects(collector.admin.query('SELECT 1'), isConfigError(/no owner login configured/));
    } finally {
      await collector.close();
    }
  });

  it('gives the roles LOGIN and the statement timeouts of STORE_ROLES (one definition for both modes)', async () => {
    const rows = (await embedded.admin.query<{ role: string; login: boolean; settings: string[] | null }>(
      `SELECT r.rolname AS role, r.rolcanlogin AS login,
              (SELECT s.setconfig FROM pg_db_role_setting s WHERE s.setrole = r.oid AND s.setdatabase = 0) AS settings
       FROM pg_roles r WHERE r.rolname IN ('conntrail_reader', 'conntrail_writer') ORDER BY 1`)).rows;
    assert.equal(rows.length, 2);
    for (const name of ['reader', 'writer'] as const) {
      const role = STORE_ROLES[name];
      const row = rows.find((r) => r.role === role.role);
      assert.equal(row?.login, true, `${role.role} can log in`);
      const timeout = (row?.settings ?? []).find((s) => s.startsWith('statement_timeout='))?.split('=')[1];
      assert.equal(Number(timeout), role.statementTimeoutMs, `${role.role}: statement_timeout on the role equals STORE_ROLES`);
      assert.ok(role.statementTimeoutMs > 0);
    }
  });
});

describe('login URLs from flags and environment', () => {
  it('reads one URL per role; a collector alone takes its writer login from --database-url too', () => {
    const up = parseCommand(['up', '--database-url', 'postgres://conntrail@db/c', '--writer-url', 'postgres://conntrail_writer@db/c'],
      { CONNTRAIL_READER_URL: 'postgres://conntrail_reader@db/c' });
    assert.ok(up.name === 'up');
    assert.deepEqual([up.store.databaseUrl, up.store.writerUrl, up.store.readerUrl],
      ['postgres://conntrail@db/c', 'postgres://conntrail_writer@db/c', 'postgres://conntrail_reader@db/c']);
    const collect = parseCommand(['collect', '--database-url', 'postgres://conntrail_writer@db/c'], {});
    assert.ok(collect.name === 'collect');
    assert.deepEqual([collect.store.databaseUrl, collect.store.writerUrl], [undefined, 'postgres://conntrail_writer@db/c']);
  });
});
