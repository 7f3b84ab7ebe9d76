// The `mysql` target plugin (MySQL and MariaDB): 'user'@'host' accounts whose rights come from a role or a template
// account; MySQL 8's dual password where the server has it (found out from VERSION(), never assumed).
import { z } from 'zod';
import { targetConnection } from '../../../src/config/fields';
import type { ConfigIssue, TargetPlugin } from '../../plugin';
import type { TargetCapabilities } from '../../types';

/** A login name we derive `<user>_a` / `<user>_b` from: MySQL allows 32 characters, the suffix takes 2. */
const userName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,29}$/, {
  message: 'expected a user name of letters, digits and _ (at most 30, not starting with a digit)',
});

/** A host pattern of an account: a name, an address, `%` and `_` wildcards, or an address/netmask. */
const hostPattern = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9.%_:/-]+$/, {
    message: "expected a host pattern such as %, 10.0.%, app.example.com or '10.0.0.0/255.0.0.0'",
  });

/** `'user'@'host'`, `user@host` or `user`: an account whose grants both alternating logins copy. */
const accountText = z
  .string()
  .regex(
    /^(?:'[A-Za-z0-9_$.-]{1,80}'|`[A-Za-z0-9_$.-]{1,80}`|[A-Za-z0-9_$.-]{1,80})(?:@(?:'[A-Za-z0-9.%_:/-]{1,255}'|`[A-Za-z0-9.%_:/-]{1,255}`|[A-Za-z0-9.%_:/-]{1,255}))?$/,
    {
      message: "expected an account such as 'app_template'@'%'",
    },
  );

export const schema = z
  .object({
    type: z.literal('mysql'),
    ...targetConnection,
    /** The login (single-user, dual-password), or the base of `<user>_a` / `<user>_b` (alternating-users). */
    user: userName,
    /** The accounts' host pattern (`'user'@'<host>'`); `%` when not given. */
    account_host: hostPattern.optional(),
    /** alternating-users: a role both logins are granted, as their default role. */
    role: z
      .string()
      .regex(/^[A-Za-z0-9_$-]{1,64}$/, { message: 'expected a role name of letters, digits, _, $ and -' })
      .optional(),
    /** alternating-users: an account whose grants both logins get a copy of (`SHOW GRANTS FOR` it). */
    template: accountText.optional(),
    /** The database verify logs in to (`dbname` of a stored value overrides it), if any. */
    database: z.string().min(1).max(64).optional(),
  })
  .strict();

export type MysqlConfig = z.infer<typeof schema>;

/** What the plugin declares (MariaDB's): the dual password is the server's, and a target says so once connected. */
export const CAPABILITIES: TargetCapabilities = { dualPassword: false, sessionsPerLogin: true };

function check(config: MysqlConfig, strategy: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (config.role && config.template) {
    issues.push({
      path: ['target', 'template'],
      message: 'give role or template, not both: the logins copy their rights from one',
    });
  }
  if (strategy === 'alternating-users' && !config.role && !config.template) {
    issues.push({
      path: ['target', 'role'],
      message: 'alternating-users needs role (granted to both logins) or template (an account whose grants they copy)',
    });
  }
  return issues;
}

export const mysql = {
  schema,
  capabilities: CAPABILITIES,
  strategies: ['alternating-users', 'single-user', 'dual-password'],
  dualPasswordWhere: 'MySQL 8.0.14 or later (not MariaDB)',
  defaultVerify: 'SELECT 1',
  login: (config) => config.user,
  check,
  preflight: async (target, context) => (await import('./preflight')).preflight(target, context),
  async connectionEndpoint(target, admin) {
    const { mysqlConnectionFrom } = await import('./target');
    const { host, port, database } = mysqlConnectionFrom(admin, target);
    return { host, port, ...(database ? { database } : {}) };
  },
  async verifyLease(at, credential, query, value) {
    const { verifyLogin } = await import('./target');
    await verifyLogin(
      { host: at.host, port: at.port, ...(at.database ? { database: at.database } : {}) },
      credential,
      query,
      value,
      [],
    );
  },
  async create(target, admin, clients, adminKey) {
    const { MysqlTarget, mysqlConnectionFrom, mysqlPool } = await import('./target');
    const conn = mysqlConnectionFrom(admin, target);
    const pool = clients.shared(
      `mysql|${adminKey}|${conn.host}:${conn.port}`,
      () => mysqlPool(conn),
      (p) => p.end(),
    );
    return MysqlTarget.connect(conn, target, pool);
  },
} satisfies TargetPlugin<MysqlConfig>;
