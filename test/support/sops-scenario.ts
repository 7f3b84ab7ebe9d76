// A single-user PostgreSQL secret kept in a SOPS file in git (the sops store), with its admin credential in the same
// file, and the checks that tell whether a rotation left the file, the repository and the database agreeing.
import { randomBytes } from 'node:crypto';
import { escapeIdentifier, escapeLiteral } from 'pg';
import { canLogIn, scramSha256Verifier } from '../../activities/targets/postgresql/target';
import type { SecretValue } from '../../activities/types';
import { parseConfig } from '../../src/config/load';
import { planRotation, type RotationPlan } from '../../src/config/plan';
import type { RotationStatus } from '../../workflows/definitions';
import { adminQuery, pgAdminSecret, unique } from './harness';
import { rotatorYaml } from './rotator-config';
import { makeSopsRepo, type SopsRepo } from './sops-repo';
import { testStack } from './stack';

export const SECRET_PATH = 'apps/orders/db';
const ADMIN_PATH = 'admin/pg';

export interface SopsScenario {
  repo: SopsRepo;
  secret: string;
  yaml: string;
  env: Record<string, string>;
  plan: RotationPlan;
  /** The rotated secret's value at the tip of the branch, as `sops -d` shows it. */
  value(): SecretValue;
  logsIn(c: SecretValue): Promise<boolean>;
  /** Every other key of the decrypted file (the secret's value and its `previous` entry left out). */
  others(): Record<string, unknown>;
  /** What is wrong after a rotation that started from `before` (the branch's commit count and value then). */
  problems(status: RotationStatus, before: { commits: number; value: SecretValue }): string[] | Promise<string[]>;
}

function at(doc: Record<string, unknown>, path: string): unknown {
  return path.split('/').reduce<unknown>((n, k) => (n as Record<string, unknown> | undefined)?.[k], doc);
}

/** The decrypted document without the rotated secret and its previous value. */
function othersOf(doc: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(doc);
  delete (at(copy, 'apps/orders') as Record<string, unknown>).db;
  delete copy.previous;
  return copy;
}

export async function sopsScenario(taskQueue: string): Promise<SopsScenario> {
  const pg = testStack().postgres!;
  const secret = unique('orders_db');
  const role = unique('orders');
  const first = `First-${randomBytes(12).toString('hex')}`;
  await adminQuery(`create role ${escapeIdentifier(role)} login password ${escapeLiteral(scramSha256Verifier(first))}`);
  const admin = pgAdminSecret();
  // Comments, an order and keys rotator does not own: all must come through every rotation as they were.
  const plain = [
    '# Secrets of the orders app, managed with sops (age).',
    'admin:',
    `  pg: ${JSON.stringify(admin)}`,
    'apps:',
    '  orders:',
    '    # the database login rotator rotates',
    '    db:',
    `      username: ${role}`,
    `      password: ${first}`,
    `      host: ${pg.host}`,
    `      port: ${pg.port}`,
    `      dbname: ${pg.database}`,
    '      engine: postgres',
    '      sslmode: disable',
    '    api_key: orders-api-key-not-rotated # a neighbour',
    'smtp:',
    '  password: smtp-password-not-rotated',
    'feature_flags: [checkout, search]',
    '',
  ].join('\n');
  const repo = makeSopsRepo(plain);
  const yaml = rotatorYaml({
    temporalAddress: testStack().temporal!.address,
    taskQueue,
    provider: { name: 'gitops', yaml: repo.providerYaml },
    admin: { name: unique('pg_admin'), path: ADMIN_PATH },
    secrets: [
      {
        name: secret,
        path: SECRET_PATH,
        type: 'postgresql',
        target: [`role: ${role}`],
        rotation: ['strategy: single-user', 'drain: { timeout: 1s }'],
      },
    ],
  });
  // A worker process's own clone goes in the repository's folder (TMPDIR), so a killed worker's is removed with it.
  const env: Record<string, string> = { TMPDIR: repo.dir };
  const plan = planRotation(parseConfig(yaml, env), secret);
  const logsIn = (c: SecretValue) => canLogIn(pg, { username: String(c.username), password: String(c.password) });
  const value = () => at(repo.decrypted().doc, SECRET_PATH) as SecretValue;
  const othersBefore = othersOf(repo.decrypted().doc);
  return {
    repo,
    secret,
    yaml,
    env,
    plan,
    value,
    logsIn,
    others: () => othersOf(repo.decrypted().doc),
    async problems(status, before) {
      const problems: string[] = [];
      const { doc, text } = repo.decrypted();
      const now = at(doc, SECRET_PATH) as SecretValue;
      if (!(await logsIn(now))) problems.push('the committed credential is refused');
      const oldWorks = await logsIn(before.value);
      const commits = repo.commits().length - before.commits;
      if (status.outcome === 'succeeded') {
        if (oldWorks) problems.push('the previous credential still logs in after revoke');
        if (commits !== 1) problems.push(`${commits} commits on the branch, expected 1`);
        if (JSON.stringify(at(doc, `previous/${SECRET_PATH}`)) !== JSON.stringify(before.value))
          problems.push('previous/… does not hold the replaced value');
      } else if (status.outcome === 'rolled-back') {
        if (!oldWorks) problems.push('the previous credential is refused after a rollback');
        if (now.password !== before.value.password) problems.push('the file does not hold the old credential again');
      } else {
        problems.push(`outcome ${status.outcome}: ${status.error?.code ?? ''} ${status.error?.message ?? ''}`);
      }
      if (JSON.stringify(othersOf(doc)) !== JSON.stringify(othersBefore)) problems.push('another key of the file changed');
      for (const c of ['# Secrets of the orders app', '# the database login rotator rotates', '# a neighbour'])
        if (!text.includes(c)) problems.push(`the comment "${c}" is gone`);
      if (repo.pendingRefs().length > 0) problems.push(`pending refs left: ${repo.pendingRefs().join(', ')}`);
      const everything = repo.everything();
      for (const p of [before.value.password, now.password, first])
        if (typeof p === 'string' && everything.includes(p)) problems.push('a password is in the repository in the clear');
      return problems;
    },
  };
}
