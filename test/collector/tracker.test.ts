import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tracker } from '../../src/collector/tracker.js';
import type { ConnectionRow } from '../../src/domain/connection.js';
import { listen, nat, obs, proc, reading, run } from './observations.js';

const INTERVAL = 15_000;
const T0 = 1_700_000_010_000 - (1_700_000_010_000 % INTERVAL);

function tracker(extra: Partial<ConstructorParameters<typeof Tracker>[0]> = {}): Tracker {
  return new Tracker({ hostId: 'host-a', intervalMs: INTERVAL, elision: null, ...extra });
}

function only(rows: readonly ConnectionRow[]): ConnectionRow {
  assert.equal(rows.length, 1, `expected one row, got ${JSON.stringify(rows)}`);
  return rows[0] as ConnectionRow;
}

describe('tracker: merging sources', () => {
  it('dedupes one socket seen by ebpf, procfs and conntrack, taking each field from the best source', () => {
    const t = tracker();
    const pid = { pid: 4242, startedAtMs: 1_700_000_000_000 };
    const snap = t.build({
      timeMs: T0,
      readings: [
        reading('procfs', [obs('procfs', '10.0.0.1:40000', '10.0.0.2:443', { inode: 991, process: pid, state: 'ESTABLISHED' })],
          { processes: [proc(4242, 'curl')] }),
        reading('ebpf', [obs('ebpf', '10.0.0.1:40000', '10.0.0.2:443', { bytesSent: 1200, bytesReceived: 56000, rttUs: 800, direction: 'outgoing' })]),
        // conntrack reports the flow oriented by its original tuple and counts headers too
        reading('conntrack', [obs('conntrack', '10.0.0.1:40000', '10.0.0.2:443', { bytesSent: 1500, bytesReceived: 58000 })]),
      ],
    });
    const row = only(snap.connections);
    assert.equal(row.source, 'ebpf');
    assert.deepEqual(row.process, pid);
    assert.equal(row.direction, 'outgoing');
    assert.equal(row.bytesSent, 1200);
    assert.equal(row.bytesReceived, 56000);
    assert.equal(row.rttUs, 800);
    assert.equal(row.count, 1);
    assert.equal(row.newCount, 1);
    assert.deepEqual(snap.completeness.sources.map((s) => s.name), ['conntrack', 'ebpf', 'procfs']);
    assert.equal(snap.processes.length, 1);
  });

  it('joins a conntrack flow seen from its original side to the accepting socket, as incoming, with bytes swapped', () => {
    const t = tracker();
    const snap = t.build({
      timeMs: T0,
      readings: [
        reading('procfs', [obs('procfs', '10.0.0.2:8080', '10.0.0.1:50123', { inode: 7 })]),
        reading('conntrack', [obs('conntrack', '10.0.0.1:50123', '10.0.0.2:8080', { bytesSent: 300, bytesReceived: 9000 })]),
      ],
    });
    const row = only(snap.connections);
    assert.equal(row.localPort, 8080);
    assert.equal(row.direction, 'incoming');
    assert.equal(row.bytesSent, 9000, 'the server sent what the original tuple received');
    assert.equal(row.bytesReceived, 300);
    assert.equal(row.source, 'procfs');
  });

  it('joins a DNAT-ed conntrack flow to the server socket behind the translation', () => {
    const t = tracker();
    const snap = t.build({
      timeMs: T0,
      readings: [
        reading('procfs', [obs('procfs', '10.0.1.5:8080', '192.168.1.9:51000', { inode: 8 })]),
        reading('conntrack', [obs('conntrack', '192.168.1.9:51000', '10.96.0.10:80', { bytesSent: 100, bytesReceived: 2000 })],
          { nat: [nat(['192.168.1.9', 51000, '10.96.0.10', 80], ['10.0.1.5', 8080, '192.168.1.9', 51000])] }),
      ],
    });
    const row = only(snap.connections);
    assert.equal(row.localAddress, '10.0.1.5');
    assert.equal(row.direction, 'incoming');
    assert.equal(row.bytesReceived, 100);
    assert.equal(row.bytesSent, 2000);
    assert.equal(snap.nat.length, 1);
  });

  it('a connection conntrack lists before eBPF reports its socket is one row, eBPF\'s, with its process', () => {
    // The two sources are read a moment apart: a connect() in between is in conntrack's table (ESTABLISHED)
    // and not yet in eBPF's reading; eBPF reports it (closed, with its owner) at the next read.
    const t = tracker({ intervalMs: 1000 });
    const pid = { pid: 4242, startedAtMs: 1_700_000_000_000 };
    const ct = (): ReturnType<typeof reading> => reading('conntrack', [obs('conntrack', '10.0.0.1:47144', '10.96.0.10:80', { openedAtMs: T0 - 10 })]);
    const first = t.build({ timeMs: T0, readings: [reading('ebpf', []), ct()] }).connections;
    const second = t.build({ timeMs: T0 + 1000, readings: [ct(), reading('ebpf', [obs('ebpf', '10.0.0.1:47144', '10.96.0.10:80', {
      direction: 'outgoing', state: 'CLOSE', process: pid, openedAtMs: T0 - 9, closedAtMs: T0 + 50, bytesSent: 208, bytesReceived: 1000,
    })])] }).connections;
    assert.deepEqual([...first, ...second].map((r) => [r.process?.pid ?? null, r.newCount, r.bytesSent, r.bytesReceived, r.source]),
      [[4242, 1, 208, 1000, 'ebpf']]);
  });

  it('a connection only conntrack lists (no local socket: traffic through a router) is written an interval later', () => {
    const t = tracker({ intervalMs: 1000 });
    const ct = (): ReturnType<typeof reading> => reading('conntrack', [obs('conntrack', '10.0.0.1:47144', '10.0.2.2:8080', { openedAtMs: T0 - 10, bytesSent: 10, bytesReceived: 20 })]);
    const rows = [0, 1, 2].flatMap((i) => t.build({ timeMs: T0 + i * 1000, readings: [reading('ebpf', []), ct()] }).connections);
    assert.deepEqual(rows.map((r) => [r.newCount, r.bytesSent, r.bytesReceived, r.source]), [[1, 10, 20, 'conntrack'], [0, 0, 0, 'conntrack']]);
  });

  it('keeps connections opened and closed within the interval', () => {
    const t = tracker();
    const snap = t.build({
      timeMs: T0,
      readings: [
        reading('procfs', [obs('procfs', '10.0.0.1:40001', '10.0.0.2:443', { inode: 3 })]),
        reading('ebpf', [obs('ebpf', '10.0.0.1:40002', '10.0.0.2:443', {
          direction: 'outgoing', state: 'CLOSE', openedAtMs: T0 - 9000, closedAtMs: T0 - 8000, bytesSent: 10, bytesReceived: 20,
        })]),
      ],
    });
    assert.equal(snap.connections.length, 2);
    const closed = snap.connections.find((r) => r.localPort === 40002);
    assert.ok(closed);
    assert.equal(closed.closedAtMs, T0 - 8000);
    assert.equal(closed.openedAtMs, T0 - 9000);
    assert.equal(closed.newCount, 1);
    assert.equal(closed.bytesReceived, 20);
  });

  it('merges the side tables of several sources: NAT once with the widest time span, processes with gaps filled', () => {
    const translation = nat(['192.168.1.9', 51000, '10.96.0.10', 80], ['10.0.1.5', 8080, '192.168.1.9', 51000]);
    const snap = tracker().build({
      timeMs: T0,
      readings: [
        reading('conntrack', [], {
          nat: [{ ...translation, firstSeenMs: T0 - 9000, lastSeenMs: T0 - 5000 }],
          processes: [proc(7, 'nginx', { exe: null, cgroup: '/system.slice/nginx.service' })],
          listening: [listen('0.0.0.0', 80)],
        }),
        reading('procfs', [], {
          nat: [{ ...translation, conntrackId: 42, firstSeenMs: T0 - 12000, lastSeenMs: T0 - 7000 }],
          processes: [proc(7, 'nginx', { exe: '/usr/sbin/nginx' })],
          listening: [listen('0.0.0.0', 80, { process: { pid: 7, startedAtMs: proc(7, 'x').startedAtMs } })],
        }),
      ],
    });
    assert.equal(snap.nat.length, 1);
    assert.equal(snap.nat[0]?.conntrackId, 42);
    assert.equal(snap.nat[0]?.firstSeenMs, T0 - 12000);
    assert.equal(snap.nat[0]?.lastSeenMs, T0 - 5000);
    assert.equal(snap.processes.length, 1);
    assert.equal(snap.processes[0]?.exe, '/usr/sbin/nginx');
    assert.equal(snap.processes[0]?.cgroup, '/system.slice/nginx.service');
    assert.equal(snap.listening.length, 1);
    assert.equal(snap.listening[0]?.process?.pid, 7);
  });

  it('leaves listeners and unconnected UDP sockets out of the connections', () => {
    const t = tracker();
    const snap = t.build({
      timeMs: T0,
      readings: [reading('procfs', [
        obs('procfs', '0.0.0.0:22', '0.0.0.0:0', { state: 'LISTEN' }),
        obs('procfs', '0.0.0.0:5353', '0.0.0.0:0', { protocol: 'udp', state: 'CLOSE' }),
        obs('procfs', '10.0.0.1:22', '10.0.0.9:50000', { inode: 26 }),
      ], { listening: [listen('0.0.0.0', 22)] })],
    });
    const row = only(snap.connections);
    assert.equal(row.direction, 'incoming');
    assert.equal(snap.listening.length, 1);
  });
});

describe('tracker: direction', () => {
  function direction(readings: Parameters<Tracker['build']>[0]['readings'], localPort: number): string {
    const rows = tracker().build({ timeMs: T0, readings }).connections;
    const row = rows.find((r) => r.localPort === localPort);
    assert.ok(row, `no row on local port ${localPort}`);
    return row.direction;
  }

  it('uses the observed direction first, even against the port heuristic', () => {
    assert.equal(direction([reading('ebpf', [obs('ebpf', '10.0.0.1:80', '10.0.0.2:50000', { direction: 'outgoing' })])], 80), 'outgoing');
  });

  it('a UDP flow: the bound socket of the server outweighs which datagram eBPF saw first', () => {
    // A server already waiting in recvfrom when the collector started: the first event eBPF saw was its answer.
    const served = [reading('ebpf', [obs('ebpf', '10.0.0.1:5353', '10.0.0.2:41000', { protocol: 'udp', direction: 'outgoing' })]),
      reading('procfs', [], { listening: [listen('0.0.0.0', 5353, { protocol: 'udp' })] })];
    assert.equal(direction(served, 5353), 'incoming');
    // Its client's unconnected socket is bound too, on a port the kernel picked: that is no server.
    const asked = [reading('ebpf', [obs('ebpf', '10.0.0.2:41000', '10.0.0.9:53', { protocol: 'udp', direction: 'outgoing' })]),
      reading('procfs', [], { listening: [listen('0.0.0.0', 41000, { protocol: 'udp' })] })];
    assert.equal(direction(asked, 41000), 'outgoing');
    // Remembered across intervals: the first-datagram guess does not come back when the listener is known.
    const t = tracker();
    const first = t.build({ timeMs: T0, readings: [served[0] as (typeof served)[0]] }).connections;
    assert.equal(first[0]?.direction, 'outgoing', 'no listener known yet: the first datagram is all there is');
    const next = t.build({ timeMs: T0 + INTERVAL, readings: served }).connections;
    assert.equal(next[0]?.direction, 'incoming');
  });

  it('uses the conntrack original tuple: local == original source is outgoing', () => {
    // Ports chosen so that the heuristic alone would say the opposite.
    const readings = [
      reading('procfs', [obs('procfs', '10.0.0.1:1000', '10.0.0.2:50000')]),
      reading('conntrack', [], { nat: [nat(['10.0.0.1', 1000, '10.0.0.2', 50000], ['10.0.0.2', 50000, '10.9.9.9', 61000], { kind: 'SNAT' })] }),
    ];
    assert.equal(direction(readings, 1000), 'outgoing');
  });

  it('uses the listening table: a local port this host listens on is incoming', () => {
    const readings = [reading('procfs', [obs('procfs', '10.0.0.1:50500', '10.0.0.2:80', { inode: 21 })], { listening: [listen('0.0.0.0', 50500)] })];
    assert.equal(direction(readings, 50500), 'incoming');
  });

  it('uses the listening table for both ends of a loopback connection', () => {
    const readings = [reading('procfs', [
      obs('procfs', '127.0.0.1:45000', '127.0.0.1:47000', { inode: 22 }),
      obs('procfs', '127.0.0.1:47000', '127.0.0.1:45000', { inode: 23 }),
    ], { listening: [listen('127.0.0.1', 47000)] })];
    assert.equal(direction(readings, 45000), 'outgoing');
    assert.equal(direction(readings, 47000), 'incoming');
  });

  it('falls back to the port heuristic', () => {
    assert.equal(direction([reading('procfs', [obs('procfs', '10.0.0.1:41000', '10.0.0.2:5432')])], 41000), 'outgoing');
    assert.equal(direction([reading('procfs', [obs('procfs', '10.0.0.1:8080', '10.0.0.2:9090', { inode: 24 })])], 8080), 'incoming');
    assert.equal(direction([reading('procfs', [obs('procfs', '10.0.0.1:62000', '10.0.0.2:40000', { inode: 25 })])], 62000), 'incoming');
    assert.equal(direction([reading('procfs', [obs('procfs', '10.0.0.1:7000', '10.0.0.2:7000')])], 7000), 'unknown');
  });

  it('recognises a socket reported with the same object, yet still sees stronger evidence and new counts', () => {
    const t = tracker();
    // Both ports ephemeral: the heuristic takes the lower one for the server (incoming).
    const same = obs('procfs', '10.0.0.1:41000', '10.0.0.2:41500', { inode: 5, process: { pid: 9, startedAtMs: 1 } });
    const at = (i: number, readings: Parameters<Tracker['build']>[0]['readings']): ConnectionRow =>
      only(t.build({ timeMs: T0 + i * INTERVAL, readings }).connections);
    assert.equal(at(0, [reading('procfs', [same])]).newCount, 1);
    const second = at(1, [reading('procfs', [same])]);
    assert.deepEqual([second.direction, second.newCount], ['incoming', 0]);
    assert.equal(at(2, [reading('procfs', [same])]), second, 'nothing changed: the same row');
    // The peer turns out to listen on 41500 (this host's listening table): stronger than the heuristic.
    const listened = at(3, [reading('procfs', [same], { listening: [listen('10.0.0.2', 41500)] })]);
    assert.equal(listened.direction, 'outgoing');
    assert.equal(at(4, [reading('procfs', [same])]).direction, 'outgoing', 'remembered');
    // A source with counters reporting the same object twice: the second time nothing was sent.
    const counted = obs('ebpf', '10.0.0.1:41000', '10.0.0.2:41500', { direction: 'outgoing', bytesSent: 700, bytesReceived: 70 });
    assert.equal(at(5, [reading('ebpf', [counted])]).bytesSent, 700, 'first counted: the whole value');
    const again = at(6, [reading('ebpf', [counted])]);
    assert.deepEqual([again.bytesSent, again.bytesReceived, again.newCount], [0, 0, 0]);
  });

  it('remembers a strong direction when later intervals only have weak evidence', () => {
    const t = tracker();
    t.build({ timeMs: T0, readings: [reading('ebpf', [obs('ebpf', '10.0.0.1:80', '10.0.0.2:50000', { direction: 'outgoing' })])] });
    const row = only(t.build({ timeMs: T0 + INTERVAL, readings: [reading('procfs', [obs('procfs', '10.0.0.1:80', '10.0.0.2:50000')])] }).connections);
    assert.equal(row.direction, 'outgoing');
  });
});

describe('tracker: counters and lifetimes', () => {
  it('emits per-interval deltas of cumulative counters, never negative, a reset counting as a new connection', () => {
    const t = tracker();
    const sent = [100, 250, 250, 40, 90];
    const rows = sent.map((bytesSent, i) => only(t.build({
      timeMs: T0 + i * INTERVAL,
      readings: [reading('ebpf', [obs('ebpf', '10.0.0.1:40000', '10.0.0.2:443', { bytesSent, bytesReceived: bytesSent * 2, retransmits: i })])],
    }).connections));
    assert.deepEqual(rows.map((r) => r.bytesSent), [100, 150, 0, 40, 50]);
    assert.deepEqual(rows.map((r) => r.bytesReceived), [200, 300, 0, 80, 100]);
    assert.deepEqual(rows.map((r) => r.newCount), [1, 0, 0, 1, 0]);
    assert.ok(rows.every((r) => r.bytesSent >= 0 && r.bytesReceived >= 0 && r.retransmits >= 0));
  });

  it('takes a lower final value of the same socket (same eBPF opening) as a correction, not as a new connection', () => {
    // A live record caught the peer's FIN one byte early (101); the close record has the kernel's final counters (100).
    const t = tracker();
    const opened = T0 - 500;
    const live = obs('ebpf', '10.0.0.1:40000', '10.0.0.2:443', { direction: 'outgoing', openedAtMs: opened, bytesSent: 300, bytesReceived: 101 });
    const closed = { ...live, state: 'CLOSE' as const, closedAtMs: T0 + 100, bytesReceived: 100 };
    const rows = [live, closed].map((o, i) => only(t.build({ timeMs: T0 + i * INTERVAL, readings: [reading('ebpf', [o])] }).connections));
    assert.deepEqual(rows.map((r) => r.newCount), [1, 0], 'one connection');
    assert.deepEqual(rows.map((r) => [r.bytesSent, r.bytesReceived]), [[300, 101], [0, 0]], 'nothing counted twice');
  });

  it('still counts a later socket on the same tuple (another eBPF opening) as new, with its whole counters', () => {
    const t = tracker();
    const first = obs('ebpf', '10.0.0.1:40000', '10.0.0.2:443', { direction: 'outgoing', openedAtMs: T0 - 500, bytesSent: 300, bytesReceived: 900 });
    const second = { ...first, openedAtMs: T0 + 2000, bytesSent: 200, bytesReceived: 400 };
    const rows = [first, second].map((o, i) => only(t.build({ timeMs: T0 + i * INTERVAL, readings: [reading('ebpf', [o])] }).connections));
    assert.deepEqual(rows.map((r) => [r.newCount, r.bytesSent, r.bytesReceived]), [[1, 300, 900], [1, 200, 400]]);
  });

  it('treats a new inode on the same 4-tuple as a new connection', () => {
    const t = tracker();
    t.build({ timeMs: T0, readings: [reading('procfs', [obs('procfs', '10.0.0.1:40000', '10.0.0.2:443', { inode: 1 })])] });
    const same = only(t.build({ timeMs: T0 + INTERVAL, readings: [reading('procfs', [obs('procfs', '10.0.0.1:40000', '10.0.0.2:443', { inode: 1 })])] }).connections);
    const reused = only(t.build({ timeMs: T0 + 2 * INTERVAL, readings: [reading('procfs', [obs('procfs', '10.0.0.1:40000', '10.0.0.2:443', { inode: 2 })])] }).connections);
    assert.equal(same.newCount, 0);
    assert.equal(reused.newCount, 1);
  });

  it('does not count history twice when a better source starts reporting a socket already followed', () => {
    const t = tracker();
    const at = (i: number, readings: Parameters<Tracker['build']>[0]['readings']): ConnectionRow =>
      only(t.build({ timeMs: T0 + i * INTERVAL, readings }).connections);
    const ct = (b: number) => reading('conntrack', [obs('conntrack', '10.0.0.1:40000', '10.0.0.2:443', { bytesSent: b, bytesReceived: 0 })]);
    const eb = (b: number) => reading('ebpf', [obs('ebpf', '10.0.0.1:40000', '10.0.0.2:443', { bytesSent: b, bytesReceived: 0 })]);
    assert.equal(at(0, [ct(1000)]).bytesSent, 1000);
    assert.equal(at(1, [ct(1600), eb(5000)]).bytesSent, 600, 'the switch interval uses the followed source');
    assert.equal(at(2, [ct(1700), eb(5090)]).bytesSent, 90, 'then the preferred source');
  });

  it('forgets sockets not seen for a while: their next sighting is new', () => {
    const t = tracker({ forgetAfterMs: 2 * INTERVAL });
    const seen = () => reading('procfs', [obs('procfs', '10.0.0.1:40000', '10.0.0.2:443')]);
    t.build({ timeMs: T0, readings: [seen()] });
    t.build({ timeMs: T0 + INTERVAL, readings: [] });
    assert.equal(t.stats().tracked, 1);
    t.build({ timeMs: T0 + 3 * INTERVAL, readings: [] });
    assert.equal(t.stats().tracked, 0);
    assert.equal(only(t.build({ timeMs: T0 + 4 * INTERVAL, readings: [seen()] }).connections).newCount, 1);
  });

  it('bounds its memory, counting what it had to forget in the completeness record', () => {
    const t = tracker({ maxTracked: 10 });
    const many = Array.from({ length: 25 }, (_, i) => obs('procfs', `10.0.0.1:${40000 + i}`, '10.0.0.2:443'));
    const snap = t.build({ timeMs: T0, readings: [reading('procfs', many)], eventsLost: 2, errors: ['spool full'] });
    assert.equal(snap.connections.length, 25, 'the interval still reports everything it saw');
    assert.equal(t.stats().tracked, 10);
    assert.equal(t.stats().evictedTotal, 15);
    assert.equal(snap.completeness.eventsLost, 17);
    assert.equal(snap.completeness.errors[0], 'spool full');
    assert.match(snap.completeness.errors[1] ?? '', /tracker full/);
  });

  it('records failed sources next to the ones that answered', () => {
    const snap = tracker().build({
      timeMs: T0, readings: [reading('procfs', [])], failedRuns: [run('ebpf', { ok: false, error: 'timed out' })],
    });
    assert.deepEqual(snap.completeness.sources.map((s) => [s.name, s.ok]), [['ebpf', false], ['procfs', true]]);
    assert.equal(snap.timeMs, T0);
    assert.equal(snap.intervalMs, INTERVAL);
    assert.equal(snap.hostId, 'host-a');
  });
});

describe('tracker: a socket in the accept queue (no inode, no owner yet)', () => {
  const SERVER = { pid: 77, startedAtMs: 1_700_000_000_000 };
  const listening = [listen('0.0.0.0', 8080)];
  const queued = obs('procfs', '10.0.0.2:8080', '10.0.0.1:50123');
  const accepted = obs('procfs', '10.0.0.2:8080', '10.0.0.1:50123', { inode: 31, process: SERVER });
  const timeWait = obs('procfs', '10.0.0.2:8080', '10.0.0.1:50123', { state: 'TIME_WAIT' });
  const at = (t: Tracker, i: number, observations: ReturnType<typeof obs>[]): readonly ConnectionRow[] =>
    t.build({ timeMs: T0 + i * INTERVAL, readings: [reading('procfs', observations, { listening })] }).connections;

  it('is one connection of the process that accepts it, still that process in TIME_WAIT, counted once', () => {
    const t = tracker();
    assert.deepEqual(at(t, 0, [queued]), [], 'its row waits for the owner');
    const owned = only(at(t, 1, [accepted]));
    assert.deepEqual([owned.process, owned.newCount, owned.direction], [SERVER, 1, 'incoming']);
    const closing = only(at(t, 2, [timeWait]));
    assert.deepEqual([closing.process, closing.newCount, closing.state], [SERVER, 0, 'TIME_WAIT']);
  });

  it('gone before any process took it: written once in the next snapshot, ownerless', () => {
    const t = tracker();
    assert.deepEqual(at(t, 0, [queued]), []);
    const gone = only(at(t, 1, []));
    assert.deepEqual([gone.process, gone.newCount, gone.state, gone.localPort, gone.remotePort], [null, 1, 'CLOSE', 8080, 50123]);
    assert.deepEqual(at(t, 2, []), []);
  });

  it('still ownerless an interval later: written as it is, and not held again', () => {
    const t = tracker();
    assert.deepEqual(at(t, 0, [queued]), []);
    const late = only(at(t, 1, [queued]));
    assert.deepEqual([late.process, late.newCount], [null, 1]);
    assert.equal(only(at(t, 2, [queued])).newCount, 0);
  });

  it('with a short interval, waits a few seconds for a busy server to accept', () => {
    const t = tracker({ intervalMs: 1000 });
    const tick = (i: number, observations: ReturnType<typeof obs>[]): readonly ConnectionRow[] =>
      t.build({ timeMs: T0 + i * 1000, readings: [reading('procfs', observations, { listening })] }).connections;
    for (let i = 0; i < 4; i++) assert.deepEqual(tick(i, [queued]), [], `tick ${i}`);
    const owned = only(tick(4, [accepted]));
    assert.deepEqual([owned.process, owned.newCount], [SERVER, 1]);
  });

  it('its bytes counted before the owner came (eBPF: pid and inode from accept()) land in the first row', () => {
    const t = tracker();
    const ebpf = (extra: Parameters<typeof obs>[3]): ReturnType<typeof obs> =>
      obs('ebpf', '10.0.0.2:8080', '10.0.0.1:50123', { direction: 'incoming', bytesSent: 0, bytesReceived: 0, retransmits: 0, ...extra });
    assert.deepEqual(t.build({ timeMs: T0, readings: [reading('ebpf', [ebpf({ bytesReceived: 300 })])] }).connections, []);
    const owned = only(t.build({ timeMs: T0 + INTERVAL, readings: [reading('ebpf', [ebpf({ bytesReceived: 500, bytesSent: 40, inode: 9, process: SERVER })])] }).connections);
    assert.deepEqual([owned.process, owned.newCount, owned.bytesReceived, owned.bytesSent], [SERVER, 1, 500, 40]);
  });

  it('a client socket or a UDP flow without an owner is never held', () => {
    const t = tracker();
    assert.equal(at(t, 0, [obs('procfs', '10.0.0.1:50123', '10.0.0.2:8080')]).length, 1);
    assert.equal(at(t, 0, [obs('procfs', '10.0.0.2:8080', '10.0.0.1:50124', { protocol: 'udp' })]).length, 1);
  });
});
