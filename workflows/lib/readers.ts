// What revoke says about the readers it waited for: the longest reader cache the config declares, beside grace_period.
import type { RotationPlan } from '../../src/kernel/plan';

const UNITS: Array<[string, number]> = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
];

/** 3600000 → '1h', as the config writes durations (kernel/duration's formatDuration, which the sandbox may not import). */
function written(ms: number): string {
  if (ms === 0) return '0s';
  for (const [unit, size] of UNITS) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** The note revoke leaves once grace_period is over; none for plans without a declared reader (or from before). */
export function readerNotes(plan: RotationPlan): string[] {
  const readers = plan.readers;
  if (!readers) return [];
  const [grace, bound] = [written(plan.gracePeriodMs), `${readers.field} ${written(readers.ms)}`];
  return [
    plan.gracePeriodMs >= readers.ms
      ? `revoke waited grace_period ${grace} for readers caching up to ${bound}`
      : `revoke waited grace_period ${grace}, shorter than ${bound} (allow_short_grace): a reader may still hold the old credential`,
  ];
}
