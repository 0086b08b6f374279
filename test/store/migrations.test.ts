import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, appendFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openStore, migrate, SnapshotWriter, StoreError } from '../../src/store/index.js';
import { connection, snapshot } from '../helpers/snapshots.js';
import { DEFAULT_MIGRATIONS_DIR } from '../../src/store/migrations.js';
import { splitStatements } from '../../src/store/sql-split.js';
import { freshStore, tempDir, testLog } from '../helpers/env.js';

test('migrations apply to an empty data dir, then again as a no-op after reopening', async () => {
  const dir = tempDir('migrate');
  try {
    const first = await openStore({ dataDir: dir.path, sqlPort: 0, migrate: false, maintenance: false }, testLog);
    const report = await migrate(first.admin, testLog);
    assert.deepEqual(report.applied, ['001_core.sql', '002_aggregates.sql', '003_policies.sql', ...report.applied.slice(3)]);
    assert.ok(report.applied.length >= 4);
    assert.equal(report.alreadyApplied, 0);
    await first.close();
    const second = await openStore({ dataDir: dir.path, sqlPort: 0, migrate: false, maintenance: false }, testLog);
    const again = await migrate(second.admin, testLog);
    assert.deepEqual(again.applied, []);
    assert.equal(again.alreadyApplied, report.applied.length);
    // A reopened data dir takes hypertable inserts (TimescaleDB must be loaded before the first query).
    const written = await new SnapshotWriter(second.writer).write(snapshot({ hostId: 'again', timeMs: 15_000 * 100, connections: [connection()] }));
    assert.equal(written.connectionRows, 1);
    await second.close();
  } finally {
    dir.remove();
  }
});

test('a migration edited after it was applied is refused, and so is a missing one', async () => {
  const migrations = tempDir('mig-files');
  const { store, dispose } = await freshStore({ migrate: false });
  try {
    cpSync(DEFAULT_MIGRATIONS_DIR, migrations.path, { recursive: true });
    await migrate(store.admin, testLog, migrations.path);
    appendFileSync(join(migrations.path, '001_core.sql'), '\n-- an innocent-looking edit\n');
    await assert.rejects(migrate(store.admin, testLog, migrations.path), (err: unknown) =>
      err instanceof StoreError && err.code === 'MIGRATION_EDITED' && /001_core\.sql was edited/.test(err.message));
    cpSync(join(DEFAULT_MIGRATIONS_DIR, '001_core.sql'), join(migrations.path, '001_core.sql'));
    rmSync(join(migrations.path, '003_policies.sql'));
    await assert.rejects(migrate(store.admin, testLog, migrations.path), (err: unknown) =>
      err instanceof StoreError && err.code === 'MIGRATION_MISSING');
  } finally {
    await dispose();
    migrations.remove();
  }
});

test('the statement splitter respects quotes, dollar quotes and comments', () => {
  const parts = splitStatements(`-- head; comment\nSELECT 'a;b';\nDO $x$ BEGIN PERFORM 1; END $x$;\n/* c; */ SELECT "q;" FROM t;\n-- tail only`);
  assert.deepEqual(parts, [`-- head; comment\nSELECT 'a;b'`, 'DO $x$ BEGIN PERFORM 1; END $x$', '/* c; */ SELECT "q;" FROM t']);
});
