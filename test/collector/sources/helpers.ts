import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Small real-process helpers for the live source tests (no mocks: real children, sockets, namespaces). */

/** Polls `check` every `everyMs` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5_000, everyMs = 10): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface NodeChild {
  readonly child: ChildProcess;
  /** The JSON lines the child printed, in order. */
  readonly messages: unknown[];
  next(timeoutMs?: number): Promise<unknown>;
  /** The first message (seen so far or to come) that satisfies `match`. */
  message<T>(match: (m: T) => boolean, timeoutMs?: number): Promise<T>;
  kill(): Promise<void>;
}

/**
 * Runs `node -e code` (optionally prefixed, e.g. with `ip netns exec NAME`); the child reports through
 * JSON lines on stdout and exits when its stdin closes.
 */
export function spawnNode(code: string, prefix: readonly string[] = []): NodeChild {
  const argv = [...prefix, process.execPath, '-e', code];
  const child = spawn(argv[0] ?? process.execPath, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  const messages: unknown[] = [];
  let read = 0;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      messages.push(JSON.parse(line));
    } catch {
      messages.push(line);
    }
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once('exit', () => resolve());
  });
  return {
    child,
    messages,
    async next(timeoutMs = 10_000) {
      await waitFor('a message from the child', () => messages.length > read, timeoutMs);
      return messages[read++];
    },
    message<T>(match: (m: T) => boolean, timeoutMs = 10_000) {
      return waitFor('a matching message from the child', () => messages.find((m) => match(m as T)) as T | undefined, timeoutMs);
    },
    async kill() {
      child.stdin?.end();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Runs a command synchronously, throwing with its stderr on failure. */
export function sh(file: string, ...args: string[]): string {
  return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A fresh network namespace with loopback up; `remove` deletes it (and so its veths and rules). */
export function createNetns(prefix: string): { readonly name: string; readonly path: string; remove(): void } {
  const name = `${prefix}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  sh('ip', 'netns', 'add', name);
  sh('ip', '-n', name, 'link', 'set', 'lo', 'up');
  return {
    name,
    path: `/var/run/netns/${name}`,
    remove() {
      // Processes still inside keep the namespace alive but not its name; callers kill them first.
      try {
        sh('ip', 'netns', 'del', name);
      } catch {
        // already gone
      }
    },
  };
}
