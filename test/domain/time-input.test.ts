import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TimeInputError, parseDuration, parseInstant } from '../../src/domain/time-input.js';

const NOW = Date.UTC(2026, 11, 6, 3, 0, 0);

test('durations as people write them; a bare number is seconds', () => {
  const cases: [string, number][] = [
    ['15', 15_000], ['0.5', 500], ['15s', 15_000], ['1m', 60_000], ['500ms', 500], ['1h30m', 5_400_000], ['1.5s', 1_500],
    ['2d', 172_800_000], ['1w', 604_800_000], [' 30s ', 30_000],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

test('what is not a duration is refused with the forms that are', () => {
  for (const text of ['', 's', '15x', '-5s', '1m-', '15 s', 'ms15', '1e3']) {
    assert.throws(() => parseDuration(text), (err: unknown) => err instanceof TimeInputError && /500ms, 15s, 1m/.test(err.message), text);
  }
});

test('instants: now, now±duration, a bare -duration, ISO-8601 with a zone, Unix seconds', () => {
  const cases: [string, number][] = [
    ['now', NOW], ['now-1h', NOW - 3_600_000], ['now - 1h', NOW - 3_600_000], ['-15m', NOW - 900_000], ['now+30s', NOW + 30_000],
    ['+1d', NOW + 86_400_000], ['-90', NOW - 90_000],
    ['2026-12-06T01:00:00Z', Date.UTC(2026, 11, 6, 1)], ['2026-12-06T01:00:00.250Z', Date.UTC(2026, 11, 6, 1, 0, 0, 250)],
    ['2026-12-06T03:00:00+02:00', Date.UTC(2026, 11, 6, 1)], ['2026-12-06 01:00Z', Date.UTC(2026, 11, 6, 1)],
    ['1765000000', 1_765_000_000_000], ['1765000000.5', 1_765_000_000_500],
  ];
  for (const [text, ms] of cases) assert.equal(parseInstant(text, NOW), ms, text);
});

test('an instant without a zone, milliseconds for seconds and nonsense are refused, saying why', () => {
  assert.throws(() => parseInstant('2026-12-06T01:00:00', NOW), /no time zone.*2026-12-06T01:00:00Z/);
  assert.throws(() => parseInstant('2026-12-06', NOW), /no time zone.*2026-12-06T00:00:00Z/);
  assert.throws(() => parseInstant('1765000000000', NOW), /milliseconds/);
  assert.throws(() => parseInstant('now-1x', NOW), /"now-1x" is not a time/);
  assert.throws(() => parseInstant('yesterday', NOW), (err: unknown) => err instanceof TimeInputError && err.input === 'yesterday');
});
