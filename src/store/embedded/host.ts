import { Worker } from 'node:worker_threads';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { StoreError } from '../errors.js';
import { isLoopback, type Logger } from './gateway.js';
import type { WorkerRequest, WorkerResponse, WorkerSettings } from './messages.js';

export interface EmbeddedOptions {
  readonly dataDir: string;
  /** Address of the SQL endpoint; off loopback a password is required. */
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly password: string | null;
  readonly idleInTransactionMs?: number;
  readonly maxClients?: number;
}

export interface EmbeddedDatabase {
  readonly host: string;
  readonly port: number;
  /** A connection URL for one of the endpoint's logins. */
  url(user: 'conntrail' | 'conntrail_writer' | 'conntrail_reader'): string;
  /** COPY ... FROM '/dev/blob' on the in-process API (the raw-ingest baseline). */
  copyFromBlob(sql: string, data: Uint8Array): Promise<number>;
  stop(): Promise<void>;
}

type Request = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** Starts the embedded TimescaleDB on a worker thread and waits until its SQL endpoint listens. */
export async function startEmbedded(options: EmbeddedOptions, log: Logger): Promise<EmbeddedDatabase> {
  if (!isLoopback(options.host) && !options.password) {
    throw new StoreError('CONFIG_INVALID', `the SQL endpoint listens off loopback (${options.host}): set a password (--sql-password or CONNTRAIL_SQL_PASSWORD)`, { host: options.host });
  }
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const settings: WorkerSettings = {
    dataDir,
    host: options.host,
    port: options.port,
    password: options.password,
    idleInTransactionMs: options.idleInTransactionMs ?? 15_000,
    maxClients: options.maxClients ?? 64,
  };
  const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: settings });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let stopping = false;

  const ready = new Promise<{ host: string; port: number }>((resolveReady, rejectReady) => {
    worker.on('message', (message: WorkerResponse) => {
      switch (message.type) {
        case 'ready': resolveReady({ host: message.host, port: message.port }); break;
        case 'fatal': rejectReady(new StoreError('STORE_UNAVAILABLE', `embedded store failed to start: ${message.message}`, { dataDir })); break;
        case 'log': log[message.level](message.obj, message.msg); break;
        case 'reply': {
          const waiter = pending.get(message.id);
          pending.delete(message.id);
          if (message.ok) waiter?.resolve(message.value);
          else waiter?.reject(new StoreError('QUERY_FAILED', String(message.value)));
          break;
        }
      }
    });
    worker.on('error', (err) => {
      log.error({ err: String(err) }, 'embedded store worker error');
      rejectReady(new StoreError('STORE_UNAVAILABLE', `embedded store failed: ${err.message}`, { dataDir }, { cause: err }));
    });
    worker.on('exit', (code) => {
      if (!stopping) log.error({ code }, 'embedded store worker exited');
      for (const waiter of pending.values()) waiter.reject(new StoreError('STORE_UNAVAILABLE', 'embedded store stopped'));
      pending.clear();
      rejectReady(new StoreError('STORE_UNAVAILABLE', `embedded store exited with code ${code}`, { dataDir }));
    });
  });

  function call(request: Request): Promise<unknown> {
    const id = nextId++;
    return new Promise((resolveCall, rejectCall) => {
      pending.set(id, { resolve: resolveCall, reject: rejectCall });
      worker.postMessage({ ...request, id } as WorkerRequest);
    });
  }

  const address = await ready;
  const clientHost = address.host === '0.0.0.0' ? '127.0.0.1' : address.host === '::' ? '::1' : address.host;
  return {
    host: address.host,
    port: address.port,
    url(user) {
      const auth = options.password ? `${user}:${encodeURIComponent(options.password)}` : user;
      const host = clientHost.includes(':') ? `[${clientHost}]` : clientHost;
      return `postgres://${auth}@${host}:${address.port}/postgres?sslmode=disable`;
    },
    async copyFromBlob(sql, data) {
      return (await call({ type: 'copy', sql, data })) as number;
    },
    async stop() {
      stopping = true;
      try {
        await call({ type: 'stop' });
      } finally {
        await worker.terminate();
      }
    },
  };
}
