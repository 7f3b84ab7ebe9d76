// What revoke says about the readers it waited for: the longest reader cache the config declares, beside grace_period.
import type { RotationPlan } from '../../src/kernel/plan';
import { formatDuration } from '../../src/kernel/duration';

const written = (ms: number) => (ms === 0 ? '0s' : formatDuration(ms));

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
