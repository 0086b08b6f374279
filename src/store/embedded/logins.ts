import { randomBytes } from 'node:crypto';
import type { Access } from './classify.js';
import { scramVerifier, type ScramVerifier } from './scram.js';

/**
 * The endpoint's logins. Each has its own secret and acts as its own database role; none of them is the
 * engine's superuser except the in-process administrator, whose secret is made fresh at every start and
 * never leaves this process (migrations and maintenance use it).
 */
export type LoginName = 'conntrail_reader' | 'conntrail_writer' | 'conntrail' | typeof INTERNAL_LOGIN;

export const INTERNAL_LOGIN = 'conntrail_internal';

export interface Login {
  readonly name: string;
  /** The database role the session takes (null: the engine's superuser, in-process only). */
  readonly role: string | null;
  /** Which statements it may send; 'internal' is not checked. */
  readonly access: Access | 'internal';
  /** May use the connection slots and the place at the head of the queue kept for the collector. */
  readonly reserved: boolean;
  readonly verifier: ScramVerifier;
}

export interface LoginSecrets {
  readonly reader: string;
  readonly writer: string;
  readonly owner: string;
  readonly internal: string;
}

export function internalSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function buildLogins(secrets: LoginSecrets): ReadonlyMap<string, Login> {
  const logins: Login[] = [
    { name: 'conntrail_reader', role: 'conntrail_reader', access: 'reader', reserved: false, verifier: scramVerifier(secrets.reader) },
    { name: 'conntrail_writer', role: 'conntrail_writer', access: 'writer', reserved: true, verifier: scramVerifier(secrets.writer) },
    { name: 'conntrail', role: 'conntrail_owner', access: 'owner', reserved: false, verifier: scramVerifier(secrets.owner) },
    { name: INTERNAL_LOGIN, role: null, access: 'internal', reserved: true, verifier: scramVerifier(secrets.internal) },
  ];
  return new Map(logins.map((l) => [l.name, l]));
}
