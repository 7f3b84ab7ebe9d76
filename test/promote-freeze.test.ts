// Issue 20, item 4, as a whole rotation: the test's own OpenBao freezes (SIGSTOP) while promote's publish is in
// flight, for longer than the request timeout, then resumes. The attempt ends at its request timeout, the abandoned
// publish lands when OpenBao resumes, and the retry recognises it as its own: the rotation succeeds instead of
// rolling back as "the secret changed while rotating". Real Temporal, worker and PostgreSQL from the shared stack.
import vault from 'node-vault';
import { VaultKvStore } from '../activities/stores/vault/store';
import type { SecretValue } from '../activities/types';
import { followRotation, startRotation } from '../src/client/rotations';
import { startLocalStack, type LocalStack } from '../src/stack/local-stack';
import { freeze, thaw, vaultPid } from './support/freeze';
import { canLogin, startHarness, type Harness } from './support/harness';
import { vaultProviderYaml } from './support/rotator-config';
import type { TestStore } from './support/test-stores';

jest.setTimeout(120_000);

let stack: LocalStack;
let h: Harness;
let client: vault.client;

function privateVault(): TestStore {
  const apiPath = (name: string) => `secret/data/test/${name}`;
  return {
    providerYaml: vaultProviderYaml(stack.vault!.address, 'PRIVATE_VAULT_TOKEN'),
    env: { PRIVATE_VAULT_TOKEN: stack.vault!.token },
    configPath: apiPath,
    async write(name, value) {
      await client.write(apiPath(name), { data: value });
    },
    async readCurrent(name) {
      try {
        const body = await client.read(apiPath(name));
        return { version: String(body.data.metadata.version), value: body.data.data as SecretValue };
      } catch (err) {
        if ((err as { response?: { statusCode?: number } }).response?.statusCode === 404) return null;
        throw err;
      }
    },
  };
}

beforeAll(async () => {
  stack = await startLocalStack({ services: ['vault'] });
  client = vault({ apiVersion: 'v1', endpoint: stack.vault!.address, token: stack.vault!.token });
  h = await startHarness([{}], { store: privateVault() });
});
afterAll(async () => {
  await h?.close();
  await stack?.stop();
});

it('a promote frozen past its request timeout ends succeeded once OpenBao resumes, not rolled back', async () => {
  const pid = vaultPid(stack.vault!.address);
  const { name } = h.secrets[0]!;
  const dataPath = `secret/data/test/${name}`;
  // Freeze OpenBao just as the worker's first publish of this secret leaves, and let it resume once that request has
  // ended on the worker's side: a freeze longer than the request timeout, whatever the machine's speed.
  const proto = VaultKvStore.prototype as unknown as { post(apiPath: string, body: unknown, action: string): Promise<unknown> };
  const post = proto.post;
  let frozeFor: string | null = null;
  proto.post = async function (this: VaultKvStore, apiPath, body, action) {
    const publish = apiPath === dataPath && (body as { options?: { cas?: number } }).options?.cas !== undefined;
    if (!publish || frozeFor !== null) return post.call(this, apiPath, body, action);
    frozeFor = action;
    freeze([pid]);
    try {
      return await post.call(this, apiPath, body, action);
    } catch (err) {
      frozeFor = `${action}: ${(err as Error).message}`;
      throw err;
    } finally {
      thaw([pid]);
    }
  };
  try {
    const { handle } = await startRotation(h.client, h.taskQueue, h.plan(name));
    const { ok, status } = await followRotation(handle);
    expect(frozeFor).toMatch(new RegExp(`^publish ${dataPath}: vault at .* did not answer within 10s`));
    expect(status).toMatchObject({ outcome: 'succeeded', error: null });
    expect(ok).toBe(true);
    const current = await privateVault().readCurrent(name);
    expect(current?.version).toBe(status.version);
    expect(await canLogin(String(current!.value.username), String(current!.value.password))).toBe(true);
  } finally {
    proto.post = post;
    thaw([pid]);
  }
});
