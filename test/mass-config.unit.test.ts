// Mass rotation's config and selection: labels, mass_rotation's budgets, selector terms, and what a selection skips.
// Every error names its field or option; the write budget's slot arithmetic never puts more than the budget in a window.
import { parseConfig } from '../src/config/load';
import { massRunIdFor, parseSelector, selectSecrets } from '../src/config/mass';
import { grant, lease, nextSlot, type GrantLog } from '../workflows/write-budget';
import { configError } from './support/config';

const ENV = { VAULT_ADDR: 'http://127.0.0.1:8200', VAULT_TOKEN: 'dev-token' };

const config = (more = '', labels = '{ team: payments, env: prod }') => `
providers:
  kv: { type: vault, address: "http://127.0.0.1:8200", token: dev-token }
${more}
secrets:
  pg_admin: { provider: kv, path: secret/data/prod/pg-admin }
  orders_db:
    provider: kv
    path: secret/data/prod/orders-db
    labels: ${labels}
    target: { type: postgresql, connection: secret://pg_admin, role: orders_app }
    rotation: { strategy: alternating-users }
  billing_db:
    provider: kv
    path: secret/data/prod/billing-db
    labels: { team: billing, env: dev }
    target: { type: postgresql, connection: secret://pg_admin, role: billing_app }
    rotation: { strategy: alternating-users }
`;

describe('mass rotation config', () => {
  it('reads labels and write budgets, with defaults', () => {
    const c = parseConfig(config('mass_rotation:\n  write_budgets: { kv: 20 }'), ENV);
    expect(c.secrets.orders_db!.labels).toEqual({ team: 'payments', env: 'prod' });
    expect(c.mass_rotation).toEqual({ write_budgets: { kv: 20 }, max_concurrent: 20 });
  });

  it('names the field of a bad label, a budget for an unknown provider, and a budget that is not a rate', () => {
    expect(configError(config('', '{ name: x }'), ENV)).toContain('secrets.orders_db.labels.name');
    expect(configError(config('', '{ "bad key": x }'), ENV)).toContain('secrets.orders_db.labels');
    expect(configError(config('', '{ team: 3 }'), ENV)).toMatch(/secrets\.orders_db\.labels\.team.*quote numbers/);
    expect(configError(config('mass_rotation:\n  write_budgets: { nope: 20 }'), ENV)).toMatch(
      /mass_rotation\.write_budgets\.nope.*no provider named "nope"/,
    );
    expect(configError(config('mass_rotation:\n  write_budgets: { kv: 0 }'), ENV)).toMatch(
      /mass_rotation\.write_budgets\.kv.*more than 0/,
    );
    expect(configError(config('mass_rotation:\n  max_concurrent: 0'), ENV)).toContain('mass_rotation.max_concurrent');
  });
});

describe('selectors', () => {
  const c = parseConfig(config(), ENV);
  const picked = (selector: string | null) => selectSecrets(c.secrets, selector);

  it('matches labels and name globs, every term at once', () => {
    expect(picked('team=payments').secrets).toEqual(['orders_db']);
    expect(picked('env!=prod').secrets).toEqual(['billing_db']);
    expect(picked('name=*_db,team=b*').secrets).toEqual(['billing_db']);
    expect(picked('name=orders_?b').secrets).toEqual(['orders_db']);
    expect(picked('team').secrets).toEqual(['billing_db', 'orders_db']);
    expect(picked('!team').secrets).toEqual([]);
    expect(picked('!team').skipped).toEqual([{ secret: 'pg_admin', reason: expect.stringContaining('no target') }]);
  });

  it('--all takes every rotatable secret and lists the rest as not rotatable', () => {
    expect(picked(null)).toEqual({
      selector: '--all',
      secrets: ['billing_db', 'orders_db'],
      skipped: [{ secret: 'pg_admin', reason: expect.stringContaining('no target') }],
    });
  });

  it('refuses a term it cannot read, naming --selector and the term', () => {
    expect(() => parseSelector('team==x')).toThrow(/cannot read the term "team==x"/);
    expect(() => parseSelector('!team=x')).toThrow(expect.objectContaining({ path: '--selector' }));
    expect(() => parseSelector(' , ')).toThrow(/at least one term/);
  });

  it('derives one run id per selection', () => {
    const a = picked('team=payments');
    expect(massRunIdFor(a)).toMatch(/^mass\/[0-9a-f]{12}$/);
    expect(massRunIdFor(a)).toBe(massRunIdFor(picked('team=payments')));
    expect(massRunIdFor(a)).not.toBe(massRunIdFor(picked('team=billing')));
  });
});

describe('the write budget slots', () => {
  it('never grants more than the budget in any window of a second plus the slack', () => {
    const grants: Array<{ at: number; n: number }> = [];
    const window = 1000 + 100;
    for (let i = 0; i < 200; i++) {
      const from = Math.max(i * 7, grants.at(-1)?.at ?? 0);
      grants.push({ at: nextSlot(grants, from, 1 + (i % 3), 20, window), n: 1 + (i % 3) });
    }
    for (const g of grants) {
      const inWindow = grants.filter((h) => h.at >= g.at && h.at < g.at + window).reduce((sum, h) => sum + h.n, 0);
      expect(inWindow).toBeLessThanOrEqual(20);
    }
    // And not much slower: ~400 tokens at 20 per 1.1 s take about 22 s; requests of 2 and 3 leave a little unused.
    expect(grants.at(-1)!.at).toBeLessThan(22_000 * 1.1);
  });

  it('leases shares that never sum past the budget, fairly, and gives a dead holder’s share back', () => {
    const log: GrantLog = { grants: [], keepMs: 60_000, longestWindowMs: 0 };
    const all: NonNullable<GrantLog['leases']> = [];
    const ask = (holder: string, now: number) => {
      const answer = lease(log, { perSecond: 20, holder, want: 20, leaseMs: 20_000 }, now);
      if (answer.tokens > 0) all.push(log.leases!.at(-1)!);
      return answer;
    };
    // The first holder gets the whole budget; a second one none while that lease counts (to its end plus a window).
    expect(ask('a', 0).tokens).toBe(20);
    expect(ask('b', 1_000)).toMatchObject({ tokens: 0 });
    // Asked again, the first gets a fair share; the second gets the rest once the first's whole lease stops counting.
    expect(ask('a', 10_000).tokens).toBe(10);
    expect(ask('b', 15_000).tokens).toBe(0);
    expect(ask('b', 21_150).tokens).toBe(10);
    // 'a' dies (asks no more): its share is free a lease and a window after its last ask (a third holder takes part of
    // it), and the whole budget is the others' once 'a' has not asked for 30 s.
    expect(ask('b', 25_000).tokens).toBe(10);
    expect(ask('c', 31_150).tokens).toBe(6);
    expect(ask('b', 62_000).tokens).toBe(20);
    // Every moment, the holders' largest leases still counting sum to at most the budget.
    for (let t = 0; t < 90_000; t += 50) {
      const held = new Map<string, number>();
      for (const l of all)
        if (l.from <= t && t < l.until + l.windowMs) held.set(l.holder, Math.max(held.get(l.holder) ?? 0, l.tokens));
      expect([...held.values()].reduce((x, y) => x + y, 0)).toBeLessThanOrEqual(20);
    }
    // A per-write grant (an older gate) waits for the leases: none inside a window a lease still counts in.
    expect(grant(log, { perSecond: 20, n: 1 }, 63_000).at).toBeGreaterThanOrEqual(62_000 + 20_000 + 1_150);
  });

  it('passes the tokens round when more holders ask than the budget has tokens', () => {
    const log: GrantLog = { grants: [], keepMs: 60_000, longestWindowMs: 0 };
    const ask = (holder: string, now: number) => lease(log, { perSecond: 1, holder, want: 1, leaseMs: 20_000 }, now).tokens;
    // One token, two workers with writes waiting, each asking again every 10 s (halfway through its lease).
    expect(ask('a', 0)).toBe(1);
    expect(ask('b', 1_000)).toBe(0);
    // 'a' renewing while 'b' waits is refused, so its lease lapses and 'b' gets the token once it stops counting.
    expect(ask('a', 10_000)).toBe(0);
    expect(ask('b', 11_000)).toBe(0);
    expect(ask('b', 21_150)).toBe(1);
    // And back: 'b' renewing while 'a' waits is refused in turn.
    expect(ask('a', 22_000)).toBe(0);
    expect(ask('b', 31_000)).toBe(0);
    expect(ask('a', 42_300)).toBe(1);
  });
});
