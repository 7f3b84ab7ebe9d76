// Kill the real worker process (SIGKILL) before and after every step of a JWT signing-key rotation (the `generated`
// target, strategy `issued`), start a fresh worker, and check that the rotation still ends succeeded with the store
// agreeing: one publish holding both public keys, then only the new one, no pending value, tokens verifying accordingly.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createLocalJWKSet, importJWK, jwtVerify, SignJWT, type JSONWebKeySet, type JWK } from 'jose';
import { generateJwk } from '../activities/targets/generated/generate';
import { layoutOf } from '../activities/targets/generated/layout';
import type { SecretValue } from '../activities/types';
import { parseConfig } from '../src/config/load';
import { planRotation } from '../src/config/plan';
import { followRotation, startRotation } from '../src/client/rotations';
import type { RotationStatus } from '../workflows/definitions';
import { type FaultHarness, faultTrial, killTable, type KillTrial, pool, startFaultHarness } from './support/fault-harness';
import { killPointName } from './support/fault-injection';
import { unique, vaultClient } from './support/harness';
import { testStack } from './support/stack';
import { vaultTestStore } from './support/test-stores';

/** Trials at once: each is mostly waiting for the server to hand a dead worker's task on. */
const CONCURRENCY = 4;
const store = vaultTestStore();

type Trial = KillTrial;

let harness: FaultHarness;
beforeAll(async () => {
  harness = await startFaultHarness();
});
afterAll(() => harness?.close());

async function version(name: string, v?: number): Promise<{ version: number; value: SecretValue } | null> {
  try {
    const body = await vaultClient().read(`${store.configPath(name)}${v ? `?version=${v}` : ''}`);
    return { version: body.data.metadata.version as number, value: body.data.data as SecretValue };
  } catch (err) {
    if ((err as { response?: { statusCode?: number } }).response?.statusCode === 404) return null;
    throw err;
  }
}

async function signWith(signingKey: unknown): Promise<string> {
  const jwk = JSON.parse(String(signingKey)) as JWK & { kid: string; alg: string };
  return new SignJWT({ sub: 'probe' })
    .setProtectedHeader({ alg: jwk.alg, kid: jwk.kid })
    .setExpirationTime('10m')
    .sign(await importJWK(jwk, jwk.alg));
}

async function accepts(jwks: unknown, token: string): Promise<boolean> {
  return jwtVerify(token, createLocalJWKSet(JSON.parse(String(jwks)) as JSONWebKeySet)).then(
    () => true,
    () => false,
  );
}

const kidsOf = (jwks: unknown) => (JSON.parse(String(jwks)) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);

/** Everything wrong with the end state of a rotation that started from `before`: empty when the store agrees with the outcome. */
async function problems(
  name: string,
  status: RotationStatus,
  before: { version: number; value: SecretValue },
): Promise<string[]> {
  const found: string[] = [];
  const current = (await version(name))!;
  const oldToken = await signWith(before.value.signing_key);
  const token = await signWith(current.value.signing_key);
  if (!(await accepts(current.value.jwks, token))) found.push("the stored JWKS refuses the stored signing key's token");
  if (status.outcome === 'succeeded') {
    if (current.value.kid === before.value.kid) found.push('the signing key did not change');
    if (JSON.stringify(kidsOf(current.value.jwks)) !== JSON.stringify([current.value.kid]))
      found.push(`the JWKS holds ${kidsOf(current.value.jwks).join(', ')}, expected only the new kid`);
    if (current.value.previous_kid !== undefined) found.push('previous_kid is left after the grace period');
    if (await accepts(current.value.jwks, oldToken)) found.push("the old key's token still verifies after the grace period");
    const published = await version(name, before.version + 1);
    if (JSON.stringify(kidsOf(published?.value.jwks)) !== JSON.stringify([current.value.kid, before.value.kid]))
      found.push(`version ${before.version + 1} (the publish) does not hold the new and the old public key`);
    const newer = current.version - before.version;
    if (newer !== 2) found.push(`${newer} versions were written, expected 2 (the publish and the drop of the old key)`);
  } else if (status.outcome === 'rolled-back') {
    if (current.value.signing_key !== before.value.signing_key) found.push('the store does not serve the old key again');
    if (!(await accepts(current.value.jwks, oldToken))) found.push("the old key's token is refused after a rollback");
  } else {
    found.push(`outcome ${status.outcome}: ${status.error?.code ?? ''} ${status.error?.message ?? ''}`);
  }
  if (
    await vaultClient()
      .read(`secret/data/rotator-pending/test/${name}`)
      .then(
        () => true,
        () => false,
      )
  )
    found.push('a pending value is left');
  return found;
}

/** One rotation of a freshly seeded signing key with a worker process that kills itself at `killAt`. */
async function trial(killAt: string | null): Promise<Trial> {
  const taskQueue = unique('tq');
  const name = unique('jwt');
  const seed = await generateJwk('ES256');
  await store.write(name, layoutOf({ generate: 'jwk' }).fields(seed, null) as SecretValue);
  const before = (await version(name))!;
  const yaml = [
    'temporal:',
    `  address: "${testStack().temporal!.address}"`,
    `  task_queue: ${taskQueue}`,
    'providers:',
    '  vault:',
    ...store.providerYaml,
    'secrets:',
    `  ${name}:`,
    '    provider: vault',
    `    path: ${store.configPath(name)}`,
    '    target: { type: generated, generate: jwk, algorithm: ES256, verify: none }',
    '    rotation: { grace_period: 1s }',
    '',
  ].join('\n');
  const plan = planRotation(parseConfig(yaml, store.env), name);
  return faultTrial(
    harness,
    { yaml, env: store.env, taskQueue },
    killAt,
    async () => (await startRotation(harness.client, taskQueue, plan)).handle,
    async (handle, { killed, steps }) => {
      const { status } = await followRotation(handle);
      return { killAt, killed, outcome: status.outcome, problems: await problems(name, status, before), steps };
    },
  );
}

function table(trials: Trial[]): string {
  return killTable('generated (jwk), issued', trials);
}

describe('a worker process killed at any step of a signing-key rotation', () => {
  it(
    'every kill point before and after each step ends succeeded, with the store publishing both keys, then only the new one',
    async () => {
      const clean = await trial(null);
      expect(clean).toMatchObject({ outcome: 'succeeded', problems: [] });
      const points = clean.steps.flatMap((s) => [killPointName({ ...s, when: 'before' }), killPointName(s)]);
      expect(points.length).toBeGreaterThan(10);

      const trials = await pool(points, CONCURRENCY, (p) => trial(p));
      const report = table(trials);
      const out = resolve(__dirname, '../.rotator');
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, 'fault-injection-generated.md'), report + '\n');
      process.stderr.write(`\n${report}\n`);

      expect(trials.filter((t) => !t.killed).map((t) => t.killAt)).toEqual([]);
      expect(trials.filter((t) => t.outcome !== 'succeeded' || t.problems.length > 0)).toEqual([]);
    },
    15 * 60_000,
  );
});
