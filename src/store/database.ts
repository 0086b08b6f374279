import pg from 'pg';
import { StoreError, isUnavailable } from './errors.js';

/**
 * The one database interface used everywhere. Both modes speak it: server mode is a pg pool against
 * TimescaleDB; embedded mode is the same pg pool pointed at the in-process TimescaleDB's wire gateway
 * (see embedded/), so every query path is exercised identically in tests and in production.
 */
export interface QueryResult<R> {
  readonly rows: R[];
  readonly rowCount: number;
}

export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
}

export interface Database extends Queryable {
  /** Runs fn in one transaction on one connection; rolls back when fn throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Called for every statement issued, so tests can snapshot the SQL an operation ran (N+1 shows as a diff). */
export type QueryObserver = (sql: string, params: readonly unknown[]) => void;

export interface PgDatabaseOptions {
  readonly connectionString: string;
  readonly maxConnections?: number;
  readonly statementTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly applicationName?: string;
  readonly observer?: QueryObserver;
}

// Return int8 and numeric as JS numbers only when they fit; counters here stay far below 2^53.
const BIGINT_OID = 20;
const NUMERIC_OID = 1700;
function parseSafeInteger(text: string): number | string {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : text;
}

function typeParser(oid: number, format?: string): (text: string) => unknown {
  if (oid === BIGINT_OID) return parseSafeInteger;
  if (oid === NUMERIC_OID) return (text: string) => Number(text);
  return pg.types.getTypeParser(oid, format as 'text');
}

export class PgDatabase implements Database {
  private readonly pool: pg.Pool;
  private readonly observer: QueryObserver | undefined;

  constructor(options: PgDatabaseOptions) {
    this.observer = options.observer;
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.maxConnections ?? 4,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      statement_timeout: options.statementTimeoutMs ?? 60_000,
      application_name: options.applicationName ?? 'conntrail',
      idleTimeoutMillis: 30_000,
      types: { getTypeParser: typeParser as never },
    });
    // An idle client's connection error must never crash the process: the next query reports it.
    this.pool.on('error', () => undefined);
  }

  async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    this.observer?.(sql, params);
    try {
      const result = await this.pool.query(sql, params as unknown[]);
      return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
    } catch (err) {
      throw wrap(err, sql);
    }
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw wrap(err, 'connect');
    }
    // A checked-out client whose connection dies emits 'error'; unhandled, that would end the process.
    // The failing query rejects anyway, so the event itself needs no action.
    const ignore = (): void => undefined;
    client.on('error', ignore);
    const observer = this.observer;
    const tx: Queryable = {
      async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
        observer?.(sql, params);
        try {
          const result = await client.query(sql, params as unknown[]);
          return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
        } catch (err) {
          throw wrap(err, sql);
        }
      },
    };
    let broken = false;
    try {
      await client.query('BEGIN');
      const value = await fn(tx);
      await client.query('COMMIT');
      return value;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw err instanceof StoreError ? err : wrap(err, 'transaction');
    } finally {
      client.off('error', ignore);
      client.release(broken ? true : undefined);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function wrap(err: unknown, sql: string): StoreError {
  if (err instanceof StoreError) return err;
  const e = err as { message?: string; code?: string; detail?: string };
  const statement = sql.length > 200 ? `${sql.slice(0, 200)}…` : sql;
  if (isUnavailable(err)) {
    return new StoreError('STORE_UNAVAILABLE', `database unavailable: ${e.message ?? String(err)}`, { statement }, { cause: err });
  }
  return new StoreError('QUERY_FAILED', e.message ?? String(err), { statement, sqlState: e.code, detail: e.detail }, { cause: err });
}
