import pino from 'pino';

/** Structured JSON logs on stderr (stdout stays free for command output such as `conntrail query`). */
export type Log = pino.Logger;

export function createLog(name: string): Log {
  return pino({ name, level: process.env.LOG_LEVEL ?? 'info', base: { pid: process.pid } }, pino.destination(2));
}
