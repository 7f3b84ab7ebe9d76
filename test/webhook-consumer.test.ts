// The webhook and alert consumers against a real HTTP receiver, with their signing key in a real file store.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConsumerRegistry, ProviderRegistry } from '../activities/registry';
import { parseConfig } from '../src/config/load';
import type { Config, ConsumerConfig } from '../src/config/schema';
import { isRetryable, RotatorError } from '../src/kernel/errors';
import { logger } from '../src/kernel/log';
import { checkPlan, planRotation } from '../src/config/plan';
import { toFailure } from '../src/kernel/redact';
import { everythingIn, expectNoSecretIn, rejectionWithout } from './contract/no-secret';
import { configError } from './support/config';
import { fileTestStore, type FileTestStore } from './support/test-stores';
import { thrown } from './support/thrown';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

interface Receiver {
  /** Where the receiver listens, with a path that stands for a token some webhook URLs carry. */
  url: string;
  origin: string;
  requests: Received[];
  close(): Promise<void>;
}

const PATH_TOKEN = 'hooks/T0PSECRETPATHTOKEN';

/** A real HTTP server on 127.0.0.1 that answers the n-th request (from 0) with `status(n)` and records every one. */
async function receiver(status: (n: number) => number, answer = 'no'): Promise<Receiver> {
  const requests: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }) - 1;
      res.writeHead(status(n), { 'Content-Type': 'text/plain' }).end(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/${PATH_TOKEN}`,
    origin,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** What a receiver does with the documented format: HMAC-SHA256 over "<timestamp>.<raw body>", compared in constant time. */
function verifies(request: Received, key: string): boolean {
  const timestamp = String(request.headers['x-rotator-timestamp']);
  const expected = Buffer.from(`v1=${createHmac('sha256', key).update(`${timestamp}.${request.body}`).digest('hex')}`);
  const got = Buffer.from(String(request.headers['x-rotator-signature']));
  return got.length === expected.length && timingSafeEqual(got, expected);
}

const KEY = `whsec-${randomBytes(16).toString('hex')}`;
const PASSWORD = `pw-${randomBytes(16).toString('hex')}`;
const ADMIN_PASSWORD = `admin-${randomBytes(16).toString('hex')}`;

let store: FileTestStore;

beforeAll(async () => {
  store = fileTestStore();
  await store.write('hooks', { signing_key: KEY });
  await store.write('admin', { username: 'default', password: ADMIN_PASSWORD, host: '127.0.0.1', port: 6379 });
  await store.write('db', { username: 'app', password: PASSWORD });
});

afterAll(() => store.remove());

/** A config whose secret `db` has the given consumers (YAML flow mappings, one per line). */
function yaml(consumers: string[]): string {
  return [
    'providers:',
    '  files:',
    ...store.providerYaml,
    'secrets:',
    `  admin: { provider: files, path: ${store.configPath('admin')} }`,
    `  hooks: { provider: files, path: ${store.configPath('hooks')} }`,
    '  db:',
    '    provider: files',
    `    path: ${store.configPath('db')}`,
    '    target: { type: redis, connection: secret://admin, user: app }',
    '    rotation: { strategy: dual-password }',
    '    consumers:',
    ...consumers.map((c) => `      - ${c}`),
    '',
  ].join('\n');
}

/** A webhook or alert block with short waits; `more` adds or overrides fields (`, attempts: 3`). */
const hook = (type: string, url: string, more = '') =>
  `{ type: ${type}, url: "${url}", signing_key: secret://hooks/signing_key, backoff: 1ms` +
  `${more.includes('timeout:') ? '' : ', timeout: 2s'}${more} }`;

/** The consumer the worker would make from the plan of `db`, reading its key from the file store. */
async function planned(consumer: string): Promise<{ config: Config; consumer: ConsumerConfig; registry: ConsumerRegistry }> {
  const config = parseConfig(yaml([consumer]), {});
  const plan = checkPlan(planRotation(config, 'db'));
  return {
    config,
    consumer: plan.consumers![0],
    registry: new ConsumerRegistry({ providers: new ProviderRegistry(config.providers) }),
  };
}

const event = { secret: 'db', version: '7', username: 'app_b', rotationId: 'rot-1' };

describe('webhook consumer', () => {
  let open: Receiver[] = [];
  const listen = async (status: (n: number) => number, answer?: string) => {
    const r = await receiver(status, answer);
    open.push(r);
    return r;
  };
  afterEach(async () => {
    await Promise.all(open.map((r) => r.close()));
    open = [];
    jest.restoreAllMocks();
  });

  it('puts where the signing key is into the plan, never the key, and the worker re-checks that plan', () => {
    const config = parseConfig(yaml([hook('webhook', 'https://hooks.example.com/x')]), {});
    const plan = planRotation(config, 'db');
    expect(plan.consumers).toEqual([
      {
        type: 'webhook',
        url: 'https://hooks.example.com/x',
        signing_key: { provider: 'files', path: store.configPath('hooks'), key: 'signing_key' },
        timeout: '2s',
        attempts: 4,
        backoff: '1ms',
      },
    ]);
    expect(JSON.stringify(plan)).not.toContain(KEY);
    expect(() => checkPlan(plan)).not.toThrow();
    const defaults = parseConfig(yaml(['{ type: webhook, url: "https://h.example.com", signing_key: secret://hooks/k }']), {});
    expect(planRotation(defaults, 'db').consumers![0]).toMatchObject({ timeout: '5s', attempts: 4, backoff: '500ms' });
  });

  it('signs each event so that a receiver holding the key verifies it and one holding another key does not', async () => {
    const r = await listen(() => 200);
    const { consumer, registry } = await planned(hook('webhook', r.url));
    await (await registry.consumer(consumer)).notify(event);
    expect(r.requests).toHaveLength(1);
    const [request] = r.requests;
    expect(verifies(request, KEY)).toBe(true);
    expect(verifies(request, `${KEY}x`)).toBe(false);
    expect(verifies({ ...request, body: request.body.replace('"7"', '"8"') }, KEY)).toBe(false);
    const body = JSON.parse(request.body) as Record<string, unknown>;
    expect(body).toEqual({
      id: expect.stringMatching(/^evt_[0-9a-f]{32}$/),
      type: 'rotator.credential.rotated',
      secret: 'db',
      version: '7',
      login: 'app_b',
      rotation_id: 'rot-1',
      time: expect.any(String),
    });
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['x-rotator-event-id']).toBe(body.id);
    expect(String(request.headers['x-rotator-timestamp'])).toMatch(/^\d{10}$/);
    // References only: neither the rotated password, the admin's, nor the signing key travels.
    expectNoSecretIn(r.requests, [PASSWORD, ADMIN_PASSWORD, KEY]);
  });

  it('gives every retry and re-run of one (rotation, version) the same event id, and another version another', async () => {
    const r = await listen(() => 200);
    const { consumer, registry } = await planned(hook('webhook', r.url));
    const webhook = await registry.consumer(consumer);
    await webhook.notify(event);
    await webhook.notify(event);
    await webhook.notify({ ...event, version: '8' });
    const ids = r.requests.map((q) => q.headers['x-rotator-event-id']);
    expect(ids[0]).toBe(ids[1]);
    expect(ids[2]).not.toBe(ids[0]);
  });

  it('retries after 500s and stops at the first 200', async () => {
    const r = await listen((n) => (n < 2 ? 500 : 200));
    const { consumer, registry } = await planned(hook('webhook', r.url));
    await expect((await registry.consumer(consumer)).notify(event)).resolves.toBeUndefined();
    expect(r.requests).toHaveLength(3);
    expect(new Set(r.requests.map((q) => q.headers['x-rotator-event-id'])).size).toBe(1);
    for (const q of r.requests) expect(verifies(q, KEY)).toBe(true);
  });

  it('fails the phase with CONSUMER_FAILED, not retried by Temporal, after exactly `attempts` refused requests', async () => {
    const r = await listen(() => 500, `boom ${KEY} ${'x'.repeat(10_000)}`);
    const { consumer, registry } = await planned(hook('webhook', r.url, ', attempts: 3'));
    const err = await rejectionWithout(
      [KEY, PASSWORD, PATH_TOKEN],
      (await registry.consumer(consumer)).notify(event),
      'CONSUMER_FAILED',
    );
    expect(r.requests).toHaveLength(3);
    expect(err.message).toContain(r.origin);
    expect(err.message).toContain('HTTP 500');
    expect(err.message).toContain('3 attempts');
    // The receiver's answer is quoted short, and a key it echoes is scrubbed.
    expect(err.message).toContain('[REDACTED]');
    expect(err.message.length).toBeLessThan(400);
    expect(isRetryable(err.code)).toBe(false);
    expect(toFailure(err).nonRetryable).toBe(true);
  });

  it('counts a receiver that is not there as a failure too, naming the kind of error', async () => {
    const r = await listen(() => 200);
    await r.close();
    open = [];
    const { consumer, registry } = await planned(hook('webhook', r.url, ', attempts: 2'));
    const err = await rejectionWithout([KEY], (await registry.consumer(consumer)).notify(event), 'CONSUMER_FAILED');
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.message).not.toContain(PATH_TOKEN);
  });

  it('reads the signing key each time it sends, so a rotated key signs the next event', async () => {
    const r = await listen(() => 200);
    const { consumer, registry } = await planned(hook('webhook', r.url));
    const webhook = await registry.consumer(consumer);
    await webhook.notify(event);
    const next = `${KEY}-next`;
    await store.write('hooks', { signing_key: next });
    try {
      await webhook.notify(event);
    } finally {
      await store.write('hooks', { signing_key: KEY });
    }
    expect(verifies(r.requests[0], KEY)).toBe(true);
    expect(verifies(r.requests[1], next)).toBe(true);
  });

  it('fails NOT_FOUND naming the reference, not a value, when the key field is missing', async () => {
    const r = await listen(() => 200);
    const { consumer, registry } = await planned(
      `{ type: webhook, url: "${r.url}", signing_key: secret://admin/signing_key, backoff: 1ms }`,
    );
    const err = await rejectionWithout([ADMIN_PASSWORD], (await registry.consumer(consumer)).notify(event), 'NOT_FOUND');
    expect(err.message).toContain(`files:${store.configPath('admin')}`);
    expect(err.message).toContain('signing_key');
    expect(r.requests).toHaveLength(0);
  });

  it("resolves a config's own block (a lease keeper's, which has no plan) from the worker's secrets", async () => {
    const r = await listen(() => 200);
    const config = parseConfig(yaml([hook('webhook', r.url)]), {});
    const registry = new ConsumerRegistry({ providers: new ProviderRegistry(config.providers), secrets: config.secrets });
    await (await registry.consumer(config.secrets.db.consumers[0])).notify(event);
    expect(verifies(r.requests[0], KEY)).toBe(true);
  });
});

describe('log consumer', () => {
  it('still notifies through the registry, which now hands every consumer its context', async () => {
    const info = jest.spyOn(logger, 'info').mockImplementation(() => undefined);
    try {
      const config = parseConfig(yaml(['{ type: log }']), {});
      const registry = new ConsumerRegistry({ providers: new ProviderRegistry(config.providers), secrets: config.secrets });
      await (await registry.consumer(checkPlan(planRotation(config, 'db')).consumers![0])).notify(event);
      expect(info).toHaveBeenCalledWith({ secret: 'db', version: '7', username: 'app_b' }, 'credential rotated');
    } finally {
      jest.restoreAllMocks();
    }
  });
});

describe('alert consumer', () => {
  it('sends the same signed request as an alert, and only logs when the receiver keeps refusing', async () => {
    const r = await receiver(() => 500);
    try {
      const warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
      const { consumer, registry } = await planned(hook('alert', r.url, ', attempts: 2'));
      await expect((await registry.consumer(consumer)).notify(event)).resolves.toBeUndefined();
      expect(r.requests).toHaveLength(2);
      expect(verifies(r.requests[0], KEY)).toBe(true);
      expect(JSON.parse(r.requests[0].body)).toMatchObject({ type: 'rotator.credential.alert', secret: 'db', version: '7' });
      expect(warn).toHaveBeenCalledWith(
        expect.objectContaining({ consumer: 'alert', origin: r.origin, secret: 'db', code: 'CONSUMER_FAILED' }),
        'alert not delivered; the rotation goes on',
      );
      expectNoSecretIn(warn.mock.calls, [KEY, PASSWORD, PATH_TOKEN]);
    } finally {
      jest.restoreAllMocks();
      await r.close();
    }
  });
});

describe('webhook config', () => {
  const error = (consumer: string) => configError(yaml([consumer]), {});
  const at = 'secrets.db.consumers.0';

  it('names the field of a bad url, a missing key, attempts out of range and a forbidden header', () => {
    expect(error(hook('webhook', 'ftp://h.example.com'))).toContain(`${at}.url: expected an http(s) URL`);
    expect(error(hook('webhook', 'https://user:pw@h.example.com'))).toContain(`${at}.url: must not carry a user or password`);
    expect(error('{ type: webhook, url: "https://h.example.com" }')).toContain(`${at}.signing_key: missing`);
    expect(error('{ type: alert, url: "https://h.example.com", signing_key: secret://hooks }')).toContain(
      `${at}.signing_key: expected a reference to the field holding the signing key`,
    );
    expect(error(hook('webhook', 'https://h.example.com', ', attempts: 11'))).toContain(`${at}.attempts`);
    expect(error(hook('webhook', 'https://h.example.com', ', attempts: 0'))).toContain(`${at}.attempts`);
    for (const header of ['X-Rotator-Signature', 'content-type', 'Authorization'])
      expect(error(hook('webhook', 'https://h.example.com', `, headers: { ${header}: v }`))).toContain(`${at}.headers.${header}`);
    expect(() =>
      parseConfig(yaml([hook('webhook', 'https://h.example.com', ', headers: { X-Team: orders }')]), {}),
    ).not.toThrow();
  });

  it('refuses attempts that could outlast the notify step, naming the field and the total', () => {
    // 3 × 10s + 1ms + 2ms waits: over the 25s budget.
    const message = error(hook('webhook', 'https://h.example.com', ', timeout: 10s, attempts: 3'));
    expect(message).toContain(`${at}.timeout: attempts × timeout plus the waits between them come to 30.003s, over the 25s`);
    // Each fits alone; together they would not.
    const two = parseConfig(
      yaml([
        hook('webhook', 'https://a.example.com', ', timeout: 6s, attempts: 3'),
        hook('alert', 'https://b.example.com', ', timeout: 6s, attempts: 3'),
      ]),
      {},
    );
    const err = (() => {
      try {
        planRotation(two, 'db');
      } catch (e) {
        return e as RotatorError;
      }
      throw new Error('expected planRotation to refuse');
    })();
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain('secrets.db.consumers: all attempts of these consumers together may take 36.006s');
  });

  it('names the signing_key field when its reference names no known secret', async () => {
    const config = parseConfig(yaml(['{ type: webhook, url: "https://h.example.com", signing_key: secret://nope/k }']), {});
    const err = await thrown(Promise.resolve().then(() => planRotation(config, 'db')));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain(`${at}.signing_key`);
    expect(everythingIn(err)).not.toContain(KEY);
  });
});
