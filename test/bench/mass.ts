// npm run bench, issue 24 must-show 3: `rotator rotate --selector` over 1,000 secrets (PostgreSQL logins stored in
// OpenBao KV) under a write budget of 20 requests/s. The CLI is SIGKILLed halfway and run again; figures: wall time
// against the budget-bound minimum (goal ≤ 1.2×), the most writes the store received in any one second (a recording
// proxy in front of OpenBao; goal ≤ the budget), and that the re-run finished only the rest (each secret published
// exactly one version).
import { Client } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { getDataConverter } from '../../src/client/codec/data-converter';
import { massRunIdFor, selectSecrets } from '../../src/config/mass';
import { parseConfig } from '../../src/config/load';
import { startLocalStack, type LocalStack } from '../../src/stack/local-stack';
import { massProgressQuery, type MassResult } from '../../workflows/mass-definitions';
import { createRotatorWorker, WORKFLOWS_PATH } from '../../workers/worker';
import { massScenario, spawnCli, writeLoad } from '../support/mass-scenario';
import { parseFlags, silentLogger, runBench } from './common';
import { connectTemporal } from '../../src/client/temporal';

const GOAL_RATIO = 1.2;
/** alternating-users on OpenBao KV: stage 1, promote 3, release the claim 1. */
const WRITES_PER_ROTATION = 5;

const log = (line: string) => process.stderr.write(`bench mass: ${line}\n`);

async function main(): Promise<void> {
  const { count, budget, concurrency } = parseFlags(process.argv.slice(2), { count: 1000, budget: 20, concurrency: 40 });
  let stack: LocalStack | undefined;
  const onSignal = () => void (stack?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    const [started, workflowBundle] = await Promise.all([
      startLocalStack({ services: ['temporal', 'vault', 'postgres'], log }),
      bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: silentLogger }),
    ]);
    stack = started;
    const s = await massScenario(stack, { count, budget, maxConcurrent: concurrency });
    const keys = { activeKeyId: 'bench', keys: new Map([['bench', randomBytes(32)]]) };
    const codecEnv = { ROTATOR_CODEC_KEY: `bench:${keys.keys.get('bench')!.toString('base64')}` };
    const config = parseConfig(s.yaml, s.env);
    const dataConverter = getDataConverter(keys);
    const rotator = await createRotatorWorker({
      config,
      dataConverter,
      workflowBundle,
      logLevel: 'ERROR',
      tuning: { maxConcurrentActivityTaskExecutions: 200, maxConcurrentWorkflowTaskExecutions: 40, maxCachedWorkflows: 400 },
    });
    const running = rotator.worker.run();
    const connection = await connectTemporal({ address: stack.temporal!.address });
    const client = new Client({ connection, dataConverter });
    try {
      const selection = selectSecrets(config.secrets, 'team=mass');
      const runId = massRunIdFor(selection);
      const args = (...more: string[]) => ['--config', s.configFile, ...more, 'rotate', '--selector', 'team=mass'];
      const env = { ...s.env, ...codecEnv };
      log(`${count} secrets, budget ${budget}/s, ${concurrency} in flight; the CLI is killed halfway`);
      const t0 = Date.now();
      const first = spawnCli(args(), env);
      let endedAtKill = 0;
      for (;;) {
        const p = await client.workflow
          .getHandle(runId)
          .query(massProgressQuery)
          .catch(() => null);
        if (p && p.total - p.waiting - p.running >= count / 2) {
          endedAtKill = p.total - p.waiting - p.running;
          break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      first.child.kill('SIGKILL');
      await first.exited;
      log(`CLI killed with ${endedAtKill} of ${count} ended; running the same command again`);
      const second = spawnCli(args('--json'), env);
      const code = await second.exited;
      const wallMs = Date.now() - t0;
      const result = JSON.parse(second.out().trim().split('\n').at(-1)!) as MassResult & { state: string };
      const versions = Object.values(await s.versions());
      const load = writeLoad(s.proxy.log, t0);
      const minimumMs = (load.writes / budget) * 1000;
      const ratio = wallMs / minimumMs;
      const out = [
        `mass rotation: ${count} secrets (PostgreSQL logins in OpenBao KV), write budget ${budget} requests/s, ${concurrency} in flight`,
        `  outcomes:               ${Object.entries(result.counts)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')} (CLI exit ${String(code)})`,
        `  writes at the store:    ${load.writes} (${(load.writes / count).toFixed(2)} per rotation; expected ${WRITES_PER_ROTATION})`,
        `  wall time:              ${(wallMs / 1000).toFixed(1)} s against the budget-bound minimum ${(minimumMs / 1000).toFixed(1)} s = ${ratio.toFixed(2)}× (goal ≤ ${GOAL_RATIO}×) ${ratio <= GOAL_RATIO ? 'MET' : 'NOT MET'}`,
        `  most writes in any 1 s: ${load.maxInAnySecond} at the store (in a calendar second: ${load.maxInACalendarSecond}; budget ${budget}) ${load.maxInAnySecond <= budget ? 'NEVER EXCEEDED' : 'EXCEEDED'}`,
        `  CLI killed midway:      ${endedAtKill} ended before the kill; the re-run ${result.state === 'attached' ? 'followed the same run' : `started a new run (${result.state})`}; ` +
          `secrets with exactly one new version ${versions.filter((v) => v === 1).length}, more than one ${versions.filter((v) => v > 1).length}, none ${versions.filter((v) => v === 0).length}`,
      ];
      // Why the rotations that did not succeed ended so (code and message, never a value), most frequent first.
      const why = new Map<string, number>();
      for (const e of Object.values(result.results ?? {}))
        if (e.outcome !== 'succeeded') {
          const k = `${e.outcome}: ${e.code ?? '-'} ${(e.error ?? '').slice(0, 160)}`;
          why.set(k, (why.get(k) ?? 0) + 1);
        }
      for (const [k, n] of [...why].sort((a, b) => b[1] - a[1]).slice(0, 5)) out.push(`  not succeeded ×${n}: ${k}`);
      process.stdout.write(out.join('\n') + '\n');
    } finally {
      await connection.close();
      rotator.worker.shutdown();
      await running;
      await rotator.close();
      await s.close();
    }
  } finally {
    await stack?.stop();
  }
}

runBench(main, log);
