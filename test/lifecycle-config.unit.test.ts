// The lifecycle blocks of the config (schedule, sweep, dynamic secrets, keepers): defaults, and every error names its
// field; how keepers.rate spaces keeper starts.
import { firstTaskAhead, KeeperStartPacer } from '../src/client/lease-keepers';
import { parseConfig } from '../src/config/load';
import { configWarnings } from '../src/config/warnings';
import { insideWindow, msUntilWindow } from '../src/kernel/window';
import { configError } from './support/config';

const ENV = { VAULT_ADDR: 'http://127.0.0.1:8200', VAULT_TOKEN: 'dev-token' };

const withRotation = (lines: string) => `
secrets:
  pg_admin: { provider: vault, path: secret/data/prod/pg-admin }
  orders_db:
    provider: vault
    path: secret/data/prod/orders-db
    target: { type: postgresql, connection: secret://pg_admin, role: orders_app }
    rotation:
      strategy: alternating-users
${lines
  .split('\n')
  .map((l) => `      ${l}`)
  .join('\n')}
`;

const dynamic = (lines: string) => `
secrets:
  app_db:
    provider: vault
${lines
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
`;

describe('lifecycle config', () => {
  it('fills the defaults users expect for a schedule, the sweep and a lease', () => {
    const text = withRotation('max_age: 90d\nschedule: { every: 30d }').replace(
      'secrets:\n',
      'secrets:\n  app_db:\n    provider: vault\n    path: database/creds/app-ro\n    type: dynamic\n    publish: { provider: vault, path: secret/data/app/db }\n',
    );
    const config = parseConfig(`${text}sweep: {}\n`, ENV);
    expect(config.secrets.orders_db!.rotation).toMatchObject({
      max_age: 90 * 86_400_000,
      schedule: { every: 30 * 86_400_000, jitter: 0, paused: false, attempts: 3, retry_delay: 600_000 },
    });
    expect(config.sweep).toEqual({
      every: 3_600_000,
      due_within: 86_400_000,
      max_concurrent: 5,
      rate: { starts: 30, per: 60_000 },
      paused: false,
    });
    expect(config.secrets.app_db).toMatchObject({ type: 'dynamic', publish: { provider: 'vault', path: 'secret/data/app/db' } });
  });

  it.each([
    ['schedule: { every: 1h, cron: "0 3 * * *" }', 'secrets.orders_db.rotation.schedule.every', 'exactly one of every: or cron:'],
    ['schedule: {}', 'secrets.orders_db.rotation.schedule.every', 'exactly one'],
    ['schedule: { every: 30s }', 'secrets.orders_db.rotation.schedule.every', 'at least 1m'],
    ['schedule: { every: 1h, jitter: 2h }', 'secrets.orders_db.rotation.schedule.jitter', 'shorter than the interval'],
    ['schedule: { cron: "every day" }', 'secrets.orders_db.rotation.schedule.cron', 'five fields'],
    [
      'schedule: { every: 1d, window: { start: "25:00", end: "03:00" } }',
      'secrets.orders_db.rotation.schedule.window.start',
      'HH:MM',
    ],
    [
      'schedule: { every: 1d, window: { start: "02:00", end: "02:00" } }',
      'secrets.orders_db.rotation.schedule.window.end',
      'empty',
    ],
    [
      'schedule: { every: 1d, window: { start: "02:00", end: "04:00", time_zone: Mars/Olympus } }',
      'secrets.orders_db.rotation.schedule.window.time_zone',
      'IANA time zone',
    ],
    ['schedule: { every: 1d, attempts: 0 }', 'secrets.orders_db.rotation.schedule.attempts', ''],
    ['max_age: soon', 'secrets.orders_db.rotation.max_age', 'duration'],
  ])('refuses %s, naming %s', (lines, field, words) => {
    const err = configError(withRotation(lines), ENV);
    expect(err).toContain(`${field}:`);
    expect(err).toContain(words);
  });

  it.each([
    [
      'path: secret/data/app\ntype: dynamic\npublish: { provider: vault, path: secret/data/app/db }',
      'secrets.app_db.path',
      '<mount>/creds/<role>',
    ],
    [
      'path: database/creds/../sys\ntype: dynamic\npublish: { provider: vault, path: secret/data/app/db }',
      'secrets.app_db.path',
      '<mount>/creds/<role>',
    ],
    // Without publish: its readers lease it; what only a published secret has is refused, naming the field.
    [
      'path: database/creds/app-ro\ntype: dynamic\nconsumers: [{ type: log }]',
      'secrets.app_db.consumers',
      'leased by each reader itself',
    ],
    [
      'path: database/creds/app-ro\ntype: dynamic\nlease: { verify: { type: postgresql, port: 5432 } }',
      'secrets.app_db.lease.verify',
      'leased by its readers',
    ],
    [
      'path: database/creds/app-ro\ntype: dynamic\npublish: { provider: nope, path: secret/data/x }',
      'secrets.app_db.publish.provider',
      'unknown provider',
    ],
    [
      'path: database/creds/app-ro\ntype: dynamic\npublish: { provider: vault, path: secret/data/x }\nrotation: { strategy: single-user }',
      'secrets.app_db.rotation',
      'lease: block',
    ],
    ['path: secret/data/app\nlease: { grace_period: 1m }', 'secrets.app_db.lease', 'only a secret with type: dynamic'],
    [
      'path: database/creds/app-ro\ntype: dynamic\npublish: { provider: vault, path: secret/data/x }\nlease: { renew_at: 1.5 }',
      'secrets.app_db.lease.renew_at',
      '',
    ],
  ])('refuses a dynamic secret with %s, naming %s', (lines, field, words) => {
    const err = configError(dynamic(lines), ENV);
    expect(err).toContain(`${field}:`);
    expect(err).toContain(words);
  });

  it('refuses a valid_for on a postgresql target shorter than a minute or not a duration, naming the field', () => {
    const text = withRotation('max_age: 1d');
    expect(configError(text.replace('role: orders_app }', 'role: orders_app, valid_for: 10s }'), ENV)).toContain(
      'secrets.orders_db.target.valid_for: expected at least 1m',
    );
    expect(configError(text.replace('role: orders_app }', 'role: orders_app, valid_for: forever }'), ENV)).toContain(
      'secrets.orders_db.target.valid_for:',
    );
  });

  it('refuses two secrets writing one store path, a rate window longer than the sweep, and a secret named sweep', () => {
    const two = dynamic('path: database/creds/a\ntype: dynamic\npublish: { provider: vault, path: secret/data/app/db }').replace(
      'secrets:\n',
      'secrets:\n  other_db:\n    provider: vault\n    path: database/creds/b\n    type: dynamic\n    publish: { provider: vault, path: secret/data/app/db }\n',
    );
    expect(configError(two, ENV)).toContain('secrets.app_db.publish: vault:secret/data/app/db is already written by other_db');
    expect(configError(withRotation('max_age: 1d') + 'sweep: { every: 5m, rate: { per: 1h } }', ENV)).toContain(
      'sweep.rate.per: must not be longer than the sweep interval',
    );
    expect(configError(withRotation('max_age: 1d').replace('orders_db:', 'sweep:'), ENV)).toContain(
      'secrets.sweep: the name sweep is kept',
    );
  });

  it('takes a worker cache size under temporal:, and refuses a negative one naming the field', () => {
    expect(parseConfig(`temporal: { max_cached_workflows: 1000 }\n${withRotation('max_age: 1d')}`, ENV).temporal).toMatchObject({
      max_cached_workflows: 1000,
    });
    expect(configError(`temporal: { max_cached_workflows: -1 }\n${withRotation('max_age: 1d')}`, ENV)).toContain(
      'temporal.max_cached_workflows:',
    );
  });

  it('paces keeper starts at 5 a second unless keepers.rate says otherwise, and refuses a bad rate naming the field', () => {
    const delays = (config: string) => {
      const pacer = new KeeperStartPacer(parseConfig(config, ENV));
      return [pacer.take(0), pacer.take(0), pacer.take(100)].map((slot) => slot.delayMs);
    };
    expect(delays(withRotation('max_age: 1d'))).toEqual([0, 200, 300]);
    expect(delays(`keepers: { rate: { starts: 2, per: 1m } }\n${withRotation('max_age: 1d')}`)).toEqual([0, 30_000, 59_900]);
    expect(configError(`keepers: { rate: { starts: 0 } }\n${withRotation('max_age: 1d')}`, ENV)).toContain(
      'keepers.rate.starts:',
    );
    expect(configError(`keepers: { rate: { per: 10ms } }\n${withRotation('max_age: 1d')}`, ENV)).toContain(
      'keepers.rate.per: expected at least 1s',
    );
    expect(configError(`keepers: { every: 1m }\n${withRotation('max_age: 1d')}`, ENV)).toMatch(/keepers: .*every/);
  });

  it('warns on the last kept dynamic secret when keepers.rate starts it more than an hour after the first', () => {
    const dynamic = (name: string, publish = true) =>
      `  ${name}:\n    provider: vault\n    path: database/creds/${name}\n    type: dynamic\n` +
      (publish ? `    publish: { provider: vault, path: secret/data/${name} }\n` : '');
    const config = (rate: string, names: string[]) =>
      parseConfig(
        `${rate}${withRotation('max_age: 1d').replace('secrets:\n', `secrets:\n${names.map((n) => dynamic(n)).join('')}${dynamic('leased_by_readers', false)}`)}`,
        ENV,
      );
    const paced = (c: ReturnType<typeof config>) => configWarnings(c).filter((w) => /keepers\.rate/.test(w.message));
    // Three kept at one an hour: the third begins 2 h after the first (the readers' own lease is not kept).
    expect(paced(config('keepers: { rate: { starts: 1, per: 1h } }\n', ['a', 'b', 'c']))).toEqual([
      {
        secret: 'c',
        message:
          'its lease keeper, the last of 3 paced by keepers.rate (1 per 1h), begins 2.0 h after the first and has no ' +
          'credential until then; raise keepers.rate.starts or lower keepers.rate.per',
      },
    ]);
    // Two: the second begins an hour after the first, which is not more than an hour; and the default rate.
    expect(paced(config('keepers: { rate: { starts: 1, per: 1h } }\n', ['a', 'b']))).toEqual([]);
    expect(paced(config('', ['a', 'b', 'c']))).toEqual([]);
  });

  it('gives back the slot of a keeper that was running already, unless a later slot was taken since', () => {
    const pacer = new KeeperStartPacer({ keepers: { rate: { starts: 1, per: 1000 } } });
    expect(pacer.take(0).delayMs).toBe(0);
    const running = pacer.take(0);
    expect(running.delayMs).toBe(1000);
    pacer.release(running);
    expect(pacer.take(10).delayMs).toBe(990);
    // Two slots out, the earlier given back: the later one stays where it is, and so does the next.
    const earlier = pacer.take(10);
    pacer.take(10);
    pacer.release(earlier);
    expect(pacer.take(10).delayMs).toBe(3990);
    expect(pacer.take(10_000).delayMs).toBe(0);
  });

  it('tells a keeper whose paced start is ahead from one that has begun, and from a later run of one', () => {
    const start = new Date('2026-12-07T10:00:00Z');
    const later = new Date('2026-12-07T10:00:10Z');
    const run = (runId: string, firstRunId: string, historyLength: number, executionTime: Date) =>
      ({ runId, startTime: start, executionTime, historyLength, raw: { workflowExecutionInfo: { firstRunId } } }) as never;
    expect(firstTaskAhead(run('r1', 'r1', 1, later))).toEqual(later);
    // Begun: its first task is in its history.
    expect(firstTaskAhead(run('r1', 'r1', 2, later))).toBeNull();
    // Started without a delay.
    expect(firstTaskAhead(run('r1', 'r1', 1, start))).toBeNull();
    // A continued run, its start alone in its history and its execution time a moment after it (seen in CI).
    expect(firstTaskAhead(run('r2', 'r1', 1, new Date(start.getTime() + 1)))).toBeNull();
  });

  it('refuses bad sweep caps, naming the field', () => {
    expect(configError(withRotation('max_age: 1d') + 'sweep: { rate: { starts: 0 } }', ENV)).toContain('sweep.rate.starts:');
    expect(configError(withRotation('max_age: 1d') + 'sweep: { max_concurrent: 0 }', ENV)).toContain('sweep.max_concurrent:');
  });
});

describe('time windows', () => {
  const at = (iso: string) => Date.parse(iso);
  it('knows inside from outside, in the named zone, across midnight', () => {
    const berlin = { start: '02:00', end: '05:00', time_zone: 'Europe/Berlin' };
    expect(insideWindow(at('2026-12-01T01:30:00Z'), berlin)).toBe(true); // 02:30 in Berlin (UTC+1)
    expect(insideWindow(at('2026-12-01T04:30:00Z'), berlin)).toBe(false); // 05:30 there
    const night = { start: '22:00', end: '02:00', time_zone: 'UTC' };
    expect(insideWindow(at('2026-12-01T23:00:00Z'), night)).toBe(true);
    expect(insideWindow(at('2026-12-01T01:59:00Z'), night)).toBe(true);
    expect(insideWindow(at('2026-12-01T02:00:00Z'), night)).toBe(false);
  });

  it('says how long until the window opens, and 0 inside it', () => {
    const w = { start: '02:00', end: '05:00', time_zone: 'UTC' };
    expect(msUntilWindow(at('2026-12-01T03:00:00Z'), w)).toBe(0);
    expect(msUntilWindow(at('2026-12-01T01:00:00Z'), w)).toBe(3_600_000);
    expect(msUntilWindow(at('2026-12-01T06:00:00Z'), w)).toBe(20 * 3_600_000);
  });
});
