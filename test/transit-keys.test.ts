// Issue 25, must-show 2: a transit key rotation over 100 ciphertexts kept in OpenBao KV, against the stack's real
// OpenBao (a transit mount of its own per test). Every ciphertext is rewrapped onto the new version and still
// decrypts to what was encrypted; min_decryption_version is raised only after that and after the grace period; a
// sample decrypts; `plan` counts the ciphertexts behind; a failure before the raise leaves readers as they were.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeyActivities } from '../activities/key-rotation';
import { ProviderRegistry } from '../activities/registry';
import { keyPreflight, startKeyRotation } from '../src/client/key-rotations';
import { planKeyRotation } from '../src/config/keys';
import { parseConfig } from '../src/config/load';
import { keyRotationStatusQuery, type KeyRotationStatus } from '../workflows/key-definitions';
import { cli } from './support/cli';
import { codecKeyEnv, testCodecKeys, vaultClient } from './support/harness';
import { startRotator, type Rotator } from './support/rotator';
import { decryptAll, keyFacts, storeFacts, transitScenario, type TransitScenario } from './support/transit-scenario';

jest.setTimeout(120_000);

/** Polls the key rotation's status until `until` holds; fails if the rotation ends first. */
async function pollStatus(
  rotator: Rotator,
  workflowId: string,
  until: (s: KeyRotationStatus) => boolean,
  timeoutMs = 60_000,
): Promise<KeyRotationStatus> {
  const handle = rotator.client.workflow.getHandle(workflowId);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await handle.query(keyRotationStatusQuery).catch(() => null);
    if (s && until(s)) return s;
    if (s && (s.phase === 'done' || s.phase === 'failed')) throw new Error(`rotation ended in ${s.phase} first: ${s.error}`);
    if (Date.now() > deadline) throw new Error(`status never matched; last: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('transit key rotation (100 ciphertexts in OpenBao KV)', () => {
  let s: TransitScenario;
  let rotator: Rotator;

  beforeAll(async () => {
    s = await transitScenario(100, { graceMs: 4_000 });
    rotator = await startRotator(s.yaml, s.env);
  });
  afterAll(async () => {
    await rotator?.close();
  });

  it('plan counts the ciphertexts behind; the rotation rewraps all, raises only after the grace period, and a sample decrypts', async () => {
    const config = rotator.config;
    // plan: all 100 on version 1, the key's newest: none behind yet.
    const before = await keyPreflight(config, s.secret);
    expect(before.ok).toBe(true);
    expect(before.checks.find((c) => c.check === 'on old versions')?.detail).toBe(
      '0 of 100 ciphertexts are on versions older than 1',
    );
    const keyBefore = await keyFacts(s);
    const atStart = await storeFacts(s);
    expect(keyBefore).toEqual({ latest: 1, minDecryption: 1 });
    expect(atStart).toEqual({ versions: { 1: 100 }, undecryptable: 0, decrypted: 100, otherChanged: 0 });

    const { handle, started } = await startKeyRotation(
      rotator.client,
      config.temporal.task_queue,
      planKeyRotation(config, s.secret),
      'test',
    );
    expect(started).toBe(true);

    // In the grace period: every ciphertext on v2 and decrypting to what was encrypted, the other field untouched,
    // and min_decryption_version not raised yet, so a reader holding an old ciphertext still decrypts it.
    const grace = await pollStatus(rotator, handle.workflowId, (st) => st.phase === 'grace');
    expect(grace).toMatchObject({ fromVersion: 1, version: 2, rewrapped: 100, ciphertexts: 100, minDecryption: 1 });
    const during = await storeFacts(s);
    const keyDuring = await keyFacts(s);
    const oldDuring = await decryptAll(s, Object.values(s.original[0]!));
    expect(keyDuring).toEqual({ latest: 2, minDecryption: 1 });
    expect(during).toEqual({ versions: { 2: 100 }, undecryptable: 0, decrypted: 100, otherChanged: 0 });
    expect(oldDuring.every((p, i) => p === Object.values(s.plaintexts[0]!)[i])).toBe(true);
    // plan in the grace period: none behind the new version.
    const mid = await keyPreflight(config, s.secret);
    expect(mid.checks.find((c) => c.check === 'on old versions')?.detail).toBe(
      '0 of 100 ciphertexts are on versions older than 2',
    );

    const result = await handle.result();
    expect(result).toMatchObject({
      phase: 'done',
      fromVersion: 1,
      version: 2,
      minDecryptionBefore: 1,
      minDecryption: 2,
      rewrapped: 100,
    });
    const after = await storeFacts(s);
    const keyAfter = await keyFacts(s);
    // The old v1 ciphertexts no longer decrypt: the raise happened.
    const oldAfter = await decryptAll(s, Object.values(s.original[0]!));
    console.log(
      [
        '| when | key latest | min_decryption_version | ciphertexts on v1 / v2 | decrypt to the original | old v1 copies decrypt |',
        '|---|---|---|---|---|---|',
        `| before | ${keyBefore.latest} | ${keyBefore.minDecryption} | ${atStart.versions[1] ?? 0} / ${atStart.versions[2] ?? 0} | ${atStart.decrypted} | yes |`,
        `| grace period | ${keyDuring.latest} | ${keyDuring.minDecryption} | ${during.versions[1] ?? 0} / ${during.versions[2] ?? 0} | ${during.decrypted} | ${oldDuring.every((p) => p !== null) ? 'yes' : 'no'} |`,
        `| after | ${keyAfter.latest} | ${keyAfter.minDecryption} | ${after.versions[1] ?? 0} / ${after.versions[2] ?? 0} | ${after.decrypted} | ${oldAfter.every((p) => p === null) ? 'no' : 'some'} |`,
      ].join('\n'),
    );
    expect(keyAfter).toEqual({ latest: 2, minDecryption: 2 });
    expect(after).toEqual({ versions: { 2: 100 }, undecryptable: 0, decrypted: 100, otherChanged: 0 });
    expect(oldAfter.every((p) => p === null)).toBe(true);
  });

  it('the raise counts again when it raises: a ciphertext on an old version keeps min_decryption_version where it is', async () => {
    // After the rotation above the key is at v2 (min 2). Rotate it by hand to v3 and put one v2 ciphertext back.
    const bao = vaultClient();
    await bao.write(`${s.mount}/keys/${s.key}/rotate`, {});
    const plan = planKeyRotation(rotator.config, s.secret);
    // plan now counts every ciphertext as behind the newest version (a ⚠ per path: a rotation rewraps them).
    const behind = await keyPreflight(rotator.config, s.secret);
    expect(behind.checks.find((c) => c.check === 'on old versions')?.detail).toBe(
      '100 of 100 ciphertexts are on versions older than 3',
    );
    expect(behind.checks.filter((c) => c.status === 'warn')).toHaveLength(4);
    const stores = new ProviderRegistry(rotator.config.providers);
    const keys = createKeyActivities({ providers: rotator.config.providers, stores, secrets: [] });
    try {
      await keys.activities.keyRewrap(plan, s.paths[0]!, 3, 'test-claim');
      const enc = (await bao.write(`${s.mount}/encrypt/${s.key}`, {
        plaintext: Buffer.from('late').toString('base64'),
        key_version: 2,
      })) as {
        data: { ciphertext: string };
      };
      const current = ((await bao.read(s.paths[0]!)) as { data: { data: Record<string, string> } }).data.data;
      await bao.write(s.paths[0]!, { data: { ...current, late: enc.data.ciphertext } });
      await expect(keys.activities.keyRaise({ ...plan, paths: [s.paths[0]!] }, 3)).rejects.toMatchObject({
        type: 'CONFLICT',
        message: expect.stringContaining('1 ciphertexts are still on versions older than 3'),
      });
      expect(await keyFacts(s)).toEqual({ latest: 3, minDecryption: 2 });
      // Rewrapped (twice: the second run finds nothing to do), the raise goes through.
      expect((await keys.activities.keyRewrap(plan, s.paths[0]!, 3, 'test-claim-2')).rewrapped).toBe(1);
      expect((await keys.activities.keyRewrap(plan, s.paths[0]!, 3, 'test-claim-2')).rewrapped).toBe(0);
      await keys.activities.keyRaise({ ...plan, paths: [s.paths[0]!] }, 3);
      expect(await keyFacts(s)).toEqual({ latest: 3, minDecryption: 3 });
    } finally {
      await keys.close();
      await stores.close();
    }
  });
});

describe('a key rotation that fails before the raise', () => {
  it('changes nothing readers depend on: min_decryption_version stays, every ciphertext decrypts', async () => {
    const s = await transitScenario(50, { missingPath: true });
    const rotator = await startRotator(s.yaml, s.env);
    try {
      const { handle } = await startKeyRotation(
        rotator.client,
        rotator.config.temporal.task_queue,
        planKeyRotation(rotator.config, s.secret),
      );
      await expect(handle.result()).rejects.toMatchObject({
        cause: { message: expect.stringMatching(/failed at rewrap: .*missing.*min_decryption_version is 1 as before/) },
      });
      expect(await keyFacts(s)).toEqual({ latest: 2, minDecryption: 1 });
      const facts = await storeFacts(s);
      expect(facts).toMatchObject({ undecryptable: 0, decrypted: 50, versions: { 2: 50 } });
    } finally {
      await rotator.close();
    }
  });

  it('config: a key secret needs a vault provider for its key and no rotation: block', () => {
    const yaml = (extra: string) =>
      [
        'providers:',
        '  bao: { type: vault, address: "http://127.0.0.1:1", token: t }',
        '  files: { type: file, dir: /tmp/x }',
        'secrets:',
        '  data:',
        '    provider: bao',
        '    path: secret/data/x',
        '    encryption_key: { type: transit, provider: files, name: k }',
        extra,
      ].join('\n');
    expect(() => parseConfig(yaml(''), {})).toThrow(
      /secrets\.data\.encryption_key\.provider.*reached through a provider of type vault, not file/s,
    );
    expect(() => parseConfig(yaml('    rotation: { strategy: single-user }'), {})).toThrow(/secrets\.data\.rotation/);
  });
});

describe('the CLI for a key secret', () => {
  it('plan prints the count on old versions; rotate --wait prints the versions, the rewraps and the raise', async () => {
    const s = await transitScenario(25);
    // Behind by one version: the key is rotated by hand first, so plan has something to count.
    await vaultClient().write(`${s.mount}/keys/${s.key}/rotate`, {});
    const keys = testCodecKeys();
    const rotator = await startRotator(s.yaml, s.env, { keys });
    const saved = { ...process.env };
    Object.assign(process.env, s.env, { ROTATOR_CODEC_KEY: codecKeyEnv(keys) });
    const configFile = join(mkdtempSync(join(tmpdir(), 'rotator-transit-')), 'rotator.yaml');
    writeFileSync(configFile, s.yaml, { mode: 0o600 });
    try {
      const plan = await cli('--config', configFile, 'plan', s.secret);
      expect(plan.err).toBe('');
      expect(plan.code).toBe(0);
      expect(plan.out).toContain(`✓ transit key`);
      expect(plan.out).toContain(`${s.mount}/keys/${s.key}: version 2, min_decryption_version 1`);
      expect(plan.out).toContain(`⚠ ciphertexts at ${s.paths[0]}`);
      expect(plan.out).toContain('25 of 25 ciphertexts are on versions older than 2');
      const rotate = await cli('--config', configFile, 'rotate', s.secret, '--wait');
      expect(rotate.code).toBe(0);
      expect(rotate.out).toBe(
        `✓ key rotation of ${s.secret} succeeded: version 2 → 3, 25 of 25 ciphertexts rewrapped, min_decryption_version 1 → 3`,
      );
      expect(await keyFacts(s)).toEqual({ latest: 3, minDecryption: 3 });
      expect(await storeFacts(s)).toEqual({ versions: { 3: 25 }, undecryptable: 0, decrypted: 25, otherChanged: 0 });
      const after = await cli('--config', configFile, 'plan', s.secret);
      expect(after.out).toContain('0 of 25 ciphertexts are on versions older than 3');
    } finally {
      process.env = saved;
      await rotator.close();
    }
  });
});
