import { X509Certificate, generateKeyPairSync, randomBytes, sign } from 'node:crypto';

/**
 * A self-signed certificate for the SQL endpoint's TLS, so that traffic is encrypted from the first start
 * without any setup (clients connect with sslmode=require; a real certificate is a flag away). Node can
 * make keys but not certificates, so the few DER structures of an X.509 v1 certificate are written here:
 * ECDSA P-256 with SHA-256, subject and issuer CN=conntrail, valid ten years.
 */
export interface PemPair {
  readonly cert: string;
  readonly key: string;
}

function der(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const n = body.length;
  const length = n < 0x80 ? Buffer.from([n])
    : n < 0x100 ? Buffer.from([0x81, n])
      : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, body]);
}

const SEQUENCE = 0x30;
const SET = 0x31;
const ECDSA_WITH_SHA256 = der(SEQUENCE, Buffer.from('06082a8648ce3d040302', 'hex'));
const COMMON_NAME = Buffer.from('0603550403', 'hex');

function utcTime(date: Date): Buffer {
  const iso = date.toISOString();
  const text = `${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return der(0x17, Buffer.from(text, 'ascii'));
}

function name(cn: string): Buffer {
  return der(SEQUENCE, der(SET, der(SEQUENCE, COMMON_NAME, der(0x0c, Buffer.from(cn, 'utf8')))));
}

export function selfSignedCertificate(commonName = 'conntrail', now = new Date()): PemPair {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const serial = randomBytes(16);
  // A positive INTEGER in its minimal DER form: the top bit clear (else negative) and the first byte never
  // zero (a leading 0x00 before a byte below 0x80 is "illegal padding", refused by OpenSSL 1 time in 256).
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  const notAfter = new Date(now.getTime() + 10 * 365 * 24 * 3600 * 1000);
  const tbs = der(SEQUENCE,
    der(0x02, serial),
    ECDSA_WITH_SHA256,
    name(commonName),
    der(SEQUENCE, utcTime(new Date(now.getTime() - 3600 * 1000)), utcTime(notAfter)),
    name(commonName),
    publicKey.export({ type: 'spki', format: 'der' }));
  const signature = sign('sha256', tbs, privateKey);
  const certificate = der(SEQUENCE, tbs, ECDSA_WITH_SHA256, der(0x03, Buffer.from([0]), signature));
  const lines = certificate.toString('base64').match(/.{1,64}/g) ?? [];
  const cert = `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
  // Checked here so that a malformed certificate fails at once, not at a client's first TLS handshake.
  const parsed = new X509Certificate(cert);
  if (!parsed.verify(publicKey)) throw new Error('self-signed certificate does not verify');
  return { cert, key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** SHA-256 fingerprint of a PEM certificate, as clients show it (for pinning). */
export function fingerprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}
