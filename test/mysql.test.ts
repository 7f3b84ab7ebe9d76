// `rotator plan` and a rotation for the mysql target against the stack's MariaDB: a ✗ and its fix for a missing
// privilege or grants that differ (the plan changes nothing), and rotations whose logins copy a role's or a template
// account's grants, with the password never echoed by a refused statement.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MysqlTarget, mysqlConnectionFrom } from '../activities/targets/mysql/target';
import { flavourOf } from '../activities/targets/mysql/sql';
import { adminSecret, asAdmin, mysqlLogin } from '../activities/targets/mysql/test-support';
import { EXIT } from '../src/cli/main';
import type { PreflightReport } from '../src/client/preflight';
import type { RotatorError } from '../src/kernel/errors';
import { cli, type Run } from './support/cli';
import { unique, vaultClient } from './support/harness';
import { testStack } from './support/stack';

const mariadb = testStack().mariadb!;
const dir = mkdtempSync(join(tmpdir(), 'rotator-mysql-'));
const saved = { ...process.env };
const secrets: string[] = [];

beforeAll(() => {
  process.env.TEST_VAULT_TOKEN = testStack().vault!.token;
  secrets.push(testStack().vault!.token, mariadb.password);
});
afterAll(() => {
  process.env = saved;
});

function password(): string {
  const p = `Pw-${randomBytes(12).toString('hex')}`;
  secrets.push(p);
  return p;
}

async function writeVault(name: string, value: Record<string, unknown>): Promise<void> {
  await vaultClient().write(`secret/data/test/${name}`, { data: value });
}

function configFile(admin: string, secret: string, target: string[], strategy: string): string {
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
    'secrets:',
    `  ${admin}:`,
    '    provider: vault',
    `    path: secret/data/test/${admin}`,
    `  ${secret}:`,
    '    provider: vault',
    `    path: secret/data/test/${secret}`,
    '    target:',
    '      type: mysql',
    `      connection: secret://${admin}`,
    ...target.map((l) => `      ${l}`),
    '    rotation:',
    `      strategy: ${strategy}`,
  ];
  const file = join(dir, `${unique('rotator')}.yaml`);
  writeFileSync(file, lines.join('\n') + '\n', { mode: 0o600 });
  return file;
}

async function plan(file: string, secret: string): Promise<{ run: Run; report: PreflightReport }> {
  const run = await cli('--config', file, 'plan', secret);
  const json = await cli('--config', file, '--json', 'plan', secret);
  expect(json.code).toBe(run.code);
  const printed = run.out + run.err + json.out + json.err;
  for (const s of secrets) expect(printed).not.toContain(s);
  return { run, report: JSON.parse(json.out) as PreflightReport };
}

/** The accounts whose names start with `prefix`, with everything a CREATE, ALTER or GRANT would change. */
async function accounts(prefix: string): Promise<unknown> {
  const rows = await asAdmin<{ User: string; Host: string; Priv: string }>(
    mariadb,
    `SELECT User, Host, Priv FROM mysql.global_priv WHERE User LIKE '${prefix}%' ORDER BY User, Host`,
  );
  const grants = [];
  for (const r of rows) grants.push(await asAdmin(mariadb, `SHOW GRANTS FOR '${r.User}'@'${r.Host}'`));
  return { rows, grants };
}

describe('rotator plan for a mysql target', () => {
  it('reports an admin without CREATE USER as ✗ with the GRANT that fixes it, exits 2, and changes nothing', async () => {
    const admin = { user: unique('plan_admin'), password: password() };
    // It may read the accounts and see sessions, but not create or alter accounts.
    await asAdmin(
      mariadb,
      `CREATE USER '${admin.user}'@'%' IDENTIFIED BY '${admin.password}'`,
      `GRANT SELECT ON mysql.* TO '${admin.user}'@'%'`,
      `GRANT PROCESS, CONNECTION ADMIN ON *.* TO '${admin.user}'@'%'`,
    );
    const [adminName, name, base, role] = [unique('admin'), unique('db'), unique('app'), unique('app_role')];
    await asAdmin(mariadb, `CREATE ROLE ${role}`);
    await writeVault(adminName, { ...adminSecret(mariadb), username: admin.user, password: admin.password });
    await writeVault(name, { username: `${base}_a`, password: password() });
    const file = configFile(adminName, name, [`user: ${base}`, `role: ${role}`], 'alternating-users');
    const before = await accounts(base);

    const { run, report } = await plan(file, name);

    expect(run.code).toBe(EXIT.BAD_INPUT);
    const fix = `as an administrator: GRANT CREATE USER ON *.* TO '${admin.user}'@'%';`;
    expect(run.out).toMatch(new RegExp(`✗ mysql: admin has CREATE USER\\s+'${admin.user}'@'%' lacks the global CREATE USER`));
    expect(run.out).toContain(`fix: ${fix}`);
    const failed = report.checks.filter((c) => c.status === 'fail');
    expect(failed).toEqual([expect.objectContaining({ check: 'mysql: admin has CREATE USER', fix })]);
    expect(report.checks.find((c) => c.check === 'mysql: admin logs in')?.status).toBe('ok');
    expect(report.checks.find((c) => c.check === 'mysql: admin sees and ends other sessions')?.status).toBe('ok');
    expect(await accounts(base)).toEqual(before);
    process.stderr.write(`\n${run.out}\n`);

    // The fix, applied as printed, turns the ✗ into ✓.
    await asAdmin(mariadb, fix.replace(/^as an administrator: /, ''));
    const again = await plan(file, name);
    expect(again.report.checks.find((c) => c.check === 'mysql: admin has CREATE USER')?.status).toBe('ok');
  });

  it('names the grant one alternating login holds and the other lacks, with the GRANT that evens them out', async () => {
    const [adminName, name, base, role] = [unique('admin'), unique('db'), unique('app'), unique('app_role')];
    await writeVault(adminName, adminSecret(mariadb));
    const target = await MysqlTarget.connect(mysqlConnectionFrom(adminSecret(mariadb), {}), { role });
    await asAdmin(mariadb, `CREATE ROLE ${role}`, `GRANT SELECT ON mysql.db TO ${role}`);
    await target.upsertLogin(`${base}_a`, password());
    await target.upsertLogin(`${base}_b`, password());
    await target.close();
    await asAdmin(mariadb, `GRANT SELECT ON mysql.proc TO '${base}_b'@'%'`);
    const file = configFile(adminName, name, [`user: ${base}`, `role: ${role}`], 'alternating-users');
    const before = await accounts(base);

    const { run, report } = await plan(file, name);

    expect(run.code).toBe(EXIT.BAD_INPUT);
    const same = report.checks.find((c) => c.check === `mysql: ${base}_a and ${base}_b hold the same grants`)!;
    expect(same.status).toBe('fail');
    expect(same.detail).toContain(`${base}_b has "GRANT SELECT ON \`mysql\`.\`proc\` TO ${base}_b", ${base}_a has not`);
    expect(same.fix).toContain(`GRANT SELECT ON \`mysql\`.\`proc\` TO '${base}_a'@'%';`);
    expect(report.checks.filter((c) => c.status === 'fail')).toEqual([same]);
    expect(await accounts(base)).toEqual(before);
  });
  it('accepts dual-password in config (MySQL 8 has it) and plans it on MariaDB as ✗, naming the server and the fix', async () => {
    const [adminName, name, user] = [unique('admin'), unique('db'), unique('app')];
    await writeVault(adminName, adminSecret(mariadb));
    const current = password();
    await asAdmin(mariadb, `CREATE USER '${user}'@'%' IDENTIFIED BY '${current}'`);
    await writeVault(name, { username: user, password: current });
    const file = configFile(adminName, name, [`user: ${user}`], 'dual-password');

    const { run, report } = await plan(file, name);

    expect(run.code).toBe(EXIT.BAD_INPUT);
    const failed = report.checks.filter((c) => c.status === 'fail');
    expect(failed).toEqual([
      expect.objectContaining({
        check: 'mysql: server supports dual-password',
        detail: expect.stringContaining('MariaDB') as unknown,
        fix: 'use rotation.strategy: alternating-users (with role: or template:)',
      }),
    ]);
    expect(report.checks.find((c) => c.check === `mysql: account ${user}@%`)?.status).toBe('ok');
  });
});

describe('the mysql target on MariaDB', () => {
  it("copies a template account's grants to a new login, and a role's as its default role", async () => {
    const [base, tpl, role] = [unique('app'), unique('tpl'), unique('app_role')];
    await asAdmin(
      mariadb,
      `CREATE ROLE ${role}`,
      `GRANT SELECT ON mysql.db TO ${role}`,
      `CREATE USER '${tpl}'@'%' ACCOUNT LOCK`,
      `GRANT SELECT ON mysql.proc TO '${tpl}'@'%'`,
      `GRANT ${role} TO '${tpl}'@'%'`,
      `SET DEFAULT ROLE ${role} FOR '${tpl}'@'%'`,
    );
    const fromTemplate = await MysqlTarget.connect(mysqlConnectionFrom(adminSecret(mariadb), {}), { template: `'${tpl}'@'%'` });
    const pw = password();
    await fromTemplate.upsertLogin(`${base}_a`, pw);
    await fromTemplate.close();
    const grants = (rows: Array<Record<string, string>>, user: string) =>
      rows
        .map((r) =>
          Object.values(r)[0]!
            .replaceAll(`\`${user}\``, '?')
            .replace(/ IDENTIFIED BY PASSWORD '[^']*'/, ''),
        )
        .sort();
    expect(grants(await asAdmin(mariadb, `SHOW GRANTS FOR '${base}_a'@'%'`), `${base}_a`)).toEqual(
      grants(await asAdmin(mariadb, `SHOW GRANTS FOR '${tpl}'@'%'`), tpl),
    );
    // It logs in with the role active by default and may read what the template may.
    expect(await mysqlLogin(mariadb, `${base}_a`, pw)).toBe(true);
    await expect(
      fromTemplate.verify({ username: `${base}_a`, password: pw }, 'SELECT COUNT(*) FROM mysql.db'),
    ).resolves.toBeDefined();
  });

  it("declares no dual password on MariaDB, and MySQL 8's RETAIN CURRENT PASSWORD sent anyway is refused without echoing the password", async () => {
    const admin = mysqlConnectionFrom(adminSecret(mariadb), {});
    const real = await MysqlTarget.connect(admin, {});
    expect(real.flavour.mariadb).toBe(true);
    expect(real.capabilities.dualPassword).toBe(false);
    const user = unique('dual');
    await real.upsertLogin(user, password());
    const refused = await real.addPassword(user, password()).catch((e: unknown) => e as RotatorError);
    expect(refused).toMatchObject({ code: 'UNSUPPORTED' });
    expect((refused as RotatorError).message).toContain('MariaDB');
    await real.close();

    // The MySQL 8 path, forced: MariaDB answers with a syntax error quoting the statement; the error keeps no password.
    const asMysql8 = await MysqlTarget.connect(admin, {}, undefined, flavourOf('8.0.36'));
    expect(asMysql8.capabilities.dualPassword).toBe(true);
    const next = password();
    const err = (await asMysql8.addPassword(user, next).catch((e: unknown) => e)) as RotatorError;
    expect(err.message).toMatch(/syntax/i);
    expect(`${err.message} ${err.stack} ${JSON.stringify(err)}`).not.toContain(next);
    expect((err as unknown as { sql?: string }).sql).toBeUndefined();
    await asMysql8.close();
  });
});
