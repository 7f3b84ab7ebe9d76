// The `mongodb` target plugin: users sharing the target's roles, checked by a SCRAM login; FerretDB 1.x too.
import { z } from 'zod';
import { targetConnection } from '../../../src/config/fields';
import type { TargetPlugin } from '../../plugin';
import type { TargetCapabilities } from '../../types';

export const schema = z
  .object({
    type: z.literal('mongodb'),
    ...targetConnection,
    user: z
      .string()
      .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,60}$/, { message: 'expected a user name of letters, digits and _ . -' }),
    /** The database users are created in and authenticate against. */
    database: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,63}$/, { message: 'expected a database name' })
      .default('admin'),
    roles: z.array(z.object({ role: z.string().min(1), db: z.string().min(1) }).strict()).default([]),
  })
  .strict();

/**
 * sessionsPerLogin is false: FerretDB 1.x answers currentOp with an empty list and has neither killOp nor
 * killSessions, so sessions can be neither counted nor ended per user (and a connection that authenticated before
 * dropUser keeps working until it closes). On MongoDB proper dropUser already stops the user's open connections
 * from running anything, which is what revoke needs.
 */
export const CAPABILITIES: TargetCapabilities = { dualPassword: false, sessionsPerLogin: false };

export const mongodb = {
  schema,
  capabilities: CAPABILITIES,
  strategies: ['alternating-users', 'single-user'],
  defaultVerify: '{"ping":1}',
  login: (config) => config.user,
  preflight: async (target, context) => (await import('./preflight')).preflight(target, context),
  check(config, strategy) {
    return strategy === 'alternating-users' && config.roles.length === 0
      ? [{ path: ['target', 'roles'], message: 'alternating-users on mongodb needs the roles both users share' }]
      : [];
  },
  async connectionEndpoint(target, admin) {
    const { mongoConnectionFrom } = await import('./target');
    const { host, port } = mongoConnectionFrom(admin, target);
    return { host, port };
  },
  async create(target, admin, clients, adminKey) {
    const { MongoTarget, MongoAdminClient, mongoConnectionFrom } = await import('./target');
    const conn = mongoConnectionFrom(admin, target);
    const client = clients.shared(
      `mongo|${adminKey}|${conn.host}:${conn.port}/${conn.authSource}`,
      () => new MongoAdminClient(conn),
      (c) => c.close(),
    );
    return new MongoTarget(conn, { database: target.database, roles: target.roles }, client);
  },
} satisfies TargetPlugin<z.infer<typeof schema>>;
