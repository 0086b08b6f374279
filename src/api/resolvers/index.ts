/** All resolvers, with the enums' internal values (the store's lower-case words) and the scalars. */
import type { ApiContext } from '../context.js';
import type { DirectionResolvers, ProtocolResolvers } from '../generated/graphql.js';
import { DateTimeScalar, LongScalar } from '../scalars.js';
import { coverageQueries, coverageTypes } from './coverage.js';
import { entityQueries, entityTypes } from './entities.js';
import { graphQueries, graphTypes } from './graph.js';
import { listenerQueries, listenerTypes } from './listeners.js';
import { nameQueries, nameTypes } from './names.js';
import { recordQueries, recordTypes } from './records.js';

type RootResolver = (parent: unknown, args: never, ctx: ApiContext, info: unknown) => unknown;

/** Every root field counted by the request's gate while it resolves (see root-gate.ts). */
function tracked(fields: Record<string, RootResolver>): Record<string, RootResolver> {
  return Object.fromEntries(Object.entries(fields).map(([name, resolve]) =>
    [name, (parent: unknown, args: never, ctx: ApiContext, info: unknown) => ctx.gate.track(resolve(parent, args, ctx, info))]));
}

type TypeResolvers = Record<string, Record<string, unknown>>;

/** Field resolvers of several files merged per type, so two files resolving fields of one type both count. */
function mergeTypes(...maps: TypeResolvers[]): TypeResolvers {
  const out: TypeResolvers = {};
  for (const map of maps) for (const [type, fields] of Object.entries(map)) out[type] = { ...out[type], ...fields };
  return out;
}

export const resolvers = {
  DateTime: DateTimeScalar,
  Long: LongScalar,
  Protocol: { TCP: 'tcp', UDP: 'udp' } satisfies ProtocolResolvers,
  Direction: { OUTGOING: 'outgoing', INCOMING: 'incoming', UNKNOWN: 'unknown' } satisfies DirectionResolvers,
  Window: {
    from: (w: { from: number }) => w.from,
    to: (w: { to: number }) => w.to,
  },
  Query: tracked({ ...graphQueries, ...recordQueries, ...entityQueries, ...coverageQueries, ...listenerQueries, ...nameQueries }),
  // Host and Process gain their listener fields beside the entity fields (merged per type).
  ...mergeTypes(graphTypes, recordTypes, entityTypes, coverageTypes, listenerTypes, nameTypes),
};
