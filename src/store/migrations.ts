import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Database, Queryable } from './database.js';
import { StoreError } from './errors.js';
import type { Logger } from '../domain/logger.js';
import { splitStatements } from './sql-split.js';

/**
 * Numbered SQL files in migrations/, applied in order under an advisory lock, each recorded with its
 * checksum. A database whose applied files were edited (or removed) is refused: the schema it has is
 * not the schema the code expects.
 */
export interface MigrationFile {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  readonly checksum: string;
  /** Files marked `-- conntrail:no-transaction` run statement by statement (continuous aggregates need it). */
  readonly transactional: boolean;
}

export interface MigrationReport {
  readonly applied: readonly string[];
  readonly alreadyApplied: number;
}

export type ProgressLogger = Pick<Logger, 'info'>;

const LOCK_KEY = 7_270_263_301; // arbitrary, fixed: "conntrail migrations"

export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations/', import.meta.url));

export async function loadMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const names = (await readdir(dir)).filter((n) => /^\d+_[\w-]+\.sql$/.test(n)).sort();
  const files: MigrationFile[] = [];
  for (const name of names) {
    const sql = await readFile(`${dir}/${name}`, 'utf8');
    files.push({
      version: Number.parseInt(name, 10),
      name,
      sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
      transactional: !/^--\s*conntrail:no-transaction\b/m.test(sql),
    });
  }
  const versions = new Set<number>();
  for (const f of files) {
    if (versions.has(f.version)) throw new StoreError('MIGRATION_FAILED', `two migrations share version ${f.version}`, { name: f.name });
    versions.add(f.version);
  }
  return files;
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
}

export async function migrate(db: Database, log: ProgressLogger, dir?: string): Promise<MigrationReport> {
  const files = await loadMigrations(dir);
  // One connection for the whole run, holding a session-level advisory lock, so that two processes
  // starting at once apply each file once. Each file commits on its own.
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    try {
      await tx.query(`CREATE TABLE IF NOT EXISTS public.conntrail_migrations (
        version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      await tx.query('COMMIT');
      await tx.query('BEGIN');
      const applied = (await tx.query<AppliedRow>('SELECT version, name, checksum FROM public.conntrail_migrations ORDER BY version')).rows;
      verifyApplied(applied, files);
      const done = new Set(applied.map((a) => a.version));
      const pending = files.filter((f) => !done.has(f.version));
      const names: string[] = [];
      for (const [index, file] of pending.entries()) {
        const started = Date.now();
        log.info({ migration: file.name, step: index + 1, of: pending.length }, 'applying migration');
        await applyOne(tx, file);
        await tx.query('INSERT INTO public.conntrail_migrations (version, name, checksum) VALUES ($1, $2, $3)', [file.version, file.name, file.checksum]);
        await tx.query('COMMIT');
        await tx.query('BEGIN');
        log.info({ migration: file.name, ms: Date.now() - started }, 'migration applied');
        names.push(file.name);
      }
      return { applied: names, alreadyApplied: applied.length };
    } catch (err) {
      await tx.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      await tx.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
    }
  });
}

function verifyApplied(applied: readonly AppliedRow[], files: readonly MigrationFile[]): void {
  const byVersion = new Map(files.map((f) => [f.version, f]));
  for (const row of applied) {
    const file = byVersion.get(row.version);
    if (!file) {
      throw new StoreError('MIGRATION_MISSING', `migration ${row.name} was applied to this database but its file is gone`, { version: row.version });
    }
    if (file.checksum !== row.checksum) {
      throw new StoreError('MIGRATION_EDITED', `migration ${row.name} was edited after it was applied (checksum differs); write a new migration instead`, {
        version: row.version, applied: row.checksum, file: file.checksum,
      });
    }
  }
}

async function applyOne(tx: Queryable, file: MigrationFile): Promise<void> {
  const statements = file.transactional ? [file.sql] : splitStatements(file.sql);
  for (const statement of statements) {
    try {
      if (file.transactional) {
        await tx.query(statement);
      } else {
        // Statements that refuse a transaction block run after committing what came before.
        await tx.query('COMMIT');
        await tx.query(statement);
        await tx.query('BEGIN');
      }
    } catch (err) {
      throw new StoreError('MIGRATION_FAILED', `migration ${file.name} failed: ${(err as Error).message}`, { migration: file.name }, { cause: err });
    }
  }
}
