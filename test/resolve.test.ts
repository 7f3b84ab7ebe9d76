// secret:// URIs resolved on real stores (OpenBao KV v2, the file store, the environment), with the L5 spec's
// on_missing, retry, fallback and keys; and `rotator get` printing metadata, the value only with --reveal.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ProviderRegistry } from '../activities/registry';
import { EXIT } from '../src/cli/main';
import { resolveSecret, retryDelay, type ResolveOptions } from '../src/client/resolve';
import { parseConfig, sensitiveValues } from '../src/config/load';
import type { Config } from '../src/config/schema';
import { cli } from './support/cli';
import { testStack } from './support/stack';
import { fileTestStore, vaultTestStore, type FileTestStore } from './support/test-stores';
import { thrown } from './support/thrown';

/** A loopback port nothing listens on: a provider there is unreachable. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** An HTTP server answering every request with `status` (a Vault that is sealed or refuses), counting requests. */
async function answering(status: number): Promise<{ port: number; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server = http.createServer((_req, res) => {
    hits += 1;
    res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify({ errors: [`answering ${status}`] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    hits: () => hits,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('secret:// resolution on the real stores', () => {
  const run = `resolve-${randomBytes(4).toString('hex')}`;
  const vault = vaultTestStore();
  const saved = { ...process.env };
  let files: FileTestStore;
  let down: number;
  let sealed: Awaited<ReturnType<typeof answering>>;
  let forbidden: Awaited<ReturnType<typeof answering>>;
  let yaml: string;
  let configFile: string;
  let config: Config;
  let providers: ProviderRegistry;

  const ORDERS = { username: 'orders_app', password: 'orders-Pa55-0001', host: 'db.internal', port: 5432, dbname: 'orders' };
  const FALLBACK_PASSWORD = 'fallback-Pa55-from-env-0001';
  const ENV_DEFAULT = 'development_password_0001';
  const ON_MISSING_DEFAULT = 'optional-api-key-default-0001';
  const ENV = {
    RESOLVE_TEST_JSON: JSON.stringify({ username: 'svc', password: 'env-json-Pa55-0001' }),
    RESOLVE_KAFKA_USER: 'kafka-user',
    RESOLVE_KAFKA_PASS: 'kafka-Pa55-0001',
    RESOLVE_DB_PASSWORD: FALLBACK_PASSWORD,
  };

  beforeAll(async () => {
    const stack = testStack();
    files = fileTestStore();
    down = await closedPort();
    sealed = await answering(503);
    forbidden = await answering(403);
    Object.assign(process.env, vault.env, ENV);
    delete process.env.RESOLVE_LOCAL_PASSWORD;

    await vault.write(`${run}/orders-db`, { ...ORDERS, engine: 'postgres' });
    await vault.write(`${run}/api-key`, { value: 'api-key-version-1' });
    await vault.write(`${run}/api-key`, { value: 'api-key-version-2' });
    await vault.write(`${run}/token-copy`, { token: stack.vault!.token });
    await files.write(`${run}-file`, { username: 'file-user', password: 'file-Pa55-v1' });
    await files.write(`${run}-file`, { username: 'file-user', password: 'file-Pa55-v2' });

    const at = (p: string) => vault.configPath(`${run}/${p}`);
    const vaultAt = (address: string) => [
      '    provider: vault',
      `    vault: { address: "${address}" }`,
      '    auth: { method: token, token: "${TEST_VAULT_TOKEN}" }',
    ];
    // The L5 spec's form (a _groups entry, vault:/auth: blocks, variable(s):, default:, on_missing, retry, fallback),
    // with one provider in rotator's own form beside it: the file store has no kind of its own in the spec.
    yaml = [
      'providers:',
      '  files:',
      ...files.providerYaml,
      'secrets:',
      '  _groups:',
      '    stack_vault:',
      '      provider: vault',
      `      vault: { address: "${stack.vault!.address}" }`,
      '      auth: { method: token, token: "${TEST_VAULT_TOKEN}" }',
      '  orders_db:',
      '    _group: stack_vault',
      `    path: ${at('orders-db')}`,
      '    keys: [username, password, host, port]',
      '  api_key:',
      '    _group: stack_vault',
      `    path: ${at('api-key')}`,
      '  token_copy:',
      '    _group: stack_vault',
      `    path: ${at('token-copy')}`,
      '  optional_api_key:',
      '    _group: stack_vault',
      `    path: ${at('absent-default')}`,
      `    on_missing: { action: default, default_value: "${ON_MISSING_DEFAULT}" }`,
      '  warned_key:',
      '    _group: stack_vault',
      `    path: ${at('absent-warn')}`,
      '    on_missing: { action: warn }',
      '  required_password:',
      '    _group: stack_vault',
      `    path: ${at('absent-fail')}`,
      '    on_missing:',
      '      action: fail',
      '      message: "Required secret not found: database password"',
      '  plain_missing:',
      '    _group: stack_vault',
      `    path: ${at('absent-plain')}`,
      '  file_secret:',
      '    provider: files',
      `    path: ${files.configPath(`${run}-file`)}`,
      '  env_json:',
      '    provider: env',
      '    variable: RESOLVE_TEST_JSON',
      '  kafka_credentials:',
      '    provider: env',
      '    variables: { username: RESOLVE_KAFKA_USER, password: RESOLVE_KAFKA_PASS }',
      '  local_password:',
      '    provider: env',
      '    variable: RESOLVE_LOCAL_PASSWORD',
      `    default: ${ENV_DEFAULT}`,
      '  database_password:',
      ...vaultAt(`http://127.0.0.1:${down}`),
      `    path: ${at('database')}`,
      '    key: password',
      '    retry: { attempts: 2, backoff: fixed, initial_delay: 10ms, max_delay: 10ms }',
      '    fallback:',
      '      provider: env',
      '      variables: { password: RESOLVE_DB_PASSWORD }',
      '  both_down:',
      ...vaultAt(`http://127.0.0.1:${down}`),
      `    path: ${at('both-down')}`,
      '    fallback:',
      '      provider: vault',
      `      vault: { address: "http://127.0.0.1:${sealed.port}" }`,
      '      auth: { method: token, token: "${TEST_VAULT_TOKEN}" }',
      `      path: ${at('both-down')}`,
      '  sealed_vault:',
      ...vaultAt(`http://127.0.0.1:${sealed.port}`),
      `    path: ${at('sealed')}`,
      '    retry: { attempts: 4, backoff: exponential, initial_delay: 10ms, max_delay: 25ms }',
      '  refusing_vault:',
      ...vaultAt(`http://127.0.0.1:${forbidden.port}`),
      `    path: ${at('refused')}`,
      '    retry: { attempts: 3, backoff: fixed, initial_delay: 10ms, max_delay: 10ms }',
      '    fallback:',
      '      provider: env',
      '      variables: { password: RESOLVE_DB_PASSWORD }',
      '',
    ].join('\n');
    configFile = join(files.dir, 'rotator.yaml');
    writeFileSync(configFile, yaml, { mode: 0o600 });
    config = parseConfig(yaml, process.env, configFile);
    providers = new ProviderRegistry(config.providers);
  });

  afterAll(async () => {
    await providers?.close();
    await sealed?.close();
    await forbidden?.close();
    files?.remove();
    process.env = saved;
  });

  /** Resolves without waiting out real backoff; the waits asked for are collected. */
  const resolve = (uri: string, options: ResolveOptions = {}) =>
    resolveSecret(config, providers, uri, { sleep: async () => undefined, ...options });

  describe('every URI form', () => {
    it('resolves a whole vault secret to its value restricted to the keys it exposes, numbers kept', async () => {
      const r = await resolve('secret://orders_db');
      expect(r).toMatchObject({ secret: 'orders_db', source: 'store', version: '1' });
      expect(r.value).toEqual({ username: 'orders_app', password: ORDERS.password, host: 'db.internal', port: 5432 });
      expect(r.fields).toEqual(['username', 'password', 'host', 'port']);
      expect(r.location).toEqual({
        provider: config.secrets.orders_db!.provider,
        type: 'vault',
        path: vault.configPath(`${run}/orders-db`),
      });
      expect(r.location.provider).toMatch(/^l5-vault-[0-9a-f]{10}$/);
    });

    it('resolves one key to its text, a number included', async () => {
      expect(await resolve('secret://orders_db/password')).toMatchObject({
        key: 'password',
        value: ORDERS.password,
        version: '1',
      });
      expect((await resolve('secret://orders_db/port')).value).toBe('5432');
    });

    it('resolves ?version= to an older version, and without it to the current one', async () => {
      expect(await resolve('secret://api_key')).toMatchObject({ value: { value: 'api-key-version-2' }, version: '2' });
      expect(await resolve('secret://api_key?version=1')).toMatchObject({ value: { value: 'api-key-version-1' }, version: '1' });
      expect(await resolve('secret://api_key/value?version=1')).toMatchObject({ value: 'api-key-version-1', version: '1' });
    });

    it('resolves the file store: the current version, an older one, one key', async () => {
      const path = files.configPath(`${run}-file`);
      expect(await resolve('secret://file_secret')).toMatchObject({
        value: { username: 'file-user', password: 'file-Pa55-v2' },
        version: '2',
        source: 'store',
        location: { provider: 'files', type: 'file', path },
      });
      expect(await resolve('secret://file_secret/password?version=1')).toMatchObject({ value: 'file-Pa55-v1', version: '1' });
    });

    it('resolves the env store: a JSON variable, one variable per field, and a default: for an unset variable', async () => {
      expect((await resolve('secret://env_json')).value).toEqual({ username: 'svc', password: 'env-json-Pa55-0001' });
      expect(await resolve('secret://kafka_credentials/password')).toMatchObject({
        value: 'kafka-Pa55-0001',
        location: { provider: 'env', type: 'env' },
      });
      expect(await resolve('secret://local_password')).toMatchObject({ value: { value: ENV_DEFAULT }, source: 'store' });
    });

    it('answers ?version= on a store that keeps none with UNSUPPORTED naming the store type', async () => {
      const err = await thrown(resolve('secret://kafka_credentials/password?version=2'));
      expect(err.code).toBe('UNSUPPORTED');
      expect(err.message).toContain('env provider env) keeps no versions');
    });
  });

  describe('keys', () => {
    it('refuses a key outside keys: with NOT_FOUND naming it, before reading and whatever ?default= says', async () => {
      for (const uri of ['secret://orders_db/dbname', 'secret://orders_db/dbname?default=x']) {
        const err = await thrown(resolve(uri));
        expect(err.code).toBe('NOT_FOUND');
        expect(err.message).toContain('orders_db exposes no key "dbname"; its keys: username, password, host, port');
      }
    });

    it('answers a key the value lacks with NOT_FOUND naming it, or with ?default=', async () => {
      const err = await thrown(resolve('secret://api_key/nope'));
      expect(err.code).toBe('NOT_FOUND');
      expect(err.message).toContain('api_key has no key "nope"');
      expect(err.message).toContain('its value has value');
      expect(await resolve('secret://api_key/nope?default=stand-in')).toMatchObject({
        value: 'stand-in',
        source: 'default',
        version: null,
        fields: ['value'],
      });
    });

    it('answers an unknown secret with NOT_FOUND, worded as every command words it', async () => {
      const err = await thrown(resolve('secret://no_such_secret'));
      expect(err.code).toBe('NOT_FOUND');
      expect(err.message).toContain('no secret named "no_such_secret"; known: orders_db');
    });
  });

  describe('a missing secret', () => {
    it('resolves to ?default=, percent-decoded, which wins over on_missing', async () => {
      expect(await resolve('secret://plain_missing/password?default=p%40ss+word')).toMatchObject({
        value: 'p@ss word',
        source: 'default',
        version: null,
        fields: [],
      });
      expect((await resolve('secret://optional_api_key?default=from-uri')).value).toBe('from-uri');
      expect((await resolve('secret://required_password?default=')).value).toBe('');
      expect((await resolve('secret://api_key?version=99&default=gone')).value).toBe('gone');
    });

    it('on_missing: default resolves to default_value', async () => {
      expect(await resolve('secret://optional_api_key')).toMatchObject({ value: ON_MISSING_DEFAULT, source: 'default' });
      expect((await resolve('secret://optional_api_key/key')).value).toBe(ON_MISSING_DEFAULT);
    });

    it('on_missing: warn logs a warning with names only and resolves to the empty text', async () => {
      const warnings: Array<{ fields: Record<string, unknown>; message: string }> = [];
      const log = { warn: (fields: Record<string, unknown>, message: string) => warnings.push({ fields, message }) };
      expect(await resolve('secret://warned_key/token', { log })).toMatchObject({ value: '', source: 'default' });
      expect(warnings).toEqual([
        {
          fields: expect.objectContaining({ secret: 'warned_key', key: 'token', path: vault.configPath(`${run}/absent-warn`) }),
          message: 'secret not found; on_missing is warn, so it resolves to an empty value',
        },
      ]);
    });

    it('on_missing: fail is NOT_FOUND with its message; without on_missing, NOT_FOUND saying where it looked', async () => {
      const failed = await thrown(resolve('secret://required_password'));
      expect(failed.code).toBe('NOT_FOUND');
      expect(failed.message).toBe('uri: Required secret not found: database password');
      const plain = await thrown(resolve('secret://plain_missing/password'));
      expect(plain.code).toBe('NOT_FOUND');
      expect(plain.message).toContain(`plain_missing has no value in ${config.secrets.plain_missing!.provider}:`);
      const version = await thrown(resolve('secret://api_key?version=99'));
      expect(version.message).toContain('(version 99)');
    });
  });

  describe('an unavailable provider', () => {
    it('is retried as retry: says, then read from the fallback', async () => {
      const waits: number[] = [];
      const r = await resolve('secret://database_password/password', { sleep: async (ms) => void waits.push(ms) });
      expect(r).toMatchObject({
        value: FALLBACK_PASSWORD,
        source: 'fallback',
        version: 'env',
        location: { provider: 'env', type: 'env', path: 'password=RESOLVE_DB_PASSWORD' },
      });
      expect(waits).toEqual([10]);
      expect((await resolve('secret://database_password')).value).toEqual({ password: FALLBACK_PASSWORD });
    });

    it('waits with real timers by default', async () => {
      const started = Date.now();
      expect((await resolveSecret(config, providers, 'secret://database_password/password')).source).toBe('fallback');
      expect(Date.now() - started).toBeGreaterThanOrEqual(9);
    });

    it('backs off exponentially up to max_delay, then is TRANSIENT naming the attempts', async () => {
      const waits: number[] = [];
      const before = sealed.hits();
      const err = await thrown(resolve('secret://sealed_vault', { sleep: async (ms) => void waits.push(ms) }));
      expect(err.code).toBe('TRANSIENT');
      expect(err.message).toContain('sealed_vault: provider');
      expect(err.message).toContain('is unavailable after 4 attempts');
      expect(sealed.hits() - before).toBe(4);
      expect(waits).toEqual([10, 20, 25]);
      expect(retryDelay({ attempts: 5, backoff: 'fixed', initial_delay: 1000, max_delay: 30_000 }, 4)).toBe(1000);
    });

    it('is TRANSIENT naming both when the fallback is unavailable too', async () => {
      const err = await thrown(resolve('secret://both_down'));
      expect(err.code).toBe('TRANSIENT');
      expect(err.message).toContain('is unavailable after 1 attempt (');
      expect(err.message).toContain('and so is its fallback l5-vault-');
    });

    it('does not retry or fall back on a refusal: PERMISSION_DENIED is an answer, not an outage', async () => {
      const before = forbidden.hits();
      const err = await thrown(resolve('secret://refusing_vault/password'));
      expect(err.code).toBe('PERMISSION_DENIED');
      expect(forbidden.hits() - before).toBe(1);
    });

    it('does not fall back for a secret that is missing from a provider that answered', async () => {
      expect((await resolve('secret://plain_missing?default=d')).source).toBe('default');
    });
  });

  describe('rotator get', () => {
    it('prints the metadata of a key without its value', async () => {
      const r = await cli('--config', configFile, 'get', 'secret://orders_db/password');
      expect(r.code).toBe(EXIT.OK);
      expect(r.out).toContain('orders_db key password');
      expect(r.out).toMatch(/provider\s+l5-vault-[0-9a-f]{10} \(vault\)/);
      expect(r.out).toContain(`path       ${vault.configPath(`${run}/orders-db`)}`);
      expect(r.out).toContain('version    1');
      expect(r.out).toContain('keys       username, password, host, port');
      expect(r.out).toContain('source     store');
      expect(r.out).toMatch(/published {2}\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
      expect(r.out).not.toContain('value');
      expect(r.out + r.err).not.toContain(ORDERS.password);
    });

    it('prints --json metadata without the value', async () => {
      const r = await cli('--config', configFile, '--json', 'get', 'secret://orders_db/password');
      expect(r.code).toBe(EXIT.OK);
      const doc = JSON.parse(r.out) as Record<string, unknown>;
      expect(doc).toMatchObject({
        secret: 'orders_db',
        key: 'password',
        provider: { type: 'vault' },
        path: vault.configPath(`${run}/orders-db`),
        version: '1',
        keys: ['username', 'password', 'host', 'port'],
        source: 'store',
      });
      expect(typeof doc.publishedAt).toBe('string');
      expect(doc).not.toHaveProperty('value');
      expect(r.out).not.toContain(ORDERS.password);
      const whole = await cli('--config', configFile, '--json', 'get', 'orders_db');
      expect(JSON.parse(whole.out)).not.toHaveProperty('value');
      expect(whole.out).not.toContain(ORDERS.password);
    });

    it('prints the value with --reveal: a key as text, a whole secret as JSON', async () => {
      const key = await cli('--config', configFile, 'get', 'secret://orders_db/password', '--reveal');
      expect(key.code).toBe(EXIT.OK);
      expect(key.out).toContain(`value      ${ORDERS.password}`);
      const whole = await cli('--config', configFile, 'get', 'secret://orders_db', '--reveal');
      expect(whole.out).toContain(
        `value      ${JSON.stringify({ username: 'orders_app', password: ORDERS.password, host: 'db.internal', port: 5432 })}`,
      );
      const json = await cli('--config', configFile, '--json', 'get', 'secret://api_key?version=1', '--reveal');
      expect(JSON.parse(json.out)).toMatchObject({ version: '1', value: { value: 'api-key-version-1' }, publishedAt: null });
    });

    it('says where a value came from: the fallback, or a default', async () => {
      const fallback = await cli('--config', configFile, '--json', 'get', 'secret://database_password/password');
      expect(JSON.parse(fallback.out)).toMatchObject({ source: 'fallback', provider: { name: 'env', type: 'env' } });
      const missing = await cli('--config', configFile, 'get', 'secret://plain_missing/k?default=stand-in-value');
      expect(missing.out).toContain('source     default');
      expect(missing.out).toContain('version    -');
      expect(missing.out).toContain('published  -');
      expect(missing.out).not.toContain('stand-in-value');
      const warned = await cli('--config', configFile, 'get', 'secret://warned_key/token');
      expect(warned.code).toBe(EXIT.OK);
      expect(warned.err).toBe('warning: warned_key: secret not found; on_missing is warn, so it resolves to an empty value');
      const warnedJson = await cli('--config', configFile, '--json', 'get', 'secret://warned_key/token');
      expect(JSON.parse(warnedJson.out)).toMatchObject({ source: 'default', warnings: [expect.stringContaining('on_missing')] });
    });

    it('prints a revealed value the config itself holds, which the CLI scrubs from everything else', async () => {
      // Both are secrets of the config (an env default:, an on_missing default_value): the scrubber's list has them.
      expect(sensitiveValues(config)).toEqual(expect.arrayContaining([ENV_DEFAULT, ON_MISSING_DEFAULT]));
      const env = await cli('--config', configFile, 'get', 'secret://local_password/value', '--reveal');
      expect(env.out).toContain(`value      ${ENV_DEFAULT}`);
      expect(env.out).not.toContain('[REDACTED]');
      const onMissing = await cli('--config', configFile, '--json', 'get', 'secret://optional_api_key', '--reveal');
      expect(JSON.parse(onMissing.out)).toMatchObject({ source: 'default', value: ON_MISSING_DEFAULT });
      expect((await cli('--config', configFile, 'get', 'secret://local_password')).out).not.toContain(ENV_DEFAULT);
    });

    it('prints a revealed store value that is also a secret of the config (here its vault token)', async () => {
      const token = testStack().vault!.token;
      expect(sensitiveValues(config)).toContain(token);
      const r = await cli('--config', configFile, 'get', 'secret://token_copy/token', '--reveal');
      expect(r.code).toBe(EXIT.OK);
      expect(r.out).toContain(`value      ${token}`);
      expect((await cli('--config', configFile, 'get', 'secret://token_copy/token')).out).not.toContain(token);
    });

    it('exits 4 for what is not found, 2 for a malformed URI or an unsupported version, 5 for an outage', async () => {
      const unknown = await cli('--config', configFile, 'get', 'secret://no_such_secret');
      expect(unknown.code).toBe(EXIT.NOT_FOUND);
      expect(unknown.err).toContain('no secret named "no_such_secret"');
      expect((await cli('--config', configFile, 'get', 'secret://orders_db/dbname')).code).toBe(EXIT.NOT_FOUND);
      const failed = await cli('--config', configFile, '--json', 'get', 'secret://required_password');
      expect(failed.code).toBe(EXIT.NOT_FOUND);
      expect(JSON.parse(failed.out)).toEqual({
        ok: false,
        error: { code: 'NOT_FOUND', message: 'uri: Required secret not found: database password', field: 'uri' },
      });

      const credential = 'hunter2-Sup3rS3cret';
      const malformed = await cli('--config', configFile, 'get', `secret://orders_db/password?default=${credential}&stage=x`);
      expect(malformed.code).toBe(EXIT.BAD_INPUT);
      expect(malformed.err).toContain('has an unknown query parameter "stage"');
      expect(malformed.out + malformed.err).not.toContain(credential);
      const malformedJson = await cli('--config', configFile, '--json', 'get', `secret://orders_db/?default=${credential}`);
      expect(malformedJson.code).toBe(EXIT.BAD_INPUT);
      expect(JSON.parse(malformedJson.out)).toMatchObject({ ok: false, error: { code: 'CONFIG_INVALID', field: 'uri' } });
      expect(malformedJson.out).not.toContain(credential);

      expect((await cli('--config', configFile, 'get', 'secret://kafka_credentials?version=1')).code).toBe(EXIT.BAD_INPUT);
      expect((await cli('--config', configFile, 'get', 'secret://sealed_vault')).code).toBe(EXIT.UNAVAILABLE);
      expect((await cli('--config', join(files.dir, 'missing.yaml'), 'get', 'orders_db')).code).toBe(EXIT.BAD_INPUT);
    });
  });
});
