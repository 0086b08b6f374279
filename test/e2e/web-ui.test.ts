import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { API_PORT } from './deployment.js';
import { runScenario, TOKEN, type Scenario } from './scenario.js';

/**
 * The web UI in a real Chromium against a real `conntrail up` (three hosts in network namespaces, a client
 * program talking to a server program through the router's VIP and masquerade): the map, the scrubber, the
 * since-diff, the details panel and a shared link. Screenshots are kept in a temp dir printed as a diagnostic.
 */
let s: Scenario;
let browser: Browser;
const shots = mkdtempSync(join(tmpdir(), 'conntrail-web-ui-'));

interface Summary {
  nodes: Array<{ id: string; label: string; classes: string[]; parent: string | null }>;
  edges: Array<{ id: string; source: string; target: string; label: string; classes: string[] }>;
}

before(async () => {
  s = await runScenario(() => undefined, { topology: { runId: `w${process.pid % 10000}`, subnet: 61 } });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await s?.dispose();
});

const base = (): string => `http://${s.topology.addr.routerManagement}:${API_PORT}/`;

/** The view over the scenario: from well before the traffic to after it. */
function viewQuery(extra: Record<string, string> = {}): string {
  const p = new URLSearchParams({
    from: new Date(s.trafficAt.getTime() - 40_000).toISOString(),
    to: new Date(s.finishedAt.getTime() + 5_000).toISOString(),
    group: 'PROCESS', ...extra,
  });
  return `?${p.toString()}`;
}

async function summary(page: Page): Promise<Summary> {
  return page.evaluate(() => (window as unknown as { conntrail: { summary(): Summary } }).conntrail.summary());
}

/** Waits until the page has drawn after `renders` draws and is not loading; an error sentence fails at once. */
async function settled(page: Page, renders: number): Promise<number> {
  await page.waitForFunction((n) => (Number(document.body.dataset.renders ?? 0) > n && document.body.dataset.state === 'ready') || document.body.dataset.state === 'error',
    renders, { timeout: 180_000 });
  if ((await page.evaluate(() => document.body.dataset.state)) === 'error') assert.fail(`the page shows an error: ${await page.locator('#message').textContent()}`);
  return Number(await page.evaluate(() => document.body.dataset.renders));
}

async function signIn(page: Page): Promise<void> {
  await page.locator('#login').waitFor({ state: 'visible', timeout: 30_000 });
  await page.fill('#token', TOKEN);
  await page.click('#login button[type=submit]');
}

function countOf(label: string): number {
  const m = /^(\d+) conns? /.exec(`${label} `);
  assert.ok(m, `no connection count in the edge label "${label}"`);
  return Number(m[1]);
}

function trafficEdge(sum: Summary): Summary['edges'][number] | undefined {
  const label = (id: string): string => sum.nodes.find((n) => n.id === id)?.label ?? '';
  return sum.edges.find((e) => label(e.source).startsWith('traffic-client') && label(e.target).startsWith('traffic-server'));
}

test('the UI: map, scrubber, since-diff, details with the NAT hop, and a shared link', async (t) => {
  t.diagnostic(`screenshots in ${shots}`);
  const { addr, vipPort, serverPort } = s.topology;
  const context = await browser.newContext({ viewport: { width: 1500, height: 950 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(String(err)));

  // Without a token the API refuses: the page says so in a sentence and asks for the token.
  await page.goto(base() + viewQuery());
  await page.locator('#login').waitFor({ state: 'visible', timeout: 30_000 });
  assert.match(await page.locator('#message').textContent() ?? '', /needs a valid token/);
  await signIn(page);
  let renders = await settled(page, 0);

  // The map: the client program in the client's host box, the server program in the server's, one edge between
  // them labelled with the exact connection count and the NAT hop (VIP:port -> backend), drawn as NAT_RESOLVED.
  let sum = await summary(page);
  const edge = trafficEdge(sum);
  assert.ok(edge, JSON.stringify(sum, null, 2));
  const client = sum.nodes.find((n) => n.id === edge.source)!;
  const server = sum.nodes.find((n) => n.id === edge.target)!;
  assert.equal(client.label, `traffic-client [${s.client.pid}]`);
  assert.equal(server.label, `traffic-server [${s.serverPid}]`);
  assert.equal(client.parent, 'h:client');
  assert.equal(server.parent, 'h:server');
  assert.ok(sum.nodes.some((n) => n.id === 'h:client' && n.classes.includes('hostbox')));
  const hopText = `${addr.vip}:${vipPort} → ${addr.server}:${serverPort}`;
  assert.ok(edge.label.includes(hopText), edge.label);
  // The count drawn is the API's for that edge; and every connection the client program made is on the map,
  // on the matched edge or on a one-sided one (when a collector missed one end), each labelled with the NAT hop.
  const { talkers } = await s.graphql<{ talkers: { edges: Array<{ connections: number; client: { process: { name: string } | null }; server: { process: { name: string } | null } }> } }>(
    `query ($range: TimeRange!) { talkers(range: $range, groupBy: PROCESS, limit: 350) { edges { connections client { process { name } } server { process { name } } } } }`,
    { range: { from: new Date(s.trafficAt.getTime() - 40_000).toISOString(), to: new Date(s.finishedAt.getTime() + 5_000).toISOString() } });
  const apiEdge = talkers.edges.find((e) => e.client.process?.name === 'traffic-client' && e.server.process?.name === 'traffic-server')!;
  assert.equal(countOf(edge.label), apiEdge.connections, edge.label);
  const viaVip = sum.edges.filter((e) => e.label.includes(hopText)).reduce((n, e) => n + countOf(e.label), 0);
  assert.equal(viaVip, s.client.connections, JSON.stringify(sum.edges.map((e) => e.label)));
  assert.ok(edge.classes.includes('match-nat-resolved') || edge.classes.includes('match-both-ends'), edge.classes.join(' '));
  assert.ok(edge.classes.includes('nat'));
  await page.screenshot({ path: join(shots, '1-map.png') });

  // The scrubber at its first step (before the traffic started): the edge is gone; back to the whole range: it is back.
  await page.locator('#scrubber').fill('0');
  renders = await settled(page, renders);
  sum = await summary(page);
  assert.equal(trafficEdge(sum), undefined, 'the edge is drawn in a window before it existed');
  assert.match(page.url(), /[?&]at=/);
  await page.screenshot({ path: join(shots, '2-before.png') });
  await page.click('#whole');
  renders = await settled(page, renders);
  assert.ok(trafficEdge(await summary(page)));

  // Since the traffic started: the edge and both programs are marked new.
  const since = new Date(s.trafficAt.getTime() - 1000).toISOString().slice(0, 19);
  await page.fill('#since', since);
  renders = await settled(page, renders);
  sum = await summary(page);
  const fresh = trafficEdge(sum)!;
  assert.ok(fresh.classes.includes('new'), `the new edge is not marked: ${fresh.classes.join(' ')}`);
  assert.ok(sum.nodes.find((n) => n.id === fresh.target)!.classes.includes('new'));
  await page.screenshot({ path: join(shots, '3-since.png') });

  // Clicking the edge opens its details: counts, the NAT hop on the router, what the VIP resolved to.
  const at = await page.evaluate((id) => (window as unknown as { conntrail: { position(id: string): { x: number; y: number } | null } }).conntrail.position(id), fresh.id);
  assert.ok(at);
  const box = (await page.locator('#map').boundingBox())!;
  await page.mouse.click(box.x + at.x, box.y + at.y);
  await page.locator('#details .hop').first().waitFor({ timeout: 30_000 });
  const hop = await page.locator('#details .hop').first().textContent();
  assert.match(hop ?? '', new RegExp(`on router: ${addr.vip.replaceAll('.', '\\.')}:${vipPort} → ${addr.server.replaceAll('.', '\\.')}:${serverPort}`));
  await page.waitForFunction(() => /BACKEND|backend/.test(document.querySelector('#details .resolve')?.textContent ?? ''), undefined, { timeout: 30_000 });
  assert.match(await page.locator('#details .resolve').textContent() ?? '', new RegExp(`backend ${addr.server.replaceAll('.', '\\.')}:${serverPort} on server`));
  await page.locator('#details table.rows tbody tr').first().waitFor({ timeout: 30_000 });
  assert.match(page.url(), /[?&]sel=e%3A/);
  await page.screenshot({ path: join(shots, '4-details.png') });

  // The link restores the view in a fresh browser (after signing in there): range, grouping, diff, selection.
  const link = page.url();
  const other = await (await browser.newContext({ viewport: { width: 1500, height: 950 } })).newPage();
  await other.goto(link);
  await signIn(other);
  await settled(other, 0);
  const restored = await summary(other);
  const again = trafficEdge(restored);
  assert.ok(again?.classes.includes('new'));
  assert.deepEqual(restored.edges.map((e) => e.id).sort(), sum.edges.map((e) => e.id).sort());
  assert.equal(await other.inputValue('#since'), since);
  assert.equal(await other.inputValue('#group'), 'PROCESS');
  await other.locator('#details .hop').first().waitFor({ timeout: 30_000 });
  assert.equal(await other.locator('#details .hop').first().textContent(), hop);
  await other.screenshot({ path: join(shots, '5-restored.png') });
  assert.deepEqual(problems, []);
  await context.close();
});
