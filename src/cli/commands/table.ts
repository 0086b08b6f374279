/**
 * `conntrail query --output table`: the rows of an answer as aligned columns, one line per row, in the spirit of
 * `ss` and `conntrack -L`. The rows are the first list of objects under each root field (`talkers.edges`,
 * `edges`, `connections.edges[].node` for a Relay connection); nested objects become dotted columns
 * (`client.node.name`), lists of values are joined with commas and lists of objects show their length.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Row = Record<string, string>;

function isObject(value: Json | undefined): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A Relay edge ({ cursor, node }) stands for its node. */
function unwrapEdge(item: Json): Json {
  return isObject(item) && isObject(item.node) && Object.keys(item).every((k) => k === 'node' || k === 'cursor') ? item.node : item;
}

/** The first list of objects at or below `value`, breadth-first so `talkers.edges` wins over `talkers.nodes[].host...`. */
function findRows(value: Json): { [key: string]: Json }[] | null {
  const queue: Json[] = [value];
  while (queue.length > 0) {
    const current = queue.shift()!;
    if (Array.isArray(current)) {
      const items = current.map(unwrapEdge);
      if (items.length > 0 && items.every(isObject)) return items as { [key: string]: Json }[];
      if (items.length === 0) return [];
      continue;
    }
    if (isObject(current)) queue.push(...Object.values(current));
  }
  return null;
}

function flatten(value: Json, prefix: string, out: Row): void {
  if (isObject(value)) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}.${key}` : key, out);
    return;
  }
  if (Array.isArray(value)) {
    out[prefix] = value.every((v) => !isObject(v) && !Array.isArray(v)) ? value.map((v) => String(v)).join(',') : `[${value.length}]`;
    return;
  }
  out[prefix] = value === null ? '-' : String(value);
}

/** Aligned columns; numbers are right-aligned like `ss`'s counters. */
export function renderTable(rows: readonly Row[]): string {
  const columns: string[] = [];
  for (const row of rows) for (const key of Object.keys(row)) if (!columns.includes(key)) columns.push(key);
  if (columns.length === 0) return '(no rows)';
  const cells = rows.map((row) => columns.map((c) => row[c] ?? '-'));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const numeric = columns.map((_, i) => cells.length > 0 && cells.every((r) => /^-?\d+(\.\d+)?$|^-$/.test(r[i]!)));
  const line = (values: readonly string[]): string => values.map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(columns), ...cells.map(line)].join('\n');
}

/** The table text for a GraphQL `data` object: one table per root field, titled when there are several. */
export function tableOf(data: unknown): string {
  if (!isObject(data as Json)) return '(no data)';
  const entries = Object.entries(data as { [key: string]: Json });
  const parts: string[] = [];
  for (const [field, value] of entries) {
    const found = findRows(value);
    const rows: Row[] = (found ?? (isObject(value) ? [value] : [])).map((item) => {
      const row: Row = {};
      flatten(item, '', row);
      return row;
    });
    const text = rows.length === 0 ? '(no rows)' : renderTable(rows);
    parts.push(entries.length > 1 ? `${field}:\n${text}` : text);
  }
  return parts.join('\n\n');
}
