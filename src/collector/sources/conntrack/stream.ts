import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { silentLogger, type Logger } from '../../../domain/logger.js';
import { conntrackCommand, missingExecutable, type ConntrackCommandOptions } from './command.js';
import { ConntrackError } from './errors.js';
import type { ConntrackFamily } from './list.js';
import { parseConntrackLine } from './parse.js';
import type { ConntrackEvent, ConntrackEventType } from './types.js';

/**
 * A long-running `conntrack -E -o timestamp,extended,id` child whose lines are parsed and handed to a
 * callback as they arrive. Conntrack reports a netlink overrun ("WARNING: We have hit ENOBUFS! ...") on
 * stderr and carries on: each such warning is counted as a loss. Restarting is the caller's policy: the
 * stream only reports its end through the 'exit' event (and the `exited` promise).
 */

export interface ConntrackStreamOptions extends ConntrackCommandOptions {
  /** Event types to subscribe to; NEW and DESTROY by default. */
  readonly events?: readonly ConntrackEventType[];
  /** One family only; both by default. */
  readonly family?: ConntrackFamily;
  /** Netlink socket receive buffer in bytes (conntrack -b): larger buffers overrun later. */
  readonly bufferSize?: number;
  readonly logger?: Logger;
}

export interface ConntrackStreamStats {
  readonly events: number;
  readonly malformed: number;
  readonly otherProtocol: number;
  /** Overrun warnings from conntrack: events were dropped by the kernel (how many is unknown). */
  readonly lost: number;
}

export interface ConntrackStreamExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True when stop() asked for it. */
  readonly requested: boolean;
  /** True when the tool could not be started at all (not installed, nsenter missing). */
  readonly unavailable: boolean;
  readonly reason: string;
  readonly stats: ConntrackStreamStats;
}

export interface ConntrackLoss {
  readonly lost: number;
  readonly message: string;
}

const STDERR_TAIL_LINES = 20;

/** Arguments of the conntrack event command for these options (exported for tests and logs). */
export function streamArgs(options: ConntrackStreamOptions = {}): string[] {
  const args = ['-E', '-o', 'timestamp,extended,id', '-e', (options.events ?? ['NEW', 'DESTROY']).join(',')];
  if (options.family !== undefined) args.push('-f', options.family);
  if (options.bufferSize !== undefined) args.push('-b', String(Math.floor(options.bufferSize)));
  return args;
}

export class ConntrackStream {
  /** Resolves once the child has ended (or could not start). */
  readonly exited: Promise<ConntrackStreamExit>;
  private readonly emitter = new EventEmitter();
  private readonly logger: Logger;
  private readonly child: ChildProcess | null;
  private events = 0;
  private malformed = 0;
  private otherProtocol = 0;
  private lost = 0;
  private stopRequested = false;
  private exitInfo: ConntrackStreamExit | null = null;
  private readonly stderrTail: string[] = [];

  private constructor(options: ConntrackStreamOptions, private readonly onEvent: (event: ConntrackEvent) => void) {
    this.logger = options.logger ?? silentLogger;
    let settle: (exit: ConntrackStreamExit) => void = () => undefined;
    this.exited = new Promise((resolve) => { settle = resolve; });
    this.emitter.once('exit', settle);
    const missing = missingExecutable(options);
    if (missing !== null) {
      this.child = null;
      // Reported asynchronously so that listeners attached right after start() see it.
      setImmediate(() => this.finish(null, null, true, missing));
      return;
    }
    const command = conntrackCommand(streamArgs(options), options);
    this.child = spawn(command.file, [...command.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.attach(this.child);
  }

  /** Starts the child; events are delivered to `onEvent` in arrival order. */
  static start(options: ConntrackStreamOptions, onEvent: (event: ConntrackEvent) => void): ConntrackStream {
    return new ConntrackStream(options, onEvent);
  }

  /** pid of the conntrack process (nsenter execs it in place), null if it did not start. */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  on(event: 'exit', listener: (exit: ConntrackStreamExit) => void): this;
  on(event: 'loss', listener: (loss: ConntrackLoss) => void): this;
  on(event: 'exit' | 'loss', listener: ((exit: ConntrackStreamExit) => void) | ((loss: ConntrackLoss) => void)): this {
    this.emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  stats(): ConntrackStreamStats {
    return { events: this.events, malformed: this.malformed, otherProtocol: this.otherProtocol, lost: this.lost };
  }

  /**
   * Resolves once the child's netlink socket has joined the conntrack event groups (seen in
   * /proc/<pid>/net/netlink), i.e. once no later event can be missed for want of a subscriber.
   */
  async waitUntilSubscribed(timeoutMs = 5_000, root = '/proc'): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (this.exitInfo !== null) {
        throw new ConntrackError('CONNTRACK_STOPPED', `conntrack stream ended before subscribing: ${this.exitInfo.reason}`, { reason: this.exitInfo.reason });
      }
      const pid = this.pid;
      if (pid !== null && (await isSubscribed(root, pid))) return;
      if (performance.now() > deadline) {
        throw new ConntrackError('CONNTRACK_FAILED', `conntrack stream not subscribed after ${timeoutMs} ms`, { pid });
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Stops the child (SIGTERM) and resolves when it has ended. */
  async stop(): Promise<ConntrackStreamExit> {
    this.stopRequested = true;
    if (this.exitInfo === null && this.child !== null) this.child.kill('SIGTERM');
    return this.exited;
  }

  private attach(child: ChildProcess): void {
    let carry = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      const text = carry + chunk;
      let start = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
        this.line(text.slice(start, nl));
        start = nl + 1;
      }
      carry = text.slice(start);
    });
    child.stdout?.on('end', () => {
      if (carry.length > 0) this.line(carry);
      carry = '';
    });
    let errCarry = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      const lines = (errCarry + chunk).split('\n');
      errCarry = lines.pop() ?? '';
      for (const l of lines) this.stderrLine(l);
    });
    child.on('error', (err) => this.finish(null, null, true, `cannot start conntrack: ${err.message}`));
    child.on('close', (code, signal) => {
      if (errCarry.length > 0) this.stderrLine(errCarry);
      const tail = this.stderrTail.join(' | ');
      const reason = this.stopRequested ? 'stopped' : `conntrack exited (${code ?? signal})${tail ? `: ${tail}` : ''}`;
      this.finish(code, signal, false, reason);
    });
  }

  private line(text: string): void {
    const parsed = parseConntrackLine(text);
    if (parsed.kind === 'flow' && parsed.event !== null) {
      this.events++;
      try {
        this.onEvent({ type: parsed.event, timestampMs: parsed.timestampMs, flow: parsed.flow });
      } catch (err) {
        this.logger.error({ err: String(err) }, 'conntrack event handler threw');
      }
    } else if (parsed.kind === 'other-protocol') this.otherProtocol++;
    else if (parsed.kind !== 'empty') {
      this.malformed++;
      this.logger.debug({ line: text.slice(0, 300) }, 'conntrack: malformed event line');
    }
  }

  private stderrLine(text: string): void {
    if (text.trim().length === 0) return;
    if (text.includes('ENOBUFS')) {
      this.lost++;
      this.logger.warn({ lost: this.lost }, 'conntrack event stream overrun: events lost');
      this.emitter.emit('loss', { lost: this.lost, message: text.trim() } satisfies ConntrackLoss);
      return;
    }
    this.stderrTail.push(text.trim());
    if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
  }

  private finish(code: number | null, signal: NodeJS.Signals | null, unavailable: boolean, reason: string): void {
    if (this.exitInfo !== null) return;
    this.exitInfo = { code, signal, requested: this.stopRequested, unavailable, reason, stats: this.stats() };
    if (!this.stopRequested) this.logger.warn({ code, signal, reason }, 'conntrack event stream ended');
    this.emitter.emit('exit', this.exitInfo);
  }
}

/** NETLINK_NETFILTER in /proc/net/netlink's Eth column. */
const NETLINK_NETFILTER = '12';

/** True when one of the process's sockets is a netfilter netlink socket with event groups joined. */
async function isSubscribed(root: string, pid: number): Promise<boolean> {
  let table: string;
  const inodes = new Set<string>();
  try {
    for (const fd of await readdir(`${root}/${pid}/fd`)) {
      const link = await readlink(`${root}/${pid}/fd/${fd}`).catch(() => '');
      if (link.startsWith('socket:[')) inodes.add(link.slice(8, -1));
    }
    table = await readFile(`${root}/${pid}/net/netlink`, 'latin1');
  } catch {
    return false;
  }
  for (const line of table.split('\n')) {
    const f = line.trim().split(/\s+/);
    // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
    if (f[1] === NETLINK_NETFILTER && f[3] !== undefined && /[1-9a-f]/i.test(f[3]) && inodes.has(f[9] ?? '')) return true;
  }
  return false;
}
