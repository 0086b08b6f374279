import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { describe, it } from 'node:test';
import { ensureHelper } from './support.js';

/** The helper binary as a program: its options, exit codes, and clean stops (SIGTERM, EOF, closed stdout). */

function exitOf(child: ChildProcess, timeoutMs: number): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`helper did not exit within ${timeoutMs} ms`)); }, timeoutMs);
    child.once('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal }); });
  });
}

/** Starts the helper and resolves with everything it printed up to and including its header line. */
function startHelper(args: readonly string[] = []): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(ensureHelper(), [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr?.on('data', (c: Buffer) => { err += c.toString(); });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`no header: ${err}`)); }, 30_000);
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve({ child, output: () => out });
      }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`helper exited ${String(code)}: ${err}`)); });
  });
}

describe('conntrail-bpf helper program', () => {
  it('prints its format version and refuses bad arguments with exit code 64', () => {
    const helper = ensureHelper();
    const version = spawnSync(helper, ['--format-version'], { encoding: 'utf8' });
    assert.equal(version.status, 0);
    assert.equal(version.stdout.trim(), '1');
    const bad = spawnSync(helper, ['--interval-ms', 'soon'], { encoding: 'utf8' });
    assert.equal(bad.status, 64);
    assert.match(bad.stderr, /conntrail-bpf: bad --interval-ms: soon/);
  });

  it('starts with a version-1 header and stops cleanly on SIGTERM', async () => {
    const { child, output } = await startHelper();
    assert.match(output(), /^H\tconntrail-bpf\t1\t\d+\ttcp,udp(,udp-local)?(,syscalls)?\n/);
    child.kill('SIGTERM');
    assert.deepEqual(await exitOf(child, 10_000), { code: 0, signal: null });
  });

  it('answers dump requests with an end marker, and stops at EOF on stdin', async () => {
    const { child, output } = await startHelper();
    child.stdin?.write('dump 42\n');
    const deadline = Date.now() + 10_000;
    while (!/\nE\t42\t\d+\t\d+\n/.test(output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.match(output(), /\nS\t\d+\t\d+\t\d+\t\d+\nE\t42\t\d+\t\d+\n/);
    child.stdin?.end();
    assert.deepEqual(await exitOf(child, 10_000), { code: 0, signal: null });
  });

  it('dumps on its own with --interval-ms', async () => {
    const { child, output } = await startHelper(['--interval-ms', '100', '--no-stdin']);
    const deadline = Date.now() + 10_000;
    while ((output().match(/\nE\t-\t/g) ?? []).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok((output().match(/\nE\t-\t/g) ?? []).length >= 2, output());
    child.kill('SIGINT');
    assert.deepEqual(await exitOf(child, 10_000), { code: 0, signal: null });
  });

  it('exits cleanly, not by SIGPIPE, when its reader goes away', async () => {
    const { child } = await startHelper();
    child.stdout?.destroy();
    child.stdin?.write('dump 1\n'); // makes it write into the closed pipe
    assert.deepEqual(await exitOf(child, 10_000), { code: 0, signal: null });
  });
});
