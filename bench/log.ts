/** Benchmarks log nothing but their figures. */
export const silentLog = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
