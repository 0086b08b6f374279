import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UsageError, parseCommand, type Command } from '../../src/cli/args.js';
import { COMMAND_NAMES, OPTION_DOCS, optionsOf } from '../../src/cli/help.js';
import { DEFAULTS, DEFAULT_API_URL, ENVIRONMENT } from '../../src/cli/settings.js';

/** Command-line parsing as a user meets it: durations, help, version, unknown options, the environment. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => `${e.parentPath}/${e.name}`);
}

function parse(argv: string[], env: NodeJS.ProcessEnv = {}): Command {
  return parseCommand(argv, env);
}

function usageError(argv: string[], pattern: RegExp, env: NodeJS.ProcessEnv = {}): void {
  assert.throws(() => parse(argv, env), (err: unknown) => err instanceof UsageError && pattern.test(err.message), argv.join(' '));
}

test('--interval takes 15s, 1m, 500ms and bare seconds', () => {
  const interval = (value: string): number => {
    const c = parse(['collect', '--interval', value]);
    assert.equal(c.name, 'collect');
    return c.name === 'collect' ? c.collector.intervalMs : NaN;
  };
  assert.equal(interval('15s'), 15_000);
  assert.equal(interval('1m'), 60_000);
  assert.equal(interval('500ms'), 500);
  assert.equal(interval('15'), 15_000);
  assert.equal(interval('0.5'), 500);
  const c = parse(['up']);
  assert.equal(c.name === 'up' ? c.collector.intervalMs : NaN, DEFAULTS.intervalMs);
  usageError(['collect', '--interval', '15x'], /--interval: "15x" is not a duration/);
  usageError(['collect', '--interval', '10ms'], /--interval must be from 50ms to 1h/);
  usageError(['collect', '--interval', '2h'], /--interval must be from 50ms to 1h/);
});

test('every command has its own --help listing exactly its options; help <command> says the same', () => {
  for (const name of COMMAND_NAMES) {
    const c = parse([name, '--help']);
    assert.equal(c.name, 'help');
    const text = c.name === 'help' ? c.text : '';
    assert.match(text, new RegExp(`^conntrail ${name}`));
    for (const option of optionsOf(name)) assert.match(text, new RegExp(`--${option}\\b`), `${name} --help lists --${option}`);
    const other = (Object.keys(OPTION_DOCS) as (keyof typeof OPTION_DOCS)[]).filter((o) => !optionsOf(name).includes(o));
    for (const option of other) assert.doesNotMatch(text, new RegExp(`--${option}\\b`), `${name} --help does not list --${option}`);
    assert.deepEqual(parse(['help', name]), c);
  }
  assert.equal(parse(['-h']).name, 'help');
  assert.equal(parse([]).name, 'help');
});

test('--version and -V', () => {
  assert.deepEqual(parse(['--version']), { name: 'version' });
  assert.deepEqual(parse(['serve', '-V']), { name: 'version' });
});

test('an unknown option or command is named with the nearest one; an option of another command is refused', () => {
  usageError(['collect', '--intervall', '5s'], /unknown option --intervall \(did you mean --interval\?\); see conntrail collect --help/);
  usageError(['serve', '--prot', '4001'], /unknown option --prot \(did you mean --port\?\)/);
  usageError(['query', '{ hosts { id } }', '--ouput', 'table'], /did you mean --output\?/);
  usageError(['up', '--zzzzzzzz'], /^unknown option --zzzzzzzz; see conntrail up --help$/);
  usageError(['colect'], /unknown command "colect" \(did you mean collect\?\)/);
  usageError(['serve', '--interval', '5s'], /--interval does not apply to `conntrail serve`/);
  usageError(['migrate', '--port', '1'], /--port does not apply to `conntrail migrate`/);
  usageError(['query', '{ hosts { id } }', '--output', 'csv'], /--output must be one of json, table/);
});

test('environment: CONNTRAIL_DATA_DIR, API_PORT, API_HOST, CONNTRAIL_URL, API_TOKEN fill in what flags leave out', () => {
  const env = { CONNTRAIL_DATA_DIR: '/var/lib/ct', API_PORT: '4100', API_HOST: '::1', CONNTRAIL_URL: 'http://api.example:4100/graphql', API_TOKEN: 'x'.repeat(20) };
  const up = parse(['up'], env);
  assert.ok(up.name === 'up');
  assert.equal(up.store.dataDir, '/var/lib/ct');
  assert.equal(up.api.port, 4100);
  assert.equal(up.api.listen, '::1');
  assert.equal(up.collector.spoolDir, '/var/lib/ct/spool');
  const flagsWin = parse(['serve', '--port', '4200', '--listen', '127.0.0.1', '--data-dir', 'd'], env);
  assert.ok(flagsWin.name === 'serve');
  assert.equal(flagsWin.api.port, 4200);
  assert.equal(flagsWin.api.listen, '127.0.0.1');
  assert.equal(flagsWin.store.dataDir, 'd');
  const q = parse(['query', '{ hosts { id } }'], env);
  assert.ok(q.name === 'query');
  assert.equal(q.url, env.CONNTRAIL_URL);
  assert.equal(q.token, env.API_TOKEN);
  const plain = parse(['query', '{ hosts { id } }', '-o', 'table']);
  assert.ok(plain.name === 'query');
  assert.equal(plain.url, DEFAULT_API_URL);
  assert.equal(plain.output, 'table');
  usageError(['serve'], /API_PORT/, { API_PORT: 'http' });
  // Off loopback by the environment still needs a token.
  usageError(['serve'], /TOKEN_REQUIRED/, { API_HOST: '0.0.0.0' });
});

test('`conntrail help` and the README list every command, option and environment variable; the default port is written once', () => {
  const help = parse(['help']);
  assert.ok(help.name === 'help');
  const readme = readFileSync(`${ROOT}README.md`, 'utf8');
  for (const v of ENVIRONMENT) {
    assert.match(help.text, new RegExp(`\\b${v.name}\\b`), `help lists ${v.name}`);
    assert.match(readme, new RegExp(`\\b${v.name}\\b`), `README lists ${v.name}`);
  }
  for (const option of Object.keys(OPTION_DOCS)) {
    assert.match(help.text, new RegExp(`--${option}\\b`), `help lists --${option}`);
    assert.match(readme, new RegExp(`--${option}\\b`), `README lists --${option}`);
  }
  for (const name of COMMAND_NAMES) assert.match(readme, new RegExp(`conntrail ${name}\\b`), `README shows conntrail ${name}`);
  // The API's and the collector's default ports appear in src/ only in settings.ts.
  for (const file of sourceFiles(`${ROOT}src`)) {
    if (file.endsWith('/cli/settings.ts')) continue;
    assert.doesNotMatch(readFileSync(file, 'utf8'), /\b(4000|9464)\b/, `${file} does not write a default port itself`);
  }
});

test('a short API_TOKEN is refused, as is a port out of range', () => {
  usageError(['serve'], /API_TOKEN must be at least 16 characters/, { API_TOKEN: 'short' });
  usageError(['serve'], /--port \(API_PORT\) must be an integer from 0 to 65535/, { API_PORT: '70000' });
  usageError(['serve', '--port', '70000'], /--port must be an integer from 0 to 65535/);
});

test('--dns takes off, snoop, reverse or both (default both); --dns-server takes an address with an optional port', () => {
  const dnsOf = (argv: string[]) => {
    const c = parse(['collect', ...argv]);
    assert.ok(c.name === 'collect');
    return [c.collector.dns, c.collector.dnsServer];
  };
  assert.deepEqual(dnsOf([]), ['both', null]);
  assert.deepEqual(dnsOf(['--dns', 'snoop']), ['snoop', null]);
  assert.deepEqual(dnsOf(['--dns', 'reverse', '--dns-server', '10.81.0.2']), ['reverse', '10.81.0.2']);
  assert.deepEqual(dnsOf(['--dns-server', '10.81.0.2:5353']), ['both', '10.81.0.2:5353']);
  assert.deepEqual(dnsOf(['--dns-server', '[fd00::53]:53']), ['both', '[fd00::53]:53']);
  usageError(['collect', '--dns', 'maybe'], /--dns must be one of off, snoop, reverse, both/);
  usageError(['collect', '--dns-server', 'ns1.example'], /--dns-server must be an IP address/);
  usageError(['collect', '--dns-server', '10.0.0.1:70000'], /--dns-server must be an IP address/);
  usageError(['serve', '--dns', 'off'], /dns/);
});
