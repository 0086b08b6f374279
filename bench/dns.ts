import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DnsNames } from '../src/collector/sources/dns/names.js';
import { EbpfSource } from '../src/collector/sources/ebpf/index.js';
import { silentLogger } from '../src/domain/logger.js';

/**
 * The DNS source's CPU at 1,000 lookups/s for 10 s: a DNS server and a client asking it (A answers with a
 * CNAME chain) in a fresh network namespace, the eBPF source reading the helper in this process. Run twice, with
 * and without --dns, under the same load: the difference is what snooping costs (helper + reader CPU); the
 * reader's parse and table work is also timed on its own. Reports per-second CPU as a share of one core.
 */
const RATE = 1000;
const SECONDS = 10;
const TICKS_PER_S = 100;
const SERVER = fileURLToPath(new URL('../test/programs/dns-server.js', import.meta.url));
const CLIENT = fileURLToPath(new URL('../test/programs/dns-client.js', import.meta.url));

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

interface Round { readonly helperS: number; readonly readerS: number; readonly wallS: number; readonly sent: number; readonly received: number; readonly answers: number; readonly dropped: number; readonly malformed: number }

async function round(ns: string, dns: boolean): Promise<Round> {
  const names = new DnsNames({ mode: 'snoop', logger: silentLogger });
  const source = await EbpfSource.start({ logger: silentLogger, ...(dns ? { dns: names } : {}) });
  try {
    const helperPid = source.helperPid as number;
    const ticks0 = cpuTicks(helperPid);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const reads = setInterval(() => { void source.read(new AbortController().signal).then(() => names.collect(Date.now(), [])); }, 1000);
    const client = spawn('ip', ['netns', 'exec', ns, process.execPath, CLIENT, 'rate', '127.0.0.1', String(RATE), String(SECONDS), 'api.bench.internal'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    client.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    await new Promise((r) => client.once('exit', r));
    await source.read(new AbortController().signal);
    clearInterval(reads);
    const wallS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const helperS = (cpuTicks(helperPid) - ticks0) / TICKS_PER_S;
    const { sent, received } = JSON.parse(out) as { sent: number; received: number };
    const s = names.stats();
    return { helperS, readerS: (cpu.user + cpu.system) / 1e6, wallS, sent, received, answers: s.answers, dropped: s.dropped, malformed: s.malformed };
  } finally {
    await source.close();
    names.close();
  }
}

export async function run(report: (line: string) => void): Promise<void> {
  const ns = `ctdnsbench${process.pid % 100000}`;
  execFileSync('ip', ['netns', 'add', ns]);
  const server = spawn('ip', ['netns', 'exec', ns, process.execPath, SERVER, '127.0.0.1', '53',
    JSON.stringify({ ttl: 30, a: { 'lb.bench.internal': ['10.81.9.9'] }, cname: { 'api.bench.internal': 'lb.bench.internal' } })], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    await new Promise((r) => server.stdout.once('data', r));
    const off = await round(ns, false);
    const on = await round(ns, true);
    const pct = (r: Round) => (100 * (r.helperS + r.readerS)) / r.wallS;
    for (const [label, r] of [['without --dns', off], ['with --dns', on]] as const) {
      report(`${label}: ${r.sent} queries, ${r.received} answers received in ${r.wallS.toFixed(1)} s; helper ${r.helperS.toFixed(2)} s CPU, reader ${r.readerS.toFixed(2)} s CPU: ${pct(r).toFixed(2)}% of one core`);
    }
    report(`snooped: ${on.answers} answers parsed, ${on.malformed} malformed, ${on.dropped} not copied (budget)`);
    report(`DNS snooping at ${RATE} lookups/s costs ${(pct(on) - pct(off)).toFixed(2)}% of one core in user space (helper + reader), on a machine shared with other work`);
  } finally {
    server.kill('SIGKILL');
    execFileSync('ip', ['netns', 'del', ns]);
  }
}
