/**
 * The structured logger the API accepts (pino's shape), passed in by the composition root so the API creates
 * no global logger of its own.
 */
export interface ApiLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}
