import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { walkSocketOwners } from '../src/collector/sources/procfs/fd-walk.js';
import { SocketOwnerIndex } from '../src/collector/sources/procfs/owner-index.js';
import { ProcfsScanMemory, takeProcfsSnapshot } from '../src/collector/sources/procfs/snapshot.js';
import { ProcessCache } from '../src/collector/sources/process/cache.js';
import { createProcContext } from '../src/collector/sources/process/reader.js';

/**
 * The full /proc snapshot (net tables + fd walk + process identity) against `ss -tanp` and `netstat -tanp`
 * on the same sockets: 10k and then 100k established loopback TCP sockets in a fresh network namespace,
 * held by child node processes (as many as the open-files limit requires). Reports medians and ratios.
 * Goals: at most 1.5x the time of ss, at least 3x faster than netstat.
 */

const SIZES = [10_000, 100_000];
const RUNS: Readonly<Record<number, number>> = { 10_000: 5, 100_000: 3 };
const FD_MARGIN = 64;
/** Listening ports sit below the ephemeral range so no client socket can hold one. */
const SERVER_PORT_BASE = 1025;
const EPHEMERAL_RANGE = '1100 65000';

/** Holds `conns` loopback connections (2 sockets each) to its own listening port; exits when stdin closes. */
const HOLDER = `
const net = require('node:net');
const conns = Number(process.argv[1]);
const port = Number(process.argv[2]);
const kept = [];
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const server = net.createServer((s) => { s.pause(); kept.push(s); });
server.on('error', (e) => out({ error: String(e) }));
server.listen(port, '127.0.0.1', async () => {
  try {
    for (let i = 0; i < conns; ) {
      const batch = [];
      for (let j = 0; j < 500 && i < conns; j++, i++) {
        batch.push(new Promise((resolve, reject) => {
          const c = net.connect(port, '127.0.0.1', () => resolve());
          c.on('error', reject);
          c.pause();
          kept.push(c);
        }));
      }
      await Promise.all(batch);
    }
    while (kept.length < 2 * conns) await new Promise((r) => setTimeout(r, 5));
    out({ ready: true, pid: process.pid, rss: process.memoryUsage().rss });
  } catch (e) {
    out({ error: String(e) });
  }
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`;

interface Holder {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly rss: number;
}

function sh(file: string, ...args: string[]): string {
  const r = spawnSync(file, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.stderr || r.error?.message || r.status}`);
  return r.stdout;
}

/** The open-files limit a child can get: `want` if allowed, else the hard limit. */
function achievableFdLimit(want: number): number {
  const out = sh('bash', '-c', `ulimit -n ${want} 2>/dev/null && echo ${want} || ulimit -Hn`).trim();
  return out === 'unlimited' ? want : Number(out);
}

function startHolder(netns: string, conns: number, port: number, fdLimit: number): Promise<Holder> {
  const child = spawn('ip', ['netns', 'exec', netns, 'bash', '-c', `ulimit -n ${fdLimit} && exec "$0" -e "$1" "$2" "$3"`,
    process.execPath, HOLDER, String(conns), String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('holder not ready within 120 s')), 120_000);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      const msg = JSON.parse(line) as { ready?: boolean; pid?: number; rss?: number; error?: string };
      if (msg.ready === true && msg.pid !== undefined) resolve({ child, pid: msg.pid, rss: msg.rss ?? 0 });
      else reject(new Error(`holder failed: ${msg.error ?? line}`));
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`holder exited (${code})`)); });
  });
}

async function stopHolders(holders: readonly Holder[]): Promise<void> {
  await Promise.all(holders.map((h) => new Promise<void>((resolve) => {
    if (h.child.exitCode !== null || h.child.signalCode !== null) return resolve();
    h.child.once('exit', () => resolve());
    h.child.stdin?.end();
    setTimeout(() => h.child.kill('SIGKILL'), 5_000).unref();
  })));
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function timeCommand(netns: string, tool: string, args: readonly string[]): number {
  const started = performance.now();
  const r = spawnSync('ip', ['netns', 'exec', netns, tool, ...args], { stdio: ['ignore', 'ignore', 'ignore'] });
  if (r.status !== 0) throw new Error(`${tool} failed (${r.status ?? r.error?.message})`);
  return performance.now() - started;
}

function countLines(netns: string, tool: string, args: readonly string[]): number {
  const r = spawnSync('ip', ['netns', 'exec', netns, tool, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });
  return r.stdout.split('\n').filter((l) => l.includes('ESTAB')).length;
}

async function measure(report: (line: string) => void, netns: string, sockets: number): Promise<void> {
  const conns = Math.ceil(sockets / 2);
  const fdLimit = achievableFdLimit(2 * conns + FD_MARGIN);
  const perHolder = Math.max(1, Math.floor((fdLimit - FD_MARGIN) / 2));
  const holders: Holder[] = [];
  try {
    for (let left = conns, i = 0; left > 0; left -= perHolder, i++) {
      holders.push(await startHolder(netns, Math.min(perHolder, left), SERVER_PORT_BASE + i, fdLimit));
    }
    const ctx = createProcContext();
    const ownerPid = holders[0]?.pid ?? 0;
    const ours: number[] = [];
    const steady: number[] = [];
    const ss: number[] = [];
    const netstat: number[] = [];
    let found = 0;
    let processes = 0;
    let breakdown = '';
    // Steady state: the collector takes socket owners from the background walker and process identity
    // from its cache, so each interval only reads the tables.
    const owners = walkSocketOwners(ctx);
    const cache = new ProcessCache(ctx);
    // What the collector's /proc source does each interval: tables read against the previous read (kept
    // entries), owners from an index told only what came and went. Its first read is the full one.
    const sourceIndex = new SocketOwnerIndex({ ctx });
    const sourceMemory = new ProcfsScanMemory();
    const sourceCache = new ProcessCache(ctx);
    const sourceRead = (): number => {
      const started = performance.now();
      takeProcfsSnapshot({ ctx, cache: sourceCache, netns: { pid: ownerPid }, memory: sourceMemory, resolveOwners: (w) => sourceIndex.resolve(w) });
      return performance.now() - started;
    };
    const sourceFirst = sourceRead();
    const source: number[] = [];
    // Interleaved, so that load from elsewhere on the machine weighs on every contender alike.
    for (let r = 0; r < (RUNS[sockets] ?? 3); r++) {
      const started = performance.now();
      const snap = takeProcfsSnapshot({ ctx, cache: new ProcessCache(ctx), netns: { pid: ownerPid } });
      ours.push(performance.now() - started);
      found = snap.observations.filter((o) => o.state === 'ESTABLISHED' && o.process !== null).length;
      processes = snap.processes.length;
      breakdown = `tables ${snap.stats.netTablesMs.toFixed(0)} ms, fd walk ${snap.stats.fdWalkMs.toFixed(0)} ms (${snap.stats.fdWalk.fdsRead} fds), assemble ${snap.stats.assembleMs.toFixed(0)} ms, processes ${snap.stats.processesMs.toFixed(1)} ms`;
      const steadyStarted = performance.now();
      takeProcfsSnapshot({ ctx, cache, owners, netns: { pid: ownerPid } });
      steady.push(performance.now() - steadyStarted);
      source.push(sourceRead());
      ss.push(timeCommand(netns, 'ss', ['-tanp']));
      netstat.push(timeCommand(netns, 'netstat', ['-tanp']));
    }
    const o = median(ours);
    const s = median(ss);
    const n = median(netstat);
    report(`${sockets} sockets (${holders.length} holder process${holders.length > 1 ? 'es' : ''}, fd limit ${fdLimit}): ` +
      `found ${found} established with owner (ss: ${countLines(netns, 'ss', ['-tanp'])}), ${processes} processes`);
    report(`  conntrail snapshot ${o.toFixed(1)} ms  [${breakdown}]`);
    report(`  conntrail steady   ${median(steady).toFixed(1)} ms  (owners from the background walker, identities cached)`);
    const src = median(source);
    report(`  conntrail source   ${src.toFixed(1)} ms  (each interval of the collector: kept entries, owner index; its first read ${sourceFirst.toFixed(0)} ms)` +
      `  netstat/source = ${(n / src).toFixed(2)}x, source/ss = ${(src / s).toFixed(2)}x`);
    report(`  ss -tanp           ${s.toFixed(1)} ms   conntrail/ss = ${(o / s).toFixed(2)}x (goal <= 1.5x) ${o <= 1.5 * s ? 'OK' : 'MISSED'}`);
    report(`  netstat -tanp      ${n.toFixed(1)} ms   netstat/conntrail = ${(n / o).toFixed(2)}x (goal >= 3x) ${n >= 3 * o ? 'OK' : 'MISSED'}`);
    report(`  memory: bench rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB, holders ${(holders.reduce((a, h) => a + h.rss, 0) / 2 ** 20).toFixed(0)} MiB`);
  } finally {
    await stopHolders(holders);
  }
}

export async function run(report: (line: string) => void): Promise<void> {
  const netns = `ctbench-${process.pid}`;
  sh('ip', 'netns', 'add', netns);
  try {
    sh('ip', '-n', netns, 'link', 'set', 'lo', 'up');
    // 50k client ports on one loopback address need more than the default ephemeral range.
    sh('ip', 'netns', 'exec', netns, 'sysctl', '-qw', `net.ipv4.ip_local_port_range=${EPHEMERAL_RANGE}`);
    for (const size of SIZES) await measure(report, netns, size);
  } finally {
    spawnSync('ip', ['netns', 'del', netns]);
  }
}
