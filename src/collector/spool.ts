import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Snapshot } from '../domain/snapshot.js';
import { raceAbort } from './abort.js';
import { CollectorError, errorMessage } from './errors.js';
import { silentLogger, type Logger } from '../domain/logger.js';
import { isSnapshotRefused, type SnapshotSink } from './sink.js';
import { decodeHeader, decodeSnapshot, encodeSnapshot, spoolFileName, timeOfSpoolFile } from './spool-format.js';

/**
 * A bounded on-disk queue of snapshots the sink could not take. One file per snapshot, named by its time
 * (so order survives restarts), written to a temporary name, fsynced and renamed into place. Replayed oldest
 * first; a corrupt or refused file is moved aside, never retried forever; when full the oldest is dropped
 * and the loss is kept (on disk too) until it is reported in a later snapshot's completeness record.
 * One process owns a spool directory.
 */

export interface SpoolOptions {
  readonly dir: string;
  /** Default 5760: a day of 15 s snapshots. */
  readonly maxFiles?: number;
  /** Default 256 MiB. */
  readonly maxBytes?: number;
  /** Files kept in corrupt/ and rejected/ for inspection (default 50 each). */
  readonly maxAside?: number;
  readonly logger?: Logger;
}

/** What was lost since the last time losses were taken: to go into the next snapshot's completeness. */
export interface SpoolLosses {
  readonly snapshots: number;
  /** Rows of the lost snapshots (at least one per snapshot, so a loss never reads as zero). */
  readonly events: number;
  readonly errors: readonly string[];
  /** Explanations past the cap on `errors`: not kept, but counted. */
  readonly omitted: number;
}

export type ReplayStop = 'drained' | 'unavailable' | 'aborted';

export interface ReplayResult {
  readonly written: number;
  readonly rejected: number;
  readonly corrupt: number;
  readonly stoppedBy: ReplayStop;
  readonly remaining: number;
}

export interface SpoolStats {
  readonly depth: number;
  readonly bytes: number;
  readonly droppedTotal: number;
  readonly corruptTotal: number;
  readonly rejectedTotal: number;
  readonly replayedTotal: number;
}

interface Entry {
  readonly name: string;
  readonly timeMs: number;
  readonly size: number;
}

const LOSSES_FILE = 'losses.json';
const MAX_ERROR_TEXTS = 20;
const NO_LOSSES: SpoolLosses = Object.freeze({ snapshots: 0, events: 0, errors: Object.freeze([]) as readonly string[], omitted: 0 });

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes a file durably: temporary name, fsync, rename, fsync of the directory. */
async function writeAtomic(dir: string, name: string, data: Buffer): Promise<void> {
  const tmp = join(dir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, join(dir, name));
  await fsyncDir(dir);
}

function parseLosses(text: string): SpoolLosses {
  const v = JSON.parse(text) as Partial<SpoolLosses>;
  return {
    snapshots: Number(v.snapshots) || 0,
    events: Number(v.events) || 0,
    errors: Array.isArray(v.errors) ? v.errors.map(String).slice(0, MAX_ERROR_TEXTS) : [],
    omitted: Number(v.omitted) || 0,
  };
}

export class Spool {
  private entries: Entry[];
  private totalBytes: number;
  private losses: SpoolLosses;
  private tail: Promise<void> = Promise.resolve();
  private counts = { dropped: 0, corrupt: 0, rejected: 0, replayed: 0 };

  private constructor(
    private readonly dir: string,
    private readonly maxFiles: number,
    private readonly maxBytes: number,
    private readonly maxAside: number,
    private readonly logger: Logger,
    entries: Entry[],
    losses: SpoolLosses,
  ) {
    this.entries = entries;
    this.totalBytes = entries.reduce((n, e) => n + e.size, 0);
    this.losses = losses;
  }

  /** Opens (creating) a spool directory: indexes its files, removes half-written ones, reloads the losses. */
  static async open(options: SpoolOptions): Promise<Spool> {
    const maxFiles = options.maxFiles ?? 5760;
    const maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
    if (!(maxFiles >= 1) || !(maxBytes >= 1)) {
      throw new CollectorError('CONFIG_INVALID', 'spool bounds must be >= 1', { maxFiles, maxBytes });
    }
    const logger = options.logger ?? silentLogger;
    try {
      for (const sub of ['', 'corrupt', 'rejected']) await mkdir(join(options.dir, sub), { recursive: true, mode: 0o700 });
      const entries: Entry[] = [];
      for (const name of (await readdir(options.dir)).sort()) {
        if (name.endsWith('.tmp')) {
          await unlink(join(options.dir, name));
          continue;
        }
        const timeMs = timeOfSpoolFile(name);
        if (timeMs === null) continue;
        entries.push({ name, timeMs, size: (await stat(join(options.dir, name))).size });
      }
      let losses = NO_LOSSES;
      try {
        losses = parseLosses(await readFile(join(options.dir, LOSSES_FILE), 'utf8'));
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'ENOENT') logger.warn({ err: errorMessage(err) }, 'spool: unreadable losses file ignored');
      }
      return new Spool(options.dir, maxFiles, maxBytes, options.maxAside ?? 50, logger, entries, losses);
    } catch (err) {
      throw new CollectorError('SPOOL_IO', `cannot open spool: ${errorMessage(err)}`, { dir: options.dir }, { cause: err });
    }
  }

  get depth(): number {
    return this.entries.length;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  stats(): SpoolStats {
    const c = this.counts;
    return { depth: this.depth, bytes: this.bytes, droppedTotal: c.dropped, corruptTotal: c.corrupt, rejectedTotal: c.rejected, replayedTotal: c.replayed };
  }

  /** Spools one snapshot, then drops the oldest files while over a bound. Returns how many were dropped. */
  put(snapshot: Snapshot): Promise<number> {
    return this.exclusive(async () => {
      const name = spoolFileName(snapshot.timeMs);
      const data = encodeSnapshot(snapshot);
      try {
        await writeAtomic(this.dir, name, data);
      } catch (err) {
        throw new CollectorError('SPOOL_IO', `cannot spool snapshot: ${errorMessage(err)}`, { dir: this.dir, name }, { cause: err });
      }
      const replaced = this.entries.find((e) => e.name === name);
      if (replaced) this.remove(replaced);
      this.entries.push({ name, timeMs: snapshot.timeMs, size: data.length });
      this.totalBytes += data.length;
      this.entries.sort((a, b) => a.timeMs - b.timeMs);
      let dropped = 0;
      while (this.entries.length > 0 && (this.entries.length > this.maxFiles || this.bytes > this.maxBytes)) {
        await this.dropOldest();
        dropped++;
      }
      if (dropped > 0) await this.saveLosses();
      return dropped;
    });
  }

  /**
   * Hands spooled snapshots to the sink, oldest first, removing each once written. Stops at the first
   * error other than a refusal (the sink is down, read-only, timing out...) or abort; a file that does not
   * verify, or whose data the sink refuses, is moved aside.
   */
  replay(sink: SnapshotSink, signal: AbortSignal): Promise<ReplayResult> {
    return this.exclusive(async () => {
      let written = 0;
      let rejected = 0;
      let corrupt = 0;
      let stoppedBy: ReplayStop = 'drained';
      while (this.entries.length > 0) {
        if (signal.aborted) {
          stoppedBy = 'aborted';
          break;
        }
        const entry = this.entries[0] as Entry;
        const decoded = await readFile(join(this.dir, entry.name)).then(decodeSnapshot,
          (err: unknown) => ({ ok: false as const, reason: `unreadable: ${errorMessage(err)}`, header: null }));
        if (!decoded.ok) {
          corrupt++;
          this.counts.corrupt++;
          this.logger.error({ file: entry.name, reason: decoded.reason }, 'spool: corrupt snapshot moved aside');
          await this.moveAside(entry, 'corrupt', Math.max(1, decoded.header?.rows ?? 1), `spool: corrupt snapshot ${entry.name} (${decoded.reason}) moved aside`);
          continue;
        }
        try {
          await raceAbort(sink.write(decoded.snapshot, signal), signal, 'spool replay');
        } catch (err) {
          if (signal.aborted) {
            stoppedBy = 'aborted';
            break;
          }
          if (!isSnapshotRefused(err)) {
            stoppedBy = 'unavailable';
            break;
          }
          rejected++;
          this.counts.rejected++;
          this.logger.error({ file: entry.name, err: errorMessage(err) }, 'spool: sink refused snapshot, moved aside');
          await this.moveAside(entry, 'rejected', Math.max(1, decoded.header.rows), `spool: sink refused snapshot ${entry.name}: ${errorMessage(err)}`);
          // The losses it carried from earlier intervals went down with it: report them again.
          this.carryLosses(decoded.snapshot.completeness.eventsLost, decoded.snapshot.completeness.errors);
          continue;
        }
        await unlink(join(this.dir, entry.name));
        this.remove(entry);
        written++;
        this.counts.replayed++;
      }
      if (corrupt + rejected > 0) await this.saveLosses();
      return { written, rejected, corrupt, stoppedBy, remaining: this.entries.length };
    });
  }

  /** Returns and clears the losses not yet reported. */
  takeLosses(): Promise<SpoolLosses> {
    return this.exclusive(async () => {
      const taken = this.losses;
      if (taken.snapshots === 0) return NO_LOSSES;
      this.losses = NO_LOSSES;
      await this.saveLosses();
      return taken;
    });
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.then(() => undefined, () => undefined);
    return run;
  }

  private remove(entry: Entry): void {
    this.entries = this.entries.filter((e) => e !== entry);
    this.totalBytes -= entry.size;
  }

  private recordLoss(events: number, error: string): void {
    this.addLosses(1, events, [error]);
  }

  private carryLosses(events: number, errors: readonly string[]): void {
    this.addLosses(0, events, errors);
  }

  private addLosses(snapshots: number, events: number, errors: readonly string[]): void {
    const all = [...this.losses.errors, ...errors];
    const kept = all.slice(0, MAX_ERROR_TEXTS);
    const l = this.losses;
    this.losses = { snapshots: l.snapshots + snapshots, events: l.events + events, errors: kept, omitted: l.omitted + all.length - kept.length };
  }

  private async saveLosses(): Promise<void> {
    await writeAtomic(this.dir, LOSSES_FILE, Buffer.from(JSON.stringify(this.losses), 'utf8'));
  }

  private async dropOldest(): Promise<void> {
    const entry = this.entries[0] as Entry;
    this.remove(entry);
    const path = join(this.dir, entry.name);
    let rows = 1;
    try {
      const handle = await open(path, 'r');
      try {
        const { buffer, bytesRead } = await handle.read(Buffer.alloc(512), 0, 512, 0);
        rows = Math.max(1, decodeHeader(buffer.subarray(0, bytesRead))?.rows ?? 1);
      } finally {
        await handle.close();
      }
    } catch {
      // An unreadable file is dropped all the same; it counts as one lost row.
    }
    await unlink(path).catch(() => undefined);
    this.counts.dropped++;
    const when = new Date(entry.timeMs).toISOString();
    this.logger.warn({ file: entry.name, rows }, 'spool full: dropped the oldest snapshot');
    this.recordLoss(rows, `spool full: dropped snapshot of ${when} (${rows} rows)`);
  }

  private async moveAside(entry: Entry, kind: 'corrupt' | 'rejected', rows: number, error: string): Promise<void> {
    const asideDir = join(this.dir, kind);
    await rename(join(this.dir, entry.name), join(asideDir, entry.name))
      .catch(() => unlink(join(this.dir, entry.name)))
      .catch(() => undefined);
    this.remove(entry);
    this.recordLoss(rows, error);
    const aside = (await readdir(asideDir)).sort();
    for (const old of aside.slice(0, Math.max(0, aside.length - this.maxAside))) await unlink(join(asideDir, old)).catch(() => undefined);
  }
}
