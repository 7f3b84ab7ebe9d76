// Every DatabaseTarget against its real server (PostgreSQL, Redis, FerretDB): the shared contract suite.
import * as path from 'node:path';
import { Client as PgClient } from 'pg';
import { MongoTarget, mongoConnectionFrom } from '../activities/targets/mongodb/target';
import { PostgresTarget, postgresConnectionFrom } from '../activities/targets/postgresql/target';
import { RedisTarget, redisConnectionFrom } from '../activities/targets/redis/target';
import { TARGETS } from '../activities/targets';
import { describeTargetContract, type OpenSession } from './contract/target-contract';
import { canLogin, unique } from './support/harness';
import { mongoAdminSecret, mongoLogin } from './support/mongo-harness';
import { createRedisAdmin, openSession, redisLogin, rootCall } from './support/redis-harness';
import { testStack } from './support/stack';

const logOf = (service: string) => path.join(testStack().dir, `${service}.log`);

describeTargetContract('postgresql', TARGETS.postgresql.capabilities, async () => {
  const pg = testStack().postgres!;
  const admin = { username: pg.user, password: pg.password, host: pg.host, port: pg.port, dbname: pg.database };
  const group = unique('contract');
  return {
    target: new PostgresTarget(postgresConnectionFrom(admin, {}), group),
    login: () => `${unique(group)}_a`,
    verifyQuery: 'select 1',
    canLogin,
    async openSession(user, password): Promise<OpenSession> {
      const client = new PgClient({ host: pg.host, port: pg.port, database: pg.database, user, password });
      client.on('error', () => undefined); // a terminated backend reports itself as an error
      const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
      await client.connect();
      return { ended, close: () => client.end().catch(() => undefined) };
    },
    adminPassword: pg.password,
    serverLog: logOf('postgres'),
  };
});

describeTargetContract('redis', TARGETS.redis.capabilities, async () => {
  const admin = await createRedisAdmin();
  return {
    target: new RedisTarget(redisConnectionFrom(admin, {}), ['~contract:*', '+@read', '+ping']),
    login: () => `${unique('contract')}_a`,
    verifyQuery: 'PING',
    canLogin: async (user, password) => (await redisLogin(user, password)) === 'ok',
    async openSession(user, password): Promise<OpenSession> {
      const session = await openSession(user, password);
      const ended = new Promise<void>((resolve) => session.once('end', () => resolve()));
      return { ended, close: async () => session.disconnect() };
    },
    adminPassword: admin.password,
    serverLog: logOf('redis'),
    cleanup: async () => {
      await rootCall('ACL', 'DELUSER', admin.username);
    },
  };
});

describeTargetContract('mongodb', TARGETS.mongodb.capabilities, async () => {
  const admin = mongoAdminSecret();
  return {
    target: new MongoTarget(mongoConnectionFrom(admin, { database: 'admin' }), { database: 'admin', roles: [] }),
    login: () => `${unique('contract')}_a`,
    verifyQuery: '{"ping":1}',
    canLogin: async (user, password) => (await mongoLogin(user, password)) === 'ok',
    adminPassword: String(admin.password),
    serverLog: logOf('ferretdb'),
  };
});

describeTargetContract('mysql', TARGETS.mysql.capabilities, async () =>
  (await import('../activities/targets/mysql/test-support')).contractTarget(testStack(), logOf('mariadb')),
);
