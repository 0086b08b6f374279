import { openStore, type Store } from '../../store/index.js';
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
    sqlPassword: args.sqlPassword,
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
  const endpoint = store.sqlEndpoint;
  log.info({ host: endpoint?.host, port: endpoint?.port, users: ['conntrail_reader', 'conntrail_writer', 'conntrail'] },
    `SQL endpoint ready: psql -h ${endpoint?.host} -p ${endpoint?.port} -U conntrail_reader postgres`);
  await until;
  await store.close();
}
