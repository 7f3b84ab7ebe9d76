// The HTTP side of `rotator listen`, on a real server: each push source takes what it should, refuses what it should
// with the right code, and dispatches nothing it refused; nothing a sender put in a body reaches an event or a log.
import http, { request, type Server } from 'node:http';
import { signature } from '../activities/consumers/webhook/webhook';
import { TriggersSchema } from '../src/config/trigger';
import { MAX_CONNECTIONS } from '../src/kernel/http-server';
import { createLogger } from '../src/kernel/log';
import type { DispatchOutcome, TriggerEvent } from '../src/listener/events';
import { signWebhook, startHttpListener, type HttpListener } from '../src/listener/http';
import { keyVaultObjectId, UNAUTHORIZED_MESSAGE } from '../src/listener/http-sources';
import { bodilessPost } from './support/bodiless-post';
import { expectContinue } from './support/expect-continue';

const SIGNING_KEY = 'whsec-test-0123456789abcdef';
const GCP_TOKEN = 'gcp-push-token-0123456789abcdef';
const AZURE_KEY = 'azure-grid-key-0123456789abcdef';
const MAX_BODY = 4096;

const triggers = TriggersSchema.parse({
  listen: { host: '127.0.0.1', port: 0, max_body: MAX_BODY },
  sources: {
    hooks: { type: 'webhook', signing_key: SIGNING_KEY },
    gcp: { type: 'gcp-pubsub', token: GCP_TOKEN },
    azure: { type: 'azure-event-grid', key: AZURE_KEY },
    queue: { type: 'sqs', queue_url: 'https://sqs.eu-west-1.amazonaws.com/123456789012/rotations', region: 'eu-west-1' },
  },
  rules: [{ source: 'hooks', secret: 'orders_db', action: 'rotate' }],
});

// What the tests' dispatcher was handed, and what it answers next.
let dispatched: TriggerEvent[] = [];
let answer: (event: TriggerEvent) => Promise<DispatchOutcome>;
const started = async (): Promise<DispatchOutcome> => ({
  status: 'started',
  secret: 'orders_db',
  action: 'rotate',
  workflowId: 'trigger/x',
});
let isReady = true;
let logLines: string[] = [];
let listener: HttpListener;

beforeAll(async () => {
  const log = createLogger({ write: (line: string) => logLines.push(line) });
  listener = await startHttpListener(
    triggers,
    async (event) => {
      dispatched.push(event);
      return answer(event);
    },
    { log, ready: () => isReady },
  );
});

afterAll(async () => {
  await listener.close();
});

beforeEach(() => {
  dispatched = [];
  logLines = [];
  answer = started;
  isReady = true;
});

interface Sent {
  method?: string;
  path: string;
  headers?: Record<string, string | number>;
  /** Sent with a Content-Length. */
  body?: string | Buffer;
  /** Sent chunked, without a Content-Length; the request is not ended, so only the server can end the exchange. */
  chunks?: Buffer[];
  /** Only the headers, announcing this Content-Length; no body follows. */
  announce?: number;
}

interface Received {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => Record<string, unknown>;
}

function send(options: Sent): Promise<Received> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...options.headers };
    if (options.announce !== undefined) headers['Content-Length'] = options.announce;
    else if (options.body !== undefined) headers['Content-Length'] = Buffer.byteLength(options.body);
    const req = request(
      { host: listener.address.host, port: listener.address.port, method: options.method ?? 'POST', path: options.path, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
          req.destroy();
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.chunks) {
      for (const chunk of options.chunks) req.write(chunk);
    } else if (options.announce !== undefined) {
      req.flushHeaders();
    } else {
      req.end(options.body);
    }
  });
}

const now = () => Math.floor(Date.now() / 1000);
const logText = () => logLines.join('');
const requestLines = () =>
  logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'webhook request');

// ---------------------------------------------------------------------------------------------------------------------
// The generic webhook

function webhookBody(fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ id: 'evt_0001', type: 'rotator.rotate', secret: 'orders_db', ...fields });
}

function signedWebhook(body: string, timestamp = now()): Sent {
  return { path: '/hooks/hooks', headers: signWebhook(SIGNING_KEY, body, timestamp), body };
}

describe('the generic webhook source', () => {
  it('dispatches a signed event as a TriggerEvent and answers 202', async () => {
    const ts = now();
    const res = await send(signedWebhook(webhookBody(), ts));
    expect(res.status).toBe(202);
    expect(res.json()).toEqual({ status: 'started' });
    expect(dispatched).toEqual([
      { source: 'hooks', id: 'evt_0001', type: 'rotator.rotate', resource: 'orders_db', time: ts * 1000 + 999 },
    ]);
    expect(requestLines()).toEqual([
      expect.objectContaining({
        source: 'hooks',
        status: 202,
        eventId: 'evt_0001',
        type: 'rotator.rotate',
        resource: 'orders_db',
      }),
    ]);
  });

  it('refuses a body time far from the signed timestamp, naming the field: it decides which rotation answers the event', async () => {
    const body = webhookBody({ time: '2001-01-01T00:00:00.000Z' });
    const res = await send(signedWebhook(body));
    expect(res.status).toBe(400);
    expect(res.json().message).toBe('time: further from X-Rotator-Timestamp than the tolerance');
    expect(dispatched).toEqual([]);
  });

  it("takes the event's time from the body when it has one, and drops fields it does not know", async () => {
    const at = new Date((now() - 30) * 1000 + 123).toISOString();
    const body = webhookBody({ time: at, version: '7', login: 'orders_app_b' });
    expect((await send(signedWebhook(body))).status).toBe(202);
    expect(dispatched).toEqual([
      {
        source: 'hooks',
        id: 'evt_0001',
        type: 'rotator.rotate',
        resource: 'orders_db',
        time: Date.parse(at),
      },
    ]);
  });

  it('accepts the signature rotator’s own webhook consumer makes', async () => {
    const body = webhookBody();
    const ts = now();
    const res = await send({
      path: '/hooks/hooks',
      headers: {
        'Content-Type': 'application/json; charset=utf-8',
        'X-Rotator-Event-Id': 'evt_0001',
        'X-Rotator-Timestamp': String(ts),
        'X-Rotator-Signature': signature(SIGNING_KEY, ts, body),
      },
      body,
    });
    expect(res.status).toBe(202);
  });

  it('refuses a replayed event with 409 when the dispatcher has seen its id', async () => {
    const seen = new Set<string>();
    answer = async (event) => {
      if (seen.has(event.id)) return { status: 'duplicate', workflowId: 'trigger/x' };
      seen.add(event.id);
      return started();
    };
    const delivery = signedWebhook(webhookBody());
    expect((await send(delivery)).status).toBe(202);
    const replay = await send(delivery);
    expect(replay.status).toBe(409);
    expect(replay.json()).toMatchObject({ status: 'duplicate' });
  });

  it('answers 200 unmapped for an event no rule maps, so the sender does not retry it', async () => {
    answer = async () => ({ status: 'unmapped' });
    const res = await send(signedWebhook(webhookBody()));
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ status: 'unmapped' });
  });

  it('answers 503 when the event cannot be dispatched, so the sender retries', async () => {
    answer = async () => {
      throw new Error('Temporal unreachable');
    };
    const res = await send(signedWebhook(webhookBody()));
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('30');
    expect(res.json()).toMatchObject({ status: 'unavailable' });
  });

  it('refuses forged, unsigned and half-signed requests with one and the same 401, dispatching nothing', async () => {
    const body = webhookBody();
    const ts = now();
    const good = signWebhook(SIGNING_KEY, body, ts);
    const variants: Record<string, Record<string, string>> = {
      'signed with another key': signWebhook('another-key-0123456789abcdef', body, ts),
      'signature of another body': {
        ...good,
        'X-Rotator-Signature': signature(SIGNING_KEY, ts, webhookBody({ secret: 'other' })),
      },
      'signature for another timestamp': { ...good, 'X-Rotator-Timestamp': String(ts - 1) },
      'not hex': { ...good, 'X-Rotator-Signature': `v1=${'z'.repeat(64)}` },
      truncated: { ...good, 'X-Rotator-Signature': good['X-Rotator-Signature'].slice(0, 20) },
      'no signature': { 'Content-Type': 'application/json', 'X-Rotator-Event-Id': 'evt_0001', 'X-Rotator-Timestamp': String(ts) },
      'no timestamp': { 'Content-Type': 'application/json', 'X-Rotator-Signature': good['X-Rotator-Signature'] },
      unsigned: { 'Content-Type': 'application/json' },
      'timestamp not a number': { ...good, 'X-Rotator-Timestamp': 'now' },
    };
    for (const [variant, headers] of Object.entries(variants)) {
      const res = await send({ path: '/hooks/hooks', headers, body });
      expect({ variant, status: res.status, body: res.json() }).toEqual({
        variant,
        status: 401,
        body: { status: 'unauthorized', message: UNAUTHORIZED_MESSAGE },
      });
    }
    expect(dispatched).toEqual([]);
    const text = logText();
    for (const secret of [
      SIGNING_KEY,
      good['X-Rotator-Signature'].slice(3),
      variants['signed with another key']['X-Rotator-Signature'],
    ]) {
      expect(text).not.toContain(secret);
    }
  });

  it('refuses a POST that announces no body, with made-up signature headers, with the same 401', async () => {
    const forged = { 'X-Rotator-Timestamp': String(now()), 'X-Rotator-Signature': `v1=${'0'.repeat(64)}` };
    for (const headers of [forged, { ...forged, 'Content-Type': 'application/json' }]) {
      const res = await bodilessPost(listener.address, '/hooks/hooks', headers);
      expect({ status: res.status, body: JSON.parse(res.body) as unknown }).toEqual({
        status: 401,
        body: { status: 'unauthorized', message: UNAUTHORIZED_MESSAGE },
      });
    }
    // Genuinely signed over the empty body it is: authenticated, then refused as a body that is not JSON.
    const signed = { ...signWebhook(SIGNING_KEY, '', now()), 'Content-Type': 'application/json' };
    expect((await bodilessPost(listener.address, '/hooks/hooks', signed)).status).toBe(400);
    expect(dispatched).toEqual([]);
  });

  it('invites a body with 100 Continue only once the token or signature headers are there', async () => {
    const body = webhookBody();
    const json = { 'Content-Type': 'application/json' };
    expect(await expectContinue(`http://${listener.address.host}:${listener.address.port}`, '/hooks/hooks', json, body)).toEqual({
      status: 401,
      continued: false,
    });
    expect(
      await expectContinue(
        `http://${listener.address.host}:${listener.address.port}`,
        '/hooks/hooks',
        { ...json, ...signWebhook(SIGNING_KEY, body, now()) },
        body,
      ),
    ).toEqual({
      status: 202,
      continued: true,
    });
  });

  it('caps the connections it holds at once', async () => {
    const made: Server[] = [];
    const original = http.createServer.bind(http) as (...args: unknown[]) => Server;
    const spy = jest.spyOn(http, 'createServer').mockImplementation(((...args: unknown[]) => {
      const server = original(...args);
      made.push(server);
      return server;
    }) as typeof http.createServer);
    let other: HttpListener | undefined;
    try {
      other = await startHttpListener(triggers, started, { log: createLogger({ write: () => undefined }), ready: () => true });
    } finally {
      spy.mockRestore();
      await other?.close();
    }
    expect(made).toHaveLength(1);
    expect(made[0].maxConnections).toBe(MAX_CONNECTIONS);
  });

  it('logs one line per request, with the sender’s fields bounded; control characters are refused, naming the field', async () => {
    const body = webhookBody({ type: 'rotator.rotate', secret: `orders_db${'x'.repeat(500)}` });
    expect((await send(signedWebhook(body))).status).toBe(202);
    const [line] = requestLines();
    expect(line).toMatchObject({ source: 'hooks', status: 202, type: 'rotator.rotate', outcome: 'started' });
    expect(String(line.resource).length).toBeLessThanOrEqual(121);
    expect(logLines).toHaveLength(1);
    // Ids and names go into history and log lines: a forged line break never gets that far.
    const forged = await send(signedWebhook(webhookBody({ type: 'rotator.rotate\u0000\nforged line' })));
    expect(forged.status).toBe(400);
    expect(forged.json().message).toBe('type: control, format and line-separator characters are not allowed');
    expect(dispatched).toHaveLength(1);
  });

  it('refuses a genuinely signed request whose timestamp is outside the tolerance, past or future, with the same 401', async () => {
    for (const ts of [now() - 600, now() + 600]) {
      const res = await send(signedWebhook(webhookBody(), ts));
      expect(res.status).toBe(401);
      expect(res.json()).toEqual({ status: 'unauthorized', message: UNAUTHORIZED_MESSAGE });
    }
    expect(dispatched).toEqual([]);
    expect(requestLines().map((l) => l.reason)).toEqual(['stale timestamp', 'stale timestamp']);
  });

  it('refuses with 400 a signed body that is not JSON, naming no value', async () => {
    const body = '{"id": "evt_0001", oops';
    const res = await send(signedWebhook(body));
    expect(res.status).toBe(400);
    expect(res.json()).toEqual({ status: 'invalid', message: 'the body is not valid JSON' });
    expect(dispatched).toEqual([]);
  });

  it('refuses with 400 a signed body that misses or mistypes a field, naming the field and not its value', async () => {
    const mistyped = await send(signedWebhook(webhookBody({ secret: { leaked: 'hunter2-hunter2' } })));
    expect(mistyped.status).toBe(400);
    expect(mistyped.json().message).toMatch(/^secret: /);
    expect(mistyped.text).not.toContain('hunter2');

    const missing = await send(signedWebhook(JSON.stringify({ id: 'evt_0001', type: 'rotator.rotate' })));
    expect(missing.status).toBe(400);
    expect(missing.json().message).toMatch(/^secret: /);

    const badTime = await send(signedWebhook(webhookBody({ time: 'yesterday-hunter2' })));
    expect(badTime.status).toBe(400);
    expect(badTime.json().message).toBe('time: expected an RFC 3339 time');
    expect(dispatched).toEqual([]);
    expect(logText()).not.toContain('hunter2');
  });

  it("refuses with 400 a body whose id is not the X-Rotator-Event-Id header's, or a request without that header", async () => {
    const body = webhookBody();
    const headers = signWebhook(SIGNING_KEY, body);
    const other = await send({ path: '/hooks/hooks', headers: { ...headers, 'X-Rotator-Event-Id': 'evt_other' }, body });
    expect(other.status).toBe(400);
    expect(other.json().message).toBe('id: does not match X-Rotator-Event-Id');
    const { 'X-Rotator-Event-Id': _dropped, ...withoutId } = headers;
    const none = await send({ path: '/hooks/hooks', headers: withoutId, body });
    expect(none.status).toBe(400);
    expect(dispatched).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// Everything every source shares: route, method, content type, size

describe('every push endpoint', () => {
  it('answers 404 for an unknown source, and for a source that is not pushed to (SQS)', async () => {
    for (const path of ['/hooks/nope', '/hooks/queue', '/hooks/', '/hooks/__proto__', '/elsewhere']) {
      const res = await send({ path, headers: { 'Content-Type': 'application/json' }, body: '{}' });
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
    }
    expect(dispatched).toEqual([]);
  });

  it('answers 405 with Allow: POST for any other method', async () => {
    for (const method of ['GET', 'PUT', 'DELETE', 'OPTIONS']) {
      const res = await send({ method, path: '/hooks/hooks' });
      expect({ method, status: res.status, allow: res.headers.allow }).toEqual({ method, status: 405, allow: 'POST' });
    }
    expect(dispatched).toEqual([]);
  });

  it('answers 415 for a body that is not application/json (CloudEvents included) or is compressed', async () => {
    const body = webhookBody();
    const signed = signWebhook(SIGNING_KEY, body);
    const types = [
      'text/plain',
      'application/cloudevents+json',
      'application/x-www-form-urlencoded',
      'application/json; charset=latin1',
    ];
    for (const type of types) {
      const res = await send({ path: '/hooks/hooks', headers: { ...signed, 'Content-Type': type }, body });
      expect({ type, status: res.status }).toEqual({ type, status: 415 });
    }
    const { 'Content-Type': _dropped, ...untyped } = signed;
    expect((await send({ path: '/hooks/hooks', headers: untyped, body })).status).toBe(415);
    expect((await send({ path: '/hooks/hooks', headers: { ...signed, 'Content-Encoding': 'gzip' }, body })).status).toBe(415);
    expect(dispatched).toEqual([]);
  });

  it('answers 413 as soon as Content-Length announces more than max_body, before reading any of it', async () => {
    for (const path of ['/hooks/hooks', `/hooks/gcp?token=${GCP_TOKEN}`, `/hooks/azure?code=${AZURE_KEY}`]) {
      const res = await send({ path, headers: { 'Content-Type': 'application/json' }, announce: 10 * 1024 * 1024 });
      expect({ path, status: res.status, connection: res.headers.connection }).toEqual({
        path,
        status: 413,
        connection: 'close',
      });
    }
    expect(dispatched).toEqual([]);
  });

  it('answers 413 once a chunked body without Content-Length grows past max_body, and closes the connection', async () => {
    // Correctly signed: only the size can refuse it.
    const big = webhookBody({ padding: 'x'.repeat(MAX_BODY) });
    const res = await send({ path: '/hooks/hooks', headers: signWebhook(SIGNING_KEY, big), chunks: [Buffer.from(big)] });
    expect(res.status).toBe(413);
    expect(res.headers.connection).toBe('close');
    const gcp = await send({
      path: `/hooks/gcp?token=${GCP_TOKEN}`,
      headers: { 'Content-Type': 'application/json' },
      chunks: [Buffer.alloc(MAX_BODY / 2, 0x20), Buffer.alloc(MAX_BODY, 0x20)],
    });
    expect(gcp.status).toBe(413);
    expect(dispatched).toEqual([]);
  });

  it('never hands the body of a request that fails authentication to the JSON parser', async () => {
    // A forged signature over a body that is not JSON: 401, not 400, and JSON.parse never saw it.
    const notJson = '{"id": "evt_0001", this would fail to parse';
    const forgedHeaders = { ...signWebhook('another-key-0123456789abcdef', notJson), 'X-Rotator-Event-Id': 'evt_0001' };
    const parse = jest.spyOn(JSON, 'parse');
    try {
      const forged = await send({ path: '/hooks/hooks', headers: forgedHeaders, body: notJson });
      const wrongToken = await send({ path: '/hooks/gcp?token=wrong-token-0123456789abcdef', headers: json, body: notJson });
      expect([forged.status, wrongToken.status]).toEqual([401, 401]);
      expect(parse.mock.calls.filter(([text]) => text === notJson)).toEqual([]);
      // A URL token is checked before the body is read: a body announced but never sent cannot hold the answer up.
      for (const path of ['/hooks/gcp?token=wrong-token-0123456789abcdef', '/hooks/azure?code=wrong']) {
        const res = await send({ path, headers: json, announce: MAX_BODY });
        expect({ path, status: res.status, body: res.json() }).toEqual({
          path,
          status: 401,
          body: { status: 'unauthorized', message: UNAUTHORIZED_MESSAGE },
        });
      }
    } finally {
      parse.mockRestore();
    }
    expect(dispatched).toEqual([]);
  });

  it('answers a path that is not percent-encoding with the same 404, never quoting it, and logs it', async () => {
    const res = await send({
      path: `/hooks/%zz?token=${GCP_TOKEN}`,
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect({ status: res.status, body: res.json() }).toEqual({
      status: 404,
      body: { status: 'not found', message: 'no such endpoint' },
    });
    expect(res.headers['cache-control']).toBe('no-store');
    expect(requestLines()).toEqual([expect.objectContaining({ status: 404, reason: 'no such endpoint' })]);
    expect(res.text + logText()).not.toContain(GCP_TOKEN);
  });

  it('takes a body of exactly max_body bytes', async () => {
    const base = webhookBody({ padding: '' });
    const exact = webhookBody({ padding: 'x'.repeat(MAX_BODY - Buffer.byteLength(base)) });
    expect(Buffer.byteLength(exact)).toBe(MAX_BODY);
    expect((await send(signedWebhook(exact))).status).toBe(202);
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// GCP Pub/Sub push

/** The Secret resource Secret Manager puts in `data`; a password inside it must go nowhere. */
const SECRET_DATA = Buffer.from(
  JSON.stringify({ name: 'projects/123/secrets/orders_db', password: 'pw-in-data-hunter2' }),
).toString('base64');

function pushBody(attributes: Record<string, unknown> = {}): string {
  return JSON.stringify({
    message: {
      attributes: {
        eventType: 'SECRET_ROTATE',
        secretId: 'projects/123/secrets/orders_db',
        dataFormat: 'JSON_API_V1',
        ...attributes,
      },
      data: SECRET_DATA,
      messageId: '2070443601311540',
      message_id: '2070443601311540',
      publishTime: '2021-02-26T19:13:55.749Z',
      publish_time: '2021-02-26T19:13:55.749Z',
    },
    subscription: 'projects/p/subscriptions/rotator-push',
  });
}

const json = { 'Content-Type': 'application/json' };

describe('the gcp-pubsub source', () => {
  it('dispatches a push of a Secret Manager notification with the URL token, and answers 202', async () => {
    const res = await send({
      path: `/hooks/gcp?token=${GCP_TOKEN}`,
      headers: { ...json, Authorization: 'Bearer eyJ.unchecked.jwt' },
      body: pushBody(),
    });
    expect(res.status).toBe(202);
    expect(dispatched).toEqual([
      {
        source: 'gcp',
        id: '2070443601311540',
        type: 'SECRET_ROTATE',
        resource: 'projects/123/secrets/orders_db',
        time: Date.parse('2021-02-26T19:13:55.749Z'),
      },
    ]);
  });

  it("never lets the message's data reach the event, the answer or a log line", async () => {
    await send({ path: `/hooks/gcp?token=${GCP_TOKEN}`, headers: json, body: pushBody() });
    await send({ path: `/hooks/gcp?token=wrong-token-0123456789abcdef`, headers: json, body: pushBody() });
    expect(dispatched).toHaveLength(1);
    const seen = JSON.stringify(dispatched) + logText();
    for (const secret of ['pw-in-data-hunter2', SECRET_DATA, GCP_TOKEN, 'wrong-token-0123456789abcdef']) {
      expect(seen).not.toContain(secret);
    }
    expect(requestLines().map((l) => l.status)).toEqual([202, 401]);
  });

  it('acknowledges a redelivered message with 200, since Pub/Sub would redeliver a refusal', async () => {
    answer = async () => ({ status: 'duplicate', workflowId: 'trigger/x' });
    const res = await send({ path: `/hooks/gcp?token=${GCP_TOKEN}`, headers: json, body: pushBody() });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ status: 'duplicate' });
  });

  it('refuses a missing, wrong, partial or repeated token with 401, dispatching nothing', async () => {
    const paths = [
      '/hooks/gcp',
      '/hooks/gcp?token=',
      `/hooks/gcp?token=${GCP_TOKEN.slice(0, -1)}`,
      `/hooks/gcp?token=${GCP_TOKEN}x`,
      `/hooks/gcp?token=${GCP_TOKEN}&token=${GCP_TOKEN}`,
      `/hooks/gcp?code=${GCP_TOKEN}`,
    ];
    for (const path of paths) {
      const res = await send({ path, headers: json, body: pushBody() });
      expect({ status: res.status, body: res.json() }).toEqual({
        status: 401,
        body: { status: 'unauthorized', message: UNAUTHORIZED_MESSAGE },
      });
    }
    expect(dispatched).toEqual([]);
  });

  it('refuses with 400 an authenticated push that is not JSON or not a Secret Manager notification, naming the field', async () => {
    const bad = await send({ path: `/hooks/gcp?token=${GCP_TOKEN}`, headers: json, body: 'not json' });
    expect(bad.status).toBe(400);
    const noSecret = await send({
      path: `/hooks/gcp?token=${GCP_TOKEN}`,
      headers: json,
      body: JSON.stringify({
        message: { attributes: { eventType: 'SECRET_ROTATE' }, messageId: '1', publishTime: '2021-02-26T19:13:55Z' },
        subscription: 's',
      }),
    });
    expect(noSecret.status).toBe(400);
    expect(noSecret.json().message).toMatch(/^message\.attributes\.secretId: /);
    expect(dispatched).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// Azure Event Grid

const SECRET_URL = 'https://orders-kv.vault.azure.net/secrets/orders-db';

function gridEvent(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: '00eccf70-95a7-4e7c-8299-2eb17ee9ad64',
    topic: '/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/orders-kv',
    subject: 'orders-db',
    eventType: 'Microsoft.KeyVault.SecretNearExpiry',
    eventTime: '2019-07-25T01:08:33.1036736Z',
    data: {
      Id: `${SECRET_URL}/ee059b2bb5bc48398a53b168c6cdcb10`,
      VaultName: 'orders-kv',
      ObjectType: 'Secret',
      ObjectName: 'orders-db',
      Version: 'ee059b2bb5bc48398a53b168c6cdcb10',
      NBF: '1559081980',
      EXP: '1559082580',
    },
    dataVersion: '1',
    metadataVersion: '1',
    ...fields,
  };
}

const validation = JSON.stringify([
  {
    id: '2d1781af-3a4c-4d7c-bd0c-e34b19da4e66',
    topic: '/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/orders-kv',
    subject: '',
    data: {
      validationCode: '512d38b6-c7b8-40c8-89fe-f46f9e9622b6',
      validationUrl: 'https://rp-eastus2.eventgrid.azure.net:553/eventsubscriptions/sub/validate?id=1&t=2',
    },
    eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
    eventTime: '2018-01-25T22:12:19.4556811Z',
    metadataVersion: '1',
    dataVersion: '1',
  },
]);

const notification = { ...json, 'aeg-event-type': 'Notification' };

describe('the azure-event-grid source', () => {
  it('answers the subscription validation handshake with the code once the key checked out', async () => {
    const res = await send({
      path: `/hooks/azure?code=${AZURE_KEY}`,
      headers: { ...json, 'aeg-event-type': 'SubscriptionValidation' },
      body: validation,
    });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ validationResponse: '512d38b6-c7b8-40c8-89fe-f46f9e9622b6' });
    expect(dispatched).toEqual([]);
  });

  it('refuses the handshake without the key (401), so nobody can subscribe the endpoint', async () => {
    for (const path of ['/hooks/azure', '/hooks/azure?code=wrong-key-0123456789abcdef']) {
      const res = await send({ path, headers: { ...json, 'aeg-event-type': 'SubscriptionValidation' }, body: validation });
      expect(res.status).toBe(401);
      expect(res.text).not.toContain('512d38b6');
    }
    expect(dispatched).toEqual([]);
  });

  it('dispatches every event of a notification, the secret id without its version, and answers 200', async () => {
    const body = JSON.stringify([
      gridEvent(),
      gridEvent({ id: 'second', eventType: 'Microsoft.KeyVault.SecretNewVersionCreated', eventTime: '2019-07-25T02:00:00Z' }),
    ]);
    const res = await send({ path: `/hooks/azure?code=${AZURE_KEY}`, headers: notification, body });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ status: 'accepted' });
    expect(dispatched).toEqual([
      {
        source: 'azure',
        id: '00eccf70-95a7-4e7c-8299-2eb17ee9ad64',
        type: 'Microsoft.KeyVault.SecretNearExpiry',
        resource: SECRET_URL,
        time: Date.parse('2019-07-25T01:08:33.1036736Z'),
      },
      {
        source: 'azure',
        id: 'second',
        type: 'Microsoft.KeyVault.SecretNewVersionCreated',
        resource: SECRET_URL,
        time: Date.parse('2019-07-25T02:00:00Z') + 999,
      },
    ]);
  });

  it('answers 200 for events seen before or mapped by no rule, since Event Grid retries anything else', async () => {
    answer = async (event) => (event.id === 'second' ? { status: 'unmapped' } : { status: 'duplicate', workflowId: 'trigger/x' });
    const body = JSON.stringify([gridEvent(), gridEvent({ id: 'second' })]);
    const res = await send({ path: `/hooks/azure?code=${AZURE_KEY}`, headers: notification, body });
    expect(res.status).toBe(200);
  });

  it('answers 503 when any event of the batch cannot be dispatched, so Event Grid delivers the batch again', async () => {
    answer = async (event) => {
      if (event.id === 'second') throw new Error('Temporal unreachable');
      return started();
    };
    const body = JSON.stringify([gridEvent(), gridEvent({ id: 'second' })]);
    const res = await send({ path: `/hooks/azure?code=${AZURE_KEY}`, headers: notification, body });
    expect(res.status).toBe(503);
  });

  it('refuses a notification without the key or with a wrong one with 401, dispatching nothing', async () => {
    const body = JSON.stringify([gridEvent()]);
    for (const path of ['/hooks/azure', `/hooks/azure?code=${AZURE_KEY.toUpperCase()}`, `/hooks/azure?token=${AZURE_KEY}`]) {
      expect((await send({ path, headers: notification, body })).status).toBe(401);
    }
    expect(dispatched).toEqual([]);
  });

  it('refuses with 400 an authenticated delivery that is not an array of events, or has no aeg-event-type', async () => {
    const path = `/hooks/azure?code=${AZURE_KEY}`;
    const notArray = await send({ path, headers: notification, body: JSON.stringify(gridEvent()) });
    expect(notArray.status).toBe(400);
    const noId = await send({
      path,
      headers: notification,
      body: JSON.stringify([gridEvent({ data: { VaultName: 'orders-kv' } })]),
    });
    expect(noId.status).toBe(400);
    expect(noId.json().message).toMatch(/^\[0\]\.data\.Id: /);
    const noKind = await send({ path, headers: json, body: JSON.stringify([gridEvent()]) });
    expect(noKind.status).toBe(400);
    expect(noKind.json().message).toMatch(/aeg-event-type/);
    expect(dispatched).toEqual([]);
  });

  it("strips only a Key Vault object id's version segment", () => {
    expect(keyVaultObjectId(`${SECRET_URL}/ee059b2bb5bc48398a53b168c6cdcb10`)).toBe(SECRET_URL);
    expect(keyVaultObjectId(SECRET_URL)).toBe(SECRET_URL);
    expect(keyVaultObjectId('https://kv.vault.azure.net/keys/k/v1')).toBe('https://kv.vault.azure.net/keys/k');
    expect(keyVaultObjectId('orders-db')).toBe('orders-db');
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// Health

describe('health endpoints', () => {
  it('answers /healthz with 200 while the process lives, and /readyz by the other sources', async () => {
    const health = await send({ method: 'GET', path: '/healthz' });
    expect([health.status, health.text]).toEqual([200, 'ok\n']);
    expect((await send({ method: 'GET', path: '/readyz' })).status).toBe(200);
    isReady = false;
    expect((await send({ method: 'GET', path: '/readyz' })).status).toBe(503);
    expect((await send({ method: 'GET', path: '/healthz' })).status).toBe(200);
    const post = await send({ method: 'POST', path: '/healthz', body: '' });
    expect(post.status).toBe(405);
  });

  it('listens on the port the system chose when the config says 0', () => {
    expect(listener.address.host).toBe('127.0.0.1');
    expect(listener.address.port).toBeGreaterThan(0);
  });
});
