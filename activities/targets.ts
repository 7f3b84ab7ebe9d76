// Maps the config's target types to implementations; adding a target type touches this file and nothing else.
import { assertNever, RotatorError } from '../src/errors';
import type { TargetPlan } from '../src/plan';
import { PostgresTarget, postgresConnectionFrom } from './postgres';
import type { DatabaseTarget, SecretValue } from './types';

/** A target connected with the admin credential read from `target.connection`. */
export function createTarget(target: TargetPlan, admin: SecretValue): DatabaseTarget {
  switch (target.type) {
    case 'postgresql':
      return new PostgresTarget(postgresConnectionFrom(admin, target), target.role);
    case 'redis':
    case 'mongodb':
      throw new RotatorError('UNSUPPORTED', `target type ${target.type} is not available in this build`, 'target.type');
    default:
      return assertNever(target);
  }
}
