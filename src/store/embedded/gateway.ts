import net from 'node:net';
import { createHash, timingSafeEqual } from 'node:crypto';
import {
  CANCEL_REQUEST, GSSENC_REQUEST, PROTOCOL_3_0, SSL_REQUEST, ProtocolViolation, authRequest, backendKeyData,
  errorResponse, lastReadyStatus, namespaceNames, parameterStatus, parsedStatementName, readMessage,
  readStartupPacket, readyForQuery, sqlOf,
} from './protocol.js';
import { SessionLock } from './session-lock.js';

/**
 * A PostgreSQL wire endpoint in front of the embedded (single-session) TimescaleDB. Many clients — the
 * collector's writer, the API, psql, Grafana, collectors of other hosts — connect at once; they take turns
 * on the one backend session a whole transaction at a time (SessionLock). A client that stalls inside a
 * transaction is disconnected after idleInTransactionMs so it cannot starve the others.
 */

/** What the gateway needs of the database: PGlite's raw protocol entry point and a plain exec. */
export interface ProtocolBackend {
  execProtocolRaw(message: Uint8Array): Promise<Uint8Array>;
  exec(sql: string): Promise<unknown>;
  isInTransaction(): boolean;
}

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface GatewayOptions {
  readonly host: string;
  readonly port: number;
  /** When set, every client must send it (cleartext password auth); required off loopback. */
  readonly password: string | null;
  /** Login name -> database role the client acts as (null: the owner). Unknown names are refused. */
  readonly roles: ReadonlyMap<string, string | null>;
  readonly parameters: ReadonlyMap<string, string>;
  readonly idleInTransactionMs: number;
  readonly maxClients: number;
  readonly maxMessageBytes: number;
  readonly log: Logger;
}

type Phase = 'startup' | 'password' | 'ready' | 'closed';

interface Client {
  readonly id: number;
  readonly socket: net.Socket;
  phase: Phase;
  user: string;
  role: string | null;
  buffer: Buffer;
  /** Messages are handled strictly in order, one at a time. */
  chain: Promise<void>;
  readonly statements: Set<string>;
  idleTimer: NodeJS.Timeout | null;
}

// A reader must not become someone else: forbid changing role or session authorization, and DISCARD
// (which resets the session authorization). Checked on the SQL text of Query and Parse messages.
const ESCALATION = /\b(set|reset)\s+(session\s+|local\s+)?(role|session\s+authorization)\b|session_authorization|set_config\s*\(\s*'role'|\bdiscard\b/i;
const FORBIDDEN_SQL = "DO $conntrail$ BEGIN RAISE EXCEPTION 'changing role or session authorization is not allowed through the conntrail SQL endpoint' USING ERRCODE = '42501'; END $conntrail$";

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export class WireGateway {
  private readonly options: GatewayOptions;
  private readonly backend: ProtocolBackend;
  private readonly lock = new SessionLock();
  private readonly clients = new Map<number, Client>();
  private server: net.Server | null = null;
  private nextId = 1;
  /** Which client the backend session is currently set up for (role, settings). */
  private sessionClient: number | null = null;
  private sessionRole: string | null = null;

  constructor(backend: ProtocolBackend, options: GatewayOptions) {
    this.backend = backend;
    this.options = options;
  }

  async start(): Promise<{ host: string; port: number }> {
    const server = net.createServer((socket) => this.accept(socket));
    server.maxConnections = this.options.maxClients;
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

  /** Runs work on the backend session while no client holds it (maintenance jobs, raw COPY). */
  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    const id = this.nextId++;
    await this.lock.acquire(id);
    try {
      await this.prepareSession(id, null);
      return await work();
    } finally {
      this.lock.release(id);
    }
  }

  private accept(socket: net.Socket): void {
    const client: Client = {
      id: this.nextId++, socket, phase: 'startup', user: '', role: null, buffer: Buffer.alloc(0),
      chain: Promise.resolve(), statements: new Set(), idleTimer: null,
    };
    this.clients.set(client.id, client);
    socket.setNoDelay(true);
    socket.on('data', (data) => this.receive(client, data));
    socket.on('error', () => undefined);
    socket.on('close', () => this.disconnect(client));
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
    for (;;) {
      if (client.phase === 'startup') {
        const read = readStartupPacket(client.buffer);
        if (!read) return;
        client.buffer = client.buffer.subarray(read.size);
        this.startup(client, read.packet.code, read.packet.params);
        continue;
      }
      if (client.phase === 'closed') return;
      const read = readMessage(client.buffer, this.options.maxMessageBytes);
      if (!read) return;
      client.buffer = client.buffer.subarray(read.size);
      if (client.phase === 'password') {
        this.checkPassword(client, read.type, read.message);
        continue;
      }
      const { type, message } = read;
      client.chain = client.chain.then(() => this.handle(client, type, message)).catch((err: unknown) => {
        this.options.log.error({ client: client.id, err: String(err) }, 'sql endpoint: message failed');
        this.fail(client, 'XX000', 'internal error in the conntrail SQL endpoint');
      });
    }
  }

  private startup(client: Client, code: number, params: ReadonlyMap<string, string>): void {
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
      client.socket.write('N');
      return;
    }
    if (code === CANCEL_REQUEST) {
      client.socket.destroy(); // queries cannot be interrupted in the embedded engine
      return;
    }
    if (code !== PROTOCOL_3_0) {
      this.fail(client, '08P01', 'unsupported frontend protocol');
      return;
    }
    const user = params.get('user') ?? '';
    if (!this.options.roles.has(user)) {
      this.fail(client, '28000', `role "${user}" is not a conntrail role (use conntrail_reader, conntrail_writer or conntrail)`);
      return;
    }
    client.user = user;
    client.role = this.options.roles.get(user) ?? null;
    if (this.options.password !== null) {
      client.phase = 'password';
      client.socket.write(authRequest(3));
      return;
    }
    this.welcome(client);
  }

  private checkPassword(client: Client, type: string, message: Buffer): void {
    const expected = this.options.password ?? '';
    const given = type === 'p' ? message.subarray(5, message.length - 1).toString('utf8') : '';
    const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
    if (type !== 'p' || !timingSafeEqual(digest(given), digest(expected))) {
      this.options.log.warn({ client: client.id, user: client.user, remote: client.socket.remoteAddress }, 'sql endpoint: password authentication failed');
      this.fail(client, '28P01', `password authentication failed for user "${client.user}"`);
      return;
    }
    this.welcome(client);
  }

  private welcome(client: Client): void {
    client.phase = 'ready';
    const parts: Buffer[] = [authRequest(0)];
    for (const [name, value] of this.options.parameters) parts.push(parameterStatus(name, value));
    parts.push(parameterStatus('session_authorization', client.user));
    parts.push(parameterStatus('is_superuser', client.role === null ? 'on' : 'off'));
    parts.push(backendKeyData(client.id, 0), readyForQuery('I'));
    client.socket.write(Buffer.concat(parts));
  }

  private async handle(client: Client, type: string, message: Buffer): Promise<void> {
    if (client.phase !== 'ready') return;
    if (type === 'X') {
      client.socket.end();
      return;
    }
    let outgoing = message;
    if (client.role !== null && (type === 'Q' || type === 'P')) {
      const sql = sqlOf(type, message);
      if (sql !== null && ESCALATION.test(sql)) outgoing = replaceSql(type, message);
    }
    outgoing = namespaceNames(type, outgoing, `c${client.id}:`);
    if (type === 'P') {
      const name = parsedStatementName(outgoing);
      if (name !== '') client.statements.add(name);
    }
    this.stopIdleTimer(client);
    await this.lock.acquire(client.id);
    if (client.phase !== 'ready') {
      this.lock.release(client.id);
      return;
    }
    await this.prepareSession(client.id, client.role);
    const reply = await this.backend.execProtocolRaw(outgoing);
    if (reply.length > 0 && client.socket.writable) client.socket.write(reply);
    const status = lastReadyStatus(reply);
    if (status === 'I') {
      this.lock.release(client.id);
    } else {
      this.startIdleTimer(client);
    }
  }

  /** Sets the backend session up for a client: its role, and no settings left over from another client. */
  private async prepareSession(id: number, role: string | null): Promise<void> {
    if (this.sessionClient === id) return;
    if (this.sessionClient !== null || this.sessionRole !== role) {
      const setRole = role === null ? 'RESET ROLE' : `SET ROLE ${quoteIdent(role)}`;
      // Not RESET ALL: in the embedded engine it also drops search_path to pg_catalog.
      await this.backend.exec(`RESET ROLE; ${SESSION_DEFAULTS} ${setRole}`);
    }
    this.sessionClient = id;
    this.sessionRole = role;
  }

  private startIdleTimer(client: Client): void {
    client.idleTimer = setTimeout(() => {
      this.options.log.warn({ client: client.id, user: client.user, remote: client.socket.remoteAddress }, 'sql endpoint: client idle in transaction, disconnecting');
      this.fail(client, '25P03', 'terminating connection due to idle-in-transaction timeout');
    }, this.options.idleInTransactionMs);
    client.idleTimer.unref();
  }

  private stopIdleTimer(client: Client): void {
    if (client.idleTimer) clearTimeout(client.idleTimer);
    client.idleTimer = null;
  }

  private fail(client: Client, sqlState: string, text: string): void {
    if (client.phase === 'closed') return;
    if (client.socket.writable) client.socket.end(errorResponse('FATAL', sqlState, text));
    client.socket.destroy();
    this.disconnect(client);
  }

  /** A client left: give the session back clean (no open transaction, none of its prepared statements). */
  private disconnect(client: Client): void {
    if (client.phase === 'closed') return;
    client.phase = 'closed';
    this.stopIdleTimer(client);
    this.clients.delete(client.id);
    this.lock.cancel(client.id, new Error('client disconnected'));
    void client.chain.finally(async () => {
      const owned = this.lock.owner === client.id;
      if (!owned && client.statements.size === 0) return;
      try {
        await this.lock.acquire(client.id);
        await this.prepareSession(client.id, null);
        if (owned) await this.backend.execProtocolRaw(SYNC);
        if (this.backend.isInTransaction()) await this.backend.exec('ROLLBACK');
        for (const name of client.statements) await this.backend.exec(`DEALLOCATE ${quoteIdent(name)}`).catch(() => undefined);
      } catch (err) {
        this.options.log.warn({ client: client.id, err: String(err) }, 'sql endpoint: cleanup after disconnect failed');
      } finally {
        this.lock.release(client.id);
      }
    });
  }
}

/** Settings every client starts from, whatever the previous client changed. */
const SESSION_DEFAULTS = "SET client_min_messages = notice; SET search_path = \"$user\", public; SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET statement_timeout = 0;";

const SYNC = Buffer.from([0x53, 0, 0, 0, 4]);

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function replaceSql(type: string, message: Buffer): Buffer {
  if (type === 'Q') {
    const body = Buffer.from(`${FORBIDDEN_SQL}\0`, 'utf8');
    const out = Buffer.alloc(5 + body.length);
    out.write('Q', 0, 'latin1');
    out.writeInt32BE(4 + body.length, 1);
    body.copy(out, 5);
    return out;
  }
  // Parse: keep the statement name, swap the query, declare no parameter types.
  const nameEnd = message.indexOf(0, 5);
  const name = message.subarray(5, nameEnd + 1);
  const body = Buffer.concat([name, Buffer.from(`${FORBIDDEN_SQL}\0`, 'utf8'), Buffer.from([0, 0])]);
  const out = Buffer.alloc(5 + body.length);
  out.write('P', 0, 'latin1');
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}
