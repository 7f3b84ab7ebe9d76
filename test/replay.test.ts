// Histories of finished rotations, recorded by `npm run fixtures:record`, replayed against the current workflow code:
// a deploy must not break a rotation that is still running (a grace period can last days).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from '@temporalio/worker';
import { FIXTURES, historyFromFixture } from './replay/fixtures';
import { workflowBundle } from './support/harness';

const files = fs.existsSync(FIXTURES)
  ? fs
      .readdirSync(FIXTURES)
      .filter((f) => f.endsWith('.json'))
      .sort()
  : [];

describe('replaying recorded rotations against the current workflow code', () => {
  it('has a fixture for each strategy: succeeded, rolled back and cancelled', () => {
    for (const strategy of ['alternating-users', 'single-user', 'dual-password'])
      for (const end of ['succeeded', 'rolled-back', 'cancelled']) expect(files).toContain(`${strategy}-${end}.json`);
  });

  for (const file of files) {
    it(`replays ${file} without a nondeterminism error`, async () => {
      const history = historyFromFixture(fs.readFileSync(path.join(FIXTURES, file), 'utf8'));
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, `replay-${file}`);
    });
  }
});
