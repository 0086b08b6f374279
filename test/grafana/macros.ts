/**
 * Grafana's PostgreSQL macros, expanded as Grafana expands them for a panel's time range and interval
 * (https://grafana.com/docs/grafana/latest/datasources/postgres/query-editor/#macros). Only the macros the
 * dashboards use are known here: any other `$__` left in the SQL is an error, so a new one cannot go untested.
 */
export interface PanelRange {
  readonly fromMs: number;
  readonly toMs: number;
  readonly intervalMs: number;
}

const iso = (ms: number): string => `'${new Date(ms).toISOString().replace(/\.000Z$/, 'Z')}'`;

function intervalText(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export function expandMacros(sql: string, range: PanelRange): string {
  const out = sql
    .replace(/\$__timeFilter\(([^)]+)\)/g, (_, column: string) => `${column.trim()} BETWEEN ${iso(range.fromMs)} AND ${iso(range.toMs)}`)
    .replace(/\$__timeFrom\(\)/g, iso(range.fromMs))
    .replace(/\$__timeTo\(\)/g, iso(range.toMs))
    .replace(/\$__unixEpochFrom\(\)/g, String(Math.floor(range.fromMs / 1000)))
    .replace(/\$__unixEpochTo\(\)/g, String(Math.floor(range.toMs / 1000)))
    .replace(/\$__interval_ms\b/g, String(range.intervalMs))
    .replace(/\$__interval\b/g, intervalText(range.intervalMs));
  const left = /\$__\w+/.exec(out);
  if (left) throw new Error(`macro ${left[0]} is not expanded by this test: add it to expandMacros`);
  return out;
}
