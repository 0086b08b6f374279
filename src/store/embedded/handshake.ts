import { INTERNAL_LOGIN, type Login } from './logins.js';
import { CANCEL_REQUEST, GSSENC_REQUEST, PROTOCOL_3_0, SSL_REQUEST, frameMessage } from './protocol.js';
import { ScramError, ScramExchange } from './scram.js';

/**
 * One client's way in, from the startup packet to AuthenticationOk: TLS when asked (and configured),
 * then SCRAM-SHA-256 against the login's own secret. Nothing here touches the engine.
 */
export type HandshakeStep =
  | { readonly kind: 'write'; readonly data: Buffer }
  | { readonly kind: 'tls' }
  | { readonly kind: 'ready'; readonly login: Login }
  | { readonly kind: 'fail'; readonly sqlState: string; readonly text: string; readonly user?: string };

export interface HandshakeOptions {
  readonly logins: ReadonlyMap<string, Login>;
  readonly tlsAvailable: boolean;
  /** Let loopback clients in without a secret (the user asked for it with a flag). Never the internal login. */
  readonly trustLoopback: boolean;
  readonly remoteIsLoopback: boolean;
}

const SASL = 10;
const SASL_CONTINUE = 11;
const SASL_FINAL = 12;

export class Handshake {
  private readonly options: HandshakeOptions;
  private login: Login | null = null;
  private scram: ScramExchange | null = null;
  private tlsOffered = false;

  constructor(options: HandshakeOptions) {
    this.options = options;
  }

  get user(): string {
    return this.login?.name ?? '';
  }

  startup(code: number, params: ReadonlyMap<string, string>): HandshakeStep[] {
    if (code === SSL_REQUEST) {
      if (this.tlsOffered || !this.options.tlsAvailable) return [{ kind: 'write', data: Buffer.from('N') }];
      this.tlsOffered = true;
      return [{ kind: 'write', data: Buffer.from('S') }, { kind: 'tls' }];
    }
    if (code === GSSENC_REQUEST) return [{ kind: 'write', data: Buffer.from('N') }];
    if (code === CANCEL_REQUEST) return [{ kind: 'fail', sqlState: '0A000', text: 'cancel requests are not supported by the embedded engine' }];
    if (code !== PROTOCOL_3_0) return [{ kind: 'fail', sqlState: '08P01', text: 'unsupported frontend protocol' }];
    const user = params.get('user') ?? '';
    const login = this.options.logins.get(user);
    if (!login) {
      return [{ kind: 'fail', sqlState: '28000', text: `role "${user.slice(0, 64)}" is not a conntrail login (use conntrail_reader, conntrail_writer or conntrail)` }];
    }
    this.login = login;
    if (this.options.trustLoopback && this.options.remoteIsLoopback && login.name !== INTERNAL_LOGIN) {
      return [{ kind: 'ready', login }];
    }
    this.scram = new ScramExchange(login.verifier);
    const body = Buffer.concat([int32(SASL), Buffer.from('SCRAM-SHA-256\0\0', 'utf8')]);
    return [{ kind: 'write', data: frameMessage('R', body) }];
  }

  /** A 'p' message (SASLInitialResponse, then SASLResponse); anything else before login is a violation. */
  message(type: string, message: Buffer): HandshakeStep[] {
    const login = this.login;
    const scram = this.scram;
    if (type !== 'p' || !login || !scram) return [{ kind: 'fail', sqlState: '08P01', text: `unexpected message "${printable(type)}" during authentication` }];
    try {
      if (!this.started) {
        const mechEnd = message.indexOf(0, 5);
        if (mechEnd < 0 || message.toString('utf8', 5, mechEnd) !== 'SCRAM-SHA-256') throw new ScramError('only SCRAM-SHA-256 is offered');
        const length = message.readInt32BE(mechEnd + 1);
        const data = message.subarray(mechEnd + 5, mechEnd + 5 + Math.max(length, 0)).toString('utf8');
        this.started = true;
        const body = Buffer.concat([int32(SASL_CONTINUE), Buffer.from(scram.first(data), 'utf8')]);
        return [{ kind: 'write', data: frameMessage('R', body) }];
      }
      const serverFinal = scram.final(message.subarray(5).toString('utf8'));
      this.scram = null;
      return [
        { kind: 'write', data: frameMessage('R', Buffer.concat([int32(SASL_FINAL), Buffer.from(serverFinal, 'utf8')])) },
        { kind: 'ready', login },
      ];
    } catch {
      return [{ kind: 'fail', sqlState: '28P01', text: `password authentication failed for user "${login.name}"`, user: login.name }];
    }
  }

  private started = false;
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n, 0);
  return b;
}

function printable(type: string): string {
  return /^[\x20-\x7e]$/.test(type) ? type : `0x${type.charCodeAt(0).toString(16)}`;
}
