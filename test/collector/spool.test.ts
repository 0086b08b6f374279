import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool } from '../../src/collector/spool.js';
import { spoolFileName } from '../../src/collector/spool-format.js';
import { RecordingSink, snapshotAt } from './sinks.js';

const T = 1_700_000_100_000 - (1_700_000_100_000 % 15_000);
const at = (i: number): number => T + i * 15_000;
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'conntrail-spool-'));
  dirs.push(dir);
  return dir;
}

after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const never = new AbortController().signal;

describe('spool', () => {
  it('replays in time order whatever order snapshots were spooled in, and survives a reopen', async () => {
    const dir = await tempDir();
    const spool = await Spool.open({ dir });
    for (const i of [3, 1, 2, 0]) await spool.put(snapshotAt(at(i)));
    assert.equal(spool.depth, 4);
    const reopened = await Spool.open({ dir });
    assert.equal(reopened.depth, 4);
    assert.equal(reopened.bytes, spool.bytes);
    const sink = new RecordingSink();
    const result = await reopened.replay(sink, never);
    assert.deepEqual(result, { written: 4, rejected: 0, corrupt: 0, stoppedBy: 'drained', remaining: 0 });
    assert.deepEqual(sink.times(), [at(0), at(1), at(2), at(3)]);
    assert.deepEqual((await readdir(dir)).filter((n) => n.endsWith('.snap')), []);
  });

  it('moves corrupt files aside (bad checksum, truncated, garbage) and goes on', async () => {
    const dir = await tempDir();
    const spool = await Spool.open({ dir });
    for (let i = 0; i < 5; i++) await spool.put(snapshotAt(at(i)));
    const flip = join(dir, spoolFileName(at(1)));
    const bytes = await readFile(flip);
    bytes.writeUInt8((bytes.readUInt8(bytes.length - 10) ^ 0x01), bytes.length - 10);
    await writeFile(flip, bytes);
    const cut = join(dir, spoolFileName(at(2)));
    await truncate(cut, (await readFile(cut)).length - 7);
    await writeFile(join(dir, spoolFileName(at(3))), 'not a spool file at all');
    // A half-written temporary from a crash is removed at open.
    await writeFile(join(dir, `.${spoolFileName(at(9))}.123.abcd.tmp`), 'partial');

    const reopened = await Spool.open({ dir });
    assert.equal(reopened.depth, 5);
    const sink = new RecordingSink();
    const result = await reopened.replay(sink, never);
    assert.equal(result.written, 2);
    assert.equal(result.corrupt, 3);
    assert.deepEqual(sink.times(), [at(0), at(4)]);
    assert.deepEqual((await readdir(join(dir, 'corrupt'))).sort(), [1, 2, 3].map((i) => spoolFileName(at(i))));
    assert.ok(!(await readdir(dir)).some((n) => n.endsWith('.tmp')));
    const losses = await reopened.takeLosses();
    assert.equal(losses.snapshots, 3);
    assert.equal(losses.events, 2 + 2 + 1, 'rows from the two readable headers, one for the garbage file');
    assert.ok(losses.errors.some((e) => /checksum mismatch/.test(e)));
    assert.ok(losses.errors.some((e) => /truncated/.test(e)));
    assert.equal(reopened.stats().corruptTotal, 3);
  });

  it('drops the oldest when full and keeps the loss, across restarts, until it is taken', async () => {
    const dir = await tempDir();
    const spool = await Spool.open({ dir, maxFiles: 3 });
    let dropped = 0;
    for (let i = 0; i < 5; i++) dropped += await spool.put(snapshotAt(at(i), i + 1));
    assert.equal(dropped, 2);
    assert.equal(spool.depth, 3);
    const reopened = await Spool.open({ dir, maxFiles: 3 });
    const losses = await reopened.takeLosses();
    assert.equal(losses.snapshots, 2);
    assert.equal(losses.events, 1 + 2, 'the dropped snapshots had 1 and 2 rows');
    assert.match(losses.errors[0] ?? '', new RegExp(`spool full: dropped snapshot of ${new Date(at(0)).toISOString()}`));
    assert.equal((await reopened.takeLosses()).snapshots, 0, 'taken once');
    assert.equal((await (await Spool.open({ dir })).takeLosses()).snapshots, 0, 'and cleared on disk');
    const sink = new RecordingSink();
    await reopened.replay(sink, never);
    assert.deepEqual(sink.times(), [at(2), at(3), at(4)]);
  });

  it('counts the losses it cannot itemise: past 20 explanations, each further one is counted, across a reopen', async () => {
    const dir = await tempDir();
    const spool = await Spool.open({ dir, maxFiles: 1 });
    for (let i = 0; i < 26; i++) await spool.put(snapshotAt(at(i)));
    const reopened = await Spool.open({ dir, maxFiles: 1 });
    const losses = await reopened.takeLosses();
    assert.equal(losses.snapshots, 25);
    assert.equal(losses.errors.length + losses.omitted, 25);
    assert.equal(losses.errors.length, 20);
  });

  it('bounds bytes as well as files', async () => {
    const dir = await tempDir();
    const probe = await Spool.open({ dir: await tempDir() });
    await probe.put(snapshotAt(at(0), 10));
    const size = probe.bytes;
    const spool = await Spool.open({ dir, maxBytes: size * 2 + size / 2 });
    for (let i = 0; i < 6; i++) await spool.put(snapshotAt(at(i), 10));
    assert.equal(spool.depth, 2);
    assert.ok(spool.bytes <= size * 2.5);
    assert.equal((await spool.takeLosses()).snapshots, 4);
  });

  it('stops at the first unavailability and resumes later from the same place', async () => {
    const dir = await tempDir();
    const spool = await Spool.open({ dir });
    for (let i = 0; i < 4; i++) await spool.put(snapshotAt(at(i)));
    let down = true;
    const sink = new RecordingSink((s) => (down && s.timeMs === at(1) ? 'unavailable' : 'ok'));
    const first = await spool.replay(sink, never);
    assert.deepEqual(first, { written: 1, rejected: 0, corrupt: 0, stoppedBy: 'unavailable', remaining: 3 });
    down = false;
    const second = await spool.replay(sink, never);
    assert.equal(second.written, 3);
    assert.deepEqual(sink.times(), [at(0), at(1), at(2), at(3)]);
  });

  it('stops at an error the sink did not classify as a refusal, keeping the file for the next replay', async () => {
    const dir = await tempDir();
    const spool = await Spool.open({ dir });
    for (let i = 0; i < 3; i++) await spool.put(snapshotAt(at(i)));
    let broken = true;
    const sink = new RecordingSink((s) => (broken && s.timeMs === at(1) ? 'error' : 'ok'));
    assert.deepEqual(await spool.replay(sink, never), { written: 1, rejected: 0, corrupt: 0, stoppedBy: 'unavailable', remaining: 2 });
    assert.deepEqual(await readdir(join(dir, 'rejected')), []);
    broken = false;
    assert.equal((await spool.replay(sink, never)).written, 2);
    assert.deepEqual(sink.times(), [at(0), at(1), at(2)]);
    assert.equal((await spool.takeLosses()).snapshots, 0);
  });

  it('replays idempotently: a write whose ack was lost is sent again and stored once', async () => {
    const dir = await tempDir();
    const spool = await Spool.open({ dir });
    for (let i = 0; i < 3; i++) await spool.put(snapshotAt(at(i)));
    let lostAck = true;
    const sink = new RecordingSink((s) => {
      if (lostAck && s.timeMs === at(1)) {
        lostAck = false;
        return 'ok-then-unavailable';
      }
      return 'ok';
    });
    assert.equal((await spool.replay(sink, never)).stoppedBy, 'unavailable');
    // The same spool file is also re-put (the loop spools a snapshot that failed) before the next replay.
    await spool.put(snapshotAt(at(1)));
    assert.equal(spool.depth, 2);
    assert.equal((await spool.replay(sink, never)).stoppedBy, 'drained');
    assert.deepEqual(sink.attempts, [`host-a@${at(0)}`, `host-a@${at(1)}`, `host-a@${at(1)}`, `host-a@${at(2)}`]);
    assert.deepEqual(sink.times(), [at(0), at(1), at(2)]);
  });

  it('moves a snapshot the sink refuses aside instead of retrying it forever', async () => {
    const dir = await tempDir();
    const spool = await Spool.open({ dir });
    for (let i = 0; i < 3; i++) await spool.put(snapshotAt(at(i)));
    const sink = new RecordingSink((s) => (s.timeMs === at(1) ? 'reject' : 'ok'));
    const result = await spool.replay(sink, never);
    assert.deepEqual(result, { written: 2, rejected: 1, corrupt: 0, stoppedBy: 'drained', remaining: 0 });
    assert.deepEqual(await readdir(join(dir, 'rejected')), [spoolFileName(at(1))]);
    const losses = await spool.takeLosses();
    assert.equal(losses.snapshots, 1);
    assert.match(losses.errors[0] ?? '', /refused/);
  });

  it('stops when aborted, keeping the write in flight, which a later replay sends again', async () => {
    const dir = await tempDir();
    const spool = await Spool.open({ dir });
    for (let i = 0; i < 3; i++) await spool.put(snapshotAt(at(i)));
    const controller = new AbortController();
    const sink = new RecordingSink((_s, attempt) => {
      if (attempt === 2) controller.abort();
      return 'ok';
    });
    const result = await spool.replay(sink, controller.signal);
    assert.equal(result.stoppedBy, 'aborted');
    assert.equal(result.written, 1);
    assert.equal(result.remaining, 2, 'the write that was cut by the abort is not trusted');
    const again = await spool.replay(sink, never);
    assert.equal(again.written, 2);
    assert.deepEqual(sink.times(), [at(0), at(1), at(2)]);
    assert.equal(sink.attempts.length, 4);
  });
});
