// `rotator adopt SECRET` on the real stack (PostgreSQL 15, OpenBao KV v2), through the CLI: a login that already exists
// is taken over without rotating it. Its current value becomes version 1 in the store with rotator's metadata once it
// has logged in; PostgreSQL's stored password hash and VALID UNTIL are the same before and after (the target is not
// changed); a failed login check or bad input writes nothing and names the field; no password is printed.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cli } from './support/cli';
import { followRotation, startRotation } from '../src/client/rotations';
import { adminQuery, canLogin, configYaml, readStore, seedAdmin, testEnv, unique, vaultClient } from './support/harness';
import { startRotator } from './support/rotator';
import { testStack } from './support/stack';

const ROOT = resolve(__dirname, '..');
const stack = testStack();

/** The role's stored password hash and expiry, read as the superuser: what "the target changed" would change. */
async function roleState(role: string): Promise<{ hash: string; validUntil: string | null }> {
  const [row] = await adminQuery(
    'select rolpassword as hash, rolvaliduntil::text as "validUntil" from pg_authid where rolname = $1',
    [role],
  );
  return row as { hash: string; validUntil: string | null };
}

async function createLogin(role: string, password: string): Promise<void> {
  // Identifiers and the literal are generated here (letters, digits, _): nothing to escape.
  await adminQuery(`create role "${role}" login password '${password}' valid until '2100-01-01'`);
}

async function customMetadata(path: string): Promise<Record<string, string>> {
  const body = await vaultClient().read(`secret/metadata/test/${path}`);
  return (body.data.custom_metadata ?? {}) as Record<string, string>;
}

describe('rotator adopt', () => {
  let dir: string;
  let file: string;
  let yaml: string;
  const names = { single: unique('db'), alt: unique('db'), held: unique('db') };
  const roles = { single: unique('app'), alt: unique('app'), held: unique('app') };
  const passwords = {
    single: randomBytes(12).toString('hex'),
    alt: randomBytes(12).toString('hex'),
    held: randomBytes(12).toString('hex'),
  };
  const saved = { TEST_VAULT_TOKEN: process.env.TEST_VAULT_TOKEN };

  beforeAll(async () => {
    const adminPath = `test/${unique('pg_admin')}`;
    await seedAdmin(adminPath);
    await createLogin(roles.single, passwords.single);
    await createLogin(`${roles.alt}_b`, passwords.alt);
    await createLogin(roles.held, passwords.held);
    dir = mkdtempSync(join(tmpdir(), 'rotator-adopt-'));
    file = join(dir, 'rotator.yaml');
    yaml = configYaml(
      unique('tq'),
      [
        { name: names.single, role: roles.single, strategy: 'single-user' },
        { name: names.alt, role: roles.alt, strategy: 'alternating-users' },
        { name: names.held, role: roles.held, strategy: 'single-user' },
      ],
      adminPath,
    );
    writeFileSync(file, yaml);
    process.env.TEST_VAULT_TOKEN = stack.vault!.token;
  });
  afterAll(() => {
    if (saved.TEST_VAULT_TOKEN === undefined) delete process.env.TEST_VAULT_TOKEN;
    else process.env.TEST_VAULT_TOKEN = saved.TEST_VAULT_TOKEN;
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => {
    delete process.env.ADOPT_VALUE;
  });

  const adopt = (...args: string[]) => cli('--config', file, 'adopt', ...args);

  it('refuses a wrong password: the login check fails, nothing is written, the field and step are named', async () => {
    const before = await roleState(roles.single);
    process.env.ADOPT_VALUE = `${passwords.single}-wrong`;
    const run = await adopt(names.single, '--from-env', 'ADOPT_VALUE');
    expect(run.code).toBe(2);
    expect(run.err).toContain(
      `secrets.${names.single}.target: the credential to adopt did not log in (step verify; nothing was written)`,
    );
    expect(run.err).not.toContain(passwords.single);
    expect(await readStore(`test/${names.single}`)).toBeNull();
    expect(await roleState(roles.single)).toEqual(before);
  });

  it.each([
    ['an unset variable', ['--from-env', 'ADOPT_VALUE'], undefined, 'env ADOPT_VALUE: is not set'],
    ['an empty value', ['--from-env', 'ADOPT_VALUE'], '', 'env ADOPT_VALUE: is empty'],
    ['JSON without the password', ['--from-env', 'ADOPT_VALUE'], '{"username":"x"}', 'env ADOPT_VALUE field password: missing'],
    ['broken JSON', ['--from-env', 'ADOPT_VALUE'], '{"password": ', 'env ADOPT_VALUE: starts with { but is not valid JSON'],
    [
      'nothing in the store and no value given',
      [],
      undefined,
      `secrets.${names.single}.path: vault:secret/data/test/${names.single} holds no value to adopt; give the current credential on stdin`,
    ],
    ['both sources', ['--from-env', 'ADOPT_VALUE', '--from-stdin'], 'x', '--from-env: give --from-stdin or --from-env, not both'],
  ])('refuses %s, naming the field, and writes nothing', async (_what, args, value, words) => {
    if (value !== undefined) process.env.ADOPT_VALUE = value;
    const run = await adopt(names.single, ...args);
    expect(run.code).not.toBe(0);
    expect(run.err).toContain(words);
    expect(await readStore(`test/${names.single}`)).toBeNull();
  });

  it('refuses a login the secret does not rotate, naming the field', async () => {
    process.env.ADOPT_VALUE = JSON.stringify({ username: roles.alt, password: passwords.alt });
    const run = await adopt(names.alt, '--from-env', 'ADOPT_VALUE');
    expect(run.code).toBe(2);
    expect(run.err).toContain('env ADOPT_VALUE field username: the login');
    expect(run.err).toContain(`alternating-users: ${roles.alt}_a or ${roles.alt}_b`);
    expect(run.err).not.toContain(passwords.alt);
    expect(await readStore(`test/${names.alt}`)).toBeNull();
  });

  it('adopts a password from an environment variable as version 1 with rotator’s metadata, the target unchanged', async () => {
    const before = await roleState(roles.single);
    process.env.ADOPT_VALUE = passwords.single;
    const run = await adopt(names.single, '--from-env', 'ADOPT_VALUE');
    expect({ code: run.code, err: run.err }).toEqual({ code: 0, err: '' });
    expect(run.out).toContain(
      `adopted ${names.single}: version 1 at vault:secret/data/test/${names.single} (from env ADOPT_VALUE)`,
    );
    expect(run.out).toMatch(new RegExp(`✓ verify +${roles.single} logged in at `));
    expect(run.out).not.toContain(passwords.single);

    const stored = await readStore(`test/${names.single}`);
    const { host, port, database } = stack.postgres!;
    expect(stored).toEqual({
      version: 1,
      data: { username: roles.single, password: passwords.single, host, port, dbname: database, engine: 'postgres' },
    });
    const meta = await customMetadata(names.single);
    expect(meta).toMatchObject({ rotator_phase: 'promoted', rotator_version: '1', rotator_previous_version: 'none' });
    expect(meta.rotator_rotation_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(run.out).toContain(`adoption ${meta.rotator_rotation_id}`);
    // The pending slot is free again: the next rotation can claim it.
    expect(await readStore(`rotator-pending/test/${names.single}`)).toBeNull();
    expect(await roleState(roles.single)).toEqual(before);

    // A value given when the store already holds one is refused: adopt that one instead.
    const again = await adopt(names.single, '--from-env', 'ADOPT_VALUE');
    expect(again.code).toBe(2);
    expect(again.err).toContain(`already holds version 1; run adopt without --from-env to adopt that value`);
  });

  it('leaves the adopted credential to the next rotation, which replaces it as it would any other', async () => {
    const rotator = await startRotator(yaml, testEnv());
    try {
      const { handle } = await startRotation(rotator.client, rotator.config.temporal.task_queue, rotator.plan(names.single));
      const { ok } = await followRotation(handle);
      expect(ok).toBe(true);
    } finally {
      await rotator.close();
    }
    const stored = await readStore(`test/${names.single}`);
    expect(stored?.version).toBe(2);
    expect(stored?.data.username).toBe(roles.single);
    expect(stored?.data.password).not.toBe(passwords.single);
    expect(await canLogin(roles.single, passwords.single)).toBe(false);
    expect(await canLogin(roles.single, String(stored?.data.password))).toBe(true);
  });

  it('adopts one of the two alternating logins from stdin (the compiled CLI), as JSON', () => {
    const run = spawnSync(join(ROOT, 'bin/rotator'), ['--config', file, '--json', 'adopt', names.alt, '--from-stdin'], {
      encoding: 'utf8',
      input: JSON.stringify({ username: `${roles.alt}_b`, password: passwords.alt }),
      env: { ...process.env, TEST_VAULT_TOKEN: stack.vault!.token },
    });
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
    const doc = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(doc).toMatchObject({
      ok: true,
      secret: names.alt,
      version: '1',
      previousVersion: null,
      source: 'stdin',
      username: `${roles.alt}_b`,
    });
    expect(run.stdout).not.toContain(passwords.alt);
  });

  it('adopts the value a store already holds without rotator’s metadata: the same value, now with it', async () => {
    const { host, port, database } = stack.postgres!;
    const value = { username: roles.held, password: passwords.held, host, port, dbname: database, note: 'kept' };
    await vaultClient().write(`secret/data/test/${names.held}`, { data: value });
    expect(await customMetadata(names.held)).toEqual({});
    const before = await roleState(roles.held);

    const run = await adopt(names.held);
    expect({ code: run.code, err: run.err }).toEqual({ code: 0, err: '' });
    expect(run.out).toContain(`version 2 at vault:secret/data/test/${names.held} (from store)`);
    expect(await readStore(`test/${names.held}`)).toEqual({ version: 2, data: value });
    expect(await customMetadata(names.held)).toMatchObject({ rotator_phase: 'promoted', rotator_previous_version: '1' });
    expect(await roleState(roles.held)).toEqual(before);
  });
});
