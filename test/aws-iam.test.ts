// The aws-iam target on moto (IAM + STS): whole rotations through Temporal with the keys kept in Vault.
//
// What moto does not reproduce, and so these tests cannot show:
// - IAM's eventual consistency: on AWS a new key may be refused by STS for some seconds; moto accepts it at once, so
//   verify's bounded retries (verify_timeout) are exercised here only by a key that never works.
// - Signatures: moto's STS answers GetCallerIdentity for any key, with a default `user/moto` ARN for one it does not
//   know (a deleted key), so verify checks that the ARN is the user's, as it must on AWS too.
// - Inactive keys: moto's STS still answers for an Inactive key as its user; AWS refuses it (InvalidClientTokenId).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateAccessKeyCommand,
  DeleteAccessKeyCommand,
  IAMClient,
  PutUserPolicyCommand,
  UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import { awsIam } from '../activities/targets/aws-iam';
import { CLOCK_SKEW_MS } from '../activities/targets/aws-iam/target';
import { followRotation, startRotation } from '../src/client/rotations';
import { startLocalStack, type LocalStack } from '../src/stack/local-stack';
import { cli } from './support/cli';
import { readStore, unique, untilPhase, vaultClient } from './support/harness';
import { callerOf, iamAdmin, keysOf, startIamHarness, storedKey, userWithKey, type IamHarness, type Key } from './support/iam';
import { testStack } from './support/stack';
import { MOTO_REGION } from './support/test-stores';

async function untilTrue(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function rotate(h: IamHarness, secret: string) {
  const { handle } = await startRotation(h.client, h.taskQueue, h.plan(secret));
  return { handle, result: followRotation(handle) };
}

const keyOf = (value: Record<string, unknown> | undefined): Key => ({
  AccessKeyId: String(value?.AccessKeyId),
  SecretAccessKey: String(value?.SecretAccessKey),
});

describe('aws-iam: an IAM user’s access keys on moto', () => {
  let iam: IAMClient;
  let h: IamHarness;
  beforeAll(async () => {
    iam = iamAdmin();
    // reconnect.wait gives the rollback test a moment between publish and verify, found by polling the phase.
    h = await startIamHarness(iam, 3, {
      target: ['verify_timeout: 1s'],
      rotation: ['grace_period: 0s', 'reconnect: { wait: 2s }'],
    });
  });
  afterAll(async () => {
    await h.close();
    iam.destroy();
  });

  it('creates the second key, publishes it, verifies it signs as the user, then deactivates and deletes the old one', async () => {
    const { name, user, path } = h.secrets[0];
    const before = await storedKey(path);
    const old = keyOf(before!.value);
    const { result } = await rotate(h, name);
    const { ok, status } = await result;
    expect(status.error).toBeNull();
    expect(ok).toBe(true);
    expect(status.phases.map((p) => p.name)).toEqual(['create', 'publish', 'reconnect', 'verify', 'revoke']);

    const after = await storedKey(path);
    const now = keyOf(after!.value);
    expect(now.AccessKeyId).not.toBe(old.AccessKeyId);
    expect(after!.value.note).toBe('kept by the operator'); // only the credential's fields were replaced
    expect(status).toMatchObject({
      outcome: 'succeeded',
      username: now.AccessKeyId,
      previousUsername: old.AccessKeyId,
      revokedUsername: old.AccessKeyId,
    });
    // The old key is gone, the new one is the user's only key and signs GetCallerIdentity as the user.
    expect((await keysOf(iam, user)).map((k) => [k.AccessKeyId, k.Status])).toEqual([[now.AccessKeyId, 'Active']]);
    expect(await callerOf(now)).toMatch(new RegExp(`:user/${user}$`));
    expect(await callerOf(old)).not.toMatch(new RegExp(`:user/${user}$`));
    expect(await readStore(`rotator-pending/${path}`)).toBeNull();
    expect(JSON.stringify(status)).not.toContain(now.SecretAccessKey);
  });

  it('rolls back after a failed verify: the store serves the old key, which stays active, and the new key is gone', async () => {
    const { name, user, path } = h.secrets[1];
    const before = await storedKey(path);
    const old = keyOf(before!.value);
    const { handle, result } = await rotate(h, name);
    // Published, and consumers have their wait: the new key is deleted behind rotator's back, so STS no longer
    // answers for it as the user and verify fails (on AWS too: a deleted key is refused).
    await untilPhase(handle, 'reconnect');
    const published = await storedKey(path);
    const fresh = keyOf(published!.value);
    expect(fresh.AccessKeyId).not.toBe(old.AccessKeyId);
    await iam.send(new DeleteAccessKeyCommand({ UserName: user, AccessKeyId: fresh.AccessKeyId }));

    const { ok, status } = await result;
    expect(ok).toBe(false);
    expect(status).toMatchObject({ outcome: 'rolled-back', error: { code: 'VERIFY_FAILED' } });
    expect(status.error?.message).toContain(fresh.AccessKeyId);
    const after = await storedKey(path);
    expect(keyOf(after!.value)).toEqual(old);
    expect((await keysOf(iam, user)).map((k) => [k.AccessKeyId, k.Status])).toEqual([[old.AccessKeyId, 'Active']]);
    expect(await callerOf(old)).toMatch(new RegExp(`:user/${user}$`));
    expect(await readStore(`rotator-pending/${path}`)).toBeNull();
    expect(JSON.stringify(status)).not.toContain(fresh.SecretAccessKey);
  });

  it('refuses when the user already has a second key, naming it, and changes nothing', async () => {
    const { name, user, path } = h.secrets[2];
    const before = await storedKey(path);
    const extra = (await iam.send(new CreateAccessKeyCommand({ UserName: user }))).AccessKey!;
    await iam.send(new UpdateAccessKeyCommand({ UserName: user, AccessKeyId: extra.AccessKeyId!, Status: 'Inactive' }));
    // A key made within CLOCK_SKEW_MS before a rotation starts counts as the rotation's own leftover (IamTarget.issue):
    // this one is an operator's, made earlier.
    await untilTrue(() => Date.now() > extra.CreateDate!.getTime() + CLOCK_SKEW_MS);
    const { result } = await rotate(h, name);
    const { ok, status } = await result;
    expect(ok).toBe(false);
    expect(status).toMatchObject({ outcome: 'failed', error: { code: 'CONFLICT' } });
    expect(status.error?.message).toContain(extra.AccessKeyId);
    expect(status.error?.message).toContain('when_full: delete-inactive');
    expect((await storedKey(path))!.version).toBe(before!.version);
    expect((await keysOf(iam, user)).length).toBe(2);
  });
});

describe('aws-iam: the target’s own rules, on moto', () => {
  let iam: IAMClient;
  const admin = { AccessKeyId: 'AKIAADMIN', SecretAccessKey: 'admin' };
  const block = (user: string, when_full: 'refuse' | 'delete-inactive' = 'refuse') => ({
    type: 'aws-iam' as const,
    connection: { provider: 'vault', path: 'unused' },
    user,
    region: MOTO_REGION,
    endpoint: testStack().moto!.endpoint,
    when_full,
    verify_timeout: '1s',
  });
  const opened: Array<{ close(): Promise<void> }> = [];
  const open = async (b: ReturnType<typeof block>) => {
    const target = await awsIam.create(b, admin);
    opened.push(target);
    return target;
  };
  beforeAll(() => {
    iam = iamAdmin();
  });
  afterAll(async () => {
    for (const t of opened) await t.close();
    iam.destroy();
  });

  it('a re-issue after a death between CreateAccessKey and staging deletes the key the dead run made', async () => {
    const { user, key } = await userWithKey(iam);
    const target = await open(block(user));
    const current = { id: key.AccessKeyId, secret: key.SecretAccessKey };
    const request = { rotationId: 'r1', startedAt: Date.now(), current, value: null };
    const lost = await target.issue(request); // its run died before the pending value held it: nothing records it
    const again = await target.issue(request);
    const keys = (await keysOf(iam, user)).map((k) => k.AccessKeyId).sort();
    expect(keys).toEqual([key.AccessKeyId, again.id].sort());
    expect(keys).not.toContain(lost.id);
  });

  it('with when_full: delete-inactive deletes an Inactive second key, and still refuses an Active one', async () => {
    const { user, key } = await userWithKey(iam);
    const extra = (await iam.send(new CreateAccessKeyCommand({ UserName: user }))).AccessKey!;
    await untilTrue(() => Date.now() > extra.CreateDate!.getTime() + CLOCK_SKEW_MS);
    const target = await open(block(user, 'delete-inactive'));
    const request = {
      rotationId: 'r2',
      startedAt: Date.now(),
      current: { id: key.AccessKeyId, secret: key.SecretAccessKey },
      value: null,
    };
    await expect(target.issue(request)).rejects.toMatchObject({
      code: 'CONFLICT',
      message: expect.stringContaining(`${extra.AccessKeyId} (Active`),
    });
    await iam.send(new UpdateAccessKeyCommand({ UserName: user, AccessKeyId: extra.AccessKeyId!, Status: 'Inactive' }));
    const made = await target.issue({ ...request, rotationId: 'r3' });
    expect((await keysOf(iam, user)).map((k) => k.AccessKeyId).sort()).toEqual([key.AccessKeyId, made.id].sort());
  });

  it('suspend makes a key Inactive and resume Active again; withdraw of a key already gone succeeds', async () => {
    const { user, key } = await userWithKey(iam);
    const target = await open(block(user));
    const credential = { id: key.AccessKeyId, secret: key.SecretAccessKey };
    await target.suspend!(credential);
    expect((await keysOf(iam, user))[0]?.Status).toBe('Inactive');
    await target.resume!(credential);
    expect((await keysOf(iam, user))[0]?.Status).toBe('Active');
    await target.withdraw(credential);
    await target.withdraw(credential);
    expect(await keysOf(iam, user)).toEqual([]);
  });
});

/**
 * `rotator plan` against a moto of its own with IAM authorization on (the shared one has it off for every other
 * test): an admin whose policy lacks iam:CreateAccessKey gets ✗ with the fix, and nothing changes.
 */
describe('aws-iam: rotator plan with a missing iam:CreateAccessKey', () => {
  let stack: LocalStack;
  let iam: IAMClient;
  const dir = mkdtempSync(join(tmpdir(), 'rotator-iam-plan-'));
  beforeAll(async () => {
    stack = await startLocalStack({ services: ['moto'] });
    iam = iamAdmin(stack.moto!.endpoint);
  });
  afterAll(async () => {
    iam?.destroy();
    await stack?.stop();
  });

  async function adminWith(actions: string[]): Promise<Key> {
    const { user, key } = await userWithKey(iam, 'admin');
    await iam.send(
      new PutUserPolicyCommand({
        UserName: user,
        PolicyName: 'rotator',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: actions, Resource: '*' }],
        }),
      }),
    );
    return key;
  }

  it('shows ✗ iam:CreateAccessKey with the policy that fixes it, ✓ for the rest, exits non-zero, and changes nothing', async () => {
    const others = ['iam:ListAccessKeys', 'iam:GetUser', 'iam:UpdateAccessKey', 'iam:DeleteAccessKey', 'sts:GetCallerIdentity'];
    const adminKey = await adminWith(others);
    const { user, key } = await userWithKey(iam);
    const adminName = unique('iam_admin');
    const name = unique('keys');
    await vaultClient().write(`secret/data/test/${adminName}`, { data: adminKey });
    await vaultClient().write(`secret/data/test/${name}`, { data: key });
    // From here on moto checks every request's signature and the caller's policies.
    await fetch(`${stack.moto!.endpoint}/moto-api/reset-auth`, { method: 'POST', body: '0' });
    const asAdmin = iamAdminAs(adminKey, stack.moto!.endpoint);
    const before = await keysOf(asAdmin, user);
    const file = join(dir, 'rotator.yaml');
    writeFileSync(
      file,
      [
        'temporal:',
        `  address: "${testStack().temporal!.address}"`,
        'providers:',
        '  vault:',
        '    type: vault',
        `    address: "${testStack().vault!.address}"`,
        '    token: ${TEST_VAULT_TOKEN}',
        'secrets:',
        `  ${adminName}:`,
        '    provider: vault',
        `    path: secret/data/test/${adminName}`,
        `  ${name}:`,
        '    provider: vault',
        `    path: secret/data/test/${name}`,
        '    target:',
        '      type: aws-iam',
        `      connection: secret://${adminName}`,
        `      user: ${user}`,
        `      endpoint: "${stack.moto!.endpoint}"`,
        '    rotation: { grace_period: 0s }',
      ].join('\n') + '\n',
      { mode: 0o600 },
    );
    process.env.TEST_VAULT_TOKEN = testStack().vault!.token;
    const run = await cli('--config', file, 'plan', name);
    process.stderr.write(`\n${run.out}\n`);
    expect(run.code).not.toBe(0);
    expect(run.out).toMatch(/✗ iam:CreateAccessKey\s+denied/);
    expect(run.out).toContain('fix: allow iam:CreateAccessKey on arn:aws:iam::');
    for (const action of ['iam:ListAccessKeys', 'iam:UpdateAccessKey', 'iam:DeleteAccessKey'])
      expect(run.out).toMatch(new RegExp(`✓ ${action}\\s`));
    expect(run.out).not.toContain(adminKey.SecretAccessKey);
    expect(run.out).not.toContain(key.SecretAccessKey);
    expect(await keysOf(asAdmin, user)).toEqual(before);
    asAdmin.destroy();
  });
});

function iamAdminAs(key: Key, endpoint: string): IAMClient {
  return new IAMClient({
    region: MOTO_REGION,
    endpoint,
    credentials: { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey },
  });
}
