/**
 * The three database logins conntrail uses and what each connection of theirs gets, defined once for
 * both modes. Server mode: each handle logs in with its own URL (never SET ROLE from a more powerful
 * login, which `RESET ROLE` would undo) and sends its statement timeout as a connection setting;
 * migration 012 sets the same timeouts on the roles themselves (ALTER ROLE ... SET), so a BI tool
 * logging in as conntrail_reader directly gets them too. Embedded mode: the SQL endpoint maps each
 * login name to its role; the engine (PGlite) does not enforce statement_timeout at all (it has no timer
 * interrupts), so there the endpoint's own limit on how long a client holds the engine is what bounds a
 * statement, and it should take its per-role values from here.
 */
export type StoreRoleName = 'owner' | 'writer' | 'reader';

export interface StoreRole {
  /** The database role (and default login name) of this handle. */
  readonly role: string;
  /** statement_timeout of every connection, in ms; 0 = none (migrations and maintenance jobs run long). */
  readonly statementTimeoutMs: number;
  readonly maxConnections: number;
  readonly applicationName: string;
  /** Flag and environment variable that give this login's URL in server mode. */
  readonly urlFlag: string;
  readonly urlEnv: string;
}

export const STORE_ROLES: Readonly<Record<StoreRoleName, StoreRole>> = Object.freeze({
  owner: Object.freeze({
    role: 'conntrail', statementTimeoutMs: 0, maxConnections: 2, applicationName: 'conntrail-admin',
    urlFlag: '--database-url', urlEnv: 'DATABASE_URL',
  }),
  // A snapshot write takes well under a second; a minute means the store is in trouble: the collector spools.
  writer: Object.freeze({
    role: 'conntrail_writer', statementTimeoutMs: 60_000, maxConnections: 2, applicationName: 'conntrail-writer',
    urlFlag: '--writer-url', urlEnv: 'CONNTRAIL_WRITER_URL',
  }),
  // API and BI queries: long enough for a year of hourly aggregates, short enough that one cannot hog the store.
  reader: Object.freeze({
    role: 'conntrail_reader', statementTimeoutMs: 60_000, maxConnections: 4, applicationName: 'conntrail-api',
    urlFlag: '--reader-url', urlEnv: 'CONNTRAIL_READER_URL',
  }),
});

/** The login name of a PostgreSQL URL ('' when it has none or is not a URL). */
export function loginOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).username);
  } catch {
    return '';
  }
}
