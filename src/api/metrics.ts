/**
 * The API's Prometheus instruments, on a Registry each server owns (never prom-client's global one, so two
 * servers or tests in one process do not collide). Every series a dashboard or alert needs exists from the
 * start at zero: a request counter per operation and outcome, a latency histogram per operation, a batch-size
 * histogram per DataLoader. Label values are bounded: the operation is the root field asked (from the schema,
 * not the client's operation name), the outcome a known error code.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Database, Queryable, QueryResult } from '../store/index.js';
import type { ApiErrorCode } from './errors.js';

/** Outcomes: OK, our own codes, and the codes Apollo and the HTTP front give. Anything else counts as OTHER. */
const API_CODES: readonly ApiErrorCode[] = ['BAD_USER_INPUT', 'RANGE_TOO_LARGE', 'PAGE_TOO_LARGE', 'QUERY_TOO_COMPLEX', 'UNAUTHENTICATED', 'STORE_UNAVAILABLE', 'INTERNAL_SERVER_ERROR'];
export const OUTCOMES: readonly string[] = Object.freeze([
  'OK', ...API_CODES, 'GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'BAD_REQUEST', 'PAYLOAD_TOO_LARGE', 'OPERATION_RESOLUTION_FAILURE', 'OTHER',
]);

/** A request that never reached an operation (unparsable, refused at the door) or that asked several root fields. */
export const NO_OPERATION = 'none';
export const SEVERAL_OPERATIONS = 'multiple';

export const LOADER_NAMES = Object.freeze(['host', 'process', 'connectionPage', 'processPage', 'snapshotPage', 'coverage', 'fleetCoverage', 'listenerPage', 'names'] as const);
export type LoaderName = (typeof LOADER_NAMES)[number];

/** Called with each DataLoader batch: which loader, how many keys it gathered. */
export type BatchObserver = (loader: LoaderName, size: number) => void;

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const BATCH_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

export class ApiMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'operation' | 'outcome'>;
  readonly requestSeconds: Histogram<'operation'>;
  readonly storeQuerySeconds: Histogram<'outcome'>;
  readonly loaderBatchSize: Histogram<'loader'>;
  private readonly operations: ReadonlySet<string>;

  /** `operations`: the schema's root Query fields. */
  constructor(operations: readonly string[], registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    this.operations = new Set(operations);
    // Sampled once a second, as the collector's (every 10 ms costs a measurable share of a core by itself).
    collectDefaultMetrics({ register: registry, prefix: 'conntrail_api_process_', eventLoopMonitoringPrecision: 1000 });
    this.requests = new Counter({
      name: 'conntrail_api_requests_total', help: 'GraphQL requests by operation (root field asked) and outcome (OK or the error code)',
      labelNames: ['operation', 'outcome'], registers,
    });
    this.requestSeconds = new Histogram({
      name: 'conntrail_api_request_seconds', help: 'Time from a request reaching the API to its answer, by operation', labelNames: ['operation'], buckets: LATENCY_BUCKETS, registers,
    });
    this.storeQuerySeconds = new Histogram({
      name: 'conntrail_api_store_query_seconds', help: 'Time of each statement the API ran on the store, by outcome (ok, error)', labelNames: ['outcome'], buckets: LATENCY_BUCKETS, registers,
    });
    this.loaderBatchSize = new Histogram({
      name: 'conntrail_api_dataloader_batch_size', help: 'Keys per DataLoader batch (one statement each), by loader', labelNames: ['loader'], buckets: BATCH_BUCKETS, registers,
    });
    // Present from the start: a rate() over a series that appears only with its first error is blind to that error.
    for (const operation of [...operations, NO_OPERATION, SEVERAL_OPERATIONS]) {
      for (const outcome of OUTCOMES) this.requests.inc({ operation, outcome }, 0);
      this.requestSeconds.zero({ operation });
    }
    for (const outcome of ['ok', 'error']) this.storeQuerySeconds.zero({ outcome });
    for (const loader of LOADER_NAMES) this.loaderBatchSize.zero({ loader });
  }

  /** The operation label for the root fields a request asked. */
  operationOf(rootFields: readonly string[]): string {
    const distinct = [...new Set(rootFields.filter((f) => !f.startsWith('__')))];
    if (distinct.length === 0) return NO_OPERATION;
    if (distinct.length > 1) return SEVERAL_OPERATIONS;
    return this.operations.has(distinct[0]!) ? distinct[0]! : NO_OPERATION;
  }

  request(operation: string, code: string | undefined, seconds: number): void {
    const outcome = code === undefined ? 'OK' : OUTCOMES.includes(code) ? code : 'OTHER';
    this.requests.inc({ operation, outcome });
    this.requestSeconds.observe({ operation }, seconds);
  }

  readonly observeBatch: BatchObserver = (loader, size) => this.loaderBatchSize.observe({ loader }, size);
}

/** The reader Database with every statement timed (transactions pass through: the API reads, one statement at a time). */
export function timedDatabase(db: Database, metrics: ApiMetrics): Database {
  const time = async <R>(run: () => Promise<QueryResult<R>>): Promise<QueryResult<R>> => {
    const end = metrics.storeQuerySeconds.startTimer();
    try {
      const result = await run();
      end({ outcome: 'ok' });
      return result;
    } catch (err) {
      end({ outcome: 'error' });
      throw err;
    }
  };
  return {
    query: <R>(sql: string, params?: readonly unknown[]) => time(() => db.query<R>(sql, params)),
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) => db.transaction((tx) => fn({ query: <R>(sql: string, params?: readonly unknown[]) => time(() => tx.query<R>(sql, params)) })),
    close: () => db.close(),
  };
}
