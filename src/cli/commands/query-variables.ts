import {
  GraphQLInputObjectType, GraphQLList, GraphQLNonNull, GraphQLScalarType, Kind, buildSchema, parse, typeFromAST,
  type GraphQLInputType, type GraphQLSchema,
} from 'graphql';
import { TimeInputError, parseInstant } from '../../domain/time-input.js';
import { UsageError } from '../args.js';

/**
 * `--var` values for DateTime variables (and DateTime fields of input objects such as TimeRange) written as people
 * write times (`now-1h`, `-15m`, Unix seconds, ISO-8601) become the ISO-8601 instants the API takes. Which
 * variables are times comes from the operation's own variable definitions against the schema, so `--var limit=10`
 * stays a number while `--var at=1733450000` becomes a time.
 */

function coerce(value: unknown, type: GraphQLInputType, nowMs: number, path: string): unknown {
  if (value === null || value === undefined) return value;
  if (type instanceof GraphQLNonNull) return coerce(value, type.ofType, nowMs, path);
  if (type instanceof GraphQLList) {
    return Array.isArray(value) ? value.map((item, i) => coerce(item, type.ofType, nowMs, `${path}[${i}]`)) : coerce(value, type.ofType, nowMs, path);
  }
  if (type instanceof GraphQLScalarType && type.name === 'DateTime' && (typeof value === 'string' || typeof value === 'number')) {
    try {
      return new Date(parseInstant(String(value), nowMs)).toISOString();
    } catch (err) {
      if (err instanceof TimeInputError) throw new UsageError(`--var ${path}: ${err.message}`);
      throw err;
    }
  }
  if (type instanceof GraphQLInputObjectType && typeof value === 'object' && !Array.isArray(value)) {
    const fields = type.getFields();
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
      const field = fields[key];
      out[key] = field ? coerce(inner, field.type, nowMs, `${path}.${key}`) : inner;
    }
    return out;
  }
  return value;
}

/** The variables with every time-typed value turned into ISO-8601; a document that does not parse is left to the API to refuse. */
export function resolveTimeVariables(schema: GraphQLSchema, document: string, variables: Record<string, unknown>, nowMs: number): Record<string, unknown> {
  let ast;
  try {
    ast = parse(document);
  } catch {
    return variables;
  }
  const out = { ...variables };
  for (const definition of ast.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    for (const v of definition.variableDefinitions ?? []) {
      const name = v.variable.name.value;
      const type = typeFromAST(schema, v.type);
      if (type !== undefined && name in variables) out[name] = coerce(variables[name], type as GraphQLInputType, nowMs, name);
    }
  }
  return out;
}

export function schemaFrom(sdl: string): GraphQLSchema {
  return buildSchema(sdl);
}
