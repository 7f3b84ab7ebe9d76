// A revoke must not outrun the readers a secret declares: `validate` and `plan` refuse a grace_period shorter than the
// longest of cache.ttl, refresh_interval and rotation.readers.max_staleness (a warning with allow_short_grace), and a
// real rotation's revoke names the reader bound it waited for, in `status` and `audit`.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '../src/cli/main';
import { cli } from './support/cli';
import { codecKeyEnv, startHarness, testCodecKeys, testEnv, type Harness } from './support/harness';

const dir = mkdtempSync(join(tmpdir(), 'rotator-grace-'));
const ENV = { VAULT_ADDR: 'http://127.0.0.1:1', VAULT_TOKEN: 'dev-token-for-validate' };

/** A config with one rotatable secret whose reader-side fields and rotation block are `reader` and `rotation`. */
function file(name: string, reader: string[], rotation: string[]): string {
  const path = join(dir, name);
  const text = [
    'secrets:',
    '  pg_admin: { provider: vault, path: secret/data/prod/pg-admin }',
    '  orders_db:',
    '    provider: vault',
    '    path: secret/data/prod/orders-db',
    ...reader.map((l) => `    ${l}`),
    '    target: { type: postgresql, connection: secret://pg_admin, role: orders_app }',
    '    rotation:',
    '      strategy: alternating-users',
    ...rotation.map((l) => `      ${l}`),
    '',
  ].join('\n');
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

describe('grace period against the readers’ caches', () => {
  const saved = { ...process.env };
  beforeAll(() => Object.assign(process.env, ENV));
  afterAll(() => {
    process.env = saved;
  });

  it('validate refuses cache.ttl 1h beside grace_period 1s, naming both fields and both durations', async () => {
    const run = await cli('validate', file('short.yaml', ['cache: { enabled: true, ttl: 1h }'], ['grace_period: 1s']));
    expect(run.code).toBe(EXIT.BAD_INPUT);
    expect(run.err).toContain(
      'secrets.orders_db.rotation.grace_period: rotation.grace_period 1s is shorter than cache.ttl 1h: a reader may go on ' +
        'using the old credential for up to 1h after it is revoked; set grace_period to at least 1h, or allow_short_grace: true',
    );
  });

  it('validate --offline refuses it too: it needs no store', async () => {
    const run = await cli(
      'validate',
      '--offline',
      file('short-offline.yaml', ['cache: { enabled: true, ttl: 1h }'], ['grace_period: 1s']),
    );
    expect(run.code).toBe(EXIT.BAD_INPUT);
    expect(run.err).toContain('secrets.orders_db.rotation.grace_period: rotation.grace_period 1s is shorter than cache.ttl 1h');
  });

  it('validate passes once grace_period outlasts the cache', async () => {
    const run = await cli('validate', file('long.yaml', ['cache: { enabled: true, ttl: 1h }'], ['grace_period: 2h']));
    expect(run.code).toBe(EXIT.OK);
    expect(run.out).toContain('ok (2 secrets, 1 rotatable)');
    expect(run.out).not.toContain('warning');
    // The store (VAULT_ADDR) does not answer: the endpoint comparison says it was skipped, not silently passed.
    expect(run.out).toContain('note: stored endpoints not compared for 1 secret (orders_db): no store answer within 3s');
    const offline = await cli(
      'validate',
      '--offline',
      file('long-offline.yaml', ['cache: { enabled: true, ttl: 1h }'], ['grace_period: 2h']),
    );
    expect(offline.code).toBe(EXIT.OK);
    expect(offline.out).not.toContain('stored endpoints'); // --offline reads no store
  });

  it('takes the longest reader: refresh_interval (L5 form), and readers.max_staleness for readers rotator cannot see', async () => {
    const refresh = await cli(
      'validate',
      file('refresh.yaml', ['cache: { ttl: 5m }'], ['grace_period: 10m', 'refresh_interval: 1h']),
    );
    expect(refresh.code).toBe(EXIT.BAD_INPUT);
    expect(refresh.err).toContain('rotation.grace_period 10m is shorter than refresh_interval 1h');
    // An OpenBao Agent template re-renders every 5m by default: rotator cannot see it, the config says so.
    const agent = await cli('validate', file('agent.yaml', [], ['grace_period: 30s', 'readers: { max_staleness: 5m }']));
    expect(agent.code).toBe(EXIT.BAD_INPUT);
    expect(agent.err).toContain('rotation.grace_period 30s is shorter than rotation.readers.max_staleness 5m');
    // The default grace period (0s) is refused too.
    const unset = await cli('validate', file('default.yaml', ['cache: { ttl: 1m }'], []));
    expect(unset.err).toContain('rotation.grace_period 0s is shorter than cache.ttl 1m');
    // A cache that is off keeps nothing.
    const off = await cli('validate', file('off.yaml', ['cache: { enabled: false, ttl: 1h }'], ['grace_period: 1s']));
    expect(off.code).toBe(EXIT.OK);
  });

  it('with allow_short_grace: true it is a warning in validate, and plan refuses without it', async () => {
    const allowed = await cli(
      'validate',
      file('allowed.yaml', ['cache: { ttl: 1h }'], ['grace_period: 1s', 'allow_short_grace: true']),
    );
    expect(allowed.code).toBe(EXIT.OK);
    expect(allowed.out).toContain(
      'warning: secrets.orders_db: rotation.grace_period 1s is shorter than cache.ttl 1h: a reader may go on using the ' +
        'old credential for up to 1h after it is revoked; set grace_period to at least 1h (allowed here by rotation.allow_short_grace)',
    );
    const plan = await cli('--config', file('plan.yaml', ['cache: { ttl: 1h }'], ['grace_period: 1s']), 'plan', 'orders_db');
    expect(plan.code).toBe(EXIT.BAD_INPUT);
    expect(plan.err).toContain('secrets.orders_db.rotation.grace_period: rotation.grace_period 1s is shorter than cache.ttl 1h');
  });

  it('validate warns when a lease’s increment_seconds is not above min_renewal_seconds', async () => {
    const path = join(dir, 'lease.yaml');
    writeFileSync(
      path,
      [
        'secrets:',
        '  app_db:',
        '    provider: vault',
        '    type: dynamic',
        '    path: database/creds/app',
        '    publish: { provider: vault, path: secret/data/app }',
        '    lease: { increment_seconds: 30 }',
        '',
      ].join('\n'),
    );
    const run = await cli('validate', path);
    expect(run.code).toBe(EXIT.OK);
    expect(run.out).toContain(
      'warning: secrets.app_db: lease.increment_seconds 30 is not above lease.min_renewal_seconds 60: each renewal grants ' +
        'at most 30 s and is renewed again at renew_at of it (every 20 s)',
    );
  });
});

describe('revoke names the reader bound it waited for', () => {
  let h: Harness;
  let configFile: string;
  const saved = { ...process.env };

  beforeAll(async () => {
    const keys = testCodecKeys();
    Object.assign(process.env, testEnv(), { ROTATOR_CODEC_KEY: codecKeyEnv(keys) });
    h = await startHarness([{ extra: 'grace_period: 1s\nreaders: { max_staleness: 1s }' }], { keys });
    configFile = join(dir, 'rotator.yaml');
    writeFileSync(configFile, h.yaml, { mode: 0o600 });
  });
  afterAll(async () => {
    await h?.close();
    process.env = saved;
  });

  it('in rotator status and rotator audit', async () => {
    const { name, role } = h.secrets[0];
    // The first rotation has no earlier login to revoke; the second revokes <role>_a after the grace period.
    for (let i = 0; i < 2; i++) expect((await cli('--config', configFile, 'rotate', name, '--wait')).code).toBe(EXIT.OK);
    const note = 'note: revoke waited grace_period 1s for readers caching up to rotation.readers.max_staleness 1s';
    const status = await cli('--config', configFile, 'status', name);
    expect(status.out).toContain(`revoked    ${role}_a`);
    expect(status.out).toContain(note);
    const audit = await cli('--config', configFile, 'audit', name, '--limit', '1');
    expect(audit.out).toContain(note);
  });

  it('in rotator plan: ✓ when grace_period outlasts the readers, ⚠ when allow_short_grace lets it fall short', async () => {
    const { name } = h.secrets[0];
    const plan = await cli('--config', configFile, 'plan', name);
    expect(plan.out).toMatch(/✓ readers: revoke waits out their caches\s+grace_period 1s ≥ rotation\.readers\.max_staleness 1s/);
    const allowed = join(dir, 'allowed-short.yaml');
    writeFileSync(allowed, h.yaml.replace('grace_period: 1s', 'grace_period: 500ms\n      allow_short_grace: true'));
    const short = await cli('--config', allowed, 'plan', name);
    expect(short.out).toMatch(
      /⚠ readers: revoke waits out their caches\s+rotation\.grace_period 500ms is shorter than rotation\.readers\.max_staleness 1s/,
    );
  });
});
