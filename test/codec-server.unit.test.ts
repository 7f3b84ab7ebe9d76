// `rotator codec-server` at the HTTP level: a real server on a free port, real requests. Needs no stack server
// (npm run test:unit).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http, { request as httpRequest, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Payload } from '@temporalio/common';
import { defaultPayloadConverter } from '@temporalio/common';
import { AesGcmCodec, ENCODING_ENCRYPTED, type CodecKeys } from '../src/client/codec/aes-gcm-codec';
import { startCodecServer, type CodecServer, type CodecServerOptions } from '../src/codec-server/server';
import { codecServerSettings, readCodecToken } from '../src/codec-server/settings';
import { MAX_CONNECTIONS } from '../src/kernel/http-server';
import { createLogger } from '../src/kernel/log';
import { cli } from './support/cli';
import { expectContinue } from './support/expect-continue';

const UI_ORIGIN = 'http://127.0.0.1:8233';
const TOKEN = randomBytes(24).toString('hex');
const PLAN = { secret: 'orders_db', strategy: 'alternating-users', note: 'plaintext-marker-7f3a' };

function keys(): CodecKeys {
  return { activeKeyId: 'k-2026', keys: new Map([['k-2026', randomBytes(32)]]) };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => { payloads: Array<{ metadata: Record<string, string>; data: string }>; error?: string };
}

function call(
  url: string,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer; ca?: Buffer },
): Promise<Answer> {
  const target = new URL(options.path, url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      { method: options.method ?? 'POST', headers: options.headers, ...(options.ca ? { ca: options.ca } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const toJson = (payloads: Payload[]) =>
  JSON.stringify({
    payloads: payloads.map((p) => ({
      metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
    })),
  });
const fromJson = (body: { payloads: Array<{ metadata: Record<string, string>; data: string }> }): Payload[] =>
  body.payloads.map((p) => ({
    metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(p.data, 'base64'),
  }));

/** A self-signed certificate and its key for 127.0.0.1, made by openssl in `dir`. */
function selfSigned(dir: string, name = ''): { cert: string; key: string } {
  const cert = join(dir, `${name}cert.pem`);
  const key = join(dir, `${name}key.pem`);
  const res = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1'].concat([
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ]),
    { encoding: 'utf8' },
  );
  expect(res.status).toBe(0);
  return { cert, key };
}

const json = { 'Content-Type': 'application/json' };
const bearer = (token = TOKEN) => ({ ...json, Authorization: `Bearer ${token}` });

describe('codec server', () => {
  const codecKeys = keys();
  // What the worker writes into history.
  const workerCodec = new AesGcmCodec(codecKeys);
  const logLines: string[] = [];
  let server: CodecServer;

  async function start(extra: Partial<CodecServerOptions> = {}): Promise<CodecServer> {
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(chunk.toString('utf8'));
        done();
      },
    });
    return startCodecServer({
      codec: new AesGcmCodec({ ...codecKeys, allowPlaintext: true }),
      token: TOKEN,
      corsOrigins: [UI_ORIGIN],
      host: '127.0.0.1',
      port: 0,
      log: createLogger(destination),
      ...extra,
    });
  }

  beforeAll(async () => {
    server = await start({ maxBodyBytes: 64 * 1024 });
  });
  afterAll(() => server.close());

  it('decodes what the worker encrypted, and decode(encode(x)) gives x back', async () => {
    const plain = defaultPayloadConverter.toPayload(PLAN);
    const sealed = await workerCodec.encode([plain]);
    const decoded = await call(server.url, { path: '/decode', headers: bearer(), body: toJson(sealed) });
    expect(decoded.status).toBe(200);
    expect(decoded.headers['content-type']).toBe('application/json');
    expect(defaultPayloadConverter.fromPayload(fromJson(decoded.json())[0])).toEqual(PLAN);

    const encoded = await call(server.url, { path: '/encode', headers: bearer(), body: toJson([plain]) });
    expect(encoded.status).toBe(200);
    const [ciphertext] = fromJson(encoded.json());
    expect(Buffer.from(ciphertext.metadata!.encoding!).toString()).toBe(ENCODING_ENCRYPTED);
    expect(encoded.text).not.toContain(Buffer.from(JSON.stringify(PLAN)).toString('base64'));
    // the worker can read what the server encrypted, and the server reads it back
    expect(defaultPayloadConverter.fromPayload((await workerCodec.decode([ciphertext]))[0])).toEqual(PLAN);
    const back = await call(server.url, { path: '/decode', headers: bearer(), body: encoded.text });
    expect(defaultPayloadConverter.fromPayload(fromJson(back.json())[0])).toEqual(PLAN);
  });

  it('takes the token as the path segment before the operation (how the UI sends it) under any prefix', async () => {
    const sealed = toJson(await workerCodec.encode([defaultPayloadConverter.toPayload(PLAN)]));
    const viaPath = await call(server.url, {
      path: `/codec/${TOKEN}/decode?preserveStorageRefs=true`,
      headers: json,
      body: sealed,
    });
    expect(viaPath.status).toBe(200);
    expect(defaultPayloadConverter.fromPayload(fromJson(viaPath.json())[0])).toEqual(PLAN);
    const wrongPath = await call(server.url, { path: `/${TOKEN.slice(1)}/decode`, headers: json, body: sealed });
    expect(wrongPath.status).toBe(401);
  });

  it('refuses requests without the token or with a wrong one, with 401 and nothing decoded', async () => {
    const sealed = toJson(await workerCodec.encode([defaultPayloadConverter.toPayload(PLAN)]));
    const refusals = await Promise.all([
      call(server.url, { path: '/decode', headers: json, body: sealed }),
      call(server.url, { path: '/decode', headers: bearer(`${TOKEN}x`), body: sealed }),
      call(server.url, { path: '/decode', headers: bearer(TOKEN.slice(0, -1)), body: sealed }),
      call(server.url, { path: '/decode', headers: { ...json, Authorization: TOKEN }, body: sealed }), // no scheme
      call(server.url, { path: '/decode', headers: { ...json, Authorization: `Basic ${TOKEN}` }, body: sealed }),
      call(server.url, { path: '/encode', headers: json, body: sealed }),
      // a header that is present wins over the path: a wrong header is not rescued by a right path
      call(server.url, { path: `/${TOKEN}/decode`, headers: bearer('wrong-token-wrong-token'), body: sealed }),
    ]);
    for (const r of refusals) {
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Bearer realm="rotator-codec"');
      expect(r.text).not.toContain('orders_db');
      expect(r.text).not.toContain('payloads');
    }
  });

  it('answers 401 before reading or parsing the body', async () => {
    // Not JSON at all: the token is checked first, so this is a 401, not a 400.
    expect((await call(server.url, { path: '/decode', headers: json, body: '{not json' })).status).toBe(401);
    // A body announced but never sent: the answer cannot wait for it.
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(new URL('/decode', server.url), {
        method: 'POST',
        headers: { ...json, 'Content-Length': '60000' },
      });
      req.on('response', (res) => {
        resolve(res.statusCode ?? 0);
        res.resume();
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(status).toBe(401);
  });

  it('invites a body with 100 Continue only after route, origin and token passed', async () => {
    const sealed = toJson(await workerCodec.encode([defaultPayloadConverter.toPayload(PLAN)]));
    expect(await expectContinue(server.url, '/decode', json, sealed)).toEqual({ status: 401, continued: false });
    expect(await expectContinue(server.url, '/decode', bearer('wrong-token-wrong-token'), sealed)).toEqual({
      status: 401,
      continued: false,
    });
    expect(await expectContinue(server.url, '/nothing', bearer(), sealed)).toEqual({ status: 404, continued: false });
    expect(await expectContinue(server.url, '/decode', { ...bearer(), Origin: 'http://evil.example' }, sealed)).toEqual({
      status: 403,
      continued: false,
    });
    expect(await expectContinue(server.url, '/decode', { ...bearer(), 'Content-Type': 'text/plain' }, sealed)).toEqual({
      status: 415,
      continued: false,
    });
    expect(await expectContinue(server.url, '/decode', bearer(), sealed)).toEqual({ status: 200, continued: true });
    expect(await expectContinue(server.url, `/${TOKEN}/encode`, json, sealed)).toEqual({ status: 200, continued: true });
  });

  it('takes a token holding / % ? # percent-encoded in the path, and as it is in the header', async () => {
    const odd = 'a/b%c?d#e\\f-0123456789abcdef';
    expect(readCodecToken({ ROTATOR_CODEC_TOKEN: odd })).toBe(odd);
    // What the error for a bad token says about such characters.
    expect(() => readCodecToken({ ROTATOR_CODEC_TOKEN: 'short' })).toThrow(
      /codec endpoint path, \/ % \? # \\ in a token must be percent-encoded/,
    );
    const oddServer = await start({ token: odd });
    try {
      const sealed = toJson(await workerCodec.encode([defaultPayloadConverter.toPayload(PLAN)]));
      const encoded = await call(oddServer.url, { path: `/${encodeURIComponent(odd)}/decode`, headers: json, body: sealed });
      expect(encoded.status).toBe(200);
      expect(defaultPayloadConverter.fromPayload(fromJson(encoded.json())[0])).toEqual(PLAN);
      expect((await call(oddServer.url, { path: '/decode', headers: bearer(odd), body: sealed })).status).toBe(200);
      // As it is, a path cannot carry it: / splits it, a backslash is read as /, % starts an escape, ? and # end the path.
      const raw = `/${odd.replace(/[?#]/g, encodeURIComponent)}/decode`;
      expect((await call(oddServer.url, { path: raw, headers: json, body: sealed })).status).toBe(401);
    } finally {
      await oddServer.close();
    }
  });

  it('answers a preflight from the UI origin with the headers the UI sends, and refuses other origins', async () => {
    const preflight = (origin: string) =>
      call(server.url, {
        method: 'OPTIONS',
        path: '/decode',
        headers: {
          Origin: origin,
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'content-type,x-namespace',
        },
      });
    const ok = await preflight(UI_ORIGIN);
    expect(ok.status).toBe(204);
    expect(ok.headers['access-control-allow-origin']).toBe(UI_ORIGIN);
    expect(ok.headers['access-control-allow-methods']).toContain('POST');
    const allowed = String(ok.headers['access-control-allow-headers']).toLowerCase().split(/,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(['content-type', 'authorization', 'x-namespace']));
    expect(ok.headers['access-control-allow-credentials']).toBeUndefined();
    expect(ok.headers.vary).toContain('Origin');

    for (const other of ['http://127.0.0.1:8234', 'https://127.0.0.1:8233', 'http://evil.example', 'null']) {
      const refused = await preflight(other);
      expect(refused.status).toBe(403);
      expect(refused.headers['access-control-allow-origin']).toBeUndefined();
      expect(refused.headers['access-control-allow-headers']).toBeUndefined();
    }
  });

  it('refuses a request from another origin even with the token, and gives the UI origin CORS headers', async () => {
    const sealed = toJson(await workerCodec.encode([defaultPayloadConverter.toPayload(PLAN)]));
    const other = await call(server.url, {
      path: '/decode',
      headers: { ...bearer(), Origin: 'http://evil.example' },
      body: sealed,
    });
    expect(other.status).toBe(403);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    expect(other.text).not.toContain('orders_db');

    const ui = await call(server.url, { path: '/decode', headers: { ...bearer(), Origin: UI_ORIGIN }, body: sealed });
    expect(ui.status).toBe(200);
    expect(ui.headers['access-control-allow-origin']).toBe(UI_ORIGIN);
    // so the page can tell a refused token from a network failure
    const unauthorized = await call(server.url, { path: '/decode', headers: { ...json, Origin: UI_ORIGIN }, body: sealed });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers['access-control-allow-origin']).toBe(UI_ORIGIN);
  });

  it('refuses bad input with a clear 400 naming the field', async () => {
    const sealed = (await workerCodec.encode([defaultPayloadConverter.toPayload(PLAN)]))[0];
    const good = JSON.parse(toJson([sealed])).payloads[0] as { metadata: Record<string, string>; data: string };
    const cases: Array<[string, string]> = [
      ['{not json', '(body): not valid JSON'],
      ['[]', '(body): expected an object with a payloads array'],
      ['{}', 'payloads: expected an array of payloads'],
      ['{"payloads":{}}', 'payloads: expected an array of payloads'],
      ['{"payloads":[7]}', 'payloads[0]: expected a payload object'],
      [JSON.stringify({ payloads: [good, { ...good, data: '!!not base64!!' }] }), 'payloads[1].data: expected a base64 string'],
      [
        JSON.stringify({ payloads: [{ ...good, metadata: { encoding: 42 } }] }),
        'payloads[0].metadata.encoding: expected a base64 string',
      ],
    ];
    for (const [body, message] of cases) {
      const r = await call(server.url, { path: '/decode', headers: bearer(), body });
      expect({ body, status: r.status, error: r.json().error }).toEqual({ body, status: 400, error: message });
    }
    // what the codec refuses names the payload and the key id, never bytes
    const tampered = Buffer.from(sealed.data!);
    tampered[20] ^= 1;
    const bad = await call(server.url, {
      path: '/decode',
      headers: bearer(),
      body: JSON.stringify({ payloads: [good, { ...good, data: tampered.toString('base64') }] }),
    });
    expect(bad.status).toBe(400);
    expect(bad.json().error).toBe(
      'payloads[1]: codec: payload encrypted with key id "k-2026" failed authentication (tampered data or wrong key bytes)',
    );
    const otherKey = await new AesGcmCodec({ activeKeyId: 'k-old', keys: new Map([['k-old', randomBytes(32)]]) }).encode([
      defaultPayloadConverter.toPayload(PLAN),
    ]);
    const unknown = await call(server.url, { path: '/decode', headers: bearer(), body: toJson(otherKey) });
    expect(unknown.status).toBe(400);
    expect(unknown.json().error).toMatch(/^payloads\[0\]: codec: payload was encrypted with unknown key id "k-old"/);

    const wrongType = await call(server.url, {
      path: '/decode',
      headers: { ...bearer(), 'Content-Type': 'text/plain' },
      body: '{}',
    });
    expect(wrongType.status).toBe(415);
    const tooLarge = await call(server.url, { path: '/decode', headers: bearer(), body: 'x'.repeat(65 * 1024) });
    expect(tooLarge.status).toBe(413);
    expect((await call(server.url, { method: 'GET', path: '/decode', headers: bearer() })).status).toBe(405);
    expect((await call(server.url, { path: '/decrypt', headers: bearer(), body: '{}' })).status).toBe(404);
  });

  it('hands unencrypted payloads back unchanged (search attributes, other SDKs) and answers /healthz', async () => {
    const plain = defaultPayloadConverter.toPayload('visible anyway');
    const r = await call(server.url, { path: '/decode', headers: bearer(), body: toJson([plain]) });
    expect(r.status).toBe(200);
    expect(defaultPayloadConverter.fromPayload(fromJson(r.json())[0])).toBe('visible anyway');
    const health = await call(server.url, { method: 'GET', path: '/healthz' });
    expect([health.status, health.text]).toEqual([200, 'ok\n']);
  });

  it('logs each request without payloads or the token', async () => {
    const before = logLines.length;
    const sealed = await workerCodec.encode([defaultPayloadConverter.toPayload(PLAN)]);
    await call(server.url, { path: `/${TOKEN}/decode`, headers: { ...json, 'X-Namespace': 'default' }, body: toJson(sealed) });
    await call(server.url, { path: `/${TOKEN}x/decode`, headers: json, body: toJson(sealed) });
    const lines = logLines.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.operation, l.status, l.auth])).toEqual([
      ['decode', 200, 'path'],
      ['decode', 401, 'path'],
    ]);
    expect(lines[0]).toMatchObject({ namespace: 'default', payloads: 1, msg: 'codec request' });
    const all = logLines.join('\n');
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain('orders_db');
    expect(all).not.toContain(Buffer.from(sealed[0].data!).toString('base64').slice(0, 24));
  });

  it('bounds the field path it names, and shows a control character in it as ?, in the answer and the log line', async () => {
    const before = logLines.length;
    const sealed = (await workerCodec.encode([defaultPayloadConverter.toPayload(PLAN)]))[0];
    const good = JSON.parse(toJson([sealed])).payloads[0] as { metadata: Record<string, string>; data: string };
    const key = `k\n\u001b[31m\u2028${'x'.repeat(10 * 1024)}`;
    const body = JSON.stringify({ payloads: [{ ...good, metadata: { [key]: 42 } }] });
    const r = await call(server.url, { path: '/decode', headers: bearer(), body });
    expect(r.status).toBe(400);
    const error = r.json().error as string;
    expect(error.startsWith('payloads[0].metadata.k??[31m?xxx')).toBe(true);
    expect(error.length).toBeLessThan(200);
    const line = logLines.slice(before).find((l) => l.includes('"status":400'))!;
    expect(JSON.parse(line)).toMatchObject({ reason: error });
  });

  it('caps the connections it holds at once', async () => {
    const made: Server[] = [];
    const original = http.createServer.bind(http) as (...args: unknown[]) => Server;
    const spy = jest.spyOn(http, 'createServer').mockImplementation(((...args: unknown[]) => {
      const made1 = original(...args);
      made.push(made1);
      return made1;
    }) as typeof http.createServer);
    let other: CodecServer | undefined;
    try {
      other = await start();
    } finally {
      spy.mockRestore();
      await other?.close();
    }
    expect(made).toHaveLength(1);
    expect(made[0].maxConnections).toBe(MAX_CONNECTIONS);
    expect(MAX_CONNECTIONS).toBe(256);
  });

  it('serves https with the given certificate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rotator-codec-tls-'));
    try {
      const files = selfSigned(dir);
      const cert = readFileSync(files.cert);
      const tls = await start({ tls: { cert, key: readFileSync(files.key) } });
      try {
        expect(tls.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
        const sealed = toJson(await workerCodec.encode([defaultPayloadConverter.toPayload(PLAN)]));
        const r = await call(tls.url, { path: '/decode', headers: bearer(), body: sealed, ca: cert });
        expect(defaultPayloadConverter.fromPayload(fromJson(r.json())[0])).toEqual(PLAN);
      } finally {
        await tls.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('codec server settings', () => {
  it('refuses a certificate or key that is not PEM, or a key of another certificate, naming the flag and not the bytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rotator-codec-badtls-'));
    try {
      const good = selfSigned(dir);
      const other = selfSigned(dir, 'other-');
      const junk = join(dir, 'junk.pem');
      writeFileSync(junk, 'root:x:0:0:marker-9q4z:/root:/bin/bash\n');
      const env = { ROTATOR_CODEC_TOKEN: TOKEN };
      const failure = (flags: { tlsCert?: string; tlsKey?: string }, environment: NodeJS.ProcessEnv = env) => {
        try {
          codecServerSettings(flags, environment);
        } catch (err) {
          return err as { code: string; path: string; message: string };
        }
        throw new Error('accepted');
      };
      expect(codecServerSettings({ tlsCert: good.cert, tlsKey: good.key }, env).tls).toBeDefined();
      const cases: Array<[{ tlsCert?: string; tlsKey?: string }, string, RegExp]> = [
        [{ tlsCert: junk, tlsKey: good.key }, '--tls-cert', /holds no PEM certificate/],
        [{ tlsCert: '/etc/passwd', tlsKey: good.key }, '--tls-cert', /holds no PEM certificate/],
        [{ tlsCert: good.cert, tlsKey: junk }, '--tls-key', /holds no PEM private key/],
        [{ tlsCert: good.cert, tlsKey: good.cert }, '--tls-key', /holds no PEM private key/],
        [{ tlsCert: good.cert, tlsKey: other.key }, '--tls-key', /cannot serve the certificate/],
      ];
      for (const [flags, field, message] of cases) {
        const err = failure(flags);
        expect({ flags, code: err.code, path: err.path }).toEqual({ flags, code: 'CONFIG_INVALID', path: field });
        expect(err.message).toMatch(message);
        expect(err.message).not.toMatch(/marker-9q4z|root:x|BEGIN/);
      }
      // From the environment, the variable is named.
      expect(failure({}, { ...env, ROTATOR_CODEC_TLS_CERT: junk, ROTATOR_CODEC_TLS_KEY: good.key }).path).toBe(
        'ROTATOR_CODEC_TLS_CERT',
      );
      // A library caller handing startCodecServer bad PEM gets a RotatorError too, not OpenSSL's.
      await expect(
        startCodecServer({
          codec: new AesGcmCodec({ ...keys(), allowPlaintext: true }),
          token: TOKEN,
          corsOrigins: [],
          host: '127.0.0.1',
          port: 0,
          log: createLogger(new Writable({ write: (_c, _e, done) => done() })),
          tls: { cert: readFileSync(junk), key: readFileSync(junk) },
        }),
      ).rejects.toMatchObject({ code: 'CONFIG_INVALID', path: 'tls' });

      const saved = process.env.ROTATOR_CODEC_TOKEN;
      process.env.ROTATOR_CODEC_TOKEN = TOKEN;
      try {
        const run = await cli('codec-server', '--address', '127.0.0.1:0', '--tls-cert', '/etc/passwd', '--tls-key', junk);
        expect(run.code).toBe(2);
        expect(run.err).toMatch(/^rotator: --tls-cert: \/etc\/passwd holds no PEM certificate/);
        expect(run.err).not.toMatch(/root:|marker-9q4z/);
      } finally {
        if (saved === undefined) delete process.env.ROTATOR_CODEC_TOKEN;
        else process.env.ROTATOR_CODEC_TOKEN = saved;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the token from ROTATOR_CODEC_TOKEN or ROTATOR_CODEC_TOKEN_FILE, and refuses to run without one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rotator-codec-token-'));
    try {
      const file = join(dir, 'token');
      writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 });
      expect(readCodecToken({ ROTATOR_CODEC_TOKEN_FILE: file })).toBe(TOKEN);
      expect(readCodecToken({ ROTATOR_CODEC_TOKEN: TOKEN })).toBe(TOKEN);
      expect(() => readCodecToken({})).toThrow(/^ROTATOR_CODEC_TOKEN: the codec server needs an operator token/);
      expect(() => readCodecToken({ ROTATOR_CODEC_TOKEN: 'short' })).toThrow(
        /^ROTATOR_CODEC_TOKEN: the token must be at least 16/,
      );
      expect(() => readCodecToken({ ROTATOR_CODEC_TOKEN: TOKEN, ROTATOR_CODEC_TOKEN_FILE: file })).toThrow(/not both/);
      expect(() => readCodecToken({ ROTATOR_CODEC_TOKEN_FILE: join(dir, 'missing') })).toThrow(
        /^ROTATOR_CODEC_TOKEN_FILE: cannot read .*missing \(ENOENT\)/,
      );
      // the token itself never appears in an error
      expect(() => readCodecToken({ ROTATOR_CODEC_TOKEN: 'has a space in it!!' })).toThrow(
        expect.objectContaining({ message: expect.not.stringContaining('has a space') }),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes --address and --cors-origin over the environment, and names the flag when one is wrong', () => {
    const env = { ROTATOR_CODEC_TOKEN: TOKEN, ROTATOR_CODEC_CORS_ORIGINS: 'http://localhost:8233, https://ui.example' };
    expect(codecServerSettings({}, env)).toMatchObject({
      host: '127.0.0.1',
      port: 8888,
      corsOrigins: ['http://localhost:8233', 'https://ui.example'],
    });
    expect(
      codecServerSettings(
        { address: '0.0.0.0:9999', corsOrigin: ['http://127.0.0.1:8233'] },
        { ...env, ROTATOR_CODEC_ADDRESS: '1.2.3.4:1' },
      ),
    ).toMatchObject({ host: '0.0.0.0', port: 9999, corsOrigins: ['http://127.0.0.1:8233'] });
    expect(codecServerSettings({}, { ...env, ROTATOR_CODEC_ADDRESS: '[::1]:8888' })).toMatchObject({ host: '::1', port: 8888 });
    expect(() => codecServerSettings({ address: 'localhost' }, env)).toThrow(/^--address: expected host:port/);
    expect(() => codecServerSettings({ corsOrigin: ['http://localhost:8233/'] }, env)).toThrow(
      /^--cors-origin: expected an origin/,
    );
    expect(() => codecServerSettings({ corsOrigin: ['*'] }, env)).toThrow(/^--cors-origin: expected an origin/);
    expect(() => codecServerSettings({}, { ...env, ROTATOR_CODEC_CORS_ORIGINS: 'localhost:8233' })).toThrow(
      /^ROTATOR_CODEC_CORS_ORIGINS: expected an origin/,
    );
    expect(() => codecServerSettings({ tlsCert: '/nonexistent.pem' }, env)).toThrow(/^--tls-key: give both/);
  });

  it('fails fast from the CLI with exit code 2 naming the missing token', async () => {
    const saved = { token: process.env.ROTATOR_CODEC_TOKEN, file: process.env.ROTATOR_CODEC_TOKEN_FILE };
    delete process.env.ROTATOR_CODEC_TOKEN;
    delete process.env.ROTATOR_CODEC_TOKEN_FILE;
    try {
      const run = await cli('codec-server', '--address', '127.0.0.1:0');
      expect(run.code).toBe(2);
      expect(run.err).toMatch(/^rotator: ROTATOR_CODEC_TOKEN: the codec server needs an operator token/);
    } finally {
      if (saved.token !== undefined) process.env.ROTATOR_CODEC_TOKEN = saved.token;
      if (saved.file !== undefined) process.env.ROTATOR_CODEC_TOKEN_FILE = saved.file;
    }
  });

  it('serves from `rotator codec-server` until SIGTERM, then exits 0', async () => {
    const codecKeys = keys();
    const keySpec = `${codecKeys.activeKeyId}:${codecKeys.keys.get(codecKeys.activeKeyId)!.toString('base64')}`;
    // node itself with tsx's loader, not the tsx wrapper: the wrapper relays SIGTERM and, when the child has not
    // confirmed it within 30 ms (a loaded machine), SIGKILLs it and exits 143 itself (CI on 998abad).
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'codec-server', '--address', '127.0.0.1:0', '--cors-origin', UI_ORIGIN],
      {
        cwd: join(__dirname, '..'),
        env: { ...process.env, ROTATOR_CODEC_TOKEN: TOKEN, ROTATOR_CODEC_KEY: keySpec, ROTATOR_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /codec server listening on (http:\/\/127\.0\.0\.1:\d+) \(CORS origins: http:\/\/127\.0\.0\.1:8233\)/.exec(out);
        if (m) resolve(m[1]);
      });
      void exited.then((code) => reject(new Error(`exited ${code} before listening: ${stderr}`)));
    });
    const sealed = await new AesGcmCodec(codecKeys).encode([defaultPayloadConverter.toPayload(PLAN)]);
    const r = await call(url, { path: '/decode', headers: bearer(), body: toJson(sealed) });
    expect(defaultPayloadConverter.fromPayload(fromJson(r.json())[0])).toEqual(PLAN);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).not.toContain(TOKEN);
  });
});
