/** Messages between the main thread and the embedded store's worker thread. */
export interface WorkerSettings {
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
  readonly password: string | null;
  readonly idleInTransactionMs: number;
  readonly maxClients: number;
}

export type WorkerRequest =
  | { readonly type: 'stop'; readonly id: number }
  | { readonly type: 'copy'; readonly id: number; readonly sql: string; readonly data: Uint8Array };

export type WorkerResponse =
  | { readonly type: 'ready'; readonly host: string; readonly port: number }
  | { readonly type: 'fatal'; readonly message: string }
  | { readonly type: 'log'; readonly level: 'info' | 'warn' | 'error'; readonly obj: object; readonly msg: string }
  | { readonly type: 'reply'; readonly id: number; readonly ok: boolean; readonly value: unknown };
