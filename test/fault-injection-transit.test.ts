// Issue 25, must-show 2 and 4 (transit rows): a transit key rotation over 100 ciphertexts with the real worker process
// SIGKILLed before and after every step it runs; a fresh worker finishes it. After each kill: the rotation ends done,
// the key got exactly one new version, every ciphertext decrypts to what was encrypted and is on the new version,
// min_decryption_version was raised to it, and the field beside the ciphertexts is untouched.
import { startKeyRotation } from '../src/client/key-rotations';
import { planKeyRotation } from '../src/config/keys';
import { parseConfig } from '../src/config/load';
import type { KeyRotationStatus } from '../workflows/key-definitions';
import { faultTrial, pool, startFaultHarness, type FaultHarness } from './support/fault-harness';
import { killPointName, type KillPoint } from './support/fault-injection';
import { keyFacts, storeFacts, transitScenario } from './support/transit-scenario';

jest.setTimeout(600_000);

/** Trials at once: each is mostly waiting for the server to hand a dead worker's task on. */
const CONCURRENCY = 5;
const CIPHERTEXTS = 100;

interface Row {
  killAt: string | null;
  killed: boolean;
  phase: string;
  problems: string[];
  steps: KillPoint[];
}

let harness: FaultHarness;
beforeAll(async () => {
  harness = await startFaultHarness();
});
afterAll(() => harness?.close());

async function trial(killAt: string | null): Promise<Row> {
  const s = await transitScenario(CIPHERTEXTS, { graceMs: 1_000 });
  const config = parseConfig(s.yaml, s.env);
  const plan = planKeyRotation(config, s.secret);
  return faultTrial(
    harness,
    { yaml: s.yaml, env: s.env, taskQueue: s.taskQueue },
    killAt,
    async () => (await startKeyRotation(harness.client, s.taskQueue, plan)).handle,
    async (handle, { killed, steps }) => {
      const problems: string[] = [];
      const result = (await handle.result().catch((err: Error) => ({ phase: `failed: ${err.message}` }))) as KeyRotationStatus;
      const key = await keyFacts(s);
      const store = await storeFacts(s);
      if (store.undecryptable > 0) problems.push(`${store.undecryptable} ciphertexts do not decrypt`);
      if ((store.versions[2] ?? 0) !== CIPHERTEXTS) problems.push(`on v2: ${store.versions[2] ?? 0} of ${CIPHERTEXTS}`);
      if (key.latest !== 2) problems.push(`key has ${key.latest} versions (one rotation makes one)`);
      if (key.minDecryption !== 2) problems.push(`min_decryption_version ${key.minDecryption}`);
      if (store.otherChanged > 0) problems.push(`${store.otherChanged} paths changed a field that is not a ciphertext`);
      return { killAt, killed, phase: result.phase, problems, steps };
    },
  );
}

describe('transit key rotation under SIGKILL of the worker at every step', () => {
  it(
    'a clean run, and a kill before or after each kind of step: every ciphertext decrypts after each',
    async () => {
      // One kill per kind of step (the rewraps of the first pass and of the pass after the grace period apart), and
      // before the two that change the key: the rewraps of other paths are the same step on other data.
      const points = [
        'after:keyState#1',
        'before:keyRotate#1',
        'after:keyRotate#1',
        'after:keyRewrap#2',
        'after:keyVerify#1',
        'after:keyRewrap#6',
        'before:keyRaise#1',
        'after:keyRaise#1',
        'after:keyVerify#2',
      ];
      const rows = await pool([null, ...points], CONCURRENCY, (p) => trial(p));
      const clean = rows[0]!;
      expect(clean.problems).toEqual([]);
      expect(clean.phase).toBe('done');
      // The steps in order: state, rotate, four rewraps, verify, (grace), four rewraps, raise, verify.
      expect(clean.steps.map(killPointName)).toEqual([
        'after:keyState#1',
        'after:keyRotate#1',
        ...[1, 2, 3, 4].map((n) => `after:keyRewrap#${n}`),
        'after:keyVerify#1',
        ...[5, 6, 7, 8].map((n) => `after:keyRewrap#${n}`),
        'after:keyRaise#1',
        'after:keyVerify#2',
      ]);
      console.log(
        [
          `| kind | kill point | worker | outcome | checks (${CIPHERTEXTS} ciphertexts) |`,
          '|---|---|---|---|---|',
          ...rows.map(
            (r) =>
              `| transit | ${r.killAt ?? '(none)'} | ${r.killAt ? (r.killed ? 'killed' : 'NOT REACHED') : 'clean run'} | ${r.phase} | ${r.problems.length === 0 ? 'all decrypt, all on v2, min_decryption_version 2, one new version' : r.problems.join('; ')} |`,
          ),
        ].join('\n'),
      );
      for (const r of rows.slice(1)) {
        expect({ killAt: r.killAt, killed: r.killed, phase: r.phase, problems: r.problems }).toEqual({
          killAt: r.killAt,
          killed: true,
          phase: 'done',
          problems: [],
        });
      }
    },
    10 * 60_000,
  );
});
