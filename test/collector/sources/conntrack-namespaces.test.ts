import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { discoverNamespaces } from '../../../src/collector/sources/conntrack/namespaces.js';
import { NamespaceConntrackTables } from '../../../src/collector/sources/conntrack/namespace-tables.js';
import { tempDir } from '../../helpers/env.js';
import { createNamespace, eventually, type Namespace } from '../../helpers/netns.js';

const run = promisify(execFile);

/**
 * The per-namespace conntrack tables of `--netns all`: a /proc-like tree for the cases a live system cannot
 * stage on demand (a process gone between listing and reading), and a real namespace for the real files:
 * its own table read through a process in it, then, once no process is left, through its /run/netns mount.
 */

const DNAT = 'ipv4     2 tcp      6 431999 ESTABLISHED src=10.82.50.1 dst=10.82.59.9 sport=40000 dport=80 src=10.82.50.2 dst=10.82.50.1 sport=8080 dport=40000 [ASSURED] mark=0 zone=0 use=2';
const PLAIN = 'ipv4     2 tcp      6 431999 ESTABLISHED src=10.82.50.1 dst=10.82.50.2 sport=40001 dport=22 src=10.82.50.2 dst=10.82.50.1 sport=22 dport=40001 [ASSURED] mark=0 zone=0 use=2';

function fakeProc(root: string, pid: number, inode: number, table: string | null): void {
  mkdirSync(`${root}/${pid}/ns`, { recursive: true });
  mkdirSync(`${root}/${pid}/net`, { recursive: true });
  symlinkSync(`net:[${inode}]`, `${root}/${pid}/ns/net`);
  if (table !== null) writeFileSync(`${root}/${pid}/net/nf_conntrack`, table);
}

const namespaces: Namespace[] = [];
after(async () => {
  for (const ns of namespaces) await ns.remove();
});

test('each namespace is read once, tagged with its inode; our own is left to the streamed source; a vanished one is counted', async () => {
  const dir = tempDir('ctns');
  try {
    const root = dir.path;
    fakeProc(root, 100, 111, 'garbage\n'); // our own namespace: never polled
    fakeProc(root, 200, 222, `${DNAT}\n${PLAIN}\n`);
    fakeProc(root, 201, 222, `${DNAT}\n${PLAIN}\n`); // same namespace, second process
    fakeProc(root, 300, 333, null); // its process exited between the listing and the read
    const tables = new NamespaceConntrackTables({ ownNetns: 111, procRoot: root, netnsDir: null });
    const first = await tables.read(AbortSignal.timeout(10_000));
    assert.deepEqual([first.read, first.vanished, first.deferred, first.malformed, first.failures], [1, 1, 0, 0, []]);
    assert.deepEqual(first.nat.map((n) => [n.netns, n.kind, n.original.dst, n.reply.src, n.reply.srcPort, n.newCount]), [[222, 'DNAT', '10.82.59.9', '10.82.50.2', 8080, 1]]);
    const second = await tables.read(AbortSignal.timeout(10_000));
    assert.deepEqual(second.nat.map((n) => [n.netns, n.newCount]), [[222, 0]], 'the same entry is not new again');
  } finally {
    dir.remove();
  }
});

test('namespaces left unread by a spent budget are counted, and read first next time', async () => {
  const dir = tempDir('ctnb');
  try {
    const root = dir.path;
    for (let i = 0; i < 5; i++) fakeProc(root, 500 + i, 5000 + i, `${DNAT}\n`);
    const starved = new NamespaceConntrackTables({ ownNetns: 1, procRoot: root, netnsDir: null, budgetMs: -1 });
    const r = await starved.read(AbortSignal.timeout(10_000));
    assert.deepEqual([r.read, r.deferred, r.nat.length], [0, 5, 0]);
    const capped = new NamespaceConntrackTables({ ownNetns: 1, procRoot: root, netnsDir: null, concurrency: 2 });
    const all = await capped.read(AbortSignal.timeout(10_000));
    assert.deepEqual([all.read, all.deferred, new Set(all.nat.map((n) => n.netns)).size], [5, 0, 5]);
  } finally {
    dir.remove();
  }
});

test('a real namespace: its DNAT entry through a process in it, then through its mount once no process is left', async () => {
  const ns = await createNamespace('xsn');
  namespaces.push(ns);
  await ns.exec('conntrack', ['-I', '-p', 'tcp', '-s', '10.82.50.1', '-d', '10.82.59.9', '--sport', '40000', '--dport', '80',
    '-r', '10.82.50.2', '-q', '10.82.50.1', '--reply-port-src', '8080', '--reply-port-dst', '40000', '--state', 'ESTABLISHED', '-t', '600', '-u', 'ASSURED']);
  const holder = spawn('ip', ['netns', 'exec', ns.name, 'sleep', '600'], { stdio: 'ignore' });
  try {
    const own = Number(/\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/net'))?.[1]);
    const inode = Number((await run('stat', ['-c', '%i', `/run/netns/${ns.name}`])).stdout.trim());
    // Through the process: the mount path is not needed (and not used: readMounts off).
    const viaPid = new NamespaceConntrackTables({ ownNetns: own, readMounts: false, budgetMs: 60_000 });
    const ours = await eventually('the namespace\'s entry via its process', 20_000, async () => {
      const reading = await viaPid.read(AbortSignal.timeout(30_000));
      const found = reading.nat.filter((n) => n.netns === inode);
      return found.length > 0 ? found : undefined;
    });
    assert.deepEqual(ours.map((n) => [n.kind, n.original.src, n.original.dst, n.original.dstPort, n.reply.src, n.reply.srcPort]),
      [['DNAT', '10.82.50.1', '10.82.59.9', 80, '10.82.50.2', 8080]]);
    holder.kill('SIGKILL');
    await eventually('the holder gone', 20_000, async () => ((await discoverNamespaces()).namespaces.find((n) => n.inode === inode)?.pids.length === 0 ? true : undefined));
    const viaMount = new NamespaceConntrackTables({ ownNetns: own, budgetMs: 60_000 });
    const reading = await viaMount.read(AbortSignal.timeout(60_000));
    assert.deepEqual(reading.nat.filter((n) => n.netns === inode).map((n) => [n.kind, n.reply.src, n.reply.srcPort]), [['DNAT', '10.82.50.2', 8080]]);
  } finally {
    holder.kill('SIGKILL');
  }
});
