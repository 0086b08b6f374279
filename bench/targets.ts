import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../src/store/index.js';
import { silentLog } from './log.js';

/**
 * Where a bench runs: the embedded store (a fresh data dir), a TimescaleDB server, or both one after the other
 * (their figures are then printed side by side). A server is reached exactly as `conntrail up --database-url`
 * reaches it (openStore in server mode, the owner, writer and reader logins through pg), so the measured path
 * is the production one. The server's database must be a scratch one: the bench writes its generated history
 * there and refuses a database that already holds connection rows.
 *
 * Options (or the environment): --database-url (CONNTRAIL_BENCH_DATABASE_URL), the owner's login;
 * --writer-url (CONNTRAIL_BENCH_WRITER_URL) and --reader-url (CONNTRAIL_BENCH_READER_URL), the conntrail_writer
 * and conntrail_reader logins; --server-only skips the embedded store.
 */
export interface BenchTarget {
  readonly name: 'embedded' | 'server';
  open(): Promise<OpenTarget>;
}

export interface OpenTarget {
  readonly store: Store;
  dispose(): Promise<void>;
}

export class BenchOptionError extends Error {}

/** The value of `--name value` or `--name=value` among a bench's options. */
export function optionValue(options: readonly string[], name: string): string | undefined {
  for (let i = 0; i < options.length; i++) {
    const o = options[i]!;
    if (o === `--${name}`) {
      const v = options[i + 1];
      if (v === undefined || v.startsWith('--')) throw new BenchOptionError(`--${name} needs a value`);
      return v;
    }
    if (o.startsWith(`--${name}=`)) return o.slice(name.length + 3);
  }
  return undefined;
}

/** Options handed by bench/run.ts are strings; a bench called from code may pass an object instead. */
export function stringOptions(options: unknown): readonly string[] {
  return Array.isArray(options) ? options.filter((o): o is string => typeof o === 'string') : [];
}

export function benchTargets(options: readonly string[], env: Readonly<Record<string, string | undefined>> = process.env): BenchTarget[] {
  const databaseUrl = optionValue(options, 'database-url') ?? env.CONNTRAIL_BENCH_DATABASE_URL;
  const writerUrl = optionValue(options, 'writer-url') ?? env.CONNTRAIL_BENCH_WRITER_URL;
  const readerUrl = optionValue(options, 'reader-url') ?? env.CONNTRAIL_BENCH_READER_URL;
  const serverOnly = options.includes('--server-only');
  const targets: BenchTarget[] = [];
  if (!serverOnly) targets.push({ name: 'embedded', open: openEmbedded });
  if (databaseUrl || writerUrl || readerUrl) {
    if (!databaseUrl || !writerUrl || !readerUrl) {
      throw new BenchOptionError('a server needs all three logins: --database-url (owner), --writer-url (conntrail_writer), --reader-url (conntrail_reader)');
    }
    targets.push({ name: 'server', open: () => openServer(databaseUrl, writerUrl, readerUrl) });
  } else if (serverOnly) {
    throw new BenchOptionError('--server-only needs --database-url, --writer-url and --reader-url');
  }
  return targets;
}

async function openEmbedded(): Promise<OpenTarget> {
  const dir = mkdtempSync(join(tmpdir(), 'conntrail-bench-'));
  const store = await openStore({ dataDir: dir, sqlPort: 0, maintenance: false, statementTimeoutMs: 0 }, silentLog);
  return {
    store,
    async dispose() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function openServer(databaseUrl: string, writerUrl: string, readerUrl: string): Promise<OpenTarget> {
  const store = await openStore({ databaseUrl, writerUrl, readerUrl, maintenance: false, statementTimeoutMs: 0 }, silentLog);
  try {
    const { rows } = await store.admin.query<{ used: boolean }>('SELECT EXISTS (SELECT 1 FROM conntrail.connections) AS used');
    if (rows[0]?.used) throw new BenchOptionError('the server database already holds connection rows: benchmarks write their own history, give them a scratch database');
  } catch (err) {
    await store.close();
    throw err;
  }
  return { store, dispose: () => store.close() };
}

/** Prints figures of several targets side by side: one line per measurement, one column per target. */
export function sideBySide(report: (line: string) => void, names: readonly string[], figures: readonly ReadonlyMap<string, string>[]): void {
  const labels = [...new Set(figures.flatMap((f) => [...f.keys()]))];
  const width = Math.max(...labels.map((l) => l.length));
  const columns = names.map((n, i) => Math.max(n.length, ...labels.map((l) => (figures[i]?.get(l) ?? '-').length)));
  report(`  ${''.padEnd(width)} | ${names.map((n, i) => n.padEnd(columns[i]!)).join(' | ')}`);
  for (const label of labels) report(`  ${label.padEnd(width)} | ${figures.map((f, i) => (f.get(label) ?? '-').padEnd(columns[i]!)).join(' | ')}`);
}
