// The fault-injection harness: a real worker process that SIGKILLs itself at a named point, and a trace of its steps.
//
// A kill point is `before:<activity>[#n]` or `after:<activity>[#n]`: the n-th run (default 1) of that activity type
// in this process, local or regular. `after:` fires once the step's side effect is done and before its result is
// reported, which for a local activity means before it reaches history: the next worker runs it (and every step
// since the last completed workflow task) again. `before:` the first step of a phase is a kill at that phase boundary.
// `hang:<activity>[#n]` kills nothing: that run never ends and ignores its cancellation (a call with no timeout).
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { REPO_ROOT } from '../../src/stack/repo-root';
import { compiledScript } from './build-cache';

export interface TraceEvent {
  /** Wall-clock ms, so steps can be lined up with a prober's observations. */
  t: number;
  pid: number;
  /** `stuck`: the process was still alive EXIT_DEADLINE_MS after it was told to stop (workers/shutdown.ts). */
  event: 'start' | 'end' | 'kill' | 'hang' | 'stuck';
  activity: string;
  n: number;
}

export interface KillPoint {
  when: 'before' | 'after' | 'hang';
  activity: string;
  n: number;
}

export function parseKillPoint(text: string): KillPoint {
  const m = /^(before|after|hang):([A-Za-z]+)(?:#(\d+))?$/.exec(text);
  if (!m) throw new Error(`not a kill point: ${JSON.stringify(text)} (expected before:, after: or hang:<activity>[#n])`);
  return { when: m[1] as KillPoint['when'], activity: m[2], n: m[3] ? Number(m[3]) : 1 };
}

export function killPointName(p: KillPoint): string {
  return `${p.when}:${p.activity}#${p.n}`;
}

/** What a step hook sees: the activity type, its run in this worker (1, 2, … across retries) and the attempt. */
export interface StepRun {
  activity: string;
  n: number;
  attempt: number;
}

/**
 * Activity interceptors for an in-process worker: `before` runs (and is awaited) before each run of a step, `after`
 * once it has ended, failed or not. The named points of the kill harness, `before:<step>` / `after:<step>`.
 */
export function stepHooks(hooks: {
  before(run: StepRun): Promise<void>;
  after(run: StepRun, error: unknown): Promise<void>;
}): ActivityInterceptorsFactory[] {
  const counts = new Map<string, number>();
  return [
    (ctx) => ({
      inbound: {
        async execute(input, next) {
          const activity = ctx.info.activityType;
          const n = (counts.get(activity) ?? 0) + 1;
          counts.set(activity, n);
          const run = { activity, n, attempt: ctx.info.attempt };
          await hooks.before(run);
          try {
            const result = await next(input);
            await hooks.after(run, null);
            return result;
          } catch (err) {
            await hooks.after(run, err);
            throw err;
          }
        },
      },
    }),
  ];
}

/**
 * Activity interceptors for a worker process: append every step's start and end to `traceFile` (synchronously, so a
 * kill loses nothing written), and SIGKILL the process at `killAt`. A step that failed has no end and no `after:`.
 */
export function faultInterceptors(options: { killAt?: string; traceFile?: string }): ActivityInterceptorsFactory[] {
  const point = options.killAt ? parseKillPoint(options.killAt) : null;
  const trace = (event: TraceEvent['event'], run: Pick<StepRun, 'activity' | 'n'>) => appendTrace(options.traceFile, event, run);
  const at = (when: KillPoint['when'], run: StepRun) =>
    point !== null && point.when === when && point.activity === run.activity && point.n === run.n;
  const maybeKill = (when: KillPoint['when'], run: StepRun) => {
    if (at(when, run)) {
      trace('kill', run);
      process.kill(process.pid, 'SIGKILL');
    }
  };
  return stepHooks({
    async before(run) {
      trace('start', run);
      maybeKill('before', run);
      if (at('hang', run)) {
        trace('hang', run);
        await new Promise<never>(() => undefined);
      }
    },
    async after(run, error) {
      if (error !== null) return;
      trace('end', run);
      maybeKill('after', run);
    },
  });
}

/** Appends one event to the trace (synchronously, so a kill right after loses nothing); nothing without a trace file. */
export function appendTrace(
  traceFile: string | undefined,
  event: TraceEvent['event'],
  { activity, n }: Pick<StepRun, 'activity' | 'n'>,
): void {
  if (!traceFile) return;
  const line: TraceEvent = { t: Date.now(), pid: process.pid, event, activity, n };
  appendFileSync(traceFile, JSON.stringify(line) + '\n');
}

export function readTrace(traceFile: string): TraceEvent[] {
  let text: string;
  try {
    text = readFileSync(traceFile, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as TraceEvent);
}

/** The steps a run went through, in order, as kill points (`after:` each one), from a trace of a process that was not killed. */
export function stepsOf(trace: TraceEvent[]): KillPoint[] {
  return trace.filter((e) => e.event === 'end').map((e) => ({ when: 'after' as const, activity: e.activity, n: e.n }));
}

export interface FaultyWorker {
  child: ChildProcess;
  /** Resolves with the signal (or exit code) once the process is gone. */
  exited: Promise<NodeJS.Signals | number | null>;
  /** SIGKILL now (if still running) and wait until it is gone. */
  kill(): Promise<void>;
  /** SIGTERM (graceful shutdown) and wait. */
  stop(): Promise<void>;
}

/** How long stop() waits for a worker to exit after SIGTERM before it kills it. */
const STOP_WAIT_MS = 60_000;

/** Writes the prebuilt workflow bundle where worker processes can load it, so none of them bundles again. */
export function writeBundle(dir: string, code: string): string {
  const file = join(dir, 'workflow-bundle.js');
  writeFileSync(file, code);
  return file;
}

/**
 * Starts `test/support/fault-worker.ts` (its JavaScript, see compiledScript) as its own node process (node itself, not a
 * tsx wrapper, so a SIGKILL hits the process that runs the worker).
 */
export function spawnFaultyWorker(options: {
  configFile: string;
  bundleFile: string;
  env: Record<string, string>;
  killAt?: string;
  traceFile?: string;
}): FaultyWorker {
  const child = spawn(process.execPath, [compiledScript('test/support/fault-worker.ts')], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      ...options.env,
      ROTATOR_CONFIG: options.configFile,
      ROTATOR_TEST_BUNDLE: options.bundleFile,
      ROTATOR_TEST_KILL_AT: options.killAt ?? '',
      ROTATOR_TEST_TRACE: options.traceFile ?? '',
      ROTATOR_LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<NodeJS.Signals | number | null>((res) => {
    if (child.exitCode !== null || child.signalCode !== null) res(child.signalCode ?? child.exitCode);
    else child.once('exit', (code, signal) => res(signal ?? code));
  });
  return {
    child,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return void (await exited);
      child.kill('SIGTERM');
      // A worker whose graceful shutdown never ends (seen in the lease bench after it terminated 1,000 keepers) must not
      // hold its caller for ever: killed, and said so.
      const stuck = setTimeout(() => {
        process.stderr.write(`worker ${child.pid} had not exited ${STOP_WAIT_MS / 1000} s after SIGTERM: killed\n`);
        child.kill('SIGKILL');
      }, STOP_WAIT_MS);
      await exited;
      clearTimeout(stuck);
    },
  };
}
