import { PgDatabase, type Database, type QueryObserver } from './database.js';
import { startEmbedded, type EmbeddedDatabase } from './embedded/host.js';
import type { Logger } from './embedded/gateway.js';
import type { GatewayLimits } from './embedded/limits.js';
import { INTERNAL_LOGIN } from './embedded/logins.js';
import { StoreError, isUnavailable } from './errors.js';
import { MaintenanceRunner } from './maintenance.js';
import { migrate } from './migrations.js';
import { STORE_ROLES, loginOf, type StoreRoleName } from './roles.js';

/**
 * Opening the store: server mode when a database URL is given, else the embedded TimescaleDB with its
 * SQL endpoint. Either way the rest of conntrail gets the same three Database handles, one per role, and
 * each logs in as its own role (server: its own URL; embedded: the endpoint's login names). No handle
 * ever takes a role with SET ROLE from a more powerful login: RESET ROLE would give that login back.
 */
export interface StoreConfig {
  /** Server mode: the owner's login (migrations, maintenance). */
  readonly databaseUrl?: string | undefined;
  /** Server mode: the collector's login (conntrail_writer). */
  readonly writerUrl?: string | undefined;
  /** Server mode: the API's login (conntrail_reader). */
  readonly readerUrl?: string | undefined;
  /** Server mode: the logins this process uses (default both); a handle not listed refuses every query. */
  readonly logins?: readonly ('writer' | 'reader')[] | undefined;
  readonly dataDir?: string | undefined;
  /** Embedded SQL endpoint port; 0 picks a free one. Default 5433. */
  readonly sqlPort?: number | undefined;
  /** Embedded SQL endpoint address. Default 127.0.0.1; off loopback a password is required. */
  readonly sqlListen?: string | undefined;
  /** Secrets of the endpoint's logins; missing ones are read from (or made in) the data dir. */
  readonly sqlSecrets?: { readonly reader?: string; readonly writer?: string; readonly owner?: string } | undefined;
  /** Loopback clients log in without a secret (only when the user asks). */
  readonly sqlTrustLoopback?: boolean | undefined;
  readonly sqlLimits?: Partial<GatewayLimits> | undefined;
  /** A real certificate for the endpoint's TLS (PEM files); default: a self-signed one kept beside the data dir. */
  readonly sqlTls?: { readonly certFile: string; readonly keyFile: string } | undefined;
  /** Apply pending migrations on open (default true; collectors of other hosts pass false). */
  readonly migrate?: boolean | undefined;
  /** Run TimescaleDB's jobs on a timer (default: true when embedded, where no scheduler runs). */
  readonly maintenance?: boolean | undefined;
  readonly maintenanceTickMs?: number | undefined;
  /** Sees every statement the reader issues (API tests snapshot them). */
  readonly observer?: QueryObserver | undefined;
  /** Overrides the reader's and writer's statement timeout of STORE_ROLES (benchmarks). */
  readonly statementTimeoutMs?: number | undefined;
}

export interface Store {
  readonly mode: 'embedded' | 'server';
  readonly admin: Database;
  readonly writer: Database;
  readonly reader: Database;
  readonly sqlEndpoint: { readonly host: string; readonly port: number } | null;
  readonly embedded: EmbeddedDatabase | null;
  readonly maintenance: MaintenanceRunner | null;
  close(): Promise<void>;
}

export const DEFAULT_SQL_PORT = 5433;
export const DEFAULT_DATA_DIR = './data';

type Urls = Record<StoreRoleName, string | null>;

/**
 * Which URL each handle logs in with in server mode. Every login this process needs must be given, and
 * the reader and writer must not log in as the owner (or as each other): one login, one role.
 */
export function serverLogins(config: Pick<StoreConfig, 'databaseUrl' | 'writerUrl' | 'readerUrl' | 'logins' | 'migrate' | 'maintenance'>): Urls {
  const needed = new Set<StoreRoleName>(config.logins ?? ['writer', 'reader']);
  if ((config.migrate ?? true) || config.maintenance) needed.add('owner');
  const urls: Urls = { owner: config.databaseUrl || null, writer: config.writerUrl || null, reader: config.readerUrl || null };
  for (const name of needed) {
    if (urls[name] === null) {
      const r = STORE_ROLES[name];
      throw new StoreError('CONFIG_INVALID', `server mode needs the ${name}'s own login: set ${r.urlFlag} (or ${r.urlEnv}), logging in as ${r.role}`, { login: name });
    }
  }
  const names: StoreRoleName[] = ['owner', 'writer', 'reader'];
  for (const [i, a] of names.entries()) {
    for (const b of names.slice(i + 1)) {
      const ua = urls[a];
      const ub = urls[b];
      if (ua === null || ub === null || !needed.has(a) || !needed.has(b)) continue;
      if (loginOf(ua) === loginOf(ub)) {
        throw new StoreError('CONFIG_INVALID', `the ${a} and the ${b} log in as the same user "${loginOf(ua)}": give each its own login (${STORE_ROLES[a].role}, ${STORE_ROLES[b].role})`, { logins: [a, b] });
      }
    }
  }
  for (const name of names) if (!needed.has(name)) urls[name] = null;
  return urls;
}

/** A handle for a login this process was not given: every use says so instead of borrowing another login. */
function missingLogin(name: StoreRoleName): Database {
  const r = STORE_ROLES[name];
  const refuse = (): Promise<never> => Promise.reject(new StoreError('CONFIG_INVALID', `no ${name} login configured (${r.urlFlag} or ${r.urlEnv})`, { login: name }));
  return { query: refuse, transaction: refuse, close: async () => undefined };
}

export async function openStore(config: StoreConfig, log: Logger): Promise<Store> {
  const serverMode = Boolean(config.databaseUrl || config.writerUrl || config.readerUrl);
  const urls: Urls = serverMode ? serverLogins(config) : { owner: null, writer: null, reader: null };
  let embedded: EmbeddedDatabase | null = null;
  if (!serverMode) {
    embedded = await startEmbedded({
      dataDir: config.dataDir ?? DEFAULT_DATA_DIR,
      host: config.sqlListen ?? '127.0.0.1',
      port: config.sqlPort ?? DEFAULT_SQL_PORT,
      secrets: config.sqlSecrets ?? {},
      trustLoopback: config.sqlTrustLoopback ?? false,
      limits: config.sqlLimits ?? {},
      tls: config.sqlTls,
    }, log);
    // The owner handle (migrations, maintenance) uses the engine's internal login, which the network
    // endpoint never accepts; the network's `conntrail` login is not a superuser.
    urls.owner = embedded.url(INTERNAL_LOGIN);
    urls.writer = embedded.url('conntrail_writer');
    urls.reader = embedded.url('conntrail_reader');
    log.info({ host: embedded.host, port: embedded.port, dataDir: config.dataDir ?? DEFAULT_DATA_DIR }, 'embedded store ready');
  }
  const handles: Database[] = [];
  const open = (name: StoreRoleName, extra: { observer?: QueryObserver | undefined } = {}): Database => {
    const url = urls[name];
    if (url === null) return missingLogin(name);
    const r = STORE_ROLES[name];
    const timeout = name !== 'owner' && config.statementTimeoutMs !== undefined ? config.statementTimeoutMs : r.statementTimeoutMs;
    const db = new PgDatabase({ connectionString: url, maxConnections: r.maxConnections, applicationName: r.applicationName, statementTimeoutMs: timeout, ...extra });
    handles.push(db);
    return db;
  };
  try {
    const admin = open('owner');
    if (config.migrate ?? true) {
      const report = await migrate(admin, log);
      log.info({ applied: report.applied, alreadyApplied: report.alreadyApplied }, 'migrations done');
    }
    // Embedded, the SQL endpoint maps login names to roles itself; a server's logins are the operator's.
    if (serverMode) for (const name of ['writer', 'reader'] as const) if (urls[name] !== null) await checkLogin(name, urls[name] as string, log);
    const writer = open('writer');
    const reader = open('reader', { observer: config.observer });
    const runJobs = config.maintenance ?? embedded !== null;
    const maintenance = runJobs ? new MaintenanceRunner(admin, log, config.maintenanceTickMs) : null;
    maintenance?.start();
    const endpoint = embedded ? { host: embedded.host, port: embedded.port } : null;
    return {
      mode: embedded ? 'embedded' : 'server',
      admin, writer, reader, sqlEndpoint: endpoint, embedded, maintenance,
      async close() {
        await maintenance?.stop();
        for (const h of handles) await h.close().catch(() => undefined);
        await embedded?.stop();
      },
    };
  } catch (err) {
    for (const h of handles) await h.close().catch(() => undefined);
    await embedded?.stop().catch(() => undefined);
    throw err;
  }
}

/**
 * Refuses a reader or writer login that can do more than its role: a superuser (it could take any role),
 * a login that can change the schema or delete rows (an owner's: the writer only inserts and updates), or a
 * reader that can write. Checked on a connection of its own, so the reader's query observer sees
 * only the API's statements. A store that cannot be reached now is no reason to refuse to start (a
 * collector spools meanwhile): the check is then skipped with a warning.
 */
async function checkLogin(name: 'writer' | 'reader', url: string, log: Logger): Promise<void> {
  const db = new PgDatabase({ connectionString: url, maxConnections: 1, applicationName: STORE_ROLES[name].applicationName, statementTimeoutMs: 10_000 });
  try {
    const row = (await db.query<{ login: string; superuser: boolean; creates: boolean; writes: boolean }>(
      `SELECT current_user AS login, COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false) AS superuser,
              COALESCE((SELECT has_schema_privilege(n.oid, 'CREATE') FROM pg_namespace n WHERE n.nspname = 'conntrail'), false)
                OR COALESCE((SELECT has_table_privilege(c.oid, 'DELETE') OR has_table_privilege(c.oid, 'TRUNCATE') FROM pg_class c
                             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'conntrail' AND c.relname = 'hosts'), false) AS creates,
              COALESCE((SELECT has_table_privilege(c.oid, 'INSERT') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE n.nspname = 'conntrail' AND c.relname = 'hosts'), false) AS writes`)).rows[0];
    if (!row) return;
    if (row.superuser) throw new StoreError('CONFIG_INVALID', `the ${name} logs in as "${row.login}", a superuser: give it its own login (${STORE_ROLES[name].role})`, { login: name, user: row.login });
    if (row.creates) throw new StoreError('CONFIG_INVALID', `the ${name} logs in as "${row.login}", which can change the conntrail schema or delete its rows (an owner's login): give it its own login (${STORE_ROLES[name].role})`, { login: name, user: row.login });
    if (name === 'reader' && row.writes) throw new StoreError('CONFIG_INVALID', `the reader logs in as "${row.login}", which can write to conntrail.hosts: log in as ${STORE_ROLES.reader.role}`, { login: name, user: row.login });
  } catch (err) {
    if (!isUnavailable(err)) throw err;
    log.warn({ login: name, err: (err as Error).message }, 'store unreachable: login privileges not checked');
  } finally {
    await db.close().catch(() => undefined);
  }
}

export type { Database, QueryObserver, Queryable, QueryResult } from './database.js';
export { StoreError, isDataError, isUnavailable } from './errors.js';
export { SnapshotWriter, type WriteResult, type RowRejection } from './writer.js';
export { refreshAggregates, MaintenanceRunner } from './maintenance.js';
export { migrate, loadMigrations } from './migrations.js';
export { STORE_ROLES, type StoreRole, type StoreRoleName } from './roles.js';
export type { Logger } from './embedded/gateway.js';
export { secretFile, secretsDir, SECRET_ENV } from './embedded/secrets.js';
// The one door for the API: its read queries and a health check (lint refuses any other import of the store).
export * from './queries/index.js';
export { checkHealth } from './health.js';
