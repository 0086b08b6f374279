/**
 * Operation safety: a depth limit (a validation rule) and a cost estimate checked once the operation and its
 * variables are known (list sizes come from `first`/`limit`, which are often variables). Introspection fields
 * are exempt: the standard introspection query is deep but bounded, and it is off in production.
 */
import {
  GraphQLError, Kind, getArgumentValues, getNamedType, getNullableType, isCompositeType, isListType, isObjectType,
  type DocumentNode, type FieldNode, type FragmentDefinitionNode, type GraphQLField, type GraphQLObjectType, type GraphQLSchema,
  type OperationDefinitionNode, type SelectionSetNode, type ValidationContext, type ASTVisitor, visit,
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

/**
 * Refuses documents nested deeper than maxDepth (counting fields, through fragments). Each fragment's own depth
 * is computed once and remembered: a document whose fragments each spread the next twice would otherwise be
 * walked 2^n times (a few hundred bytes holding seconds of CPU).
 */
export function depthLimitRule(maxDepth: number): (context: ValidationContext) => ASTVisitor {
  return (context) => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const def of context.getDocument().definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
    const fragmentDepth = new Map<string, number>();
    const inProgress = new Set<string>();

    /** Depth of a selection set below the field holding it (0 for an empty set). */
    function depthOf(set: SelectionSetNode): number {
      let max = 0;
      for (const sel of set.selections) {
        if (sel.kind === Kind.FIELD) {
          if (isIntrospection(sel.name.value)) continue;
          max = Math.max(max, 1 + (sel.selectionSet ? depthOf(sel.selectionSet) : 0));
        } else if (sel.kind === Kind.INLINE_FRAGMENT) {
          max = Math.max(max, depthOf(sel.selectionSet));
        } else {
          max = Math.max(max, depthOfFragment(sel.name.value));
        }
      }
      return max;
    }

    function depthOfFragment(name: string): number {
      const known = fragmentDepth.get(name);
      if (known !== undefined) return known;
      const frag = fragments.get(name);
      // A fragment spread cycle is reported by NoFragmentCycles; do not loop on it here.
      if (!frag || inProgress.has(name)) return 0;
      inProgress.add(name);
      const depth = depthOf(frag.selectionSet);
      inProgress.delete(name);
      fragmentDepth.set(name, depth);
      return depth;
    }

    return {
      OperationDefinition(node) {
        const depth = depthOf(node.selectionSet);
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

/**
 * Refuses documents with more than maxAliases aliased fields: each alias runs its field again, so aliases
 * multiply work that no list-size argument bounds (500 aliases of `hosts`, each just under the cost limit).
 */
export function aliasLimitRule(maxAliases: number): (context: ValidationContext) => ASTVisitor {
  return (context) => {
    let aliases = 0;
    let reported = false;
    return {
      Field(node) {
        if (!node.alias || reported) return;
        aliases++;
        if (aliases > maxAliases) {
          reported = true;
          const message = `the document uses more than ${maxAliases} aliases`;
          context.reportError(new GraphQLError(message, {
            nodes: [node], originalError: new ApiError('QUERY_TOO_COMPLEX', message, { maxAliases }),
          }));
        }
      },
    };
  };
}

/**
 * Refuses NUL characters in any string argument (literal or variable): PostgreSQL text cannot hold them, so
 * they are bad input, not a store failure.
 */
export function checkNoNulStrings(document: DocumentNode, variables: Readonly<Record<string, unknown>> | undefined): void {
  const refuse = (where: string): never => {
    throw new ApiError('BAD_USER_INPUT', `${where} contains a NUL character`, { where }, 400);
  };
  for (const [name, value] of Object.entries(variables ?? {})) {
    // Iterative: a deeply nested variable must not overflow the stack.
    const stack: unknown[] = [value];
    while (stack.length > 0) {
      const v = stack.pop();
      if (typeof v === 'string') {
        if (v.includes('\u0000')) refuse(`variable $${name}`);
      } else if (v !== null && typeof v === 'object') {
        for (const inner of Object.values(v)) stack.push(inner);
      }
    }
  }
  visit(document, {
    StringValue(node) {
      if (node.value.includes('\u0000')) refuse('a string argument');
    },
  });
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

  // The cost of a selection set is proportional to the multiplier it is reached with, so a fragment's cost is
  // computed once per (fragment, parent type, pending size) at multiplier 1 and scaled: a document whose fragments
  // each spread the next twice costs a walk of each fragment, not 2^n walks.
  const fragmentCost = new Map<string, number>();
  const inProgress = new Set<string>();
  const cap = Number.MAX_SAFE_INTEGER / 2;

  function costOfFragment(frag: FragmentDefinitionNode, parent: GraphQLObjectType, pendingSize: number | null): number {
    const key = `${frag.name.value}|${parent.name}|${pendingSize ?? ''}`;
    const known = fragmentCost.get(key);
    if (known !== undefined) return known;
    // A cycle is refused by validation before costs are computed; never loop on one here.
    if (inProgress.has(frag.name.value)) return 0;
    inProgress.add(frag.name.value);
    const cost = costOf(frag.selectionSet, parent, 1, pendingSize);
    inProgress.delete(frag.name.value);
    fragmentCost.set(key, cost);
    return cost;
  }

  function costOf(set: SelectionSetNode, parent: GraphQLObjectType, multiplier: number, pendingSize: number | null): number {
    let total = 0;
    for (const sel of set.selections) {
      if (sel.kind === Kind.INLINE_FRAGMENT) {
        total += costOf(sel.selectionSet, parent, multiplier, pendingSize);
      } else if (sel.kind === Kind.FRAGMENT_SPREAD) {
        const frag = fragments.get(sel.name.value);
        if (frag) total += multiplier * costOfFragment(frag, parent, pendingSize);
      } else if (isIntrospection(sel.name.value)) {
        total += multiplier;
      } else {
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
          total += costOf(sel.selectionSet, named, here, nextPending);
        }
      }
      if (total > cap) return cap;
    }
    return total;
  }

  return costOf(operation.selectionSet, root, 1, null);
}

/** Throws QUERY_TOO_COMPLEX when the operation's estimated cost is above maxCost. */
export function checkCost(input: CostInput, maxCost: number): number {
  const cost = estimateCost(input);
  if (cost > maxCost) {
    throw new ApiError('QUERY_TOO_COMPLEX', `the operation's estimated cost ${cost} is above the limit of ${maxCost}; ask for fewer or smaller lists`, { cost, maxCost });
  }
  return cost;
}
