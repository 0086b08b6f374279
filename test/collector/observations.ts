/** Builders of real domain values for the tracker's pure tests: readings as the sources would return them. */
import type {
  ListeningSocket, NatTranslation, ProcessInfo, SocketObservation, SourceName,
} from '../../src/domain/connection.js';
import type { SourceRun } from '../../src/domain/snapshot.js';
import type { SourceReading } from '../../src/collector/source.js';

export function obs(source: SourceName, local: string, remote: string, extra: Partial<SocketObservation> = {}): SocketObservation {
  const [la, lp] = splitEndpoint(local);
  const [ra, rp] = splitEndpoint(remote);
  return {
    source, netns: 4026531840, protocol: 'tcp', family: la.includes(':') ? 6 : 4,
    local: { address: la, port: lp }, remote: { address: ra, port: rp },
    state: 'ESTABLISHED', inode: null, process: null, direction: 'unknown',
    openedAtMs: null, closedAtMs: null, bytesSent: null, bytesReceived: null, retransmits: null, rttUs: null,
    ...extra,
  };
}

function splitEndpoint(e: string): [string, number] {
  const i = e.lastIndexOf(':');
  return [e.slice(0, i), Number(e.slice(i + 1))];
}

export function run(name: SourceName, extra: Partial<SourceRun> = {}): SourceRun {
  return { name, ok: true, durationMs: 1, skipped: 0, lost: 0, error: null, ...extra };
}

export function reading(name: SourceName, observations: SocketObservation[], extra: Partial<Omit<SourceReading, 'observations'>> = {}): SourceReading {
  return { observations, nat: [], listening: [], processes: [], run: run(name), ...extra };
}

export function listen(address: string, port: number, extra: Partial<ListeningSocket> = {}): ListeningSocket {
  return { netns: 4026531840, protocol: 'tcp', family: address.includes(':') ? 6 : 4, address, port, process: null, ...extra };
}

export function nat(orig: [string, number, string, number], reply: [string, number, string, number], extra: Partial<NatTranslation> = {}): NatTranslation {
  return {
    netns: 4026531840, protocol: 'tcp', conntrackId: null,
    original: { src: orig[0], srcPort: orig[1], dst: orig[2], dstPort: orig[3] },
    reply: { src: reply[0], srcPort: reply[1], dst: reply[2], dstPort: reply[3] },
    kind: 'DNAT', firstSeenMs: 0, lastSeenMs: 0, ...extra,
  };
}

export function proc(pid: number, name: string, extra: Partial<ProcessInfo> = {}): ProcessInfo {
  return { pid, startedAtMs: 1_700_000_000_000 + pid, name, exe: null, cmdline: name, uid: 0, cgroup: null, containerId: null, ...extra };
}
