import { readdirSync, readlinkSync } from 'node:fs';
import { ProcfsError } from './errors.js';

/**
 * Network namespaces seen through /proc: each process's /proc/<pid>/ns/net is a link whose text is
 * 'net:[INODE]'; the inode number names the namespace. Several processes share one namespace, and any of
 * them shows that namespace's sockets in /proc/<pid>/net/*.
 */

/** The namespace inode in a link text 'net:[4026531840]', or null. */
export function parseNetnsLink(text: string): number | null {
  if (!text.startsWith('net:[') || !text.endsWith(']')) return null;
  const digits = text.slice(5, -1);
  if (digits.length === 0 || digits.length > 15) return null;
  for (let i = 0; i < digits.length; i++) {
    const c = digits.charCodeAt(i);
    if (c < 48 || c > 57) return null;
  }
  return Number(digits);
}

/** Numeric entries of a /proc-like directory, ascending. */
export function listPids(root: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync(root)) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const pid = Number(name);
    if (Number.isInteger(pid)) pids.push(pid);
  }
  return pids.sort((a, b) => a - b);
}

/** Inode of the network namespace of `who` ('self' or a pid); throws ProcfsError when unreadable. */
export function readNetnsInode(root: string, who: number | 'self'): number {
  const path = `${root}/${who}/ns/net`;
  let text: string;
  try {
    text = readlinkSync(path);
  } catch (err) {
    throw new ProcfsError('PROC_UNREADABLE', `cannot read ${path}`, { path, cause: String(err) });
  }
  const inode = parseNetnsLink(text);
  if (inode === null) throw new ProcfsError('NETNS_UNRESOLVED', `unexpected namespace link ${text}`, { path, text });
  return inode;
}

export interface NetnsListing {
  /** Namespace inode -> pids in it, ascending. */
  readonly namespaces: ReadonlyMap<number, readonly number[]>;
  /** Processes whose namespace link could not be read (exited meanwhile, zombies, no permission). */
  readonly unreadable: number;
}

/** Every network namespace that has at least one process, with its processes. */
export function listNetNamespaces(root = '/proc'): NetnsListing {
  const namespaces = new Map<number, number[]>();
  let unreadable = 0;
  for (const pid of listPids(root)) {
    let text: string;
    try {
      text = readlinkSync(`${root}/${pid}/ns/net`);
    } catch {
      unreadable++;
      continue;
    }
    const inode = parseNetnsLink(text);
    if (inode === null) { unreadable++; continue; }
    const pids = namespaces.get(inode);
    if (pids === undefined) namespaces.set(inode, [pid]);
    else pids.push(pid);
  }
  return { namespaces, unreadable };
}
