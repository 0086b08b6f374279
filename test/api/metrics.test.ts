import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LOADER_NAMES, OUTCOMES } from '../../src/api/metrics.js';
import { startHarness, type Harness } from './harness.js';
import { T0, iso } from './scenario.js';

/**
 * The API's Prometheus metrics over real HTTP against the real store: every series exists at zero before the
 * first request, and requests, errors, store statements and DataLoader batches are counted as they happen.
 */
const ROOT_FIELDS = ['talkers', 'connections', 'nat', 'resolve', 'edges', 'traffic', 'hosts', 'host', 'process', 'snapshots'];

async function scrape(h: Harness): Promise<Map<string, number>> {
  const res = await fetch(h.url.replace(/\/graphql$/, '/metrics'));
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  const series = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    const m = /^(\w+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) series.set(m[1]!, Number(m[2]));
  }
  return series;
}

function value(series: Map<string, number>, key: string): number {
  const v = series.get(key);
  assert.notEqual(v, undefined, `series ${key} is present`);
  return v!;
}

test('API metrics: every series present at zero from the start, then counting requests, errors, statements and batches', { timeout: 300_000 }, async () => {
  const h = await startHarness();
  try {
    const before = await scrape(h);
    for (const operation of ROOT_FIELDS) {
      for (const outcome of OUTCOMES) assert.equal(value(before, `conntrail_api_requests_total{operation="${operation}",outcome="${outcome}"}`), 0);
      assert.equal(value(before, `conntrail_api_request_seconds_count{operation="${operation}"}`), 0);
    }
    for (const loader of LOADER_NAMES) assert.equal(value(before, `conntrail_api_dataloader_batch_size_count{loader="${loader}"}`), 0);
    assert.equal(value(before, 'conntrail_api_store_query_seconds_count{outcome="ok"}'), 0);
    assert.equal(value(before, 'conntrail_api_store_query_seconds_count{outcome="error"}'), 0);

    const range = { from: iso(T0 - 60_000), to: iso(T0 + 3_600_000) };
    const ok = await h.gql('query($r: TimeRange!) { talkers(range: $r) { edges { id } } }', { r: range });
    assert.equal(ok.body.errors, undefined);
    // A host with its processes, each with its connections: the process and connection loaders batch.
    const nested = await h.gql('query($r: TimeRange!) { host(id: "client-a") { processes { edges { node { name connections(range: $r) { edges { node { id } } } } } } } }', { r: range });
    assert.equal(nested.body.errors, undefined);
    const tooLong = await h.gql('query($r: TimeRange!) { connections(range: $r) { edges { cursor } } }', { r: { from: iso(T0), to: iso(T0 + 400 * 86_400_000) } });
    const code = tooLong.body.errors?.[0]?.extensions?.code;
    assert.ok(code, 'a year-long connections range is refused');
    const broken = await h.gql('{ talkers(');
    assert.equal(broken.body.errors?.[0]?.extensions?.code, 'GRAPHQL_PARSE_FAILED');

    const after = await scrape(h);
    assert.equal(value(after, 'conntrail_api_requests_total{operation="talkers",outcome="OK"}'), 1);
    assert.equal(value(after, 'conntrail_api_requests_total{operation="host",outcome="OK"}'), 1);
    assert.equal(value(after, `conntrail_api_requests_total{operation="connections",outcome="${code}"}`), 1);
    assert.equal(value(after, 'conntrail_api_requests_total{operation="none",outcome="GRAPHQL_PARSE_FAILED"}'), 1);
    assert.equal(value(after, 'conntrail_api_request_seconds_count{operation="talkers"}'), 1);
    assert.ok(value(after, 'conntrail_api_request_seconds_sum{operation="talkers"}') > 0);
    assert.ok(value(after, 'conntrail_api_store_query_seconds_count{outcome="ok"}') > 0, 'statements are timed');
    assert.ok(value(after, 'conntrail_api_dataloader_batch_size_count{loader="connectionPage"}') >= 1);
    assert.ok(value(after, 'conntrail_api_dataloader_batch_size_sum{loader="connectionPage"}') >= value(after, 'conntrail_api_dataloader_batch_size_count{loader="connectionPage"}'));
    assert.ok(value(after, 'conntrail_api_dataloader_batch_size_count{loader="processPage"}') >= 1);
  } finally {
    await h.close();
  }
});

test('requests refused at the door (no token) are counted too', { timeout: 300_000 }, async () => {
  const h = await startHarness({ token: 'metrics-token-0123456789' });
  try {
    const refused = await h.gql('{ hosts { id } }');
    assert.equal(refused.status, 401);
    const series = await scrape(h);
    assert.equal(value(series, 'conntrail_api_requests_total{operation="none",outcome="UNAUTHENTICATED"}'), 1);
  } finally {
    await h.close();
  }
});
