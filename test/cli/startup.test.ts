import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/env.js';

/**
 * The real command line in a real process: a start that cannot succeed exits non-zero and closes what it
 * opened (the embedded store's SQL endpoint among them), and SIGTERM ends a running command.
 */
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
/** Generous: the embedded engine starts in a few seconds on a loaded machine. */
const WAIT_MS = 90_000;

interface Run {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string } | 'still running'>;
  stderr(): string;
}

function run(args: string[], env: Record<string, string> = {}): Run {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'API_TOKEN' && k !== 'DATABASE_URL')) as Record<string, string>;
  const child = spawn(process.execPath, [MAIN, ...args], { env: { ...base, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString('utf8'); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string } | 'still running'>((resolve) => {
    const timer = setTimeout(() => resolve('still running'), WAIT_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      // Let the last stderr chunks arrive.
      setImmediate(() => resolve({ code, signal, stderr: err }));
    });
  });
  return { child, exited, stderr: () => err };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

async function finish(r: Run): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const result = await r.exited;
  if (result === 'still running') {
    r.child.kill('SIGKILL');
    assert.fail(`the command did not exit within ${WAIT_MS / 1000} s; stderr:\n${r.stderr().slice(-2000)}`);
  }
  return result;
}

test('serve --listen 0.0.0.0 without API_TOKEN exits non-zero before opening anything', { timeout: 180_000 }, async () => {
  const dir = tempDir('cli-token');
  const sqlPort = await freePort();
  try {
    const r = run(['serve', '--listen', '0.0.0.0', '--port', '0', '--data-dir', dir.path, '--sql-port', String(sqlPort)]);
    const result = await finish(r);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /TOKEN_REQUIRED/);
    assert.match(result.stderr, /API_TOKEN/);
    assert.equal(await accepts(sqlPort), false, 'no SQL endpoint is left open');
  } finally {
    dir.remove();
  }
});

test('a start that fails after the store opened (API port busy, spool unusable) closes the store and exits non-zero', { timeout: 300_000 }, async () => {
  const dir = tempDir('cli-fail');
  const blocker: Server = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  try {
    const busy = (blocker.address() as { port: number }).port;
    const sqlPort = await freePort();
    const serve = run(['serve', '--port', String(busy), '--data-dir', join(dir.path, 'a'), '--sql-port', String(sqlPort)]);
    const served = await finish(serve);
    assert.equal(served.code, 1, served.stderr);
    assert.match(served.stderr, /EADDRINUSE/);
    assert.match(served.stderr, /embedded store ready/, 'the store had been opened before the failure');
    assert.equal(await accepts(sqlPort), false);

    // A spool directory that cannot be created (a file stands in its way): the collector fails after the store opened.
    const blocked = join(dir.path, 'not-a-dir');
    writeFileSync(blocked, 'x');
    const collectPort = await freePort();
    const collect = run(['collect', '--source', 'procfs', '--metrics-port', '0', '--data-dir', join(dir.path, 'b'), '--sql-port', String(collectPort),
      '--spool-dir', join(blocked, 'spool')]);
    const collected = await finish(collect);
    assert.equal(collected.code, 1, collected.stderr);
    assert.match(collected.stderr, /SPOOL_IO/);
    assert.match(collected.stderr, /embedded store ready/);
  } finally {
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    dir.remove();
  }
});

test('SIGTERM ends a running serve and its SQL endpoint', { timeout: 300_000 }, async () => {
  const dir = tempDir('cli-term');
  try {
    const sqlPort = await freePort();
    const r = run(['serve', '--port', '0', '--data-dir', dir.path, '--sql-port', String(sqlPort)]);
    const deadline = Date.now() + WAIT_MS;
    while (!/API ready/.test(r.stderr()) && r.child.exitCode === null && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
    assert.match(r.stderr(), /API ready/);
    assert.equal(await accepts(sqlPort), true);
    r.child.kill('SIGTERM');
    // The process must end; the orderly stop of the embedded store can still overrun the grace period, in which
    // case main.ts exits 1 (see the report of this branch): the status is not asserted here.
    await finish(r);
    assert.equal(await accepts(sqlPort), false);
  } finally {
    dir.remove();
  }
});
