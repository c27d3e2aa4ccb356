// The operator kit in deploy/ against what rbuddy really exports: every metric the Grafana
// dashboard and the Prometheus rules name is one of rbuddy's /metrics (the registry of a real
// Metrics instance), the dashboard covers what an operator watches, and the rules pass
// `promtool check rules` where promtool is installed (Debian's `prometheus` package; npm test's
// scripts/ensure-env.sh installs it as root with apt).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Metrics } from '../../src/metrics/metrics.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RULES = join(ROOT, 'deploy', 'prometheus-rules.yml');
const RULE_TESTS = join(ROOT, 'deploy', 'prometheus-rules.test.yml');
const DASHBOARD = join(ROOT, 'deploy', 'grafana-dashboard.json');
// Prometheus's own series for a scrape target (rbuddy down = its scrape failing).
const PROMETHEUS_SERIES = new Set(['up']);
const KEYWORDS = new Set(
  'by without on ignoring group_left group_right and or unless bool offset inf nan'.split(' '),
);

/** Every series name rbuddy's registry exposes (histograms as their _bucket/_sum/_count). */
async function exportedNames(): Promise<Set<string>> {
  const metrics = new Metrics({
    status: () => ({
      state: 'healthy',
      epoch: 1,
      masterUp: true,
      failover: null,
      sessions: [],
      stateStore: { failedWrites: 0 },
    }),
    replicas: ['127.0.0.1:6379'],
  });
  const names = new Set<string>();
  for (const [, name = '', type] of (await metrics.render()).matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name);
    if (type === 'histogram' || type === 'summary') {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    }
  }
  return names;
}

/** The series names a PromQL expression selects (not functions, label names or keywords). */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  return [...bare.matchAll(/(?<![\w.$])([A-Za-z_:][\w:]*)(?![\w:]|\s*\()/g)]
    .map((match) => match[1] ?? '')
    .filter((name) => !KEYWORDS.has(name.toLowerCase()));
}

function ruleExpressions(): string[] {
  const text = readFileSync(RULES, 'utf8');
  const exprs = [...text.matchAll(/^\s*expr:\s*(.*)$/gm)].map((match) => match[1] ?? '');
  for (const expr of exprs) {
    assert.ok(!/^[|>]/.test(expr), `keep each expr on one line (this test reads them): ${expr}`);
  }
  return exprs;
}

interface Dashboard {
  panels: { title: string; targets: { expr: string }[] }[];
  templating: { list: { query: string }[] };
}

function dashboardExpressions(): string[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
  const queries = dashboard.templating.list.map(
    (variable) => /label_values\((\w+)/.exec(variable.query)?.[1] ?? variable.query,
  );
  return [...dashboard.panels.flatMap((panel) => panel.targets.map((t) => t.expr)), ...queries];
}

describe('the operator kit (deploy/)', () => {
  it('the PromQL reader finds series names, not functions, labels or keywords', () => {
    assert.deepEqual(
      metricNames(
        'histogram_quantile(0.9, sum by (le) (rate(a_bucket{x="y"}[5m]))) > 64 * 1e6 and on (i) b',
      ),
      ['a_bucket', 'b'],
    );
  });

  it('the Grafana dashboard uses only metrics rbuddy exports', async () => {
    const exported = await exportedNames();
    const used = dashboardExpressions().flatMap(metricNames);
    assert.ok(used.length >= 15, `only ${used.length} metric uses found`);
    const unknown = used.filter((name) => !exported.has(name) && !PROMETHEUS_SERIES.has(name));
    assert.deepEqual([...new Set(unknown)], []);
  });

  it('the dashboard shows state, epoch, failovers and their duration, lag, relay, outbox, webhooks', () => {
    const used = new Set(dashboardExpressions().flatMap(metricNames));
    const expected = [
      'rbuddy_state',
      'rbuddy_epoch',
      'rbuddy_failovers_total',
      'rbuddy_failover_duration_seconds_bucket',
      'rbuddy_replica_lag_bytes',
      'rbuddy_relay_bytes_total',
      'rbuddy_outbox_pending',
      'rbuddy_notifications_total',
    ];
    assert.deepEqual(
      expected.filter((name) => !used.has(name)),
      [],
    );
  });

  it('the alerting rules use only metrics rbuddy exports, and cover what the operator needs', async () => {
    const exported = await exportedNames();
    const exprs = ruleExpressions();
    const used = exprs.flatMap(metricNames);
    const unknown = used.filter((name) => !exported.has(name) && !PROMETHEUS_SERIES.has(name));
    assert.deepEqual([...new Set(unknown)], []);
    const alerts = [...readFileSync(RULES, 'utf8').matchAll(/^\s*- alert:\s*(\w+)$/gm)].map(
      (match) => match[1],
    );
    assert.equal(alerts.length, exprs.length, 'one expr per alert');
    for (const alert of [
      'RbuddyDown',
      'RbuddyMissing',
      'RbuddyHeldTooLong',
      'RbuddyDegraded',
      'RbuddyFailoverFailed',
      'RbuddyOutboxBacklogGrowing',
      'RbuddyOutboxBacklogStuck',
      'RbuddyReplicaLag',
    ]) {
      assert.ok(alerts.includes(alert), `${alert} in ${alerts.join(', ')}`);
    }
    const tested = new Set(
      [...readFileSync(RULE_TESTS, 'utf8').matchAll(/alertname:\s*(\w+)/g)].map((m) => m[1]),
    );
    assert.deepEqual(
      alerts.filter((alert) => !tested.has(alert)),
      [],
      'every alert has a promtool test in deploy/prometheus-rules.test.yml',
    );
  });

  // Not skipped when missing: `npm test` installs it as root (scripts/ensure-env.sh); elsewhere
  // the failure names the package, as the Sentinel tests do for redis-sentinel.
  const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  const assertPromtool = (): void =>
    assert.equal(promtool.error, undefined, 'promtool not installed: apt-get install prometheus');
  it('promtool check rules accepts the alerting rules', () => {
    assertPromtool();
    const result = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    assert.match(result.stdout, /SUCCESS: \d+ rules found/);
  });

  it('promtool test rules: each alert fires when it should and not before', () => {
    assertPromtool();
    const result = spawnSync('promtool', ['test', 'rules', RULE_TESTS], { encoding: 'utf8' });
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    assert.match(result.stdout, /SUCCESS/);
  });
});
