import { PgDatabase, type Database, type QueryObserver } from './database.js';
import { startEmbedded, type EmbeddedDatabase } from './embedded/host.js';
import type { Logger } from './embedded/gateway.js';
import { MaintenanceRunner } from './maintenance.js';
import { migrate } from './migrations.js';

/**
 * Opening the store: server mode when a database URL is given, else the embedded TimescaleDB with its
 * SQL endpoint. Either way the rest of conntrail gets the same three Database handles, one per role.
 */
export interface StoreConfig {
  readonly databaseUrl?: string | undefined;
  readonly dataDir?: string | undefined;
  /** Embedded SQL endpoint port; 0 picks a free one. Default 5433. */
  readonly sqlPort?: number | undefined;
  /** Embedded SQL endpoint address. Default 127.0.0.1; off loopback a password is required. */
  readonly sqlListen?: string | undefined;
  readonly sqlPassword?: string | null | undefined;
  /** Apply pending migrations on open (default true; collectors of other hosts pass false). */
  readonly migrate?: boolean | undefined;
  /** Run TimescaleDB's jobs on a timer (default: true when embedded, where no scheduler runs). */
  readonly maintenance?: boolean | undefined;
  readonly maintenanceTickMs?: number | undefined;
  /** Sees every statement the reader issues (API tests snapshot them). */
  readonly observer?: QueryObserver | undefined;
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

export async function openStore(config: StoreConfig, log: Logger): Promise<Store> {
  const timeout = config.statementTimeoutMs;
  let embedded: EmbeddedDatabase | null = null;
  let urls: { admin: string; writer: string; reader: string; roles: boolean };
  if (config.databaseUrl) {
    urls = { admin: config.databaseUrl, writer: config.databaseUrl, reader: config.databaseUrl, roles: true };
  } else {
    embedded = await startEmbedded({
      dataDir: config.dataDir ?? DEFAULT_DATA_DIR,
      host: config.sqlListen ?? '127.0.0.1',
      port: config.sqlPort ?? DEFAULT_SQL_PORT,
      password: config.sqlPassword ?? null,
    }, log);
    urls = { admin: embedded.url('conntrail'), writer: embedded.url('conntrail_writer'), reader: embedded.url('conntrail_reader'), roles: false };
    log.info({ host: embedded.host, port: embedded.port, dataDir: config.dataDir ?? DEFAULT_DATA_DIR }, 'embedded store ready');
  }
  const admin = new PgDatabase({ connectionString: urls.admin, maxConnections: 2, applicationName: 'conntrail-admin', statementTimeoutMs: 0 });
  const handles: Database[] = [admin];
  try {
    if (config.migrate ?? true) {
      const report = await migrate(admin, log);
      log.info({ applied: report.applied, alreadyApplied: report.alreadyApplied }, 'migrations done');
    }
    // In server mode one login takes each role with SET ROLE (unless it logs in as that role already);
    // the embedded endpoint maps login names to roles itself.
    const roleFor = (role: string): { role?: string } => (urls.roles && loginUser(urls.admin) !== role ? { role } : {});
    const writer = new PgDatabase({ connectionString: urls.writer, maxConnections: 2, applicationName: 'conntrail-writer', statementTimeoutMs: timeout, ...roleFor('conntrail_writer') });
    handles.push(writer);
    const reader = new PgDatabase({ connectionString: urls.reader, maxConnections: 4, applicationName: 'conntrail-api', statementTimeoutMs: timeout, observer: config.observer, ...roleFor('conntrail_reader') });
    handles.push(reader);
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

function loginUser(url: string): string {
  try {
    return decodeURIComponent(new URL(url).username);
  } catch {
    return '';
  }
}

export type { Database, QueryObserver, Queryable, QueryResult } from './database.js';
export { StoreError, isDataError, isUnavailable } from './errors.js';
export { SnapshotWriter, type WriteResult, type RowRejection } from './writer.js';
export { refreshAggregates, MaintenanceRunner } from './maintenance.js';
export { migrate, loadMigrations } from './migrations.js';
export type { Logger } from './embedded/gateway.js';
