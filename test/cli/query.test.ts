import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startHarness } from '../api/harness.js';
import { T0 } from '../api/scenario.js';

/**
 * `conntrail query` as a user runs it: a real process against a real API over the scenario store (or against
 * nothing at all), its stdout, stderr and exit code.
 */
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

interface Result { readonly code: number | null; readonly stdout: string; readonly stderr: string }

function conntrail(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'API_TOKEN' && k !== 'CONNTRAIL_URL')) as Record<string, string>;
  const child = spawn(process.execPath, [MAIN, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString('utf8'); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

test('an unreachable API: the message says where it tried, why it failed and what to start; CONNTRAIL_URL is read', { timeout: 120_000 }, async () => {
  const port = await closedPort();
  const url = `http://127.0.0.1:${port}/graphql`;
  for (const run of [conntrail(['query', '{ hosts { id } }', '--url', url]), conntrail(['query', '{ hosts { id } }'], { CONNTRAIL_URL: url })]) {
    const r = await run;
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`^conntrail query: cannot reach ${url.replace(/[.]/g, '\\.')}: connection refused — is \`conntrail up\``, 'm'));
  }
});

test('a time variable that is not a time is refused before anything is sent (exit 2)', { timeout: 120_000 }, async () => {
  const r = await conntrail(['query', 'query($at: DateTime!) { resolve(address: "10.0.0.1", port: 80, at: $at) { address } }', '--var', 'at=2026-12-06T10:00', '--url', `http://127.0.0.1:${await closedPort()}/graphql`]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--var at: "2026-12-06T10:00" has no time zone/);
});

test('times as people write them reach the API as instants; --output table prints talkers and connections as rows', { timeout: 300_000 }, async () => {
  const h = await startHarness();
  try {
    // Relative times: the API echoes the window it answered.
    const before = Date.now();
    const window = await conntrail(['query', 'query($r: TimeRange!) { talkers(range: $r) { range { from to } } }', '--var', 'r={"from":"-1h","to":"now"}', '--url', h.url]);
    const after = Date.now();
    assert.equal(window.code, 0, window.stderr);
    const range = (JSON.parse(window.stdout) as { data: { talkers: { range: { from: string; to: string } } } }).data.talkers.range;
    const to = Date.parse(range.to);
    assert.ok(to >= Math.floor(before / 1000) * 1000 && to <= after, `"now" is the time of the run (${range.to})`);
    assert.equal(to - Date.parse(range.from), 3_600_000);

    // Unix seconds and ISO-8601 over the scenario's hour, as a table.
    const from = String(T0 / 1000 - 60);
    const until = new Date(T0 + 3_600_000).toISOString();
    const talkers = await conntrail(['query',
      'query($r: TimeRange!) { talkers(range: $r, groupBy: PROCESS_NAME) { edges { client { node { name } } server { node { name } } protocol connections bytesSent } } }',
      '--var', `r={"from":${from},"to":"${until}"}`, '--url', h.url, '--output', 'table']);
    assert.equal(talkers.code, 0, talkers.stderr);
    const lines = talkers.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^client\.node\.name\s+server\.node\.name\s+protocol\s+connections\s+bytesSent$/);
    const json = await conntrail(['query',
      'query($r: TimeRange!) { talkers(range: $r, groupBy: PROCESS_NAME) { edges { client { node { name } } server { node { name } } protocol connections bytesSent } } }',
      '--var', `r={"from":${from},"to":"${until}"}`, '--url', h.url]);
    const edges = (JSON.parse(json.stdout) as { data: { talkers: { edges: { client: { node: { name: string } }; server: { node: { name: string } }; bytesSent: number }[] } } }).data.talkers.edges;
    assert.ok(edges.length > 0);
    assert.equal(lines.length, edges.length + 1, 'one line per edge under the header');
    edges.forEach((e, i) => {
      const cells = lines[i + 1]!.trim().split(/\s+/);
      assert.equal(cells[0], e.client.node.name);
      assert.equal(cells[1], e.server.node.name);
      assert.equal(cells[4], String(e.bytesSent));
    });

    const connections = await conntrail(['query',
      'query($r: TimeRange!) { connections(range: $r, first: 5) { edges { cursor node { time localAddress localPort remoteAddress remotePort state } } } }',
      '--var', `r={"from":"${new Date(T0 - 60_000).toISOString()}","to":${T0 / 1000 + 3600}}`, '--url', h.url, '-o', 'table']);
    assert.equal(connections.code, 0, connections.stderr);
    const rows = connections.stdout.trimEnd().split('\n');
    assert.match(rows[0]!, /^time\s+localAddress\s+localPort\s+remoteAddress\s+remotePort\s+state$/, 'a Relay edge is shown as its node');
    assert.equal(rows.length, 6);
    for (const row of rows.slice(1)) assert.match(row, /^\d{4}-\d\d-\d\dT\S+Z\s+\S+\s+\d+\s+\S+\s+\d+\s+\S+$/);
  } finally {
    await h.close();
  }
});
