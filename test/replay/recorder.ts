// What every fixture recorder shares: its command line (`tsx test/replay/record-<x>.ts v<N>`), a private stack for
// the run, and the check that no secret of the run reaches a fixture before it is written.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { temporal } from '@temporalio/proto';
import { startLocalStack, type ServiceName } from '../../src/stack/local-stack';
import { FIXTURES, historyToFixture } from './fixtures';

/** One recorded run: the fixture's name, its history, and the secret values it must not hold. */
export type Recorded = [name: string, history: temporal.api.history.v1.IHistory, secrets: string[]];

/** Writes each run into `dir` as `<name>.json`, refusing one whose history holds a secret of its run (raw or base64). */
export function writeFixtures(dir: string, recorded: Recorded[]): void {
  for (const [name, history, secrets] of recorded) {
    const json = historyToFixture(history);
    if (secrets.some((p) => json.includes(p) || json.includes(Buffer.from(p).toString('base64'))))
      throw new Error(`${name}: the history holds a secret; not writing it`);
    const file = path.join(dir, `${name}.json`);
    fs.writeFileSync(file, json);
    process.stdout.write(`recorded ${path.relative(process.cwd(), file)}\n`);
  }
}

/** A recorder's main: records into the fixture set named on the command line, on a private stack of `services`. */
export function recorderMain(script: string, services: ServiceName[], record: () => Promise<Recorded[]>): void {
  const run = async () => {
    const set = process.argv[2];
    if (!set || !/^v\d+$/.test(set)) throw new Error(`name a fixture set: tsx test/replay/${path.basename(script)} v<N>`);
    fs.mkdirSync(path.join(FIXTURES, set), { recursive: true });
    const stack = await startLocalStack({ services });
    const info = path.join(os.tmpdir(), `rotator-record-${process.pid}.json`);
    try {
      const { stop: _stop, ...stackInfo } = stack;
      fs.writeFileSync(info, JSON.stringify(stackInfo), { mode: 0o600 });
      process.env.ROTATOR_TEST_STACK = info;
      writeFixtures(path.join(FIXTURES, set), await record());
    } finally {
      fs.rmSync(info, { force: true });
      await stack.stop();
    }
  };
  run().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`record failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
