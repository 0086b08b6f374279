import net from 'node:net';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { classify, loadParser, type Verdict } from './classify.js';
import { EngineSession, type ProtocolBackend } from './engine-session.js';
import { Handshake, type HandshakeStep } from './handshake.js';
import type { GatewayLimits } from './limits.js';
import type { Login } from './logins.js';
import type { Logger } from '../../domain/logger.js';
import { isLoopback } from '../../domain/address.js';
import {
  ProtocolViolation, backendKeyData, errorResponse, lastReadyStatus, namespaceNames, parameterStatus,
  boundStatementName, parsedStatementName, readMessage, readStartupPacket, readyForQuery, sqlOf, authRequest, type TransactionStatus,
} from './protocol.js';

/**
 * A PostgreSQL wire endpoint in front of the embedded (single-session) TimescaleDB. Many clients — the
 * collector's writer, the API, psql, Grafana, collectors of other hosts — connect at once and take turns on
 * the one backend session a whole transaction at a time (EngineSession). Each login has its own secret
 * (Handshake) and its own role; what it may send is decided by PostgreSQL's parser (classify).
 */
export type { ProtocolBackend } from './engine-session.js';

export type { Logger } from '../../domain/logger.js';

export interface GatewayOptions {
  readonly host: string;
  readonly port: number;
  readonly logins: ReadonlyMap<string, Login>;
  /** The engine's session user (what session_user must stay). */
  readonly engineUser: string;
  readonly parameters: ReadonlyMap<string, string>;
  readonly limits: GatewayLimits;
  readonly tls: tls.SecureContext | null;
  readonly trustLoopback: boolean;
  readonly log: Logger;
  /**
   * Told when a client's statement goes into the engine (the moment its hold runs out) and when it comes
   * back (null). The engine runs on this thread and cannot be interrupted, so this thread's timers cannot
   * fire while a statement runs: the host watches the deadline from the main thread instead.
   */
  readonly watch?: (deadlineMs: number | null) => void;
}

type Phase = 'startup' | 'auth' | 'ready' | 'closed';

interface Client {
  readonly id: number;
  socket: net.Socket;
  phase: Phase;
  login: Login | null;
  readonly handshake: Handshake;
  authMessages: number;
  buffer: Buffer;
  /** Messages are handled strictly in order, one at a time. */
  chain: Promise<void>;
  /** Prefix of its prepared statement and portal names: random, so no one can guess another's. */
  readonly prefix: string;
  readonly statements: Set<string>;
  /** Its named statements whose SQL is not session-neutral: binding one changes the session too. */
  readonly touching: Set<string>;
  status: TransactionStatus;
  /** After a refused Parse: skip to the next Sync, as the engine does after an error. */
  skipping: boolean;
  holding: boolean;
  /** When it took the engine (Date.now()), for the hold limit. */
  heldSince: number;
  timer: NodeJS.Timeout | null;
}

/** Frontend messages served after login; COPY data and FunctionCall (F) are not among them. */
const SERVED = new Set(['Q', 'P', 'B', 'D', 'E', 'C', 'S', 'H', 'X']);

export class WireGateway {
  private readonly options: GatewayOptions;
  private readonly backend: ProtocolBackend;
  private readonly session: EngineSession;
  private readonly clients = new Map<number, Client>();
  /** Parse results by SQL text: the writer and the API send the same few statements over and over. */
  private readonly verdicts = new Map<string, Verdict>();
  /** Whether the session's unnamed prepared statement (shared by every client) is session-neutral. */
  private unnamedNeutral = false;
  private server: net.Server | null = null;
  private nextId = 1;

  constructor(backend: ProtocolBackend, options: GatewayOptions) {
    this.backend = backend;
    this.options = options;
    this.session = new EngineSession(backend, options.engineUser);
  }

  async start(): Promise<{ host: string; port: number }> {
    await loadParser();
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.options.log.error({ err: String(err) }, 'sql endpoint error'));
    const address = server.address() as net.AddressInfo;
    return { host: this.options.host, port: address.port };
  }

  async stop(): Promise<void> {
    for (const client of this.clients.values()) client.socket.destroy();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Tells every client the engine is going away (57P01) and closes them. */
  terminateAll(text: string): void {
    for (const client of [...this.clients.values()]) this.fail(client, '57P01', text);
  }

  /** Runs work on the backend session while no client holds it (maintenance jobs, raw COPY). */
  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    const id = this.nextId++;
    await this.session.lock.acquire(id, true);
    try {
      await this.session.prepare(id, null);
      return await work();
    } finally {
      this.session.lock.release(id);
    }
  }

  private count(phase: (p: Phase) => boolean, filter: (c: Client) => boolean = () => true): number {
    let n = 0;
    for (const c of this.clients.values()) if (phase(c.phase) && filter(c)) n++;
    return n;
  }

  private accept(raw: net.Socket): void {
    const limits = this.options.limits;
    // Connections that never log in must not lock everyone out until they time out: when too many are
    // still logging in, the one that has waited longest goes (a real client logs in within milliseconds).
    const pending = [...this.clients.values()].filter((c) => c.phase === 'startup' || c.phase === 'auth');
    if (pending.length >= limits.maxPendingClients && pending[0]) {
      this.fail(pending[0], '08006', 'too many connections logging in to the conntrail SQL endpoint; this one waited longest');
    }
    const client: Client = {
      id: this.nextId++, socket: raw, phase: 'startup', login: null, authMessages: 0, buffer: Buffer.alloc(0), touching: new Set(),
      handshake: new Handshake({
        logins: this.options.logins, tlsAvailable: this.options.tls !== null,
        trustLoopback: this.options.trustLoopback, remoteIsLoopback: isLoopback(raw.remoteAddress ?? ''),
      }),
      chain: Promise.resolve(), prefix: `${randomBytes(9).toString('base64url')}:`, statements: new Set(),
      status: 'I', skipping: false, holding: false, heldSince: 0, timer: null,
    };
    this.clients.set(client.id, client);
    raw.setNoDelay(true);
    this.listen(client, raw);
    raw.on('error', () => undefined);
    raw.on('close', () => this.disconnect(client));
    client.timer = setTimeout(() => this.fail(client, '08006', 'authentication timed out'), limits.authTimeoutMs);
    client.timer.unref();
  }

  private listen(client: Client, socket: net.Socket): void {
    socket.on('data', (data: Buffer) => this.receive(client, data));
  }

  private receive(client: Client, data: Buffer): void {
    if (client.phase === 'closed') return;
    client.buffer = client.buffer.length === 0 ? data : Buffer.concat([client.buffer, data]);
    try {
      this.drain(client);
    } catch (err) {
      this.fail(client, '08P01', err instanceof ProtocolViolation ? err.message : String(err));
    }
  }

  private drain(client: Client): void {
    const limits = this.options.limits;
    while (client.phase !== 'closed') {
      if (client.phase === 'startup' || client.phase === 'auth') {
        const read = client.phase === 'startup'
          ? readStartupPacket(client.buffer, limits.maxAuthMessageBytes)
          : readMessage(client.buffer, limits.maxAuthMessageBytes);
        if (!read) return;
        client.buffer = client.buffer.subarray(read.size);
        if (++client.authMessages > limits.maxAuthMessages) throw new ProtocolViolation('too many messages before login');
        const steps = 'packet' in read
          ? client.handshake.startup(read.packet.code, read.packet.params)
          : client.handshake.message(read.type, read.message);
        if (client.phase === 'startup' && steps.some((s) => s.kind === 'write' && s.data[0] === 0x52)) client.phase = 'auth';
        this.apply(client, steps);
        continue;
      }
      const read = readMessage(client.buffer, limits.maxMessageBytes);
      if (!read) return;
      client.buffer = client.buffer.subarray(read.size);
      const { type, message } = read;
      client.chain = client.chain.then(() => this.handle(client, type, message)).catch((err: unknown) => {
        this.options.log.error({ client: client.id, err: String(err) }, 'sql endpoint: message failed');
        this.fail(client, 'XX000', 'internal error in the conntrail SQL endpoint');
      });
    }
  }

  private apply(client: Client, steps: readonly HandshakeStep[]): void {
    for (const step of steps) {
      if (client.phase === 'closed') return;
      switch (step.kind) {
        case 'write':
          client.socket.write(step.data);
          break;
        case 'tls':
          this.upgrade(client);
          break;
        case 'ready':
          this.welcome(client, step.login);
          break;
        case 'fail':
          if (step.sqlState === '28P01') this.options.log.warn({ client: client.id, user: step.user, remote: client.socket.remoteAddress }, 'sql endpoint: password authentication failed');
          this.fail(client, step.sqlState, step.text);
          break;
      }
    }
  }

  private upgrade(client: Client): void {
    const secured = new tls.TLSSocket(client.socket, { isServer: true, secureContext: this.options.tls ?? undefined });
    client.socket.removeAllListeners('data');
    secured.on('error', () => this.disconnect(client));
    secured.on('close', () => this.disconnect(client));
    client.socket = secured;
    this.listen(client, secured);
  }

  private welcome(client: Client, login: Login): void {
    const limits = this.options.limits;
    const loggedIn = this.count((p) => p === 'ready');
    const room = login.reserved ? limits.maxClients : limits.maxClients - limits.reservedClients;
    if (loggedIn >= room) {
      this.fail(client, '53300', 'too many connections to the conntrail SQL endpoint');
      return;
    }
    this.stopTimer(client);
    client.phase = 'ready';
    client.login = login;
    const parts: Buffer[] = [authRequest(0)];
    for (const [name, value] of this.options.parameters) parts.push(parameterStatus(name, value));
    parts.push(parameterStatus('session_authorization', login.name));
    parts.push(parameterStatus('is_superuser', login.role === null ? 'on' : 'off'));
    parts.push(backendKeyData(client.id, 0), readyForQuery('I'));
    client.socket.write(Buffer.concat(parts));
  }

  private verdict(sql: string, login: Login): Verdict {
    if (login.access === 'internal') return { ok: true, sessionNeutral: false };
    const key = `${login.access}\0${sql}`;
    const cached = this.verdicts.get(key);
    if (cached) return cached;
    const verdict = classify(sql, login.access);
    if (this.verdicts.size >= 512) this.verdicts.clear();
    if (sql.length < 64 * 1024) this.verdicts.set(key, verdict);
    return verdict;
  }

  private async handle(client: Client, type: string, message: Buffer): Promise<void> {
    const login = client.login;
    if (client.phase !== 'ready' || !login) return;
    if (client.skipping) {
      if (type !== 'S') return;
      client.skipping = false;
      await this.endRefusal(client);
      return;
    }
    if (type === 'X') {
      client.socket.end();
      return;
    }
    if (type === 'F') {
      this.fail(client, '42501', 'the FunctionCall message is not allowed through the conntrail SQL endpoint');
      return;
    }
    if (!SERVED.has(type)) {
      this.fail(client, '08P01', `unexpected message type 0x${type.charCodeAt(0).toString(16)}`);
      return;
    }
    const sql = sqlOf(type, message);
    let neutral = true;
    if (sql !== null) {
      const verdict = this.verdict(sql, login);
      neutral = verdict.ok && verdict.sessionNeutral;
      if (!verdict.ok) {
        this.options.log.warn({ client: client.id, user: login.name, reason: verdict.reason }, 'sql endpoint: statement refused');
        client.socket.write(errorResponse('ERROR', verdict.sqlState, `refused by the conntrail SQL endpoint: ${verdict.reason}`));
        if (type === 'Q') await this.endRefusal(client);
        else client.skipping = true;
        return;
      }
    }
    const outgoing = namespaceNames(type, message, client.prefix);
    if (type === 'P') {
      const name = parsedStatementName(outgoing);
      if (name !== '') client.statements.add(name);
    }
    await this.take(client);
    if (client.phase !== 'ready') return;
    await this.session.prepare(client.id, login.role);
    // Holding the session now: the unnamed statement is the session's, whoever parsed it.
    if (type === 'P') {
      const own = parsedStatementName(message);
      if (own === '') this.unnamedNeutral = neutral;
      else if (neutral) client.touching.delete(own);
      else client.touching.add(own);
    } else if (type === 'B') {
      // A bound statement does what its Parse said, possibly in an earlier turn (or, unnamed, another client's).
      const own = boundStatementName(message);
      neutral = own === '' ? this.unnamedNeutral : !client.touching.has(own);
    }
    // After prepare: what this statement may change is the next holder's concern, not this one's.
    if (!neutral) this.session.touched();
    const watched = login.access !== 'internal' && this.options.watch !== undefined;
    if (watched) this.options.watch?.(client.heldSince + this.holdLimit(login));
    let reply: Uint8Array;
    try {
      reply = await this.backend.execProtocolRaw(outgoing);
    } finally {
      if (watched) this.options.watch?.(null);
    }
    await this.answer(client, reply);
  }

  /** Waits for the engine; the hold limit runs from the moment the client gets it. */
  private async take(client: Client): Promise<void> {
    if (client.holding) return;
    await this.session.lock.acquire(client.id, client.login?.reserved ?? false);
    if (client.phase !== 'ready') {
      this.session.lock.release(client.id);
      return;
    }
    client.holding = true;
    client.heldSince = Date.now();
    if (client.login?.access === 'internal') return;
    const limit = this.holdLimit(client.login);
    client.timer = setTimeout(() => {
      this.options.log.warn({ client: client.id, user: client.login?.name, remote: client.socket.remoteAddress }, 'sql endpoint: client held the engine too long, disconnecting');
      this.fail(client, '57014', `terminating connection: it held the database engine for more than ${limit / 1000} s (the limit for one transaction through the conntrail SQL endpoint)`);
    }, limit);
    client.timer.unref();
  }

  private holdLimit(login: Login | null): number {
    return login?.reserved ? this.options.limits.maxReservedHoldMs : this.options.limits.maxHoldMs;
  }

  private giveBack(client: Client): void {
    this.stopTimer(client);
    client.holding = false;
    this.session.lock.release(client.id);
  }

  private async answer(client: Client, reply: Uint8Array): Promise<void> {
    const limits = this.options.limits;
    if (reply.length > limits.maxReplyBytes) {
      this.fail(client, '54000', `the reply (${reply.length} bytes) is larger than the conntrail SQL endpoint sends (${limits.maxReplyBytes} bytes)`);
      return;
    }
    if (reply.length > 0 && client.socket.writable) client.socket.write(reply);
    const status = lastReadyStatus(reply);
    if (status === null) return;
    client.status = status;
    if (status !== 'E' && !(await this.session.identityHolds(client.login?.role ?? null))) {
      this.options.log.error({ client: client.id, user: client.login?.name }, 'sql endpoint: session identity changed, disconnecting');
      this.session.invalidate();
      this.fail(client, '42501', 'terminating connection: the session no longer runs as its login');
      return;
    }
    if (status === 'I') this.giveBack(client);
  }

  /** Ends a refused statement as the engine would: ReadyForQuery, and a transaction in progress is failed. */
  private async endRefusal(client: Client): Promise<void> {
    if (!client.holding) {
      client.socket.write(readyForQuery(client.status));
      return;
    }
    if (client.status === 'T') await this.backend.exec(FAIL_TRANSACTION).catch(() => undefined);
    await this.answer(client, await this.backend.execProtocolRaw(SYNC));
  }

  private stopTimer(client: Client): void {
    if (client.timer) clearTimeout(client.timer);
    client.timer = null;
  }

  private fail(client: Client, sqlState: string, text: string): void {
    if (client.phase === 'closed') return;
    this.options.log.warn({ client: client.id, user: client.login?.name ?? client.handshake.user, remote: client.socket.remoteAddress, sqlState, text }, 'sql endpoint: closing a connection');
    if (client.socket.writable) client.socket.end(errorResponse('FATAL', sqlState, text));
    client.socket.destroy();
    this.disconnect(client);
  }

  /** A client left: give the session back clean (no open transaction, none of its prepared statements). */
  private disconnect(client: Client): void {
    if (client.phase === 'closed') return;
    client.phase = 'closed';
    this.stopTimer(client);
    this.clients.delete(client.id);
    this.session.lock.cancel(client.id, new Error('client disconnected'));
    void client.chain.finally(async () => {
      const owned = this.session.lock.owner === client.id;
      if (!owned && client.statements.size === 0) return;
      try {
        await this.session.lock.acquire(client.id, true);
        await this.session.cleanup(owned, client.statements);
      } catch (err) {
        this.options.log.warn({ client: client.id, err: String(err) }, 'sql endpoint: cleanup after disconnect failed');
      } finally {
        this.session.lock.release(client.id);
      }
    });
  }
}

const SYNC = Buffer.from([0x53, 0, 0, 0, 4]);

/** Puts an open transaction into the failed state after a refused statement (fixed text, no client input). */
const FAIL_TRANSACTION = "DO $$ BEGIN RAISE EXCEPTION 'statement refused by the conntrail SQL endpoint' USING ERRCODE = '42501'; END $$";
