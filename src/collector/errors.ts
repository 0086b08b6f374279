/** Typed collector errors: a stable code plus the context a log line needs. */
export type CollectorErrorCode =
  | 'CONFIG_INVALID'
  | 'SOURCE_FAILED'
  | 'SOURCE_TIMEOUT'
  | 'SOURCE_BUSY'
  | 'SINK_TIMEOUT'
  | 'SPOOL_IO'
  | 'SPOOL_CORRUPT';

export class CollectorError extends Error {
  readonly code: CollectorErrorCode;
  readonly context: Readonly<Record<string, unknown>>;
  constructor(code: CollectorErrorCode, message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CollectorError';
    this.code = code;
    this.context = context;
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
