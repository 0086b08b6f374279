/**
 * What every resolver gets: the reader Database, this request's DataLoaders, the limits and a logger.
 * Built fresh per request so caches never outlive one operation.
 */
import type { Database } from '../store/database.js';
import type { ApiLimits } from './limits.js';
import { createLoaders, type Loaders } from './loaders.js';
import type { BatchObserver } from './metrics.js';
import type { ApiLogger } from './logger.js';

export interface ApiContext {
  readonly db: Database;
  readonly loaders: Loaders;
  readonly limits: ApiLimits;
  readonly log: ApiLogger;
}

export function createContext(db: Database, limits: ApiLimits, log: ApiLogger, onBatch?: BatchObserver): ApiContext {
  return { db, loaders: createLoaders(db, onBatch), limits, log };
}
