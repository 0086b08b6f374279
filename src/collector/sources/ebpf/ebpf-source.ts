import type { SocketObservation } from '../../../domain/connection.js';
import type { SourceRun } from '../../../domain/snapshot.js';
import { raceAbort } from '../../abort.js';
import { errorMessage } from '../../errors.js';
import { silentLogger, type Logger } from '../../../domain/logger.js';
import type { ConnectionSource, SourceReading } from '../../source.js';
import { ProcessCache } from '../process/cache.js';
import { startedAtMs } from '../process/parse.js';
import { createProcContext } from '../process/reader.js';
import { ConnectionTable } from './connection-table.js';
import { EbpfError } from './errors.js';
import type { DnsSnoopSink } from '../dns/names.js';
import type { DnsRecord, StatsRecord } from './format.js';
import { defaultHelperPath } from './helper-path.js';
import { HelperProcess, type DumpResult, type HelperExit } from './helper-process.js';
import type { EbpfClock } from './observation.js';

/**
 * The eBPF connection source: runs the helper, asks it for a dump at each read, and remembers
 * connections between reads. Supervision (after Weave Scope's tracker): when the helper dies it is
 * restarted once and re-seeded from `initialState` (a /proc scan); when it dies again within
 * `restartWindowMs` the source declares itself dead and a caller (AutoSource) switches to /proc.
 */

export interface EbpfSourceOptions {
  /** The helper binary; default bpf/conntrail-bpf under the package root. */
  readonly helperPath?: string;
  /** Extra arguments for the helper (tests use them to make it fail). */
  readonly helperArgs?: readonly string[];
  /** A UDP flow without datagrams for this long is reported closed. */
  readonly udpIdleMs?: number;
  /** A UDP flow whose local address is not known yet (sent from a wildcard socket) waits this long for its answer to tell it. */
  readonly udpLocalGraceMs?: number;
  readonly maxConnections?: number;
  /** Connections that exist before the helper starts (it only sees events): e.g. a /proc scan. */
  readonly initialState?: () => Promise<readonly SocketObservation[]>;
  readonly logger?: Logger;
  readonly startTimeoutMs?: number;
  readonly dumpTimeoutMs?: number;
  readonly restartWindowMs?: number;
  /** Root of /proc, for btime. */
  readonly procRoot?: string;
  readonly clkTck?: number;
  /** Where snooped DNS answers go; when set the helper runs with --dns. */
  readonly dns?: DnsSnoopSink;
}

interface Settings {
  readonly helperPath: string;
  readonly helperArgs: readonly string[];
  readonly udpIdleMs: number;
  readonly udpLocalGraceMs: number;
  readonly maxConnections: number;
  readonly initialState: (() => Promise<readonly SocketObservation[]>) | null;
  readonly logger: Logger;
  readonly startTimeoutMs: number;
  readonly dumpTimeoutMs: number;
  readonly restartWindowMs: number;
  readonly procRoot: string;
  readonly clkTck: number;
  readonly dns: DnsSnoopSink | null;
}

const ZERO_STATS: StatsRecord = { kind: 'stats', ringbufFull: 0, tcpTableFull: 0, udpTableFull: 0, udpNoPeer: 0 };

function settingsFrom(o: EbpfSourceOptions): Settings {
  return {
    helperPath: o.helperPath ?? defaultHelperPath(),
    helperArgs: o.helperArgs ?? [],
    udpIdleMs: o.udpIdleMs ?? 30_000,
    udpLocalGraceMs: o.udpLocalGraceMs ?? 5_000,
    maxConnections: o.maxConnections ?? 65_536,
    initialState: o.initialState ?? null,
    logger: o.logger ?? silentLogger,
    startTimeoutMs: o.startTimeoutMs ?? 30_000,
    dumpTimeoutMs: o.dumpTimeoutMs ?? 10_000,
    restartWindowMs: o.restartWindowMs ?? 60_000,
    procRoot: o.procRoot ?? '/proc',
    clkTck: o.clkTck ?? 100,
    dns: o.dns ?? null,
  };
}

export class EbpfSource implements ConnectionSource {
  readonly name = 'ebpf' as const;
  private helper: HelperProcess | null = null;
  private restarting: Promise<void> | null = null;
  private lastDeathMs: number | null = null;
  private deadReason: string | null = null;
  private closing = false;
  private restartCount = 0;
  private seq = 0;
  private malformed = 0;
  private lastStats: StatsRecord = ZERO_STATS;
  /** Losses the helper counted since the last read. */
  private losses = { lost: 0, noPeer: 0 };
  /** Things that happened since the last read, for its SourceRun.error. */
  private notes: string[] = [];
  private readonly table: ConnectionTable;
  private readonly bootTimeMs: number;
  /** Full identity (exe, cmdline, uid, cgroup) of processes still alive; the helper only knows pid, start, name. */
  private readonly processCache: ProcessCache;
  private bootToEpochMs: number | null = null;

  private constructor(private readonly s: Settings) {
    this.table = new ConnectionTable({ udpSeedTtlMs: s.udpIdleMs, udpLocalGraceMs: s.udpLocalGraceMs });
    const ctx = createProcContext(s.procRoot, s.clkTck);
    this.bootTimeMs = ctx.bootTimeMs;
    this.processCache = new ProcessCache(ctx);
  }

  /** Starts the helper and seeds the state; rejects with an EbpfError when the helper cannot load. */
  static async start(options: EbpfSourceOptions = {}): Promise<EbpfSource> {
    const source = new EbpfSource(settingsFrom(options));
    await source.launch();
    return source;
  }

  /** True once the helper died twice within the restart window (or could not be restarted). */
  get dead(): boolean {
    return this.deadReason !== null;
  }

  get deathReason(): string | null {
    return this.deadReason;
  }

  get helperPid(): number | null {
    return this.helper?.pid ?? null;
  }

  get restarts(): number {
    return this.restartCount;
  }

  /** Resolves when no restart is in progress (tests wait on it after killing the helper). */
  async settled(): Promise<void> {
    while (this.restarting !== null) await this.restarting;
  }

  async read(signal: AbortSignal): Promise<SourceReading> {
    const started = performance.now();
    let error: string | null = null;
    let dump: DumpResult | null = null;
    try {
      if (this.restarting !== null) await raceAbort(this.restarting, signal, 'ebpf restart');
      dump = await this.dumpOnce(signal);
      if (dump === null && this.restarting !== null) {
        // The helper died during the dump and is being restarted: ask the new one.
        await raceAbort(this.restarting, signal, 'ebpf restart');
        dump = await this.dumpOnce(signal);
      }
    } catch (err) {
      error = errorMessage(err);
    }
    const { lost, noPeer } = this.losses;
    this.losses = { lost: 0, noPeer: 0 };
    const { observations, processes: hints } = this.table.take(this.clock(), Date.now());
    const processes = hints.map((p) => this.processCache.lookupKey(p) ?? p);
    this.processCache.sweep();
    const notes = [...this.notes];
    this.notes = [];
    if (this.deadReason !== null) notes.push(this.deadReason);
    if (error !== null && error !== this.deadReason) notes.push(error);
    const run: SourceRun = {
      name: 'ebpf',
      ok: dump !== null && this.deadReason === null,
      durationMs: performance.now() - started,
      skipped: this.malformed + noPeer,
      lost,
      error: notes.length > 0 ? notes.join('; ') : null,
    };
    this.malformed = 0;
    return { observations, nat: [], listening: [], processes, run };
  }

  async close(): Promise<void> {
    this.closing = true;
    const restarting = this.restarting;
    if (restarting !== null) await restarting.catch(() => undefined);
    await this.helper?.stop();
    this.helper = null;
  }

  private clock(): EbpfClock {
    return { bootTimeMs: this.bootTimeMs, bootToEpochMs: this.bootToEpochMs, clkTck: this.s.clkTck };
  }

  /** One dump from the current helper; null when it died meanwhile (its exit handler took over). */
  private async dumpOnce(signal: AbortSignal): Promise<DumpResult | null> {
    if (this.deadReason !== null) return null;
    const helper = this.helper;
    if (helper === null) throw new EbpfError('EBPF_CLOSED', 'eBPF source is closed');
    try {
      return await raceAbort(helper.dump(String(++this.seq), this.s.dumpTimeoutMs), signal, 'ebpf dump');
    } catch (err) {
      if (err instanceof EbpfError && err.code === 'EBPF_HELPER_DIED') return null;
      if (err instanceof EbpfError && err.code === 'EBPF_DUMP_TIMEOUT') {
        // A wedged helper is as good as dead: kill it, and let supervision decide.
        void helper.stop(0);
      }
      throw err;
    }
  }

  private async launch(): Promise<void> {
    const dnsArgs = this.s.dns !== null ? ['--dns'] : [];
    const args = ['--udp-idle-ms', String(this.s.udpIdleMs), '--max-conns', String(this.s.maxConnections), ...dnsArgs, ...this.s.helperArgs];
    this.s.dns?.helperRestarted();
    let launched: HelperProcess | null = null;
    const helper = await HelperProcess.start({
      path: this.s.helperPath,
      args,
      startTimeoutMs: this.s.startTimeoutMs,
      onClosed: (rec) => this.table.addClosed(rec, this.clock()),
      onDump: (dump) => this.onDump(dump),
      onMalformed: (reason) => {
        this.malformed++;
        this.s.logger.debug({ source: 'ebpf', reason }, 'malformed helper line');
      },
      onDns: (rec) => this.onDns(rec),
      onDnsStats: (rec) => this.s.dns?.droppedSoFar(rec.dropped),
      onExit: (exit) => { if (launched !== null) this.onHelperExit(launched, exit); },
      onStderrLine: (line) => this.s.logger.warn({ source: 'ebpf', helper: line }, 'eBPF helper says'),
    });
    if (helper.exited) throw new EbpfError('EBPF_LOAD_FAILED', 'eBPF helper exited right after starting');
    launched = helper;
    this.helper = helper;
    this.lastStats = ZERO_STATS;
    this.bootToEpochMs = helper.header?.bootToEpochMs ?? null;
    this.s.logger.info({ source: 'ebpf', pid: helper.pid, features: helper.header?.features }, 'eBPF helper started');
    if (this.s.dns !== null && !(helper.header?.features ?? []).includes('dns')) {
      this.notes.push('dns: the eBPF helper cannot snoop DNS answers here (no syscall tracepoints): only reverse names');
    }
    await this.seed();
  }

  /** Installs a dump's live set at once (see HelperOptions.onDump) and accounts for the helper's counters. */
  private onDump(dump: DumpResult): void {
    this.bootToEpochMs = dump.end.bootToEpochMs;
    const vanished = this.table.replaceLive(dump.live, dump.end.nowNs, this.clock());
    if (vanished > 0) this.s.logger.debug({ source: 'ebpf', vanished }, 'connections left the table without a close record');
    const now = dump.stats ?? this.lastStats;
    const was = this.lastStats;
    this.losses = {
      lost: this.losses.lost + Math.max(0, now.ringbufFull - was.ringbufFull) + Math.max(0, now.tcpTableFull - was.tcpTableFull)
        + Math.max(0, now.udpTableFull - was.udpTableFull),
      noPeer: this.losses.noPeer + Math.max(0, now.udpNoPeer - was.udpNoPeer),
    };
    this.lastStats = now;
  }

  private onDns(rec: DnsRecord): void {
    const sink = this.s.dns;
    // Before the first end marker the boot offset comes from the header; without either the time is unknown.
    if (sink === null || this.bootToEpochMs === null) return;
    sink.answer({
      atMs: rec.tsNs / 1e6 + this.bootToEpochMs,
      netns: rec.netns,
      pid: rec.pid === 0 ? null : rec.pid,
      processStartedAtMs: rec.pid === 0 ? null : startedAtMs(this.bootTimeMs, rec.startTicks, this.s.clkTck),
      payload: rec.payload,
    });
  }

  private async seed(): Promise<void> {
    if (this.s.initialState === null) return;
    try {
      this.table.seed(await this.s.initialState(), Date.now());
    } catch (err) {
      this.notes.push(`initial state unavailable: ${errorMessage(err)}`);
    }
  }

  private onHelperExit(helper: HelperProcess, exit: HelperExit): void {
    if (this.closing || helper !== this.helper) return;
    this.helper = null;
    this.table.forgetLive();
    const how = exit.signal !== null ? `killed by ${exit.signal}` : `exit code ${String(exit.code)}`;
    const now = Date.now();
    if (this.lastDeathMs !== null && now - this.lastDeathMs < this.s.restartWindowMs) {
      this.deadReason = `ebpf helper died twice within ${Math.round(this.s.restartWindowMs / 1000)} s (${how})`;
      this.s.logger.error({ source: 'ebpf', code: exit.code, signal: exit.signal, stderr: exit.stderr }, this.deadReason);
      return;
    }
    this.lastDeathMs = now;
    this.s.logger.warn({ source: 'ebpf', code: exit.code, signal: exit.signal, stderr: exit.stderr }, 'eBPF helper died; restarting it');
    this.restarting = this.restart(how).finally(() => { this.restarting = null; });
  }

  private async restart(how: string): Promise<void> {
    try {
      await this.launch();
      this.restartCount++;
      this.notes.push(`ebpf helper died (${how}) and was restarted; events meanwhile were not seen`);
      if (this.closing) await this.helper?.stop();
    } catch (err) {
      this.deadReason = `ebpf helper died (${how}) and could not be restarted: ${errorMessage(err)}`;
      this.s.logger.error({ source: 'ebpf' }, this.deadReason);
    }
  }
}
