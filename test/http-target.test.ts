// The `http` target against the example API-key service (examples/api-key-service), a real HTTP server on loopback:
// the issuing-target contract, then the hook protocol's edges through a real proxy that misbehaves on request
// (retries, lost answers, timeouts, unsigned or oversized answers, echoed secrets).
import { randomBytes, randomUUID } from 'node:crypto';
import { startApiKeyService, type ApiKeyService } from '../examples/api-key-service/service';
import { HttpTarget } from '../activities/targets/http/target';
import type { HookSettings } from '../activities/targets/http/hook';
import type { IssuedCredential } from '../activities/types';
import { describeIssuingTargetContract } from './contract/issuing-target-contract';
import { expectNoSecretIn } from './contract/no-secret';
import { preflight } from '../src/client/preflight';
import { followRotation, startRotation } from '../src/client/rotations';
import { parseConfig } from '../src/config/load';
import { unique, untilPhase } from './support/harness';
import { startHookProxy, type HookProxy } from './support/hook-proxy';
import { httpScenario, resourceAccepts, type HttpScenario } from './support/http-scenario';
import { startRotator, type Rotator } from './support/rotator';
import { thrown } from './support/thrown';

const signingKey = () => randomBytes(32).toString('base64url');

const settings = (url: string, over: Partial<HookSettings> = {}): HookSettings => ({
  url,
  account: `acct-${randomUUID().slice(0, 8)}`,
  timeoutMs: 2_000,
  attempts: 3,
  backoffMs: 50,
  signedAnswers: true,
  ...over,
});

describeIssuingTargetContract('http', async () => {
  const key = signingKey();
  const service = await startApiKeyService({ signingKey: key });
  const hook = settings(service.hookUrl);
  return {
    target: new HttpTarget(hook, key),
    works: (c) => resourceAccepts(service, c.secret),
    existing: async () => service.issue(hook.account!),
    adminSecrets: [key],
    maxLive: 2,
    cleanup: () => service.close(),
  };
});

describe('the http target’s hook protocol, through a proxy that misbehaves', () => {
  let key: string;
  let service: ApiKeyService;
  let proxy: HookProxy;
  const made: string[] = [];
  beforeAll(async () => {
    key = signingKey();
    service = await startApiKeyService({ signingKey: key });
    proxy = await startHookProxy(service.hookUrl, key);
  });
  afterAll(async () => {
    await proxy?.close();
    await service?.close();
  });

  const target = (over: Partial<HookSettings> = {}) => new HttpTarget(settings(proxy.url, over), key);
  const issue = async (t: HttpTarget, rotationId = randomUUID()): Promise<IssuedCredential> => {
    const c = await t.issue({ rotationId, startedAt: Date.now(), current: null, value: null });
    made.push(c.secret);
    return c;
  };

  it('retries a 503 within the step and succeeds; the idempotency key keeps it at one key', async () => {
    const t = target();
    const before = proxy.seen.create ?? 0;
    proxy.inject('create', 'status-503');
    proxy.inject('create', 'status-503');
    const c = await issue(t);
    expect((proxy.seen.create ?? 0) - before).toBe(3);
    expect(await resourceAccepts(service, c.secret)).toBe(true);
  });

  it('returns the same key when create’s answer was lost after the service made it (a retried create)', async () => {
    const hook = settings(proxy.url);
    const t = new HttpTarget(hook, key);
    proxy.inject('create', 'lose-answer');
    const c = await issue(t);
    const keys = service.keys(hook.account);
    expect(keys.map((k) => k.id)).toEqual([c.id]);
    expect(await resourceAccepts(service, c.secret)).toBe(true);
  });

  it('gives up after its attempts with TRANSIENT naming the step, the origin and the status', async () => {
    const t = target({ attempts: 2 });
    proxy.inject('create', 'status-503');
    proxy.inject('create', 'status-503');
    const err = await thrown(issue(t));
    expect(err.code).toBe('TRANSIENT');
    expect(err.message).toContain(`http target ${new URL(proxy.url).origin}: create answered HTTP 503`);
    expect(err.message).toContain('2 attempts');
  });

  it('times an attempt out and says so, naming the step', async () => {
    const t = target({ attempts: 1, timeoutMs: 300 });
    proxy.inject('ping', 'hang');
    const err = await thrown(t.ping());
    expect(err.code).toBe('TRANSIENT');
    expect(err.message).toMatch(/ping no answer within 300ms/);
  });

  it('refuses an answer without the hook’s signature, and one over the size bound', async () => {
    const t = target();
    proxy.inject('list', 'unsigned');
    const unsigned = await thrown(t.list());
    expect(unsigned.code).toBe('UNSUPPORTED');
    expect(unsigned.message).toContain('list answered HTTP 200 without a valid X-Rotator-Signature');
    proxy.inject('list', 'oversize');
    const big = await thrown(t.list());
    expect(big.message).toContain('list answered HTTP 200 with a body over 65536 bytes');
  });

  it('refuses an answer outside the protocol, naming the missing field', async () => {
    const t = target();
    proxy.inject('create', 'off-protocol');
    const err = await thrown(issue(t));
    expect(err.code).toBe('UNSUPPORTED');
    expect(err.message).toMatch(/create answered HTTP 200 with a body outside the hook protocol: id: .*; secret: /);
  });

  it('scrubs a key the hook echoes into its error from rotator’s error', async () => {
    const t = target({ attempts: 1 });
    const c = await issue(t);
    proxy.inject('verify', 'echo-500');
    const err = await thrown(t.verify(c));
    expect(err.message).toContain('verify answered HTTP 500');
    expect(err.message).toContain('[REDACTED]');
    expectNoSecretIn(err, [c.secret, key]);
  });

  it('says PERMISSION_DENIED when the hook refuses rotator’s signature (another key)', async () => {
    const other = new HttpTarget(settings(service.hookUrl), signingKey());
    const err = await thrown(other.ping());
    expect(err.code).toBe('PERMISSION_DENIED');
    expect(err.message).toMatch(/ping answered HTTP 401 .*signing key the same on both sides/);
  });

  it('fails verify with VERIFY_FAILED and the hook’s reason when the service refuses the key', async () => {
    const t = target();
    const c = await issue(t);
    service.refuseVerify = true;
    try {
      const err = await thrown(t.verify(c));
      expect(err.code).toBe('VERIFY_FAILED');
      expect(err.message).toContain(`verify refused key ${c.id}: "verification is switched off for this demo"`);
      expectNoSecretIn(err, [...made, key]);
    } finally {
      service.refuseVerify = false;
    }
  });

  it('answers plan’s ping and list: the account’s active keys', async () => {
    const t = target();
    await t.ping();
    const c = await issue(t);
    await expect(t.list()).resolves.toEqual({ keys: [expect.objectContaining({ id: c.id })], max_active: 2 });
  });
});

describe('rotations through the example service’s hook, with a real rotator worker', () => {
  let scenario: HttpScenario;
  let rotator: Rotator;
  let taskQueue: string;
  beforeAll(async () => {
    taskQueue = unique('tq');
    // reconnect.wait gives the rollback test a moment between publish and verify, found by polling the phase.
    scenario = await httpScenario(taskQueue, 2, { rotation: ['grace_period: 0s', 'reconnect: { wait: 1s }'] });
    rotator = await startRotator(scenario.yaml, scenario.env);
  });
  afterAll(async () => {
    await rotator?.close();
    await scenario?.close();
  });

  it('rotates the key: the new one reaches the protected resource, the old one is refused after revoke', async () => {
    const secret = scenario.secrets[0]!;
    const before = await secret.current();
    const old = String(before.value.api_key);
    expect(await resourceAccepts(scenario.service, old)).toBe(true);
    const { handle } = await startRotation(rotator.client, taskQueue, secret.plan);
    const { ok, status } = await followRotation(handle);
    expect(status.error).toBeNull();
    expect(ok).toBe(true);
    expect(status.phases.map((p) => p.name)).toEqual(['create', 'publish', 'reconnect', 'verify', 'revoke']);

    const after = await secret.current();
    const fresh = String(after.value.api_key);
    expect(after.value.key_id).not.toBe(before.value.key_id);
    expect(await resourceAccepts(scenario.service, fresh)).toBe(true);
    expect(await resourceAccepts(scenario.service, old)).toBe(false);
    expect(await secret.problems(status, before)).toEqual([]);
    // One create reached the hook for this rotation: the key is the one it made, and its answer was used once.
    expect(scenario.service.keys(secret.account).map((k) => [k.id, k.active])).toEqual([
      [before.value.key_id, false],
      [after.value.key_id, true],
    ]);
  });

  it('rolls back after a failed verify: the new key is revoked, the old one still works and is stored', async () => {
    const secret = scenario.secrets[1]!;
    const before = await secret.current();
    const { handle } = await startRotation(rotator.client, taskQueue, secret.plan);
    await untilPhase(handle, 'reconnect');
    scenario.service.refuseVerify = true;
    let outcome;
    try {
      outcome = await followRotation(handle);
    } finally {
      scenario.service.refuseVerify = false;
    }
    const { ok, status } = outcome;
    expect(ok).toBe(false);
    expect(status).toMatchObject({ outcome: 'rolled-back', error: { code: 'VERIFY_FAILED' } });
    expect(status.error?.message).toMatch(/http target http:\/\/127\.0\.0\.1:\d+: verify refused key key_[0-9a-f]+/);
    const keys = scenario.service.keys(secret.account);
    expect(keys).toHaveLength(2);
    const made = keys.find((k) => k.id !== before.value.key_id)!;
    expect(made.active).toBe(false);
    expect(await resourceAccepts(scenario.service, String(before.value.api_key))).toBe(true);
    expect(await secret.problems(status, before)).toEqual([]);
  });
});

describe('rotator plan for an http target: the hook’s optional ping and list give its ✓ and ✗', () => {
  let scenario: HttpScenario;
  beforeAll(async () => {
    scenario = await httpScenario(unique('tq'), 1);
  });
  afterAll(() => scenario?.close());

  const planOf = async (yaml = scenario.yaml) => {
    const report = await preflight(parseConfig(yaml, scenario.env), scenario.secrets[0]!.name);
    return { ...report, hook: report.checks.filter((c) => /^(signing key|hook )/.test(c.check)) };
  };

  it('✓ the signing key, the hook answering signed, and room for the new key', async () => {
    const report = await planOf();
    expect(report.hook.map((c) => [c.check.replace(/http:\/\/[^ :]+:\d+/, 'URL'), c.status])).toEqual([
      ['signing key', 'ok'],
      ["hook URL: answers and accepts rotator's signature", 'ok'],
      [`hook URL: room for a new key (account ${scenario.secrets[0]!.account})`, 'ok'],
    ]);
    // plan scrubs every stored string but username, host, port, dbname and engine: the stored key's id too.
    expect(report.hook[2]!.detail).toBe('1 active key ([REDACTED]), at most 2');
    expect(report.ok).toBe(true);
  });

  it('✗ with its fix when the account already holds the two keys the service allows', async () => {
    const extra = scenario.service.issue(scenario.secrets[0]!.account);
    try {
      const report = await planOf();
      const room = report.hook.find((c) => c.check.includes('room for a new key'))!;
      expect(room).toMatchObject({ status: 'fail', fix: 'revoke the active key that the store does not hold, then plan again' });
      expect(room.detail).toContain(extra.id);
      expect(report.ok).toBe(false);
      expect(JSON.stringify(report)).not.toContain(extra.secret);
    } finally {
      await new HttpTarget(
        settings(scenario.service.hookUrl, { account: scenario.secrets[0]!.account }),
        scenario.signingKey,
      ).withdraw({ id: extra.id, secret: extra.secret });
    }
  });

  it('✗ with its fix when the hook refuses rotator’s signature, and ✗ when it cannot be reached', async () => {
    const other = await startApiKeyService({ signingKey: signingKey() });
    try {
      const refused = await planOf(scenario.yaml.replace(scenario.service.hookUrl, other.hookUrl));
      expect(refused.hook.find((c) => c.check.includes('answers'))).toMatchObject({
        status: 'fail',
        detail: expect.stringContaining('ping answered HTTP 401'),
        fix: expect.stringContaining('give the hook the signing key in vault:'),
      });
    } finally {
      await other.close();
    }
    // A port nothing listens on: a service that was there and is gone.
    const gone = await startApiKeyService({ signingKey: signingKey() });
    await gone.close();
    const down = await planOf(scenario.yaml.replace(scenario.service.hookUrl, gone.hookUrl));
    expect(down.hook.find((c) => c.check.includes('answers'))).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('ping no answer (ECONNREFUSED)'),
      fix: 'start the hook, or correct the url',
    });
  });
});
