// Keys the application generates itself (the `generated` target) rotated by a real worker into OpenBao: a JWT signing
// key whose JWKS accepts tokens of the old and the new key during the overlap and only the new one after (issue 23,
// must-show 5); a random key and an EC key pair kept beside their successors until withdrawn; a consumer that refuses
// the event rolls the rotation back; and no generated value in the workflow history.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { temporal } from '@temporalio/proto';
import { createLocalJWKSet, importJWK, jwtVerify, SignJWT, type JSONWebKeySet, type JWK } from 'jose';
import type { SecretValue } from '../activities/types';
import { preflight } from '../src/client/preflight';
import { followRotation, startRotation } from '../src/client/rotations';
import type { RotationStatus } from '../workflows/definitions';
import { unique } from './support/harness';
import { startRotator, type Rotator } from './support/rotator';
import { testStack } from './support/stack';
import { vaultClient, vaultTestStore } from './support/test-stores';

const store = vaultTestStore();

/** What the webhook receiver saw of the store when it was told of a new version, and how it answered. */
interface Notified {
  secret: string;
  version: string;
  value: SecretValue;
  checks: Record<string, boolean>;
}

/**
 * A consumer: a real HTTP server that, when told of a new version, reads the store as an application would, runs the
 * secret's `onNotify` (which checks what the value lets it do) and answers 200, or what `answer` says.
 */
async function receiver(): Promise<{
  url: string;
  seen: Notified[];
  onNotify: Map<string, (value: SecretValue) => Promise<Record<string, boolean>>>;
  answer: Map<string, number>;
  close(): Promise<void>;
}> {
  const seen: Notified[] = [];
  const onNotify = new Map<string, (value: SecretValue) => Promise<Record<string, boolean>>>();
  const answer = new Map<string, number>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { secret: string; version: string };
        const value = (await store.readCurrent(event.secret))!.value;
        const checks = (await onNotify.get(event.secret)?.(value)) ?? {};
        seen.push({ secret: event.secret, version: event.version, value, checks });
        res.writeHead(answer.get(event.secret) ?? 200).end();
      })().catch(() => res.writeHead(500).end());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/rotated`,
    seen,
    onNotify,
    answer,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function signWith(signingKey: unknown, subject: string): Promise<string> {
  const jwk = JSON.parse(String(signingKey)) as JWK & { kid: string; alg: string };
  return new SignJWT({ sub: subject })
    .setProtectedHeader({ alg: jwk.alg, kid: jwk.kid })
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(await importJWK(jwk, jwk.alg));
}

/** Whether a verifier holding the stored JWKS accepts the token. */
async function accepts(jwks: unknown, token: string): Promise<boolean> {
  const set = createLocalJWKSet(JSON.parse(String(jwks)) as JSONWebKeySet);
  return jwtVerify(token, set).then(
    () => true,
    () => false,
  );
}

const kidsOf = (jwks: unknown) => (JSON.parse(String(jwks)) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);

async function readVersion(name: string, version: string): Promise<SecretValue> {
  const body = await vaultClient().read(`${store.configPath(name)}?version=${version}`);
  return body.data.data as SecretValue;
}

/** The secret's base64 as it appears inside a longer base64 text, at each of the three byte alignments. */
function base64Forms(secret: string): string[] {
  return [0, 1, 2].map((pad) => {
    const b64 = Buffer.concat([Buffer.alloc(pad), Buffer.from(secret)]).toString('base64');
    return b64.slice(Math.ceil((pad * 4) / 3), -4);
  });
}

let hook: Awaited<ReturnType<typeof receiver>>;
let rotator: Rotator;
const names = { jwt: unique('jwt'), random: unique('hmac'), pair: unique('pair'), hookKey: unique('hook_key') };
const runs: Array<{ workflowId: string; runId: string }> = [];

beforeAll(async () => {
  hook = await receiver();
  await store.write(names.hookKey, { key: randomBytes(32).toString('hex') });
  const consumer = () => [
    '    consumers:',
    '      - type: webhook',
    `        url: ${hook.url}`,
    `        signing_key: secret://${names.hookKey}/key`,
    '        attempts: 1',
    '        timeout: 10s',
    '    rotation:',
    '      grace_period: 1s',
  ];
  const secret = (name: string, target: string, verify = 'consumers') => [
    `  ${name}:`,
    '    provider: vault',
    `    path: ${store.configPath(name)}`,
    `    target: { type: generated, ${target}, verify: ${verify} }`,
    ...consumer(),
  ];
  const yaml = [
    'temporal:',
    `  address: "${testStack().temporal!.address}"`,
    `  task_queue: ${unique('tq')}`,
    'providers:',
    '  vault:',
    ...store.providerYaml,
    'secrets:',
    `  ${names.hookKey}:`,
    '    provider: vault',
    `    path: ${store.configPath(names.hookKey)}`,
    ...secret(names.jwt, 'generate: jwk, algorithm: ES256'),
    ...secret(names.random, 'generate: random, bytes: 32, encoding: hex', 'none'),
    ...secret(names.pair, 'generate: key-pair, algorithm: ec-p256'),
  ].join('\n');
  // No payload codec: what reaches history is then readable, and must hold no generated value.
  rotator = await startRotator(yaml + '\n', store.env, { codec: false });
});

afterAll(async () => {
  await rotator?.close();
  await hook?.close();
});

async function rotate(name: string): Promise<RotationStatus> {
  const { handle } = await startRotation(rotator.client, rotator.config.temporal.task_queue, rotator.plan(name));
  const { status } = await followRotation(handle);
  runs.push({ workflowId: handle.workflowId, runId: status.rotationId });
  return status;
}

const current = async (name: string) => (await store.readCurrent(name))!;

describe('a JWT signing key', () => {
  it('verifies tokens of the old and the new key against the published JWKS during the overlap, and only the new one after', async () => {
    // The first rotation makes the first key: signers sign with it from now on.
    expect((await rotate(names.jwt)).outcome).toBe('succeeded');
    const first = await current(names.jwt);
    const oldKid = String(first.value.kid);
    expect(kidsOf(first.value.jwks)).toEqual([oldKid]);
    const oldToken = await signWith(first.value.signing_key, 'signed before the rotation');
    expect(await accepts(first.value.jwks, oldToken)).toBe(true);

    // During the second rotation's reconnect (published, grace period not yet over), a consumer reads the store: a
    // signer switches to the new key, a verifier holding the JWKS accepts tokens of both.
    let newToken = '';
    hook.onNotify.set(names.jwt, async (value) => {
      newToken = await signWith(value.signing_key, 'signed after the switch');
      return {
        'old token verifies': await accepts(value.jwks, oldToken),
        'new token verifies': await accepts(value.jwks, newToken),
      };
    });
    const second = await rotate(names.jwt);
    expect(second.outcome).toBe('succeeded');
    const during = hook.seen.filter((n) => n.secret === names.jwt).at(-1)!;
    expect(during.checks).toEqual({ 'old token verifies': true, 'new token verifies': true });
    const newKid = String(during.value.kid);
    expect(newKid).not.toBe(oldKid);
    expect(during.value.previous_kid).toBe(oldKid);
    expect(kidsOf(during.value.jwks)).toEqual([newKid, oldKid]);
    expect(String(during.value.jwks)).not.toMatch(/"d"/);

    // After the grace period: only the new key's public key is published.
    const after = await current(names.jwt);
    expect(after.value.kid).toBe(newKid);
    expect(after.value.previous_kid).toBeUndefined();
    expect(kidsOf(after.value.jwks)).toEqual([newKid]);
    expect(await accepts(after.value.jwks, newToken)).toBe(true);
    expect(await accepts(after.value.jwks, oldToken)).toBe(false);
    const checks = {
      'during: old': during.checks['old token verifies'],
      'during: new': during.checks['new token verifies'],
      'after: old': await accepts(after.value.jwks, oldToken),
      'after: new': await accepts(after.value.jwks, newToken),
    };
    process.stderr.write(
      `\n| JWKS read from the store | old-key token | new-key token |\n|---|---|---|\n` +
        `| during the overlap (version ${during.version}, kids ${kidsOf(during.value.jwks).length}) | ${checks['during: old'] ? 'verifies' : 'REFUSED'} | ${checks['during: new'] ? 'verifies' : 'REFUSED'} |\n` +
        `| after the grace period (version ${after.version}, kids ${kidsOf(after.value.jwks).length}) | ${checks['after: old'] ? 'VERIFIES' : 'refused'} | ${checks['after: new'] ? 'verifies' : 'REFUSED'} |\n`,
    );
  });

  it('rolls back when a consumer does not acknowledge: the published key and JWKS stay as they were', async () => {
    const before = await current(names.jwt);
    const token = await signWith(before.value.signing_key, 'signed with the current key');
    hook.answer.set(names.jwt, 500);
    hook.onNotify.delete(names.jwt);
    try {
      const status = await rotate(names.jwt);
      expect(status.outcome).toBe('rolled-back');
    } finally {
      hook.answer.delete(names.jwt);
    }
    const after = await current(names.jwt);
    expect(after.value.kid).toBe(before.value.kid);
    expect(after.value.signing_key).toBe(before.value.signing_key);
    expect(kidsOf(after.value.jwks)).toEqual([before.value.kid]);
    expect(await accepts(after.value.jwks, token)).toBe(true);
  });
});

describe('a random key and a key pair', () => {
  it('random hex: the previous key is kept beside the new one through reconnect and dropped after', async () => {
    expect((await rotate(names.random)).outcome).toBe('succeeded');
    const first = await current(names.random);
    expect(String(first.value.key)).toMatch(/^[0-9a-f]{64}$/);
    expect(first.value.previous_key).toBeUndefined();
    expect((await rotate(names.random)).outcome).toBe('succeeded');
    const during = hook.seen.filter((n) => n.secret === names.random).at(-1)!;
    expect(during.value.previous_key).toBe(first.value.key);
    expect(during.value.previous_key_id).toBe(first.value.key_id);
    expect(String(during.value.key)).toMatch(/^[0-9a-f]{64}$/);
    expect(during.value.key).not.toBe(first.value.key);
    const after = await current(names.random);
    expect(after.value.key).toBe(during.value.key);
    expect(after.value.previous_key).toBeUndefined();
    expect(after.value.previous_key_id).toBeUndefined();
  });

  it('EC P-256 pair: the previous pair is kept beside the new one through reconnect and dropped after', async () => {
    expect((await rotate(names.pair)).outcome).toBe('succeeded');
    const first = await current(names.pair);
    expect(String(first.value.private_key)).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect((await rotate(names.pair)).outcome).toBe('succeeded');
    const during = hook.seen.filter((n) => n.secret === names.pair).at(-1)!;
    expect(during.value).toMatchObject({
      previous_private_key: first.value.private_key,
      previous_public_key: first.value.public_key,
      previous_key_id: first.value.key_id,
      algorithm: 'ec-p256',
    });
    const after = await current(names.pair);
    expect(after.value.private_key).toBe(during.value.private_key);
    expect(after.value.private_key).not.toBe(first.value.private_key);
    expect(after.value.previous_private_key).toBeUndefined();
    expect(after.value.previous_public_key).toBeUndefined();
  });
});

describe('rotator plan', () => {
  it('passes for a generated key with no connection, naming no value', async () => {
    const report = await preflight(rotator.config, names.jwt);
    const stored = (await current(names.jwt)).value;
    expect(report.ok).toBe(true);
    expect(report.checks).toContainEqual({
      check: 'generated: admin credential readable',
      status: 'ok',
      detail: 'none needed: the target has no connection',
    });
    const text = JSON.stringify(report);
    expect(text.includes(String(stored.signing_key))).toBe(false);
    expect(text.includes(String((JSON.parse(String(stored.signing_key)) as JWK).d))).toBe(false);
  });
});

describe('workflow history', () => {
  it('holds no generated value of any rotation above', async () => {
    const secrets: string[] = [];
    for (const name of [names.jwt, names.random, names.pair]) {
      const latest = Number((await current(name)).version);
      for (let v = 1; v <= latest; v++) {
        const value = await readVersion(name, String(v));
        for (const field of ['signing_key', 'key', 'private_key', 'previous_key', 'previous_private_key']) {
          const text = value[field];
          if (typeof text !== 'string') continue;
          secrets.push(text);
          // The private parts on their own: a JWK's `d`, a PEM's body.
          if (field === 'signing_key') secrets.push(String((JSON.parse(text) as JWK).d));
          if (text.startsWith('-----BEGIN')) secrets.push(text.split('\n').slice(1, -2).join(''));
        }
      }
    }
    expect(secrets.length).toBeGreaterThanOrEqual(12);
    expect(runs.length).toBeGreaterThanOrEqual(7);
    for (const run of runs) {
      const history = await rotator.client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
      const texts = [
        Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('latin1'),
        JSON.stringify(temporal.api.history.v1.History.toObject(history as temporal.api.history.v1.History, { bytes: String })),
      ];
      for (const secret of secrets) {
        expect(secret.length).toBeGreaterThanOrEqual(16);
        for (const text of texts) {
          expect(text.includes(secret)).toBe(false);
          for (const form of base64Forms(secret)) expect(text.includes(form)).toBe(false);
        }
      }
    }
  });
});
