// A grace period shorter than the readers' caches is refused by `validate` and `plan` only (test/reader-grace.test.ts
// runs those): any other load of the file (the worker, listen, get, the reader library) accepts it and warns, so an
// upgrade that brings the check never stops a worker over a file it ran before.
import { parseConfig } from '../src/config/load';
import { refuseShortGrace, shortGraceWarnings } from '../src/config/readers';

const ENV = { VAULT_ADDR: 'http://127.0.0.1:1', VAULT_TOKEN: 'dev-token-for-grace' };
const TEXT = [
  'secrets:',
  '  pg_admin: { provider: vault, path: secret/data/prod/pg-admin }',
  '  orders_db:',
  '    provider: vault',
  '    path: secret/data/prod/orders-db',
  '    cache: { enabled: true, ttl: 1h }',
  '    target: { type: postgresql, connection: secret://pg_admin, role: orders_app }',
  '    rotation: { strategy: alternating-users, grace_period: 1s }',
  '',
].join('\n');

describe('a grace period shorter than the readers’ caches', () => {
  it('loads, with a warning naming the field, where validate and plan refuse it naming both fields', () => {
    const config = parseConfig(TEXT, ENV);
    expect(shortGraceWarnings(config.secrets)).toEqual([
      { field: 'secrets.orders_db.rotation.grace_period', message: expect.stringContaining('shorter than cache.ttl 1h') },
    ]);
    expect(() => refuseShortGrace(config.secrets)).toThrow(
      'secrets.orders_db.rotation.grace_period: rotation.grace_period 1s is shorter than cache.ttl 1h',
    );
    expect(() => refuseShortGrace(config.secrets, 'pg_admin')).not.toThrow();
  });
});
