/** All resolvers, with the enums' internal values (the store's lower-case words) and the scalars. */
import { DateTimeScalar, LongScalar } from '../scalars.js';
import { entityQueries, entityTypes } from './entities.js';
import { graphQueries, graphTypes } from './graph.js';
import { listenerQueries, listenerTypes } from './listeners.js';
import { recordQueries, recordTypes } from './records.js';

export const resolvers = {
  DateTime: DateTimeScalar,
  Long: LongScalar,
  Protocol: { TCP: 'tcp', UDP: 'udp' },
  Direction: { OUTGOING: 'outgoing', INCOMING: 'incoming', UNKNOWN: 'unknown' },
  Window: {
    from: (w: { from: number }) => w.from,
    to: (w: { to: number }) => w.to,
  },
  Query: { ...graphQueries, ...recordQueries, ...entityQueries, ...listenerQueries },
  ...graphTypes,
  ...recordTypes,
  ...entityTypes,
  // Host and Process gain their listener fields beside the entity fields.
  Host: { ...entityTypes.Host, ...listenerTypes.Host },
  Process: { ...entityTypes.Process, ...listenerTypes.Process },
  Listener: listenerTypes.Listener,
};
