/**
 * What every resolver gets: the reader Database, this request's DataLoaders, the limits and a logger.
 * Built fresh per request so caches never outlive one operation.
 */
import type { Database } from '../store/index.js';
import type { ApiLimits } from './limits.js';
import { createLoaders, type Loaders } from './loaders.js';
import type { BatchObserver } from './metrics.js';
import type { Logger } from '../domain/logger.js';
import { RootGate } from './root-gate.js';

export interface ApiContext {
  readonly db: Database;
  readonly loaders: Loaders;
  readonly limits: ApiLimits;
  readonly log: Logger;
  /** Counts the root fields still resolving, so batches that should see the whole request can wait for them. */
  readonly gate: RootGate;
}

export function createContext(db: Database, limits: ApiLimits, log: Logger, onBatch?: BatchObserver): ApiContext {
  const gate = new RootGate();
  return { db, loaders: createLoaders(db, gate, onBatch), limits, log, gate };
}
