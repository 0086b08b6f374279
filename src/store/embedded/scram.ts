import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The server side of SCRAM-SHA-256 (RFC 5802/7677) as PostgreSQL speaks it: the secret never crosses the
 * wire, and the client learns the server knew it too. No channel binding is offered (the gs2 header must be
 * "n" or "y"), so clients behind TLS still use plain SCRAM-SHA-256.
 */
export interface ScramVerifier {
  readonly salt: Buffer;
  readonly iterations: number;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

export class ScramError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScramError';
  }
}

const ITERATIONS = 4096;

function hmac(key: Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text).digest();
}

/** Derives what the server keeps of a secret (done once per login at start). */
export function scramVerifier(secret: string, salt: Buffer = randomBytes(16), iterations = ITERATIONS): ScramVerifier {
  const salted = pbkdf2Sync(secret.normalize('NFKC'), salt, iterations, 32, 'sha256');
  return {
    salt,
    iterations,
    storedKey: createHash('sha256').update(hmac(salted, 'Client Key')).digest(),
    serverKey: hmac(salted, 'Server Key'),
  };
}

function attributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq === 1) out.set(part[0] ?? '', part.slice(2));
  }
  return out;
}

/** One client's exchange: first message in, challenge out; final message in, verdict and signature out. */
export class ScramExchange {
  private readonly verifier: ScramVerifier;
  private clientFirstBare = '';
  private serverFirst = '';
  private nonce = '';
  private gs2 = '';

  constructor(verifier: ScramVerifier) {
    this.verifier = verifier;
  }

  /** Takes client-first-message, returns server-first-message. */
  first(clientFirst: string): string {
    const match = /^([ny]),(a=[^,]*)?,(.*)$/.exec(clientFirst);
    if (!match) throw new ScramError('unsupported SCRAM client-first-message (channel binding is not offered)');
    this.gs2 = `${match[1]},${match[2] ?? ''},`;
    this.clientFirstBare = match[3] ?? '';
    const clientNonce = attributes(this.clientFirstBare).get('r');
    if (!clientNonce || !/^[\x21-\x2b\x2d-\x7e]+$/.test(clientNonce)) throw new ScramError('invalid SCRAM client nonce');
    this.nonce = clientNonce + randomBytes(18).toString('base64');
    this.serverFirst = `r=${this.nonce},s=${this.verifier.salt.toString('base64')},i=${this.verifier.iterations}`;
    return this.serverFirst;
  }

  /** Takes client-final-message; returns server-final-message when the proof holds, else throws. */
  final(clientFinal: string): string {
    const proofAt = clientFinal.lastIndexOf(',p=');
    if (proofAt < 0) throw new ScramError('SCRAM client-final-message without proof');
    const withoutProof = clientFinal.slice(0, proofAt);
    const attrs = attributes(withoutProof);
    if (attrs.get('c') !== Buffer.from(this.gs2).toString('base64')) throw new ScramError('SCRAM channel binding mismatch');
    if (attrs.get('r') !== this.nonce) throw new ScramError('SCRAM nonce mismatch');
    const proof = Buffer.from(clientFinal.slice(proofAt + 3), 'base64');
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const signature = hmac(this.verifier.storedKey, authMessage);
    if (proof.length !== signature.length) throw new ScramError('SCRAM proof has the wrong length');
    const clientKey = Buffer.alloc(proof.length);
    for (let i = 0; i < proof.length; i++) clientKey[i] = (proof[i] ?? 0) ^ (signature[i] ?? 0);
    const stored = createHash('sha256').update(clientKey).digest();
    if (!timingSafeEqual(stored, this.verifier.storedKey)) throw new ScramError('SCRAM proof does not match');
    return `v=${hmac(this.verifier.serverKey, authMessage).toString('base64')}`;
  }
}
