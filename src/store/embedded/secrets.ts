import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { selfSignedCertificate, type PemPair } from './self-signed.js';

/**
 * Where each login's secret comes from: its environment variable when set, else a file in the data dir's
 * secrets folder (created with a random secret, mode 0600, on first start). Rotating one: set the variable,
 * or replace or delete the file, and restart.
 */
export interface RoleSecrets {
  readonly reader: string;
  readonly writer: string;
  readonly owner: string;
}

export const SECRET_ENV: Readonly<Record<keyof RoleSecrets, string>> = {
  reader: 'CONNTRAIL_READER_PASSWORD',
  writer: 'CONNTRAIL_WRITER_PASSWORD',
  owner: 'CONNTRAIL_OWNER_PASSWORD',
};

/** Beside the data dir, not in it: the engine refuses to initialise a data dir that is not empty. */
export function secretsDir(dataDir: string): string {
  return join(dirname(dataDir), `${basename(dataDir)}-secrets`);
}

export function secretFile(dataDir: string, which: keyof RoleSecrets): string {
  return join(secretsDir(dataDir), `${which}.password`);
}

function fromFile(dataDir: string, which: keyof RoleSecrets): string {
  const file = secretFile(dataDir, which);
  if (existsSync(file)) {
    const stored = readFileSync(file, 'utf8').trim();
    if (stored !== '') return stored;
  }
  const fresh = randomBytes(24).toString('base64url');
  writeFileSync(file, `${fresh}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return fresh;
}

/** Reads (or makes) the three secrets. Given values win over the files. */
export function loadSecrets(dataDir: string, given: Partial<RoleSecrets> = {}): RoleSecrets {
  mkdirSync(secretsDir(dataDir), { recursive: true, mode: 0o700 });
  chmodSync(secretsDir(dataDir), 0o700);
  const pick = (which: keyof RoleSecrets): string => given[which] || fromFile(dataDir, which);
  return { reader: pick('reader'), writer: pick('writer'), owner: pick('owner') };
}

/**
 * The endpoint's TLS certificate: the given files (a real certificate), else a self-signed one made on
 * first start and kept in the secrets folder (so its fingerprint stays the same for clients that pin it).
 */
export function loadTls(dataDir: string, given?: { readonly certFile: string; readonly keyFile: string }): PemPair {
  if (given) return { cert: readFileSync(given.certFile, 'utf8'), key: readFileSync(given.keyFile, 'utf8') };
  const certFile = join(secretsDir(dataDir), 'tls.crt');
  const keyFile = join(secretsDir(dataDir), 'tls.key');
  if (existsSync(certFile) && existsSync(keyFile)) return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  const made = selfSignedCertificate();
  writeFileSync(keyFile, made.key, { mode: 0o600 });
  writeFileSync(certFile, made.cert, { mode: 0o644 });
  return made;
}
