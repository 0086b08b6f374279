import assert from 'node:assert/strict';
import { SocketAddress } from 'node:net';
import { test } from 'node:test';
import {
  canonicalAddressText, decodeProcHexAddress, formatAddress, parseIpv4Text, parseIpv6Text,
} from '../../../src/collector/sources/procfs/address.js';

const hex = (text: string): Buffer => Buffer.from(text, 'latin1');

test('IPv4 hex words are little-endian on this kind of host', () => {
  const bytes = decodeProcHexAddress(hex('0100007F'), 0, 8, 'LE');
  assert.ok(bytes);
  assert.equal(formatAddress(bytes), '127.0.0.1');
  const be = decodeProcHexAddress(hex('7F000001'), 0, 8, 'BE');
  assert.ok(be);
  assert.equal(formatAddress(be), '127.0.0.1');
});

test('IPv6 is four little-endian 32-bit words; ::ffff:a.b.c.d unwraps to IPv4', () => {
  const loopback = decodeProcHexAddress(hex('00000000000000000000000001000000'), 0, 32, 'LE');
  assert.ok(loopback);
  assert.equal(formatAddress(loopback), '::1');
  const mapped = decodeProcHexAddress(hex('0000000000000000FFFF00000100007F'), 0, 32, 'LE');
  assert.ok(mapped);
  assert.equal(formatAddress(mapped), '127.0.0.1');
  const doc = decodeProcHexAddress(hex('B80D0120000000000000000001000000'), 0, 32, 'LE');
  assert.ok(doc);
  assert.equal(formatAddress(doc), '2001:db8::1');
  assert.equal(decodeProcHexAddress(hex('B80D01200000000000000000010000ZZ'), 0, 32, 'LE'), null);
  assert.equal(decodeProcHexAddress(hex('0100007F'), 0, 7, 'LE'), null);
});

test('IPv6 text is canonical per RFC 5952 and agrees with node for many forms', () => {
  const cases: Array<[string, string]> = [
    ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group stays
    ['2001:db8::', '2001:db8::'],
    ['fe80::1ff:fe23:4567:890a', 'fe80::1ff:fe23:4567:890a'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
  ];
  for (const [input, expected] of cases) {
    const parsed = canonicalAddressText(input);
    // The family is that of the text: an IPv4-mapped IPv6 address is still family 6, only shown as IPv4.
    assert.deepEqual(parsed, { address: expected, family: 6 }, input);
    if (expected.includes(':')) assert.equal(new SocketAddress({ address: input, family: 'ipv6' }).address, expected, input);
  }
  for (const bad of ['1::2::3', '12345::', 'g::1', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '::ffff:1.2.3', '']) {
    assert.equal(parseIpv6Text(bad), null, bad);
  }
  assert.deepEqual(parseIpv6Text('::1.2.3.4'), new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]));
});

test('IPv4 text parsing rejects out-of-range and malformed quads', () => {
  assert.deepEqual(parseIpv4Text('192.168.0.1'), new Uint8Array([192, 168, 0, 1]));
  for (const bad of ['256.0.0.1', '1.2.3', '1.2.3.4.5', 'a.b.c.d', '1..2.3', '']) assert.equal(parseIpv4Text(bad), null, bad);
});
