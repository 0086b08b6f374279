import pino from 'pino';

/** The structured logger every part accepts (pino's shape); the cli creates the one real instance. */
export interface Log {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** Structured JSON logs on stderr (stdout stays free for command output such as `conntrail query`). */
export function createLog(name: string): Log {
  return pino({ name, level: process.env.LOG_LEVEL ?? 'info', base: { pid: process.pid } }, pino.destination(2));
}
