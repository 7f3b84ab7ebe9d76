// Maps the config's target types to implementations; adding a target type touches this file and nothing else.
import { assertNever } from '../src/errors';
import type { TargetPlan } from '../src/plan';
import { MongoTarget, mongoConnectionFrom } from './mongodb';
import { PostgresTarget, postgresConnectionFrom } from './postgres';
import { RedisTarget, redisConnectionFrom } from './redis';
import type { DatabaseTarget, SecretValue } from './types';

/** A target connected with the admin credential read from `target.connection`. */
export function createTarget(target: TargetPlan, admin: SecretValue): DatabaseTarget {
  switch (target.type) {
    case 'postgresql':
      return new PostgresTarget(postgresConnectionFrom(admin, target), target.role);
    case 'redis':
      return new RedisTarget(redisConnectionFrom(admin, target), target.acl ?? []);
    case 'mongodb':
      return new MongoTarget(mongoConnectionFrom(admin, target), { database: target.database, roles: target.roles });
    default:
      return assertNever(target);
  }
}
