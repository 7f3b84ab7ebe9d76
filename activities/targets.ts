// Maps the config's target types to implementations; adding a target type touches this file and nothing else.
import { assertNever } from '../src/errors';
import type { TargetPlan } from '../src/plan';
import { MongoTarget, mongoAdminClient, mongoConnectionFrom } from './mongodb';
import { PostgresTarget, postgresConnectionFrom, postgresPool } from './postgres';
import type { TargetRegistry } from './registry';
import { RedisTarget, redisConnectionFrom } from './redis';
import type { DatabaseTarget, SecretValue } from './types';

/**
 * A target connected with the admin credential read from `target.connection`. `adminKey` names that credential's
 * version: targets on the same server with the same admin key share one client (a pool).
 */
export function createTarget(target: TargetPlan, admin: SecretValue, registry: TargetRegistry, adminKey: string): DatabaseTarget {
  switch (target.type) {
    case 'postgresql': {
      const conn = postgresConnectionFrom(admin, target);
      const pool = registry.shared(
        `pg|${adminKey}|${conn.host}:${conn.port}/${conn.database}`,
        () => postgresPool(conn),
        (p) => p.end(),
      );
      return new PostgresTarget(conn, target.role, pool);
    }
    case 'redis':
      return new RedisTarget(redisConnectionFrom(admin, target), target.acl ?? []);
    case 'mongodb': {
      const conn = mongoConnectionFrom(admin, target);
      const client = registry.shared(
        `mongo|${adminKey}|${conn.host}:${conn.port}/${conn.authSource}`,
        () => mongoAdminClient(conn),
        (c) => c.close(),
      );
      return new MongoTarget(conn, { database: target.database, roles: target.roles }, client);
    }
    default:
      return assertNever(target);
  }
}
