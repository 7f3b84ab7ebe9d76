// The `postgresql` target plugin: logins sharing one group role's rights; SCRAM verifiers, never plaintext.
import { z } from 'zod';
import { parseDuration, targetConnection } from '../../../src/config/fields';
import { DURATION } from '../../../src/kernel/duration';
import type { TargetPlugin } from '../../plugin';
import type { TargetCapabilities } from '../../types';

/** A PostgreSQL role name we are willing to derive `<role>_a` / `<role>_b` from. */
const roleName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,60}$/, {
  message: 'expected a role name of letters, digits and _ (at most 61, not starting with a digit)',
});

export const schema = z
  .object({
    type: z.literal('postgresql'),
    ...targetConnection,
    /** The group role; alternating-users logs in as `<role>_a` / `<role>_b`, which inherit its rights. */
    role: roleName,
    database: z.string().optional(),
    /** A safety net if rotation stops: each password rotator sets is VALID UNTIL now + this; the sweep reads it back. */
    // Kept as written (not parsed to ms): the block travels in the plan and is checked again by the same schema there.
    valid_for: z
      .string()
      .regex(DURATION, { message: 'expected a duration like 30d or 12h' })
      .refine((d) => !DURATION.test(d) || parseDuration(d) >= 60_000, { message: 'expected at least 1m' })
      .optional(),
  })
  .strict();

export const CAPABILITIES: TargetCapabilities = { dualPassword: false, sessionsPerLogin: true };

export const postgresql = {
  schema,
  capabilities: CAPABILITIES,
  strategies: ['alternating-users', 'single-user'],
  defaultVerify: 'select 1',
  login: (config) => config.role,
  preflight: async (target, context) => (await import('./preflight')).preflight(target, context),
  async connectionEndpoint(target, admin) {
    const { postgresConnectionFrom } = await import('./target');
    const { host, port, database } = postgresConnectionFrom(admin, target);
    return { host, port, database };
  },
  async verifyLease(at, credential, query, value) {
    const { PostgresTarget } = await import('./target');
    const target = new PostgresTarget(
      { host: at.host, port: at.port, database: at.database ?? 'postgres', user: '', password: '' },
      'unused',
    );
    try {
      await target.verify(credential, query, value);
    } finally {
      await target.close();
    }
  },
  async create(target, admin, clients, adminKey) {
    const { PostgresTarget, postgresConnectionFrom, postgresPool } = await import('./target');
    const conn = postgresConnectionFrom(admin, target);
    const pool = clients.shared(
      `pg|${adminKey}|${conn.host}:${conn.port}/${conn.database}`,
      () => postgresPool(conn),
      (p) => p.end(),
    );
    return new PostgresTarget(conn, target.role, pool, target.valid_for ? parseDuration(target.valid_for) : undefined);
  },
} satisfies TargetPlugin<z.infer<typeof schema>>;
