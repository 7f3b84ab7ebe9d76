// The sops store (issue 25 §3) against real sops, age and git: the store contract on a SOPS file in a bare repository
// on disk, and must-show 3: a rotation commits the new value once with no secret in git, every other key, comment and
// the order as they were; a concurrent push makes the rotation fail with CONFLICT and changes nothing.
import { randomBytes, randomUUID } from 'node:crypto';
import { followRotation, startRotation } from '../src/client/rotations';
import type { StalePendingOptions } from '../activities/stores/stale-pending';
import { SopsStore } from '../activities/stores/sops/store';
import { credential, describeStoreContract, rejection } from './contract/store-contract';
import { startFaultHarness, type FaultHarness } from './support/fault-harness';
import { unique } from './support/harness';
import { startRotator } from './support/rotator';
import { makeSopsRepo, SOPS_BIN, type SopsRepo } from './support/sops-repo';
import { SECRET_PATH, sopsScenario } from './support/sops-scenario';

const hex = () => randomBytes(4).toString('hex');

function storeOn(repo: SopsRepo, options: StalePendingOptions & { ageKeyFile?: string } = {}): SopsStore {
  const { ageKeyFile, ...stale } = options;
  return new SopsStore({
    remote: repo.remote,
    branch: repo.branch,
    file: repo.file,
    age_key_file: ageKeyFile ?? repo.keyFile,
    sops: SOPS_BIN,
    git: 'git',
    previous_key: 'previous',
    author: { name: 'rotator', email: 'rotator@localhost' },
    ...stale,
  });
}

describeStoreContract('sops', async () => {
  const repo = makeSopsRepo('# the contract suite writes below\nkept: {note: not rotated}\n');
  const open = (options: StalePendingOptions) => storeOn(repo, options);
  return { store: open({}), open, path: () => `contract/c${hex()}`, cleanup: async () => repo.cleanup() };
});

describe('a SOPS rotation (must-show 3)', () => {
  let harness: FaultHarness;
  beforeAll(async () => {
    harness = await startFaultHarness();
  });
  afterAll(() => harness?.close());

  it('commits the new value once per rotation, naming the rotation and never a value; every other key, comment and the order stay', async () => {
    const taskQueue = unique('tq');
    const s = await sopsScenario(taskQueue);
    const rotator = await startRotator(s.yaml, s.env, { keys: harness.keys });
    try {
      const keysBefore = s.repo.decrypted().text.match(/^\s*[a-z_]+:/gm);
      const rows: string[] = [];
      for (let i = 1; i <= 2; i++) {
        const before = { commits: s.repo.commits().length, value: s.value() };
        const { handle } = await startRotation(harness.client, taskQueue, s.plan);
        const { status } = await followRotation(handle);
        expect(status.outcome).toBe('succeeded');
        expect(await s.problems(status, before)).toEqual([]);
        const now = s.value();
        expect(now.password).not.toBe(before.value.password);
        const { password: _p, ...kept } = now;
        const { password: _q, ...keptBefore } = before.value;
        expect(kept).toStrictEqual(keptBefore);
        expect(Object.keys(now)).toEqual(Object.keys(before.value));
        // One commit, whose message names the rotation and the secret's path, and holds no value.
        const [last] = s.repo.commits();
        expect(last.commit).toBe(status.version);
        expect(last.message).toContain(status.rotationId);
        expect(last.message).toContain(SECRET_PATH);
        for (const p of [now.password, before.value.password]) expect(last.message).not.toContain(String(p));
        rows.push(`| ${i} | ${status.rotationId} | ${last.commit.slice(0, 12)} | ${s.repo.commits().length - before.commits} |`);
      }
      // The decrypted file's keys in the same order (the previous entry added at the end, once).
      const keysAfter = s.repo.decrypted().text.match(/^\s*[a-z_]+:/gm)!;
      expect(keysAfter.slice(0, keysBefore!.length)).toEqual(keysBefore);
      process.stderr.write(
        `\n| rotation | rotation id | commit | commits on the branch |\n|---|---|---|---|\n${rows.join('\n')}\n`,
      );
    } finally {
      await rotator.close();
      s.repo.cleanup();
    }
  });

  it('fails with CONFLICT and changes nothing when someone pushes to the branch between the read and the promote', async () => {
    const taskQueue = unique('tq');
    const s = await sopsScenario(taskQueue);
    const before = { value: s.value(), commits: s.repo.commits().length };
    // The worker dies just before promote; meanwhile a person pushes an unrelated change to the file.
    const { worker } = harness.worker(s, taskQueue, { killAt: 'before:promote' });
    try {
      const { handle } = await startRotation(harness.client, taskQueue, s.plan);
      await worker.exited;
      const theirs = s.repo.pushConcurrently('smtp', 'changed-by-a-person');
      const rotator = await startRotator(s.yaml, s.env, { keys: harness.keys });
      try {
        const { status } = await followRotation(handle);
        expect(status.outcome).toBe('rolled-back');
        expect(status.error?.code).toBe('CONFLICT');
        expect(status.error?.message).toContain(SECRET_PATH);
        // Nothing of the rotation reached the branch: its tip is the person's commit, the value is the old one.
        expect(s.repo.head()).toBe(theirs);
        expect(s.repo.commits().length).toBe(before.commits + 1);
        expect(s.value()).toEqual(before.value);
        expect(await s.logsIn(before.value)).toBe(true);
        expect(s.repo.pendingRefs()).toEqual([]);
        expect(s.repo.decrypted().doc.smtp).toBe('changed-by-a-person');
        expect(s.repo.everything()).not.toContain(String(before.value.password));
      } finally {
        await rotator.close();
      }
    } finally {
      await worker.kill();
      s.repo.cleanup();
    }
  });
});

describe('the sops store', () => {
  it('refuses with PERMISSION_DENIED, naming the age identity and no value, when its key is not a recipient', async () => {
    const repo = makeSopsRepo('db: {username: app, password: seeded-password-1}\n');
    const stranger = makeSopsRepo('x: 1\n');
    const store = storeOn(repo, { ageKeyFile: stranger.keyFile });
    try {
      const err = await rejection(store.readCurrent('db'), 'PERMISSION_DENIED');
      expect(err.message).toContain('age_key_file');
      expect(err.message).not.toContain('seeded-password-1');
    } finally {
      await store.close();
      repo.cleanup();
      stranger.cleanup();
    }
  });

  it('keeps the replaced value under previous/<path> and reads old versions from git history', async () => {
    const repo = makeSopsRepo('# top\napps:\n  db: {username: app, password: old-password-1}\nother: kept\n');
    const store = storeOn(repo);
    try {
      const v1 = (await store.readCurrent('apps/db'))!.version;
      expect(v1).toBe(repo.head());
      const rotationId = randomUUID();
      const next = credential('app');
      await store.stagePending('apps/db', rotationId, next, v1);
      expect(repo.commits()).toHaveLength(1); // a stage is no commit on the branch
      expect(repo.pendingRefs()).toHaveLength(1);
      const { version } = await store.promote('apps/db', rotationId, v1);
      await store.discardPending('apps/db', rotationId);
      const { doc, text } = repo.decrypted();
      expect(doc).toEqual({
        apps: { db: next },
        other: 'kept',
        previous: { apps: { db: { username: 'app', password: 'old-password-1' } } },
      });
      expect(text).toContain('# top');
      expect(await store.readVersion('apps/db', v1)).toEqual({ username: 'app', password: 'old-password-1' });
      expect(await store.readVersion('apps/db', version)).toEqual(next);
      expect(await store.readVersion('apps/db', '0'.repeat(40))).toBeNull();
      expect(repo.pendingRefs()).toEqual([]);
    } finally {
      await store.close();
      repo.cleanup();
    }
  });
});
