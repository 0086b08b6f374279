/** The GraphQL documents the UI sends; one request per redraw. */
const NODE = 'id kind name containerId address host { id } process { pid name startedAt }';
const ENDPOINT = `node { ${NODE} } address port host { id } process { pid name startedAt }`;
const TUPLE = 'source sourcePort destination destinationPort';
export const EDGE_FIELDS = `id protocol match matches { match connections } connections bytesSent bytesReceived firstSeen lastSeen
  client { ${ENDPOINT} } server { ${ENDPOINT} }
  nat { host { id } kind protocol translations firstSeen lastSeen original { ${TUPLE} } reply { ${TUPLE} } }`;

export const MAP = `query Map($range: TimeRange!, $groupBy: Grouping, $filter: TalkerFilter, $limit: Int) {
  talkers(range: $range, groupBy: $groupBy, filter: $filter, limit: $limit) {
    resolution totalEdges coverage { complete hostsReporting { id } } edges { ${EDGE_FIELDS} }
  }
}`;

export const DIFF = `query Diff($ledger: TimeRange!, $before: TimeRange!, $after: TimeRange!, $since: DateTime!, $groupBy: Grouping, $filter: TalkerFilter, $limit: Int) {
  fresh: edges(range: $ledger, since: $since, groupBy: $groupBy, filter: $filter, limit: $limit) { id }
  before: edges(range: $before, groupBy: $groupBy, filter: $filter, limit: $limit) { ${EDGE_FIELDS} }
  after: edges(range: $after, groupBy: $groupBy, filter: $filter, limit: $limit) { id }
}`;

export const TRAFFIC = `query Traffic($range: TimeRange!, $step: Int!, $out: TrafficFilter, $in: TrafficFilter) {
  out: traffic(range: $range, step: $step, filter: $out) { time bytesSent bytesReceived connections }
  in: traffic(range: $range, step: $step, filter: $in) { time bytesSent bytesReceived connections }
}`;

export const COVERAGE = `query Coverage($range: TimeRange!) {
  coverage(range: $range) { complete hostsReporting { id } hostsWithGaps { host { id } gaps { from to } incompleteSnapshots } }
}`;

const CONNECTION = `time direction protocol localAddress localPort remoteAddress remotePort state bytesSent bytesReceived openedAt closedAt count
  host { id } process { pid name }`;

export const PROCESS_DETAILS = `query ProcessDetails($host: ID!, $pid: Int!, $at: DateTime, $range: TimeRange!, $first: Int, $after: String) {
  process(host: $host, pid: $pid, at: $at) {
    pid startedAt name exe cmdline uid containerId cgroup firstSeen lastSeen host { id }
    listeners(range: $range, first: 20) { edges { node { protocol address port firstSeen lastSeen } } }
    connections(range: $range, first: $first, after: $after) { pageInfo { hasNextPage endCursor } edges { node { ${CONNECTION} } } }
  }
}`;

export const HOST_DETAILS = `query HostDetails($host: ID!, $range: TimeRange!, $first: Int, $after: String) {
  host(id: $host) {
    id firstSeen lastSeen
    snapshots(range: $range, first: 1) { recorded gaps { from to } }
    connections(range: $range, first: $first, after: $after) { pageInfo { hasNextPage endCursor } edges { node { ${CONNECTION} } } }
  }
}`;

export const EDGE_CONNECTIONS = `query EdgeConnections($range: TimeRange!, $filter: ConnectionFilter, $first: Int, $after: String) {
  connections(range: $range, filter: $filter, first: $first, after: $after) { pageInfo { hasNextPage endCursor } edges { node { ${CONNECTION} } } }
}`;

export const RESOLVE = `query Resolve($address: String!, $port: Int!, $at: DateTime!, $client: String) {
  resolve(address: $address, port: $port, at: $at, client: $client) {
    address port at translated targets { role address port host { id } process { pid name } }
  }
}`;
