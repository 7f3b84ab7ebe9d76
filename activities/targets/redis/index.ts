// The `redis` target plugin: ACL users that can hold two passwords at once; SHA-256 hashes, never plaintext.
import { z } from 'zod';
import { targetConnection } from '../../../src/config/fields';
import type { ConfigIssue, TargetPlugin } from '../../plugin';
import type { TargetCapabilities } from '../../types';

const redisUser = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,60}$/, {
  message: 'expected a user name of letters, digits and _ . : - (at most 61)',
});

/**
 * Rules that grant the ACL command, or a category holding it (@admin, @dangerous, @slow, @all): with one the rotated
 * login could rewrite its own ACL (`ACL SETUSER <itself> nopass`), after which any password logs in.
 */
const ACL_REWRITING = /^(allcommands|\+@(all|admin|dangerous|slow)|\+acl(\|.*)?)$/i;

/** Rules may grant commands, keys and channels; setting passwords or switching the login is rotator's job. */
export const REDIS_GRANT_RULE = /^(?![<>#!])(?!(?:on|off|nopass|resetpass|reset)$)[^\s\0]+$/i;

export const schema = z
  .object({
    type: z.literal('redis'),
    ...targetConnection,
    user: redisUser,
    /** ACL rules both alternating logins get, e.g. ["~orders:*", "+@read", "+@write"]. */
    acl: z
      .array(
        z.string().regex(REDIS_GRANT_RULE, {
          message:
            'expected one ACL rule granting commands, keys or channels (no spaces; no password rules, on/off, nopass, reset)',
        }),
      )
      .optional(),
  })
  .strict();

export const CAPABILITIES: TargetCapabilities = { dualPassword: true, sessionsPerLogin: true };

export const redis = {
  schema,
  capabilities: CAPABILITIES,
  strategies: ['alternating-users', 'single-user', 'dual-password'],
  defaultVerify: 'PING',
  login: (config) => config.user,
  preflight: async (target, context) => (await import('./preflight')).preflight(target, context),
  check(config, strategy) {
    const issues: ConfigIssue[] = [];
    if (strategy === 'alternating-users' && !config.acl)
      issues.push({ path: ['target', 'acl'], message: 'alternating-users on redis needs the ACL rules both logins share' });
    if (strategy !== 'alternating-users' && config.acl)
      issues.push({
        path: ['target', 'acl'],
        message: `acl is applied by alternating-users only (both logins get the rules); with ${strategy} the login keeps the rules it has, so leave acl out`,
      });
    (config.acl ?? []).forEach((rule, i) => {
      if (ACL_REWRITING.test(rule))
        issues.push({
          path: ['target', 'acl', String(i)],
          message: `${rule} would let the rotated login run ACL SETUSER on itself (nopass) and void the rotation; grant the commands it needs instead`,
        });
    });
    return issues;
  },
  async connectionEndpoint(target, admin) {
    const { redisConnectionFrom } = await import('./target');
    const { host, port } = redisConnectionFrom(admin, target);
    return { host, port };
  },
  async verifyLease(at, credential, query, value) {
    const { RedisTarget } = await import('./target');
    const target = new RedisTarget({ host: at.host, port: at.port, username: '', password: '' });
    try {
      await target.verify(credential, query, value);
    } finally {
      await target.close();
    }
  },
  async create(target, admin) {
    // ioredis's debug output prints command arguments, AUTH passwords included: never let DEBUG=* turn it on.
    if (process.env.DEBUG) process.env.DEBUG = `${process.env.DEBUG},-ioredis:*`;
    const { RedisTarget, redisConnectionFrom } = await import('./target');
    return new RedisTarget(redisConnectionFrom(admin, target), target.acl ?? []);
  },
} satisfies TargetPlugin<z.infer<typeof schema>>;
