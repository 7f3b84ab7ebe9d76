// Secrets Manager's own view of a secret rotator rotates (issue 19, item 4), on moto: with `rotation_tags`, the secret
// carries when its AWSCURRENT version was written and by which rotation; the label protocol is unchanged.
import { randomUUID } from 'node:crypto';
import { CreateSecretCommand, DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { awsSecretsManager } from '../activities/stores/aws-secrets-manager';
import { AwsSecretsManagerStore, ROTATION_TAGS } from '../activities/stores/aws-secrets-manager/store';
import { MOTO_REGION, motoClientConfig, secretsManagerClient, versionLabels } from './support/test-stores';
import { testStack } from './support/stack';

const client = secretsManagerClient();
afterAll(() => client.destroy());

function store(rotationTags: boolean): AwsSecretsManagerStore {
  const { credentials, endpoint, region } = motoClientConfig();
  return new AwsSecretsManagerStore({ region, endpoint, ...credentials, rotationTags });
}

async function tagsOf(path: string): Promise<Record<string, string>> {
  const out = await client.send(new DescribeSecretCommand({ SecretId: path }));
  return Object.fromEntries((out.Tags ?? []).filter((t) => t.Key?.startsWith('rotator:')).map((t) => [t.Key!, t.Value!]));
}

async function createdAt(path: string, version: string): Promise<string> {
  const out = await client.send(new GetSecretValueCommand({ SecretId: path, VersionId: version }));
  return out.CreatedDate!.toISOString();
}

async function seeded(name: string): Promise<{ path: string; first: string }> {
  const path = `tags/${name}-${randomUUID().slice(0, 8)}`;
  const first = randomUUID();
  await client.send(
    new CreateSecretCommand({
      Name: path,
      SecretString: JSON.stringify({ username: 'app', password: 'first-password' }),
      ClientRequestToken: first,
    }),
  );
  return { path, first };
}

async function rotateOnce(s: AwsSecretsManagerStore, path: string, base: string, password: string): Promise<string> {
  const rotationId = randomUUID();
  await s.stagePending(path, rotationId, { username: 'app', password }, base);
  await s.promote(path, rotationId, base);
  return rotationId;
}

test('rotation_tags is off unless the provider asks for it', () => {
  const base = { type: 'aws-secrets-manager', region: MOTO_REGION };
  expect(awsSecretsManager.schema.parse(base).rotation_tags).toBe(false);
  expect(awsSecretsManager.schema.parse({ ...base, rotation_tags: true }).rotation_tags).toBe(true);
  expect(() => awsSecretsManager.schema.parse({ ...base, rotation_tags: 'yes' })).toThrow(/rotation_tags/);
});

test('a promote tags the secret with when its new AWSCURRENT was written and by which rotation; labels as AWS has them', async () => {
  const s = store(true);
  const { path, first } = await seeded('promote');
  const rotationId = await rotateOnce(s, path, first, 'second-password');
  expect(await tagsOf(path)).toEqual({
    [ROTATION_TAGS.managed]: 'true',
    [ROTATION_TAGS.lastRotated]: await createdAt(path, rotationId),
    [ROTATION_TAGS.rotatedBy]: rotationId,
  });
  // The claim stays until the rotation ends; AWS's protocol otherwise: AWSCURRENT new, AWSPREVIOUS the old one.
  expect(await versionLabels(client, path)).toMatchObject({
    [rotationId]: expect.arrayContaining(['AWSCURRENT', 'AWSPENDING']),
    [first]: ['AWSPREVIOUS'],
  });
  // A retried promote writes the same tags.
  const before = await tagsOf(path);
  await s.promote(path, rotationId, first);
  expect(await tagsOf(path)).toEqual(before);
  await s.discardPending(path, rotationId);
  expect(await versionLabels(client, path)).toMatchObject({ [rotationId]: ['AWSCURRENT'], [first]: ['AWSPREVIOUS'] });
  await s.close();
});

test('a rollback tags the secret with the version current again, naming no rotation', async () => {
  const s = store(true);
  const { path, first } = await seeded('rollback');
  const one = await rotateOnce(s, path, first, 'second-password');
  await s.discardPending(path, one);
  const two = await rotateOnce(s, path, one, 'third-password');
  expect((await tagsOf(path))[ROTATION_TAGS.rotatedBy]).toBe(two);
  await s.rollback(path, two, { toVersion: one, fromVersion: two });
  expect(await tagsOf(path)).toEqual({
    [ROTATION_TAGS.managed]: 'true',
    [ROTATION_TAGS.lastRotated]: await createdAt(path, one),
  });
  expect((await versionLabels(client, path))[one]).toContain('AWSCURRENT');
  await s.close();
});

test("without rotation_tags nothing is tagged, and Secrets Manager's own rotation fields stay unset either way", async () => {
  const s = store(false);
  const { path, first } = await seeded('off');
  await rotateOnce(s, path, first, 'second-password');
  expect(await tagsOf(path)).toEqual({});
  // What AWS Config's and Security Hub's rotation checks read is not something an outside rotator can set.
  const tagged = await seeded('on');
  await rotateOnce(store(true), tagged.path, tagged.first, 'second-password');
  for (const p of [path, tagged.path]) {
    const out = await client.send(new DescribeSecretCommand({ SecretId: p }));
    expect(out.RotationEnabled ?? false).toBe(false);
    expect(out.LastRotatedDate).toBeUndefined();
  }
  expect(testStack().moto).toBeDefined();
  await s.close();
});
