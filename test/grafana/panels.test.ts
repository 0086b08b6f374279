import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { SnapshotWriter } from '../../src/store/index.js';
import { T0, scenarioSnapshots } from '../api/scenario.js';
import { freshStore } from '../helpers/env.js';
import { expandMacros } from './macros.js';

/**
 * Every panel of every shipped Grafana dashboard runs its SQL (macros expanded for a real range) as the reader
 * role against the real embedded store, filled by the real writer with the API scenario (three hosts, a router
 * with DNAT and SNAT, a failed conntrack source); each must return rows.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DASHBOARDS = `${ROOT}grafana/dashboards`;
const DATASOURCE_UID = 'conntrail-bi';

interface Target { refId: string; rawSql: string; format: string; datasource: { uid: string } }
interface Panel { id: number; title: string; type: string; targets?: Target[]; datasource?: { uid: string } }
interface Dashboard { uid: string; title: string; panels: Panel[] }

function dashboards(): { file: string; dashboard: Dashboard }[] {
  return readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json')).map((file) => ({ file, dashboard: JSON.parse(readFileSync(`${DASHBOARDS}/${file}`, 'utf8')) as Dashboard }));
}

test('the dashboards: unique ids, every panel on the conntrail data source, reading only the bi views', () => {
  const all = dashboards();
  assert.ok(all.length > 0);
  const titles = all.flatMap(({ dashboard }) => dashboard.panels.map((p) => p.title.toLowerCase()));
  for (const wanted of ['top talkers', 'traffic over time', 'new edges', 'nat translations', 'collector completeness']) {
    assert.ok(titles.some((t) => t.includes(wanted)), `a panel for ${wanted}`);
  }
  for (const { file, dashboard } of all) {
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, `${file}: panel ids are unique`);
    for (const panel of dashboard.panels) {
      assert.ok(panel.targets && panel.targets.length > 0, `${file} ${panel.title}: has a query`);
      for (const t of panel.targets) {
        assert.equal(t.datasource.uid, DATASOURCE_UID);
        const relations = [...t.rawSql.matchAll(/\b(?:FROM|JOIN)\s+([a-z_]+)\.([a-z_0-9]+)/gi)].map((m) => m[1]!.toLowerCase());
        assert.ok(relations.length > 0 && relations.every((schema) => schema === 'bi'), `${panel.title}: reads bi views only`);
      }
    }
  }
});

test('provisioning: the data source is the reader on the bi views; docker-compose mounts the dashboards where the provider looks', () => {
  const datasources = parse(readFileSync(`${ROOT}grafana/provisioning/datasources/conntrail.yaml`, 'utf8')) as { datasources: { uid: string; user: string; type: string }[] };
  assert.deepEqual(datasources.datasources.map((d) => [d.uid, d.user, d.type]), [[DATASOURCE_UID, 'conntrail_reader', 'grafana-postgresql-datasource']]);
  const providers = parse(readFileSync(`${ROOT}grafana/provisioning/dashboards/conntrail.yaml`, 'utf8')) as { providers: { options: { path: string } }[] };
  const compose = parse(readFileSync(`${ROOT}docker-compose.yml`, 'utf8')) as { services: Record<string, { volumes?: string[]; environment?: Record<string, string> }> };
  const volumes = compose.services.grafana?.volumes ?? [];
  assert.ok(volumes.includes('./grafana/provisioning:/etc/grafana/provisioning:ro'));
  assert.ok(volumes.includes(`./grafana/dashboards:${providers.providers[0]!.options.path}:ro`));
  for (const variable of ['CONNTRAIL_DB_HOST', 'CONNTRAIL_DB_NAME', 'CONNTRAIL_READER_PASSWORD']) {
    assert.ok(compose.services.grafana?.environment?.[variable], `compose gives Grafana ${variable}`);
  }
});

test("every panel's SQL returns rows as the reader role over scripted data", { timeout: 300_000 }, async () => {
  const { store, dispose } = await freshStore();
  try {
    const writer = new SnapshotWriter(store.writer);
    for (const s of scenarioSnapshots()) assert.deepEqual((await writer.write(s)).rejected, []);
    const who = await store.reader.query<{ user: string }>('SELECT current_user AS "user"');
    assert.equal(who.rows[0]!.user, 'conntrail_reader');
    // The scenario's hour (T0 to T0 + 2 min), as a Grafana range with a 1-minute interval.
    const range = { fromMs: T0 - 30 * 60_000, toMs: T0 + 30 * 60_000, intervalMs: 60_000 };
    for (const { file, dashboard } of dashboards()) {
      for (const panel of dashboard.panels) {
        for (const t of panel.targets ?? []) {
          const sql = expandMacros(t.rawSql, range);
          const result = await store.reader.query<Record<string, unknown>>(sql);
          assert.ok(result.rows.length > 0, `${file} "${panel.title}" returned no rows:\n${sql}`);
          if (t.format === 'time_series') {
            for (const row of result.rows) {
              assert.ok(row.time instanceof Date, `${panel.title}: a time column`);
              assert.ok((row.time as Date).getTime() >= range.fromMs - 60_000 && (row.time as Date).getTime() <= range.toMs, `${panel.title}: within the range`);
            }
          }
        }
      }
    }
    // A range with no data: the panels answer nothing rather than failing.
    const empty = { fromMs: T0 - 30 * 86_400_000, toMs: T0 - 29 * 86_400_000, intervalMs: 3_600_000 };
    for (const { dashboard } of dashboards()) {
      for (const panel of dashboard.panels) for (const t of panel.targets ?? []) assert.equal((await store.reader.query(expandMacros(t.rawSql, empty))).rows.length, 0, panel.title);
    }
  } finally {
    await dispose();
  }
});
