// The dashboard and alert rules rotator ships (deploy/grafana, deploy/prometheus), read for the tests: their PromQL
// queries, and the metric names they use.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../src/stack/local-stack';

export const DASHBOARD_FILE = path.join(REPO_ROOT, 'deploy', 'grafana', 'rotator.json');
export const RULES_FILE = path.join(REPO_ROOT, 'deploy', 'prometheus', 'rotator-rules.yaml');
export const RULES_TEST_FILE = path.join(REPO_ROOT, 'test', 'fixtures', 'prometheus', 'rotator-rules.test.yaml');

interface Panel {
  id: number;
  title: string;
  type: string;
  targets?: Array<{ refId: string; expr: string }>;
  panels?: Panel[];
}

/** Every query of every panel (rows' nested panels too), as Grafana stores it. */
export function dashboardQueries(): Array<{ panel: string; refId: string; expr: string }> {
  const dashboard = JSON.parse(fs.readFileSync(DASHBOARD_FILE, 'utf8')) as { panels: Panel[] };
  const all = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...all(p.panels ?? [])]);
  return all(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, refId: t.refId, expr: t.expr })));
}

/** A dashboard query as Prometheus would get it: Grafana's interval variables replaced by durations. */
export function asPromQL(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m').replaceAll('$__range', '24h');
}

export interface AlertRule {
  alert: string;
  expr: string;
}

export function alertRules(): AlertRule[] {
  const file = parse(fs.readFileSync(RULES_FILE, 'utf8')) as { groups: Array<{ rules: AlertRule[] }> };
  return file.groups.flatMap((g) => g.rules).filter((r) => r.alert);
}

/** The rotator_* metric names a query reads (a name followed by `(` would be a function, and none is). */
export function metricNames(expr: string): string[] {
  return [...new Set(expr.match(/\brotator_[a-z0-9_]+\b/g) ?? [])];
}
