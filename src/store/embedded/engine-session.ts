import { SessionLock } from './session-lock.js';

/**
 * The one backend session of the embedded engine, handed from client to client. Whatever a client left
 * behind (settings, role, session authorization, an open transaction, its prepared statements) is undone
 * before the next one gets the session, and who the session is running as is checked after every turn.
 */
export interface ProtocolBackend {
  execProtocolRaw(message: Uint8Array): Promise<Uint8Array>;
  exec(sql: string): Promise<unknown>;
  query<T>(sql: string): Promise<{ rows: T[] }>;
  isInTransaction(): boolean;
}

/** Settings every client starts from, whatever the previous client changed. */
const SESSION_DEFAULTS = "SET client_min_messages = notice; SET log_min_messages = warning; SET search_path = \"$user\", public; SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET statement_timeout = 0;";

const SYNC = Buffer.from([0x53, 0, 0, 0, 4]);

export class EngineSession {
  readonly lock = new SessionLock();
  private readonly backend: ProtocolBackend;
  /** The engine's own session user (the superuser every client's role is taken from). */
  private readonly engineUser: string;
  /** Which client the session is set up for. */
  private current: number | null = null;
  /** The role the session was last set up with. */
  private role: string | null = null;
  /**
   * Whether anything since the last reset may have changed the session (a SET, a cursor, a transaction, any
   * statement not known to be neutral, an internal login's work). Unknown at first, so true.
   */
  private dirty = true;

  constructor(backend: ProtocolBackend, engineUser: string) {
    this.backend = backend;
    this.engineUser = engineUser;
  }

  /** Sets the session up for a client: its role and nothing left over from another client. */
  async prepare(id: number, role: string | null): Promise<void> {
    if (this.current === id) return;
    // A session that only ran neutral statements (SELECT, SHOW) as the same role is already what a reset would
    // make it: skipping the reset saves a multi-statement round in the engine at every hand-over between the
    // clients of one pool (the API's parallel reads).
    if (!this.dirty && this.role === role && !this.backend.isInTransaction()) {
      this.current = id;
      return;
    }
    await this.reset(role);
    this.role = role;
    this.dirty = false;
    this.current = id;
  }

  /** The statement about to run may change the session: the next client gets a full reset. */
  touched(): void {
    this.dirty = true;
  }

  private async reset(role: string | null): Promise<void> {
    if (this.backend.isInTransaction()) await this.backend.exec('ROLLBACK');
    const setRole = role === null ? '' : ` SET ROLE ${quoteIdent(role)};`;
    // RESET ALL skips role and session authorization (they are reset apart) and leaves search_path at
    // pg_catalog in the embedded engine, so the usual defaults are set again after it.
    // CLOSE ALL: no cursor of one client is left for the next (WITH HOLD is refused, this is the backstop).
    await this.backend.exec(`RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL; CLOSE ALL; ${SESSION_DEFAULTS}${setRole}`);
  }

  /** True when the session still runs as the role the client logged in as (null: the engine's own user). */
  async identityHolds(role: string | null): Promise<boolean> {
    const result = await this.backend.query<{ cu: string; su: string }>('SELECT current_user AS cu, session_user AS su');
    const row = result.rows[0];
    return row !== undefined && row.su === this.engineUser && row.cu === (role ?? this.engineUser);
  }

  /** After a client left or was cut off: end its exchange and transaction, drop its statements, reset. */
  async cleanup(owned: boolean, statements: Iterable<string>): Promise<void> {
    if (owned) await this.backend.execProtocolRaw(SYNC);
    if (this.backend.isInTransaction()) await this.backend.exec('ROLLBACK');
    await this.backend.exec('RESET SESSION AUTHORIZATION; RESET ROLE');
    for (const name of statements) await this.backend.exec(`DEALLOCATE ${quoteIdent(name)}`).catch(() => undefined);
    await this.reset(null);
    this.current = null;
    this.dirty = true;
  }

  /** Forgets which client the session was set up for, so the next one gets a full reset. */
  invalidate(): void {
    this.current = null;
    this.dirty = true;
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
