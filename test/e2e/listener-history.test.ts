import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/env.js';
import { createNamespace, eventually, type Namespace } from '../helpers/netns.js';

/**
 * Issue 13, item 2, done-when: a server starts, stops, another process takes the port; `listeners` gives both with
 * the right times. `conntrail up` runs in a fresh network namespace (its own host) with a 1 s interval, real
 * programs listen there, and the answers come from its API. Run under /proc alone and under the default source
 * (eBPF for connections, the listening scan beside it). Times are checked against snapshots whose order relative
 * to the programs' start and exit is known, never against the wall clock.
 */
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const HOLD = fileURLToPath(new URL('../programs/hold.js', import.meta.url));
const HOST = 'listenhost';
const PORT = 7370;

interface ListenerOut {
  process: { pid: number; name: string } | null; address: string; port: number; protocol: string;
  firstSeen: string; lastSeen: string; sightings: number; openedAfter: string | null; closedBefore: string | null;
  listeningBefore: boolean; listeningAfter: boolean;
}

const LISTENERS = `query($range: TimeRange!, $port: Int) { listeners(range: $range, host: "${HOST}", port: $port) { edges { node {
  process { pid name } address port protocol firstSeen lastSeen sightings openedAfter closedBefore listeningBefore listeningAfter } } } }`;
const SNAPSHOTS = `query($range: TimeRange!) { snapshots(host: "${HOST}", range: $range, first: 1000) { edges { node { time sources { name ok } } } } }`;

for (const source of ['procfs', 'auto'] as const) {
  describe(`listener history (--source ${source})`, () => {
    let ns: Namespace;
    let up: ChildProcess;
    let data: { path: string; remove(): void };
    const children: ChildProcess[] = [];
    const T_START = Date.now() - 60_000;

    async function query<T>(document: string, variables: Record<string, unknown>): Promise<T> {
      const args = [MAIN, 'query', document, ...Object.entries(variables).flatMap(([k, v]) => ['--var', `${k}=${JSON.stringify(v)}`])];
      const out = JSON.parse(await ns.exec(process.execPath, args)) as { data?: T; errors?: unknown[] };
      if (out.errors) throw new Error(JSON.stringify(out.errors));
      return out.data as T;
    }
    const range = () => ({ from: new Date(T_START).toISOString(), to: new Date(Date.now() + 60_000).toISOString() });
    const listeners = async () => (await query<{ listeners: { edges: { node: ListenerOut }[] } }>(LISTENERS, { range: range(), port: PORT })).listeners.edges.map((e) => e.node);
    /** The host's snapshots whose listening scan succeeded, by time. */
    const scans = async () => (await query<{ snapshots: { edges: { node: { time: string; sources: { name: string; ok: boolean }[] } }[] } }>(SNAPSHOTS, { range: range() }))
      .snapshots.edges.filter((e) => e.node.sources.some((s) => s.name === 'procfs' && s.ok)).map((e) => Date.parse(e.node.time));
    /** The time of a listening scan written after now whose stamp is at or after `notBefore` (so it ran after it). */
    const scanAfter = (what: string, notBefore: number) => eventually(what, 60_000, async () => (await scans()).find((t) => t >= notBefore));

    function start(name: string): Promise<{ child: ChildProcess; pid: number }> {
      const child = ns.spawn(process.execPath, [HOLD, 'server', String(PORT), name]);
      children.push(child);
      return new Promise((resolve, reject) => {
        child.stdout?.once('data', (d: Buffer) => resolve({ child, pid: (JSON.parse(d.toString().split('\n')[0] ?? '{}') as { pid: number }).pid }));
        child.once('exit', (code) => reject(new Error(`hold server ${name} exited ${code}`)));
      });
    }

    before(async () => {
      ns = await createNamespace(`ctls${source.slice(0, 2)}`);
      data = tempDir('listeners');
      up = ns.spawn(process.execPath, [MAIN, 'up', '--data-dir', data.path, '--interval', '1', '--source', source, '--netns', 'self',
        '--host-id', HOST, '--metrics-port', '0', '--port', '4000']);
      let log = '';
      up.stderr?.on('data', (d: Buffer) => { log += d.toString(); });
      await eventually('conntrail up to answer with a listening scan', 90_000, async () => ((await scans()).length > 0 ? true : undefined))
        .catch((err: unknown) => { throw new Error(`${String(err)}\n${log.slice(-3000)}`); });
    });

    after(async () => {
      for (const c of children) c.kill('SIGKILL');
      up?.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
      await ns?.remove();
      data?.remove();
    });

    it('a server starts, stops, another process takes the port: both listeners, each with its own times', async () => {
      // A scan written before the first server starts cannot have seen it.
      const beforeFirst = Math.max(...await scans());
      const first = await start('lis-first');
      await eventually('the first server in two scans', 60_000, async () => {
        const l = (await listeners()).find((x) => x.process?.pid === first.pid);
        return l && l.sightings >= 2 ? l : undefined;
      });
      const exited = new Promise((r) => first.child.once('exit', r));
      first.child.kill('SIGTERM');
      await exited;
      // A scan stamped after the exit ran after it (a tick is stamped with the start of its interval, then scans).
      const afterExit = await scanAfter('a scan after the first server exited', Date.now());
      const beforeSecond = Math.max(...await scans());
      const second = await start('lis-second');
      const answer = await eventually('the second server in two scans', 60_000, async () => {
        const all = await listeners();
        return all.some((x) => x.process?.pid === second.pid && x.sightings >= 2) ? all : undefined;
      });

      const owned = answer.filter((l) => l.process !== null);
      assert.deepEqual(owned.map((l) => [l.process!.pid, l.process!.name, l.address, l.port, l.protocol]),
        [[first.pid, 'lis-first', '127.0.0.1', PORT, 'TCP'], [second.pid, 'lis-second', '127.0.0.1', PORT, 'TCP']]);
      const [a, b] = owned as [ListenerOut, ListenerOut];
      const ms = (s: string | null) => (s === null ? null : Date.parse(s));
      // The first: began after a scan that could not see it, seen in every scan from its first to its last
      // sighting, and gone from a scan taken after it exited.
      assert.ok(ms(a.openedAfter)! >= beforeFirst && ms(a.firstSeen)! > beforeFirst, JSON.stringify(a));
      const all = await scans();
      assert.equal(a.sightings, all.filter((t) => t >= ms(a.firstSeen)! && t <= ms(a.lastSeen)!).length, 'seen in every scan of its stretch');
      assert.ok(a.closedBefore !== null && ms(a.closedBefore)! <= afterExit && ms(a.lastSeen)! < ms(a.closedBefore)!, JSON.stringify(a));
      assert.equal(all.find((t) => t > ms(a.lastSeen)!), ms(a.closedBefore), 'closedBefore is the next scan after the last sighting');
      // The second: began after a scan taken before it started, after the first was gone; still listening.
      assert.ok(ms(b.openedAfter)! >= beforeSecond && ms(b.firstSeen)! > beforeSecond && ms(b.firstSeen)! > ms(a.lastSeen)!, JSON.stringify(b));
      assert.equal(all.filter((t) => t > ms(b.openedAfter)!)[0], ms(b.firstSeen), 'openedAfter is the scan just before the first sighting');
      assert.equal(b.closedBefore, null);
      assert.deepEqual([a.listeningBefore, a.listeningAfter, b.listeningBefore, b.listeningAfter], [false, false, false, false]);
      // A socket whose owner was not known yet shows as ownerless, never as the other server: only inside a server's life.
      for (const u of answer.filter((l) => l.process === null)) {
        const inside = owned.some((l) => ms(u.firstSeen)! >= ms(l.openedAfter)! && (l.closedBefore === null || ms(u.lastSeen)! < ms(l.closedBefore)!));
        assert.ok(inside, `ownerless listener outside both servers' lives: ${JSON.stringify(u)}`);
      }

      // Process.listeners gives the same stretch for the first server.
      const viaProcess = await query<{ process: { listeners: { edges: { node: { port: number; firstSeen: string; lastSeen: string } }[] } } | null }>(
        `query($range: TimeRange!, $pid: Int!, $at: DateTime!) { process(host: "${HOST}", pid: $pid, at: $at) { listeners(range: $range) { edges { node { port firstSeen lastSeen } } } } }`,
        { range: range(), pid: first.pid, at: a.lastSeen });
      assert.deepEqual(viaProcess.process?.listeners.edges.map((e) => e.node), [{ port: PORT, firstSeen: a.firstSeen, lastSeen: a.lastSeen }]);
    });
  });
}
