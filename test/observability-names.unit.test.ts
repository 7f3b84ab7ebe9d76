// The dashboard (deploy/grafana/rotator.json) and the alert rules (deploy/prometheus/rotator-rules.yaml) read only
// metrics rotator exports, and the dashboard shows every one: renaming a metric in src/observability breaks this test.
import { ListenerMetrics } from '../src/observability/listener-metrics';
import { WorkerMetrics } from '../src/observability/metrics';
import { alertRules, dashboardQueries, metricNames } from './support/observability-files';

/** The series names a scrape of the worker and the listener can carry: a histogram's as _bucket, _sum and _count. */
async function exported(): Promise<{ families: string[]; series: Set<string> }> {
  const metrics = [
    ...(await new WorkerMetrics().registry.getMetricsAsJSON()),
    ...(await new ListenerMetrics(['ci']).registry.getMetricsAsJSON()),
  ].filter((m) => m.name.startsWith('rotator_'));
  const series = new Set<string>();
  for (const m of metrics) {
    if (String(m.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) series.add(`${m.name}${suffix}`);
    else series.add(m.name);
  }
  return { families: metrics.map((m) => m.name).sort(), series };
}

const family = (name: string) => name.replace(/_(bucket|sum|count)$/, '');

describe('the metric names the dashboard and alert rules use', () => {
  it('are all exported by the worker or the listener', async () => {
    const { series } = await exported();
    const used = [
      ...dashboardQueries().map((q) => ({ where: `dashboard: ${q.panel} ${q.refId}`, names: metricNames(q.expr) })),
      ...alertRules().map((r) => ({ where: `alert ${r.alert}`, names: metricNames(r.expr) })),
    ];
    expect(used.length).toBeGreaterThan(20);
    for (const { where, names } of used) {
      expect({ where, reads: names.length > 0 }).toEqual({ where, reads: true });
      expect({ where, unknown: names.filter((n) => !series.has(n)) }).toEqual({ where, unknown: [] });
    }
  });

  it('cover every rotator metric on the dashboard', async () => {
    const { families } = await exported();
    const shown = new Set(dashboardQueries().flatMap((q) => metricNames(q.expr).map(family)));
    expect(families.filter((f) => !shown.has(f))).toEqual([]);
    expect(families.length).toBeGreaterThanOrEqual(19);
  });

  it('would catch a renamed metric (the check above can fail)', async () => {
    const { series } = await exported();
    expect(series.has('rotator_rotations_total')).toBe(true);
    expect(series.has('rotator_rotation_total')).toBe(false);
    expect(series.has('rotator_phase_duration_seconds_bucket')).toBe(true);
    expect(series.has('rotator_phase_duration_seconds')).toBe(false);
  });
});
