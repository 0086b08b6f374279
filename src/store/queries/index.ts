/** The API's read queries. Everything here reads the documented bi.* views only, as the conntrail_reader role. */
export { fetchSideGroups, fetchTripleSideGroups, fetchNatGroups, type TripleSource, type NatSource } from './talkers.js';
export { fetchConnectionPages, isConnectionKey, processParentKey, type ConnectionFilter, type ConnectionKey, type ConnectionRecord, type ConnectionScope, type ProcessParent } from './connections.js';
export { listHosts, hostsByIds, processesByKeys, processAt, fetchProcessPages, isProcessKeyset, type HostRecord, type ProcessRecord, type ProcessKeyset } from './entities.js';
export { fetchNatPage, fetchResolveTranslations, fetchOwners, isNatKey, type NatKey, type NatRecord, type NatTuple, type Owner, type OwnerQuery, type ResolveLookup, type ResolveTranslations } from './nat.js';
export { fetchTraffic, type TrafficFilter, type TrafficPoint } from './traffic.js';
export { fetchSnapshotPages, fetchCoverage, isSnapshotKey, type Coverage, type SnapshotKey, type SnapshotRecord, type SourceRunRecord } from './snapshots.js';
export { fetchListenerPages, isListenerKey, type ListenerFilter, type ListenerKey, type ListenerRecord, type ListenerScope } from './listeners.js';
export { msToUs, type Page, type PageRequest, type TimeRange } from './sql.js';
export { refreshTalkerAggregates } from './aggregates.js';
export { fetchLongestIntervalMs } from './window.js';
export { fetchFleetCoverage, type FleetCoverageRecords, type HostCoverageRecord } from './coverage.js';
export { namesForAddresses, fetchNamesOf, fetchAddressesOf, nameKeyOf, NAME_LOOKBACK_MS, type AddressNameRecord, type AddressNames, type NameKey } from './names.js';
