import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { ApiConfigError, createApiServer } from '../../src/api/index.js';
import { PgDatabase } from '../../src/store/database.js';
import { testLog } from '../helpers/env.js';
import { errorCodes, startHarness, type GqlResponse, type Harness } from './harness.js';
import { INTERVAL, T0, iso } from './scenario.js';

const TOKEN = 'test-token-0123456789abcdef';
const WINDOW = { from: iso(T0), to: iso(T0 + 3 * INTERVAL) };
let h: Harness;

before(async () => {
  h = await startHarness({ token: TOKEN });
});
after(async () => {
  await h?.close();
});

function ask(query: string, variables: Record<string, unknown> = {}): Promise<GqlResponse> {
  return h.gql(query, variables, { token: TOKEN });
}

/** The server still answers a normal query after an abusive one. */
async function stillAnswers(): Promise<void> {
  const res = await ask('{ hosts { id } }');
  assert.equal(res.status, 200);
  assert.equal((res.body.data?.hosts as unknown[]).length, 5);
}

/** Runs a request that must be refused before any SQL runs, with this code. */
async function refused(code: string, send: () => Promise<GqlResponse>, status?: number): Promise<GqlResponse> {
  let res: GqlResponse | undefined;
  const sql = await h.recordSql(async () => {
    res = await send();
  });
  assert.deepEqual(errorCodes(res!), [code], JSON.stringify(res!.body));
  if (status !== undefined) assert.equal(res!.status, status);
  assert.deepEqual(sql, [], 'a refused operation must not reach the store');
  assert.doesNotMatch(JSON.stringify(res!.body), /at .*\.js:\d+|stacktrace|SELECT /i);
  await stillAnswers();
  return res!;
}

test('a missing or wrong bearer token is refused with UNAUTHENTICATED; /healthz needs none', async () => {
  await refused('UNAUTHENTICATED', () => h.gql('{ hosts { id } }'), 401);
  await refused('UNAUTHENTICATED', () => h.gql('{ hosts { id } }', {}, { token: 'wrong-token-0123456789abcdef' }), 401);
  const health = await fetch(h.url.replace('/graphql', '/healthz'));
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });
});

test('depth 50 is refused with QUERY_TOO_COMPLEX', async () => {
  let inner = 'pid';
  for (let depth = 1; depth < 50; depth += 4) inner = `host { processes { edges { node { ${inner} } } } }`;
  const query = `{ host(id: "fleet") { processes { edges { node { ${inner} } } } } }`;
  const res = await refused('QUERY_TOO_COMPLEX', () => ask(query), 400);
  assert.match(res.body.errors![0]!.message, /nested deeper than 15 levels/);
});

test('an alias bomb is refused with QUERY_TOO_COMPLEX', async () => {
  // Under the alias limit, yet each alias is priced: 90 aliases of a cheap-looking page add up.
  const aliases = Array.from({ length: 90 }, (_, i) => `a${i}: hosts { processes(first: 50) { edges { cursor } } }`).join(' ');
  const res = await refused('QUERY_TOO_COMPLEX', () => ask(`{ ${aliases} }`), 400);
  assert.match(res.body.errors![0]!.message, /estimated cost \d+ is above the limit of 100000/);
  // The cost follows variables too: a page size given as a variable is priced at its value.
  await refused('QUERY_TOO_COMPLEX', () => ask(`query($n: Int) { hosts { processes(first: $n) { edges { node { connections(range: { from: "${WINDOW.from}", to: "${WINDOW.to}" }, first: $n) { edges { node { id } } } } } } } }`, { n: 1000 }), 400);
});

/** A document whose fragments each spread the next twice: `levels` fragments expand to 2^levels copies of a field. */
function fragmentBomb(levels: number): string {
  let doc = 'query{hosts{...F0}}';
  for (let i = 0; i < levels; i++) doc += `fragment F${i} on Host{...F${i + 1} ...F${i + 1}}`;
  return `${doc}fragment F${levels} on Host{id}`;
}

// Exponential work per level: at 40 levels the code before memoisation would never finish (the generous
// timeout is what fails then); the refusal itself is immediate. The time is measured by hand, not here.
test('a fragment bomb is refused with QUERY_TOO_COMPLEX, each fragment costed once', { timeout: 120_000 }, async () => {
  const issue = fragmentBomb(24);
  assert.ok(issue.length < 1024, `the issue's document is under 1 KB (got ${issue.length})`);
  const res = await refused('QUERY_TOO_COMPLEX', () => ask(issue), 400);
  assert.match(res.body.errors![0]!.message, /estimated cost \d+ is above the limit/);
  await refused('QUERY_TOO_COMPLEX', () => ask(fragmentBomb(40)), 400);
});

test('500 aliases of hosts are refused with QUERY_TOO_COMPLEX (each one alone is cheap)', async () => {
  const aliases = Array.from({ length: 500 }, (_, i) => `a${i}: hosts { id }`).join(' ');
  const res = await refused('QUERY_TOO_COMPLEX', () => ask(`{ ${aliases} }`), 400);
  assert.match(res.body.errors![0]!.message, /more than 100 aliases/);
  // A few aliases are fine.
  const few = await ask('{ a: hosts { id } b: host(id: "router") { id } }');
  assert.equal(few.status, 200);
  assert.equal((few.body.data?.a as unknown[]).length, 5);
});

test('a document of more than 10,000 tokens is refused while parsing', async () => {
  const fields = Array.from({ length: 12_000 }, () => '__typename').join(' ');
  const res = await refused('GRAPHQL_PARSE_FAILED', () => ask(`{ host(id: "router") { ${fields} } }`), 400);
  assert.match(res.body.errors![0]!.message, /10000 tokens/);
});

test('a NUL character in an argument, literal or variable, is BAD_USER_INPUT', async () => {
  await refused('BAD_USER_INPUT', () => ask('{ host(id: "rou\\u0000ter") { id } }'), 400);
  await refused('BAD_USER_INPUT', () => ask('query($id: ID!) { host(id: $id) { id } }', { id: 'rou\u0000ter' }), 400);
  await refused('BAD_USER_INPUT', () => ask('query($r: TimeRange!) { talkers(range: $r, filter: { hosts: ["a", "b\\u0000"] }) { totalEdges } }', { r: WINDOW }), 400);
  const res = await ask('query($r: TimeRange!, $h: [ID!]) { talkers(range: $r, filter: { hosts: $h }) { totalEdges } }', { r: WINDOW, h: ['router\u0000'] });
  assert.deepEqual(errorCodes(res), ['BAD_USER_INPUT']);
  assert.match(res.body.errors![0]!.message, /variable \$h contains a NUL character/);
});

test('1,000 batched operations are refused; a small batch is answered', async () => {
  const batch = Array.from({ length: 1000 }, () => ({ query: '{ hosts { id } }' }));
  let res: { status: number; json: unknown } | undefined;
  const sql = await h.recordSql(async () => {
    res = await h.post(batch, { authorization: `Bearer ${TOKEN}` });
  });
  assert.equal(res!.status, 400);
  assert.deepEqual((res!.json as { errors: { extensions: { code: string } }[] }).errors.map((e) => e.extensions.code), ['QUERY_TOO_COMPLEX']);
  assert.deepEqual(sql, []);
  await stillAnswers();
  const small = await h.post([{ query: '{ hosts { id } }' }, { query: '{ host(id: "router") { id } }' }], { authorization: `Bearer ${TOKEN}` });
  assert.equal(small.status, 200);
  assert.deepEqual((small.json as { data: unknown }[]).map((r) => r.data), [
    { hosts: [{ id: 'client-a' }, { id: 'client-c' }, { id: 'fleet' }, { id: 'router' }, { id: 'server-b' }] },
    { host: { id: 'router' } },
  ]);
});

test('a ten-year range is refused with RANGE_TOO_LARGE, raw rows beyond 31 days too', async () => {
  const tenYears = { from: '2014-01-01T00:00:00Z', to: '2024-01-01T00:00:00Z' };
  await refused('RANGE_TOO_LARGE', () => ask('query($r: TimeRange!) { talkers(range: $r) { totalEdges } }', { r: tenYears }));
  await refused('RANGE_TOO_LARGE', () => ask('query($r: TimeRange!) { traffic(range: $r, step: 86400) { time } }', { r: tenYears }));
  const fortyDays = { from: '2024-01-01T00:00:00Z', to: '2024-02-10T00:00:00Z' };
  await refused('RANGE_TOO_LARGE', () => ask('query($r: TimeRange!) { connections(range: $r) { edges { cursor } } }', { r: fortyDays }));
  await refused('RANGE_TOO_LARGE', () => ask('query($r: TimeRange!) { talkers(range: $r, resolution: RAW) { totalEdges } }', { r: fortyDays }));
  // The same forty days are fine from the aggregates.
  const ok = await ask('query($r: TimeRange!) { talkers(range: $r) { resolution totalEdges } }', { r: fortyDays });
  assert.deepEqual(ok.body.data, { talkers: { resolution: 'DAY', totalEdges: 0 } });
});

test('a huge page is refused with PAGE_TOO_LARGE', async () => {
  await refused('PAGE_TOO_LARGE', () => ask('query($r: TimeRange!) { connections(range: $r, first: 100000) { edges { cursor } } }', { r: WINDOW }));
  await refused('PAGE_TOO_LARGE', () => ask('query($r: TimeRange!) { talkers(range: $r, limit: 5000) { totalEdges } }', { r: WINDOW }));
});

test('malformed input is BAD_USER_INPUT: cursor, address, time, reversed range', async () => {
  await refused('BAD_USER_INPUT', () => ask('query($r: TimeRange!) { connections(range: $r, after: "bm9wZQ") { edges { cursor } } }', { r: WINDOW }));
  const natCursor = Buffer.from(JSON.stringify(['nat', 1, 'x'])).toString('base64url');
  await refused('BAD_USER_INPUT', () => ask(`query($r: TimeRange!) { connections(range: $r, after: "${natCursor}") { edges { cursor } } }`, { r: WINDOW }));
  await refused('BAD_USER_INPUT', () => ask('query($r: TimeRange!) { nat(range: $r, address: "10.0.0.999") { edges { cursor } } }', { r: WINDOW }));
  await refused('BAD_USER_INPUT', () => ask('{ talkers(range: { from: "yesterday", to: "2024-01-01T00:00:00Z" }) { totalEdges } }'));
  await refused('BAD_USER_INPUT', () => ask('query($r: TimeRange!) { talkers(range: $r) { totalEdges } }', { r: { from: '2024-01-01T00:00', to: '2024-01-02T00:00:00Z' } }));
  await refused('BAD_USER_INPUT', () => ask('query($r: TimeRange!) { talkers(range: $r) { totalEdges } }', { r: { from: WINDOW.to, to: WINDOW.from } }));
});

test('oversized bodies get 413; CSRF prevention refuses simple GET requests', async () => {
  const big = await fetch(h.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ query: `{ hosts { id } } # ${'x'.repeat(2 * 1024 * 1024)}` }) });
  assert.equal(big.status, 413);
  const get = await fetch(`${h.url}?query=${encodeURIComponent('{ hosts { id } }')}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(get.status, 400);
  assert.match(await get.text(), /CSRF/);
  const preflighted = await fetch(`${h.url}?query=${encodeURIComponent('{ host(id: "router") { id } }')}`, { headers: { authorization: `Bearer ${TOKEN}`, 'apollo-require-preflight': 'true' } });
  assert.equal(preflighted.status, 200);
  await stillAnswers();
});

test('production mode: no introspection, no field suggestions; development suggests', async () => {
  const prod = createApiServer({ reader: h.store.reader, log: testLog, port: 0, production: true, env: {} });
  try {
    const { url } = await prod.start();
    const post = async (query: string) => (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) })).json() as Promise<GqlResponse['body']>;
    const intro = await post('{ __schema { types { name } } }');
    assert.equal(intro.data, undefined);
    assert.match(intro.errors![0]!.message, /introspection/i);
    const typo = await post('{ hostz { id } }');
    assert.doesNotMatch(typo.errors![0]!.message, /Did you mean/);
  } finally {
    await prod.stop();
  }
  const dev = await ask('{ hostz { id } }');
  assert.match(dev.body.errors![0]!.message, /Did you mean "host" or "hosts"\?/);
  const intro = await ask('{ __schema { queryType { name } } }');
  assert.deepEqual(intro.body.data, { __schema: { queryType: { name: 'Query' } } });
});

test('the token and production mode default from the environment, so a forgotten option never opens the API', async () => {
  const server = createApiServer({ reader: h.store.reader, log: testLog, port: 0, env: { API_TOKEN: TOKEN, NODE_ENV: 'production' } });
  try {
    const { url } = await server.start();
    const post = (headers: Record<string, string>) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query: '{ __schema { queryType { name } } }' }) });
    assert.equal((await post({})).status, 401);
    const authed = await (await post({ authorization: `Bearer ${TOKEN}` })).json() as GqlResponse['body'];
    assert.match(authed.errors![0]!.message, /introspection/i);
  } finally {
    await server.stop();
  }
});

test('lifecycle: one state at a time; off loopback a token is required; a busy port fails the start', async () => {
  const server = createApiServer({ reader: h.store.reader, log: testLog, port: 0, env: {} });
  const kind = (): string => server.state.kind;
  assert.equal(kind(), 'idle');
  const starting = server.start();
  assert.equal(kind(), 'starting');
  const address = await starting;
  assert.equal(kind(), 'running');
  assert.equal(await server.start(), address);
  const stopping = server.stop();
  assert.equal(kind(), 'stopping');
  await stopping;
  assert.equal(kind(), 'stopped');
  await assert.rejects(server.start(), (err: unknown) => err instanceof ApiConfigError && err.code === 'ALREADY_STARTED');
  await assert.rejects(fetch(address.url), 'the stopped server no longer listens');

  const open = createApiServer({ reader: h.store.reader, log: testLog, host: '0.0.0.0', port: 0, env: {} });
  await assert.rejects(open.start(), (err: unknown) => err instanceof ApiConfigError && err.code === 'TOKEN_REQUIRED');
  assert.equal(open.state.kind, 'failed');

  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  try {
    const port = (blocker.address() as { port: number }).port;
    const clash = createApiServer({ reader: h.store.reader, log: testLog, port, env: {} });
    await assert.rejects(clash.start(), /EADDRINUSE/);
    assert.equal(clash.state.kind, 'failed');
  } finally {
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
  }
});

test('an unreachable store answers STORE_UNAVAILABLE and /healthz 503, without details', async () => {
  // A port nothing listens on: grab a free one and release it.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const dead = new PgDatabase({ connectionString: `postgres://conntrail_reader@127.0.0.1:${port}/postgres`, connectTimeoutMs: 1000 });
  const server = createApiServer({ reader: dead, log: testLog, port: 0, env: {} });
  try {
    const { url } = await server.start();
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ hosts { id } }' }) });
    const body = await res.json() as GqlResponse['body'];
    assert.deepEqual(body.errors!.map((e) => [e.extensions?.code, e.message]), [['STORE_UNAVAILABLE', 'the store is unavailable, try again later']]);
    assert.doesNotMatch(JSON.stringify(body), /ECONNREFUSED|127\.0\.0\.1|stack/);
    const health = await fetch(url.replace('/graphql', '/healthz'));
    assert.equal(health.status, 503);
    assert.deepEqual(await health.json(), { status: 'unavailable', code: 'STORE_UNAVAILABLE' });
  } finally {
    await server.stop();
    await dead.close();
  }
});
