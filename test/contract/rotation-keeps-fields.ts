// "A rotation keeps every field it does not own", for any store: real rotations (the activities, in the workflow's
// order) of each strategy against the stack's PostgreSQL and Redis, publishing into the store under test.
import { randomBytes, randomUUID } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { PasswordPolicySchema } from '../../src/config/schema';
import type { RotationPlan } from '../../src/kernel/plan';
import { createActivities } from '../../activities/rotation';
import { ConsumerRegistry, ProviderRegistry, TargetRegistry } from '../../activities/registry';
import { FileStore } from '../../activities/stores/file/store';
import type { SecretStore, SecretValue, VerifiedAt } from '../../activities/types';
import { adminQuery, pgAdminSecret } from '../support/harness';
import { createRedisAdmin, redisLogin, rootCall } from '../support/redis-harness';
import { testStack } from '../support/stack';

export type Strategy = 'single-user' | 'alternating-users' | 'dual-password';

/** The store under test as provider `store`, the admin credentials in a file store as provider `admin`. */
class TwoStores extends ProviderRegistry {
  constructor(
    private readonly sut: SecretStore,
    private readonly admin: SecretStore,
  ) {
    super({});
  }
  override store(name: string): Promise<SecretStore> {
    return Promise.resolve(name === 'admin' ? this.admin : this.sut);
  }
}

const hex = () => randomBytes(4).toString('hex');

/**
 * The stack's servers listen on 127.0.0.1, which is what the admin credentials name. A stored value that names
 * `localhost` reaches the same server by another name, as an app behind another DNS name would: verify must log in
 * through it (and say so), and no rotation may turn it back into the admin's address.
 */
export const APP_HOST = 'localhost';

export interface RotationRig {
  /** Seeds `path` of the store under test as an operator would have it, and returns the plan of its rotations. */
  seed(strategy: Strategy, path: string, extras: SecretValue): Promise<{ plan: RotationPlan; seeded: SecretValue }>;
  /** One rotation, step by step as the workflow runs it; what verify reported. */
  rotate(plan: RotationPlan): Promise<VerifiedAt>;
  /** Whether the credential logs in on the target of `strategy`. */
  logsIn(strategy: Strategy, value: SecretValue): Promise<boolean>;
  close(): Promise<void>;
}

export async function rotationRig(
  store: SecretStore,
  publish: (path: string, value: SecretValue, expected: string | null) => Promise<string>,
): Promise<RotationRig> {
  const stack = testStack();
  const dir = await fsp.mkdtemp(nodePath.join(os.tmpdir(), 'rotator-keep-admin-'));
  const admin = new FileStore({ dir });
  const pgAdmin = pgAdminSecret();
  const redisAdmin = await createRedisAdmin();
  const adminPublish = async (path: string, value: SecretValue) => {
    const id = randomUUID();
    await admin.stagePending(path, id, value, null);
    await admin.promote(path, id, null);
    await admin.discardPending(path, id);
  };
  await adminPublish('pg', pgAdmin);
  await adminPublish('redis', { ...redisAdmin, engine: 'redis' });
  const targets = new TargetRegistry();
  const activities = createActivities({
    providers: new TwoStores(store, admin),
    targets,
    consumers: new ConsumerRegistry(),
  });
  const password = PasswordPolicySchema.parse({});
  const pg = stack.postgres!;
  const redis = stack.redis!;

  function planOf(strategy: Strategy, path: string, login: string): RotationPlan {
    const target: RotationPlan['target'] =
      strategy === 'dual-password'
        ? { type: 'redis', user: login, connection: { provider: 'admin', path: 'redis' } }
        : { type: 'postgresql', role: login, connection: { provider: 'admin', path: 'pg' } };
    return {
      secret: `keep-${hex()}`,
      store: { provider: 'store', path },
      target,
      login,
      strategy,
      gracePeriodMs: 0,
      reconnectWaitMs: 0,
      verifyQuery: strategy === 'dual-password' ? 'PING' : 'select 1',
      password,
      drain: { timeoutMs: 0, onTimeout: 'keep' },
    };
  }

  return {
    async seed(strategy, path, extras) {
      const login = `keep_${hex()}`;
      const oldPassword = `Old-${randomBytes(12).toString('hex')}`;
      let seeded: SecretValue;
      if (strategy === 'dual-password') {
        await rootCall('ACL', 'SETUSER', login, 'reset', 'on', `>${oldPassword}`, '~*', '&*', '+@all');
        seeded = { engine: 'redis', host: APP_HOST, port: redis.port, username: login, ...extras, password: oldPassword };
      } else {
        // single-user rotates an existing login; alternating-users starts from <login>_a, which need not exist.
        const username = strategy === 'single-user' ? login : `${login}_a`;
        if (strategy === 'single-user') await adminQuery(`create role ${login} login password '${oldPassword}'`);
        seeded = {
          engine: 'postgres',
          host: APP_HOST,
          port: pg.port,
          username,
          ...extras,
          password: oldPassword,
          dbname: pg.database,
        };
      }
      await publish(path, seeded, null);
      return { plan: planOf(strategy, path, login), seeded };
    },

    async rotate(plan) {
      const rotationId = randomUUID();
      const found = await activities.inspect(plan, { rotationId });
      await activities.stageCredential(plan, {
        rotationId,
        username: found.nextUsername,
        baseVersion: found.currentVersion,
      });
      // A re-run of the stage (a worker death right after it) keeps the first password.
      const staged = await store.readPending(plan.store.path, rotationId);
      await activities.stageCredential(plan, {
        rotationId,
        username: found.nextUsername,
        baseVersion: found.currentVersion,
      });
      expect((await store.readPending(plan.store.path, rotationId))?.value).toEqual(staged?.value);
      await activities.applyCredential(plan, { rotationId });
      let at: VerifiedAt;
      if (plan.strategy === 'single-user') {
        at = await activities.verifyCredential(plan, { rotationId });
        await activities.promote(plan, { rotationId, expectedVersion: found.currentVersion });
      } else {
        const published = await activities.promote(plan, { rotationId, expectedVersion: found.currentVersion });
        at = await activities.verifyCredential(plan, { rotationId, version: published.version });
        if (plan.strategy === 'dual-password' && found.currentVersion)
          await activities.removePassword(plan, { rotationId, version: found.currentVersion });
        if (plan.strategy === 'alternating-users' && found.revokeUsername)
          await activities.revokeLogin(plan, { rotationId, username: found.revokeUsername, terminateSessions: false });
      }
      await activities.discardPending(plan, { rotationId });
      return at;
    },

    async logsIn(strategy, value) {
      const username = String(value.username);
      const pw = String(value.password);
      if (strategy === 'dual-password') return (await redisLogin(username, pw)) === 'ok';
      const { canLogIn } = await import('../../activities/targets/postgresql/target');
      return canLogIn({ host: pg.host, port: pg.port, database: pg.database }, { username, password: pw });
    },

    async close() {
      await targets.close();
      await admin.close();
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}
