import type { ListeningSocket, NatTranslation, ProcessInfo } from '../domain/connection.js';

/**
 * Merging the side tables of several readings (NAT translations, listening sockets, processes): each entry
 * once, gaps filled from the other sources. Pure.
 */

function natKey(t: NatTranslation): string {
  const o = t.original;
  const r = t.reply;
  return `${t.netns}|${t.protocol}|${o.src}:${o.srcPort}>${o.dst}:${o.dstPort}|${r.src}:${r.srcPort}>${r.dst}:${r.dstPort}`;
}

export function mergeNat(lists: readonly (readonly NatTranslation[])[]): NatTranslation[] {
  const out = new Map<string, NatTranslation>();
  for (const list of lists) {
    for (const t of list) {
      const key = natKey(t);
      const prior = out.get(key);
      out.set(key, prior ? {
        ...prior,
        conntrackId: prior.conntrackId ?? t.conntrackId,
        ...(prior.newCount === undefined && t.newCount === undefined ? {} : { newCount: prior.newCount === 1 || t.newCount === 1 ? 1 : 0 }),
        firstSeenMs: Math.min(prior.firstSeenMs, t.firstSeenMs),
        lastSeenMs: Math.max(prior.lastSeenMs, t.lastSeenMs),
      } : t);
    }
  }
  return [...out.values()];
}

export function mergeListening(lists: readonly (readonly ListeningSocket[])[]): ListeningSocket[] {
  const out = new Map<string, ListeningSocket>();
  for (const list of lists) {
    for (const l of list) {
      const key = `${l.netns}|${l.protocol}|${l.family}|${l.address}|${l.port}`;
      const prior = out.get(key);
      if (!prior || (prior.process === null && l.process !== null)) out.set(key, l);
    }
  }
  return [...out.values()];
}

export function mergeProcesses(lists: readonly (readonly ProcessInfo[])[]): ProcessInfo[] {
  const out = new Map<string, ProcessInfo>();
  for (const list of lists) {
    for (const p of list) {
      const key = `${p.pid}@${p.startedAtMs}`;
      const prior = out.get(key);
      out.set(key, prior ? {
        ...prior,
        name: prior.name || p.name,
        exe: prior.exe ?? p.exe,
        cmdline: prior.cmdline || p.cmdline,
        uid: prior.uid ?? p.uid,
        cgroup: prior.cgroup ?? p.cgroup,
        containerId: prior.containerId ?? p.containerId,
      } : p);
    }
  }
  return [...out.values()];
}
