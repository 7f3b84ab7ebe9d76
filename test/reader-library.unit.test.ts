// The reader library without a server: the real file store in a temporary folder, a test clock, and a real HTTP
// listener for the reconnect signal. The database is stood in for by the `use` callback the library runs (a
// function accepting one password), since these tests are about the order the library tries credentials in; the
// real PostgreSQL version of the same is test/reader-library.test.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signWebhook } from '../src/listener/http-sources';
import type { SecretStore, SecretValue } from '../activities/types';
import { ProviderRegistry } from '../activities/registry';
import { parseConfig } from '../src/config/load';
import type { Config } from '../src/config/schema';
import { createSecretClient, CredentialsRefused, isAuthFailure, type SecretChange, type SecretClient } from '../src/reader';
import { RotatorError } from '../src/kernel/errors';
import { bodilessPost } from './support/bodiless-post';
import { expectContinue } from './support/expect-continue';
import { thrown } from './support/thrown';

const KEY = 'k'.repeat(32);
let dir: string;
let config: Config;
let providers: ProviderRegistry;
let store: SecretStore;
let clock: number;
let open: SecretClient[] = [];

function configFor(extra: string[] = []): Config {
  return parseConfig(
    [
      'providers:',
      '  files: { type: file, dir: "' + dir + '" }',
      'secrets:',
      '  db:',
      '    provider: files',
      '    path: db',
      '    cache: { ttl: 1m }',
      '  uncached:',
      '    provider: files',
      '    path: uncached',
      '  hook:',
      '    provider: files',
      '    path: hook',
      ...extra,
    ].join('\n'),
    {},
  );
}

let rotations = 0;
/** Writes a new current version the way a rotation does: stage, promote, release. */
async function publish(path: string, value: SecretValue): Promise<void> {
  const id = `r${++rotations}`;
  const base = (await store.readCurrent(path))?.version ?? null;
  await store.stagePending(path, id, value, base);
  await store.promote(path, id, base);
  await store.discardPending(path, id);
}

function client(options: Partial<Parameters<typeof createSecretClient>[0]> = {}): SecretClient {
  const log = { info: () => undefined, warn: () => undefined };
  const c = createSecretClient({ config, providers, now: () => clock, signingKey: 'secret://hook/key', log, ...options });
  open.push(c);
  return c;
}

const cred = (password: string): SecretValue => ({ username: 'app', password, host: 'db.internal', port: 5432 });
const refused = () => Object.assign(new Error('password authentication failed'), { code: '28P01' });
/** The stand-in database: accepts exactly `password`, records every password it was offered. */
function database(accepts: () => string) {
  const offered: string[] = [];
  return {
    offered,
    use: async (value: unknown) => {
      const password = String((value as SecretValue).password);
      offered.push(password);
      if (password !== accepts()) throw refused();
      return 'ok';
    },
  };
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'consumer-lib-'));
  config = configFor();
  providers = new ProviderRegistry(config.providers);
  store = await providers.store('files');
  clock = 1_000_000;
  await publish('db', cred('first-password'));
  await publish('uncached', cred('first-password'));
  await publish('hook', { key: KEY });
});

afterEach(async () => {
  for (const c of open) await c.close();
  open = [];
  await providers.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('cache', () => {
  it('serves the cached value until cache.ttl has passed, then reads the new version and reports the change', async () => {
    const c = client();
    const changes: SecretChange[] = [];
    c.onChange((ch) => changes.push(ch));
    expect((await c.get('secret://db/password')).value).toBe('first-password');
    await publish('db', cred('second-password'));
    clock += 59_000;
    expect((await c.get('secret://db/password')).value).toBe('first-password');
    clock += 1_000;
    expect((await c.get('secret://db/password')).value).toBe('second-password');
    expect(changes).toEqual([
      { uri: 'secret://db/password', secret: 'db', version: '2', previousVersion: '1', reason: 'refresh' },
    ]);
  });

  it('reads a secret without a cache block from the store every time', async () => {
    const c = client();
    expect((await c.get('secret://uncached/password')).value).toBe('first-password');
    await publish('uncached', cred('second-password'));
    expect((await c.get('secret://uncached/password')).value).toBe('second-password');
  });

  it('refreshes on refresh_interval with a timer that does not keep the process alive', async () => {
    config = configFor(['  polled:', '    provider: files', '    path: polled', '    rotation: { refresh_interval: 1s }']);
    expect(config.secrets.polled.refresh).toEqual({ auto_refresh: true, refresh_interval: 1_000 });
    await publish('polled', cred('first-password'));
    const c = client();
    await c.get('secret://polled/password');
    const changed = new Promise<SecretChange>((resolve) => c.onChange(resolve));
    await publish('polled', cred('second-password'));
    expect(await changed).toMatchObject({ secret: 'polled', version: '2', reason: 'refresh' });
  });
});

describe('reconnect signal', () => {
  async function post(url: string, body: string, headers: Record<string, string>) {
    const res = await fetch(url, { method: 'POST', body, headers });
    return { status: res.status, body: (await res.json()) as { status: string } };
  }
  const event = (id = 'evt_1') =>
    JSON.stringify({ id, type: 'rotator.credential.rotated', secret: 'db', version: '2', login: 'app', rotation_id: 'r' });
  const now = () => Math.floor(clock / 1000);

  it('a signed event refreshes the secret it names at once, whatever the ttl; a repeated id is a duplicate', async () => {
    const c = client();
    const { url } = await c.listen();
    await c.get('secret://db/password');
    const changes: SecretChange[] = [];
    c.onChange((ch) => changes.push(ch));
    await publish('db', cred('second-password'));
    const body = event();
    expect(await post(url, body, signWebhook(KEY, body, now()))).toEqual({ status: 200, body: { status: 'refreshed' } });
    expect((await c.get('secret://db/password')).value).toBe('second-password');
    expect(changes.map((ch) => ch.reason)).toEqual(['reconnect']);
    expect((await post(url, body, signWebhook(KEY, body, now()))).body.status).toBe('duplicate');
  });

  it('refuses a wrong key, a stale timestamp and a missing signature with 401, and changes nothing', async () => {
    const c = client();
    const { url } = await c.listen();
    await c.get('secret://db/password');
    await publish('db', cred('second-password'));
    const body = event();
    const answers = [
      await post(url, body, signWebhook('x'.repeat(32), body, now())),
      await post(url, body, signWebhook(KEY, body, now() - 301)),
      await post(url, body, { 'Content-Type': 'application/json' }),
      // Tampered after signing: the signature covers the raw bytes.
      await post(url, body.replace('"db"', '"uncached"'), signWebhook(KEY, body, now())),
    ];
    expect(answers.map((a) => a.status)).toEqual([401, 401, 401, 401]);
    expect((await c.get('secret://db/password')).value).toBe('first-password');
  });

  it('refuses a POST that announces no body, with made-up signature headers, with 401', async () => {
    const c = client();
    const { url } = await c.listen();
    const { hostname, port, pathname } = new URL(url);
    const forged = { 'X-Rotator-Timestamp': String(now()), 'X-Rotator-Signature': `v1=${'0'.repeat(64)}` };
    for (const headers of [forged, { ...forged, 'Content-Type': 'application/json' }]) {
      const res = await bodilessPost({ host: hostname, port: Number(port) }, pathname, headers);
      expect({ status: res.status, body: JSON.parse(res.body) as unknown }).toEqual({
        status: 401,
        body: { status: 'refused', message: 'missing or invalid signature' },
      });
    }
  });

  it('invites a body with 100 Continue only once the signature headers are there', async () => {
    const c = client();
    const { url } = await c.listen();
    const body = event();
    expect(await expectContinue(url, '/', { 'Content-Type': 'application/json' }, body)).toEqual({
      status: 401,
      continued: false,
    });
    expect(await expectContinue(url, '/', signWebhook(KEY, body, now()), body)).toEqual({ status: 200, continued: true });
  });

  it('does not parse a body before its signature matched: invalid JSON is 401 unsigned, 400 once signed', async () => {
    const c = client();
    const { url } = await c.listen();
    expect((await post(url, '{not json', signWebhook('x'.repeat(32), '{not json', now()))).status).toBe(401);
    expect((await post(url, '{not json', signWebhook(KEY, '{not json', now()))).status).toBe(400);
    const noSecret = JSON.stringify({ id: 'evt_2', type: 't' });
    expect(await post(url, noSecret, signWebhook(KEY, noSecret, now()))).toMatchObject({ status: 400 });
    const control = JSON.stringify({ id: 'evt_3', type: 't', secret: 'db\nforged log line' });
    expect(await post(url, control, signWebhook(KEY, control, now()))).toMatchObject({ status: 400 });
  });

  it('refuses an empty or short signing key from a function with 503, and changes nothing', async () => {
    for (const short of ['', 'k'.repeat(15)]) {
      const c = client({ signingKey: () => short });
      const { url } = await c.listen();
      await c.get('secret://db/password');
      await publish('db', cred(`after-${short.length}`));
      const body = event(`evt_short_${short.length}`);
      expect(await post(url, body, signWebhook(short, body, now()))).toEqual({ status: 503, body: { status: 'unavailable' } });
      expect((await c.get('secret://db/password')).value).not.toBe(`after-${short.length}`);
    }
    // 16 characters are enough.
    const c = client({ signingKey: () => 'k'.repeat(16) });
    const { url } = await c.listen();
    const body = event('evt_long_enough');
    expect((await post(url, body, signWebhook('k'.repeat(16), body, now()))).status).toBe(200);
  });

  it('listens with request and header timeouts and a connection cap', async () => {
    const made: http.Server[] = [];
    const original = http.createServer.bind(http) as (...args: unknown[]) => http.Server;
    const spy = jest.spyOn(http, 'createServer').mockImplementation(((...args: unknown[]) => {
      const server = original(...args);
      made.push(server);
      return server;
    }) as typeof http.createServer);
    try {
      await client().listen();
    } finally {
      spy.mockRestore();
    }
    expect(made).toHaveLength(1);
    expect(made[0]).toMatchObject({ requestTimeout: 30_000, headersTimeout: 10_000, maxConnections: 256 });
  });

  it('keeps the signing key: forged requests read no key and change nothing; a mismatch reads it again once a minute', async () => {
    const reads = jest.spyOn(store, 'readCurrent');
    const hookReads = () => reads.mock.calls.filter(([path]) => path === 'hook').length;
    const c = client();
    const { url } = await c.listen();
    await c.get('secret://hook/key');
    const changes: SecretChange[] = [];
    c.onChange((ch) => changes.push(ch));
    const body = event('evt_key_1');
    expect((await post(url, body, signWebhook(KEY, body, now()))).body.status).toBe('refreshed');

    // The key is rotated: the handler does not know yet, and forged requests do not make it look.
    const NEW_KEY = 'n'.repeat(32);
    await publish('hook', { key: NEW_KEY });
    const afterFirst = hookReads();
    for (let i = 0; i < 10; i++) {
      const forged = event(`evt_forged_${i}`);
      expect((await post(url, forged, signWebhook('x'.repeat(32), forged, now()))).status).toBe(401);
    }
    expect(hookReads()).toBe(afterFirst);
    expect(changes).toEqual([]);
    // Signed with the new key within the minute: refused, and still no read (rotator retries).
    const second = event('evt_key_2');
    expect((await post(url, second, signWebhook(NEW_KEY, second, now()))).status).toBe(401);
    expect(hookReads()).toBe(afterFirst);
    // A minute on, the refused signature makes the handler read the key again, once.
    clock += 60_000;
    expect((await post(url, second, signWebhook(NEW_KEY, second, now()))).body.status).toBe('refreshed');
    const forged = event('evt_forged_late');
    expect((await post(url, forged, signWebhook('x'.repeat(32), forged, now()))).status).toBe(401);
    expect(hookReads()).toBe(afterFirst + 1);
    expect(changes.filter((ch) => ch.secret === 'hook')).toEqual([]);
    reads.mockRestore();
  });

  it('calls a signing key function once while the key is held, however many requests come', async () => {
    let calls = 0;
    const c = client({
      signingKey: () => {
        calls++;
        return KEY;
      },
    });
    const { url } = await c.listen();
    for (let i = 0; i < 5; i++) {
      const forged = event(`evt_fn_${i}`);
      expect((await post(url, forged, signWebhook('x'.repeat(32), forged, now()))).status).toBe(401);
    }
    const body = event('evt_fn_ok');
    expect((await post(url, body, signWebhook(KEY, body, now()))).body.status).toBe('refreshed');
    expect(calls).toBe(1);
  });

  it('answers concurrent copies of one delivery with one refresh; a failed refresh is forgotten so a retry succeeds', async () => {
    const c = client();
    const { url } = await c.listen();
    await c.get('secret://db/password');
    const changes: SecretChange[] = [];
    c.onChange((ch) => changes.push(ch));
    await publish('db', cred('second-password'));
    const body = event('evt_copies');
    const answers = await Promise.all(Array.from({ length: 50 }, () => post(url, body, signWebhook(KEY, body, now()))));
    const statuses = answers.map((a) => a.body.status);
    expect(statuses.filter((st) => st === 'refreshed')).toHaveLength(1);
    expect(statuses.filter((st) => st === 'duplicate')).toHaveLength(49);
    expect(changes).toHaveLength(1);

    await publish('db', cred('third-password'));
    const reads = jest.spyOn(store, 'readCurrent').mockRejectedValueOnce(new RotatorError('PERMISSION_DENIED', 'store broke'));
    const failing = event('evt_fails_once');
    expect((await post(url, failing, signWebhook(KEY, failing, now()))).status).toBe(503);
    expect(await post(url, failing, signWebhook(KEY, failing, now()))).toEqual({ status: 200, body: { status: 'refreshed' } });
    expect((await c.get('secret://db/password')).value).toBe('third-password');
    reads.mockRestore();
  });

  it('a listener that throws does not fail the read, the other listeners or the reconnect', async () => {
    const warnings: string[] = [];
    const c = client({
      log: { info: () => undefined, warn: (_fields: unknown, msg?: string) => void warnings.push(String(msg)) },
    });
    const { url } = await c.listen();
    await c.get('secret://db/password');
    c.onChange(() => {
      throw new Error('listener bug holding second-password');
    });
    const changes: SecretChange[] = [];
    c.onChange((ch) => changes.push(ch));
    await publish('db', cred('second-password'));
    clock += 60_000;
    expect((await c.get('secret://db/password')).value).toBe('second-password');
    await publish('db', cred('third-password'));
    const body = event('evt_listener');
    expect(await post(url, body, signWebhook(KEY, body, now()))).toEqual({ status: 200, body: { status: 'refreshed' } });
    expect(changes.map((ch) => ch.reason)).toEqual(['refresh', 'reconnect']);
    expect(warnings).toEqual(['an onChange listener threw', 'an onChange listener threw']);
  });

  it('needs a signing key, in a configured secret, to serve the signal', () => {
    const c = client({ signingKey: undefined });
    expect(() => c.reconnectHandler()).toThrow(/signingKey: a reconnect handler needs the signing key/);
    expect(() => client({ signingKey: 'secret://nosuch/key' }).reconnectHandler()).toThrow(/no secret named "nosuch"/);
  });
});

describe('credential fallback', () => {
  it('offers current, then the pending value of a rotation in flight, then previous once promoted', async () => {
    const c = client();
    const passwords = async () => (await c.credential('secret://db')).map((x) => [x.role, (x.value as SecretValue).password]);
    expect(await passwords()).toEqual([['current', 'first-password']]);
    await store.stagePending('db', 'single-user-1', cred('staged-password'), '1');
    expect(await passwords()).toEqual([
      ['current', 'first-password'],
      ['pending', 'staged-password'],
    ]);
    await store.promote('db', 'single-user-1', '1');
    // Pending is still there as the claim, and equals current now: offered once.
    expect(await passwords()).toEqual([
      ['current', 'staged-password'],
      ['previous', 'first-password'],
    ]);
    await store.discardPending('db', 'single-user-1');
    // The rotation ended: previous is what this client last saw as current.
    expect(await passwords()).toEqual([
      ['current', 'staged-password'],
      ['previous', 'first-password'],
    ]);
  });

  it('in the single-user window the staged value serves; which one served is reported', async () => {
    const c = client();
    let accepted = 'first-password';
    const db = database(() => accepted);
    expect(await c.withCredential('secret://db', db.use)).toMatchObject({ served: 'current', version: '1', refused: [] });
    await store.stagePending('db', 'single-user-2', cred('staged-password'), '1');
    accepted = 'staged-password'; // the database changed, the store has not promoted yet
    expect(await c.withCredential('secret://db', db.use)).toMatchObject({
      result: 'ok',
      served: 'pending',
      version: null,
      refused: ['current'],
    });
    expect(db.offered).toEqual(['first-password', 'first-password', 'staged-password']);
  });

  it('a stale cached credential is refused, and the store read again serves the new current one', async () => {
    const c = client();
    let accepted = 'first-password';
    const db = database(() => accepted);
    await c.withCredential('secret://db', db.use);
    await publish('db', cred('second-password'));
    accepted = 'second-password';
    expect(await c.withCredential('secret://db', db.use)).toMatchObject({
      served: 'current',
      version: '2',
      refused: ['current'],
    });
    // The cache now holds the new one: no refusal on the next query.
    expect(await c.withCredential('secret://db', db.use)).toMatchObject({ served: 'current', refused: [] });
  });

  it('a rotation that ends while the store is read again (pending gone, current not yet seen) still serves the new one', async () => {
    const c = client();
    let accepted = 'first-password';
    const db = database(() => accepted);
    await c.withCredential('secret://db', db.use);
    await store.stagePending('db', 'single-user-6', cred('staged-password'), '1');
    accepted = 'staged-password'; // the single-user window: the database changed, the store has not promoted yet
    // The rotation promotes and releases its pending value after the client read the current version and before it
    // asks what is staged: the interleaving a loaded machine produces now and then, made certain here.
    const otherPending = store.otherPending.bind(store);
    let ending: (() => Promise<void>) | null = async () => {
      await store.promote('db', 'single-user-6', '1');
      await store.discardPending('db', 'single-user-6');
    };
    store.otherPending = async (...args) => {
      const end = ending;
      ending = null;
      await end?.();
      return otherPending(...args);
    };
    expect(await c.withCredential('secret://db', db.use)).toMatchObject({
      result: 'ok',
      served: 'current',
      version: '2',
      refused: ['current'],
    });
    expect(db.offered).toEqual(['first-password', 'first-password', 'staged-password']);
  });

  it('with fallback off only the current credential is tried, and its refusal is the caller’s error', async () => {
    const c = client({ fallback: false });
    await store.stagePending('db', 'single-user-3', cred('staged-password'), '1');
    const db = database(() => 'staged-password');
    await expect(c.withCredential('secret://db', db.use)).rejects.toMatchObject({ code: '28P01' });
    expect(db.offered).toEqual(['first-password']);
  });

  it('an error that is not a refusal is rethrown at once, without trying another credential', async () => {
    const c = client();
    await store.stagePending('db', 'single-user-4', cred('staged-password'), '1');
    const offered: string[] = [];
    const outage = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    await expect(
      c.withCredential('secret://db', async (v) => {
        offered.push(String((v as SecretValue).password));
        throw outage;
      }),
    ).rejects.toBe(outage);
    expect(offered).toHaveLength(1);
  });

  it('when every credential is refused the error names the roles tried, never a value', async () => {
    const c = client();
    await store.stagePending('db', 'single-user-5', cred('staged-password'), '1');
    const err = await thrown(c.withCredential('secret://db', database(() => 'nothing-matches').use));
    expect(err).toBeInstanceOf(CredentialsRefused);
    expect(err.code).toBe('PERMISSION_DENIED');
    expect(err.message).toBe('secret://db: every credential the store holds was refused (tried current, pending)');
    expect(JSON.stringify({ ...err, message: err.message })).not.toMatch(/first-password|staged-password/);
  });

  it('recognises the drivers’ authentication refusals and nothing else', () => {
    expect(
      [{ code: '28P01' }, { code: '28000' }, { code: 18 }, new Error('WRONGPASS invalid username-password pair')].map(
        isAuthFailure,
      ),
    ).toEqual([true, true, true, true]);
    expect([{ code: 'ECONNREFUSED' }, { code: '42P01' }, new Error('timeout'), null].map(isAuthFailure)).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });
});

describe('options', () => {
  it('names the field of a bad option', async () => {
    expect((await thrown(Promise.resolve().then(() => client({ fallback: 'yes' as never })))).path).toBe('fallback');
    expect((await thrown(Promise.resolve().then(() => client({ signingKey: 'hunter2hunter2' })))).path).toBe('signingKey');
    const both = await thrown(Promise.resolve().then(() => client({ configFile: '/nonexistent.yaml' })));
    expect(both.message).toBe('config: give either config or configFile');
    expect(JSON.stringify(await thrown(Promise.resolve().then(() => client({ signingKey: 'hunter2hunter2' }))))).not.toContain(
      'hunter2',
    );
  });
});
