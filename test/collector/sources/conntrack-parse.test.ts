import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flowToNat, flowToObservation, natKindOf } from '../../../src/collector/sources/conntrack/nat.js';
import { parseConntrackLine, parseConntrackText } from '../../../src/collector/sources/conntrack/parse.js';
import { fixtureText } from './fixtures.js';

test('list output: tuples, NAT kind, state, flags, mark, zone, id, counters; others counted', () => {
  const parsed = parseConntrackText(fixtureText('conntrack', 'list-extended.txt'));
  assert.equal(parsed.malformed, 6);
  assert.equal(parsed.otherProtocol, 3); // icmp, unknown (gre), sctp
  assert.equal(parsed.events.length, 0);
  assert.deepEqual(parsed.flows.map((f) => [f.family, f.protocol, f.kind, f.state, f.id]), [
    [4, 'tcp', 'DNAT', 'ESTABLISHED', 1632243322],
    [4, 'udp', null, null, 3077216551],
    [4, 'tcp', 'SNAT', 'TIME_WAIT', 42],
    [4, 'tcp', 'BOTH', 'ESTABLISHED', 43],
    [4, 'udp', null, null, 44],
    [6, 'tcp', 'DNAT', 'ESTABLISHED', 1465547691],
    [6, 'udp', null, null, 47],
  ]);
  const [dnat, udp, , both, counted, v6dnat, v6udp] = parsed.flows;
  assert.deepEqual(dnat?.original, { src: '10.99.0.1', dst: '10.99.0.1', srcPort: 47218, dstPort: 80 });
  assert.deepEqual(dnat?.reply, { src: '127.0.0.1', dst: '10.99.0.1', srcPort: 8080, dstPort: 47218 });
  assert.equal(dnat?.assured, true);
  assert.equal(dnat?.unreplied, false);
  assert.equal(dnat?.timeoutSec, 431999);
  assert.equal(udp?.unreplied, true);
  assert.equal(udp?.assured, false);
  assert.equal(both?.mark, 7);
  assert.equal(both?.zone, 3);
  assert.deepEqual(counted?.originalCounters, { packets: 2, bytes: 120 });
  assert.deepEqual(counted?.replyCounters, { packets: 2, bytes: 300 });
  assert.equal(dnat?.originalCounters, null);
  assert.deepEqual(v6dnat?.reply, { src: '::1', dst: '::1', srcPort: 8081, dstPort: 55860 });
  assert.equal(v6udp?.original.dst, '2001:db8::53'); // canonicalised from 2001:db8:0:0:0:0:0:53
});

test('event lines: [timestamp] [TYPE] prefixes, DESTROY without state/timeout, garbage and overrun text counted', () => {
  const parsed = parseConntrackText(fixtureText('conntrack', 'events.txt'));
  assert.deepEqual(parsed.events.map((e) => [e.type, e.timestampMs, e.flow.protocol, e.flow.state, e.flow.kind, e.flow.id]), [
    ['NEW', 1795433201319, 'tcp', 'SYN_SENT', 'DNAT', 1632243322],
    ['UPDATE', 1795433201319, 'tcp', 'SYN_RECV', 'DNAT', 1632243322],
    ['NEW', 1795433201320, 'udp', null, null, 3077216551],
    ['DESTROY', 1795433203500, 'tcp', null, 'DNAT', 1632243322],
    ['NEW', null, 'tcp', 'SYN_SENT', null, 77],
    // Deleted from user space (conntrack -D): state and timeout present, extra [USERSPACE] portid= progname=.
    ['DESTROY', 1795434228582, 'tcp', 'TIME_WAIT', 'BOTH', 3274956765],
  ]);
  assert.equal(parsed.events[3]?.flow.timeoutSec, null);
  assert.equal(parsed.events[4]?.flow.family, 6);
  assert.equal(parsed.otherProtocol, 1); // icmp (with its own id= before the conntrack id=)
  assert.equal(parsed.malformed, 3); // [BOGUS], truncated DESTROY, the ENOBUFS warning
});

test('/proc/net/nf_conntrack: full-form IPv6 canonicalised, no ids, zone=0, counters', () => {
  const parsed = parseConntrackText(fixtureText('conntrack', 'proc-nf_conntrack.txt'));
  assert.equal(parsed.otherProtocol, 1);
  assert.equal(parsed.malformed, 1);
  assert.deepEqual(parsed.flows.map((f) => [f.family, f.protocol, f.kind, f.id, f.zone]), [
    [4, 'tcp', 'DNAT', null, 0],
    [4, 'udp', null, null, 0],
    [6, 'tcp', 'DNAT', null, 0],
    [6, 'udp', 'SNAT', null, 0],
    [4, 'tcp', null, null, 0],
  ]);
  assert.deepEqual(parsed.flows[2]?.original, { src: '::1', dst: '::1', srcPort: 55860, dstPort: 81 });
  assert.deepEqual(parsed.flows[3]?.reply, { src: '2001:db8::53', dst: '2001:db8::ffff:a00:1', srcPort: 53, dstPort: 1024 });
  assert.deepEqual(parsed.flows[4]?.replyCounters, { packets: 8, bytes: 4000 });
});

test('NAT kind: ports alone are enough to call it translated', () => {
  const original = { src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1000, dstPort: 80 };
  assert.equal(natKindOf(original, { src: '10.0.0.2', dst: '10.0.0.1', srcPort: 80, dstPort: 1000 }), null);
  assert.equal(natKindOf(original, { src: '10.0.0.2', dst: '10.0.0.1', srcPort: 8080, dstPort: 1000 }), 'DNAT');
  assert.equal(natKindOf(original, { src: '10.0.0.2', dst: '10.0.0.1', srcPort: 80, dstPort: 2000 }), 'SNAT');
  assert.equal(natKindOf(original, { src: '10.0.0.3', dst: '10.0.0.4', srcPort: 80, dstPort: 1000 }), 'BOTH');
});

test('domain conversions: NatTranslation only for translated flows; observations oriented by the original tuple', () => {
  const dnatLine = parseConntrackLine(fixtureText('conntrack', 'list-extended.txt').split('\n')[0] ?? '');
  assert.equal(dnatLine.kind, 'flow');
  if (dnatLine.kind !== 'flow') return;
  assert.deepEqual(flowToNat(dnatLine.flow, 4026531840, 1000, 2000), {
    netns: 4026531840, protocol: 'tcp', conntrackId: 1632243322,
    original: dnatLine.flow.original, reply: dnatLine.flow.reply, kind: 'DNAT', firstSeenMs: 1000, lastSeenMs: 2000,
  });
  const obs = flowToObservation(dnatLine.flow, 4026531840, { openedAtMs: 1000 });
  assert.deepEqual([obs.source, obs.local, obs.remote, obs.state, obs.direction, obs.openedAtMs, obs.closedAtMs], [
    'conntrack', { address: '10.99.0.1', port: 47218 }, { address: '10.99.0.1', port: 80 }, 'ESTABLISHED', 'unknown', 1000, null,
  ]);
  const plain = parseConntrackText(fixtureText('conntrack', 'proc-nf_conntrack.txt')).flows[4];
  assert.ok(plain);
  assert.equal(flowToNat(plain, 1, 1), null);
  const closed = flowToObservation(plain, 1, { closedAtMs: 5 });
  assert.deepEqual([closed.state, closed.closedAtMs, closed.bytesSent, closed.bytesReceived], ['CLOSE', 5, 2000, 4000]);
});

test('never throws on arbitrary input', () => {
  const junk = ['[', ']', '[NEW]', 'ipv4', 'ipv4 2', 'ipv4 2 tcp', 'ipv4 2 tcp 6', 'src=', '=x', 'tcp 6 src=1.2.3.4', '\t\t', '[1.2] [NEW] tcp 6 1 ESTABLISHED src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 src=3.3.3.3'];
  for (const line of junk) {
    const parsed = parseConntrackLine(line);
    assert.ok(parsed.kind === 'malformed' || parsed.kind === 'empty', `${line} -> ${parsed.kind}`);
  }
  // Without the extended prefix the family comes from the addresses.
  const bare = parseConntrackLine('tcp      6 431999 ESTABLISHED src=fd00::1 dst=fd00::2 sport=1 dport=2 src=fd00::2 dst=fd00::1 sport=2 dport=1 [ASSURED] mark=0 use=1');
  assert.equal(bare.kind, 'flow');
  if (bare.kind === 'flow') assert.equal(bare.flow.family, 6);
});
