// When the reader library's lease holder renews and re-issues (src/reader/lease.ts nextStep): the keeper's timing,
// from the lease block and the lease's own durations.
import { LeaseSchema } from '../src/config/lifecycle';
import { nextStep, type HeldLease } from '../src/reader/lease';

const S = 1000;
const lease = (over: Partial<HeldLease> = {}): HeldLease => ({
  leaseId: 'database/creds/app/x',
  username: 'v-app',
  password: 'p',
  issuedAt: 0,
  expiresAt: 60 * S,
  hardEndAt: 600 * S,
  initialDurationMs: 60 * S,
  lastDurationMs: 60 * S,
  renewals: 0,
  capped: false,
  ...over,
});

describe('nextStep', () => {
  const config = LeaseSchema.parse({ renew_at: 0.5, grace_period: '10s' });

  it('renews at renew_at of the granted duration', () => {
    expect(nextStep(lease(), config)).toEqual({ at: 30 * S, kind: 'renew' });
    // Renewed at 100 s for 60 s more: next at 130 s.
    expect(nextStep(lease({ expiresAt: 160 * S }), config)).toEqual({ at: 130 * S, kind: 'renew' });
  });

  it('re-issues before the hard end by the grace period and a lead of (1 - renew_at) of the first duration', () => {
    // Hard end 600 s, grace 10 s, lead 30 s: 560 s, before the renewal at 580 s would be due.
    expect(nextStep(lease({ expiresAt: 610 * S, lastDurationMs: 60 * S }), config)).toEqual({ at: 560 * S, kind: 'reissue' });
  });

  it('re-issues before the current end once a renewal was capped, or renewals are off', () => {
    expect(nextStep(lease({ capped: true }), config)).toEqual({ at: 20 * S, kind: 'reissue' });
    const off = LeaseSchema.parse({ renew_at: 0.5, grace_period: '10s', renewal_enabled: false });
    expect(nextStep(lease(), off)).toEqual({ at: 20 * S, kind: 'reissue' });
  });

  it('keeps a lead of at least 2 s on a short lease, and renews without a known hard end', () => {
    const short = lease({ expiresAt: 2 * S, initialDurationMs: 2 * S, lastDurationMs: 2 * S, hardEndAt: 6 * S });
    expect(nextStep(short, LeaseSchema.parse({ renew_at: 0.5 }))).toEqual({ at: 1 * S, kind: 'renew' });
    expect(nextStep(lease({ hardEndAt: null }), config)).toEqual({ at: 30 * S, kind: 'renew' });
    // Renewed to the hard end at 6 s: the lead is 2 s (not half of the 2 s lease), so the next one is issued at 4 s.
    expect(nextStep({ ...short, expiresAt: 6 * S }, LeaseSchema.parse({ renew_at: 0.5 }))).toEqual({
      at: 4 * S,
      kind: 'reissue',
    });
  });
});
