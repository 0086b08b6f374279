/** The eBPF source: the helper's line format, its process, the supervised source, and auto fallback. */
export { AutoSource, type AutoSourceOptions, type SupervisedSource } from './auto-source.js';
export { ConnectionTable, type ConnectionTableOptions, type TableReading } from './connection-table.js';
export { EbpfSource, type EbpfSourceOptions } from './ebpf-source.js';
export { EbpfError, type EbpfErrorCode } from './errors.js';
export {
  EBPF_FORMAT_VERSION, LineParser, parseLine, unescapeComm,
  type ConnRecord, type EbpfRecord, type EndRecord, type HeaderRecord, type MalformedLine, type StatsRecord,
} from './format.js';
export { defaultHelperPath, findPackageRoot, HELPER_RELATIVE_PATH } from './helper-path.js';
export { HelperProcess, type DumpResult, type HelperExit, type HelperOptions } from './helper-process.js';
export { createSourceForMode, parseSourceMode, SOURCE_MODES, type SourceMode, type SourceModeFactories } from './mode.js';
export { recordKey, recordProcess, recordProcessKey, recordToObservation, tupleKey, type EbpfClock } from './observation.js';
