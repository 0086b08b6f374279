/**
 * Test harness: a real embedded store seeded with the scenario, the API started on a free port, GraphQL over
 * real HTTP, and the SQL each operation issued (seen by the reader's QueryObserver) compared with a stored
 * expectation under test/api/__snapshots__/ (UPDATE_SNAPSHOTS=1 rewrites it).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApiServer, type ApiServer, type ApiServerOptions } from '../../src/api/index.js';
import { SnapshotWriter, type Store } from '../../src/store/index.js';
import { freshStore, testLog } from '../helpers/env.js';
import { scenarioSnapshots } from './scenario.js';

export interface GqlResponse {
  readonly status: number;
  readonly body: { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: { code?: string } }[] } & Record<string, unknown>;
}

export interface Harness {
  readonly store: Store;
  readonly api: ApiServer;
  readonly url: string;
  gql(query: string, variables?: Record<string, unknown>, options?: { token?: string }): Promise<GqlResponse>;
  post(body: unknown, headers?: Record<string, string>): Promise<{ status: number; json: unknown }>;
  /** Runs fn and returns the statements the reader issued meanwhile, whitespace-normalised. */
  recordSql(fn: () => Promise<unknown>): Promise<string[]>;
  close(): Promise<void>;
}

export async function startHarness(options: Partial<Omit<ApiServerOptions, 'reader' | 'log'>> = {}): Promise<Harness> {
  let recording: string[] | null = null;
  const { store, dispose } = await freshStore({ observer: (sql) => recording?.push(sql.replace(/\s+/g, ' ').trim()) });
  let api: ApiServer | null = null;
  try {
    const writer = new SnapshotWriter(store.writer);
    for (const s of scenarioSnapshots()) {
      const result = await writer.write(s);
      assert.deepEqual(result.rejected, [], `scenario snapshot ${s.hostId}@${s.timeMs} had rejected rows`);
    }
    api = createApiServer({ reader: store.reader, log: testLog, port: 0, env: {}, ...options });
    const address = await api.start();
    const started = api;
    const post = async (body: unknown, headers: Record<string, string> = {}) => {
      const res = await fetch(address.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
      return { status: res.status, json: await res.json() as unknown };
    };
    return {
      store, api: started, url: address.url, post,
      async gql(query, variables = {}, opts = {}) {
        const headers: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
        const { status, json } = await post({ query, variables }, headers);
        return { status, body: json as GqlResponse['body'] };
      },
      async recordSql(fn) {
        recording = [];
        try {
          await fn();
          return recording;
        } finally {
          recording = null;
        }
      },
      async close() {
        await started.stop();
        await dispose();
      },
    };
  } catch (err) {
    await api?.stop().catch(() => undefined);
    await dispose();
    throw err;
  }
}

/** Compares statements with the stored expectation for `name` in the given snapshot file. */
export function expectSqlSnapshot(file: string, name: string, statements: readonly string[]): void {
  const path = fileURLToPath(new URL(`../../../test/api/__snapshots__/${file}`, import.meta.url));
  const stored: Record<string, string[]> = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) as Record<string, string[]> : {};
  if (process.env.UPDATE_SNAPSHOTS === '1') {
    stored[name] = [...statements];
    mkdirSync(dirname(path), { recursive: true });
    const sorted = Object.fromEntries(Object.entries(stored).sort(([a], [b]) => (a < b ? -1 : 1)));
    writeFileSync(path, `${JSON.stringify(sorted, null, 2)}\n`);
    return;
  }
  assert.ok(stored[name], `no stored SQL expectation "${name}" in ${file}: run with UPDATE_SNAPSHOTS=1 and review the diff`);
  assert.deepEqual(statements, stored[name], `SQL issued by "${name}" differs from the stored expectation (an N+1 shows here)`);
}

export function data<T = Record<string, unknown>>(res: GqlResponse): T {
  assert.equal(res.body.errors, undefined, `unexpected errors: ${JSON.stringify(res.body.errors)}`);
  assert.equal(res.status, 200);
  return res.body.data as T;
}

export function errorCodes(res: GqlResponse): (string | undefined)[] {
  return (res.body.errors ?? []).map((e) => e.extensions?.code);
}
