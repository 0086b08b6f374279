import type { GatewayLimits } from './limits.js';

/** Messages between the main thread and the embedded store's worker thread. */
export interface WorkerSettings {
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
  /** Secrets of the three logins and of the in-process administrator (made fresh at every start). */
  readonly secrets: { readonly reader: string; readonly writer: string; readonly owner: string; readonly internal: string };
  readonly trustLoopback: boolean;
  readonly limits: GatewayLimits;
  /** PEM certificate and key for TLS, or null for none. */
  readonly tls: { readonly cert: string; readonly key: string } | null;
  /** One BigInt64: the deadline (epoch ms) of the client statement running in the engine, 0 when none. */
  readonly watch: SharedArrayBuffer;
}

export type WorkerRequest =
  | { readonly type: 'stop'; readonly id: number }
  | { readonly type: 'copy'; readonly id: number; readonly sql: string; readonly data: Uint8Array };

export type WorkerResponse =
  | { readonly type: 'ready'; readonly host: string; readonly port: number }
  | { readonly type: 'fatal'; readonly message: string }
  /** The engine failed while serving clients; the worker exits and the host starts a new one. */
  | { readonly type: 'crashed'; readonly message: string }
  | { readonly type: 'log'; readonly level: 'info' | 'warn' | 'error'; readonly obj: object; readonly msg: string }
  | { readonly type: 'reply'; readonly id: number; readonly ok: boolean; readonly value: unknown };
