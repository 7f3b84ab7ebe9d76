// npm run bench: steady-state rotation latency and throughput through Temporal versus the same provider calls made bare.
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { ConsumerRegistry, ProviderRegistry, TargetRegistry } from '../../activities/registry';
import { getDataConverter } from '../../src/client/codec/data-converter';
import { planRotation } from '../../src/config/plan';
import { startRotation } from '../../src/client/rotations';
import { startLocalStack, type LocalStack } from '../../src/stack/local-stack';
import type { RotationStatus } from '../../workflows/definitions';
import { createRotatorWorker, WORKFLOWS_PATH } from '../../workers/worker';
import {
  bareRotation,
  benchConfig,
  createActivities,
  parseFlags,
  runPool,
  secretNames,
  seedAdmin,
  silentLogger,
  summarize,
  type StepTimings,
  type Summary,
  watchPgConnections,
} from './common';

const TARGETS = { p50Ms: 250, ratio: 3, perSecond: 50 };

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

async function main(): Promise<void> {
  const { count, concurrency } = parseFlags(process.argv.slice(2), { count: 200, concurrency: 20 });
  const t0 = performance.now();

  let stack: LocalStack | undefined;
  // SIGINT's default kills us before 'exit' hooks run; stop the servers ourselves so no postmaster is left behind.
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: stopping the stack`);
    void (stack?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);

  try {
    const [started, workflowBundle] = await Promise.all([
      startLocalStack({ services: ['temporal', 'vault', 'postgres'], log }),
      bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: silentLogger }),
    ]);
    stack = started;
    const adminPath = `bench/admin_${randomBytes(3).toString('hex')}`;
    await seedAdmin(stack, adminPath);
    const taskQueue = `bench-${randomBytes(3).toString('hex')}`;
    const baseNames = secretNames('b', count);
    const wfNames = secretNames('w', count);
    const config = benchConfig(stack, taskQueue, [...baseNames, ...wfNames], adminPath);
    log(
      `stack and bundle ready in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${count} rotations per run, ${concurrency} in flight`,
    );

    // --- baseline: the activity functions called directly, one untimed first rotation per secret ---
    const providers = new ProviderRegistry(config.providers);
    const targets = new TargetRegistry();
    const acts = createActivities({ providers, targets, consumers: new ConsumerRegistry() });
    const basePlans = baseNames.map((n) => planRotation(config, n));
    const steps: StepTimings = {};
    let baseline: Summary;
    let baselineSerial: Summary;
    const baseConns = watchPgConnections(stack);
    try {
      await runPool(basePlans, concurrency, (p) => bareRotation(acts, p));
      baseline = summarize(await runPool(basePlans, concurrency, (p) => bareRotation(acts, p, steps)));
      baselineSerial = summarize(await runPool(basePlans, 1, (p) => bareRotation(acts, p)));
    } finally {
      await providers.close();
      await targets.close();
    }
    const basePeak = await baseConns.stop();
    log(`baseline done (${fmt(baseline.p50)} ms p50, peak ${basePeak} pg connections)`);

    // --- through Temporal: worker in this process, codec on, one untimed first rotation per secret ---
    const dataConverter = getDataConverter({ activeKeyId: 'bench', keys: new Map([['bench', randomBytes(32)]]) });
    const rotator = await createRotatorWorker({
      config,
      dataConverter,
      workflowBundle,
      logLevel: 'ERROR',
      // Enough activity slots that the queue, not the worker, bounds concurrency; cache every in-flight run so
      // workflow tasks never replay history.
      tuning: {
        maxConcurrentActivityTaskExecutions: 200,
        maxConcurrentWorkflowTaskExecutions: 40,
        maxCachedWorkflows: Math.max(200, concurrency * 2),
      },
    });
    const running = rotator.worker.run();
    const connection = await Connection.connect({ address: stack.temporal!.address });
    const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter });
    const phases: Record<string, number> = {};
    let workflow: Summary;
    let workflowSerial: Summary;
    const wfConns = watchPgConnections(stack);
    try {
      const wfPlans = wfNames.map((n) => planRotation(config, n));
      const rotate = async (plan: (typeof wfPlans)[number], record: boolean) => {
        const { handle } = await startRotation(client, taskQueue, plan, 'bench');
        const status = (await handle.result()) as RotationStatus;
        if (status.outcome !== 'succeeded') throw new Error(`rotation of ${plan.secret} ended ${status.outcome}`);
        if (record) for (const p of status.phases) phases[p.name] = (phases[p.name] ?? 0) + (p.durationMs ?? 0);
      };
      await runPool(wfPlans, concurrency, (p) => rotate(p, false));
      workflow = summarize(await runPool(wfPlans, concurrency, (p) => rotate(p, true)));
      // Latency without queueing: on 2 cores, 20 in flight mostly measures the wait for a CPU.
      workflowSerial = summarize(await runPool(wfPlans, 1, (p) => rotate(p, false)));
    } finally {
      await connection.close();
      rotator.worker.shutdown();
      await running;
      await rotator.close();
    }
    const wfPeak = await wfConns.stop();
    log(`workflow done (${fmt(workflow.p50)} ms p50, peak ${wfPeak} pg connections)`);

    printReport(count, concurrency, { baseline, workflow, baselineSerial, workflowSerial }, steps, phases);
    log(`total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await stack?.stop();
  }
}

function fmt(n: number, digits = 0): string {
  return n.toFixed(digits);
}

interface Runs {
  baseline: Summary;
  workflow: Summary;
  baselineSerial: Summary;
  workflowSerial: Summary;
}

function printReport(count: number, concurrency: number, runs: Runs, steps: StepTimings, phases: Record<string, number>): void {
  const out: string[] = [];
  const table = (title: string, base: Summary, wf: Summary) => {
    out.push(`\n${title}`);
    out.push(`${'run'.padEnd(24)}${'p50 ms'.padStart(9)}${'p95 ms'.padStart(9)}${'max ms'.padStart(9)}${'rot/s'.padStart(9)}`);
    for (const [name, s] of [
      ['baseline (bare calls)', base],
      ['workflow (Temporal)', wf],
    ] as const) {
      out.push(
        `${name.padEnd(24)}${fmt(s.p50).padStart(9)}${fmt(s.p95).padStart(9)}${fmt(s.max).padStart(9)}${fmt(s.perSecond, 1).padStart(9)}`,
      );
    }
    out.push(`workflow/baseline: p50 ${fmt(wf.p50 / base.p50, 2)}x, throughput ${fmt(wf.perSecond / base.perSecond, 2)}x`);
  };
  table(
    `steady-state rotations (second rotation of each of ${count} secrets), ${concurrency} in flight: throughput`,
    runs.baseline,
    runs.workflow,
  );
  table(`the same ${count} secrets rotated once more, one at a time: latency`, runs.baselineSerial, runs.workflowSerial);
  const serialRatio = runs.workflowSerial.p50 / runs.baselineSerial.p50;
  const mark = (ok: boolean) => (ok ? 'met' : 'NOT met');
  out.push('\ntargets:');
  out.push(
    `  workflow p50 <= ${TARGETS.p50Ms} ms (one at a time)   ${mark(runs.workflowSerial.p50 <= TARGETS.p50Ms)} (${fmt(runs.workflowSerial.p50)} ms)`,
  );
  out.push(
    `  p50 ratio <= ${TARGETS.ratio}x (one at a time)       ${mark(serialRatio <= TARGETS.ratio)} (${fmt(serialRatio, 2)}x)`,
  );
  out.push(
    `  workflow >= ${TARGETS.perSecond} rotations/s (${concurrency} in flight) ${mark(runs.workflow.perSecond >= TARGETS.perSecond)} (${fmt(runs.workflow.perSecond, 1)}/s)`,
  );
  out.push(`where the time goes, ${concurrency} in flight (mean ms per rotation):`);
  out.push(
    `  baseline activities: ${Object.entries(steps)
      .map(([k, v]) => `${k} ${fmt(v / count, 1)}`)
      .join(', ')}`,
  );
  out.push(
    `  workflow phases:     ${Object.entries(phases)
      .map(([k, v]) => `${k} ${fmt(v / count, 1)}`)
      .join(', ')}`,
  );
  process.stdout.write(out.join('\n') + '\n');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
