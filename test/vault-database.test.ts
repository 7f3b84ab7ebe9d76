// VaultDatabaseEngine on the stack's OpenBao database engine: PostgreSQL and Redis credentials, their leases, failures.
import Redis from 'ioredis';
import { VaultDatabaseEngine } from '../activities/stores/vault/public';
import { redisLogin } from './support/redis-harness';
import { unique } from './support/harness';
import { testStack } from './support/stack';
import { thrown } from './support/thrown';
import { PG_CREATE, PG_REVOKE, pgLogin, pgRole, redisRole, vaultCall, writeRole } from './support/vault-roles';

const stack = testStack();
const vault = stack.vault!;
const db = stack.vaultDatabase!;

describe('VaultDatabaseEngine on OpenBao', () => {
  const engine = new VaultDatabaseEngine({ address: vault.address, token: vault.token });
  const issued: string[] = [];
  const issue = async (role: string) => {
    const cred = await engine.issue(db.mount, role);
    issued.push(cred.leaseId);
    return cred;
  };
  afterAll(async () => {
    await Promise.all(issued.map((id) => engine.revoke(id)));
    await engine.close();
  });

  it('issues a PostgreSQL login, renews it later, and revoke drops it at once', async () => {
    const role = await pgRole({ default_ttl: '60s', max_ttl: '600s' });
    const cred = await issue(role);
    expect(cred).toMatchObject({ leaseDurationSec: 60, renewable: true });
    expect(cred.leaseId.startsWith(`${db.mount}/creds/${role}/`)).toBe(true);
    expect(await pgLogin(cred.username, cred.password)).toBe('ok');

    const before = (await engine.lookup(cred.leaseId))!;
    expect(before).toMatchObject({ leaseId: cred.leaseId, renewable: true, lastRenewal: null });
    expect(Date.parse(before.expireTime)).toBeGreaterThan(Date.now());
    expect(before.issueTime).not.toBeNull();

    expect(await engine.renew(cred.leaseId, 300)).toEqual({ leaseDurationSec: 300, capped: false });
    const after = (await engine.lookup(cred.leaseId))!;
    expect(Date.parse(after.expireTime)).toBeGreaterThan(Date.parse(before.expireTime));
    expect(after.lastRenewal).not.toBeNull();

    await engine.revoke(cred.leaseId);
    expect(await pgLogin(cred.username, cred.password)).toMatch(/password authentication failed/);
    expect(await engine.lookup(cred.leaseId)).toBeNull();
    await expect(engine.revoke(cred.leaseId)).resolves.toBeUndefined();
  });

  it('reports a renewal capped by max_ttl', async () => {
    const role = await pgRole({ default_ttl: '2s', max_ttl: '3s' });
    const cred = await issue(role);
    const renewed = await engine.renew(cred.leaseId, 3600);
    expect(renewed.capped).toBe(true);
    expect(renewed.leaseDurationSec).toBeLessThanOrEqual(3);
  });

  it('issues a Redis ACL user with the role rules, and revoke deletes it', async () => {
    const role = await redisRole(['~*', '+@read', '+ping']);
    const cred = await issue(role);
    const { host, port } = stack.redis!;
    const r = new Redis({
      host,
      port,
      username: cred.username,
      password: cred.password,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableReadyCheck: false, // INFO is not among the role's rights
    });
    r.on('error', () => undefined);
    try {
      await r.connect();
      expect(await r.call('AUTH', cred.username, cred.password)).toBe('OK');
      expect(await r.get(unique('key'))).toBeNull();
      await expect(r.set(unique('key'), 'x')).rejects.toThrow(/NOPERM/);
    } finally {
      r.disconnect();
    }
    await engine.revoke(cred.leaseId);
    expect(await redisLogin(cred.username, cred.password)).toBe('WRONGPASS');
    expect(await engine.lookup(cred.leaseId)).toBeNull();
  });

  it('lists the leases of a role, and none for a role without any', async () => {
    const role = await redisRole(['~*', '+@read']);
    const a = await issue(role);
    const b = await issue(role);
    expect((await engine.list(db.mount, role)).sort()).toEqual([a.leaseId, b.leaseId].sort());
    expect(await engine.list(db.mount, await redisRole(['~*', '+@read']))).toEqual([]);
    expect(await engine.list(db.mount, unique('never_created'))).toEqual([]);
  });

  it('answers a lease it does not know: lookup null, renew NOT_FOUND, revoke success', async () => {
    const ghost = `${db.mount}/creds/${unique('ghost')}/abc123`;
    expect(await engine.lookup(ghost)).toBeNull();
    expect((await thrown(engine.renew(ghost, 60))).code).toBe('NOT_FOUND');
    await expect(engine.revoke(ghost)).resolves.toBeUndefined();
    expect((await thrown(engine.issue(db.mount, unique('no_such_role')))).code).toBe('NOT_FOUND');
  });

  it('refuses role and mount names that are not plain path segments, naming the field', async () => {
    for (const role of ['', '..', 'a/b', '../../sys/leases', 'r?x=1', 'r%2e'])
      for (const call of [() => engine.issue(db.mount, role), () => engine.list(db.mount, role)])
        expect(await thrown(call())).toMatchObject({ code: 'CONFIG_INVALID', path: 'role' });
    for (const mount of ['', '..', 'database/', '/database', 'a/../sys'])
      expect(await thrown(engine.issue(mount, 'r'))).toMatchObject({ code: 'CONFIG_INVALID', path: 'mount' });
    expect(await thrown(engine.renew('', 60))).toMatchObject({ code: 'CONFIG_INVALID', path: 'leaseId' });
    expect(await thrown(engine.renew('x', 0))).toMatchObject({ code: 'CONFIG_INVALID', path: 'incrementSec' });
  });

  it('keeps the lease when the revocation statements fail, and revokes once they are fixed', async () => {
    const ttl = { default_ttl: '60s', max_ttl: '600s' };
    const role = await pgRole(ttl, 'DROP ROLE "{{name}}" CASCADE NONSENSE;');
    const cred = await issue(role);

    const err = await thrown(engine.revoke(cred.leaseId));
    expect(err.code).toBe('TRANSIENT');
    expect(err.message).toMatch(/failed to revoke entry.*SQLSTATE 42601/);
    expect(await engine.lookup(cred.leaseId)).not.toBeNull();
    expect(await engine.list(db.mount, role)).toEqual([cred.leaseId]);
    expect(await pgLogin(cred.username, cred.password)).toBe('ok');

    // OpenBao reads the role's statements at revocation time.
    await writeRole(role, {
      db_name: db.postgresConnection,
      creation_statements: PG_CREATE,
      revocation_statements: PG_REVOKE,
      ...ttl,
    });
    await engine.revoke(cred.leaseId);
    expect(await engine.lookup(cred.leaseId)).toBeNull();
    expect(await pgLogin(cred.username, cred.password)).toMatch(/password authentication failed/);
  });

  it('keeps the password out of a failed issue, though the database quotes it', async () => {
    const name = unique('pg_bad');
    await writeRole(name, {
      db_name: db.postgresConnection,
      creation_statements: `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' '{{password}}';`,
      default_ttl: '60s',
      max_ttl: '600s',
    });
    const raw = await vaultCall('GET', `${db.mount}/creds/${name}`);
    expect(raw.text).toMatch(/at or near \\"'[\w-]{8,}'\\"/);

    const err = await thrown(engine.issue(db.mount, name));
    expect(err.code).toBe('TRANSIENT');
    expect(err.message).toMatch(/syntax error at or near "…"/);
    expect(err.message).not.toMatch(/'/);
  });

  it('reports a refused token as PERMISSION_DENIED without the token', async () => {
    const token = `hvs.${unique('not_a_token')}`;
    const denied = new VaultDatabaseEngine({ address: vault.address, token });
    const role = await redisRole(['~*', '+@read']);
    const calls = [
      () => denied.issue(db.mount, role),
      () => denied.lookup('x'),
      () => denied.renew('x', 60),
      () => denied.revoke('x'),
    ];
    for (const call of calls) {
      const err = await thrown(call());
      expect(err.code).toBe('PERMISSION_DENIED');
      expect(err.message).not.toContain(token);
    }
    await denied.close();
  });
});
