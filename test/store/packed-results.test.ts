import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotWriter } from '../../src/store/index.js';
import { fetchSideGroups } from '../../src/store/queries/index.js';
import { packed, unpack, type PackedColumn } from '../../src/store/queries/sql.js';
import { freshStore } from '../helpers/env.js';
import { connection, processInfo, snapshot } from '../helpers/snapshots.js';

/**
 * Large reads come back packed as one JSON text (src/store/queries/sql.ts): every value must come back as the
 * plain query gives it, whatever characters a text holds, NULLs in place, timestamps to the millisecond.
 */
const NASTY = ['plain', 'quote " and \\ backslash', 'comma, [bracket] ]', 'new\nline\ttab\r', 'ünïcødé ✓ 𝄞', "'single'", '', 'null', '\u0001\u001f ctl'];

test('packed rows equal the plain rows: any text, NULLs, integers past 2^31, timestamps in ms', async () => {
  const { store, dispose } = await freshStore();
  try {
    const inner = `SELECT t.name, t.n, t.at, t.word FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::text[]) WITH ORDINALITY AS t(name, n, at, word, i) ORDER BY t.i`;
    const names = [...NASTY, null];
    const numbers = names.map((_, i) => (i % 3 === 0 ? null : i * 4_000_000_017));
    const times = names.map((_, i) => (i % 4 === 1 ? null : new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678) + i * 1001).toISOString().replace('Z', '123Z')));
    const words = names.map((_, i) => (i % 5 === 2 ? null : `w${i}`));
    const params = [names, numbers, times, words];
    const columns: PackedColumn[] = [{ name: 'name', kind: 'text' }, { name: 'n', kind: 'int' }, { name: 'at', kind: 'ms' }, { name: 'word', kind: 'word' }];
    const plain = (await store.reader.query<{ name: string | null; n: number | null; at: Date | null; word: string | null }>(inner, params)).rows;
    const { rows } = await store.reader.query<{ packed: string }>(packed(inner, columns), params);
    const got = unpack<{ name: string | null; n: number | null; at: number | null; word: string | null }>(rows, columns);
    assert.equal(got.length, names.length);
    assert.deepEqual(got.map((r) => r.name), plain.map((r) => r.name));
    assert.deepEqual(got.map((r) => r.n), plain.map((r) => (r.n === null ? null : Number(r.n))));
    assert.deepEqual(got.map((r) => r.at), plain.map((r) => (r.at === null ? null : r.at.getTime())));
    assert.deepEqual(got.map((r) => r.word), plain.map((r) => r.word));
    // No rows at all is an empty list, not an error.
    const none = await store.reader.query<{ packed: string }>(packed(`${inner} LIMIT 0`, columns), params);
    assert.deepEqual(unpack(none.rows, columns), []);
  } finally {
    await dispose();
  }
});

test('talkers side groups keep process names of any characters and both ends of the window', async () => {
  const { store, dispose } = await freshStore();
  try {
    const writer = new SnapshotWriter(store.writer);
    const timeMs = Math.floor(Date.now() / 15_000) * 15_000 - 600_000;
    const procs = NASTY.map((name, i) => processInfo({ pid: 5000 + i, startedAtMs: timeMs - 60_000, name, cmdline: name }));
    const result = await writer.write(snapshot({
      hostId: 'packed-1', timeMs, processes: procs,
      connections: procs.map((p, i) => connection({ process: p, localPort: 41000 + i, bytesSent: 10 + i, bytesReceived: 1000 + i })),
    }));
    assert.deepEqual(result.rejected, []);
    const groups = await fetchSideGroups(store.reader, { fromMs: timeMs - 15_000, toMs: timeMs + 1 }, 'RAW');
    const byPort = new Map(groups.map((g) => [g.localPort, g]));
    procs.forEach((p, i) => {
      const g = byPort.get(41000 + i);
      assert.ok(g, `group of port ${41000 + i}`);
      assert.equal(g.process?.name, p.name);
      assert.equal(g.process?.pid, p.pid);
      assert.equal(g.process?.startedAtMs, p.startedAtMs);
      assert.equal(g.bytesSent, 10 + i);
      assert.equal(g.firstSeenMs, timeMs);
      assert.equal(g.remoteAddress, '10.2.0.2');
    });
    assert.equal(groups.length, procs.length);
  } finally {
    await dispose();
  }
});
