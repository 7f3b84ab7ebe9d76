// A small API-key service with a rotator HTTP hook: it issues its own keys (two may be active at once), a protected
// resource accepts either active key, and the hook lets rotator create, verify, revoke and list them.
//
//   npx tsx examples/api-key-service/service.ts --port 8787 --signing-key-file ./hook-key
//
// It prints the hook's and the resource's URLs. The protocol (request and answer shapes, signatures, idempotency) is
// docs/http-hook.md; this file is a model of the receiving side, in plain Node with no dependency, kept in memory.
import { createHmac, randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

/** Requests signed longer ago than this (or this far ahead) are refused: a captured request cannot be replayed later. */
const MAX_SKEW_SECONDS = 300;
/** The largest hook request this service reads. */
const MAX_BODY_BYTES = 16 * 1024;
/** How many keys of one account may be active at once: the old and the new during a rotation. */
const MAX_ACTIVE = 2;

export interface ApiKey {
  id: string;
  account: string;
  /** Only the hash is kept for checking; the key itself is kept only in the answer a create may have to repeat. */
  hash: string;
  createdAt: string;
  active: boolean;
}

export interface ApiKeyService {
  /** Where rotator's `http` target POSTs (the `url` of its block). */
  hookUrl: string;
  /** The protected resource: GET with `Authorization: Bearer <key>`. */
  resourceUrl: string;
  /** Every key ever issued, withdrawn ones included (no secret in them). */
  keys(account?: string): ApiKey[];
  /** Issues a key outside rotator (the key an account starts with, as a person would in the service's console). */
  issue(account: string): { id: string; secret: string };
  /** A switch for demonstrations and tests: the hook's verify answers `valid: false` for every key while it is on. */
  refuseVerify: boolean;
  /** The same for the keys of these accounts only. */
  readonly refuseVerifyOf: Set<string>;
  /** How many hook requests of each action were answered, by the action's name (for tests of retries). */
  readonly answered: Record<string, number>;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The hook's request signature: `v1=<hex HMAC-SHA256(key, "<X-Rotator-Timestamp>.<raw body>")>`, as rotator's webhooks. */
function requestSignatureMatches(key: string, timestamp: string, body: Buffer, header: string): boolean {
  const expected = Buffer.from(`v1=${createHmac('sha256', key).update(`${timestamp}.`).update(body).digest('hex')}`);
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The answer's signature, bound to the request it answers: HMAC-SHA256(key, "<request's X-Rotator-Signature>.<raw answer>"). */
function answerSignature(key: string, requestSignature: string, body: string): string {
  return `v1=${createHmac('sha256', key).update(`${requestSignature}.${body}`).digest('hex')}`;
}

export async function startApiKeyService(options: { signingKey: string; host?: string; port?: number }): Promise<ApiKeyService> {
  const { signingKey } = options;
  const keys = new Map<string, ApiKey>();
  /** The answer each create gave, by idempotency key: a retried create gets the same key back. */
  const created = new Map<string, { status: number; body: Json }>();
  const answered: Record<string, number> = {};
  const refuse = { on: false };
  const refuseVerifyOf = new Set<string>();

  const newKey = (account: string): { id: string; secret: string } => {
    const id = `key_${randomBytes(6).toString('hex')}`;
    const secret = `ak_${randomBytes(24).toString('base64url')}`;
    keys.set(id, { id, account, hash: sha256(secret), createdAt: new Date().toISOString(), active: true });
    return { id, secret };
  };
  const activeKeys = (account: string) => [...keys.values()].filter((k) => k.account === account && k.active);

  /** One hook action: the status and the JSON answer. */
  const act = (request: Json): { status: number; body: Json } => {
    const account = typeof request.account === 'string' && request.account !== '' ? request.account : 'default';
    switch (request.action) {
      case 'ping':
        return { status: 200, body: { ok: true } };
      case 'list':
        return {
          status: 200,
          body: {
            keys: activeKeys(account).map((k) => ({ id: k.id, created_at: k.createdAt })),
            max_active: MAX_ACTIVE,
          },
        };
      case 'create': {
        const idem = String(request.idempotency_key ?? '');
        if (!idem) return { status: 400, body: { error: 'idempotency_key missing' } };
        const earlier = created.get(idem);
        if (earlier) return earlier;
        if (activeKeys(account).length >= MAX_ACTIVE)
          return { status: 409, body: { error: `account ${account} has ${MAX_ACTIVE} active keys already; revoke one first` } };
        const key = newKey(account);
        const answer = {
          status: 200,
          body: { id: key.id, secret: key.secret, fields: { created_at: keys.get(key.id)!.createdAt } },
        };
        created.set(idem, answer);
        return answer;
      }
      case 'verify': {
        const key = keys.get(String(request.id));
        if (refuse.on || refuseVerifyOf.has(account))
          return { status: 200, body: { valid: false, reason: 'verification is switched off for this demo' } };
        if (!key || key.account !== account) return { status: 200, body: { valid: false, reason: 'no such key' } };
        if (!key.active) return { status: 200, body: { valid: false, reason: 'the key is revoked' } };
        if (typeof request.secret !== 'string' || sha256(request.secret) !== key.hash)
          return { status: 200, body: { valid: false, reason: 'the key does not match its id' } };
        return { status: 200, body: { valid: true } };
      }
      case 'revoke': {
        const key = keys.get(String(request.id));
        // Already revoked counts as revoked; a key this service never issued is 404, which rotator takes as gone too.
        if (!key || key.account !== account) return { status: 404, body: { error: 'no such key' } };
        key.active = false;
        return { status: 200, body: { revoked: true } };
      }
      default:
        return { status: 400, body: { error: 'unknown action' } };
    }
  };

  const send = (res: ServerResponse, status: number, body: Json, requestSignature?: string) => {
    const text = JSON.stringify(body);
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (requestSignature) headers['X-Rotator-Signature'] = answerSignature(signingKey, requestSignature, text);
    res.writeHead(status, headers).end(text);
  };

  const readBody = (req: IncomingMessage): Promise<Buffer | null> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          resolve(null);
          req.destroy();
        } else chunks.push(chunk);
      });
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });

  const hook = async (req: IncomingMessage, res: ServerResponse) => {
    const timestamp = String(req.headers['x-rotator-timestamp'] ?? '');
    const signature = String(req.headers['x-rotator-signature'] ?? '');
    const raw = await readBody(req);
    if (raw === null) return send(res, 413, { error: 'request too large' });
    // The signature is checked over the raw bytes before anything parses them; an unsigned answer to an unsigned request.
    if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > MAX_SKEW_SECONDS)
      return send(res, 401, { error: 'timestamp missing or too far from this clock' });
    if (!requestSignatureMatches(signingKey, timestamp, raw, signature)) return send(res, 401, { error: 'bad signature' });
    let request: Json;
    try {
      request = JSON.parse(raw.toString('utf8')) as Json;
    } catch {
      return send(res, 400, { error: 'not JSON' }, signature);
    }
    const { status, body } = act(request);
    const action = String(request.action);
    answered[action] = (answered[action] ?? 0) + 1;
    send(res, status, body, signature);
  };

  const resource = (req: IncomingMessage, res: ServerResponse) => {
    const m = /^Bearer (\S+)$/.exec(String(req.headers.authorization ?? ''));
    const hash = m ? sha256(m[1]!) : null;
    const key = hash ? [...keys.values()].find((k) => k.active && k.hash === hash) : undefined;
    if (!key) return send(res, 401, { error: 'a valid API key is required' });
    send(res, 200, { account: key.account, key_id: key.id, data: 'the protected resource' });
  };

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'POST' && path === '/rotator')
      hook(req, res).catch(() => {
        if (!res.headersSent) send(res, 500, { error: 'internal error' });
      });
    else if (req.method === 'GET' && path === '/resource') resource(req, res);
    else send(res, 404, { error: 'not found' });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { address, port } = server.address() as AddressInfo;
  const base = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;

  return {
    hookUrl: `${base}/rotator`,
    resourceUrl: `${base}/resource`,
    keys: (account) => [...keys.values()].filter((k) => account === undefined || k.account === account).map((k) => ({ ...k })),
    issue: newKey,
    get refuseVerify() {
      return refuse.on;
    },
    set refuseVerify(on: boolean) {
      refuse.on = on;
    },
    refuseVerifyOf,
    answered,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8787' },
      'signing-key-file': { type: 'string' },
      account: { type: 'string', default: 'default' },
    },
  });
  const file = values['signing-key-file'];
  const signingKey = file ? readFileSync(file, 'utf8').trim() : process.env.HOOK_SIGNING_KEY;
  if (!signingKey || signingKey.length < 32) {
    console.error('give the hook signing key (32+ characters) in --signing-key-file or HOOK_SIGNING_KEY');
    process.exitCode = 2;
    return;
  }
  const service = await startApiKeyService({ signingKey, host: values.host, port: Number(values.port) });
  const first = service.issue(values.account!);
  console.log(`hook:      ${service.hookUrl}`);
  console.log(`resource:  ${service.resourceUrl}`);
  // A demonstration's first key, printed once so it can be put in the store (`api_key`, `key_id`); rotator replaces it.
  console.log(`first key of account ${values.account}: key_id=${first.id} api_key=${first.secret}`);
  const stop = () => void service.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) void main();
