import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseLine } from '../../../src/collector/sources/ebpf/format.js';
import { DnsNames } from '../../../src/collector/sources/dns/names.js';
import { parseDnsAnswer } from '../../../src/collector/sources/dns/parse.js';
import { NameTable } from '../../../src/collector/sources/dns/table.js';
import { silentLogger } from '../../../src/domain/logger.js';

/** A DNS response built field by field (the test's own encoder, independent of the parser). */
function label(name: string): number[] {
  return [...name.split('.').flatMap((l) => [l.length, ...Buffer.from(l, 'ascii')]), 0];
}
function rr(owner: number[], type: number, ttl: number, rdata: number[]): number[] {
  return [...owner, 0, type, 0, 1, (ttl >>> 24) & 255, (ttl >>> 16) & 255, (ttl >>> 8) & 255, ttl & 255, rdata.length >> 8, rdata.length & 255, ...rdata];
}
function response(question: string, answers: number[][], rcode = 0): Uint8Array {
  return Uint8Array.from([0xab, 0xcd, 0x81, 0x80 | rcode, 0, 1, 0, answers.length, 0, 0, 0, 0, ...label(question), 0, 1, 0, 1, ...answers.flat()]);
}

test('A answers behind a CNAME chain name the address by every name of the chain, with the smallest TTL', () => {
  // The question's name at offset 12 is reused through a compression pointer (0xc00c).
  const packet = response('api.internal', [
    rr([0xc0, 0x0c], 5, 300, label('lb.api.internal')),
    rr(label('lb.api.internal'), 1, 30, [10, 81, 0, 2]),
    rr(label('lb.api.internal'), 1, 60, [10, 81, 0, 3]),
  ]);
  assert.deepEqual(parseDnsAnswer(packet), {
    ok: true,
    answers: [
      { address: '10.81.0.2', names: ['lb.api.internal', 'api.internal'], ttlSeconds: 30, asked: 'api.internal' },
      { address: '10.81.0.3', names: ['lb.api.internal', 'api.internal'], ttlSeconds: 60, asked: 'api.internal' },
    ],
  });
});

test('AAAA answers give canonical IPv6 text; upper case names are folded; a TTL with the top bit set is zero', () => {
  const v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
  const packet = response('V6.Example', [rr(label('V6.Example'), 28, 0x80000000, v6)]);
  assert.deepEqual(parseDnsAnswer(packet), { ok: true, answers: [{ address: '2001:db8::1', names: ['v6.example'], ttlSeconds: 0, asked: 'v6.example' }] });
});

test('NXDOMAIN, and a reply cut by the copy cap, give what they hold; malformed packets are reasons, never exceptions', () => {
  assert.deepEqual(parseDnsAnswer(response('nope.internal', [], 3)), { ok: true, answers: [] });
  const whole = response('a.internal', [rr([0xc0, 0x0c], 1, 5, [10, 0, 0, 1]), rr([0xc0, 0x0c], 1, 5, [10, 0, 0, 2])]);
  assert.deepEqual(parseDnsAnswer(whole.subarray(0, whole.length - 2)), { ok: true, answers: [{ address: '10.0.0.1', names: ['a.internal'], ttlSeconds: 5, asked: 'a.internal' }] });
  const loop = Uint8Array.from([0, 0, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1]);
  const cases: [string, Uint8Array][] = [
    ['short', Uint8Array.from([1, 2, 3])],
    ['query, not response', Uint8Array.from([0, 0, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])],
    ['label past the end', Uint8Array.from([0, 0, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 63, 0x41, 0x41])],
    ['pointer loop', loop],
    ['A of 3 bytes', response('x.y', [rr([0xc0, 0x0c], 1, 1, [1, 2, 3])])],
    ['unprintable name', response('x.y', [rr([1, 0x00, 0], 1, 1, [1, 2, 3, 4])])],
  ];
  for (const [what, bytes] of cases) {
    const r = parseDnsAnswer(bytes);
    assert.equal(r.ok, false, what);
  }
});

test('the helper line: D records parse, bad ones are malformed', () => {
  const rec = parseLine('D\t1000000000\t42\t500\tdig\t4026531840\t10.81.0.2\t53\t4\tdeadbeef');
  assert.equal(rec.kind, 'dns');
  if (rec.kind === 'dns') assert.deepEqual([rec.pid, rec.netns, rec.server, rec.length, [...rec.payload]], [42, 4026531840, '10.81.0.2', 4, [0xde, 0xad, 0xbe, 0xef]]);
  assert.equal(parseLine('D\t1\t2\t3\tx\t4\t10.0.0.1\t53\t4\tzz').kind, 'malformed');
  assert.deepEqual(parseLine('DS\t7'), { kind: 'dns-stats', dropped: 7 });
});

test('the name table is bounded: the least recently seen entry goes first, and names in use are reported again', () => {
  const t = new NameTable(2, 1000);
  const seen = (address: string, name: string, at: number) => t.see({ source: 'snoop', netns: 1, address, name, asked: true, firstSeenMs: at, lastSeenMs: at, ttlSeconds: 1, pid: null, processStartedAtMs: null });
  seen('10.0.0.1', 'a', 1);
  seen('10.0.0.2', 'b', 2);
  seen('10.0.0.1', 'a', 3); // refreshes a: b is now the oldest
  seen('10.0.0.3', 'c', 4);
  assert.deepEqual(t.stats(), { entries: 2, evicted: 1 });
  assert.deepEqual(t.take(10, new Set()).map((o) => [o.name, o.firstSeenMs, o.lastSeenMs]), [['a', 1, 3], ['c', 4, 4]]);
  assert.deepEqual(t.take(20, new Set(['10.0.0.1'])), [], 'nothing new, and in use but reported within reannounceMs');
  assert.deepEqual(t.take(1010, new Set(['10.0.0.1'])).map((o) => o.name), ['a'], 'in use again after reannounceMs');
});

test('malformed answers are counted and reported once with the next snapshot; other namespaces are ignored', () => {
  const names = new DnsNames({ mode: 'snoop', logger: silentLogger, netns: 7 });
  const good = response('ok.internal', [rr([0xc0, 0x0c], 1, 9, [10, 1, 2, 3])]);
  names.answer({ atMs: 1000, netns: 7, pid: 5, processStartedAtMs: 100, payload: good });
  names.answer({ atMs: 1000, netns: 8, pid: 6, processStartedAtMs: 100, payload: good });
  names.answer({ atMs: 1000, netns: 7, pid: 5, processStartedAtMs: 100, payload: Uint8Array.from([1]) });
  names.droppedSoFar(4);
  const first = names.collect(2000, []);
  assert.deepEqual(first.names.map((n) => [n.address, n.name, n.pid, n.ttlSeconds, n.netns, n.asked]), [['10.1.2.3', 'ok.internal', 5, 9, 7, true]]);
  assert.deepEqual(first.notes, ['dns: 1 malformed DNS answers skipped', 'dns: 4 DNS answers not copied (per-second budget or ring buffer full)']);
  assert.deepEqual(names.collect(3000, []), { names: [], notes: [] });
  assert.deepEqual(names.stats(), { answers: 1, malformed: 1, dropped: 4, entries: 1, evicted: 0, reverse: null });
  names.close();
});
