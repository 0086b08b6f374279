import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { SocketObservation } from '../../../src/domain/connection.js';
import { ConnectionTable } from '../../../src/collector/sources/ebpf/connection-table.js';
import { EbpfError } from '../../../src/collector/sources/ebpf/errors.js';
import { parseLine, unescapeComm, type ConnRecord, type EbpfRecord } from '../../../src/collector/sources/ebpf/format.js';
import { HelperProcess } from '../../../src/collector/sources/ebpf/helper-process.js';
import { recordKey, recordToObservation } from '../../../src/collector/sources/ebpf/observation.js';
import { tempDir } from '../../helpers/env.js';
import { fixturePath } from './support.js';

function parseFixture(name: string): EbpfRecord[] {
  return readFileSync(fixturePath(name), 'utf8').split('\n').filter((l) => l.length > 0).map(parseLine);
}

function conns(records: EbpfRecord[]): ConnRecord[] {
  return records.filter((r): r is ConnRecord => r.kind === 'conn');
}

const CLOCK = { bootTimeMs: 1_700_000_000_000, bootToEpochMs: 1_700_000_000_400, clkTck: 100 };

describe('eBPF line format v1', () => {
  const records = parseFixture('v1-stream.txt');

  it('parses every well-formed record and flags each malformed line', () => {
    const kinds = records.map((r) => r.kind);
    assert.equal(kinds.filter((k) => k === 'header').length, 1);
    assert.equal(kinds.filter((k) => k === 'conn').length, 8);
    assert.equal(kinds.filter((k) => k === 'stats').length, 1);
    assert.equal(kinds.filter((k) => k === 'end').length, 1);
    const malformed = records.filter((r) => r.kind === 'malformed');
    assert.equal(malformed.length, 13);
    for (const m of malformed) assert.ok(m.kind === 'malformed' && m.reason.length > 0);
  });

  it('reads the header, counters and end marker', () => {
    assert.deepEqual(records[0], { kind: 'header', version: 1, bootToEpochMs: 1795432646320, features: ['tcp', 'udp', 'syscalls'] });
    assert.deepEqual(records.find((r) => r.kind === 'stats'), { kind: 'stats', ringbufFull: 2, tcpTableFull: 0, udpTableFull: 1, udpNoPeer: 7 });
    assert.deepEqual(records.find((r) => r.kind === 'end'), { kind: 'end', token: '1', nowNs: 1013458041866, bootToEpochMs: 1795432646320 });
  });

  it('reads connection fields: canonical addresses, escaped names, flags', () => {
    const c = conns(records);
    const mapped = c.find((r) => r.cookie === '111316');
    assert.deepEqual(mapped?.local, { address: '127.0.0.1', port: 58515 });
    assert.equal(mapped?.family, 6);
    const v6 = c.find((r) => r.cookie === '111313');
    assert.equal(v6?.comm, 'my app\\');
    assert.equal(v6?.netns, 4026531836);
    assert.equal(v6?.closed, false);
    assert.equal(v6?.bytesSent, 5242880);
    const udp = c.find((r) => r.cookie === '111318');
    assert.deepEqual(udp?.local, { address: '2001:db8::1', port: 53 });
    assert.equal(udp?.direction, 'incoming');
    const pre = c.find((r) => r.cookie === '111500');
    assert.equal(pre?.preexisting, true);
    assert.equal(pre?.established, true);
    assert.equal(pre?.direction, 'unknown');
    assert.equal(pre?.comm, '');
    const failed = c.find((r) => r.cookie === '111400');
    assert.equal(failed?.established, false);
    assert.equal(unescapeComm('a\\x09b'), 'a\tb');
    assert.equal(unescapeComm('bad\\x2'), null);
  });

  it('converts records to observations with epoch times and /proc-compatible process keys', () => {
    const c = conns(records);
    const closed = recordToObservation(c.find((r) => r.cookie === '111311') as ConnRecord, CLOCK);
    assert.equal(closed.source, 'ebpf');
    assert.equal(closed.state, 'CLOSE');
    assert.equal(closed.direction, 'outgoing');
    assert.deepEqual(closed.process, { pid: 7589, startedAtMs: CLOCK.bootTimeMs + 101301 * 10 });
    assert.equal(closed.openedAtMs, CLOCK.bootToEpochMs + 1013141);
    assert.equal(closed.closedAtMs, CLOCK.bootToEpochMs + 1013141);
    assert.equal(closed.rttUs, 28);
    assert.equal(closed.inode, 260035);
    const pre = recordToObservation(c.find((r) => r.cookie === '111500') as ConnRecord, CLOCK);
    assert.equal(pre.openedAtMs, null);
    assert.equal(pre.process, null);
    assert.equal(pre.rttUs, null);
    assert.equal(pre.inode, null);
    const udp = recordToObservation(c.find((r) => r.cookie === '111317') as ConnRecord, { ...CLOCK, bootToEpochMs: null });
    assert.equal(udp.retransmits, null);
    assert.equal(udp.openedAtMs, CLOCK.bootTimeMs + 1013142);
    assert.equal(udp.closedAtMs, null);
    assert.equal(udp.state, 'ESTABLISHED');
  });

  it('refuses a helper that speaks another format version', async () => {
    const dir = tempDir('ebpf-v2');
    try {
      const script = join(dir.path, 'helper-v2');
      writeFileSync(script, `#!/bin/sh\ncat '${fixturePath('v2-stream.txt')}'\nexec sleep 30\n`);
      chmodSync(script, 0o755);
      await assert.rejects(
        HelperProcess.start({
          path: script, args: [], startTimeoutMs: 10_000,
          onClosed: () => undefined, onDump: () => undefined, onMalformed: () => undefined, onExit: () => undefined,
        }),
        (err: unknown) => err instanceof EbpfError && err.code === 'EBPF_FORMAT_VERSION' && /version 2/.test(err.message),
      );
    } finally {
      dir.remove();
    }
  });
});

describe('eBPF connection table', () => {
  const c = conns(parseFixture('v1-stream.txt'));
  const byCookie = (cookie: string): ConnRecord => c.find((r) => r.cookie === cookie) as ConnRecord;

  it('keeps closed connections until the next take, then reports them once', () => {
    const table = new ConnectionTable({ udpSeedTtlMs: 30_000 });
    table.addClosed(byCookie('111311'), CLOCK);
    table.addClosed(byCookie('111312'), CLOCK);
    const first = table.take(CLOCK, Date.now());
    assert.equal(first.observations.length, 2);
    assert.deepEqual(first.processes.map((p) => p.pid), [7589]);
    assert.equal(table.take(CLOCK, Date.now()).observations.length, 0);
  });

  it('replaces a live record by its close, and closes what missed two dumps without one', () => {
    const table = new ConnectionTable({ udpSeedTtlMs: 30_000 });
    const live = byCookie('111313');
    const other = byCookie('111317');
    table.replaceLive([live, other], 1, CLOCK);
    assert.equal(table.take(CLOCK, Date.now()).observations.length, 2);
    table.addClosed({ ...live, closed: true, state: 'CLOSE', closeNs: 2_000_000_000 }, CLOCK);
    assert.equal(table.liveCount, 1);
    // Missing from one dump: its close may be on its way; from a second one: its close was lost.
    assert.equal(table.replaceLive([], 2_500_000_000, CLOCK), 0);
    assert.equal(table.liveCount, 1);
    const vanished = table.replaceLive([], 3_000_000_000, CLOCK);
    assert.equal(vanished, 1);
    const obs = table.take(CLOCK, Date.now()).observations;
    assert.equal(obs.length, 2);
    assert.ok(obs.every((o) => o.state === 'CLOSE'));
    assert.equal(obs.find((o) => o.protocol === 'tcp')?.closedAtMs, CLOCK.bootToEpochMs + 2000);
    assert.equal(obs.find((o) => o.protocol === 'udp')?.closedAtMs, CLOCK.bootToEpochMs + 3000);
    assert.equal(table.liveCount, 0);
    assert.notEqual(recordKey(live), recordKey(other));
    // After a helper death the live set is forgotten, not closed: the next helper's dump lacks them.
    table.replaceLive([live], 4_000_000_000, CLOCK);
    table.forgetLive();
    assert.equal(table.replaceLive([], 5_000_000_000, CLOCK), 0);
    assert.equal(table.take(CLOCK, Date.now()).observations.length, 0);
  });

  it('reports a connection once when a dump falls between its removal and its close record', () => {
    const table = new ConnectionTable({ udpSeedTtlMs: 30_000 });
    const live = byCookie('111313');
    table.replaceLive([live], 1, CLOCK);
    table.replaceLive([], 2, CLOCK); // gone from the kernel table, close record not queued yet
    table.addClosed({ ...live, closed: true, state: 'CLOSE', closeNs: 2_000_000_000 }, CLOCK);
    table.replaceLive([], 3, CLOCK);
    const closed = [...table.take(CLOCK, Date.now()).observations].filter((o) => o.closedAtMs !== null);
    assert.equal(closed.length, 1);
    assert.equal(closed[0]?.closedAtMs, CLOCK.bootToEpochMs + 2000);
  });

  it('reports seeds until the helper reports the same socket, and lends their owner to pid-less records', () => {
    const table = new ConnectionTable({ udpSeedTtlMs: 1000 });
    const pre = byCookie('111500');
    const seedOf = (r: ConnRecord, protocol: 'tcp' | 'udp' = r.protocol): SocketObservation => ({
      source: 'procfs', netns: r.netns, protocol, family: r.family, local: r.local, remote: r.remote, state: 'ESTABLISHED',
      inode: 1, process: { pid: 4242, startedAtMs: 99 }, direction: 'unknown', openedAtMs: null, closedAtMs: null,
      bytesSent: null, bytesReceived: null, retransmits: null, rttUs: null,
    });
    const idleSeed = { ...seedOf(byCookie('111311')), local: { address: '10.9.9.9', port: 1 } };
    const udpSeed = { ...seedOf(byCookie('111317'), 'udp'), local: { address: '10.9.9.9', port: 2 } };
    table.seed([seedOf(pre), idleSeed, udpSeed], 0);
    assert.equal(table.take(CLOCK, 500).observations.length, 3);
    table.replaceLive([pre], 1, CLOCK);
    const obs = table.take(CLOCK, 2000).observations;
    // pre superseded its seed and took its owner; the idle TCP seed stays; the UDP seed expired.
    assert.equal(obs.length, 2);
    const fromHelper = obs.find((o) => o.source === 'ebpf');
    assert.deepEqual(fromHelper?.process, { pid: 4242, startedAtMs: 99 });
    assert.ok(obs.some((o) => o.source === 'procfs' && o.local.address === '10.9.9.9' && o.protocol === 'tcp'));
  });
});
