import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { createNamespace, eventually, type Namespace } from '../../helpers/netns.js';
import { tempDir } from '../../helpers/env.js';

/**
 * The collector as a user runs it: `conntrail up` inside a fresh network namespace (its own host), real
 * programs making real connections there, and the answers read back through the SQL endpoint as the
 * read-only role. /proc is the connection source here; eBPF has its own tests.
 */
const MAIN = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));
const HOLD = fileURLToPath(new URL('../../programs/hold.js', import.meta.url));
const INTERVAL_S = 1;

let ns: Namespace;
let up: ChildProcess;
let data: { path: string; remove(): void };
const children: ChildProcess[] = [];

async function sql<T>(query: string): Promise<T> {
  const out = await ns.exec('psql', ['-h', '127.0.0.1', '-p', '5433', '-U', 'conntrail_reader', '-d', 'postgres', '-Atc', `SELECT coalesce(json_agg(t), '[]') FROM (${query}) t`]);
  return JSON.parse(out) as T;
}

function start(args: string[]): Promise<{ pid: number; ports: number[] }> {
  const child = ns.spawn(process.execPath, [HOLD, ...args]);
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout?.once('data', (d: Buffer) => resolve(JSON.parse(d.toString().split('\n')[0] ?? '{}') as { pid: number; ports: number[] }));
    child.once('exit', (code) => reject(new Error(`hold ${args.join(' ')} exited ${code}`)));
  });
}

before(async () => {
  ns = await createNamespace('ctcol');
  data = tempDir('collector');
  up = ns.spawn(process.execPath, [MAIN, 'up', '--data-dir', data.path, '--interval', String(INTERVAL_S), '--source', 'procfs', '--netns', 'self',
    '--host-id', 'testhost', '--metrics-port', '0', '--port', '4000']);
  let log = '';
  up.stderr?.on('data', (d: Buffer) => { log += d.toString(); });
  await eventually('conntrail up to serve SQL', 60_000, async () => (await sql<unknown[]>('SELECT 1 AS one')).length === 1 ? true : undefined)
    .catch((err: unknown) => { throw new Error(`${String(err)}\n${log.slice(-3000)}`); });
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  up?.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  await ns?.remove();
  data?.remove();
});

test('a server and a client appear on both ends within two intervals, with pids, names, direction and state', async () => {
  const server = await start(['server', '7000', 'ct-server']);
  const client = await start(['client', '7000', '1', '20000', 'ct-client']);
  const readyAt = Date.now();
  const rows = await eventually('both ends of the connection', 10_000, async () => {
    const r = await sql<Array<{ direction: string; pid: number; process_name: string; state: string; local_port: number; remote_port: number }>>(
      `SELECT DISTINCT direction, pid, process_name, state, local_port, remote_port FROM bi.connections
       WHERE host_id = 'testhost' AND protocol = 'tcp' AND (local_port = 7000 OR remote_port = 7000) AND state = 'ESTABLISHED'`);
    return r.length >= 2 ? r : undefined;
  });
  // In the first or second snapshot taken after the connection was up (counted in snapshots, not in
  // wall-clock time, so a loaded machine that ticks late cannot fail it).
  const first = await sql<Array<{ first_time: string }>>(`SELECT min(time) AS first_time FROM bi.connections WHERE local_port = 7000 OR remote_port = 7000`);
  const firstSeen = Date.parse(first[0]?.first_time ?? '');
  const taken = await sql<Array<{ time: string }>>(
    `SELECT time FROM bi.snapshots WHERE host_id = 'testhost' AND time > '${new Date(readyAt).toISOString()}' ORDER BY time LIMIT 2`);
  const second = Date.parse(taken[1]?.time ?? taken[0]?.time ?? '');
  assert.ok(firstSeen <= second, `first seen at ${first[0]?.first_time}, connection up at ${new Date(readyAt).toISOString()}, snapshots after it: ${taken.map((t) => t.time).join(', ')}`);
  const clientPort = client.ports[0];
  const clientSide = rows.find((r) => r.direction === 'outgoing');
  const serverSide = rows.find((r) => r.direction === 'incoming');
  assert.deepEqual(clientSide, { direction: 'outgoing', pid: client.pid, process_name: 'ct-client', state: 'ESTABLISHED', local_port: clientPort, remote_port: 7000 });
  assert.deepEqual(serverSide, { direction: 'incoming', pid: server.pid, process_name: 'ct-server', state: 'ESTABLISHED', local_port: 7000, remote_port: clientPort });
  const listening = await sql<Array<{ port: number; pid: number }>>(`SELECT DISTINCT port, pid FROM bi.listening_sockets WHERE port = 7000`);
  assert.deepEqual(listening, [{ port: 7000, pid: server.pid }]);
});

test('a connection that lives 50 ms between two scans is still recorded (conntrack events)', async () => {
  await start(['server', '7001', 'ct-short-srv']);
  const client = await start(['client', '7001', '1', '50', 'ct-short']);
  const port = client.ports[0];
  const rows = await eventually('the 50 ms connection', 10_000, async () => {
    const r = await sql<Array<{ source: string; direction: string; local_port: number }>>(
      `SELECT DISTINCT source, direction, local_port FROM bi.connections WHERE remote_port = 7001 AND local_port = ${Number(port)}`);
    return r.length > 0 ? r : undefined;
  });
  assert.equal(rows[0]?.direction, 'outgoing');
});

test('500 connections between two processes are stored as a bounded number of rows whose counts add up to 500', async () => {
  await start(['server', '7002', 'ct-many-srv']);
  await start(['client', '7002', '500', '8000', 'ct-many']);
  const result = await eventually('an interval with all 500 connections', 12_000, async () => {
    const r = await sql<Array<{ time: string; rows: number; total: number }>>(
      `SELECT time, count(*) AS rows, sum(conn_count) AS total FROM bi.connections
       WHERE remote_port = 7002 AND direction = 'outgoing' GROUP BY time ORDER BY time DESC`);
    return r.find((x) => x.total === 500);
  });
  assert.equal(result.total, 500);
  assert.ok(result.rows <= 10, `expected at most 10 rows for 500 elided connections, got ${result.rows}`);
  const serverSide = await sql<Array<{ total: number; rows: number }>>(
    `SELECT sum(conn_count) AS total, count(*) AS rows FROM bi.connections WHERE local_port = 7002 AND direction = 'incoming' AND time = '${result.time}'`);
  assert.deepEqual(serverSide, [{ total: 500, rows: result.rows }]);
});

test('every interval has exactly one completeness record naming the sources that ran', async () => {
  const snaps = await sql<Array<{ time: string; sources: Array<{ name: string; ok: boolean }>; errors: string[] }>>(
    `SELECT time, sources, errors FROM bi.snapshots WHERE host_id = 'testhost' ORDER BY time`);
  assert.ok(snaps.length >= 3);
  const times = snaps.map((s) => Date.parse(s.time));
  assert.equal(new Set(times).size, times.length, 'an interval has two records');
  // An interval without a record must be one the collector said it skipped (a later record names it).
  const skipped = new Set(snaps.flatMap((s) => s.errors).map((e) => /skipped the interval of (\S+):/.exec(e)?.[1]).filter((t): t is string => Boolean(t)).map((t) => Date.parse(t)));
  for (let t = times[0] ?? 0; t <= (times[times.length - 1] ?? 0); t += INTERVAL_S * 1000) {
    if (!times.includes(t)) assert.ok(skipped.has(t), `no record for ${new Date(t).toISOString()} and no record says why`);
  }
  assert.deepEqual([...new Set(snaps.flatMap((s) => s.sources.map((x) => x.name)))].sort(), ['conntrack', 'procfs']);
});
