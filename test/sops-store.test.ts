// The sops store (issue 25 §3) against real sops, age and git: the store contract on a SOPS file in a bare repository
// on disk, and must-show 3: a rotation commits the new value once with no secret in git, every other key, comment and
// the order as they were; a concurrent push makes the rotation fail with CONFLICT and changes nothing.
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { followRotation, startRotation } from '../src/client/rotations';
import type { StalePendingOptions } from '../activities/stores/stale-pending';
import { sops } from '../activities/stores/sops';
import { SopsStore } from '../activities/stores/sops/store';
import { credential, describeStoreContract, rejection } from './contract/store-contract';
import { startFaultHarness, type FaultHarness } from './support/fault-harness';
import { unique } from './support/harness';
import { startRotator } from './support/rotator';
import { makeSopsRepo, SOPS_BIN, type SopsRepo } from './support/sops-repo';
import { SECRET_PATH, sopsScenario } from './support/sops-scenario';

const hex = () => randomBytes(4).toString('hex');

function storeOn(repo: SopsRepo, options: StalePendingOptions & { ageKeyFile?: string; sops?: string } = {}): SopsStore {
  const { ageKeyFile, sops, ...stale } = options;
  return new SopsStore({
    remote: repo.remote,
    branch: repo.branch,
    file: repo.file,
    age_key_file: ageKeyFile ?? repo.keyFile,
    sops: sops ?? SOPS_BIN,
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

  it('tells rotator plan that it reads the path and may push, and names the fix when the age identity is not a recipient', async () => {
    const repo = makeSopsRepo('db: {username: app, password: preflight-password}\n');
    const stranger = makeSopsRepo('x: 1\n');
    const config = {
      type: 'sops' as const,
      remote: repo.remote,
      branch: repo.branch,
      file: repo.file,
      sops: SOPS_BIN,
      git: 'git',
      previous_key: 'previous',
      author: { name: 'rotator', email: 'rotator@localhost' },
      stale_pending: 'fail' as const,
    };
    try {
      const ok = await sops.preflight({ ...config, age_key_file: repo.keyFile }, 'db');
      expect(ok.map((c) => c.status)).toEqual(['ok', 'ok']);
      expect(ok[0].detail).toContain(repo.head());
      expect(repo.pendingRefs()).toEqual([]); // a dry run
      const refused = await sops.preflight({ ...config, age_key_file: stranger.keyFile }, 'db');
      expect(refused).toEqual([expect.objectContaining({ status: 'fail', fix: expect.stringContaining('age_key_file') })]);
      expect(JSON.stringify([ok, refused])).not.toContain('preflight-password');
    } finally {
      repo.cleanup();
      stranger.cleanup();
    }
  });

  it('names the remote in its errors without a token written into its URL', async () => {
    const store = new SopsStore({
      remote: 'http://rotator:s3cr3t-token-in-url@127.0.0.1:9/secrets.git', // port 9 (discard): refused at once
      branch: 'main',
      file: 'app.enc.yaml',
      sops: SOPS_BIN,
      git: 'git',
      previous_key: 'previous',
      author: { name: 'rotator', email: 'rotator@localhost' },
    });
    try {
      const err = await rejection(store.readCurrent('db'), 'TRANSIENT');
      expect(err.message).toContain('http://***@127.0.0.1:9/secrets.git');
      expect(err.message).toContain('fetch');
      expect(err.message).not.toContain('s3cr3t-token-in-url');
    } finally {
      await store.close();
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

  it('refuses with CONFLICT and pushes nothing when a push lands between its read and its own push (git refuses it)', async () => {
    const repo = makeSopsRepo('db: {username: app, password: old-password-2}\nother: kept\n');
    // The real sops, behind a script that lets a person push to the branch once, just before the promote's first
    // write: the narrowest race there is, after the promote has read the branch and checked its version.
    const racing = join(repo.dir, 'sops-racing');
    writeFileSync(
      racing,
      [
        '#!/bin/sh',
        'set -e',
        `if [ "$1" = set ] && mkdir "${repo.dir}/raced" 2>/dev/null; then (`,
        `  git clone -q --branch ${repo.branch} "${repo.remote}" "${repo.dir}/racer" && cd "${repo.dir}/racer"`,
        `  printf '"changed by a person"' | "${SOPS_BIN}" set --value-stdin ${repo.file} '["other"]'`,
        '  git -c user.name=person -c user.email=person@localhost commit -qam "A person changes other"',
        `  git push -q origin HEAD:refs/heads/${repo.branch}`,
        ') >/dev/null; fi',
        `exec "${SOPS_BIN}" "$@"`,
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const store = storeOn(repo, { sops: racing });
    try {
      const v1 = (await store.readCurrent('db'))!.version;
      const rotationId = randomUUID();
      await store.stagePending('db', rotationId, credential('app'), v1);
      const err = await rejection(store.promote('db', rotationId, v1), 'CONFLICT');
      expect(err.message).toContain('concurrent push');
      const [theirs] = repo.commits();
      expect(theirs.message).toContain('A person changes other');
      expect(repo.commits()).toHaveLength(2);
      expect(repo.decrypted().doc).toEqual({ db: { username: 'app', password: 'old-password-2' }, other: 'changed by a person' });
      expect(await store.publishedBy('db', rotationId)).toBeNull();
    } finally {
      await store.close();
      repo.cleanup();
    }
  });
});
