// Histories of finished rotations, recorded by `npm run fixtures:record`, replayed against the current workflow code:
// a deploy must not break a rotation that is still running (a grace period can last days).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from '@temporalio/worker';
import { FIXTURES, historyFromFixture } from './replay/fixtures';
import { workflowBundle } from './support/harness';

/** Fixture sets, oldest first (v1, v2, …): every set keeps replaying, since rotations of each may still be open. */
const sets = fs.existsSync(FIXTURES)
  ? fs
      .readdirSync(FIXTURES)
      .filter((d) => /^v\d+$/.test(d))
      .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))
  : [];
const files = sets.flatMap((set) =>
  fs
    .readdirSync(path.join(FIXTURES, set))
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => `${set}/${f}`),
);

/**
 * The newest set recorded whole (`npm run fixtures:record`): a later set may hold only the recordings of a feature
 * added since (`tsx test/replay/record-<feature>.ts v<N>`), until the next whole recording.
 */
const newestWhole = [...sets]
  .reverse()
  .find((set) => fs.existsSync(path.join(FIXTURES, set, 'alternating-users-succeeded.json')));

describe('replaying recorded rotations against the current workflow code', () => {
  it('has, in the newest set, a fixture for each strategy: succeeded, rolled back and cancelled', () => {
    const newest = newestWhole;
    for (const strategy of ['alternating-users', 'single-user', 'dual-password'])
      for (const end of ['succeeded', 'rolled-back', 'cancelled']) expect(files).toContain(`${newest}/${strategy}-${end}.json`);
  });

  it('has, in the newest set, the lifecycle workflows: scheduled rotation, sweep and lease keeper', () => {
    const newest = newestWhole;
    for (const name of ['scheduled-rotation-succeeded', 'scheduled-rotation-needs-human', 'sweep'])
      expect(files).toContain(`${newest}/${name}.json`);
    // A keeper that continues as new at every step (run-per-cycle) is recorded run by run.
    expect(files.filter((f) => f.startsWith(`${newest}/keep-lease-cycle`))).toContainEqual(
      expect.stringMatching(/\/keep-lease-cycle(-run1)?\.json$/),
    );
  });

  it('has, in the newest set, approvals (approved, rejected, expired) and a cancel by update', () => {
    const newest = newestWhole;
    for (const name of ['approval-approved', 'approval-rejected', 'approval-expired', 'cancel-by-update'])
      expect(files).toContain(`${newest}/${name}.json`);
  });

  it('has, in the newest set, rollouts (succeeded, rolled back) and triggers (rotated, joined)', () => {
    const newest = newestWhole;
    for (const name of ['rollout-succeeded', 'rollout-rolled-back', 'trigger-rotated', 'trigger-joined'])
      expect(files).toContain(`${newest}/${name}.json`);
  });

  it('has strategy issued, succeeded and rolled back, in a set from the newest whole one on', () => {
    const recent = files.filter((f) => sets.indexOf(f.split('/')[0]!) >= sets.indexOf(newestWhole!));
    for (const end of ['succeeded', 'rolled-back']) expect(recent.map((f) => f.split('/')[1])).toContain(`issued-${end}.json`);
  });

  for (const file of files) {
    it(`replays ${file} without a nondeterminism error`, async () => {
      const history = historyFromFixture(fs.readFileSync(path.join(FIXTURES, file), 'utf8'));
      // The rotation-events sink is not called on replay; registered so the workflow finds it as a worker would.
      const sinks = { rotator: { event: { fn: () => undefined, callDuringReplay: false } } };
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle(), sinks }, history, `replay-${file}`);
    });
  }
});
