import { Worker } from 'node:worker_threads';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { StoreError } from '../errors.js';
import type { Logger } from './gateway.js';
import { DEFAULT_LIMITS, type GatewayLimits } from './limits.js';
import { INTERNAL_LOGIN, internalSecret, type LoginName } from './logins.js';
import type { WorkerRequest, WorkerResponse, WorkerSettings } from './messages.js';
import { loadSecrets, loadTls, type RoleSecrets } from './secrets.js';

export interface EmbeddedOptions {
  readonly dataDir: string;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Secrets given by the user (environment); the others come from the data dir's secrets folder. */
  readonly secrets?: Partial<RoleSecrets>;
  /** Loopback clients log in without a secret (never the default). */
  readonly trustLoopback?: boolean;
  readonly limits?: Partial<GatewayLimits>;
  /** Certificate and key files for TLS on the endpoint; without them a self-signed one is made and kept. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string } | undefined;
}

export interface EmbeddedDatabase {
  readonly host: string;
  readonly port: number;
  /** A connection URL (with its secret) for one of the endpoint's logins. */
  url(user: LoginName): string;
  /** COPY ... FROM '/dev/blob' on the in-process API (the raw-ingest baseline). */
  copyFromBlob(sql: string, data: Uint8Array): Promise<number>;
  /** How many times the engine was restarted after failing. */
  readonly restarts: number;
  stop(): Promise<void>;
}

type Request = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

interface Running {
  readonly worker: Worker;
  readonly ready: Promise<{ host: string; port: number }>;
  call(request: Request): Promise<unknown>;
  /** Gives this engine up (once) and starts a new one. */
  fail(reason: string): void;
}

/** How often the main thread looks at the running statement's deadline, and the slack it gives. */
const WATCH_EVERY_MS = 250;
const WATCH_GRACE_MS = 1000;

/** Starts the embedded TimescaleDB on a worker thread and waits until its SQL endpoint listens. */
export async function startEmbedded(options: EmbeddedOptions, log: Logger): Promise<EmbeddedDatabase> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const roleSecrets = loadSecrets(dataDir, options.secrets ?? {});
  const secrets = { ...roleSecrets, internal: internalSecret() };
  const base: WorkerSettings = {
    dataDir,
    host: options.host,
    port: options.port,
    secrets,
    trustLoopback: options.trustLoopback ?? false,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    tls: loadTls(dataDir, options.tls),
    watch: new SharedArrayBuffer(8),
  };
  const deadline = new BigInt64Array(base.watch);
  let stopping = false;
  let restarts = 0;

  function spawn(settings: WorkerSettings, onFailure: (reason: string) => void): Running {
    Atomics.store(deadline, 0, 0n);
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: settings });
    const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
    let nextId = 1;
    let failed = false;
    const fail = (reason: string): void => {
      if (failed || stopping) return;
      failed = true;
      onFailure(reason);
    };
    const ready = new Promise<{ host: string; port: number }>((resolveReady, rejectReady) => {
      worker.on('message', (message: WorkerResponse) => {
        switch (message.type) {
          case 'ready': resolveReady({ host: message.host, port: message.port }); break;
          case 'fatal': rejectReady(new StoreError('STORE_UNAVAILABLE', `embedded store failed to start: ${message.message}`, { dataDir })); break;
          case 'crashed': fail(message.message); break;
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
        fail(`worker exited with code ${code}`);
      });
    });
    return {
      worker,
      ready,
      fail,
      call(request) {
        const id = nextId++;
        return new Promise((resolveCall, rejectCall) => {
          pending.set(id, { resolve: resolveCall, reject: rejectCall });
          worker.postMessage({ ...request, id } as WorkerRequest);
        });
      },
    };
  }

  let address: { host: string; port: number } = { host: options.host, port: options.port };
  let current: Running;
  // A failed engine is replaced by a new one on the same data dir and port; its clients got 57P01 and
  // reconnect (the pg pools do so by themselves; the collector spools meanwhile).
  const restart = (reason: string): void => {
    log.error({ reason, dataDir }, 'embedded engine failed; restarting it on the same data dir');
    const old = current;
    void (async () => {
      await old.worker.terminate().catch(() => undefined);
      for (let attempt = 1; !stopping; attempt++) {
        current = spawn({ ...base, port: address.port }, restart);
        try {
          await current.ready;
          restarts++;
          log.info({ attempt, port: address.port }, 'embedded engine restarted');
          return;
        } catch (err) {
          log.error({ attempt, err: String(err) }, 'embedded engine restart failed');
          await current.worker.terminate().catch(() => undefined);
          await new Promise((r) => setTimeout(r, Math.min(5000, 500 * attempt)));
        }
      }
    })();
  };
  current = spawn(base, restart);
  address = await current.ready;
  // A client statement still in the engine past its holder's limit (a runaway query, a deep recursion)
  // cannot be cancelled inside PGlite: the engine is given up and restarted on the same data dir. Its
  // clients lose their connections; the collector's writer reconnects and spools meanwhile.
  const watchdog = setInterval(() => {
    const due = Number(Atomics.load(deadline, 0));
    if (due === 0 || Date.now() < due + WATCH_GRACE_MS) return;
    Atomics.store(deadline, 0, 0n);
    log.error({ overdueMs: Date.now() - due }, 'embedded engine: a client statement ran past the hold limit and cannot be interrupted; restarting the engine');
    current.fail('a client statement ran past the hold limit');
  }, WATCH_EVERY_MS);
  watchdog.unref();
  const clientHost = address.host === '0.0.0.0' ? '127.0.0.1' : address.host === '::' ? '::1' : address.host;
  const secretOf = (user: LoginName): string => {
    switch (user) {
      case 'conntrail_reader': return secrets.reader;
      case 'conntrail_writer': return secrets.writer;
      case 'conntrail': return secrets.owner;
      case INTERNAL_LOGIN: return secrets.internal;
    }
  };
  return {
    host: address.host,
    port: address.port,
    get restarts() {
      return restarts;
    },
    url(user) {
      const host = clientHost.includes(':') ? `[${clientHost}]` : clientHost;
      return `postgres://${user}:${encodeURIComponent(secretOf(user))}@${host}:${address.port}/postgres?sslmode=disable`;
    },
    async copyFromBlob(sql, data) {
      return (await current.call({ type: 'copy', sql, data })) as number;
    },
    async stop() {
      stopping = true;
      clearInterval(watchdog);
      try {
        await current.call({ type: 'stop' });
      } finally {
        await current.worker.terminate();
      }
    },
  };
}
