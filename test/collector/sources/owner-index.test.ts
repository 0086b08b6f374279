import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SocketOwnerIndex } from '../../../src/collector/sources/procfs/owner-index.js';
import { readNetTables } from '../../../src/collector/sources/procfs/net-tables-reader.js';
import { walkSocketOwners } from '../../../src/collector/sources/procfs/fd-walk.js';
import { createProcContext } from '../../../src/collector/sources/process/reader.js';
import { createNetns, spawnNode } from './helpers.js';

/**
 * The socket owner index: owners are looked for only when the tables show a socket they do not account
 * for. A small /proc tree in a temporary directory drives the bookkeeping exactly; the live test checks
 * the same on the real /proc, with processes in a namespace of their own so that nobody else's sockets
 * come and go in the tables read.
 */

const BOOT_MS = 1_700_000_000_000;

function procTree(): { root: string; addProcess(pid: number, fds: Record<number, string>): void; link(pid: number, fd: number, target: string): void; unlink(pid: number, fd: number): void; kill(pid: number): void; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'conntrail-owners-'));
  const root = join(dir, 'proc');
  mkdirSync(root);
  return {
    root,
    addProcess(pid, fds) {
      mkdirSync(join(root, String(pid), 'fd'), { recursive: true });
      writeFileSync(join(root, String(pid), 'stat'), `${pid} (p${pid}) S 1 ${'0 '.repeat(17)}${pid * 10} 0 0\n`);
      for (const [fd, target] of Object.entries(fds)) symlinkSync(target, join(root, String(pid), 'fd', fd));
    },
    link(pid, fd, target) {
      symlinkSync(target, join(root, String(pid), 'fd', String(fd)));
    },
    unlink(pid, fd) {
      unlinkSync(join(root, String(pid), 'fd', String(fd)));
    },
    kill(pid) {
      rmSync(join(root, String(pid)), { recursive: true, force: true });
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('owners are walked for once: unchanged tables read no fd, unowned sockets are not looked for again', () => {
  const tree = procTree();
  try {
    tree.addProcess(10, { 0: '/dev/null', 3: 'socket:[501]' });
    tree.addProcess(20, { 3: 'socket:[601]', 4: 'socket:[602]', 5: 'pipe:[9]' });
    let clock = 0;
    const index = new SocketOwnerIndex({ ctx: { root: tree.root, bootTimeMs: BOOT_MS, clkTck: 100 }, fullWalkGapMs: 1000, now: () => clock });
    // 999 is in the tables but held by nobody we can see (another user namespace, the kernel).
    const first = index.resolve(new Set([501, 601, 602, 999]));
    assert.deepEqual(first.owners.get(501), { pid: 10, startedAtMs: BOOT_MS + 1000 });
    assert.deepEqual(first.owners.get(602), { pid: 20, startedAtMs: BOOT_MS + 2000 });
    assert.deepEqual(index.stats(), { unknown: 4, pidsWalked: 2, fdsRead: 5, fullWalk: true, unowned: 1 });

    clock += 10; // well within the gap
    const again = index.resolve(new Set([501, 601, 602, 999]));
    assert.equal(again.owners.get(601)?.pid, 20);
    assert.deepEqual(index.stats(), { unknown: 0, pidsWalked: 0, fdsRead: 0, fullWalk: false, unowned: 1 });

    // A socket gone from the tables is forgotten; a new one in a new process is found by the quick pass alone.
    tree.addProcess(30, { 7: 'socket:[701]' });
    const next = index.resolve(new Set([501, 601, 701, 999]));
    assert.equal(next.owners.has(602), false);
    assert.equal(next.owners.get(701)?.pid, 30);
    assert.deepEqual(index.stats(), { unknown: 1, pidsWalked: 1, fdsRead: 1, fullWalk: false, unowned: 1 });

    // An owner that exited: its socket, inherited by a child, is looked for again and found there.
    tree.link(30, 8, 'socket:[501]');
    tree.kill(10);
    clock += 2000;
    const inherited = index.resolve(new Set([501, 601, 701, 999]));
    assert.equal(inherited.owners.get(501)?.pid, 30);
    assert.equal(index.stats().unknown, 1);
  } finally {
    tree.remove();
  }
});

test('a socket the quick pass misses waits for the full walk gap; a complete walk corrects a change of hands', () => {
  const tree = procTree();
  try {
    tree.addProcess(10, { 3: 'socket:[501]' });
    tree.addProcess(20, { 3: 'socket:[601]' });
    let clock = 0;
    const ctx = { root: tree.root, bootTimeMs: BOOT_MS, clkTck: 100 };
    const index = new SocketOwnerIndex({ ctx, fullWalkGapMs: 1000, now: () => clock });
    index.resolve(new Set([501, 601, 999])); // 999 unowned: a full walk, at clock 0
    // pid 20 closes one fd and opens another socket: its fd count stays the same, so the quick pass does
    // not look there, and the full walk has to wait for the gap.
    tree.unlink(20, 3);
    tree.link(20, 4, 'socket:[602]');
    clock += 10;
    const early = index.resolve(new Set([501, 602, 999]));
    assert.equal(early.owners.has(602), false);
    assert.deepEqual(index.stats(), { unknown: 1, pidsWalked: 0, fdsRead: 0, fullWalk: false, unowned: 2 });
    clock += 1000;
    const late = index.resolve(new Set([501, 602, 999]));
    assert.equal(late.owners.get(602)?.pid, 20);
    assert.deepEqual(index.stats(), { unknown: 1, pidsWalked: 2, fdsRead: 2, fullWalk: true, unowned: 1 });

    // 501 passes from pid 10 to pid 20 (sent over a unix socket, say): only a complete walk can tell.
    tree.unlink(10, 3);
    tree.link(20, 5, 'socket:[501]');
    assert.equal(index.resolve(new Set([501, 602, 999])).owners.get(501)?.pid, 10, 'pid 10 is alive: nothing makes the index look');
    assert.equal(index.absorb(walkSocketOwners(ctx)), 1);
    assert.equal(index.resolve(new Set([501, 602, 999])).owners.get(501)?.pid, 20);
    assert.equal(index.absorb(walkSocketOwners(ctx)), 0, 'a walk that agrees changes nothing');
  } finally {
    tree.remove();
  }
});

test('told only what came and went, the index keeps the rest: the same owners as when told every socket', () => {
  const tree = procTree();
  try {
    tree.addProcess(10, { 3: 'socket:[501]', 4: 'socket:[502]' });
    tree.addProcess(20, { 3: 'socket:[601]' });
    let clock = 0;
    const ctx = { root: tree.root, bootTimeMs: BOOT_MS, clkTck: 100 };
    const index = new SocketOwnerIndex({ ctx, fullWalkGapMs: 1000, now: () => clock });
    const first = index.resolve({ added: [501, 502, 601, 999], removed: [] });
    assert.deepEqual([...first.owners.keys()].sort(), [501, 502, 601]);
    assert.deepEqual(index.stats(), { unknown: 4, pidsWalked: 2, fdsRead: 3, fullWalk: true, unowned: 1 });

    // Nothing came or went: nothing is read.
    clock += 10;
    index.resolve({ added: [], removed: [] });
    assert.deepEqual(index.stats(), { unknown: 0, pidsWalked: 0, fdsRead: 0, fullWalk: false, unowned: 1 });

    // 502 and 601 went, 602 came in a process whose fd count did not change: it waits for the gap.
    tree.unlink(10, 4);
    tree.unlink(20, 3);
    tree.link(20, 3, 'socket:[602]');
    const early = index.resolve({ added: [602], removed: [502, 601] });
    assert.equal(early.owners.has(502), false, 'a socket that went is forgotten');
    assert.equal(early.owners.has(602), false);
    assert.equal(index.stats().unowned, 2);
    clock += 10;
    // Not told again: 602 is still looked for (pending), and found once the gap has passed.
    index.resolve({ added: [], removed: [] });
    assert.equal(index.stats().unknown, 1, 'the pending socket is asked for again');
    clock += 1000;
    const late = index.resolve({ added: [], removed: [] });
    assert.equal(late.owners.get(602)?.pid, 20);
    assert.deepEqual(index.stats(), { unknown: 1, pidsWalked: 2, fdsRead: 2, fullWalk: true, unowned: 1 });
    assert.deepEqual([...late.owners.keys()].sort(), [501, 602], 'the same owners as a walk of everything finds');
    assert.deepEqual([...late.owners.keys()].sort(), [...walkSocketOwners(ctx).owners.keys()].sort());
  } finally {
    tree.remove();
  }
});

test('live /proc: a steady namespace costs no fd read; a new connection is owned in the next resolve without a full walk', async () => {
  const ns = createNetns('ctown');
  const child = spawnNode(`
    const net = require('node:net');
    const held = [];
    const srv = net.createServer((s) => held.push(s)).listen(7070, '127.0.0.1', () => {
      process.stdout.write(JSON.stringify({ pid: process.pid }) + '\\n');
    });
    process.stdin.on('data', () => {
      const c = net.connect(7070, '127.0.0.1', () => { held.push(c); process.stdout.write(JSON.stringify({ port: c.localPort }) + '\\n'); });
    });
    process.stdin.on('end', () => process.exit(0));
  `, ['ip', 'netns', 'exec', ns.name]);
  try {
    const { pid } = (await child.next()) as { pid: number };
    const ctx = createProcContext();
    const index = new SocketOwnerIndex({ ctx, fullWalkGapMs: 60_000 });
    const inodes = (): Set<number> => {
      const read = readNetTables({ netns: { pid } });
      return new Set(read.namespaces.flatMap((n) => n.entries.map((e) => e.inode)).filter((i): i is number => i !== null));
    };
    const listener = inodes();
    assert.equal(listener.size, 1);
    const first = index.resolve(listener);
    assert.equal(first.owners.get([...listener][0] ?? 0)?.pid, pid);
    index.resolve(listener);
    assert.deepEqual(index.stats(), { unknown: 0, pidsWalked: 0, fdsRead: 0, fullWalk: false, unowned: 0 });

    child.child.stdin?.write('connect\n');
    const { port } = (await child.next()) as { port: number };
    const now = inodes();
    assert.equal(now.size, 3, 'listener and both ends');
    const owners = index.resolve(now);
    for (const inode of now) assert.equal(owners.owners.get(inode)?.pid, pid);
    const stats = index.stats();
    assert.equal(stats.unknown, 2);
    assert.equal(stats.fullWalk, false);
    assert.ok(stats.pidsWalked >= 1 && port > 0);
  } finally {
    await child.kill();
    ns.remove();
  }
});
