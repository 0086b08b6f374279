/**
 * Operation safety: a depth limit (a validation rule) and a cost estimate checked once the operation and its
 * variables are known (list sizes come from `first`/`limit`, which are often variables). Introspection fields
 * are exempt: the standard introspection query is deep but bounded, and it is off in production.
 */
import {
  GraphQLError, Kind, getArgumentValues, getNamedType, getNullableType, isCompositeType, isListType, isObjectType,
  type DocumentNode, type FieldNode, type FragmentDefinitionNode, type GraphQLField, type GraphQLObjectType, type GraphQLSchema,
  type OperationDefinitionNode, type SelectionSetNode, type ValidationContext, type ASTVisitor,
} from 'graphql';
import { ApiError } from './errors.js';

/** Assumed size of a list whose size no argument bounds (hosts, NAT hops of an edge, sources of a snapshot...). */
export const DEFAULT_LIST_SIZE = 10;
/** Lists that can be long without a size argument of their own. */
const UNBOUNDED_LIST_SIZE: Readonly<Record<string, number>> = { 'Query.hosts': 100, 'Query.traffic': 1000 };
const SIZE_ARGS = ['first', 'limit'] as const;

function isIntrospection(name: string): boolean {
  return name.startsWith('__');
}

/** Refuses documents nested deeper than maxDepth (counting fields, through fragments). */
export function depthLimitRule(maxDepth: number): (context: ValidationContext) => ASTVisitor {
  return (context) => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const def of context.getDocument().definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);

    function depthOf(set: SelectionSetNode, depth: number, seen: Set<string>): number {
      let max = depth;
      for (const sel of set.selections) {
        if (sel.kind === Kind.FIELD) {
          if (isIntrospection(sel.name.value)) continue;
          const d = sel.selectionSet ? depthOf(sel.selectionSet, depth + 1, seen) : depth + 1;
          max = Math.max(max, d);
        } else if (sel.kind === Kind.INLINE_FRAGMENT) {
          max = Math.max(max, depthOf(sel.selectionSet, depth, seen));
        } else {
          const frag = fragments.get(sel.name.value);
          // A fragment spread cycle is reported by NoFragmentCycles; do not loop on it here.
          if (!frag || seen.has(frag.name.value)) continue;
          max = Math.max(max, depthOf(frag.selectionSet, depth, new Set([...seen, frag.name.value])));
        }
        if (max > maxDepth) return max;
      }
      return max;
    }

    return {
      OperationDefinition(node) {
        const depth = depthOf(node.selectionSet, 0, new Set());
        if (depth > maxDepth) {
          const message = `the operation is nested deeper than ${maxDepth} levels`;
          context.reportError(new GraphQLError(message, {
            nodes: [node], originalError: new ApiError('QUERY_TOO_COMPLEX', message, { depth }),
          }));
        }
      },
    };
  };
}

interface CostInput {
  /** Sizes above this are refused by the resolvers (PAGE_TOO_LARGE), so they are priced at this. */
  readonly maxListSize?: number;
  readonly schema: GraphQLSchema;
  readonly document: DocumentNode;
  readonly operationName: string | null | undefined;
  readonly variables: Readonly<Record<string, unknown>> | undefined;
}

function sizeArgument(field: GraphQLField<unknown, unknown>, node: FieldNode, variables: Record<string, unknown>, max: number): number | null {
  if (!field.args.some((a) => (SIZE_ARGS as readonly string[]).includes(a.name))) return null;
  let values: Record<string, unknown>;
  try {
    values = getArgumentValues(field, node, variables);
  } catch {
    return null; // invalid arguments are reported by execution; cost them as unbounded lists
  }
  for (const name of SIZE_ARGS) {
    const v = values[name];
    if (typeof v === 'number' && Number.isFinite(v)) return Math.min(Math.max(v, 1), max);
  }
  return null;
}

/**
 * Estimated cost of the operation: every field costs 1, times the sizes of the lists it sits in. A field with a
 * `first`/`limit` argument passes that size to the lists right under it (a page's edges, a graph's nodes and
 * edges); other lists count DEFAULT_LIST_SIZE.
 */
export function estimateCost(input: CostInput): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  let operation: OperationDefinitionNode | undefined;
  for (const def of input.document.definitions) {
    if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
    else if (def.kind === Kind.OPERATION_DEFINITION && (input.operationName == null || def.name?.value === input.operationName)) operation ??= def;
  }
  if (!operation) return 0;
  const root = operation.operation === 'query' ? input.schema.getQueryType() : operation.operation === 'mutation' ? input.schema.getMutationType() : input.schema.getSubscriptionType();
  if (!root) return 0;
  const variables = { ...(input.variables ?? {}) };
  const maxListSize = input.maxListSize ?? Number.MAX_SAFE_INTEGER;

  function costOf(set: SelectionSetNode, parent: GraphQLObjectType, multiplier: number, pendingSize: number | null, seen: Set<string>): number {
    let total = 0;
    for (const sel of set.selections) {
      if (sel.kind === Kind.INLINE_FRAGMENT) {
        total += costOf(sel.selectionSet, parent, multiplier, pendingSize, seen);
        continue;
      }
      if (sel.kind === Kind.FRAGMENT_SPREAD) {
        const frag = fragments.get(sel.name.value);
        if (frag && !seen.has(frag.name.value)) total += costOf(frag.selectionSet, parent, multiplier, pendingSize, new Set([...seen, frag.name.value]));
        continue;
      }
      if (isIntrospection(sel.name.value)) { total += multiplier; continue; }
      const field = parent.getFields()[sel.name.value];
      if (!field) continue;
      const own = sizeArgument(field, sel, variables, maxListSize);
      const isList = isListType(getNullableType(field.type));
      const listSize = isList ? (own ?? pendingSize ?? UNBOUNDED_LIST_SIZE[`${parent.name}.${field.name}`] ?? DEFAULT_LIST_SIZE) : 1;
      const here = multiplier * listSize;
      total += here;
      const named = getNamedType(field.type);
      if (sel.selectionSet && isCompositeType(named) && isObjectType(named)) {
        // A size argument on a non-list field (a page, a graph) bounds the lists right below it.
        const nextPending = !isList && own !== null ? own : null;
        total += costOf(sel.selectionSet, named, here, nextPending, seen);
      }
      if (total > Number.MAX_SAFE_INTEGER / 2) return total;
    }
    return total;
  }

  return costOf(operation.selectionSet, root, 1, null, new Set());
}

/** Throws QUERY_TOO_COMPLEX when the operation's estimated cost is above maxCost. */
export function checkCost(input: CostInput, maxCost: number): number {
  const cost = estimateCost(input);
  if (cost > maxCost) {
    throw new ApiError('QUERY_TOO_COMPLEX', `the operation's estimated cost ${cost} is above the limit of ${maxCost}; ask for fewer or smaller lists`, { cost, maxCost });
  }
  return cost;
}
