// A consumer's view of rotations whose worker is SIGKILLed at random moments: a prober logs in with the store's
// current credential every 50 ms. Two-credential strategies must never be refused; single-user only inside its window.
import { followRotation, startRotation } from '../src/client/rotations';
import { startFaultHarness, type FaultHarness } from './support/fault-harness';
import { readTrace, type FaultyWorker, type TraceEvent } from './support/fault-injection';
import { unique } from './support/harness';
import { scenarioFor, type Scenario, type ScenarioStrategy } from './support/rotation-scenarios';

/** Rotations per strategy: 40 in `npm run chaos`, 16 in npm test. */
const ROTATIONS = process.env.ROTATOR_KILL_POINTS === 'all' ? 40 : 16;
const PROBE_EVERY_MS = 50;
/**
 * Share of rotations whose worker is killed, at a moment drawn from the first KILL_WITHIN_MS of the rotation; half of
 * the kills fall in the first EARLY_MS, where create, publish and verify run before the grace timer.
 */
const KILL_SHARE = 0.4;
const KILL_WITHIN_MS = 1_500;
const EARLY_MS = 200;

/** A small seeded PRNG (mulberry32), so a failing run can be repeated with ROTATOR_TEST_SEED. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Probe {
  readAt: number;
  doneAt: number;
  version: number;
  ok: boolean;
}

/** Reads the store's current credential and logs in with it, every 50 ms, until stopped. */
function startProber(scenario: Scenario): { stop: () => Promise<Probe[]> } {
  const probes: Probe[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const readAt = Date.now();
      const current = await scenario.current();
      const ok = await scenario.logsIn(current.value);
      probes.push({ readAt, doneAt: Date.now(), version: current.version, ok });
      await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return probes;
    },
  };
}

/**
 * single-user's documented window, from the workers' traces: from the first applyCredential of a rotation (the new
 * password is set) to the end of its promote (the store serves it), across every worker process that ran it.
 */
function singleUserWindows(events: TraceEvent[]): Array<[number, number]> {
  const windows: Array<[number, number]> = [];
  let open: number | null = null;
  for (const e of [...events].sort((x, y) => x.t - y.t)) {
    if (e.activity === 'applyCredential' && e.event === 'start' && open === null) open = e.t;
    if (e.activity === 'promote' && e.event === 'end' && open !== null) {
      windows.push([open, e.t]);
      open = null;
    }
  }
  return windows;
}

describe('rotations under random worker kills, watched by a prober', () => {
  const seed = Number(process.env.ROTATOR_TEST_SEED ?? Date.now() % 1_000_000);
  let harness: FaultHarness;
  beforeAll(async () => {
    harness = await startFaultHarness();
  });
  afterAll(() => harness?.close());

  async function rotateUnderKills(strategy: ScenarioStrategy, rand: () => number) {
    const taskQueue = unique('tq');
    const scenario = await scenarioFor(strategy, taskQueue, ['grace_period: 1s']);
    const spawnWorker = () => harness.worker(scenario, taskQueue);
    const first = spawnWorker();
    const traceFile = first.traceFile;
    let worker: FaultyWorker = first.worker;
    const prober = startProber(scenario);
    let kills = 0;
    const outcomes: string[] = [];
    try {
      for (let i = 0; i < ROTATIONS; i++) {
        const { handle } = await startRotation(harness.client, taskQueue, scenario.plan);
        let killer: Promise<void> = Promise.resolve();
        if (rand() < KILL_SHARE) {
          const delay = Math.floor(rand() * (rand() < 0.5 ? EARLY_MS : KILL_WITHIN_MS));
          killer = new Promise<void>((r) => setTimeout(r, delay)).then(async () => {
            await worker.kill();
            kills += 1;
            worker = spawnWorker().worker; // the supervisor restarts it at once, as a process manager would
          });
        }
        const { status } = await followRotation(handle);
        await killer;
        outcomes.push(status.outcome);
      }
    } finally {
      await worker.stop();
    }
    const probes = await prober.stop();
    await scenario.close();
    return { strategy, outcomes, kills, probes, windows: singleUserWindows(readTrace(traceFile)) };
  }

  it(
    `${ROTATIONS} rotations per strategy: no refusal for two credentials, single-user refused only inside its window`,
    async () => {
      const strategies: ScenarioStrategy[] = ['alternating-users', 'dual-password', 'single-user'];
      const runs = await Promise.all(strategies.map((s, i) => rotateUnderKills(s, random(seed + i))));
      const lines = [`random kills, seed ${seed}:`];
      for (const run of runs) {
        const refused = run.probes.filter((p) => !p.ok);
        const outside = refused.filter((p) => !run.windows.some(([from, to]) => from <= p.doneAt && p.readAt <= to));
        const longest = Math.max(0, ...run.windows.map(([from, to]) => to - from));
        lines.push(
          `  ${run.strategy}: ${run.outcomes.filter((o) => o === 'succeeded').length}/${ROTATIONS} succeeded, ${run.kills} kills, ` +
            `${run.probes.length} probes, ${refused.length} refused (${outside.length} outside the window)` +
            (run.strategy === 'single-user' ? `, longest window ${longest} ms` : ''),
        );
        expect(run.outcomes).toEqual(Array(ROTATIONS).fill('succeeded'));
        expect(run.kills).toBeGreaterThan(0);
        expect(run.probes.length).toBeGreaterThan(ROTATIONS);
        if (run.strategy === 'single-user') expect(outside).toEqual([]);
        else expect(refused).toEqual([]);
      }
      process.stderr.write(lines.join('\n') + '\n');
    },
    20 * 60_000,
  );
});
