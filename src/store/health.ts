import type { Queryable } from './database.js';

/** The store answers a trivial statement: what /healthz asks, so the API sends no SQL of its own. */
export async function checkHealth(db: Queryable): Promise<void> {
  await db.query('SELECT 1 AS ok');
}
