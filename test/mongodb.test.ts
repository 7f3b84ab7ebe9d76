// The MongoDB target on a real MongoDB-wire server (FerretDB 1.x, SCRAM auth) beyond the target contract, then in a rotation.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { MongoTarget, mongoConnectionFrom, type MongoRole } from '../activities/targets/mongodb/target';
import { asAttempt } from '../src/kernel/attempt';
import { RotatorError } from '../src/kernel/errors';
import { followRotation, startRotation } from '../src/client/rotations';
import { unique } from './support/harness';
import {
  adminCommand,
  mongoAdminSecret,
  mongoLogin,
  mongoUser,
  startMongoHarness,
  type MongoHarness,
} from './support/mongo-harness';
import { testStack } from './support/stack';

const ROLES: MongoRole[] = [{ role: 'readWrite', db: 'orders' }];

/** Every password a test here hands the server, for the check that none of them reaches FerretDB's log. */
const passwordsUsed: string[] = [];
function password(label: string): string {
  const p = `${label}-${unique('pw')}-Zq7`;
  passwordsUsed.push(p);
  return p;
}

async function rejection(promise: Promise<unknown>): Promise<RotatorError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof RotatorError)) throw new Error(`expected a RotatorError, got ${String(err)}`);
  return err;
}

/** FerretDB 1.x implements no roles; against MongoDB proper the same tests expect exactly the configured ones. */
async function serverHoldsRoles(): Promise<boolean> {
  const info = await adminCommand({ buildInfo: 1 });
  return !(typeof info.ferretdbVersion === 'string' && info.ferretdbVersion.startsWith('v1.'));
}

describe('MongoTarget', () => {
  let target: MongoTarget;
  let expectedRoles: MongoRole[];
  beforeAll(async () => {
    target = new MongoTarget(mongoConnectionFrom(mongoAdminSecret(), { database: 'admin' }), { database: 'admin', roles: ROLES });
    expectedRoles = (await serverHoldsRoles()) ? ROLES : [];
  });
  afterAll(() => target.close());

  it('publishes the server it manages users on as the endpoint', () => {
    const f = testStack().ferretdb!;
    expect(target.endpoint).toEqual({ engine: 'mongo', host: f.host, port: f.port, dbname: 'admin' });
  });

  it('upsertLogin creates the user with the roles the server can hold, over SCRAM-SHA-256, and keeps them when it runs again', async () => {
    const user = `${unique('app')}_a`;
    const pw = password('first');
    await target.upsertLogin(user, pw);
    const info = await mongoUser(user);
    expect(info).toMatchObject({ user, db: 'admin', mechanisms: ['SCRAM-SHA-256'] });
    expect(info!.roles).toEqual(expectedRoles);
    expect(await mongoLogin(user, pw, { mechanism: 'SCRAM-SHA-256' })).toBe('ok');
    await target.upsertLogin(user, password('second'));
    expect((await mongoUser(user))!.roles).toEqual(expectedRoles);
  });

  it('disableLogin drops the user rather than locking it', async () => {
    const user = `${unique('app')}_a`;
    await target.upsertLogin(user, password('dropped'));
    await target.disableLogin(user);
    expect(await mongoUser(user)).toBeNull();
  });

  it('verify runs the configured command as the user, in the database $db names, and fails when the command fails', async () => {
    const user = `${unique('app')}_a`;
    const pw = password('verify');
    await target.upsertLogin(user, pw);
    await expect(target.verify({ username: user, password: pw }, '{"find":"things","$db":"orders"}')).resolves.toMatchObject({
      from: 'target connection',
    });
    const failed = await rejection(target.verify({ username: user, password: pw }, '{"noSuchCommand":1}'));
    expect(failed.code).toBe('VERIFY_FAILED');
    expect(failed.message).toMatch(/noSuchCommand/);
    const malformed = await rejection(target.verify({ username: user, password: pw }, 'select 1'));
    expect(malformed.code).toBe('CONFIG_INVALID');
  });

  it('a wrong admin password is PERMISSION_DENIED, and the message does not contain it', async () => {
    const wrongAdmin = password('admin');
    const bad = new MongoTarget(mongoConnectionFrom({ ...mongoAdminSecret(), password: wrongAdmin }, { database: 'admin' }), {
      database: 'admin',
      roles: ROLES,
    });
    try {
      const err = await rejection(bad.upsertLogin(`${unique('app')}_a`, password('unused')));
      expect(err.code).toBe('PERMISSION_DENIED');
      expect(err.message).not.toContain(wrongAdmin);
    } finally {
      await bad.close();
    }
  });

  it('connects afresh after its first connection failed: the server was down when a step first needed it', async () => {
    // A plain TCP relay to the real FerretDB on a port that refuses connections until the test opens it.
    const f = testStack().ferretdb!;
    const relay = net.createServer((client) => {
      const server = net.connect(f.port, f.host);
      client.pipe(server).pipe(client);
      client.on('error', () => server.destroy());
      server.on('error', () => client.destroy());
    });
    const port = await new Promise<number>((res) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as net.AddressInfo;
        probe.close(() => res(port));
      });
    });
    const t = new MongoTarget(mongoConnectionFrom(mongoAdminSecret(), { database: 'admin', host: '127.0.0.1', port }), {
      database: 'admin',
      roles: [],
    });
    try {
      const down = await rejection(t.disableLogin(`${unique('app')}_a`));
      expect(down.code).toBe('TRANSIENT');
      await new Promise<void>((res) => relay.listen(port, '127.0.0.1', res));
      // The driver left the client on a closed topology ("Topology is closed" from here on): the target must not.
      const user = `${unique('app')}_a`;
      await t.upsertLogin(user, password('after-outage'));
      expect(await mongoUser(user)).not.toBeNull();
      await t.disableLogin(user);
    } finally {
      await t.close();
      await new Promise((res) => relay.close(res));
    }
  });

  it('sends no command for an attempt its step already gave up on (the compensation has run)', async () => {
    const user = `${unique('app')}_b`;
    const attempt = asAttempt('applyCredential', () => target.upsertLogin(user, password('abandoned')));
    attempt.end();
    await expect(attempt.result).rejects.toThrow(/mongodb .* not sent: applyCredential had already ended/);
    expect(await mongoUser(user)).toBeNull();
  });

  it('no password sent to the server shows up in its log', () => {
    const log = fs.readFileSync(path.join(testStack().dir, 'ferretdb.log'), 'utf8');
    expect(passwordsUsed.length).toBeGreaterThan(3);
    expect(log).toMatch(/Authentication failed/); // the log does record the server's answers to these tests
    for (const p of [...passwordsUsed, testStack().ferretdb!.password]) expect(log).not.toContain(p);
  });
});

describe('alternating-users on mongodb, end to end', () => {
  let h: MongoHarness;
  const name = unique('mongo_app');
  const user = unique('app_x');
  beforeAll(async () => {
    h = await startMongoHarness([{ name, user, roles: ROLES }]);
  });
  afterAll(() => h.close());

  async function rotate() {
    const { handle } = await startRotation(h.client, h.taskQueue, h.plan(name));
    return followRotation(handle);
  }

  it('two rotations leave _b current and logging in, with _a dropped', async () => {
    const first = await rotate();
    expect(first.ok).toBe(true);
    const v1 = await h.store.readCurrent(name);
    expect(v1!.value).toMatchObject({
      username: `${user}_a`,
      engine: 'mongo',
      dbname: 'admin',
      host: testStack().ferretdb!.host,
    });
    expect(await mongoLogin(`${user}_a`, String(v1!.value.password))).toBe('ok');

    const second = await rotate();
    expect(second.ok).toBe(true);
    expect(second.status).toMatchObject({
      outcome: 'succeeded',
      username: `${user}_b`,
      previousUsername: `${user}_a`,
      revokedUsername: `${user}_a`,
    });
    const v2 = await h.store.readCurrent(name);
    expect(v2!.version).not.toBe(v1!.version);
    expect(v2!.value.username).toBe(`${user}_b`);
    expect(await mongoLogin(`${user}_b`, String(v2!.value.password))).toBe('ok');
    expect(await mongoUser(`${user}_a`)).toBeNull();
    expect(await mongoLogin(`${user}_a`, String(v1!.value.password))).toBe('refused');
    expect(JSON.stringify(second.status)).not.toContain(String(v2!.value.password));
  });
});
