import { spawn } from 'node:child_process';
import type { Command } from './command.js';

/** Runs a command to completion, collecting its output; never rejects (spawn failures are in `error`). */

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Spawn failure (e.g. ENOENT), timeout or abort. */
  readonly error: string | null;
}

export interface RunOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export function runCommand(command: Command, options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let error: string | null = null;
    let settled = false;
    const child = spawn(command.file, [...command.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const kill = (why: string): void => {
      error = why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => kill(`timed out after ${options.timeoutMs} ms`), options.timeoutMs ?? 30_000);
    const onAbort = (): void => kill('aborted');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ code, signal, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), error });
    };
    child.on('error', (err) => {
      error = err.message;
      finish(null, null);
    });
    child.on('close', finish);
  });
}
