// The lease keeper's plan with paced-reissue (workflows/lease-keeper.ts): a lease that cannot give its grace period
// is replaced halfway to the lead before its end (2 s after its publish at the earliest), with a warning; every
// other lease is planned as before. On a fixed clock: the plan reads the workflow's Date.now().
import { LeaseSchema } from '../src/config/lifecycle';
import type { KeptLease } from '../workflows/lifecycle-definitions';
import { nextStep, pacedReissue, shortLeaseWarning } from '../workflows/lease-keeper';

const now = Date.UTC(2026, 11, 7, 4, 0, 0);
beforeAll(() => jest.useFakeTimers({ now }));
afterAll(() => jest.useRealTimers());

/** A lease issued 100 ms ago and published 50 ms ago, `lifeMs` to its max_ttl, its TTL at most 30 s. */
function lease(lifeMs: number, o: Partial<KeptLease> = {}): KeptLease {
  const ttl = Math.min(lifeMs, 30_000);
  return {
    leaseId: 'database/creds/app/abc',
    username: 'v-app',
    version: '2',
    issuedAt: now - 100,
    expiresAt: now - 100 + ttl,
    lastDurationMs: ttl,
    initialDurationMs: ttl,
    hardEndAt: now - 100 + lifeMs,
    capped: false,
    retryRenewAt: null,
    renewals: 0,
    publishedAt: now - 50,
    ...o,
  };
}

const config = (o: Record<string, unknown>) => LeaseSchema.parse(o);
/** nextStep as byRenewAt and jittered keepers call it, with and without the patch. */
const plan = (l: KeptLease, c: ReturnType<typeof config>, paced: boolean) => nextStep(l, c, true, true, paced);
const SHORT = config({ increment_seconds: 4, min_renewal_seconds: 1, renew_at: 0.5, grace_period: '10s' });

describe('the lease keeper paces only a lease that cannot give its grace period', () => {
  it('replaces a capped 6 s lease with a 10 s grace period 2 s after its publish, not at once, and warns', () => {
    const l = lease(6_000, { capped: true, expiresAt: now - 100 + 6_000, initialDurationMs: 4_000 });
    expect(plan(l, SHORT, false)).toEqual({ at: expect.any(Number), kind: 'replace' });
    expect(plan(l, SHORT, false).at).toBeLessThan(now); // unpaced: due the moment it was issued
    // halfway from the publish (now − 50) to the lead before its end (now − 100 + 6000 − 2000) is under the 2 s floor
    expect(plan(l, SHORT, true)).toEqual({ at: now - 50 + 2_000, kind: 'replace' });
    expect(shortLeaseWarning(l, SHORT)).toBe(
      'lease database/creds/app/abc lives 6s, too short for grace_period 10s and the 2s lead before its end: it is ' +
        "replaced 2s after its publish and keeps 4s of grace after that; raise the role's max_ttl or lower lease.grace_period",
    );
  });

  it('follows the life of a longer lease: halfway to the lead before its end, so it is not replaced every 2 s', () => {
    // max_ttl 30 min, grace 1 h: halfway from the publish to 2 s before its end, not a credential every 2 s.
    const l = lease(30 * 60_000, { capped: true, expiresAt: now - 100 + 30 * 60_000, initialDurationMs: 30 * 60_000 });
    const c = config({ grace_period: '1h', renew_at: 0.999 });
    const at = pacedReissue(l, c)!;
    expect(at).toBe((now - 50 + (now - 100 + 30 * 60_000 - 2_000)) / 2);
    expect(plan(l, c, true)).toEqual({ at, kind: 'replace' });
  });

  it('still renews a short renewable lease before its paced replacement, when renew_at comes first', () => {
    const l = lease(10_000, { expiresAt: now - 100 + 4_000, lastDurationMs: 4_000, initialDurationMs: 4_000 });
    const c = config({ increment_seconds: 4, min_renewal_seconds: 1, renew_at: 0.25, grace_period: '10s' });
    const renewal = plan(l, c, true);
    expect(renewal.kind).toBe('renew');
    expect(renewal.at).toBeLessThan(pacedReissue(l, c)!);
    expect(shortLeaseWarning(l, c)).toMatch(/too short for grace_period 10s/); // the warning holds through renewals
  });

  it('plans a lease whose grace fits exactly as before, without a warning, whatever min_renewal_seconds says', () => {
    const l = lease(100_000, { renewals: 2 }); // 30 s TTL, 100 s max_ttl
    for (const c of [
      config({ increment_seconds: 30, grace_period: '60s' }),
      config({ increment_seconds: 30, grace_period: '60s', min_renewal_seconds: 600 }),
      config({ increment_seconds: 30, grace_period: '0s', renew_at: 0.5 }),
      config({ renewal_enabled: false, grace_period: '0s', renew_at: 0.5 }),
      config({ increment_seconds: 30, grace_period: '5s' }),
    ]) {
      expect(plan(l, c, true)).toEqual(plan(l, c, false));
      expect(shortLeaseWarning(l, c)).toBeNull();
    }
    const capped = { ...l, capped: true }; // ends at its 30 s TTL: a 5 s grace still fits
    expect(plan(capped, config({ grace_period: '5s' }), true)).toEqual(plan(capped, config({ grace_period: '5s' }), false));
  });

  it('plans as before a lease that is gone, one past its paced moment, one published before the patch, one failing to renew', () => {
    const gone = lease(6_000, { capped: true, expiresAt: now });
    const waited = lease(6_000, {
      issuedAt: now - 3_000,
      publishedAt: now - 2_500,
      expiresAt: now + 1_000,
      hardEndAt: now + 3_000,
    });
    const older = lease(6_000, { publishedAt: undefined });
    const failing = lease(6_000, { retryRenewAt: now + 1_000 }); // renewals failing: replaced as the outage requires
    for (const l of [gone, waited, older, failing]) {
      expect(plan(l, SHORT, true)).toEqual(plan(l, SHORT, false));
      expect(plan(l, SHORT, true).at).toBeLessThanOrEqual(now);
    }
    expect(shortLeaseWarning(older, SHORT)).toBeNull();
  });

  it('never waits past the lead before the end of a lease that ends soon', () => {
    const soon = lease(3_000, { capped: true, expiresAt: now - 100 + 3_000 });
    expect(pacedReissue(soon, SHORT)).toBe(now - 100 + 3_000 - 2_000);
    expect(plan(soon, SHORT, true)).toEqual({ at: now - 100 + 1_000, kind: 'replace' });
  });
});
