import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COLLECTOR_NODE_FLAGS } from '../src/cli/node-flags.js';
import { openStore } from '../src/store/index.js';
import { silentLog } from './log.js';

/**
 * The collector as a process, over a steady 10k established connections: `conntrail collect` (15 s interval)
 * writing to a separate embedded store, measured from /proc for its CPU (its own and its helper children's)
 * and its resident memory, from after its second snapshot (start-up is not steady state) over 150 s (ten
 * intervals: fewer make the figure depend on where major collections fall). Run once per source mode.
 * Goal: <= 1% of a core, <= 120 MB.
 */
const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const HOLD = fileURLToPath(new URL('../test/programs/hold.js', import.meta.url));
const CLK_TCK = 100;

function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

function rssMb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** The process and its descendants (the eBPF helper, conntrack). */
function family(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone */ }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, ppid] of parent) if (ppid === out[i]) out.push(pid);
  return out;
}

function ready(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`exited ${code}`)));
  });
}

export async function run(report: (line: string) => void, options: { connections?: number; measureSeconds?: number } = {}): Promise<void> {
  const n = options.connections ?? 10_000;
  const seconds = options.measureSeconds ?? 150;
  const dir = mkdtempSync(join(tmpdir(), 'conntrail-bench-collector-'));
  const store = await openStore({ dataDir: join(dir, 'store'), sqlPort: 0, maintenance: false }, silentLog);
  const children: ChildProcess[] = [];
  try {
    const port = 41000 + (process.pid % 1000);
    const server = spawn('prlimit', ['--nofile=16384:16384', process.execPath, HOLD, 'server', String(port), 'bench-server'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(server);
    await ready(server);
    const client = spawn('prlimit', ['--nofile=16384:16384', process.execPath, HOLD, 'client', String(port), String(n), String(3_600_000), 'bench-client'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(client);
    await ready(client);
    report(`  ${n} established loopback connections held (${2 * n} sockets)`);
    for (const source of ['procfs', 'auto'] as const) {
      const collector = spawn(process.execPath, [...COLLECTOR_NODE_FLAGS, MAIN, 'collect', '--host-id', `bench-${source}`, '--source', source, '--netns', 'self', '--interval', '15',
        '--metrics-port', '0', '--spool-dir', join(dir, `spool-${source}`), '--database-url', store.embedded!.url('conntrail_writer')],
      { stdio: ['ignore', 'ignore', 'ignore'], env: { ...process.env, LOG_LEVEL: 'warn' } });
      children.push(collector);
      const pid = collector.pid ?? 0;
      // Start-up is not steady state: the first snapshot (at the first interval boundary, up to an interval
      // after start) walks every fd and meets every socket as new. Measure from after the second one.
      const snapshots = async (): Promise<number> => (await store.admin.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM conntrail.snapshots WHERE host_id = $1', [`bench-${source}`])).rows[0]?.n ?? 0;
      const warmUntil = Date.now() + 120_000;
      while ((await snapshots()) < 2 && Date.now() < warmUntil) await new Promise((r) => setTimeout(r, 500));
      await new Promise((r) => setTimeout(r, 2_000));
      const pids = family(pid);
      const before = pids.reduce((sum, p) => sum + cpuTicks(p), 0);
      const started = Date.now();
      let peak = 0;
      while (Date.now() - started < seconds * 1000) {
        await new Promise((r) => setTimeout(r, 1000));
        peak = Math.max(peak, family(pid).reduce((sum, p) => sum + rssMb(p), 0));
      }
      const used = family(pid).reduce((sum, p) => sum + cpuTicks(p), 0) - before;
      const startupPeak = rssMb(pid, 'VmHWM');
      const wall = (Date.now() - started) / 1000;
      const cpuPct = (used / CLK_TCK / wall) * 100;
      const rows = await store.admin.query<{ n: number; c: number }>(
        `SELECT count(*)::int AS n, coalesce(sum(connection_rows), 0)::int AS c FROM conntrail.snapshots WHERE host_id = $1`, [`bench-${source}`]);
      report(`  --source ${source}: CPU ${cpuPct.toFixed(2)}% of one core over ${wall.toFixed(0)} s, peak RSS ${peak.toFixed(0)} MB (process and helpers; start-up high-water mark ${startupPeak.toFixed(0)} MB), ` +
        `${rows.rows[0]?.n ?? 0} snapshots, ${rows.rows[0]?.c ?? 0} connection rows   (goal <= 1%, <= 120 MB: ${cpuPct <= 1 && peak <= 120 ? 'met' : 'NOT met'})`);
      collector.kill('SIGTERM');
      await new Promise((r) => collector.once('exit', r));
    }
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
