// prom-client's default process and Node.js metrics, as both /metrics endpoints (worker, listener) serve them.
import { collectDefaultMetrics, type Registry } from 'prom-client';

/**
 * Gauges named like counters, which `promtool check metrics` refuses; each is the sum over `type` of the gauge without
 * the suffix (nodejs_active_handles{type}, …), which stays.
 */
const GAUGES_NAMED_LIKE_COUNTERS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** The default metrics on `registry`, less those a Prometheus linter refuses. */
export function collectProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of GAUGES_NAMED_LIKE_COUNTERS) registry.removeSingleMetric(name);
}
