// `rotator plan` for a Redis target: the admin logs in and may run the ACL and CLIENT commands rotation sends.
// ACL DRYRUN (Redis 7) asks the server whether a command would be allowed without running it: nothing changes here.
import Redis from 'ioredis';
import type { z } from 'zod';
import type { Strategy } from '../../../src/config/fields';
import { redact } from '../../../src/kernel/redact';
import type { PreflightCheck, TargetPlanOf, TargetPreflightContext } from '../../plugin';
import type { schema } from './index';
import { redisConnectionFrom } from './target';

type Plan = TargetPlanOf<z.infer<typeof schema>>;

/** The commands the target sends as the admin for each strategy (see target.ts), with a login name to try them on. */
function commandsFor(strategy: Strategy, login: string): string[][] {
  const base = [
    ['ACL', 'GETUSER', login],
    ['ACL', 'SETUSER', login],
  ];
  return strategy === 'dual-password' ? base : [...base, ['CLIENT', 'LIST'], ['CLIENT', 'KILL', 'USER', login]];
}

/** The rule that grants one command (or subcommand) to the admin: `+acl|setuser`, `+client|kill`. */
function grantRule(command: string[]): string {
  return `+${command[0].toLowerCase()}|${command[1].toLowerCase()}`;
}

function messageOf(err: unknown): string {
  return (err as Error)?.message ?? String(err);
}

export async function preflight(target: Plan, context: TargetPreflightContext): Promise<PreflightCheck[]> {
  const conn = redisConnectionFrom(context.admin, target);
  const scrub = (text: string) => redact(text, [conn.password]);
  const where = `${conn.host}:${conn.port}`;
  let lastError: unknown = null;
  const client = new Redis({
    host: conn.host,
    port: conn.port,
    username: conn.username,
    password: conn.password,
    connectionName: 'rotator-plan',
    lazyConnect: true,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 5_000,
    commandTimeout: 10_000,
  });
  // Without a listener ioredis prints errors, command arguments included, to the console.
  client.on('error', (err: unknown) => {
    lastError = err;
  });
  try {
    try {
      await client.connect();
    } catch (err) {
      return [
        {
          check: 'redis: admin logs in',
          status: 'fail',
          detail: `${conn.username} could not log in to ${where}: ${scrub(messageOf(lastError ?? err))}`,
          fix: `check the admin secret ${target.connection.provider}:${target.connection.path} and that the server is reachable`,
        },
      ];
    }
    const checks: PreflightCheck[] = [
      { check: 'redis: admin logs in', status: 'ok', detail: `${conn.username} logged in to ${where}` },
    ];
    const logins = context.strategy === 'alternating-users' ? [`${context.login}_a`, `${context.login}_b`] : [context.login];
    for (const command of commandsFor(context.strategy, logins[0]))
      checks.push(await commandCheck(client, conn.username, command));
    if (context.strategy !== 'alternating-users') checks.push(await loginExists(client, context.login));
    return checks.map((c) => ({ ...c, detail: scrub(c.detail), ...(c.fix ? { fix: scrub(c.fix) } : {}) }));
  } finally {
    await client.quit().catch(() => client.disconnect());
  }
}

async function commandCheck(client: Redis, admin: string, command: string[]): Promise<PreflightCheck> {
  const name = command.slice(0, 2).join(' ');
  const check = `redis: admin may run ${name}`;
  const fix = `ACL SETUSER ${admin} ${grantRule(command)}`;
  let reply: unknown;
  try {
    reply = await client.call('ACL', 'DRYRUN', admin, ...command);
  } catch (err) {
    const text = messageOf(err);
    // Without ACL DRYRUN (Redis before 7, or an admin not granted it) the read-only ACL GETUSER is tried for real.
    if (command[1] === 'GETUSER') return tryGetUser(client, check, fix);
    return {
      check,
      status: 'warn',
      detail: `not checked: ACL DRYRUN was refused (${text.split('\n')[0]})`,
      fix: `ACL SETUSER ${admin} +acl|dryrun lets rotator plan check this; or make sure ${admin} has ${grantRule(command)}`,
    };
  }
  const said = Buffer.isBuffer(reply) ? reply.toString('utf8') : String(reply);
  if (said === 'OK') return { check, status: 'ok', detail: `ACL DRYRUN: ${admin} may run ${name}` };
  return { check, status: 'fail', detail: `ACL DRYRUN: ${said}`, fix };
}

async function tryGetUser(client: Redis, check: string, fix: string): Promise<PreflightCheck> {
  try {
    await client.call('ACL', 'GETUSER', 'rotator-plan-probe');
    return { check, status: 'ok', detail: 'ACL GETUSER answered' };
  } catch (err) {
    return { check, status: 'fail', detail: messageOf(err).split('\n')[0], fix };
  }
}

/** single-user and dual-password change an existing user's passwords; they never create one. */
async function loginExists(client: Redis, login: string): Promise<PreflightCheck> {
  const check = `redis: user ${login} exists`;
  try {
    const found = await client.call('ACL', 'GETUSER', login);
    return found === null
      ? {
          check,
          status: 'fail',
          detail: `there is no ACL user ${login}: this strategy changes the passwords of an existing user`,
          fix: `create it (ACL SETUSER ${login} on >… with the rules it needs) and store its credential, or use alternating-users`,
        }
      : { check, status: 'ok', detail: `${login} exists` };
  } catch (err) {
    return { check, status: 'warn', detail: `could not look it up: ${messageOf(err).split('\n')[0]}` };
  }
}
