// `rotator plan SECRET` against the real stack: PostgreSQL, OpenBao, Redis and kube-apiserver. Each case sets up a
// deployment that lacks one right, expects a ✗ naming it with its fix, and checks that the plan changed nothing.
import { paginateListSecrets } from '@aws-sdk/client-secrets-manager';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '../src/cli/main';
import { cronProblem, type PreflightReport } from '../src/client/preflight';
import { cli, type Run } from './support/cli';
import { adminQuery, pgAdminSecret, unique, vaultClient } from './support/harness';
import { adminClients, deployment, kubeconfigFile, namespaceFor, roleWithout } from './support/kube';
import { mongoAdminSecret } from './support/mongo-harness';
import { createRedisAdmin, rootCall } from './support/redis-harness';
import { testStack } from './support/stack';
import { secretsManagerClient } from './support/test-stores';
import { vaultCall } from './support/vault-roles';

const saved = { ...process.env };
const dir = mkdtempSync(join(tmpdir(), 'rotator-plan-'));
/** Every secret value a test made: none may appear in what the CLI prints. */
const secrets: string[] = [];

beforeAll(() => {
  process.env.TEST_VAULT_TOKEN = testStack().vault!.token;
  secrets.push(testStack().vault!.token, testStack().postgres!.password, ...Object.values(testStack().kubernetes!.users));
});
afterAll(() => {
  process.env = saved;
});

function password(): string {
  return randomBytes(18).toString('base64url');
}

async function writeVault(name: string, value: Record<string, unknown>): Promise<void> {
  await vaultClient().write(`secret/data/test/${name}`, { data: value });
}

/** The KV metadata of a secret (versions and their times) and of its pending slot: what a write would change. */
async function vaultState(name: string): Promise<unknown> {
  const read = async (path: string) => {
    const { status, text } = await vaultCall('GET', path);
    return status === 404 ? null : JSON.parse(text).data;
  };
  return {
    secret: await read(`secret/metadata/test/${name}`),
    pending: await read(`secret/metadata/rotator-pending/test/${name}`),
  };
}

/** Every role with its attributes, memberships and password verifier: any CREATE, ALTER or GRANT shows here. */
/**
 * The roles whose names start with one of `prefixes` (the ones a test made or names), as PostgreSQL holds them. Only
 * those: other files' rotations run beside this one on the same server and change their own roles meanwhile.
 */
async function pgState(...prefixes: string[]): Promise<unknown> {
  return adminQuery(
    `select r.rolname, r.rolsuper, r.rolcreaterole, r.rolcanlogin, r.rolpassword, r.rolvaliduntil,
      array(select g.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid where m.member = r.oid order by 1) as member_of
    from pg_authid r where r.rolname like any($1) order by r.rolname`,
    [prefixes.map((p) => `${p}%`)],
  );
}

interface Entry {
  name: string;
  provider?: string;
  /** Default: secret/data/test/<name> (the vault provider's). */
  path?: string;
  /** Lines under the secret's entry beyond provider and path, unindented. */
  lines?: string[];
}

function configFile(entries: Entry[], providers: string[] = []): string {
  const vault = testStack().vault!;
  const lines = [
    'temporal:',
    `  address: "${testStack().temporal!.address}"`,
    `  task_queue: ${unique('tq')}`,
    'providers:',
    '  vault:',
    '    type: vault',
    `    address: "${vault.address}"`,
    '    token: ${TEST_VAULT_TOKEN}',
    ...providers,
    'secrets:',
  ];
  for (const e of entries) {
    lines.push(`  ${e.name}:`, `    provider: ${e.provider ?? 'vault'}`, `    path: ${e.path ?? `secret/data/test/${e.name}`}`);
    for (const l of e.lines ?? []) lines.push(`    ${l}`);
  }
  const file = join(dir, `${unique('rotator')}.yaml`);
  writeFileSync(file, lines.join('\n') + '\n', { mode: 0o600 });
  return file;
}

function pgSecret(name: string, admin: string, role: string, strategy = 'alternating-users', more: string[] = []): Entry {
  return {
    name,
    lines: [
      'target:',
      '  type: postgresql',
      `  connection: secret://${admin}`,
      `  role: ${role}`,
      'rotation:',
      `  strategy: ${strategy}`,
      ...more,
    ],
  };
}

async function plan(file: string, secret: string): Promise<{ run: Run; report: PreflightReport }> {
  const run = await cli('--config', file, 'plan', secret);
  const json = await cli('--config', file, '--json', 'plan', secret);
  expect(json.code).toBe(run.code);
  const printed = run.out + run.err + json.out + json.err;
  for (const s of secrets) expect(printed).not.toContain(s);
  return { run, report: JSON.parse(json.out) as PreflightReport };
}

function find(report: PreflightReport, check: string | RegExp) {
  const found = report.checks.filter((c) => (typeof check === 'string' ? c.check === check : check.test(c.check)));
  expect(found).not.toHaveLength(0);
  return found;
}

async function pgLoginRole(createrole: boolean): Promise<{ username: string; password: string }> {
  const login = { username: unique('plan_admin'), password: password() };
  secrets.push(login.password);
  await adminQuery(`create role ${login.username} login ${createrole ? 'createrole' : ''} password '${login.password}'`);
  return login;
}

describe('rotator plan', () => {
  it('reports an admin without CREATEROLE as ✗ with the ALTER ROLE that fixes it, exits 2, and changes nothing', async () => {
    const admin = await pgLoginRole(false);
    const [adminName, name, role] = [unique('admin'), unique('db'), unique('app')];
    const { host, port, database } = testStack().postgres!;
    await writeVault(adminName, { ...admin, host, port, dbname: database, engine: 'postgres' });
    // A current value, so "store unchanged" compares real version metadata.
    const current = { username: `${role}_a`, password: password() };
    secrets.push(current.password);
    await writeVault(name, current);
    const file = configFile([{ name: adminName }, pgSecret(name, adminName, role)]);
    const before = { pg: await pgState(admin.username, role), store: await vaultState(name) };

    const { run, report } = await plan(file, name);

    expect(run.code).toBe(EXIT.BAD_INPUT);
    expect(run.out).toMatch(
      new RegExp(`✗ postgresql: admin has CREATEROLE\\s+${admin.username} has neither CREATEROLE nor SUPERUSER`),
    );
    expect(run.out).toContain(`fix: as a superuser: ALTER ROLE "${admin.username}" CREATEROLE;`);
    expect(report.ok).toBe(false);
    expect(find(report, 'postgresql: admin has CREATEROLE')[0]).toMatchObject({
      status: 'fail',
      fix: `as a superuser: ALTER ROLE "${admin.username}" CREATEROLE;`,
    });
    // What does work is reported as such: the admin logs in, the store is readable and writable.
    expect(find(report, 'postgresql: admin logs in')[0].status).toBe('ok');
    expect(find(report, `store: read vault:secret/data/test/${name}`)[0]).toMatchObject({
      status: 'ok',
      detail: 'version 1 is current',
    });
    expect(find(report, /^store: token may write/)[0].status).toBe('ok');
    expect({ pg: await pgState(admin.username, role), store: await vaultState(name) }).toEqual(before);
  });

  it('passes a config whose admin may do everything: every check ✓, exit 0, the webhook receiver sent nothing', async () => {
    const requests: string[] = [];
    const server: Server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const [adminName, keysName, name, role] = [unique('admin'), unique('keys'), unique('db'), unique('app')];
      const key = password();
      secrets.push(key);
      await writeVault(adminName, pgAdminSecret());
      await writeVault(keysName, { hook: key });
      const port = (server.address() as AddressInfo).port;
      const entry = pgSecret(name, adminName, role, 'alternating-users', [
        '  schedule: { every: 30d, window: { start: "02:00", end: "05:00" } }',
      ]);
      entry.lines!.push(
        'consumers:',
        `  - { type: webhook, url: "http://127.0.0.1:${port}/hooks/t0ken", signing_key: "secret://${keysName}/hook" }`,
      );
      const file = configFile([{ name: adminName }, { name: keysName }, entry]);
      const before = { pg: await pgState(role), store: await vaultState(name) };

      const { run, report } = await plan(file, name);

      expect(report.checks.filter((c) => c.status !== 'ok')).toEqual([]);
      expect(run.code).toBe(EXIT.OK);
      expect(run.out).toContain(`${name}: ready to rotate`);
      expect(run.out).not.toMatch(/[✗⚠]/);
      for (const check of [
        'postgresql: admin has CREATEROLE',
        `postgresql: admin can manage ${role}_a`,
        `postgresql: admin can manage ${role}_b`,
        `postgresql: admin can grant ${role}`,
        'postgresql: both logins have the same rights',
        'schedule: valid',
      ])
        find(report, check);
      expect(find(report, /^webhook .*: receiver reachable$/)[0].detail).toContain('no request sent');
      expect(find(report, /^webhook .*: signing key readable$/)).toHaveLength(1);
      // The URL's path (a token, for some receivers) is not printed; only the origin is.
      expect(run.out).not.toContain('t0ken');
      expect(requests).toEqual([]);
      expect({ pg: await pgState(role), store: await vaultState(name) }).toEqual(before);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('names the grant one alternating login holds and the other lacks, with the GRANT that evens them out', async () => {
    const [adminName, name, role] = [unique('admin'), unique('db'), unique('app')];
    const extra = unique('reporting');
    const table = unique('orders');
    await adminQuery(`create role ${role} nologin`);
    await adminQuery(`create role ${extra} nologin`);
    for (const login of [`${role}_a`, `${role}_b`]) await adminQuery(`create role ${login} login in role ${role}`);
    await adminQuery(`create table ${table} (id int)`);
    await adminQuery(`grant select on ${table} to ${role}_a`);
    await adminQuery(`grant ${extra} to ${role}_b`);
    await writeVault(adminName, pgAdminSecret());
    const file = configFile([{ name: adminName }, pgSecret(name, adminName, role)]);
    const before = await pgState(role, extra);

    const { run, report } = await plan(file, name);

    expect(run.code).toBe(EXIT.BAD_INPUT);
    const [same] = find(report, 'postgresql: both logins have the same rights');
    expect(same.status).toBe('fail');
    expect(same.detail).toContain(`${role}_a has SELECT ON "public"."${table}", ${role}_b has not`);
    expect(same.detail).toContain(`${role}_b is a member of ${extra}, ${role}_a is not`);
    expect(same.fix).toContain(`GRANT SELECT ON "public"."${table}" TO "${role}_b";`);
    expect(same.fix).toContain(`GRANT "${extra}" TO "${role}_a";`);
    // Only that fails: the superuser admin may manage both.
    expect(report.checks.filter((c) => c.status === 'fail')).toEqual([same]);
    expect(await pgState(role, extra)).toEqual(before);
  });

  it('reports a store path the OpenBao token may only read as ✗, naming the capabilities and the policy to add', async () => {
    const [adminName, name, role] = [unique('admin'), unique('db'), unique('app')];
    await writeVault(adminName, pgAdminSecret());
    const policy = unique('plan_read_only');
    const rules = [`secret/data/test/${adminName}`, `secret/data/test/${name}`, `secret/metadata/test/${name}`]
      .map((p) => `path "${p}" { capabilities = ["read"] }`)
      .join('\n');
    expect((await vaultCall('PUT', `sys/policies/acl/${policy}`, { policy: rules })).status).toBe(204);
    const created = await vaultCall('POST', 'auth/token/create', { policies: [policy], ttl: '10m', no_default_policy: false });
    const token = JSON.parse(created.text).auth.client_token as string;
    secrets.push(token);
    process.env.PLAN_LIMITED_TOKEN = token;
    const limited = [
      '  limited:',
      '    type: vault',
      `    address: "${testStack().vault!.address}"`,
      '    token: ${PLAN_LIMITED_TOKEN}',
    ];
    const file = configFile(
      [
        { name: adminName, provider: 'limited' },
        { ...pgSecret(name, adminName, role), provider: 'limited' },
      ],
      limited,
    );
    const before = await vaultState(name);

    const { run, report } = await plan(file, name);

    expect(run.code).toBe(EXIT.BAD_INPUT);
    const [write] = find(report, `store: token may write secret/data/test/${name}`);
    expect(write.status).toBe('fail');
    expect(write.detail).toContain(`the token lacks create, update on secret/data/test/${name}`);
    expect(write.detail).toContain(`the token lacks read, create, update on secret/data/rotator-pending/test/${name}`);
    expect(write.fix).toContain(`path "secret/data/test/${name}" { capabilities = ["read", "create", "update"] }`);
    // Reading is allowed, so those checks pass: the ✗ is about writing only.
    expect(find(report, `store: read limited:secret/data/test/${name}`)[0].status).toBe('ok');
    expect(find(report, 'postgresql: admin credential readable')[0].status).toBe('ok');
    expect(await vaultState(name)).toEqual(before);
  });

  it('reports a Redis admin without ACL rights as ✗ per command, with the ACL SETUSER rule to grant', async () => {
    const { host, port } = testStack().redis!;
    const noAcl = { username: unique('plan_noacl'), password: password(), host, port };
    const noSetuser = { username: unique('plan_nosetuser'), password: password(), host, port };
    const good = await createRedisAdmin();
    secrets.push(noAcl.password, noSetuser.password, good.password);
    await rootCall('ACL', 'SETUSER', noAcl.username, 'reset', 'on', `>${noAcl.password}`, '+@connection');
    await rootCall(
      'ACL',
      'SETUSER',
      noSetuser.username,
      'reset',
      'on',
      `>${noSetuser.password}`,
      '+@connection',
      '+acl|dryrun',
      '+acl|getuser',
    );
    const login = unique('cache');
    const entries = [noAcl, noSetuser, good].map((admin) => ({ admin, adminName: unique('admin'), name: unique('cache') }));
    for (const e of entries) await writeVault(e.adminName, e.admin);
    const file = configFile(
      entries.flatMap((e) => [
        { name: e.adminName },
        {
          name: e.name,
          lines: [
            'target:',
            '  type: redis',
            `  connection: secret://${e.adminName}`,
            `  user: ${login}`,
            '  acl: ["~cache:*", "+get", "+set"]',
            'rotation:',
            '  strategy: alternating-users',
          ],
        },
      ]),
    );
    const users = await rootCall('ACL', 'LIST');

    const results = [];
    for (const e of entries) results.push(await plan(file, e.name));

    // No ACL rights at all: even the read-only ACL GETUSER is refused.
    expect(results[0].run.code).toBe(EXIT.BAD_INPUT);
    expect(find(results[0].report, 'redis: admin may run ACL GETUSER')[0]).toMatchObject({
      status: 'fail',
      fix: `ACL SETUSER ${noAcl.username} +acl|getuser`,
    });
    expect(find(results[0].report, 'redis: admin logs in')[0].status).toBe('ok');
    // Allowed to dry-run but not to set users: the server's own answer, and the rule that fixes it.
    expect(results[1].run.code).toBe(EXIT.BAD_INPUT);
    const [setuser] = find(results[1].report, 'redis: admin may run ACL SETUSER');
    expect(setuser).toMatchObject({ status: 'fail', fix: `ACL SETUSER ${noSetuser.username} +acl|setuser` });
    expect(setuser.detail).toMatch(/acl\|setuser/);
    expect(results[1].run.out).toContain(`fix: ACL SETUSER ${noSetuser.username} +acl|setuser`);
    expect(find(results[1].report, 'redis: admin may run ACL GETUSER')[0].status).toBe('ok');
    // +@all: every command allowed.
    expect(results[2].report.checks.filter((c) => c.status !== 'ok')).toEqual([]);
    expect(results[2].run.code).toBe(EXIT.OK);
    expect(await rootCall('ACL', 'LIST')).toEqual(users);
  });

  it('reports a rollout consumer whose Kubernetes identity may not patch its Deployment as ✗, and passes the one that may', async () => {
    const { apps } = adminClients();
    const allowed = await namespaceFor('rotator');
    const denied = await namespaceFor('rotator', roleWithout('deployments', 'patch'));
    for (const namespace of [allowed, denied])
      await apps.createNamespacedDeployment({ namespace, body: deployment('api', 'orders-db') });
    const kubeconfig = kubeconfigFile('rotator');
    const [adminName, name, role] = [unique('admin'), unique('db'), unique('app')];
    await writeVault(adminName, pgAdminSecret());
    const entry = pgSecret(name, adminName, role);
    entry.lines!.push(
      'consumers:',
      ...[allowed, denied].map(
        (ns) =>
          `  - { type: rollout, kubeconfig: "${kubeconfig}", namespace: ${ns}, workloads: [{ kind: Deployment, name: api }] }`,
      ),
    );
    const file = configFile([{ name: adminName }, entry]);
    const generations = async () =>
      Promise.all(
        [allowed, denied].map(async (ns) => (await apps.readNamespacedDeployment({ name: 'api', namespace: ns })).metadata),
      );
    const before = await generations();

    const { run, report } = await plan(file, name);

    expect(run.code).toBe(EXIT.BAD_INPUT);
    const restart = find(report, 'rollout: may restart the workloads');
    expect(restart.map((c) => c.status)).toEqual(['ok', 'fail']);
    expect(restart[1].detail).toBe(`not allowed: patch deployments.apps/api in ${denied}`);
    expect(restart[1].fix).toContain(
      `in namespace ${denied}: { apiGroups: ["apps"], resources: ["deployments"], verbs: ["patch"] }`,
    );
    expect(find(report, 'rollout: workloads exist').map((c) => c.status)).toEqual(['ok', 'ok']);
    expect(report.checks.filter((c) => c.status === 'fail')).toEqual([restart[1]]);
    // Not restarted: same resourceVersion and generation as before.
    expect(await generations()).toEqual(before);
  });

  it('accepts a CREATEROLE admin for single-user on PostgreSQL 15, and refuses a superuser login and a missing one', async () => {
    const admin = await pgLoginRole(true);
    const { host, port, database } = testStack().postgres!;
    const adminName = unique('admin');
    await writeVault(adminName, { ...admin, host, port, dbname: database, engine: 'postgres' });
    const [ordinary, superuser, missing] = [unique('solo'), unique('solo'), unique('solo')];
    await adminQuery(`create role ${ordinary} login`);
    await adminQuery(`create role ${superuser} login superuser`);
    const entries = [ordinary, superuser, missing].map((login) => ({ login, name: unique('db') }));
    for (const e of entries.slice(0, 2)) await writeVault(e.name, { username: e.login, password: password() });
    const file = configFile([{ name: adminName }, ...entries.map((e) => pgSecret(e.name, adminName, e.login, 'single-user'))]);
    const before = await pgState(admin.username, ordinary, superuser, missing);

    const results = [];
    for (const e of entries) results.push((await plan(file, e.name)).report);

    expect(results[0].checks.filter((c) => c.status !== 'ok')).toEqual([]);
    expect(find(results[0], `postgresql: admin can manage ${ordinary}`)[0].detail).toBe(
      `${ordinary} exists; CREATEROLE lets the admin alter it`,
    );
    expect(find(results[1], `postgresql: admin can manage ${superuser}`)[0]).toMatchObject({
      status: 'fail',
      detail: `${superuser} is a superuser: only a superuser may change its password`,
    });
    expect(results[2].checks.filter((c) => c.status === 'fail').map((c) => c.check)).toEqual([
      `store: read vault:secret/data/test/${entries[2].name}`,
      `postgresql: admin can manage ${missing}`,
    ]);
    expect(await pgState(admin.username, ordinary, superuser, missing)).toEqual(before);
  });

  it('says ⚠, not ✓, where a write cannot be checked without writing (Secrets Manager) or privileges are not reported (FerretDB)', async () => {
    const [pgAdmin, mongoAdmin, cache, users] = [unique('admin'), unique('admin'), unique('db'), unique('db')];
    await writeVault(pgAdmin, pgAdminSecret());
    await writeVault(mongoAdmin, mongoAdminSecret());
    const aws = [
      '  sm:',
      '    type: aws-secrets-manager',
      '    region: us-east-1',
      `    endpoint: "${testStack().moto!.endpoint}"`,
      '    access_key_id: test',
      '    secret_access_key: test',
    ];
    const file = configFile(
      [
        { name: pgAdmin },
        { name: mongoAdmin },
        { ...pgSecret(cache, pgAdmin, unique('app')), provider: 'sm', path: `test/${cache}` },
        {
          name: users,
          lines: [
            'target:',
            '  type: mongodb',
            `  connection: secret://${mongoAdmin}`,
            `  user: ${unique('app')}`,
            '  roles: [{ role: readWrite, db: app }]',
            'rotation:',
            '  strategy: alternating-users',
          ],
        },
      ],
      aws,
    );
    const sm = secretsManagerClient();
    // moto is shared with the suites running beside this one: only the names this test could write are compared.
    const ours = [pgAdmin, mongoAdmin, cache, users];
    const listed = async () => {
      const names: string[] = [];
      for await (const page of paginateListSecrets({ client: sm }, {})) {
        names.push(...(page.SecretList ?? []).map((x) => x.Name ?? ''));
      }
      return names.filter((name) => ours.some((id) => name.includes(id))).sort();
    };
    const before = await listed();

    const onAws = await plan(file, cache);
    const onFerret = await plan(file, users);

    expect(onAws.run.code).toBe(EXIT.OK);
    expect(onAws.report.checks.filter((c) => c.status !== 'ok')).toEqual([
      expect.objectContaining({
        check: `store: may write test/${cache}`,
        status: 'warn',
        detail: 'not checked: the aws-secrets-manager store offers no way to test a write without writing',
      }),
    ]);
    expect(onAws.run.out).toMatch(new RegExp(`⚠ store: may write test/${cache}`));
    expect(await listed()).toEqual(before);
    expect(onFerret.run.code).toBe(EXIT.OK);
    expect(find(onFerret.report, 'mongodb: admin logs in')[0].status).toBe('ok');
    expect(find(onFerret.report, 'mongodb: admin may manage users in admin')[0]).toMatchObject({ status: 'warn' });
  });

  it('reports an unreachable webhook receiver as ✗ and an unreachable alert receiver as ⚠', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const [adminName, keysName, name] = [unique('admin'), unique('keys'), unique('db')];
    await writeVault(adminName, pgAdminSecret());
    await writeVault(keysName, { hook: password() });
    // A cron that can never fire is refused with the config now (test/hostile-edges.test.ts), before any check runs.
    const entry = pgSecret(name, adminName, unique('app'), 'alternating-users');
    entry.lines!.push(
      'consumers:',
      ...['webhook', 'alert'].map(
        (type) =>
          `  - { type: ${type}, url: "http://127.0.0.1:${port}/", signing_key: "secret://${keysName}/hook", timeout: 1s, attempts: 1 }`,
      ),
    );
    const file = configFile([{ name: adminName }, { name: keysName }, entry]);

    const { run, report } = await plan(file, name);

    expect(run.code).toBe(EXIT.BAD_INPUT);
    expect(find(report, /^webhook .*: receiver reachable$/)[0]).toMatchObject({
      status: 'fail',
      detail: `cannot connect to 127.0.0.1:${port}: ECONNREFUSED`,
    });
    expect(find(report, /^alert .*: receiver reachable$/)[0].status).toBe('warn');
  });

  it('reports a kubernetes store whose identity may not update its Secrets as ✗, naming each Secret', async () => {
    const namespace = await namespaceFor('rotator', roleWithout('secrets', 'update'));
    // A Deployment that reads the Secret and is not a consumer: validate's warning, here a ⚠.
    await adminClients().apps.createNamespacedDeployment({ namespace, body: deployment('reports', 'orders-db') });
    const [adminName, name] = [unique('admin'), unique('db')];
    await writeVault(adminName, pgAdminSecret());
    const kube = [
      '  kube:',
      '    type: kubernetes',
      `    kubeconfig: "${kubeconfigFile('rotator')}"`,
      `    namespace: ${namespace}`,
    ];
    const file = configFile(
      [{ name: adminName }, { ...pgSecret(name, adminName, unique('app')), provider: 'kube', path: 'orders-db' }],
      kube,
    );

    const { run, report } = await plan(file, name);

    expect(run.code).toBe(EXIT.BAD_INPUT);
    const [write] = find(report, `store: may write Secret orders-db (${namespace}/orders-db)`);
    expect(write.status).toBe('fail');
    expect(write.detail).toBe(
      `not allowed: ${['orders-db', 'orders-db-previous', 'orders-db-rotator-pending'].map((n) => `update secrets/${n} in ${namespace}`).join(', ')}`,
    );
    expect(write.fix).toContain(`in namespace ${namespace}: { apiGroups: [""], resources: ["secrets"], verbs: ["update"] }`);
    expect(find(report, 'consumers: every user of the Secret is listed')).toEqual([
      expect.objectContaining({
        status: 'warn',
        detail: `deployment ${namespace}/reports uses Secret orders-db but is not a consumer: it keeps the old value until it restarts`,
      }),
    ]);
    expect(report.checks.filter((c) => c.status === 'fail')).toEqual([write]);
    expect((await adminClients().core.listNamespacedSecret({ namespace })).items).toEqual([]);
  });

  it('checks cron fields against their ranges, and leaves syntax it does not know to Temporal', () => {
    expect(cronProblem('0 3 * * MON-FRI')).toBeNull();
    expect(cronProblem('*/15 2-5 1,15 JAN-JUN 0')).toBeNull();
    expect(cronProblem('@daily')).toBeNull();
    expect(cronProblem('60 3 * * *')).toBe('minute: 60 is outside 0-59');
    expect(cronProblem('0 3 32 * *')).toBe('day of month: 32 is outside 1-31');
    expect(cronProblem('*/0 3 * * *')).toBe('minute: a step of 0 never advances');
    expect(cronProblem('0 5-2 * * *')).toBe('hour: the range 5-2 is empty');
    expect(cronProblem('0 3 L * *')).toBe('unknown');
  });

  it('answers an unknown secret with exit 4 and one that cannot be rotated with exit 2, as every command does', async () => {
    const adminName = unique('admin');
    const file = configFile([{ name: adminName }]);
    const unknown = await cli('--config', file, 'plan', 'nope');
    expect(unknown.code).toBe(EXIT.NOT_FOUND);
    expect(unknown.err).toContain('no secret named "nope"');
    const plain = await cli('--config', file, 'plan', adminName);
    expect(plain.code).toBe(EXIT.BAD_INPUT);
    expect(plain.err).toContain('cannot be rotated');
  });

  it('checks the file store’s folder: writable where it will be made, ✗ where a file is in the way', async () => {
    const storeDir = mkdtempSync(join(tmpdir(), 'rotator-plan-store-'));
    writeFileSync(join(storeDir, 'blocked'), 'not a folder');
    const [adminName, good, bad] = [unique('admin'), unique('db'), unique('db')];
    await writeVault(adminName, pgAdminSecret());
    const file = configFile(
      [
        { name: adminName },
        { ...pgSecret(good, adminName, unique('app')), provider: 'local', path: `apps/${good}` },
        { ...pgSecret(bad, adminName, unique('app')), provider: 'local', path: `blocked/${bad}` },
      ],
      ['  local:', '    type: file', `    dir: "${storeDir}"`],
    );

    const ok = await plan(file, good);
    const blocked = await plan(file, bad);

    expect(find(ok.report, `store: may write apps/${good}`)[0]).toMatchObject({
      status: 'ok',
      detail: `${storeDir} is writable`,
    });
    expect(ok.run.code).toBe(EXIT.OK);
    expect(blocked.run.code).toBe(EXIT.BAD_INPUT);
    expect(find(blocked.report, `store: may write blocked/${bad}`)[0]).toMatchObject({
      status: 'fail',
      detail: `${join(storeDir, 'blocked')} is not a directory`,
    });
    // Nothing was made: the folders a write would create are still missing.
    expect(readdirSync(storeDir)).toEqual(['blocked']);
  });
});
