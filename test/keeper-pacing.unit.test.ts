// The lease keeper's next step with paced-reissue (workflows/lease-keeper.ts nextStep): a lease too short for its
// grace period waits 2 s after its publish before the next is issued; every other lease is planned as before.
import { LeaseSchema } from '../src/config/lifecycle';
import type { KeptLease } from '../workflows/lifecycle-definitions';
import { nextStep } from '../workflows/lease-keeper';

const now = Date.now();

function lease(o: Partial<KeptLease> & { lifeMs: number }): KeptLease {
  const { lifeMs, ...rest } = o;
  return {
    leaseId: 'database/creds/app/abc',
    username: 'v-app',
    version: '2',
    issuedAt: now - 100,
    expiresAt: now - 100 + Math.min(lifeMs, 30_000),
    lastDurationMs: Math.min(lifeMs, 30_000),
    initialDurationMs: Math.min(lifeMs, 30_000),
    hardEndAt: now - 100 + lifeMs,
    capped: false,
    retryRenewAt: null,
    renewals: 0,
    publishedAt: now - 50,
    ...rest,
  };
}

const config = (o: Record<string, unknown>) => LeaseSchema.parse(o);
/** nextStep as byRenewAt and jittered keepers call it, with and without the patch. */
const plan = (l: KeptLease, c: ReturnType<typeof config>, paced: boolean) => nextStep(l, c, true, true, paced);

describe('the lease keeper paces only a lease too short for its grace period', () => {
  it('waits 2 s after the publish of a 6 s lease with a 10 s grace period, and says how much grace is left', () => {
    const l = lease({ lifeMs: 6_000, expiresAt: now - 100 + 4_000, lastDurationMs: 4_000, initialDurationMs: 4_000 });
    const c = config({ increment_seconds: 4, min_renewal_seconds: 1, renew_at: 0.5, grace_period: '10s' });
    expect(plan(l, c, false)).toMatchObject({ kind: 'replace' });
    expect(plan(l, c, false).at).toBeLessThan(now); // unpaced: due the moment it was issued
    const paced = plan(l, c, true);
    expect(paced).toEqual({ at: l.publishedAt! + 2_000, kind: 'replace', shortGraceSec: 3 });
  });

  it('plans a lease whose grace fits exactly as before, renewals included, whatever min_renewal_seconds says', () => {
    // 30 s TTL, 100 s max_ttl, 60 s grace: replaced ~30 s in with the whole grace period.
    const l = lease({ lifeMs: 100_000, renewals: 2 });
    for (const c of [
      config({ increment_seconds: 30, grace_period: '60s' }),
      config({ increment_seconds: 30, grace_period: '60s', min_renewal_seconds: 600 }),
      config({ increment_seconds: 30, grace_period: '0s', renew_at: 0.5 }),
      config({ renewal_enabled: false, grace_period: '0s', renew_at: 0.5 }),
    ]) {
      expect(plan(l, c, true)).toEqual(plan(l, c, false));
    }
    // Capped, it ends at expiresAt (30 s): a 5 s grace still fits.
    const capped = { ...l, capped: true };
    const c = config({ increment_seconds: 30, grace_period: '5s' });
    expect(plan(capped, c, true)).toEqual(plan(capped, c, false));
    expect(plan(capped, c, true).at).toBeGreaterThan(now + 2_000);
  });

  it('paces a capped lease that ends before its grace period could: 30 s left, 60 s of grace', () => {
    const capped = lease({ lifeMs: 100_000, capped: true });
    const c = config({ increment_seconds: 30, grace_period: '60s' });
    expect(plan(capped, c, false).at).toBeLessThan(now);
    expect(plan(capped, c, true)).toEqual({ at: capped.publishedAt! + 2_000, kind: 'replace', shortGraceSec: 27 });
  });

  it('replaces at once a lease that is gone, one past its wait, and one the keeper published before the patch', () => {
    const c = config({ increment_seconds: 4, min_renewal_seconds: 1, renew_at: 0.5, grace_period: '10s' });
    const gone = lease({ lifeMs: 6_000, capped: true, expiresAt: now });
    const waited = lease({ lifeMs: 6_000, issuedAt: now - 3_000, publishedAt: now - 2_500, hardEndAt: now + 3_000 });
    const older = lease({ lifeMs: 6_000, publishedAt: undefined });
    for (const l of [gone, waited, older]) {
      expect(plan(l, c, true)).toEqual(plan(l, c, false));
      expect(plan(l, c, true).at).toBeLessThanOrEqual(now);
    }
  });

  it('does not wait past the end of a lease that ends within the 2 s', () => {
    const c = config({ increment_seconds: 4, min_renewal_seconds: 1, renew_at: 0.5, grace_period: '10s' });
    const short = lease({ lifeMs: 1_500, capped: true, expiresAt: now + 1_400 });
    expect(plan(short, c, true)).toEqual(plan(short, c, false));
  });
});
