// Config parsing: the happy path, and every error names its field.
import { STORES } from '../activities/stores';
import { parseConfig } from '../src/config/load';
import { configError } from './support/config';
import { planRotation } from '../src/config/plan';
import { generatePassword } from '../src/kernel/password';

const ENV = { VAULT_ADDR: 'http://127.0.0.1:8200', VAULT_TOKEN: 'dev-token' };

const GOOD = `
secrets:
  pg_admin:
    provider: vault
    path: secret/data/prod/pg-admin
  orders_db:
    provider: vault
    path: secret/data/prod/orders-db
    target:
      type: postgresql
      connection: secret://pg_admin
      role: orders_app
    rotation:
      strategy: alternating-users
      grace_period: 30s
      verify: { query: "select 1" }
      password: { length: 32 }
`;

const errorOf = (text: string, env: Record<string, string> = ENV): string => configError(text, env);

describe('config', () => {
  it('parses the L5-style example and fills the built-in vault provider from the environment', () => {
    const config = parseConfig(GOOD, ENV);
    expect(config.providers.vault).toEqual({
      type: 'vault',
      address: 'http://127.0.0.1:8200',
      token: 'dev-token',
      pending_prefix: 'rotator-pending',
      stale_pending: 'fail',
    });
    const plan = planRotation(config, 'orders_db');
    expect(plan).toMatchObject({
      secret: 'orders_db',
      strategy: 'alternating-users',
      gracePeriodMs: 30_000,
      target: { type: 'postgresql', role: 'orders_app', connection: { provider: 'vault', path: 'secret/data/prod/pg-admin' } },
    });
    expect(JSON.stringify(plan)).not.toContain('dev-token');
  });

  it('names the field and the allowed values for a bad strategy', () => {
    expect(errorOf(GOOD.replace('alternating-users', 'sometimes'))).toContain(
      'secrets.orders_db.rotation.strategy: expected one of alternating-users, single-user',
    );
  });

  it('names an unknown secret:// reference', () => {
    expect(errorOf(GOOD.replace('secret://pg_admin', 'secret://nope'))).toContain(
      'secrets.orders_db.target.connection: references unknown secret "nope"',
    );
  });

  it('names a missing environment variable by the field that used it', () => {
    expect(errorOf(GOOD, { VAULT_ADDR: 'http://x:1' })).toContain(
      'providers.vault.token: environment variable VAULT_TOKEN is not set',
    );
  });

  it('rejects unknown fields, wrong target types and bad durations', () => {
    expect(errorOf(GOOD.replace('role: orders_app', 'role: orders_app\n      colour: blue'))).toContain(
      'secrets.orders_db.target: unknown field colour',
    );
    expect(errorOf(GOOD.replace('type: postgresql', 'type: oracle'))).toContain('secrets.orders_db.target.type');
    expect(errorOf(GOOD.replace('grace_period: 30s', 'grace_period: soon'))).toContain(
      'secrets.orders_db.rotation.grace_period: expected a duration',
    );
  });

  it('says which kinds there are and what it found for an unknown provider, target or missing type', () => {
    const consul = `providers:\n  kv: { type: consul-kv, address: "http://127.0.0.1:8500" }\n${GOOD.replace(/provider: vault/g, 'provider: kv')}`;
    expect(errorOf(consul)).toContain(
      `providers.kv.type: expected one of ${Object.keys(STORES).join(', ')}, got the text "consul-kv"`,
    );
    expect(errorOf(consul)).not.toContain('Invalid discriminator');
    expect(errorOf(GOOD.replace('type: postgresql', 'type: oracle'))).toMatch(
      /secrets\.orders_db\.target\.type: expected one of postgresql, .*, got the text "oracle"/,
    );
    expect(errorOf(GOOD.replace('type: postgresql', 'dialect: postgresql'))).toMatch(
      /secrets\.orders_db\.target\.type: missing \(expected one of postgresql, /,
    );
  });

  it('names the strategy field when dual-password is asked of a target whose logins hold one password', () => {
    expect(errorOf(GOOD.replace('strategy: alternating-users', 'strategy: dual-password'))).toContain(
      'secrets.orders_db.rotation.strategy: postgresql logins hold one password; dual-password works with redis',
    );
  });

  it('rejects a role name that is not a plain identifier', () => {
    expect(errorOf(GOOD.replace('role: orders_app', 'role: "x; drop table y"'))).toContain('secrets.orders_db.target.role');
  });

  it('reports YAML syntax errors with a line number', () => {
    expect(errorOf('secrets:\n  a: [unclosed\n')).toMatch(/line \d+/);
  });
});

describe('password generation', () => {
  it('honours length, classes and exclusions', () => {
    for (let i = 0; i < 50; i++) {
      const p = generatePassword({ length: 24, symbols: false, exclude: 'aA0' });
      expect(p).toHaveLength(24);
      expect(p).toMatch(/^[A-Za-z0-9]+$/);
      expect(p).toMatch(/[a-z]/);
      expect(p).toMatch(/[A-Z]/);
      expect(p).toMatch(/[0-9]/);
      expect(p).not.toMatch(/[aA0]/);
    }
  });

  it('includes symbols only when asked', () => {
    const withSymbols = Array.from({ length: 20 }, () => generatePassword({ length: 32, symbols: true, exclude: '' }));
    expect(withSymbols.every((p) => /[^A-Za-z0-9]/.test(p))).toBe(true);
  });

  it('does not repeat itself', () => {
    const seen = new Set(Array.from({ length: 200 }, () => generatePassword({ length: 16, symbols: false, exclude: '' })));
    expect(seen.size).toBe(200);
  });
});
