import { loadModule, parseSync } from 'libpg-query';

/**
 * Which statements each login may send, decided on PostgreSQL's own parse tree (libpg_query), never on
 * the text: comments, quoting, E'' strings and odd spacing all parse to the same nodes the engine runs.
 * The engine's session user is a superuser (PGlite has one session), so anything that reaches SET ROLE,
 * SET SESSION AUTHORIZATION or dynamic SQL (DO, functions) would undo the role: those are never allowed
 * from the network. The database's privileges still apply on top (the reader has SELECT on bi.* only).
 */
export type Access = 'reader' | 'writer' | 'owner';

export type Verdict =
  /**
   * sessionNeutral: every statement only reads (SELECT, SHOW), so running it leaves the shared session as it
   * found it (settings, role, cursors, transaction): the next client of the same role needs no reset.
   */
  | { readonly ok: true; readonly sessionNeutral: boolean }
  | { readonly ok: false; readonly sqlState: string; readonly reason: string };

type Node = Record<string, unknown>;

/** Statement kinds (top-level node names) each access level may run. */
const READ = ['SelectStmt', 'ExplainStmt', 'VariableShowStmt', 'TransactionStmt', 'VariableSetStmt',
  'DeclareCursorStmt', 'FetchStmt', 'ClosePortalStmt', 'CopyStmt'];
const ALLOWED: Readonly<Record<Access, ReadonlySet<string>>> = {
  reader: new Set(READ),
  writer: new Set([...READ, 'InsertStmt', 'UpdateStmt']),
  owner: new Set([...READ, 'InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'CreateStmt', 'ViewStmt',
    'IndexStmt', 'CreateTableAsStmt', 'DropStmt', 'AlterTableStmt', 'TruncateStmt', 'VacuumStmt', 'CommentStmt',
    'RefreshMatViewStmt', 'ReindexStmt']),
};

/** Statement kinds that leave the session as they found it (the functions that would not are refused in walk()). */
const NEUTRAL = new Set(['SelectStmt', 'VariableShowStmt']);

/** Statements that write, wherever they appear in a tree (a data-modifying WITH is still a write). */
const WRITES = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

/** Settings a client may change for itself; the gateway resets every setting when the engine changes hands. */
const SETTABLE = new Set(['client_encoding', 'datestyle', 'timezone', 'intervalstyle', 'extra_float_digits',
  'application_name', 'search_path', 'statement_timeout', 'lock_timeout', 'client_min_messages',
  'bytea_output', 'standard_conforming_strings', 'transaction', 'transaction_isolation', 'transaction_read_only',
  'default_transaction_isolation', 'jit', 'work_mem', 'enable_seqscan', 'timescaledb.enable_chunk_skipping']);

/** Functions that change the session or reach past it; also revoked from PUBLIC in the database. */
const FORBIDDEN_FUNCTIONS = new Set(['set_config', 'pg_reload_conf', 'pg_terminate_backend', 'pg_cancel_backend',
  'pg_read_file', 'pg_read_binary_file', 'pg_ls_dir', 'dblink', 'dblink_exec',
  'pg_prepared_statement', 'pg_cursor', 'lowrite', 'loread']);

/**
 * Families of functions that outlive the client on the one shared session: session-level advisory locks
 * (the next client, or the migrations, would find them held) and large objects (storage written outside
 * any table's privileges, lo_from_bytea is open to PUBLIC).
 */
const FORBIDDEN_PREFIXES = ['pg_advisory', 'pg_try_advisory', 'lo_'];

/** DECLARE ... WITH HOLD (CURSOR_OPT_HOLD): the cursor would outlive the transaction into the next client's turn. */
const CURSOR_OPT_HOLD = 0x20;

export async function loadParser(): Promise<void> {
  await loadModule();
}

function refuse(reason: string, sqlState = '42501'): Verdict {
  return { ok: false, sqlState, reason };
}

function nodeKind(node: unknown): string {
  return node && typeof node === 'object' ? Object.keys(node)[0] ?? '' : '';
}

/** Classifies one SQL text (one or more statements) for a login's access level. */
export function classify(sql: string, access: Access): Verdict {
  let tree: { stmts?: Array<{ stmt?: Node }> };
  try {
    tree = parseSync(sql) as typeof tree;
  } catch (err) {
    return refuse(`syntax error: ${err instanceof Error ? err.message : String(err)}`, '42601');
  }
  let sessionNeutral = true;
  for (const raw of tree.stmts ?? []) {
    const verdict = checkStatement(raw.stmt ?? {}, access);
    if (!verdict.ok) return verdict;
    if (!NEUTRAL.has(nodeKind(raw.stmt))) sessionNeutral = false;
  }
  return { ok: true, sessionNeutral };
}

function checkStatement(stmt: Node, access: Access): Verdict {
  const kind = nodeKind(stmt);
  const body = (stmt[kind] ?? {}) as Node;
  if (!ALLOWED[access].has(kind)) return refuse(`${kind} is not allowed for the ${access} login`);
  switch (kind) {
    case 'VariableSetStmt': {
      const name = String(body.name ?? '').toLowerCase();
      // RESET ALL would also undo the gateway's role for this client.
      if (body.kind === 'VAR_RESET_ALL' || !SETTABLE.has(name)) return refuse(`changing "${name || 'all settings'}" is not allowed through the conntrail SQL endpoint`);
      break;
    }
    case 'TransactionStmt': {
      const k = String(body.kind ?? '');
      if (k.includes('PREPARED') || k === 'TRANS_STMT_PREPARE') return refuse('two-phase commit is not allowed through the conntrail SQL endpoint');
      break;
    }
    case 'CopyStmt':
      // COPY FROM STDIN is not served by the embedded engine's wire entry point; files are the server's.
      if (body.is_from) return refuse('COPY FROM is not allowed through the conntrail SQL endpoint; use INSERT');
      if (body.filename !== undefined || body.is_program) return refuse('COPY to a server file or program is not allowed');
      break;
    case 'ExplainStmt': {
      const inner = checkStatement((body.query ?? {}) as Node, access);
      if (!inner.ok) return inner;
      break;
    }
    case 'DeclareCursorStmt':
      if ((Number(body.options ?? 0) & CURSOR_OPT_HOLD) !== 0) return refuse('cursors WITH HOLD are not allowed through the conntrail SQL endpoint (the session is shared)');
      break;
    default:
      break;
  }
  return walk(stmt, access);
}

/** Looks through the whole tree: writes hidden in WITH, SELECT INTO, forbidden functions. */
function walk(root: unknown, access: Access): Verdict {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      for (const item of node) stack.push(item);
      continue;
    }
    if (!node || typeof node !== 'object') continue;
    for (const [key, value] of Object.entries(node as Node)) {
      if (WRITES.has(key) && !ALLOWED[access].has(key)) return refuse(`${key} is not allowed for the ${access} login`);
      if (key === 'intoClause' && access !== 'owner') return refuse('SELECT INTO is not allowed for the ' + access + ' login');
      // Temporary tables (CREATE TEMP, CREATE TEMP ... AS, SELECT INTO TEMP) live in the one shared session,
      // so they would reach the next client; COPY FROM STDIN into one once broke the engine.
      if ((key === 'relpersistence' && value === 't') || (key === 'schemaname' && /^pg_temp/i.test(String(value)))) return refuse('temporary tables are not allowed through the conntrail SQL endpoint');
      if (key === 'FuncCall') {
        const names = ((value as Node).funcname ?? []) as Array<{ String?: { sval?: string } }>;
        const name = (names[names.length - 1]?.String?.sval ?? '').toLowerCase();
        if (FORBIDDEN_FUNCTIONS.has(name) || FORBIDDEN_PREFIXES.some((p) => name.startsWith(p))) {
          return refuse(`function ${name} is not allowed through the conntrail SQL endpoint`);
        }
      }
      if (value && typeof value === 'object') stack.push(value);
    }
  }
  return { ok: true, sessionNeutral: false };
}
