/** The /proc source: net tables per network namespace, socket owners from fd links, and full snapshots. */
export {
  canonicalAddressText, decodeProcHexAddress, formatAddress, isUnspecifiedAddress, parseIpv4Text, parseIpv6Text,
  type ByteOrder,
} from './address.js';
export { errnoCode, isVanished, ProcfsError, type ProcfsErrorCode } from './errors.js';
export {
  createAddressCache, isConnectedEntry, isListeningEntry, parseNetTable, stateFromCode,
  type AddressCache, type NetTableEntry, type NetTableParse, type NetTableParseOptions,
} from './net-table.js';
export { listNetNamespaces, listPids, parseNetnsLink, readNetnsInode, type NetnsListing } from './netns.js';
export {
  ALL_NET_TABLES, NetTablesMemory, readNetTables,
  type NetnsSelection, type NetnsTables, type NetTableName, type NetTablesRead, type ReadNetTablesOptions,
} from './net-tables-reader.js';
export { FdWalk, parseSocketLink, walkSocketOwners, type FdWalkStats, type SocketOwners } from './fd-walk.js';
export {
  BackgroundFdWalker, DEFAULT_FD_BLOCK_SIZE, DEFAULT_TARGET_WALK_MS, scheduleNextWalk,
  type BackgroundFdWalkerOptions, type BackgroundFdWalkerStats,
} from './background-fd-walker.js';
export { DEFAULT_FULL_WALK_GAP_MS, SocketOwnerIndex, type OwnerResolveStats, type SocketOwnerIndexOptions } from './owner-index.js';
export { ReadBuffer, readProcFile, readProcFileHead } from './read-file.js';
export {
  entryToListening, entryToObservation, ProcfsScanMemory, takeProcfsSnapshot,
  type ProcfsSnapshot, type ProcfsSnapshotOptions, type ProcfsSnapshotStats,
} from './snapshot.js';
export { parseSockstat, tableMayHaveEntries, type SockstatCounts } from './sockstat.js';
