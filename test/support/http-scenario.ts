// Secrets whose API key an `http` target rotates through the example API-key service (examples/api-key-service),
// kept in Vault beside the hook's signing key, and the checks that tell whether a finished rotation left the store
// and the service agreeing with each other and with its outcome.
import { randomBytes } from 'node:crypto';
import type { SecretValue } from '../../activities/types';
import { parseConfig } from '../../src/config/load';
import { planRotation, type RotationPlan } from '../../src/config/plan';
import type { RotationStatus } from '../../workflows/definitions';
import { startApiKeyService, type ApiKeyService } from '../../examples/api-key-service/service';
import { readStore, unique } from './harness';
import { rotatorYaml } from './rotator-config';
import { testStack } from './stack';
import { vaultTestStore } from './test-stores';

/** Whether the example's protected resource accepts the key: what an application holding it would see. */
export async function resourceAccepts(service: ApiKeyService, key: string): Promise<boolean> {
  const res = await fetch(service.resourceUrl, { headers: { Authorization: `Bearer ${key}` } });
  await res.body?.cancel();
  return res.status === 200;
}

export interface HttpSecret {
  name: string;
  account: string;
  plan: RotationPlan;
  /** The store's current value (key_id, api_key, and the operator's note). */
  current(): Promise<{ version: string; value: SecretValue }>;
  /**
   * Everything wrong with the end state after a rotation that started from `before`: empty when the store and the
   * service agree with each other and with the outcome (succeeded: only the new key active, and it is the stored one;
   * rolled back: only the old key active and stored; no pending value; no key in the status).
   */
  problems(status: RotationStatus, before: { version: string; value: SecretValue }): Promise<string[]>;
}

export interface HttpScenario {
  service: ApiKeyService;
  /** The key the hook and rotator sign with (the admin secret's signing_key). */
  signingKey: string;
  yaml: string;
  env: Record<string, string>;
  secrets: HttpSecret[];
  close(): Promise<void>;
}

/**
 * The example service with `count` accounts, each holding one key issued outside rotator and stored in Vault (with a
 * field the operator keeps), and a config rotating each through the service's hook on `taskQueue`. `service` (with
 * its `signingKey`): one a test shares between scenarios, left running by close().
 */
export async function httpScenario(
  taskQueue: string,
  count: number,
  options: { target?: string[]; rotation?: string[]; service?: ApiKeyService; signingKey?: string } = {},
): Promise<HttpScenario> {
  const store = vaultTestStore();
  // A shared service comes with the key it checks signatures with.
  const signingKey = options.signingKey ?? randomBytes(32).toString('base64url');
  const service = options.service ?? (await startApiKeyService({ signingKey }));
  const adminName = unique('hook_keys');
  await store.write(adminName, { signing_key: signingKey });
  const entries: Array<{ name: string; account: string }> = [];
  for (let i = 0; i < count; i++) {
    const name = unique('api_key');
    const account = unique('acct');
    const first = service.issue(account);
    await store.write(name, { key_id: first.id, api_key: first.secret, note: 'kept by the operator' });
    entries.push({ name, account });
  }
  const yaml = rotatorYaml({
    temporalAddress: testStack().temporal!.address,
    taskQueue,
    provider: { name: 'vault', yaml: store.providerYaml },
    admin: { name: 'hook_keys', path: store.configPath(adminName) },
    secrets: entries.map((e) => ({
      name: e.name,
      path: store.configPath(e.name),
      type: 'http',
      target: [`url: "${service.hookUrl}"`, `account: ${e.account}`, 'timeout: 2s', 'backoff: 100ms', ...(options.target ?? [])],
      rotation: options.rotation ?? ['grace_period: 0s'],
    })),
  });
  const config = parseConfig(yaml, store.env, 'http-scenario.yaml');

  const secrets = entries.map(({ name, account }): HttpSecret => {
    const current = async () => (await store.readCurrent(name))!;
    return {
      name,
      account,
      plan: planRotation(config, name),
      current,
      async problems(status, before) {
        const problems: string[] = [];
        const now = await current();
        const active = service.keys(account).filter((k) => k.active);
        const old = { id: String(before.value.key_id), secret: String(before.value.api_key) };
        const stored = { id: String(now.value.key_id), secret: String(now.value.api_key) };
        if (now.value.note !== 'kept by the operator') problems.push('the operator’s field was not kept');
        if (status.outcome === 'succeeded') {
          if (stored.id === old.id) problems.push('the store still holds the old key');
          if (await resourceAccepts(service, old.secret)) problems.push('the old key is still accepted');
        } else {
          if (stored.id !== old.id || stored.secret !== old.secret)
            problems.push(`the store holds ${stored.id}, not the old key`);
        }
        if (!(await resourceAccepts(service, stored.secret))) problems.push(`the stored key ${stored.id} is refused`);
        const ids = active.map((k) => k.id);
        if (ids.length !== 1 || ids[0] !== stored.id) problems.push(`active keys [${ids.join(', ')}], expected [${stored.id}]`);
        if (await readStore(`rotator-pending/test/${name}`)) problems.push('a pending value is left in the store');
        const shown = JSON.stringify(status);
        if (shown.includes(stored.secret) || shown.includes(old.secret)) problems.push('the status holds a key');
        return problems;
      },
    };
  });

  return {
    service,
    signingKey,
    yaml,
    env: store.env,
    secrets,
    close: () => (options.service ? Promise.resolve() : service.close()),
  };
}
