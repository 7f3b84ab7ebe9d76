// Coalesced rollouts for a fixture set: three secrets of one Deployment rotated together (one rotation's history,
// and its coordinator's), and one of three rolled back after a failed verify (the rolled-back rotation's history).
// `tsx test/replay/record-coalesce.ts v<N>` records only these (into a set, on a private stack of its own);
// `npm run fixtures:record` records them with all the rest.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { temporal } from '@temporalio/proto';
import { startLocalStack } from '../../src/stack/local-stack';
import { FIXTURES, historyToFixture } from './fixtures';

type Recorded = [name: string, history: temporal.api.history.v1.IHistory, secrets: string[]];

export async function recordCoalesce(): Promise<Recorded[]> {
  // Loaded here: the test helpers read the stack file on first use, which the caller has just written.
  const { startRotation } = await import('../../src/client/rotations');
  const { clusterOf } = await import('../../activities/consumers/rollout/coalesce');
  const { coordinatorIdFor } = await import('../../workflows/rollout-coordinator-definitions');
  const { unique } = await import('../support/harness');
  const { coalesceScenario, WORKLOAD } = await import('../support/coalesce-scenario');
  const { startRotator } = await import('../support/rotator');
  const recorded: Recorded[] = [];
  for (const failing of [false, true]) {
    const s = await coalesceScenario(unique('record'));
    const rotator = await startRotator(s.yaml, s.env, { codec: false });
    try {
      const passwords = async () => (await Promise.all(s.secrets.map((x) => s.current(x)))).map((c) => String(c.value.password));
      const secrets = await passwords();
      if (failing) s.controller.set(WORKLOAD, 'stall');
      const handles = await Promise.all(
        s.secrets.map(async (x) => (await startRotation(rotator.client, rotator.config.temporal.task_queue, x.plan)).handle),
      );
      if (failing) {
        await s.controller.until((r) => r.length === 1);
        await s.breakLogin(`${s.secrets[1].role}_b`);
        s.controller.release(WORKLOAD);
      }
      await Promise.all(handles.map((h) => h.result().catch(() => undefined)));
      secrets.push(...(await passwords()));
      const consumer = s.secrets[0].plan.consumers![0] as Parameters<typeof clusterOf>[0];
      const coordinator = rotator.client.workflow.getHandle(
        coordinatorIdFor(clusterOf(consumer), { kind: 'Deployment', namespace: s.namespace, name: WORKLOAD }),
      );
      if (failing) recorded.push(['coalesce-rotation-rolled-back', await handles[1].fetchHistory(), secrets]);
      else {
        recorded.push(['coalesce-rotation-succeeded', await handles[0].fetchHistory(), secrets]);
        // The coordinator ends once idle: its whole run, from the first request to the end.
        await coordinator.result();
        recorded.push(['coalesce-coordinator', await coordinator.fetchHistory(), secrets]);
      }
    } finally {
      await rotator.close();
      await s.close();
    }
  }
  return recorded;
}

async function main(): Promise<void> {
  const set = process.argv[2];
  if (!set || !/^v\d+$/.test(set)) throw new Error('name a fixture set: tsx test/replay/record-coalesce.ts v<N>');
  fs.mkdirSync(path.join(FIXTURES, set), { recursive: true });
  const stack = await startLocalStack({ services: ['temporal', 'vault', 'postgres', 'kubernetes'] });
  const info = path.join(os.tmpdir(), `rotator-record-${process.pid}.json`);
  try {
    const { stop: _stop, ...stackInfo } = stack;
    fs.writeFileSync(info, JSON.stringify(stackInfo), { mode: 0o600 });
    process.env.ROTATOR_TEST_STACK = info;
    for (const [name, history, secrets] of await recordCoalesce()) {
      const json = historyToFixture(history);
      if (secrets.some((p) => json.includes(p) || json.includes(Buffer.from(p).toString('base64'))))
        throw new Error(`${name}: the history holds a secret; not writing it`);
      const file = path.join(FIXTURES, set, `${name}.json`);
      fs.writeFileSync(file, json);
      process.stdout.write(`recorded ${path.relative(process.cwd(), file)}\n`);
    }
  } finally {
    fs.rmSync(info, { force: true });
    await stack.stop();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`record failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
