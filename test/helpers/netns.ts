import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A fresh network namespace with loopback up and conntrack switched on (a NAT table rule loads its hooks). */
export interface Namespace {
  readonly name: string;
  exec(command: string, args: readonly string[], timeoutMs?: number): Promise<string>;
  spawn(command: string, args: readonly string[]): ChildProcess;
  remove(): Promise<void>;
}

export async function createNamespace(prefix: string): Promise<Namespace> {
  const name = `${prefix}${process.pid % 100000}`;
  const remove = async (): Promise<void> => {
    const pids = await run('ip', ['netns', 'pids', name]).then((r) => r.stdout.split('\n').filter(Boolean), () => []);
    for (const pid of pids) {
      try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
    }
    await run('ip', ['netns', 'del', name]).catch(() => undefined);
  };
  await remove();
  await run('ip', ['netns', 'add', name]);
  try {
    await run('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
    await run('ip', ['netns', 'exec', name, 'iptables', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '--dport', '9', '-j', 'RETURN']);
  } catch (err) {
    await remove();
    throw err;
  }
  return {
    name,
    async exec(command, args, timeoutMs = 30_000) {
      const { stdout } = await run('ip', ['netns', 'exec', name, command, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
      return stdout;
    },
    spawn(command, args) {
      return spawn('ip', ['netns', 'exec', name, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    },
    remove,
  };
}

/** Polls until check returns a value (not undefined), or fails with the last problem after timeoutMs. */
export async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
