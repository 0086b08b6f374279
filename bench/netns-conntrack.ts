import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { promisify } from 'node:util';
import { DEFAULT_NAMESPACE_BUDGET_MS, NamespaceConntrackTables } from '../src/collector/sources/conntrack/namespace-tables.js';

/**
 * The per-namespace conntrack cost of `--netns all` (issue 13 item 3): 100 network namespaces, each with a NAT
 * rule and ENTRIES translated conntrack entries (inserted with `conntrack -I`), read as the collector reads them
 * once per interval. Two cases: each namespace has a process (its table is /proc/<pid>/net/nf_conntrack: a file
 * read), and named namespaces without any process (one `nsenter ... cat` each). Reports wall time and the
 * collector's own CPU per read, per namespace, and how much of it is the kernel's (reading one namespace's table walks
 * the host's whole conntrack hash, nf_conntrack_buckets, whatever the namespace holds). Other namespaces on the machine are read too (and counted).
 */
const NAMESPACES = 100;
const ENTRIES = 20;
const READS = 10;
const run = promisify(execFile);

function ownNetns(): number {
  return Number(/\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/net'))?.[1]);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

async function measure(report: (line: string) => void, label: string, budgetMs: number, reads: number): Promise<void> {
  const tables = new NamespaceConntrackTables({ ownNetns: ownNetns(), budgetMs });
  const walls: number[] = [];
  const cpus: number[] = [];
  const systems: number[] = [];
  let last = { read: 0, nat: 0, deferred: 0, vanished: 0 };
  for (let i = 0; i < reads; i++) {
    const cpu = process.cpuUsage();
    const reading = await tables.read(AbortSignal.timeout(120_000));
    const used = process.cpuUsage(cpu);
    walls.push(reading.durationMs);
    cpus.push((used.user + used.system) / 1000);
    systems.push(used.system / 1000);
    last = { read: reading.read, nat: reading.nat.length, deferred: reading.deferred, vanished: reading.vanished };
  }
  const perNs = (x: number): string => (last.read > 0 ? (x / last.read).toFixed(2) : '-');
  report(`${label}: ${last.read} namespace tables read, ${last.nat} translations, ${last.deferred} deferred, ${last.vanished} vanished (last read)`);
  report(`   wall median ${median(walls).toFixed(1)} ms/read (${perNs(median(walls))} ms/namespace), collector CPU median ${median(cpus).toFixed(1)} ms/read (${perNs(median(cpus))} ms/namespace), of which in the kernel ${median(systems).toFixed(1)} ms`);
}

export async function run_(report: (line: string) => void): Promise<void> {
  const names = Array.from({ length: NAMESPACES }, (_, i) => `xsb${process.pid % 100000}n${i}`);
  const holders: ChildProcess[] = [];
  try {
    for (const [i, name] of names.entries()) {
      await run('ip', ['netns', 'add', name]);
      await run('ip', ['netns', 'exec', name, 'iptables', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', '10.82.200.1', '--dport', '80', '-j', 'DNAT', '--to-destination', '10.82.100.2:8080']);
      const inserts = Array.from({ length: ENTRIES }, (_, j) =>
        `conntrack -I -p tcp -s 10.82.100.1 -d 10.82.200.1 --sport ${40000 + j} --dport 80 -r 10.82.100.2 -q 10.82.100.1 --reply-port-src 8080 --reply-port-dst ${40000 + j} --state ESTABLISHED -t 600 -u ASSURED 2>/dev/null`).join('; ');
      await run('ip', ['netns', 'exec', name, 'sh', '-c', inserts]);
      holders.push(spawn('ip', ['netns', 'exec', name, 'sleep', '3600'], { stdio: 'ignore' }));
      if ((i + 1) % 25 === 0) report(`   ${i + 1} namespaces ready`);
    }
    await new Promise((r) => setTimeout(r, 500));
    await measure(report, `${NAMESPACES} namespaces with a process each (/proc/<pid>/net/nf_conntrack)`, DEFAULT_NAMESPACE_BUDGET_MS, READS);
    for (const h of holders) h.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    await measure(report, `${NAMESPACES} named namespaces without processes (nsenter), no budget`, 600_000, 3);
    await measure(report, `${NAMESPACES} named namespaces without processes (nsenter), default budget ${DEFAULT_NAMESPACE_BUDGET_MS} ms`, DEFAULT_NAMESPACE_BUDGET_MS, 3);
  } finally {
    for (const h of holders) h.kill('SIGKILL');
    for (const name of names) await run('ip', ['netns', 'del', name]).catch(() => undefined);
  }
}

export { run_ as run };
