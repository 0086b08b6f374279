import { resolve } from 'node:path';
import { SECRET_ENV, openStore, secretsDir, type Store } from '../../store/index.js';
import { isServerMode, type StoreArgs } from '../args.js';
import type { Log } from '../log.js';

export interface OpenExtra {
  readonly migrate?: boolean;
  readonly maintenance?: boolean;
  readonly sqlPort?: number;
  /** Server mode: the logins this command uses besides the owner's. */
  readonly logins?: readonly ('writer' | 'reader')[];
}

export async function openFromArgs(args: StoreArgs, log: Log, extra: OpenExtra = {}): Promise<Store> {
  return openStore({
    databaseUrl: args.databaseUrl,
    writerUrl: args.writerUrl,
    readerUrl: args.readerUrl,
    logins: extra.logins,
    dataDir: args.dataDir,
    sqlPort: extra.sqlPort ?? args.sqlPort,
    sqlListen: args.sqlListen,
    sqlSecrets: args.sqlSecrets,
    sqlTrustLoopback: args.sqlTrustLoopback,
    sqlTls: args.sqlTls,
    migrate: extra.migrate,
    maintenance: extra.maintenance,
  }, log);
}

/** `conntrail migrate`: apply pending migrations and exit. */
export async function runMigrate(args: StoreArgs, log: Log): Promise<void> {
  // sqlPort 0: migrating must not collide with a running endpoint's port.
  const store = await openFromArgs(args, log, { maintenance: false, sqlPort: 0, logins: [] });
  await store.close();
}

/** `conntrail sql`: serve the SQL endpoint over an embedded data dir until interrupted. */
export async function runSql(args: StoreArgs, log: Log, until: Promise<void>): Promise<void> {
  if (isServerMode(args)) throw new Error('conntrail sql serves an embedded data dir; with a TimescaleDB server, connect to it directly');
  const store = await openFromArgs(args, log);
  logSqlEndpoint(store, args, log);
  await until;
  await store.close();
}

/** Tells a newcomer how to reach the SQL endpoint and where each login's secret is. */
export function logSqlEndpoint(store: Store, args: StoreArgs, log: Log): void {
  const endpoint = store.sqlEndpoint;
  if (!endpoint) return;
  // Each login has its own secret: from CONNTRAIL_*_PASSWORD, else generated into the secrets folder.
  const secrets = secretsDir(resolve(args.dataDir));
  log.info({ host: endpoint.host, port: endpoint.port, users: ['conntrail_reader', 'conntrail_writer', 'conntrail'], secrets },
    `SQL endpoint: psql -h ${endpoint.host} -p ${endpoint.port} -U conntrail_reader postgres (secret: ${SECRET_ENV.reader} or ${secrets}/reader.password)`);
}
