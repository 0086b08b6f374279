import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tempDir } from '../helpers/env.js';
import { createNamespace, eventually, type Namespace } from '../helpers/netns.js';

/**
 * Issue 13, item 1, done-when, in real namespaces: a DNS server of ours in a server namespace answers names
 * (A with a CNAME chain, PTR); `conntrail up` runs in the client namespace (its own host, 1 s interval, DNS
 * snooping and reverse lookups against the test's server); real clients resolve and connect. The API gives the
 * name on the edge, on the connection and the resolved target, groups and filters by it; the name survives its TTL
 * and its process; a name that moves is answered per time; reverse names come from the test's PTR zone; a flood
 * of malformed replies is counted (every reply copied is a skipped malformed answer or counted as not copied).
 */
const run = promisify(execFile);
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const SERVER = fileURLToPath(new URL('../programs/dns-server.js', import.meta.url));
const CLIENT = fileURLToPath(new URL('../programs/dns-client.js', import.meta.url));
const HOST = 'dnshost';
const CLIENT_IP = '10.81.0.1';
const SERVER_IP = '10.81.0.2';
const MOVED_IP = '10.81.0.3';
const GARBAGE_IP = '10.81.0.4';
const SERVICE_PORT = 7481;
const ZONE = {
  ttl: 1,
  a: { 'lb-1.api.internal': [SERVER_IP] },
  cname: { 'api.internal': 'lb-1.api.internal' },
  ptr: { [SERVER_IP]: 'srv-b.zone.test', [MOVED_IP]: 'srv-c.zone.test' },
};

interface NameOut { address: string; name: string; source: string; host: { id: string }; ttl: number | null; process: { pid: number } | null; firstSeen: string; lastSeen: string }

describe('DNS names over time (snooped and reverse)', () => {
  let client: Namespace;
  let server: Namespace;
  let up: ChildProcess;
  let dns: ChildProcess;
  let garbage: ChildProcess;
  let data: { path: string; remove(): void };
  let log = '';
  const T_START = Date.now() - 60_000;
  const range = (from = T_START, to = Date.now() + 60_000) => ({ from: new Date(from).toISOString(), to: new Date(to).toISOString() });

  async function query<T>(document: string, variables: Record<string, unknown>): Promise<T> {
    const args = [MAIN, 'query', document, ...Object.entries(variables).flatMap(([k, v]) => ['--var', `${k}=${JSON.stringify(v)}`])];
    const out = JSON.parse(await client.exec(process.execPath, args)) as { data?: T; errors?: unknown[] };
    if (out.errors) throw new Error(JSON.stringify(out.errors));
    return out.data as T;
  }

  function startServer(ns: Namespace, bind: string, zone: object, tcpPort?: number): Promise<ChildProcess> {
    const child = ns.spawn(process.execPath, [SERVER, bind, '53', JSON.stringify(zone), ...(tcpPort ? [String(tcpPort)] : [])]);
    return new Promise((resolve, reject) => {
      child.stdout?.once('data', () => resolve(child));
      child.once('exit', (code) => reject(new Error(`dns server exited ${code}`)));
    });
  }

  async function resolveAndConnect(name: string, title: string): Promise<{ pid: number; addresses: string[] }> {
    const out = await client.exec(process.execPath, [CLIENT, 'resolve', SERVER_IP, name, String(SERVICE_PORT), title], 60_000);
    return JSON.parse(out) as { pid: number; addresses: string[] };
  }

  const names = async (address: string, r = range()) =>
    (await query<{ names: NameOut[] }>(`query($a: String!, $r: TimeRange!) { names(address: $a, range: $r) { address name source host { id } ttl process { pid } firstSeen lastSeen } }`, { a: address, r })).names;
  const addresses = async (name: string, r: { from: string; to: string }) =>
    (await query<{ addresses: NameOut[] }>(`query($n: String!, $r: TimeRange!) { addresses(name: $n, range: $r) { address name source firstSeen lastSeen ttl } }`, { n: name, r })).addresses;
  /** Names other than the reverse name the test's PTR zone gives (it may or may not have been looked up yet). */
  const snooped = (list: string[]) => {
    for (const n of list) assert.ok(['api.internal', 'lb-1.api.internal', 'srv-b.zone.test'].includes(n), `unexpected name ${n}`);
    return list.filter((n) => n !== 'srv-b.zone.test');
  };
  const snoopedNames = async (address: string) => (await names(address)).filter((n) => n.source === 'SNOOP').map((n) => n.name).sort();

  before(async () => {
    client = await createNamespace('ctdnc');
    server = await createNamespace('ctdns');
    const veth = `vdn${process.pid % 100000}`;
    await run('ip', ['link', 'add', `${veth}a`, 'netns', client.name, 'type', 'veth', 'peer', 'name', `${veth}b`, 'netns', server.name]);
    await client.exec('ip', ['addr', 'add', `${CLIENT_IP}/24`, 'dev', `${veth}a`]);
    await client.exec('ip', ['link', 'set', `${veth}a`, 'up']);
    for (const ip of [SERVER_IP, MOVED_IP, GARBAGE_IP]) await server.exec('ip', ['addr', 'add', `${ip}/24`, 'dev', `${veth}b`]);
    await server.exec('ip', ['link', 'set', `${veth}b`, 'up']);
    dns = await startServer(server, SERVER_IP, ZONE, SERVICE_PORT);
    garbage = await startServer(server, GARBAGE_IP, { garbage: true });
    data = tempDir('dnsnames');
    up = client.spawn(process.execPath, [MAIN, 'up', '--data-dir', data.path, '--interval', '1', '--netns', 'self', '--host-id', HOST,
      '--metrics-port', '0', '--port', '4000', '--dns', 'both', '--dns-server', SERVER_IP]);
    up.stderr?.on('data', (d: Buffer) => { log += d.toString(); });
    await eventually('conntrail up to answer', 90_000, async () =>
      ((await query<{ hosts: { id: string }[] }>('{ hosts { id } }', {})).hosts.length > 0 ? true : undefined))
      .catch((err: unknown) => { throw new Error(`${String(err)}\n${log.slice(-3000)}`); });
  });

  after(async () => {
    up?.kill('SIGTERM');
    dns?.kill('SIGKILL');
    garbage?.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    await client?.remove();
    await server?.remove();
    data?.remove();
  });

  it('a resolved and connected name is on the edge, the connection and the resolved target, groups and filters talkers, and outlives its TTL and its process', async () => {
    const resolved = await resolveAndConnect('api.internal', 'dns-app');
    assert.deepEqual(resolved.addresses, [SERVER_IP]);
    // Both names of the CNAME chain name the address, with the answer's TTL and the process that received it.
    const found = await eventually('the snooped names of the server address', 60_000, async () => {
      const n = (await names(SERVER_IP)).filter((x) => x.source === 'SNOOP');
      return n.length >= 2 ? n : undefined;
    });
    assert.deepEqual(found.map((n) => [n.name, n.host.id, n.ttl, n.process?.pid]).sort(),
      [['api.internal', HOST, 1, resolved.pid], ['lb-1.api.internal', HOST, 1, resolved.pid]]);

    // The client's TCP connection: edge, grouping by name, name filter (label-boundary suffix).
    const edgeQuery = `query($r: TimeRange!, $g: Grouping, $f: TalkerFilter) { talkers(range: $r, groupBy: $g, filter: $f) {
      edges { client { node { kind name } } server { node { kind name } address port names } } } }`;
    interface Talkers { talkers: { edges: { client: { node: { kind: string; name: string } }; server: { node: { kind: string; name: string }; address: string; port: number; names: string[] } }[] } }
    const byName = await eventually('the edge to the service, grouped by name', 60_000, async () => {
      const t = await query<Talkers>(edgeQuery, { r: range(), g: 'NAME', f: { port: SERVICE_PORT } });
      return t.talkers.edges.length > 0 ? t.talkers.edges : undefined;
    });
    assert.deepEqual(byName.map((e) => [e.server.node.kind, e.server.node.name, e.server.address, e.server.port, snooped(e.server.names)]),
      [['NAME', 'api.internal', SERVER_IP, SERVICE_PORT, ['api.internal', 'lb-1.api.internal']]]);
    const filtered = await query<Talkers>(edgeQuery, { r: range(), g: 'PROCESS', f: { name: 'API.internal.' } });
    assert.ok(filtered.talkers.edges.some((e) => e.server.port === SERVICE_PORT), 'filter by name keeps the edge');
    const suffixOnly = await query<Talkers>(edgeQuery, { r: range(), g: 'PROCESS', f: { name: 'i.internal' } });
    assert.equal(suffixOnly.talkers.edges.length, 0, 'a suffix that is not at a label boundary matches nothing');

    // After the TTL (1 s) and after the process exited: the connection rows still carry the name.
    await new Promise((r) => setTimeout(r, 3_000));
    const conns = await query<{ connections: { edges: { node: { remoteAddress: string; remotePort: number; remoteNames: string[]; process: { pid: number } | null } }[] } }>(
      `query($r: TimeRange!) { connections(range: $r, filter: { port: ${SERVICE_PORT} }, first: 100) { edges { node { remoteAddress remotePort remoteNames process { pid } } } } }`, { r: range() });
    const mine = conns.connections.edges.map((e) => e.node).filter((c) => c.remotePort === SERVICE_PORT && c.process?.pid === resolved.pid);
    assert.ok(mine.length > 0, 'the client connection is recorded');
    for (const c of mine) assert.deepEqual(snooped(c.remoteNames), ['api.internal', 'lb-1.api.internal']);
    const target = await query<{ resolve: { targets: { address: string; names: string[] }[] } }>(
      `query($at: DateTime!) { resolve(address: "${SERVER_IP}", port: ${SERVICE_PORT}, at: $at) { targets { address names } } }`, { at: new Date().toISOString() });
    assert.deepEqual(target.resolve.targets.map((t) => [t.address, snooped(t.names)]), [[SERVER_IP, ['api.internal', 'lb-1.api.internal']]]);
    assert.deepEqual(await snoopedNames(SERVER_IP), ['api.internal', 'lb-1.api.internal']);
  });

  it('a name that moves to another address is answered per time', async () => {
    const first = await resolveAndConnect('www.moving.internal', 'dns-move1').catch(() => null);
    assert.equal(first, null, 'not in the zone yet: NXDOMAIN');
    const zoneA = { ...ZONE, a: { ...ZONE.a, 'www.moving.internal': [SERVER_IP] } };
    const zoneB = { ...ZONE, a: { ...ZONE.a, 'www.moving.internal': [MOVED_IP] } };
    await setZone(zoneA);
    const t0 = Date.now();
    const a = await resolveAndConnect('www.moving.internal', 'dns-move1');
    const tA = Date.now();
    await eventually('the first address of the moving name', 60_000, async () => ((await addresses('www.moving.internal', range(t0 - 1000, tA))).length > 0 ? true : undefined));
    // Past the first answer's TTL (1 s) before the name moves.
    await new Promise((r) => setTimeout(r, 3_000));
    const tMid = Date.now();
    await setZone(zoneB);
    const b = await resolveAndConnect('www.moving.internal', 'dns-move2');
    assert.deepEqual([a.addresses, b.addresses], [[SERVER_IP], [MOVED_IP]]);
    await eventually('the second address of the moving name', 60_000, async () => ((await addresses('www.moving.internal', range(tMid, Date.now() + 60_000))).length > 0 ? true : undefined));
    assert.deepEqual((await addresses('www.moving.internal', range(t0 - 1000, tMid))).map((x) => x.address), [SERVER_IP]);
    assert.deepEqual((await addresses('www.moving.internal', range(tMid, Date.now() + 60_000))).map((x) => x.address), [MOVED_IP]);
    // Each address keeps the name for its own connections.
    assert.ok((await snoopedNames(MOVED_IP)).includes('www.moving.internal'));
  });

  it('reverse names come from the PTR zone the test serves', async () => {
    const reverse = await eventually('the reverse name of the server address', 60_000, async () => {
      const n = (await names(SERVER_IP)).filter((x) => x.source === 'REVERSE');
      return n.length > 0 ? n : undefined;
    });
    assert.deepEqual(reverse.map((n) => [n.name, n.host.id, n.ttl, n.process]), [['srv-b.zone.test', HOST, null, null]]);
  });

  it('a flood of malformed DNS replies is counted and skipped, none becomes a name', async () => {
    const count = 3000;
    const out = JSON.parse(await client.exec(process.execPath, [CLIENT, 'flood', GARBAGE_IP, String(count), 'dns-flood'], 120_000)) as { sent: number; received: number };
    assert.equal(out.sent, count);
    assert.ok(out.received > 0, 'the garbage server answered');
    // Every reply the client read was either copied and skipped as malformed, or not copied (budget) and counted.
    const snaps = async () => (await query<{ snapshots: { edges: { node: { errors: string[] } }[] } }>(
      `query($r: TimeRange!) { snapshots(host: "${HOST}", range: $r, first: 1000) { edges { node { errors } } } }`, { r: range() })).snapshots.edges;
    const counted = (errors: string[], what: RegExp) => errors.reduce((n, e) => n + Number(what.exec(e)?.[1] ?? 0), 0);
    const totals = await eventually('every reply of the flood counted', 60_000, async () => {
      const all = (await snaps()).flatMap((e) => e.node.errors);
      const t = { malformed: counted(all, /^dns: (\d+) malformed/), dropped: counted(all, /^dns: (\d+) DNS answers not copied/) };
      return t.malformed + t.dropped >= out.received ? t : undefined;
    });
    assert.equal(totals.malformed + totals.dropped, out.received, JSON.stringify(totals));
    assert.ok(totals.malformed > 0);
    assert.deepEqual(await snoopedNames(GARBAGE_IP), []);
  });

  async function setZone(zone: object): Promise<void> {
    // The server reads zones from stdin: restart it with the new one (a zone change, as far as clients see).
    dns.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    dns = await startServer(server, SERVER_IP, zone, SERVICE_PORT);
  }
});
