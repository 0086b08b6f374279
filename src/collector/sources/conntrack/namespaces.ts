import { readdirSync, readlinkSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';

/**
 * The network namespaces of a host, each once: the namespaces processes are in (/proc/<pid>/ns/net, whose
 * link text 'net:[INODE]' names it) and the named ones under /run/netns (bind mounts, whose inode is the
 * namespace's: a router namespace often has no process at all). The inode is the id every other source tags
 * its rows with, so a translation read here joins the sockets of its namespace.
 */

export interface NamespaceEntry {
  readonly inode: number;
  /** Processes in it (ascending): any of them shows its tables under /proc/<pid>/net. */
  readonly pids: readonly number[];
  /** A bind mount naming it (/run/netns/NAME), when there is one. */
  readonly mountPath: string | null;
}

export interface NamespaceDiscovery {
  readonly namespaces: readonly NamespaceEntry[];
  /** Processes or mounts that vanished (or could not be read) while listing. */
  readonly unreadable: number;
}

export interface DiscoverOptions {
  readonly procRoot?: string;
  /** Where named namespaces are mounted; null: none. */
  readonly netnsDir?: string | null;
}

/** The inode in a namespace link text 'net:[4026531840]', or null. */
export function netnsInodeOf(linkText: string): number | null {
  const m = /^net:\[(\d{1,15})\]$/.exec(linkText);
  return m ? Number(m[1]) : null;
}

function linkInode(path: string): number | null {
  try {
    return netnsInodeOf(readlinkSync(path));
  } catch {
    return null; // exited meanwhile, a zombie, or no permission
  }
}

/** Lists every network namespace once, by inode. */
export async function discoverNamespaces(options: DiscoverOptions = {}): Promise<NamespaceDiscovery> {
  const root = options.procRoot ?? '/proc';
  const byInode = new Map<number, { pids: number[]; mountPath: string | null }>();
  let unreadable = 0;
  const pids = readdirSync(root).filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
  // One readlink per process, synchronous: each is a few µs, while a round trip through the thread pool per
  // process costs far more than the call itself (the list can hold tens of thousands).
  for (const pid of pids) {
    const inode = linkInode(`${root}/${pid}/ns/net`);
    if (inode === null) {
      unreadable++;
      continue;
    }
    const entry = byInode.get(inode);
    if (entry) entry.pids.push(pid);
    else byInode.set(inode, { pids: [pid], mountPath: null });
  }
  const dir = options.netnsDir === undefined ? '/run/netns' : options.netnsDir;
  if (dir !== null) {
    const mounts = await readdir(dir).catch(() => [] as string[]);
    const nsfs = mounts.length > 0 ? await nsfsDevice(root).catch(() => null) : null;
    for (const name of mounts.sort()) {
      const path = `${dir}/${name}`;
      // The inode of a mounted namespace file is the namespace's; an unmounted placeholder is a plain empty file
      // (its inode belongs to the file system, device not nsfs) and names nothing.
      const st = await stat(path).catch(() => null);
      if (st === null || st.size !== 0) {
        unreadable++;
        continue;
      }
      const entry = byInode.get(st.ino);
      if (entry) entry.mountPath ??= path;
      else if (st.dev === nsfs) byInode.set(st.ino, { pids: [], mountPath: path });
    }
  }
  const namespaces = [...byInode.entries()].sort(([a], [b]) => a - b).map(([inode, e]) => ({ inode, pids: e.pids, mountPath: e.mountPath }));
  return { namespaces, unreadable };
}

/** The device number of the namespace file system (that of our own /proc/self/ns/net), to tell mounts from placeholders. */
async function nsfsDevice(root: string): Promise<number> {
  return (await stat(`${root}/self/ns/net`)).dev;
}
