// The test-process side of the fault-injection harness: one bundle for every worker process, a client, and worker
// processes for a scenario's config (see ./fault-injection.ts for the kill points).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, type WorkflowHandle } from '@temporalio/client';
import { getDataConverter } from '../../src/client/codec/data-converter';
import {
  parseKillPoint,
  readTrace,
  spawnFaultyWorker,
  stepsOf,
  writeBundle,
  type FaultyWorker,
  type KillPoint,
} from './fault-injection';
import { codecKeyEnv, testCodecKeys, workflowBundle } from './harness';
import type { Outcome } from '../../workflows/definitions';
import type { Scenario } from './rotation-scenarios';
import { startRotator, type Rotator } from './rotator';
import { testStack } from './stack';
import { connectTemporal } from '../../src/client/temporal';

export interface FaultHarness {
  keys: ReturnType<typeof testCodecKeys>;
  client: Client;
  /**
   * A worker process for the scenario's config on `taskQueue`, killing itself at `killAt` if given, tracing its steps
   * to `traceFile` (the same file across restarts, so a trace spans every process that ran the rotation).
   */
  worker(
    scenario: Pick<Scenario, 'yaml' | 'env'>,
    taskQueue: string,
    options?: { killAt?: string },
  ): { worker: FaultyWorker; traceFile: string };
  close(): Promise<void>;
}

export async function startFaultHarness(): Promise<FaultHarness> {
  const keys = testCodecKeys();
  const dir = mkdtempSync(join(tmpdir(), 'rotator-faults-'));
  const bundleFile = writeBundle(dir, (await workflowBundle()).code);
  const connection = await connectTemporal({ address: testStack().temporal!.address });
  const client = new Client({ connection, dataConverter: getDataConverter(keys) });
  return {
    keys,
    client,
    worker(scenario, taskQueue, options = {}) {
      const configFile = join(dir, `${taskQueue}.yaml`);
      const traceFile = join(dir, `${taskQueue}.trace`);
      writeFileSync(configFile, scenario.yaml, { mode: 0o600 });
      const worker = spawnFaultyWorker({
        configFile,
        bundleFile,
        env: { ...scenario.env, ROTATOR_CODEC_KEY: codecKeyEnv(keys) },
        ...(options.killAt ? { killAt: options.killAt } : {}),
        traceFile,
      });
      return { worker, traceFile };
    },
    close: () => connection.close(),
  };
}

export interface Trial {
  /** Whether the worker process reached `killAt` and died there. */
  killed: boolean;
  /** The steps the run went through, as kill points (from the trace of every process that ran it). */
  steps: KillPoint[];
}

/**
 * One run under a worker process that kills itself at `killAt` (none: a clean run): `start` starts the workflow;
 * once the process is dead, a fresh in-process worker takes the task queue over; `check` then looks at the end state
 * while that worker still runs. Every worker is gone when this returns.
 */
export async function faultTrial<R>(
  harness: FaultHarness,
  config: { yaml: string; env: Record<string, string>; taskQueue: string },
  killAt: string | null,
  start: () => Promise<WorkflowHandle>,
  check: (handle: WorkflowHandle, trial: Trial) => Promise<R>,
): Promise<R> {
  const { worker: faulty, traceFile } = harness.worker(config, config.taskQueue, killAt ? { killAt } : {});
  let fresh: Rotator | undefined;
  let handle: WorkflowHandle | undefined;
  const stage = <T>(what: string, step: Promise<T>): Promise<T> =>
    within(step, async () => {
      const trace = readTrace(traceFile).slice(-4);
      const pending = handle ? await handle.describe().then((d) => d.raw.pendingActivities ?? [], String) : [];
      return (
        `kill trial ${killAt ?? '(clean)'} on ${config.taskQueue}: ${what} has not ended in ${TRIAL_DEADLINE_MS / 1000} s; ` +
        `last steps ${JSON.stringify(trace)}; pending activities ${JSON.stringify(pending)}`
      );
    });
  try {
    handle = await start();
    const ended = handle.result().then(
      () => 'ended' as const,
      () => 'ended' as const,
    );
    const first = await Promise.race([faulty.exited.then(() => 'exited' as const), ended]);
    const killed = first === 'exited' && readTrace(traceFile).some((e) => e.event === 'kill');
    if (first === 'exited')
      fresh = await stage("the fresh worker's start", startRotator(config.yaml, config.env, { keys: harness.keys }));
    await stage(
      'the workflow',
      handle.result().catch(() => undefined),
    );
    return await stage('the check', check(handle, { killed, steps: stepsOf(readTrace(traceFile)) }));
  } finally {
    await faulty.kill();
    await stage("the fresh worker's shutdown", fresh?.close() ?? Promise.resolve());
  }
}

/**
 * How long one stage of a kill trial may take before the trial fails with what it was waiting for: a guard that
 * turns a hang into a message (pending activities, last steps), far above what a busy machine takes.
 */
const TRIAL_DEADLINE_MS = Number(process.env.ROTATOR_TRIAL_DEADLINE_MS ?? 240_000);

async function within<T>(step: Promise<T>, describe: () => Promise<string>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      describe().then(
        (message) => reject(new Error(message)),
        (err: unknown) => reject(new Error(`a kill trial stage has not ended; describing it failed: ${String(err)}`)),
      );
    }, TRIAL_DEADLINE_MS);
  });
  try {
    return await Promise.race([step, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `fn` over `items`, `concurrency` at a time, results in the order of `items`. */
export async function pool<T, R>(items: T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!);
      }
    }),
  );
  return results;
}

/**
 * The kill points a kind's own harness runs. `ROTATOR_KILL_POINTS=all` (`npm run chaos`): every one. Otherwise (npm
 * test, CI): those at the steps that call the kind's own code (`ownSteps`), before and after; the steps every kind
 * shares (inspect, promote, discard, the workflow's own) are killed at every point by fault-injection.test.ts for
 * the password strategies and by fault-injection-generated.test.ts for `issued`.
 */
export function killPointsToRun(points: string[], ownSteps: readonly string[]): string[] {
  if (process.env.ROTATOR_KILL_POINTS === 'all') return points;
  return points.filter((p) => ownSteps.includes(parseKillPoint(p).activity));
}

/** One kill trial as every kill harness reports it: where it was killed (null: a clean run), and how it ended. */
export interface KillTrial {
  killAt: string | null;
  killed: boolean;
  outcome: Outcome;
  problems: string[];
  steps: KillPoint[];
}

/** A harness's trials as the markdown table the notes quote, `label` naming the kind (and strategy) in each row. */
export function killTable(label: string, trials: KillTrial[]): string {
  const rows = trials.map((t) => {
    const worker = t.killed ? 'killed' : t.killAt ? 'NOT REACHED' : 'clean';
    const checks = t.problems.length === 0 ? 'all hold' : t.problems.join('; ');
    return `| ${label} | ${t.killAt ?? '(none)'} | ${worker} | ${t.outcome} | ${checks} |`;
  });
  return ['| kind | kill point | worker | outcome | checks |', '|---|---|---|---|---|', ...rows].join('\n');
}
