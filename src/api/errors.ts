/**
 * The API's errors: every error a client sees carries a stable extensions.code and never a stack trace or SQL.
 */
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import type { Logger } from '../domain/logger.js';
import { ConntrailError, type ApiConfigErrorCode } from '../domain/errors.js';
import { StoreError } from '../store/index.js';

export type ApiErrorCode =
  | 'BAD_USER_INPUT'
  | 'RANGE_TOO_LARGE'
  | 'PAGE_TOO_LARGE'
  | 'QUERY_TOO_COMPLEX'
  | 'UNAUTHENTICATED'
  | 'STORE_UNAVAILABLE'
  | 'INTERNAL_SERVER_ERROR';

const HTTP_STATUS: Record<ApiErrorCode, number | undefined> = {
  BAD_USER_INPUT: undefined,
  RANGE_TOO_LARGE: undefined,
  PAGE_TOO_LARGE: undefined,
  // Refused before execution: no data at all, so a 4xx like other document errors.
  QUERY_TOO_COMPLEX: 400,
  UNAUTHENTICATED: 401,
  STORE_UNAVAILABLE: undefined,
  INTERNAL_SERVER_ERROR: undefined,
};

/** A client-facing error. `context` is for logs only and never sent. */
export class ApiError extends GraphQLError {
  readonly code: ApiErrorCode;
  readonly context: Readonly<Record<string, unknown>>;

  /** `httpStatus` overrides the code's own status: bad input refused before execution has no data, so 400. */
  constructor(code: ApiErrorCode, message: string, context: Record<string, unknown> = {}, httpStatus?: number) {
    const status = httpStatus ?? HTTP_STATUS[code];
    super(message, { extensions: { code, ...(status ? { http: { status } } : {}) } });
    this.name = 'ApiError';
    this.code = code;
    this.context = context;
  }
}

/** Raised at start-up for settings that would make the server unsafe or unable to run. */
export class ApiConfigError extends ConntrailError<ApiConfigErrorCode> {}

/** GraphQL's and Apollo's own codes for malformed requests pass through as they are. */
const PASS_THROUGH = new Set([
  'GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'BAD_USER_INPUT', 'BAD_REQUEST', 'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND', 'PERSISTED_QUERY_NOT_SUPPORTED', 'INTROSPECTION_DISABLED', 'MAX_RECURSIVE_SELECTIONS_EXCEEDED',
]);

function storeCode(err: unknown): { code: ApiErrorCode; message: string } | null {
  if (!(err instanceof StoreError)) return null;
  const e = err;
  if (e.code === 'STORE_UNAVAILABLE') return { code: 'STORE_UNAVAILABLE', message: 'the store is unavailable, try again later' };
  const sqlState = e.context.sqlState;
  // Input the API let through but the database refused as a value (e.g. an address it cannot parse).
  if (sqlState === '22P02' || sqlState === '22003' || sqlState === '22021') return { code: 'BAD_USER_INPUT', message: 'a value in the request is out of range or malformed' };
  if (sqlState === '57014') return { code: 'QUERY_TOO_COMPLEX', message: 'the query took too long; narrow the range or the filter' };
  return null;
}

/**
 * Apollo's formatError: known errors keep their code and message, store errors map to stable codes, anything
 * else becomes INTERNAL_SERVER_ERROR with a generic message (and is logged with its details).
 */
export function makeFormatError(log: Logger): (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError {
  return (formatted, error) => {
    const base = { message: formatted.message, ...(formatted.locations ? { locations: formatted.locations } : {}), ...(formatted.path ? { path: formatted.path } : {}) };
    const original = unwrapResolverError(error);
    const inner = original instanceof GraphQLError && original.originalError ? original.originalError : original;
    const api = original instanceof ApiError ? original : inner instanceof ApiError ? inner : null;
    if (api) return { ...base, message: api.message, extensions: { code: api.code } };
    const mapped = storeCode(inner) ?? storeCode(original);
    if (mapped) {
      if (mapped.code !== 'BAD_USER_INPUT') log.warn({ err: String(inner), code: mapped.code, path: formatted.path }, 'store error in a request');
      return { ...base, message: mapped.message, extensions: { code: mapped.code } };
    }
    const code = formatted.extensions?.code;
    if (typeof code === 'string' && PASS_THROUGH.has(code)) {
      return { ...base, extensions: { code } };
    }
    log.error({ err: inner instanceof Error ? { name: inner.name, message: inner.message, stack: inner.stack } : String(inner), path: formatted.path }, 'internal error in a request');
    return { ...base, message: 'internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  };
}
