// npm run bench: steady-state rotation latency and throughput through Temporal versus the same provider calls made bare.
import { Client } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import type { Config } from '../../src/config/schema';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { ConsumerRegistry, ProviderRegistry, TargetRegistry } from '../../activities/registry';
import { getDataConverter } from '../../src/client/codec/data-converter';
import { planRotation, workflowIdFor } from '../../src/config/plan';
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
  runBench,
} from './common';
import type { FloorActivities, FloorShape } from './floor-workflow';
import { costOfRun, costTable, stepsOf, timelineOf, type HistoryCost, type Timeline } from './history-cost';
import { connectTemporal } from '../../src/client/temporal';

/** Issue 24: one rotation at a time at most 30 ms over the bare calls; 20 in flight at least 0.8x their throughput. */
const TARGETS = { overheadMs: 30, throughputRatio: 0.8 };

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
    const config = benchConfig(
      stack,
      taskQueue,
      [...baseNames, ...secretNames('w', count), ...secretNames('o', count)],
      adminPath,
    );
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
    // ROTATOR_BENCH_BEFORE=<an older checkout's workflows/ folder> measures that code first, in the same run, on its
    // own task queue and secrets: a before/after under the same load (the activities are this checkout's).
    const before = process.env.ROTATOR_BENCH_BEFORE;
    const variants: Array<{ label: string; prefix: string; bundle: typeof workflowBundle }> = [
      ...(before
        ? [
            {
              label: `before (${before})`,
              prefix: 'o',
              bundle: await bundleWorkflowCode({ workflowsPath: before, logger: silentLogger }),
            },
          ]
        : []),
      { label: 'this checkout', prefix: 'w', bundle: workflowBundle },
    ];
    const measured: Measured[] = [];
    for (const v of variants) {
      const m = await measureWorkflow(
        stack,
        { ...config, temporal: { ...config.temporal, task_queue: `${taskQueue}-${v.prefix}` } },
        {
          names: secretNames(v.prefix, count),
          concurrency,
          bundle: v.bundle,
        },
      );
      log(`workflow (${v.label}) done (${fmt(m.workflow.p50)} ms p50, peak ${m.pgPeak} pg connections)`);
      measured.push({ ...m, label: v.label });
    }
    for (const m of measured) {
      process.stdout.write(`\n===== workflow code: ${m.label} =====`);
      printReport(
        count,
        concurrency,
        { baseline, baselineSerial, workflow: m.workflow, workflowSerial: m.workflowSerial },
        steps,
        m.phases,
      );
    }
    for (const m of measured) {
      const t = m.timeline;
      process.stdout.write(
        `\none at a time, where a rotation's time went (${m.label}, mean ms from its history, ${fmt(m.timeline.total)} in all): ` +
          `start call ${fmt(t.startCall, 1)}, to the first task ${fmt(t.firstDispatch, 1)}, in workflow tasks (local activities ` +
          `included) ${fmt(t.inWorkflowTasks, 1)}, in activities ${fmt(t.inActivities, 1)}, the server between tasks ` +
          `${fmt(t.serverBetween, 1)}, close to the result ${fmt(t.resultCall, 1)}; the bare calls: ${fmt(baselineSerial.p50)} ms\n`,
      );
    }
    process.stdout.write(
      `\nwhat one rotation costs the server (its history):\n${costTable(measured.map((m) => [`rotation (${m.label})`.slice(0, 33), m.cost]))}\n`,
    );
    // Temporal's floor: the same worker slots and codec, the last rotation's steps as no-ops.
    const last = measured.at(-1)!;
    const floor = await measureFloor(stack, `${taskQueue}-floor`, { count, concurrency, shape: last.steps });
    log(`floor done (${fmt(floor.serial.p50)} ms p50 one at a time)`);
    printFloor(floor, last.steps, concurrency, baseline, baselineSerial, last.workflowSerial);
    log(`total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await stack?.stop();
  }
}

interface Measured {
  label: string;
  workflow: Summary;
  workflowSerial: Summary;
  phases: Record<string, number>;
  cost: HistoryCost;
  /** One at a time: the mean rotation's time, split by where it went. */
  timeline: Timeline;
  /** The steps one rotation took (its history): what the floor runs as no-ops. */
  steps: FloorShape;
  pgPeak: number;
}

/**
 * The bench workers' slots, the rotation worker's and the floor's alike: enough activity slots that the queue, not
 * the worker, bounds concurrency; every in-flight run cached, so workflow tasks never replay history.
 */
function workerTuning(concurrency: number) {
  return {
    maxConcurrentActivityTaskExecutions: 200,
    maxConcurrentWorkflowTaskExecutions: 40,
    maxCachedWorkflows: Math.max(200, concurrency * 2),
    // ROTATOR_BENCH_EAGER=0 measures the revoke sent through the task queue instead of back with the task.
    ...(process.env.ROTATOR_BENCH_EAGER === '0' ? { maxEagerActivityReservationsPerWorkflowTask: 0 } : {}),
  };
}

/** Payloads encrypted as in production, under a key of this run. */
const benchDataConverter = () => getDataConverter({ activeKeyId: 'bench', keys: new Map([['bench', randomBytes(32)]]) });

const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / Math.max(1, xs.length);

/** Rotations through a worker of `bundle` on config's task queue: 20 in flight, then one at a time, then one's history. */
async function measureWorkflow(
  stack: LocalStack,
  config: Config,
  { names, concurrency, bundle }: { names: string[]; concurrency: number; bundle: WorkflowBundle },
): Promise<Omit<Measured, 'label'>> {
  const taskQueue = config.temporal.task_queue;
  const dataConverter = benchDataConverter();
  const rotator = await createRotatorWorker({
    config,
    dataConverter,
    workflowBundle: bundle,
    logLevel: 'ERROR',
    tuning: workerTuning(concurrency),
  });
  const running = rotator.worker.run();
  const connection = await connectTemporal({ address: stack.temporal!.address });
  const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter });
  const phases: Record<string, number> = {};
  const conns = watchPgConnections(stack);
  try {
    const plans = names.map((n) => planRotation(config, n));
    const serialRuns: Array<{ workflowId: string; runId: string; callStart: number; callEnd: number }> = [];
    const rotate = async (plan: (typeof plans)[number], record: boolean, serial = false) => {
      const callStart = Date.now();
      const { handle, runId } = await startRotation(client, taskQueue, plan, 'bench');
      const status = (await handle.result()) as RotationStatus;
      const callEnd = Date.now();
      if (status.outcome !== 'succeeded') throw new Error(`rotation of ${plan.secret} ended ${status.outcome}`);
      if (record) for (const p of status.phases) phases[p.name] = (phases[p.name] ?? 0) + (p.durationMs ?? 0);
      if (serial && runId) serialRuns.push({ workflowId: handle.workflowId, runId, callStart, callEnd });
    };
    await runPool(plans, concurrency, (p) => rotate(p, false));
    const workflow = summarize(await runPool(plans, concurrency, (p) => rotate(p, true)));
    // Latency without queueing: on 2 cores, 20 in flight mostly measures the wait for a CPU.
    const workflowSerial = summarize(await runPool(plans, 1, (p) => rotate(p, false, true)));
    // Where one at a time's time went, from each run's history (read after the runs, outside their timing).
    const timelines: Timeline[] = [];
    const shapes = new Set<string>();
    await runPool(serialRuns, 8, async (r) => {
      const events = (await client.workflow.getHandle(r.workflowId, r.runId).fetchHistory()).events ?? [];
      timelines.push(timelineOf(events, r.callStart, r.callEnd));
      shapes.add(JSON.stringify(stepsOf(events)));
    });
    // Every rotation of the run takes the same steps; the floor runs them as no-ops.
    if (shapes.size !== 1) throw new Error(`rotations one at a time took different steps: ${[...shapes].join(', ')}`);
    const steps = JSON.parse([...shapes][0]!) as FloorShape;
    const timeline = Object.fromEntries(
      Object.keys(timelines[0]!).map((k) => [k, mean(timelines.map((t) => t[k as keyof Timeline]))]),
    ) as unknown as Timeline;
    // What the last rotation cost the server, from its history: the round trips behind the figures above.
    const cost = await costOfRun(client, workflowIdFor(plans.at(-1)!.secret));
    return { workflow, workflowSerial, phases, cost, timeline, steps, pgPeak: await conns.stop() };
  } finally {
    await conns.stop();
    await connection.close();
    rotator.worker.shutdown();
    await running;
    await rotator.close();
  }
}

interface Floor {
  /** One no-op local activity, one at a time: the least any workflow costs here. */
  single: Summary;
  /** The same, `concurrency` in flight. */
  singleParallel: Summary;
  /** A rotation's steps as no-ops, one at a time. */
  serial: Summary;
  /** The same, `concurrency` in flight. */
  parallel: Summary;
}

/**
 * Workflows of no-op steps (test/bench/floor-workflow.ts) through a worker with the rotation worker's slots and codec,
 * started and awaited as rotations are: what Temporal, its SDK and this machine cost before any step does work.
 */
async function measureFloor(
  stack: LocalStack,
  taskQueue: string,
  { count, concurrency, shape }: { count: number; concurrency: number; shape: FloorShape },
): Promise<Floor> {
  const dataConverter = benchDataConverter();
  const address = stack.temporal!.address;
  const workflowBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./floor-workflow'), logger: silentLogger });
  const activities: FloorActivities = { noop: async () => {} };
  const nativeConnection = await NativeConnection.connect({ address });
  try {
    const worker = await Worker.create({
      connection: nativeConnection,
      taskQueue,
      workflowBundle,
      activities,
      dataConverter,
      ...workerTuning(concurrency),
    });
    const connection = await connectTemporal({ address });
    const client = new Client({ connection, dataConverter });
    try {
      return await worker.runUntil(async () => {
        const run = (s: FloorShape) => async () => {
          await client.workflow.execute('floor', {
            taskQueue,
            workflowId: `floor-${randomBytes(6).toString('hex')}`,
            args: [s],
          });
        };
        const runs = Array.from({ length: count }, () => 0);
        const one = { local: 1, regular: 0 };
        // Warm-up, untimed: as many as the rotations had (one untimed rotation per secret).
        await runPool(runs, concurrency, run(shape));
        const single = summarize(await runPool(runs, 1, run(one)));
        const singleParallel = summarize(await runPool(runs, concurrency, run(one)));
        const serial = summarize(await runPool(runs, 1, run(shape)));
        const parallel = summarize(await runPool(runs, concurrency, run(shape)));
        return { single, singleParallel, serial, parallel };
      });
    } finally {
      await connection.close();
    }
  } finally {
    await nativeConnection.close();
  }
}

/** The floor beside the goals: how much of the overhead the goals allow is gone before a rotation does anything. */
function printFloor(
  floor: Floor,
  shape: FloorShape,
  concurrency: number,
  baseline: Summary,
  baselineSerial: Summary,
  workflowSerial: Summary,
): void {
  const row = (name: string, s: Summary) =>
    `${name.padEnd(72)}${fmt(s.p50).padStart(9)}${fmt(s.p95).padStart(9)}${fmt(s.max).padStart(9)}${fmt(s.perSecond, 1).padStart(9)}`;
  const steps = `${shape.local + shape.regular} steps (${shape.local} local, ${shape.regular} regular)`;
  // An estimate: if Temporal's work and the bare calls' work only added up on the same cores.
  const sharedCores = (f: Summary) => 1 / (1 / baseline.perSecond + 1 / f.perSecond);
  process.stdout.write(
    [
      `\nTemporal's floor here: workflows of no-op activities with empty arguments, the same codec and worker slots`,
      `${'run'.padEnd(72)}${'p50 ms'.padStart(9)}${'p95 ms'.padStart(9)}${'max ms'.padStart(9)}${'wf/s'.padStart(9)}`,
      row('one no-op local activity, one at a time', floor.single),
      row(`the same, ${concurrency} in flight`, floor.singleParallel),
      row(`the rotation's ${steps} as no-ops, one at a time`, floor.serial),
      row(`the same, ${concurrency} in flight`, floor.parallel),
      `one at a time: the goal allows ${TARGETS.overheadMs} ms over the bare calls (${fmt(baselineSerial.p50)} ms); ` +
        `the rotation's overhead: ${fmt(workflowSerial.p50 - baselineSerial.p50)} ms; a workflow of one no-op step: ` +
        `${fmt(floor.single.p50)} ms; of the rotation's steps as no-ops: ${fmt(floor.serial.p50)} ms`,
      `${concurrency} in flight, an estimate: if the floor's work and the bare calls' work only added up on these ` +
        `cores, ${fmt(sharedCores(floor.parallel), 1)} rot/s with the rotation's steps ` +
        `(${fmt(sharedCores(floor.parallel) / baseline.perSecond, 2)}x the bare calls'), ` +
        `${fmt(sharedCores(floor.singleParallel), 1)} rot/s with one step ` +
        `(${fmt(sharedCores(floor.singleParallel) / baseline.perSecond, 2)}x)`,
      '',
    ].join('\n'),
  );
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
  // The goals of issue 24, held against the bare calls of this same run (the machine's load moves both alike).
  const overhead = runs.workflowSerial.p50 - runs.baselineSerial.p50;
  const overhead95 = runs.workflowSerial.p95 - runs.baselineSerial.p95;
  const throughputRatio = runs.workflow.perSecond / runs.baseline.perSecond;
  const mark = (ok: boolean) => (ok ? 'met' : 'NOT met');
  out.push(
    `\ngoals (load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}):`,
  );
  out.push(
    `  one at a time: p50 overhead <= ${TARGETS.overheadMs} ms over the bare calls   ${mark(overhead <= TARGETS.overheadMs)} ` +
      `(${fmt(overhead)} ms; p95 ${fmt(overhead95)} ms)`,
  );
  out.push(
    `  ${concurrency} in flight: throughput >= ${TARGETS.throughputRatio}x the bare calls'   ${mark(throughputRatio >= TARGETS.throughputRatio)} ` +
      `(${fmt(throughputRatio, 2)}x: ${fmt(runs.workflow.perSecond, 1)} against ${fmt(runs.baseline.perSecond, 1)} rot/s)`,
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

runBench(main, log);
