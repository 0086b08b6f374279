#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { UsageError, parseCommand, type Command } from './args.js';
import { createLog } from './log.js';
import { runMigrate, runSql } from './commands/store-commands.js';
import { runCollect, runServe, runUp } from './compose.js';

/** How long an orderly stop may take after the first signal before the process exits anyway. */
const STOP_GRACE_MS = 30_000;

/**
 * Resolves on the first SIGINT/SIGTERM, so every long-running command shuts down the same way. A signal always
 * ends the process: a stop that hangs (a start still in progress, a store that does not close) is cut short
 * after STOP_GRACE_MS.
 */
function interrupted(): Promise<void> {
  return new Promise((resolve) => {
    // One handler for good: removing and re-adding signal listeners while a signal is being delivered would
    // deliver that same signal to the new listener.
    let received: NodeJS.Signals | null = null;
    const onSignal = (signal: NodeJS.Signals): void => {
      // A repeated signal changes nothing: the grace timer below already bounds the stop. (Exiting on a second
      // signal was tried: during the embedded store's stop the process sees SIGTERM again, cause not found yet.)
      if (received !== null) return;
      received = signal;
      setTimeout(() => {
        process.stderr.write(`conntrail: still stopping ${STOP_GRACE_MS / 1000} s after ${signal}, exiting now\n`);
        process.exit(1);
      }, STOP_GRACE_MS).unref();
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** The version of the package this file was built from (package.json sits three levels above dist/src/cli). */
function readVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

async function execute(command: Command): Promise<number> {
  const log = createLog('conntrail');
  switch (command.name) {
    case 'help':
      process.stdout.write(`${command.text}\n`);
      return 0;
    case 'version':
      process.stdout.write(`conntrail ${readVersion()}\n`);
      return 0;
    case 'migrate':
      await runMigrate(command.store, log);
      return 0;
    case 'sql':
      await runSql(command.store, log, interrupted());
      return 0;
    case 'query':
      // Loaded here: GraphQL is not needed by the long-running commands' memory (the collector's above all).
      return (await import('./commands/query.js')).runQuery(command);
    case 'up':
      await runUp(command, log, interrupted());
      return 0;
    case 'collect':
      await runCollect(command, log, interrupted());
      return 0;
    case 'serve':
      await runServe(command, log, interrupted());
      return 0;
  }
}

async function main(): Promise<void> {
  let command: Command;
  try {
    command = parseCommand(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof UsageError) {
      // The error and where to read more; the whole help text would bury the one line that matters.
      process.stderr.write(`conntrail: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  try {
    process.exitCode = await execute(command);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`conntrail ${command.name}: ${err.message}\n`);
      process.exit(2);
    }
    const e = err as { code?: string; message?: string; context?: unknown };
    process.stderr.write(`conntrail ${command.name}: ${e.code ? `[${e.code}] ` : ''}${e.message ?? String(err)}${e.context ? ` ${JSON.stringify(e.context)}` : ''}\n`);
    // Whatever the command opened was closed on the way out (compose.ts); a failed start never lingers.
    process.exit(1);
  }
  // Handles left by libraries (pools, workers) must not keep a finished command alive.
  if (command.name !== 'up' && command.name !== 'collect' && command.name !== 'serve' && command.name !== 'sql') process.exit(process.exitCode ?? 0);
}

void main();
