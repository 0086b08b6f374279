import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { EbpfError } from './errors.js';
import { EBPF_FORMAT_VERSION, LineParser, type ConnRecord, type DnsRecord, type DnsStatsRecord, type EndRecord, type HeaderRecord, type StatsRecord } from './format.js';

/**
 * One run of the helper binary: spawns it, waits for its header (the programs are attached then),
 * splits its stdout into records, and runs the dump protocol ("dump <token>" on stdin, answered by
 * the live connections and an end marker). Closed-connection records stream in at any time and go to
 * `onClosed`. It does not restart anything: that is the source's policy.
 */

export interface HelperExit {
  readonly code: number | null;
  readonly signal: string | null;
  /** The end of what the helper wrote to stderr: its reason, when it failed. */
  readonly stderr: string;
}

export interface HelperOptions {
  readonly path: string;
  readonly args: readonly string[];
  /** How long loading may take (CO-RE relocation and verification take a second or two). */
  readonly startTimeoutMs: number;
  readonly onClosed: (rec: ConnRecord) => void;
  /**
   * A complete dump, delivered synchronously at its end marker, before any record after it: a close
   * right behind the marker (same chunk) must find the live set already installed.
   */
  readonly onDump: (dump: DumpResult) => void;
  readonly onMalformed: (reason: string) => void;
  /** DNS answers and their drop counter (only when the helper runs with --dns). */
  readonly onDns?: (rec: DnsRecord) => void;
  readonly onDnsStats?: (rec: DnsStatsRecord) => void;
  readonly onExit: (exit: HelperExit) => void;
  readonly onStderrLine?: (line: string) => void;
}

export interface DumpResult {
  readonly live: ConnRecord[];
  readonly stats: StatsRecord | null;
  readonly end: EndRecord;
}

interface PendingDump {
  readonly token: string;
  readonly done: Promise<DumpResult>;
  readonly live: ConnRecord[];
  stats: StatsRecord | null;
  readonly resolve: (r: DumpResult) => void;
  readonly reject: (e: Error) => void;
}

const STDERR_KEEP = 4096;

function exitText(e: HelperExit): string {
  const how = e.signal !== null ? `killed by ${e.signal}` : `exit code ${String(e.code)}`;
  const why = e.stderr.trim().split('\n').filter((l) => l.length > 0).slice(-3).join(' | ');
  return why.length > 0 ? `${how}: ${why}` : how;
}

export class HelperProcess {
  private readonly parser = new LineParser();
  private partial = '';
  private stderrTail = '';
  private stderrPartial = '';
  private pending: PendingDump | null = null;
  private exitInfo: HelperExit | null = null;
  private headerWaiter: { resolve: (h: HeaderRecord) => void; reject: (e: Error) => void } | null = null;
  private headerRecord: HeaderRecord | null = null;

  private constructor(private readonly child: ChildProcess, private readonly options: HelperOptions) {}

  /** Starts the helper and resolves once it is attached; rejects with an EbpfError saying why not. */
  static async start(options: HelperOptions): Promise<HelperProcess> {
    try {
      accessSync(options.path, constants.X_OK);
    } catch (err) {
      throw new EbpfError('EBPF_HELPER_MISSING', `eBPF helper not found or not executable: ${options.path}`,
        { path: options.path }, { cause: err });
    }
    const child = spawn(options.path, [...options.args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const helper = new HelperProcess(child, options);
    const header = new Promise<HeaderRecord>((resolve, reject) => { helper.headerWaiter = { resolve, reject }; });
    helper.wire();
    const timer = setTimeout(() => {
      helper.failHeader(new EbpfError('EBPF_LOAD_FAILED', `eBPF helper did not start within ${options.startTimeoutMs} ms`,
        { path: options.path }));
      child.kill('SIGKILL');
    }, options.startTimeoutMs);
    try {
      const h = await header;
      if (h.version !== EBPF_FORMAT_VERSION) {
        child.kill('SIGTERM');
        throw new EbpfError('EBPF_FORMAT_VERSION',
          `eBPF helper speaks format version ${h.version}, this reader knows ${EBPF_FORMAT_VERSION}`, { path: options.path });
      }
      return helper;
    } finally {
      clearTimeout(timer);
    }
  }

  get pid(): number | null {
    return this.child.pid ?? null;
  }

  get header(): HeaderRecord | null {
    return this.headerRecord;
  }

  get exited(): boolean {
    return this.exitInfo !== null;
  }

  /**
   * Asks for a dump; resolves with the live connections when the end marker arrives. A dump still
   * pending (its reader gave up on it) is waited for first: the helper answers in order.
   */
  async dump(token: string, timeoutMs: number): Promise<DumpResult> {
    while (this.pending !== null) await this.pending.done.catch(() => undefined);
    if (this.exitInfo !== null) throw this.diedError(this.exitInfo);
    let resolveFn: (r: DumpResult) => void = () => undefined;
    let rejectFn: (e: Error) => void = () => undefined;
    const done = new Promise<DumpResult>((resolve, reject) => { resolveFn = resolve; rejectFn = reject; });
    const timer = setTimeout(() => {
      if (this.pending?.token !== token) return;
      this.pending = null;
      rejectFn(new EbpfError('EBPF_DUMP_TIMEOUT', `eBPF helper did not answer a dump within ${timeoutMs} ms`, { timeoutMs }));
    }, timeoutMs);
    this.pending = {
      token, live: [], stats: null, done,
      resolve: (r) => { clearTimeout(timer); resolveFn(r); },
      reject: (e) => { clearTimeout(timer); rejectFn(e); },
    };
    this.child.stdin?.write(`dump ${token}\n`);
    return done;
  }

  /** Stops the helper (SIGTERM, then SIGKILL after `graceMs`) and waits for it to exit. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.exitInfo !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  private wire(): void {
    const { child } = this;
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => this.onStdout(chunk));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => this.onStderr(chunk));
    // Writing a dump request to a helper that just died must not crash the collector.
    child.stdin?.on('error', () => undefined);
    child.on('error', (err) => {
      this.failHeader(new EbpfError('EBPF_LOAD_FAILED', `cannot run the eBPF helper: ${err.message}`, { path: this.options.path }));
    });
    child.on('exit', (code, signal) => {
      // stdout may still hold records the helper flushed before exiting: take them first (but do not
      // wait on a pipe some leftover grandchild keeps open).
      const finish = (): void => this.onExitFinal({ code, signal, stderr: this.stderrTail });
      if (child.stdout && !child.stdout.readableEnded) {
        const timer = setTimeout(finish, 1000);
        child.stdout.once('end', () => { clearTimeout(timer); finish(); });
      } else {
        finish();
      }
    });
  }

  private onExitFinal(exit: HelperExit): void {
    if (this.exitInfo !== null) return;
    this.exitInfo = exit;
    this.failHeader(new EbpfError('EBPF_LOAD_FAILED', `eBPF helper could not load: ${exitText(exit)}`,
      { path: this.options.path, code: exit.code, signal: exit.signal }));
    if (this.pending !== null) {
      const p = this.pending;
      this.pending = null;
      p.reject(this.diedError(exit));
    }
    if (this.headerRecord !== null) this.options.onExit(exit);
  }

  private diedError(exit: HelperExit): EbpfError {
    return new EbpfError('EBPF_HELPER_DIED', `eBPF helper died: ${exitText(exit)}`, { code: exit.code, signal: exit.signal });
  }

  private failHeader(err: Error): void {
    const w = this.headerWaiter;
    this.headerWaiter = null;
    w?.reject(err);
  }

  private onStderr(chunk: string): void {
    this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_KEEP);
    const lines = (this.stderrPartial + chunk).split('\n');
    this.stderrPartial = lines.pop() ?? '';
    for (const line of lines) if (line.length > 0) this.options.onStderrLine?.(line);
  }

  private onStdout(chunk: string): void {
    let start = 0;
    let text = chunk;
    if (this.partial.length > 0) {
      text = this.partial + chunk;
      this.partial = '';
    }
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      this.onLine(text.slice(start, nl));
      start = nl + 1;
    }
    this.partial = text.slice(start);
  }

  private onLine(line: string): void {
    const rec = this.parser.parse(line);
    switch (rec.kind) {
      case 'conn':
        if (rec.closed) this.options.onClosed(rec);
        else if (this.pending !== null) this.pending.live.push(rec);
        return; // a live record outside a requested dump (a periodic one) carries nothing new
      case 'stats':
        if (this.pending !== null) this.pending.stats = rec;
        return;
      case 'end':
        if (this.pending !== null && this.pending.token === rec.token) {
          const p = this.pending;
          this.pending = null;
          const result = { live: p.live, stats: p.stats, end: rec };
          this.options.onDump(result);
          p.resolve(result);
        }
        return;
      case 'header':
        if (this.headerRecord === null) {
          this.headerRecord = rec;
          const w = this.headerWaiter;
          this.headerWaiter = null;
          w?.resolve(rec);
        }
        return;
      case 'malformed':
        this.options.onMalformed(rec.reason);
        return;
      case 'dns':
        this.options.onDns?.(rec);
        return;
      case 'dns-stats':
        this.options.onDnsStats?.(rec);
        return;
    }
  }
}
