import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSchema, parse, specifiedRules, validate } from 'graphql';
import { depthLimitRule, estimateCost } from '../../src/api/complexity.js';
import { decodeCursor, encodeCursor } from '../../src/api/cursor.js';
import { ApiError } from '../../src/api/errors.js';
import { loadTypeDefs } from '../../src/api/schema.js';
import { isConnectionKey } from '../../src/store/queries/index.js';

const schema = buildSchema(loadTypeDefs());
const cost = (query: string, variables: Record<string, unknown> = {}, maxListSize = 1000) =>
  estimateCost({ schema, document: parse(query), operationName: null, variables, maxListSize });

test('the schema file is valid SDL and every documented operation validates', () => {
  const ops = [
    '{ talkers(range: { from: "2024-01-01T00:00:00Z", to: "2024-01-01T01:00:00Z" }) { totalEdges resolution } }',
    '{ hosts { id processes { edges { node { pid connections(range: { from: "2024-01-01T00:00:00Z", to: "2024-01-01T01:00:00Z" }) { pageInfo { hasNextPage } } } } } } }',
    '{ resolve(address: "10.0.0.1", port: 80, at: "2024-01-01T00:00:00Z") { targets { role address } } }',
    '{ snapshots(host: "a", range: { from: "2024-01-01T00:00:00Z", to: "2024-01-01T01:00:00Z" }) { recorded gaps { from to } } }',
  ];
  for (const op of ops) assert.deepEqual(validate(schema, parse(op), specifiedRules).map((e) => e.message), [], op);
});

test('cost: fields count once, times the sizes of the lists they sit in; page arguments bound the lists below', () => {
  assert.equal(cost('{ hosts { id } }'), 100 + 100);
  assert.equal(cost('{ host(id: "a") { id processes(first: 7) { edges { node { pid name } } } } }'), 1 + 1 + 1 + 7 + 7 + 14);
  // Variables are priced at their values; sizes above the page cap at the cap (the resolver refuses them anyway).
  assert.equal(cost('query($n: Int) { host(id: "a") { processes(first: $n) { edges { cursor } } } }', { n: 3 }), 1 + 1 + 3 + 3);
  assert.equal(cost('query($n: Int) { host(id: "a") { processes(first: $n) { edges { cursor } } } }', { n: 10_000_000 }), 1 + 1 + 1000 + 1000);
  // Defaults from the schema count too (talkers limit 200), and fragments are followed.
  assert.equal(cost('{ talkers(range: { from: "2024-01-01T00:00:00Z", to: "2024-01-01T01:00:00Z" }) { ...g } } fragment g on TalkerGraph { edges { match } }'), 1 + 200 + 200);
  assert.equal(cost('{ __schema { types { name } } }'), 1);
});

test('depth: counted through fragments, introspection exempt', () => {
  const rule = depthLimitRule(3);
  const errors = (q: string) => validate(schema, parse(q), [rule]).map((e) => (e.originalError as ApiError).code);
  assert.deepEqual(errors('{ host(id: "a") { processes { pageInfo { hasNextPage } } } }'), ['QUERY_TOO_COMPLEX']);
  assert.deepEqual(errors('{ host(id: "a") { processes { edges { cursor } } } }'), ['QUERY_TOO_COMPLEX']);
  assert.deepEqual(errors('{ host(id: "a") { ...f } } fragment f on Host { processes { pageInfo { hasNextPage } } }'), ['QUERY_TOO_COMPLEX']);
  assert.deepEqual(errors('{ host(id: "a") { processes { __typename } } }'), []);
  assert.deepEqual(errors('{ __schema { types { fields { type { ofType { ofType { name } } } } } } }'), []);
});

test('cursors are opaque, tagged with their list and checked', () => {
  const key = [1714564800000000, 'client-a', 0, 'tcp', 'outgoing', '10.0.1.10', 40000, '10.0.2.20', 8080, -1, 'procfs'];
  const cursor = encodeCursor('connection', key);
  assert.doesNotMatch(cursor, /client-a/);
  assert.deepEqual(decodeCursor('connection', cursor, isConnectionKey), key);
  assert.throws(() => decodeCursor('nat', cursor, isConnectionKey), (e: unknown) => e instanceof ApiError && e.code === 'BAD_USER_INPUT');
  assert.throws(() => decodeCursor('connection', '%%%', isConnectionKey), (e: unknown) => e instanceof ApiError && e.code === 'BAD_USER_INPUT');
  assert.equal(decodeCursor('connection', null, isConnectionKey), null);
});
