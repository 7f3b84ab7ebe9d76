// One restart for many secrets: three secrets consumed by one Deployment, rotated together, restart it once (real
// kube-apiserver + etcd, OpenBao, PostgreSQL, Temporal). The one stand-in is test/support/deployment-controller.ts:
// no controller manager or kubelet runs here, so it writes Deployment status the way the Deployment controller does.
import { followRotation, startRotation } from '../src/client/rotations';
import { restartAnnotationKey } from '../activities/consumers/rollout/rollouts';
import { unique } from './support/harness';
import { coalesceScenario, WORKLOAD, type CoalesceScenario } from './support/coalesce-scenario';
import { startRotator, type Rotator } from './support/rotator';

let open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.reverse()) await o.close();
  open = [];
});

async function setUp(): Promise<{ s: CoalesceScenario; rotator: Rotator }> {
  const s = await coalesceScenario(unique('tq'));
  open.push(s);
  const rotator = await startRotator(s.yaml, s.env);
  open.push(rotator);
  return { s, rotator };
}

/** Starts every secret's rotation at once, as a mass rotation or lined-up schedules do. */
async function rotateAll(s: CoalesceScenario, rotator: Rotator) {
  const handles = await Promise.all(
    s.secrets.map(
      async (secret) => (await startRotation(rotator.client, rotator.config.temporal.task_queue, secret.plan)).handle,
    ),
  );
  return handles.map((h) => followRotation(h));
}

it('three secrets of one Deployment rotated together: one rollout naming all three versions, each rotation succeeded', async () => {
  const { s, rotator } = await setUp();
  const before = await Promise.all(s.secrets.map((secret) => s.current(secret)));
  const generation = (await s.deployment()).metadata!.generation!;
  const statuses = (await Promise.all(await rotateAll(s, rotator))).map((o) => o.status);

  expect(statuses.map((st) => st.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded']);
  const rollouts = s.controller.rolloutsOf(WORKLOAD);
  const figures = {
    rotations: statuses.length,
    rollouts: rollouts.length,
    generations: (await s.deployment()).metadata!.generation! - generation,
  };
  console.log(`coalesced rollout: ${JSON.stringify(figures)}`);
  expect(figures).toEqual({ rotations: 3, rollouts: 1, generations: 1 });
  expect(rollouts[0].outcome).toBe('complete');
  // The one restart's pod template names every secret's new version.
  const template = (await s.deployment()).spec!.template.metadata!.annotations!;
  for (const [i, secret] of s.secrets.entries()) {
    const key = restartAnnotationKey(secret.name);
    expect(rollouts[0].annotations[key]).toBe(statuses[i].version);
    expect(template[key]).toBe(statuses[i].version);
    expect(statuses[i].notes.join('\n')).toMatch(/one restart with/);
    // Each rotation went on only after the restart with its version rolled out: then it verified and revoked.
    const now = await s.current(secret);
    expect(now.version).toBe(statuses[i].version);
    expect(await s.logsIn(now.value)).toBe(true);
    expect(await s.logsIn(before[i].value)).toBe(false);
  }
});

it('one of three fails verify and rolls back, the other two succeed: one shared rollout, then one back onto its old version', async () => {
  const { s, rotator } = await setUp();
  const before = await Promise.all(s.secrets.map((secret) => s.current(secret)));
  const broken = s.secrets[1];
  // Held while the shared restart rolls out: meanwhile the second secret's new login stops working.
  s.controller.set(WORKLOAD, 'stall');
  const done = await rotateAll(s, rotator);
  await s.controller.until((r) => r.length === 1);
  await s.breakLogin(`${broken.role}_b`);
  s.controller.release(WORKLOAD);
  const statuses = (await Promise.all(done)).map((o) => o.status);
  const rollouts = s.controller.rolloutsOf(WORKLOAD);

  // Each outcome with its error and notes, and the rollouts the controller saw: when this fails, the diff says why.
  expect({
    statuses: statuses.map((st) => ({
      outcome: st.outcome,
      error: st.error && `${st.error.code}: ${st.error.message}`,
      notes: st.notes,
    })),
    rollouts: rollouts.map((r) => r.outcome),
  }).toEqual({
    statuses: [
      { outcome: 'succeeded', error: null, notes: expect.anything() },
      { outcome: 'rolled-back', error: expect.stringMatching(/^VERIFY_FAILED: /), notes: expect.anything() },
      { outcome: 'succeeded', error: null, notes: expect.anything() },
    ],
    rollouts: ['complete', 'complete'],
  });
  console.log(
    `coalesced rollout with one rollback: ${JSON.stringify({ rotations: 3, rollouts: rollouts.length, outcomes: statuses.map((st) => st.outcome) })}`,
  );
  // The shared restart named all three new versions; the rolled-back rotation then restarted it onto its old one.
  expect(rollouts).toHaveLength(2);
  for (const [i, secret] of s.secrets.entries()) {
    expect(rollouts[0].annotations[restartAnnotationKey(secret.name)]).toBe(statuses[i].version);
  }
  const brokenKey = restartAnnotationKey(broken.name);
  expect(rollouts[1].annotations[brokenKey]).toBe(`${before[1].version} (rollback of ${statuses[1].version})`);
  // The truth in each store: the rolled-back secret serves its old credential, the others their new ones.
  const now = await Promise.all(s.secrets.map((secret) => s.current(secret)));
  expect(now[1].version).toBe(before[1].version);
  expect(await s.logsIn(now[1].value)).toBe(true);
  for (const i of [0, 2]) {
    expect(now[i].version).toBe(statuses[i].version);
    expect(await s.logsIn(now[i].value)).toBe(true);
    expect(await s.logsIn(before[i].value)).toBe(false);
  }
});

it('the shared rollout fails: every rotation hears the failure, rolls back, and restarts the Deployment onto its old version', async () => {
  const { s, rotator } = await setUp();
  const before = await Promise.all(s.secrets.map((secret) => s.current(secret)));
  s.controller.set(WORKLOAD, 'fail-once');
  const statuses = (await Promise.all(await rotateAll(s, rotator))).map((o) => o.status);

  expect(statuses.map((st) => st.outcome)).toEqual(['rolled-back', 'rolled-back', 'rolled-back']);
  for (const st of statuses) {
    expect(st.error?.code).toBe('CONSUMER_FAILED');
    expect(st.error?.message).toMatch(/deployment .*\/app failed: deployment app exceeded its progress deadline/);
  }
  const rollouts = s.controller.rolloutsOf(WORKLOAD);
  // The one shared restart (failed), then each rotation's own restart back onto its old version.
  expect(rollouts[0]!.outcome).toBe('failed');
  const template = (await s.deployment()).spec!.template.metadata!.annotations!;
  for (const [i, secret] of s.secrets.entries()) {
    const key = restartAnnotationKey(secret.name);
    expect(rollouts[0]!.annotations[key]).toBe(statuses[i]!.version);
    expect(template[key]).toBe(`${before[i]!.version} (rollback of ${statuses[i]!.version})`);
    const now = await s.current(secret);
    expect(now.version).toBe(before[i]!.version);
    expect(await s.logsIn(now.value)).toBe(true);
  }
});
