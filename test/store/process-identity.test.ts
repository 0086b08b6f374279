import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotWriter } from '../../src/store/index.js';
import { freshStore } from '../helpers/env.js';
import { processInfo, snapshot } from '../helpers/snapshots.js';

test('a known process identity is never replaced by an unknown one (an eBPF hint after the process exited)', async () => {
  const { store, dispose } = await freshStore();
  try {
    const writer = new SnapshotWriter(store.writer);
    const t0 = Date.now() - 60_000;
    const started = t0 - 3_600_000;
    const full = processInfo({ pid: 4242, startedAtMs: started, name: 'fetcher', exe: '/usr/bin/fetcher', cmdline: 'fetcher --once http://x', uid: 1000, cgroup: '/sys/fetch', containerId: 'abc' });
    await writer.write(snapshot({ hostId: 'ident-a', timeMs: t0, processes: [full] }));
    // What the eBPF source reports of a process it only knows from the kernel: pid, start, comm.
    const hint = processInfo({ pid: 4242, startedAtMs: started, name: 'fetcher', exe: null, cmdline: '', uid: null, cgroup: null, containerId: null });
    await writer.write(snapshot({ hostId: 'ident-a', timeMs: t0 + 15_000, processes: [hint] }));
    const row = (await store.admin.query<{ name: string; exe: string | null; cmdline: string; uid: number | null; cgroup: string | null; container_id: string | null; last_seen: Date }>(
      `SELECT name, exe, cmdline, uid, cgroup, container_id, last_seen FROM conntrail.processes WHERE host_id = 'ident-a' AND pid = 4242`)).rows;
    assert.equal(row.length, 1);
    assert.deepEqual({ ...row[0], last_seen: row[0]?.last_seen.getTime() },
      { name: 'fetcher', exe: '/usr/bin/fetcher', cmdline: 'fetcher --once http://x', uid: 1000, cgroup: '/sys/fetch', container_id: 'abc', last_seen: t0 + 15_000 });
    // A known new value still replaces the old one.
    await writer.write(snapshot({ hostId: 'ident-a', timeMs: t0 + 30_000, processes: [{ ...full, cmdline: 'fetcher --twice' }] }));
    const again = (await store.admin.query<{ cmdline: string }>(`SELECT cmdline FROM conntrail.processes WHERE host_id = 'ident-a' AND pid = 4242`)).rows[0];
    assert.equal(again?.cmdline, 'fetcher --twice');
  } finally {
    await dispose();
  }
});
