/** The conntrack source: a parser of list/event/proc lines, NAT classification, and the readers. */
export {
  CONNTRACK_TCP_STATES,
  type ConntrackEvent, type ConntrackEventType, type ConntrackLine, type ConntrackParse, type ConntrackTcpState,
  type Flow, type FlowCounters,
} from './types.js';
export { parseConntrackLine, parseConntrackText } from './parse.js';
export { flowToNat, flowToObservation, natKindOf } from './nat.js';
export { ConntrackError, type ConntrackErrorCode } from './errors.js';
export { conntrackCommand, missingExecutable, resolveExecutable, type Command, type ConntrackCommandOptions } from './command.js';
export { listConntrack, readProcConntrack, type ConntrackFamily, type ConntrackListing, type ListConntrackOptions } from './list.js';
export {
  ConntrackStream, streamArgs,
  type ConntrackLoss, type ConntrackStreamExit, type ConntrackStreamOptions, type ConntrackStreamStats,
} from './stream.js';
export { runCommand, type RunOptions, type RunResult } from './run.js';
export { discoverNamespaces, netnsInodeOf, type NamespaceDiscovery, type NamespaceEntry } from './namespaces.js';
export {
  DEFAULT_NAMESPACE_BUDGET_MS, DEFAULT_NAMESPACE_CONCURRENCY, NamespaceConntrackTables,
  type NamespaceTablesOptions, type NamespaceTablesReading,
} from './namespace-tables.js';
