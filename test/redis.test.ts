// The Redis target on a real redis-server 7 beyond the target contract (ACL rules, hashes, reconnects), then whole rotations.
import { randomBytes } from 'node:crypto';
import { RedisTarget, redisConnectionFrom, redisPasswordHash } from '../activities/targets/redis/target';
import { RotatorError } from '../src/kernel/errors';
import { followRotation, queryStatus, startRotation } from '../src/client/rotations';
import { readStore, unique, untilPhase, vaultClient } from './support/harness';
import {
  createRedisAdmin,
  openSession,
  redisLogin,
  rootCall,
  startRedisHarness,
  type RedisAdmin,
  type RedisHarness,
} from './support/redis-harness';
import { testStack } from './support/stack';
import { thrown } from './support/thrown';

const password = () => randomBytes(18).toString('base64url');

/** ACL GETUSER as a record, without the password hashes: what two logins must share. */
async function aclOf(user: string): Promise<Record<string, unknown>> {
  const reply = (await rootCall('ACL', 'GETUSER', user)) as unknown[];
  const fields: Record<string, unknown> = {};
  for (let i = 0; i < reply.length; i += 2) fields[String(reply[i])] = reply[i + 1];
  delete fields.passwords;
  return fields;
}

/** Everything an error could leak through: message, stack, own fields. */
function everythingIn(err: Error): string {
  return [String(err), err.stack ?? '', JSON.stringify(err), JSON.stringify(Object.entries(err))].join('\n');
}

describe('RedisTarget on a real redis-server', () => {
  let admin: RedisAdmin;
  let target: RedisTarget;
  beforeAll(async () => {
    admin = await createRedisAdmin();
    target = new RedisTarget(redisConnectionFrom(admin, {}), ['~orders:*', '+@read', '+ping']);
  });
  afterAll(async () => {
    await target.close();
    await rootCall('ACL', 'DELUSER', admin.username);
  });

  it('sends passwords as SHA-256 hashes, so the server holds no plaintext', async () => {
    const user = unique('hashed');
    const pw = password();
    await target.upsertLogin(user, pw);
    const reply = (await rootCall('ACL', 'GETUSER', user)) as unknown[];
    expect(reply[reply.indexOf('passwords') + 1]).toEqual([redisPasswordHash(pw)]);
  });

  it('creates no user when asked to add or set a password of a missing one, which ACL SETUSER alone would', async () => {
    const user = unique('ghost');
    expect((await thrown(target.addPassword(user, password()))).code).toBe('NOT_FOUND');
    expect((await thrown(target.setPassword(user, password()))).code).toBe('NOT_FOUND');
    expect(await rootCall('ACL', 'GETUSER', user)).toBeNull();
  });

  it('replaces every password of a single user with setPassword', async () => {
    const user = unique('single');
    const [a, b, c] = [password(), password(), password()];
    await target.upsertLogin(user, a);
    await target.addPassword(user, b);
    await target.setPassword(user, c);
    expect([await redisLogin(user, a), await redisLogin(user, b), await redisLogin(user, c)]).toEqual([
      'WRONGPASS',
      'WRONGPASS',
      'ok',
    ]);
  });

  it('gives both alternating logins exactly the configured rules, dropping rules a login held before', async () => {
    const base = unique('pair');
    await rootCall('ACL', 'SETUSER', `${base}_b`, 'on', '~*', '+@all'); // left over from some older config
    await target.upsertLogin(`${base}_a`, password());
    await target.upsertLogin(`${base}_b`, password());
    const [a, b] = [await aclOf(`${base}_a`), await aclOf(`${base}_b`)];
    expect(a).toEqual(b);
    expect(a).toMatchObject({ keys: '~orders:*', commands: expect.stringContaining('+@read') });
    expect(a.flags).toContain('on');
  });

  it('refuses a verify command the ACL forbids, naming the user but not the password', async () => {
    const user = unique('ro');
    const pw = password();
    await target.upsertLogin(user, pw);
    await expect(target.verify({ username: user, password: pw }, 'GET orders:probe')).resolves.toMatchObject({
      from: 'target connection',
    });
    const err = await thrown(target.verify({ username: user, password: pw }, 'SET orders:probe 1'));
    expect(err.code).toBe('VERIFY_FAILED');
    expect(err.message).toContain(user);
    expect(err.message).toContain('NOPERM');
    expect(everythingIn(err)).not.toContain(pw);
  });

  it('disables a login without deleting it, and creates none when disabling a missing one', async () => {
    const user = unique('off');
    await target.upsertLogin(user, password());
    await target.disableLogin(user);
    expect(await aclOf(user)).toMatchObject({ flags: expect.arrayContaining(['off']) });
    const ghost = unique('ghost');
    await target.disableLogin(ghost);
    expect(await rootCall('ACL', 'GETUSER', ghost)).toBeNull();
  });

  it('reconnects its admin connection on the next call after the server dropped it', async () => {
    const probe = unique('probe');
    expect(await target.liveSessions(probe)).toBe(0);
    expect(Number(await rootCall('CLIENT', 'KILL', 'USER', admin.username))).toBeGreaterThanOrEqual(1);
    // A call racing the close may fail as TRANSIENT (the activity retries it); the next one must work.
    const racing = await target.liveSessions(probe).catch((err: RotatorError) => err.code);
    expect([0, 'TRANSIENT']).toContain(racing);
    expect(await target.liveSessions(probe)).toBe(0);
  });

  it('never puts a password or its hash in an error', async () => {
    const pw = password();
    const badRules = new RedisTarget(redisConnectionFrom(admin, {}), ['+nosuchcommand']);
    const wrongAdmin = new RedisTarget(redisConnectionFrom({ ...admin, password: 'not-the-admin-password' }, {}), []);
    try {
      const errors = [
        await thrown(badRules.upsertLogin(unique('bad'), pw)),
        await thrown(wrongAdmin.addPassword(unique('x'), pw)),
        await thrown(target.verify({ username: unique('nobody'), password: pw }, 'PING')),
      ];
      expect(errors.map((e) => e.code)).toEqual(['CONFIG_INVALID', 'PERMISSION_DENIED', 'VERIFY_FAILED']);
      expect(errors[1].message).toContain('WRONGPASS');
      for (const err of errors) {
        const text = everythingIn(err);
        expect(text).not.toContain(pw);
        expect(text).not.toContain(redisPasswordHash(pw));
        expect(text).not.toContain('not-the-admin-password');
        expect(text).not.toContain(admin.password);
      }
    } finally {
      await badRules.close();
      await wrongAdmin.close();
    }
  });

  it('refuses config rules that would set passwords or switch the login', () => {
    for (const rule of ['nopass', 'resetpass', 'off', '>pw', '#abc', 'on', 'reset', '+get extra']) {
      expect(() => new RedisTarget(redisConnectionFrom(admin, {}), [rule])).toThrow(RotatorError);
    }
    expect(() => redisConnectionFrom({ ...admin, username: 'x on >pw' }, {})).toThrow(/not a usable redis user name/);
  });
});

function cred(entry: { data: Record<string, unknown> } | null): { username: string; password: string } {
  return { username: String(entry?.data.username), password: String(entry?.data.password) };
}

describe('rotations of Redis credentials stored in Vault', () => {
  let h: RedisHarness;
  const dual = { name: unique('cache'), user: unique('app') };
  const pair = { name: unique('orders'), user: unique('svc') };
  const initialPassword = password();

  beforeAll(async () => {
    h = await startRedisHarness([
      { ...dual, strategy: 'dual-password', extra: 'reconnect: { wait: 2s }' },
      {
        ...pair,
        strategy: 'alternating-users',
        acl: ['~orders:*', '+@read', '+@write', '+ping'],
        extra: 'verify: { query: "GET orders:probe" }',
      },
    ]);
    // The app's login exists before rotator manages it; Vault holds its password as the secret's current value.
    await rootCall('ACL', 'SETUSER', dual.user, 'on', `#${redisPasswordHash(initialPassword)}`, '~cache:*', '+@read', '+ping');
    const { host, port } = testStack().redis!;
    await vaultClient().write(`secret/data/test/${dual.name}`, {
      data: { username: dual.user, password: initialPassword, host, port, engine: 'redis' },
    });
  });
  afterAll(() => h.close());

  it('Vault + Redis: during the overlap both passwords authenticate; after revoke only the new one', async () => {
    const before = await readStore(`test/${dual.name}`);
    const { handle } = await startRotation(h.client, h.taskQueue, h.plan(dual.name));

    const overlap = await untilPhase(handle, 'reconnect');
    const published = await readStore(`test/${dual.name}`);
    expect(String(published!.version)).toBe(overlap.version);
    const newPassword = cred(published).password;
    expect(newPassword).not.toBe(initialPassword);
    expect(cred(published).username).toBe(dual.user);
    expect(await redisLogin(dual.user, initialPassword)).toBe('ok');
    expect(await redisLogin(dual.user, newPassword)).toBe('ok');
    expect((await queryStatus(handle)).phase).toBe('reconnect'); // both checks fell inside the overlap

    const result = await followRotation(handle);
    expect(result.ok).toBe(true);
    expect(result.status).toMatchObject({
      outcome: 'succeeded',
      username: dual.user,
      revokedUsername: dual.user,
      previousVersion: String(before!.version),
    });
    expect(result.status.phases.map((p) => p.name)).toEqual(['create', 'publish', 'reconnect', 'verify', 'revoke']);
    expect(await redisLogin(dual.user, initialPassword)).toBe('WRONGPASS');
    expect(await redisLogin(dual.user, newPassword)).toBe('ok');
    // the login keeps the rules it had: dual-password only touches passwords
    expect(await aclOf(dual.user)).toMatchObject({ keys: '~cache:*' });
    expect(await readStore(`rotator-pending/test/${dual.name}`)).toBeNull();
    const history = JSON.stringify(result.status);
    expect(history).not.toContain(newPassword);
    expect(history).not.toContain(initialPassword);
  });

  it('alternating-users: after two rotations the _b login works and _a is refused, its open session ended', async () => {
    const first = await followRotation((await startRotation(h.client, h.taskQueue, h.plan(pair.name))).handle);
    expect(first.ok).toBe(true);
    const v1 = cred(await readStore(`test/${pair.name}`));
    expect(v1.username).toBe(`${pair.user}_a`);
    const lingering = await openSession(v1.username, v1.password); // a consumer that never reconnects
    const ended = new Promise((resolve) => lingering.once('end', resolve));

    const second = await followRotation((await startRotation(h.client, h.taskQueue, h.plan(pair.name))).handle);
    expect(second.ok).toBe(true);
    expect(second.status).toMatchObject({
      username: `${pair.user}_b`,
      previousUsername: `${pair.user}_a`,
      revokedUsername: `${pair.user}_a`,
    });
    expect(second.status.notes).toContain(`terminated 1 session(s) of ${pair.user}_a`);
    const v2 = cred(await readStore(`test/${pair.name}`));
    expect(v2.username).toBe(`${pair.user}_b`);
    expect(await redisLogin(v2.username, v2.password)).toBe('ok');
    expect(await redisLogin(v1.username, v1.password)).toBe('WRONGPASS');
    await ended;
    expect(await aclOf(`${pair.user}_b`)).toEqual({ ...(await aclOf(`${pair.user}_a`)), flags: expect.arrayContaining(['on']) });
  });
});
