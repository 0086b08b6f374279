/** Process identity from /proc: pure parsers, thin readers, and a cache keyed by (pid, start time). */
export {
  CMDLINE_CAP_BYTES, containerIdFromCgroup, DEFAULT_CLK_TCK, parseBootTime, parseCgroup, parseCmdline,
  parseProcStat, parseStatusUid, startedAtMs, type ProcStat,
} from './parse.js';
export {
  createProcContext, readBootTimeMs, readProcessInfo, readProcessKey, readProcStat, type ProcContext,
} from './reader.js';
export { ProcessCache, type ProcessCacheStats } from './cache.js';
