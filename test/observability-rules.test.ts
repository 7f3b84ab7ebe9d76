// The alert rules (deploy/prometheus/rotator-rules.yaml) and the dashboard's queries (deploy/grafana/rotator.json)
// through Prometheus's own promtool (Debian package prometheus): the rules load, each alert fires on synthetic series
// and stays quiet on others (`promtool test rules`), and every dashboard query parses as PromQL.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { alertRules, asPromQL, dashboardQueries, RULES_FILE, RULES_TEST_FILE } from './support/observability-files';

function promtool(...args: string[]): { code: number | null; out: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8' });
  if (r.error) throw new Error(`promtool did not run (apt-get install prometheus): ${r.error.message}`);
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rotator-promtool-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface RulesTest {
  rule_files: string[];
  tests: Array<{ name: string; alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
}

/** The promtool test file, run against `rules` (the shipped file, or a changed copy). */
function testRules(rules = RULES_FILE): { code: number | null; out: string } {
  const test = parse(fs.readFileSync(RULES_TEST_FILE, 'utf8')) as RulesTest;
  const dir = fs.mkdtempSync(path.join(tmp, 'test-'));
  fs.writeFileSync(path.join(dir, 'rules.test.yaml'), stringify({ ...test, rule_files: [rules] }));
  return promtool('test', 'rules', path.join(dir, 'rules.test.yaml'));
}

/** A rules file with one recording rule per query, for `promtool check rules` to parse. */
function queriesAsRules(queries: Array<{ expr: string }>): string {
  const file = path.join(fs.mkdtempSync(path.join(tmp, 'queries-')), 'queries.yaml');
  const rules = queries.map((q, i) => ({ record: `rotator_dashboard:query_${i}`, expr: asPromQL(q.expr) }));
  fs.writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
  return file;
}

describe('deploy/prometheus/rotator-rules.yaml', () => {
  it('loads in promtool: five alerts', () => {
    const r = promtool('check', 'rules', RULES_FILE);
    expect(r).toEqual({ code: 0, out: expect.stringContaining('SUCCESS: 5 rules found') });
    expect(
      alertRules()
        .map((a) => a.alert)
        .sort(),
    ).toEqual([
      'RotatorLeaseIrrevocable',
      'RotatorLeaseNearExpiry',
      'RotatorRotationFailed',
      'RotatorSecretNeedsHuman',
      'RotatorSweepStopped',
    ]);
  });

  it('passes promtool test rules, with a firing and a quiet case for every alert', () => {
    const test = parse(fs.readFileSync(RULES_TEST_FILE, 'utf8')) as RulesTest;
    const cases = test.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const { alert } of alertRules()) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect({
        alert,
        fires: mine.some((c) => c.exp_alerts.length > 0),
        quiet: mine.some((c) => c.exp_alerts.length === 0),
      }).toEqual({
        alert,
        fires: true,
        quiet: true,
      });
    }
    const r = testRules();
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
  });

  it('fails promtool test rules when a rule loses what its cases pin down (the test above can fail)', () => {
    const text = fs.readFileSync(RULES_FILE, 'utf8');
    // The stale worker's older lease expiry, and a first failure on a fresh counter series, must not be missed.
    const changed = text
      .replace(
        'max by (secret) (rotator_lease_expiry_timestamp_seconds)',
        'min by (secret) (rotator_lease_expiry_timestamp_seconds)',
      )
      .replace(/offset 30m/, 'offset 1m');
    expect(changed).not.toBe(text);
    const file = path.join(fs.mkdtempSync(path.join(tmp, 'changed-')), 'rules.yaml');
    fs.writeFileSync(file, changed);
    const r = testRules(file);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/FAILED/);
    expect(r.out).toMatch(/alertname: RotatorLeaseNearExpiry/);
    expect(r.out).toMatch(/alertname: RotatorRotationFailed/);
  });
});

describe('deploy/grafana/rotator.json', () => {
  it('has queries that all parse as PromQL (promtool check rules, one recording rule each)', () => {
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThanOrEqual(20);
    const r = promtool('check', 'rules', queriesAsRules(queries));
    expect(r).toEqual({ code: 0, out: expect.stringContaining(`SUCCESS: ${queries.length} rules found`) });
  });

  it('would be refused a query that does not parse (the check above can fail)', () => {
    const r = promtool(
      'check',
      'rules',
      queriesAsRules([{ expr: 'sum by (outcome) (increase(rotator_rotations_total[$__rate_interval])' }]),
    );
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/unclosed left parenthesis|unexpected/);
  });
});
