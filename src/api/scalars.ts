/**
 * DateTime (ISO-8601 with a zone; epoch ms inside the API) and Long (64-bit counters).
 */
import { GraphQLScalarType, Kind } from 'graphql';
import { ApiError } from './errors.js';

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** Parses an ISO-8601 instant with a zone to epoch ms; a local time without a zone is ambiguous and refused. */
export function parseInstant(value: unknown): number {
  if (typeof value !== 'string' || !ISO_8601.test(value)) {
    throw new ApiError('BAD_USER_INPUT', 'DateTime must be an ISO-8601 string with a time zone, e.g. 2024-05-01T12:00:00Z');
  }
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw new ApiError('BAD_USER_INPUT', 'DateTime is not a valid instant');
  return ms;
}

function serializeInstant(value: unknown): string {
  if (typeof value === 'number' && Number.isFinite(value)) return new Date(value).toISOString();
  if (value instanceof Date) return value.toISOString();
  throw new TypeError('DateTime cannot represent a non-time value');
}

export const DateTimeScalar = new GraphQLScalarType({
  name: 'DateTime',
  serialize: serializeInstant,
  parseValue: parseInstant,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw new ApiError('BAD_USER_INPUT', 'DateTime must be a string');
    return parseInstant(ast.value);
  },
});

function serializeLong(value: unknown): number | string {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number.isSafeInteger(Number(value)) ? Number(value) : value;
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  throw new TypeError('Long cannot represent a non-integer value');
}

export const LongScalar = new GraphQLScalarType({
  name: 'Long',
  serialize: serializeLong,
  parseValue(value) {
    if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
    throw new ApiError('BAD_USER_INPUT', 'Long input must be a safe integer');
  },
  parseLiteral(ast) {
    if (ast.kind === Kind.INT && Number.isSafeInteger(Number(ast.value))) return Number(ast.value);
    throw new ApiError('BAD_USER_INPUT', 'Long input must be a safe integer');
  },
});
