import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/env.js';

/**
 * A real `conntrail collect` process: /healthz says how old the newest stored snapshot is, how deep the spool is and
 * which source is in use; /metrics has the collector's counters. With the store unreachable the snapshots go to the
 * spool and /healthz turns 503.
 */
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const WAIT_MS = 120_000;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

interface Health { status: string; lastSnapshotTime: string | null; lastSnapshotAgeSeconds: number | null; spoolDepth: number; source: string; intervalSeconds: number }

async function health(port: number): Promise<{ code: number; body: Health } | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    return { code: res.status, body: await res.json() as Health };
  } catch {
    return null;
  }
}

async function until(port: number, what: string, ok: (h: { code: number; body: Health }) => boolean, child: ChildProcess, stderr: () => string): Promise<{ code: number; body: Health }> {
  const deadline = Date.now() + WAIT_MS;
  let last: { code: number; body: Health } | null = null;
  while (Date.now() < deadline && child.exitCode === null) {
    last = await health(port);
    if (last && ok(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.fail(`${what}: last /healthz ${JSON.stringify(last)}; stderr:\n${stderr().slice(-2000)}`);
}

function collect(args: string[]): { child: ChildProcess; stderr: () => string; stop(): Promise<void> } {
  const child = spawn(process.execPath, [MAIN, 'collect', '--source', 'procfs', '--interval', '1s', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString('utf8'); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child, stderr: () => err,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

test('collector /healthz: ok with the age of the newest stored snapshot and the source in use; /metrics alongside', { timeout: 300_000 }, async () => {
  const dir = tempDir('health-ok');
  const port = await freePort();
  const run = collect(['--metrics-port', String(port), '--data-dir', dir.path, '--sql-port', String(await freePort())]);
  try {
    const ok = await until(port, 'a stored snapshot', (h) => h.body.status === 'ok', run.child, run.stderr);
    assert.equal(ok.code, 200);
    assert.equal(ok.body.source, 'procfs');
    assert.equal(ok.body.intervalSeconds, 1);
    // On a loaded machine a tick can overrun and its snapshot wait in the spool: a count, not necessarily 0.
    assert.ok(Number.isInteger(ok.body.spoolDepth) && ok.body.spoolDepth >= 0);
    assert.ok(ok.body.lastSnapshotTime !== null && Date.parse(ok.body.lastSnapshotTime) % 1000 === 0, 'a snapshot time is an interval boundary');
    assert.ok(ok.body.lastSnapshotAgeSeconds !== null && ok.body.lastSnapshotAgeSeconds >= 0);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^conntrail_collector_snapshots_total\{outcome="written"\} [1-9]/m);
  } finally {
    await run.stop();
    dir.remove();
  }
});

test('collector /healthz: the store unreachable, snapshots go to the spool and the collector reports stale (503)', { timeout: 300_000 }, async () => {
  const dir = tempDir('health-stale');
  const port = await freePort();
  const run = collect(['--metrics-port', String(port), '--database-url', `postgres://nobody:x@127.0.0.1:${await freePort()}/conntrail`, '--spool-dir', join(dir.path, 'spool')]);
  try {
    const stale = await until(port, 'a stale report', (h) => h.body.status === 'stale', run.child, run.stderr);
    assert.equal(stale.code, 503);
    assert.equal(stale.body.lastSnapshotTime, null);
    assert.ok(stale.body.spoolDepth > 0, 'the snapshots wait in the spool');
  } finally {
    await run.stop();
    dir.remove();
  }
});
