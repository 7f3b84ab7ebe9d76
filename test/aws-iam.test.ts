// The aws-iam target on moto (IAM + STS): whole rotations through Temporal with the keys kept in Vault.
//
// What moto does not reproduce, and so these tests cannot show:
// - IAM's eventual consistency: on AWS a new key may be refused by STS for some seconds; moto accepts it at once, so
//   verify's bounded retries (verify_timeout) are exercised here only by a key that never works.
// - Signatures: moto's STS answers GetCallerIdentity for any key, with a default `user/moto` ARN for one it does not
//   know (a deleted key), so verify checks that the ARN is the user's, as it must on AWS too.
// - Inactive keys: moto's STS still answers for an Inactive key as its user; AWS refuses it (InvalidClientTokenId).
import { DeleteAccessKeyCommand, UpdateAccessKeyCommand, type IAMClient } from '@aws-sdk/client-iam';
import { followRotation, startRotation } from '../src/client/rotations';
import { untilPhase } from './support/harness';
import { callerOf, iamAdmin, keysOf, startIamHarness, storedKey, type IamHarness, type Key } from './support/iam';
import { readStore } from './support/harness';
import { CLOCK_SKEW_MS } from '../activities/targets/aws-iam/target';

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
    const { CreateAccessKeyCommand } = await import('@aws-sdk/client-iam');
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
