import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SocketObservation } from '../../../src/domain/connection.js';
import type { SourceRun } from '../../../src/domain/snapshot.js';
import type { ConnectionSource, SourceReading } from '../../../src/collector/source.js';
import { findPackageRoot } from '../../../src/collector/sources/ebpf/helper-path.js';
import { ProcfsSource } from '../../../src/collector/sources/procfs-source.js';
import { testLog } from '../../helpers/env.js';

/** Shared by the eBPF tests: the helper binary (built on demand), child processes, a real /proc source. */

export function repoRoot(): string {
  const root = findPackageRoot();
  if (root === null) throw new Error('package root not found');
  return root;
}

/** The helper, built with `make -C bpf` if absent. Throws (the test fails) when it cannot be built. */
export function ensureHelper(): string {
  const root = repoRoot();
  const helper = join(root, 'bpf', 'conntrail-bpf');
  if (!existsSync(helper)) {
    const out = execFileSync('make', ['-C', join(root, 'bpf')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (!existsSync(helper)) throw new Error(`eBPF helper could not be built: ${out.trim()}`);
  }
  return helper;
}

export function fixturePath(name: string): string {
  return join(repoRoot(), 'test', 'fixtures', 'ebpf', name);
}

/** Compiles a C fixture into `dir` with the toolchain the helper needs anyway (cc, else clang). */
export function compileFixture(name: string, dir: string): string {
  const out = join(dir, name.replace(/\.c$/, ''));
  let lastError: unknown = null;
  for (const cc of [process.env.CC, 'cc', 'clang'].filter((c): c is string => c !== undefined && c.length > 0)) {
    try {
      execFileSync(cc, ['-O1', '-o', out, fixturePath(name)], { stdio: ['ignore', 'pipe', 'pipe'] });
      return out;
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`cannot compile ${name}: ${String(lastError)}`);
}

/** A node child running `script` (ESM source), optionally under a command prefix; talks JSON lines. */
export interface NodeChild {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The next JSON line the child prints. */
  nextJson<T>(timeoutMs?: number): Promise<T>;
  /** Closes its stdin (the scripts exit then) and waits for it to exit. */
  finish(timeoutMs?: number): Promise<void>;
}

export function nodeChild(script: string, args: readonly string[] = [], prefix: readonly string[] = []): NodeChild {
  const argv = [process.execPath, '--input-type=module', '-e', script, ...args];
  // A prefix like `ip netns exec NS` execs node in place, so the pid stays the node process's.
  const [cmd, ...rest] = [...prefix, ...argv] as [string, ...string[]];
  return spawnChild(cmd, rest);
}

/** Any program that prints JSON lines and exits at EOF on stdin (as the node scripts and C fixtures do). */
export function spawnChild(cmd: string, args: readonly string[]): NodeChild {
  const child = spawn(cmd, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let buf = '';
  let stderr = '';
  const lines: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiters.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (c: string) => { stderr += c; });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.pid === undefined) throw new Error('child did not start');
  return {
    child,
    pid: child.pid,
    nextJson<T>(timeoutMs = 60_000): Promise<T> {
      const queued = lines.shift();
      if (queued !== undefined) return Promise.resolve(JSON.parse(queued) as T);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`child printed nothing in ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
        child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`child exited (${String(code)}): ${stderr}`)); });
        waiters.push((line) => { clearTimeout(timer); resolve(JSON.parse(line) as T); });
      });
    },
    async finish(timeoutMs = 10_000): Promise<void> {
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Reads `source` until `done(all observations so far)` or the deadline; returns everything read. */
export async function readUntil(source: ConnectionSource, done: (all: SocketObservation[]) => boolean, timeoutMs = 10_000):
  Promise<{ observations: SocketObservation[]; runs: SourceRun[]; readings: SourceReading[] }> {
  const observations: SocketObservation[] = [];
  const runs: SourceRun[] = [];
  const readings: SourceReading[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await source.read(AbortSignal.timeout(15_000));
    readings.push(r);
    runs.push(r.run);
    observations.push(...r.observations);
    if (done(observations) || Date.now() > deadline) return { observations, runs, readings };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The project's /proc connection source (the fallback of the supervision tests), for our namespace. */
export function procfsSource(): ConnectionSource {
  return new ProcfsSource({ netns: 'self', logger: testLog });
}

/** A /proc scan as the eBPF source's initial state, as the collector wires it. */
export function procfsInitialState(): () => Promise<readonly SocketObservation[]> {
  return async () => {
    const scan = procfsSource();
    try {
      return (await scan.read(AbortSignal.timeout(15_000))).observations;
    } finally {
      await scan.close();
    }
  };
}

export function run(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, [...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs cmd and ignores failure (cleanup paths). */
export function runQuiet(cmd: string, args: readonly string[]): void {
  try {
    execFileSync(cmd, [...args], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}
