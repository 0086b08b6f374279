/**
 * Splits a SQL script into statements at top-level semicolons, aware of quotes, dollar quotes and
 * comments. Used only for our own migration files that must run outside a transaction.
 */
export function splitStatements(script: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  const n = script.length;
  while (i < n) {
    const ch = script[i];
    const next = script[i + 1];
    if (ch === '-' && next === '-') {
      const end = script.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
    } else if (ch === '/' && next === '*') {
      const end = script.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
    } else if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < n) {
        if (script[j] === ch) {
          if (script[j + 1] === ch) j += 2;
          else break;
        } else j++;
      }
      i = j + 1;
    } else if (ch === '$') {
      const tag = /^\$[A-Za-z_]*\$/.exec(script.slice(i, i + 64));
      if (tag) {
        const end = script.indexOf(tag[0], i + tag[0].length);
        i = end < 0 ? n : end + tag[0].length;
      } else i++;
    } else if (ch === ';') {
      pushStatement(out, script.slice(start, i));
      start = i + 1;
      i++;
    } else i++;
  }
  pushStatement(out, script.slice(start));
  return out;
}

function pushStatement(out: string[], text: string): void {
  const stripped = text.replace(/--[^\n]*/g, '').trim();
  if (stripped.length > 0) out.push(text.trim());
}
