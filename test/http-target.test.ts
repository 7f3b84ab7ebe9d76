// The `http` target against the example API-key service (examples/api-key-service), a real HTTP server on loopback:
// the issuing-target contract, then the hook protocol's edges through a real proxy that misbehaves on request
// (retries, lost answers, timeouts, unsigned or oversized answers, echoed secrets).
import { randomBytes, randomUUID } from 'node:crypto';
import { startApiKeyService, type ApiKeyService } from '../examples/api-key-service/service';
import { HttpTarget } from '../activities/targets/http/target';
import type { HookSettings } from '../activities/targets/http/hook';
import type { IssuedCredential } from '../activities/targets/http/seam-types';
import { describeIssuingTargetContract } from './contract/issuing-target-contract';
import { expectNoSecretIn } from './contract/no-secret';
import { startHookProxy, type HookProxy } from './support/hook-proxy';
import { thrown } from './support/thrown';

const signingKey = () => randomBytes(32).toString('base64url');

/** Whether the example's protected resource accepts the key: what an application holding it would see. */
export async function resourceAccepts(service: ApiKeyService, key: string): Promise<boolean> {
  const res = await fetch(service.resourceUrl, { headers: { Authorization: `Bearer ${key}` } });
  await res.body?.cancel();
  return res.status === 200;
}

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
