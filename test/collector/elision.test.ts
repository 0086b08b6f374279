import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tracker } from '../../src/collector/tracker.js';
import type { ConnectionRow, SocketObservation } from '../../src/domain/connection.js';
import { choosePorts, elideRows, ephemeralPort, portValuation, DEFAULT_ELISION_POLICY } from '../../src/domain/elision.js';
import { listen, obs, reading } from './observations.js';

const INTERVAL = 15_000;
const T0 = 1_700_000_010_000 - (1_700_000_010_000 % INTERVAL);
const CLIENT = { pid: 100, startedAtMs: 1_700_000_000_100 };
const SERVER = { pid: 200, startedAtMs: 1_700_000_000_200 };

/** Distinct ports from the Linux ephemeral range, drawn by a fixed linear congruential sequence. */
function ephemeralPorts(n: number, seed: number): number[] {
  const out = new Set<number>();
  let x = seed;
  while (out.size < n) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out.add(32768 + (x % (60999 - 32768 + 1)));
  }
  return [...out];
}

/** What each host's ebpf source reports for the same n connections: the client's and the server's ends. */
function bothEnds(ports: readonly number[]): { client: SocketObservation[]; server: SocketObservation[]; bytes: number } {
  let bytes = 0;
  const client: SocketObservation[] = [];
  const server: SocketObservation[] = [];
  for (const [i, p] of ports.entries()) {
    const up = 100 + i;
    const down = 1000 + 7 * i;
    bytes += up + down;
    client.push(obs('ebpf', `10.0.0.1:${p}`, '10.0.0.2:443', { direction: 'outgoing', process: CLIENT, bytesSent: up, bytesReceived: down }));
    server.push(obs('ebpf', '10.0.0.2:443', `10.0.0.1:${p}`, { direction: 'incoming', process: SERVER, bytesSent: down, bytesReceived: up }));
  }
  return { client, server, bytes };
}

function sum(rows: readonly ConnectionRow[], f: (r: ConnectionRow) => number): number {
  return rows.reduce((n, r) => n + f(r), 0);
}

function keptPorts(rows: readonly ConnectionRow[]): number[] {
  return rows.map((r) => ephemeralPort(r) ?? -1).sort((a, b) => a - b);
}

describe('elision', () => {
  for (const [name, ports] of [
    ['random ephemeral ports', ephemeralPorts(500, 7)],
    ['sequential ports', Array.from({ length: 500 }, (_, i) => 40000 + i)],
  ] as const) {
    it(`elides 500 connections between two processes into a few rows whose sums add up (${name})`, () => {
      const { client, server, bytes } = bothEnds(ports);
      const hostA = new Tracker({ hostId: 'a', intervalMs: INTERVAL });
      const hostB = new Tracker({ hostId: 'b', intervalMs: INTERVAL });
      const a = hostA.build({ timeMs: T0, readings: [reading('ebpf', client)] }).connections;
      const b = hostB.build({ timeMs: T0, readings: [reading('ebpf', server)] }).connections;
      for (const rows of [a, b]) {
        assert.ok(rows.length >= DEFAULT_ELISION_POLICY.minRows && rows.length <= 10, `rows: ${rows.length}`);
        assert.equal(sum(rows, (r) => r.count), 500);
        assert.equal(sum(rows, (r) => r.newCount), 500);
        assert.equal(sum(rows, (r) => r.bytesSent + r.bytesReceived), bytes);
      }
      assert.deepEqual(keptPorts(a), keptPorts(b), 'both ends keep the same ephemeral ports');
      assert.ok(a.every((r) => r.direction === 'outgoing' && r.process?.pid === CLIENT.pid));

      // The next interval: same connections, no traffic, none new; the same rows are kept.
      const a2 = hostA.build({ timeMs: T0 + INTERVAL, readings: [reading('ebpf', client)] }).connections;
      assert.equal(sum(a2, (r) => r.count), 500);
      assert.equal(sum(a2, (r) => r.newCount), 0);
      assert.equal(sum(a2, (r) => r.bytesSent + r.bytesReceived), 0);
      assert.deepEqual(keptPorts(a2), keptPorts(a));
    });
  }

  it('does not depend on the order rows arrive in', () => {
    const rows = new Tracker({ hostId: 'a', intervalMs: INTERVAL, elision: null })
      .build({ timeMs: T0, readings: [reading('ebpf', bothEnds(ephemeralPorts(200, 3)).client)] }).connections;
    const reversed = [...rows].reverse();
    const x = elideRows(rows);
    const y = elideRows(reversed);
    assert.deepEqual(keptPorts(x), keptPorts(y));
    assert.deepEqual(
      x.map((r) => [r.localPort, r.count, r.bytesSent]).sort((p, q) => (p[0] as number) - (q[0] as number)),
      y.map((r) => [r.localPort, r.count, r.bytesSent]).sort((p, q) => (p[0] as number) - (q[0] as number)),
    );
  });

  it('keeps small groups, unknown directions and distinct processes apart', () => {
    const few = Array.from({ length: 5 }, (_, i) => obs('ebpf', `10.0.0.1:${41000 + i}`, '10.0.0.2:443', { direction: 'outgoing', process: CLIENT }));
    const other = Array.from({ length: 20 }, (_, i) => obs('ebpf', `10.0.0.1:${42000 + i}`, '10.0.0.2:443', { direction: 'outgoing', process: SERVER }));
    const unknown = Array.from({ length: 20 }, (_, i) => obs('ebpf', `10.0.0.1:${7000 + i}`, `10.0.0.3:${7000 + i}`));
    const rows = new Tracker({ hostId: 'a', intervalMs: INTERVAL })
      .build({ timeMs: T0, readings: [reading('ebpf', [...few, ...other, ...unknown])] }).connections;
    assert.equal(rows.filter((r) => r.process?.pid === CLIENT.pid).length, 5);
    const elided = rows.filter((r) => r.process?.pid === SERVER.pid);
    assert.ok(elided.length >= 3 && elided.length <= 5);
    assert.equal(sum(elided, (r) => r.count), 20);
    assert.equal(rows.filter((r) => r.direction === 'unknown').length, 20);
  });

  it('regroups sockets whose direction is learnt later (the same observations, a new listening table)', () => {
    // Client ports below the server port: the heuristic takes each client end for a server end.
    const conns = Array.from({ length: 20 }, (_, i) => obs('procfs', `10.0.0.1:${50000 + i}`, '10.0.0.2:59000', { inode: 100 + i, process: CLIENT }));
    const t = new Tracker({ hostId: 'a', intervalMs: INTERVAL });
    const before = t.build({ timeMs: T0, readings: [reading('procfs', conns)] }).connections;
    assert.equal(before.length, 20, 'each taken for a server end: a group of its own');
    assert.ok(before.every((r) => r.direction === 'incoming'));
    const after = t.build({ timeMs: T0 + INTERVAL, readings: [reading('procfs', conns, { listening: [listen('10.0.0.2', 59000)] })] }).connections;
    assert.ok(after.length >= 3 && after.length <= 5, `rows: ${after.length}`);
    assert.ok(after.every((r) => r.direction === 'outgoing'));
    assert.equal(sum(after, (r) => r.count), 20);
  });

  it('stays bounded when the ports cluster on multiples of a power of three', () => {
    // 100 ports all divisible by 81, only two by 243: the coarse step would keep 2 (< min), the fine one 100.
    const ports = [243 * 150, 243 * 151];
    for (let p = 81 * 400; ports.length < 102; p += 81) if (portValuation(p) === 4) ports.push(p);
    const chosen = choosePorts(ports);
    assert.ok(chosen.size >= 3 && chosen.size <= 5, `chosen ${chosen.size}`);
    assert.ok(chosen.has(243 * 150) && chosen.has(243 * 151));
    assert.deepEqual([...choosePorts([...ports].reverse())].sort(), [...chosen].sort());
  });

  it('chooses ports by divisibility by powers of three only', () => {
    const ports = Array.from({ length: 100 }, (_, i) => 50000 + i);
    const chosen = choosePorts(ports);
    assert.deepEqual([...chosen].sort(), ports.filter((p) => p % 27 === 0).sort());
    assert.equal(portValuation(0), 11);
    assert.equal(portValuation(81), 4);
    assert.equal(portValuation(82), 0);
  });
});
