import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import type { Route } from 'playwright-core';
import { DEFAULT_WEB_ROOT, serveStatic } from '../src/api/static.js';
import { launchChromium } from '../test/helpers/browser.js';

/**
 * `npm run bench -- ui`: the web UI in the system's Chromium (the browser the tests use) drawing a 500-node,
 * 2,000-edge map: first paint (navigation start to the first map frame drawn) and the redraw after one scrubber
 * step (input to the next frame drawn, the GraphQL answer for the new window included). The page and its assets
 * come from the API's own static handler; /graphql is answered in the browser with generated answers of the
 * API's shape, because the real API caps one map at a few hundred edges (its cost ceiling) and the figure wanted
 * is the browser's. Goals (issue 14): first paint under 1.5 s, a step under 300 ms.
 */
const NODES = 500;
const EDGES = 2000;
const HOSTS = 25;
const STEPS = 5;
const LOADS = 2;
const FIRST_PAINT_GOAL_MS = 1500;
const STEP_GOAL_MS = 300;

/** A deterministic pseudo-random sequence, so each run draws the same maps. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x / 0x100000000;
  };
}

function node(i: number): Record<string, unknown> {
  const host = `host-${String(i % HOSTS).padStart(2, '0')}`;
  return { id: `p${i}`, kind: 'PROCESS', name: `svc-${i}`, containerId: null, address: null, host: { id: host }, process: { pid: 1000 + i, name: `svc-${i}`, startedAt: '2026-01-01T00:00:00.000Z' } };
}

/** The edges of one window: the same 2,000 pairs, a window-dependent tenth of them absent, counts varying. */
function talkers(windowFrom: string): Record<string, unknown> {
  const pairs = prng(42);
  const vary = prng(Date.parse(windowFrom) / 1000);
  const edges: Array<Record<string, unknown>> = [];
  for (let i = 0; i < EDGES + EDGES / 9; i += 1) {
    const a = Math.floor(pairs() * NODES);
    const b = (a + 1 + Math.floor(pairs() * (NODES - 1))) % NODES;
    const nat = pairs() < 0.3;
    if (vary() < 0.1 || edges.length >= EDGES) continue;
    const hop = nat ? [{ host: { id: 'router' }, kind: 'BOTH', protocol: 'TCP', translations: 3, firstSeen: windowFrom, lastSeen: windowFrom,
      original: { source: `10.0.${a % 250}.${a % 200}`, sourcePort: null, destination: `10.96.0.${b % 250}`, destinationPort: 80 },
      reply: { source: `10.1.${b % 250}.${b % 200}`, sourcePort: 8080, destination: '10.0.255.1', destinationPort: null } }] : [];
    const conns = 1 + Math.floor(vary() * 50);
    edges.push({ id: `e${i}`, protocol: 'TCP', match: nat ? 'NAT_RESOLVED' : 'BOTH_ENDS', matches: [{ match: nat ? 'NAT_RESOLVED' : 'BOTH_ENDS', connections: conns }],
      connections: conns, bytesSent: conns * 1000 + i, bytesReceived: conns * 50_000, firstSeen: windowFrom, lastSeen: windowFrom,
      client: { node: node(a), address: `10.0.${a % 250}.${a % 200}`, port: null, host: { id: `host-${String(a % HOSTS).padStart(2, '0')}` }, process: (node(a) as { process: unknown }).process },
      server: { node: node(b), address: `10.1.${b % 250}.${b % 200}`, port: 8080, host: { id: `host-${String(b % HOSTS).padStart(2, '0')}` }, process: (node(b) as { process: unknown }).process },
      nat: hop });
  }
  return { talkers: { resolution: 'RAW', totalEdges: edges.length, coverage: coverage(), edges } };
}

/** Every host reported the whole window: the map is judged complete (the UI reads this since it shows coverage). */
function coverage(): { complete: boolean; hostsReporting: Array<{ id: string }>; hostsWithGaps: never[] } {
  return { complete: true, hostsReporting: Array.from({ length: HOSTS }, (_, h) => ({ id: `host-${String(h).padStart(2, '0')}` })), hostsWithGaps: [] };
}

async function answer(route: Route): Promise<void> {
  const body = JSON.parse(route.request().postData() ?? '{}') as { query: string; variables: Record<string, unknown> };
  const data: Record<string, unknown> = body.query.includes('talkers(')
    ? talkers(String((body.variables.range as { from: string }).from))
    : body.query.includes('traffic(') ? { out: [], in: [] }
      : body.query.includes('coverage(') ? { coverage: coverage() }
        : body.query.includes('hosts {') ? { hosts: [] } : {};
  await route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ data }) });
}

/**
 * CPU time (user + system, ms) used so far by this process's descendants: the browser's processes. Reported next to
 * the wall-clock figures because on a shared, loaded machine the wall clock mostly measures the other tenants; CPU
 * time is what the page itself costs (the goals are judged on the wall clock, as the issue states them).
 */
function browserCpuMs(): number {
  const tree = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command (which may hold spaces): state ppid ... utime(14th) stime(15th).
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      tree.set(Number(entry), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch { /* the process ended meanwhile */ }
  }
  const mine = new Set([process.pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, p] of tree) if (!mine.has(pid) && mine.has(p.ppid)) { mine.add(pid); grew = true; }
  }
  mine.delete(process.pid);
  // Clock ticks are 1/100 s on Linux (USER_HZ).
  return [...mine].reduce((sum, pid) => sum + (tree.get(pid)?.ticks ?? 0), 0) * 10;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

export async function run(report: (line: string) => void): Promise<void> {
  const server: Server = createServer((req, res) => {
    void serveStatic(DEFAULT_WEB_ROOT, new URL(req.url ?? '/', 'http://x').pathname, req, res).then((o) => {
      if (o === 'not-ui') { res.writeHead(404); res.end(); }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const browser = await launchChromium();
  try {
    const paints: number[] = [];
    const steps: number[] = [];
    const paintCpu: number[] = [];
    const stepCpu: number[] = [];
    report(`load average at start: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    for (let round = 0; round < LOADS; round += 1) {
      const page = await (await browser.newContext({ viewport: { width: 1600, height: 1000 } })).newPage();
      await page.route('**/graphql', answer);
      const to = Date.parse('2026-06-01T12:00:00Z');
      const cpu0 = browserCpuMs();
      await page.goto(`${base}?from=${new Date(to - 3_600_000).toISOString()}&to=${new Date(to).toISOString()}&group=PROCESS`);
      // An error sentence instead of a map ends the run at once (an answer the UI no longer accepts, say).
      await page.waitForFunction(() => Number(document.body.dataset.renders ?? 0) >= 1 || document.body.dataset.state === 'error', undefined, { timeout: 60_000 });
      const failed = await page.evaluate(() => (document.body.dataset.state === 'error' ? document.getElementById('message')?.textContent ?? 'error' : null));
      if (failed !== null) throw new Error(`the page showed an error instead of the map: ${failed}`);
      paints.push(await page.evaluate(() => new Promise<number>((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now()))))));
      paintCpu.push(browserCpuMs() - cpu0);
      const drawn = await page.evaluate(() => (window as unknown as { conntrail: { summary(): { nodes: unknown[]; edges: unknown[] } } }).conntrail.summary());
      if (round === 0) report(`map drawn: ${drawn.nodes.length} elements as nodes (host boxes included), ${drawn.edges.length} edges`);
      for (let i = 0; i < STEPS; i += 1) {
        const stepCpu0 = browserCpuMs();
        steps.push(await page.evaluate(async (value) => {
          const before = Number(document.body.dataset.renders);
          const slider = document.getElementById('scrubber') as HTMLInputElement;
          const t0 = performance.now();
          slider.value = String(value);
          slider.dispatchEvent(new Event('input'));
          while (Number(document.body.dataset.renders) === before) await new Promise((r) => setTimeout(r, 1));
          return new Promise<number>((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now() - t0))));
        }, 10 + i));
        stepCpu.push(browserCpuMs() - stepCpu0);
      }
      const phases = await page.evaluate(() => ['conntrail:model', 'conntrail:draw'].map((n) => {
        const xs = performance.getEntriesByName(n).map((e) => e.duration);
        return `${n.slice(10)} ${(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)).toFixed(0)} ms`;
      }).join(', '));
      report(`load ${round + 1}: mean per redraw: ${phases} (the rest is the answer's transfer and parse, and the frame)`);
      await page.context().close();
    }
    const fp = median(paints);
    const st = median(steps);
    report(`first paint of ${NODES} nodes / ${EDGES} edges: median ${fp.toFixed(0)} ms over ${paints.length} loads (${paints.map((p) => p.toFixed(0)).join(', ')}); goal < ${FIRST_PAINT_GOAL_MS} ms: ${fp < FIRST_PAINT_GOAL_MS ? 'met' : 'MISSED'}`);
    report(`scrubber step redraw: median ${st.toFixed(0)} ms, max ${Math.max(...steps).toFixed(0)} ms over ${steps.length} steps; goal < ${STEP_GOAL_MS} ms: ${st < STEP_GOAL_MS ? 'met' : 'MISSED'}`);
    report(`browser cpu (all its processes): first paint median ${median(paintCpu).toFixed(0)} ms, step median ${median(stepCpu).toFixed(0)} ms`);
    if (fp >= FIRST_PAINT_GOAL_MS || st >= STEP_GOAL_MS) process.exitCode = 1;
  } finally {
    await browser.close();
    server.close();
  }
}
