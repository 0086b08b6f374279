import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relativeError, scoreEdges, type ExpectedEdge, type ObservedEdge } from '../../bench/truth-score.js';

/** The truth bench's scoring: precision, recall, count and byte errors from expected and answered edges. */
const expected: ExpectedEdge[] = [
  { scenario: 'a', protocol: 'TCP', client: { host: 'c', pid: 10 }, server: { host: 's', pid: 20 }, connections: 5, bytesSent: 1000, bytesReceived: 4000 },
  { scenario: 'b', protocol: 'UDP', client: { host: 'c', pid: 11 }, server: { host: 's', pid: 21 }, connections: 2, bytesSent: 100, bytesReceived: 200 },
  { scenario: 'c', protocol: 'TCP', client: { host: 'c', pid: 12 }, server: { host: 's', pid: 22 }, connections: 1, bytesSent: 10, bytesReceived: 10 },
];

function observed(clientPid: number | null, serverPid: number | null, over: Partial<ObservedEdge> = {}): ObservedEdge {
  return {
    protocol: 'TCP', match: 'BOTH_ENDS', connections: 5, bytesSent: 1000, bytesReceived: 4000,
    client: { host: clientPid === null ? null : 'c', pid: clientPid, address: '10.0.0.1' },
    server: { host: serverPid === null ? null : 's', pid: serverPid, address: '10.0.0.2', port: 80 },
    ...over,
  };
}

test('every expected edge answered exactly: precision = recall = 1, no errors', () => {
  const score = scoreEdges(expected, [
    observed(10, 20),
    observed(11, 21, { protocol: 'UDP', connections: 2, bytesSent: 100, bytesReceived: 200 }),
    observed(12, 22, { connections: 1, bytesSent: 10, bytesReceived: 10 }),
  ], { pids: new Set(), serverPorts: new Set() });
  assert.equal(score.precision, 1);
  assert.equal(score.recall, 1);
  assert.equal(score.connectionError, 0);
  assert.equal(score.worstByteError?.error, 0);
  assert.deepEqual(score.falsePositives, []);
});

test('a missed edge, a half-joined edge, a duplicate and a wrong protocol lower precision and recall', () => {
  const halfJoined = observed(10, null, { match: 'CLIENT_ONLY', connections: 1, bytesSent: 10, bytesReceived: 0 });
  const duplicate = observed(10, 20, { match: 'NAT_RESOLVED', connections: 1, bytesSent: 0, bytesReceived: 0 });
  const wrongProtocol = observed(11, 21); // the UDP pair answered as TCP
  const score = scoreEdges(expected, [observed(10, 20, { bytesReceived: 1000 }), halfJoined, duplicate, wrongProtocol],
    { pids: new Set(), serverPorts: new Set() });
  assert.equal(score.answered, 4);
  assert.equal(score.found, 1);
  assert.equal(score.precision, 1 / 4);
  assert.equal(score.recall, 1 / 3);
  assert.deepEqual(new Set(score.falsePositives), new Set([halfJoined, duplicate, wrongProtocol]));
  // Counts and bytes of a pair are what its answered edges add up to: 5 + 1 connections, 1000 of 4000 bytes back.
  const a = score.edges[0]!;
  assert.equal(a.connections, 6);
  assert.equal(a.receivedError, 0.75);
  assert.deepEqual(new Set(a.strays), new Set([halfJoined, duplicate]));
  assert.equal(score.edges[1]!.sentError, null);
  assert.deepEqual(score.worstByteError, { error: 0.75, edge: expected[0], direction: 'received' });
  // |6-5| + |0-2| + |0-1| over 8 true connections.
  assert.equal(score.trueConnections, 8);
  assert.equal(score.connectionError, 4 / 8);
  assert.equal(score.wrongConnections, 1 + 1 + 5);
});

test("conntrail's own processes and ports are not the scenario's traffic", () => {
  const collector = observed(99, 98, { server: { host: 'r', pid: 98, address: '10.0.0.9', port: 5433 } });
  const apiCall = observed(null, 97, { match: 'SERVER_ONLY', server: { host: 'r', pid: 97, address: '10.0.0.9', port: 4000 } });
  const score = scoreEdges(expected.slice(0, 1), [observed(10, 20), collector, apiCall], { pids: new Set([99]), serverPorts: new Set([4000]) });
  assert.equal(score.answered, 1);
  assert.equal(score.precision, 1);
  assert.equal(score.recall, 1);
});

test('relative error: exact, off, and against a zero truth', () => {
  assert.equal(relativeError(990, 1000), 0.01);
  assert.equal(relativeError(0, 0), 0);
  assert.equal(relativeError(5, 0), 1);
});
