import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Topology } from './topology.js';

/**
 * conntrail deployed on a three-host topology as real processes, the way an operator runs it:
 * `conntrail up` on the router (embedded store, API, SQL endpoint over the veth links) and
 * `conntrail collect` on the client and the server writing to it. Shared by the e2e test, `npm run demo`
 * and the truth bench; `source` picks the collectors' source mode (`--source`).
 */
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export const TOKEN = 'e2e-token-0123456789abcdef';
/** Each SQL login has its own secret, given to `conntrail up` through its environment variable. */
export const READER_PASSWORD = 'e2e-reader-secret';
export const WRITER_PASSWORD = 'e2e-writer-secret';
export const API_PORT = 4000;
export const SQL_PORT = 5433;

export type Say = (line: string) => void;
export type SourceMode = 'auto' | 'ebpf' | 'procfs';

export interface DeployOptions {
  readonly intervalS: number;
  readonly source?: SourceMode;
}

export interface Deployment {
  /** Pids of conntrail's own processes (their connections to the store are not the scenario's traffic). */
  readonly pids: readonly number[];
  graphql<T>(query: string, variables?: Record<string, unknown>): Promise<T>;
  sqlAsReader<T extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<T[]>;
  /** The last lines a conntrail process wrote to stderr (for failure messages). */
  log(name: 'router' | 'client' | 'server'): string;
  /** Stops the processes and removes the data; the topology stays. Safe to call twice. */
  dispose(): Promise<void>;
}

/** The first line a child prints (programs announce themselves with one JSON line). */
export function waitForLine(child: ChildProcess, what: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`${what}: no output within ${timeoutMs} ms`)), timeoutMs);
    const onData = (d: Buffer): void => {
      buffer += d.toString();
      const nl = buffer.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        resolve(buffer.slice(0, nl));
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}`));
    });
  });
}

/** Polls until check returns a value (not undefined), or fails with the last problem after timeoutMs. */
export async function poll<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/**
 * One POST to the API. A request that got no response at all ("fetch failed": the connection was reset or
 * refused) is sent again, a few times: on a loaded machine a pooled keep-alive connection can be closed
 * by the server's idle timer just as it is reused. Every e2e request is a query, so resending it is safe;
 * any response, error or not, is final. When it keeps failing, the error says why and whether the router
 * process is still alive (`routerGone` returns its exit and log once it has ended).
 */
async function postGraphql(url: string, body: string, routerGone: () => string | null): Promise<Response> {
  const attempts = 4;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body });
    } catch (err) {
      const gone = routerGone();
      if (gone !== null || attempt >= attempts) {
        const cause = err instanceof Error && err.cause !== undefined ? ` (cause: ${String(err.cause)})` : '';
        throw new Error(`POST ${url} failed after ${attempt} attempt(s): ${String(err)}${cause}${gone !== null ? `\n${gone}` : ''}`);
      }
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}

export async function deployConntrail(topology: Topology, options: DeployOptions, say: Say): Promise<Deployment> {
  const dataDir = mkdtempSync(join(tmpdir(), 'conntrail-e2e-'));
  const children: ChildProcess[] = [];
  const logs = new Map<string, string>();
  const { ns, addr } = topology;
  const apiUrl = `http://${addr.routerManagement}:${API_PORT}/graphql`;
  const readerPool = new pg.Pool({ host: addr.routerManagement, port: SQL_PORT, user: 'conntrail_reader', password: READER_PASSWORD, database: 'postgres', max: 1 });
  readerPool.on('error', () => undefined);
  const sourceArgs = options.source ? ['--source', options.source] : [];
  let disposed = false;

  const dispose = async (): Promise<void> => {
    if (disposed) return;
    disposed = true;
    for (const c of children) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await readerPool.end().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  };

  const spawnLogged = (name: string, nsName: string, args: string[], env: Record<string, string> = {}): ChildProcess => {
    const child = topology.spawnIn(nsName, process.execPath, args, { env: { ...process.env, ...env } });
    children.push(child);
    logs.set(name, '');
    child.stderr?.on('data', (d: Buffer) => logs.set(name, ((logs.get(name) ?? '') + d.toString()).slice(-20_000)));
    return child;
  };

  const graphql = async <T>(query: string, variables: Record<string, unknown> = {}): Promise<T> => {
    const res = await postGraphql(apiUrl, JSON.stringify({ query, variables }), () => {
      const router = children[0];
      return router === undefined || (router.exitCode === null && router.signalCode === null)
        ? null
        : `the router process ended (${router.exitCode ?? router.signalCode})\n--- router log ---\n${logs.get('router') ?? ''}`;
    });
    const body = (await res.json()) as { data?: T; errors?: unknown[] };
    if (body.errors) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
    return body.data as T;
  };

  try {
    say(`starting conntrail up on the router (embedded store, API, SQL endpoint on the veth links)${options.source ? `, --source ${options.source}` : ''}`);
    // --dns snoop: reverse lookups are traffic of their own (the collector's PTR queries to the resolver), and this rig
    // counts every flow of its workloads exactly.
    spawnLogged('router', ns.router, [MAIN, 'up', '--data-dir', join(dataDir, 'router'), '--host-id', 'router', '--netns', 'self', '--dns', 'snoop',
      '--interval', String(options.intervalS), '--listen', addr.routerManagement, '--port', String(API_PORT), ...sourceArgs,
      '--sql-listen', '0.0.0.0', '--sql-port', String(SQL_PORT), '--metrics-port', '0'],
      { API_TOKEN: TOKEN, CONNTRAIL_READER_PASSWORD: READER_PASSWORD, CONNTRAIL_WRITER_PASSWORD: WRITER_PASSWORD });
    await poll('the router API', 90_000, async () => ((await graphql<{ hosts: unknown[] }>('{ hosts { id } }')).hosts ? true : undefined))
      .catch((err: unknown) => { throw new Error(`${String(err)}\n--- router log ---\n${logs.get('router')}`); });

    for (const [host, nsName, via] of [['client', ns.client, addr.routerClientSide], ['server', ns.server, addr.routerServerSide]] as const) {
      say(`starting the collector on ${host}, writing to ${via}:${SQL_PORT}`);
      spawnLogged(host, nsName, [MAIN, 'collect', '--host-id', host, '--netns', 'self', '--dns', 'snoop', '--interval', String(options.intervalS), '--metrics-port', '0',
        ...sourceArgs, '--data-dir', join(dataDir, host), '--database-url', `postgres://conntrail_writer:${WRITER_PASSWORD}@${via}:${SQL_PORT}/postgres`]);
    }
    await poll('snapshots from all three hosts', 60_000, async () => {
      const hosts = (await graphql<{ hosts: Array<{ id: string }> }>('{ hosts { id } }')).hosts.map((h) => h.id).sort();
      return hosts.join(',') === 'client,router,server' ? true : undefined;
    }).catch((err: unknown) => { throw new Error(`${String(err)}\n--- client log ---\n${logs.get('client')}\n--- server log ---\n${logs.get('server')}`); });
    // Let every collector's eBPF source settle (a full interval) before the traffic starts.
    await new Promise((r) => setTimeout(r, 2 * options.intervalS * 1000));
    return {
      pids: children.map((c) => c.pid ?? 0),
      graphql,
      async sqlAsReader<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) {
        return (await readerPool.query<T>(sql, params)).rows;
      },
      log: (name) => logs.get(name) ?? '',
      dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}
