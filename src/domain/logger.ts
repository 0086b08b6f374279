/**
 * The structured logger every layer accepts (pino's shape). Passed in by the composition root so that no
 * module creates a global logger of its own.
 */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** A logger that drops everything, for callers that do not care (benchmarks, one-off tools). */
export const silentLogger: Logger = Object.freeze({
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  debug: () => undefined,
});
