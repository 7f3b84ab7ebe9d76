// The lease keeper under the fault-injection harness: its worker process is SIGKILLed after each step of a keeper's
// first cycle (issue, publish, renew, re-issue, grace, revoke), a fresh worker takes over, and the end state must
// hold: no lease lost, no credential issued twice, and never the store's current lease revoked.
import { VaultDatabaseEngine } from '../activities/stores/vault/public';
import type { SecretValue } from '../activities/types';
import { KEEP_LEASE, keeperIdFor, keeperStatusQuery, type KeeperState } from '../workflows/lifecycle-definitions';
import { dynamicYaml, keeperBusy } from './support/dynamic-config';
import { pool, startFaultHarness, type FaultHarness } from './support/fault-harness';
import { killPointName, readTrace, stepsOf } from './support/fault-injection';
import { unique, vaultClient } from './support/harness';
import type { Scenario } from './support/rotation-scenarios';
import { startRotator, type Rotator } from './support/rotator';
import { testStack } from './support/stack';
import { pgLogin, pgRole } from './support/vault-roles';

const stack = testStack();
const engine = new VaultDatabaseEngine({ address: stack.vault!.address, token: stack.vault!.token });
/** Long enough that a dead worker's task (3 s) or activity (10 s) comes back before the lease would run out. */
const TTL = { default_ttl: '20s', max_ttl: '36s' };
const MAX_TTL_MS = 36_000;
const LEASE = ['increment_seconds: 20', 'min_renewal_seconds: 1', 'renew_at: 0.5', 'grace_period: 2s', 'revoke_attempts: 3'];
/**
 * A cycle of the same length whose old lease needs the renewal for its grace period: renewed by 6 s every ~3 s from
 * 10 s on, it would end by ~19 s; re-issued at ~16 s (36 − 10 − 10), its grace period runs to ~26 s, before the next
 * re-issue (~32 s).
 */
const GRACE_LEASE = [
  'increment_seconds: 6',
  'min_renewal_seconds: 1',
  'renew_at: 0.5',
  'grace_period: 10s',
  'revoke_attempts: 3',
];
const CONCURRENCY = 4;
/** The phases a keeper enters once a re-issue has ended: only then has the old lease been renewed for its grace. */
const AFTER_REISSUE: ReadonlyArray<KeeperState['phase']> = ['grace', 'renewing', 'waiting'];
/**
 * A takeover within this much (a 3 s task timeout, a worker's start) leaves most of the 10 s grace period to watch, and
 * the old lease, renewed through the grace period plus a margin, alive.
 */
const PROMPT_MS = 8_000;

let harness: FaultHarness;
beforeAll(async () => {
  harness = await startFaultHarness();
});
afterAll(async () => {
  await harness?.close();
  await engine.close();
});

interface Trial {
  killAt: string | null;
  killed: boolean;
  problems: string[];
  /** What the trial could not check, and why. */
  notes: string[];
  steps: string[];
}

async function until(check: () => Promise<boolean>, within: number, what: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + within;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${await what()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function trial(killAt: string | null, lease = LEASE): Promise<Trial> {
  const taskQueue = unique('keepfault');
  const name = unique('dyn');
  const role = await pgRole(TTL);
  const { yaml, env } = dynamicYaml(taskQueue, [{ name, role, engine: 'postgresql', lease }]);
  const { worker: faulty, traceFile } = harness.worker({ yaml, env } as unknown as Scenario, taskQueue, killAt ? { killAt } : {});
  let fresh: Rotator | undefined;
  const handle = await harness.client.workflow.start(KEEP_LEASE, {
    taskQueue,
    workflowId: keeperIdFor(name),
    args: [{ secret: name }],
    workflowTaskTimeout: '3s',
  });
  // A query to a keeper whose worker is dead waits on the server; a deadline makes it fail within 2 s instead, so the
  // watches below see the takeover as it happens.
  const state = () =>
    harness.client
      .withDeadline(Date.now() + 2_000, () => handle.query(keeperStatusQuery))
      .catch(() => null as KeeperState | null);
  // Seen during the grace period: the old lease must outlive its revoke (renewed for it when its TTL ends sooner), or
  // end at its max_ttl, past which no renewal reaches (a kill can delay a re-issue that far). OpenBao counts a
  // renewal's TTL in whole seconds, so a lease capped at max_ttl may end up to a second before issue time + max_ttl.
  // A lease already gone when looked up ended at its max_ttl if the lookup came after it: its end as the keeper
  // recorded it when the lease was issued (OpenBao's issue time + max_ttl).
  // It also records the keeper's silences, from one answer to the next (a dead worker's keeper answers no query), and
  // when it was first seen re-issuing (or past it). A silence longer than PROMPT_MS that ended after that may have let
  // the old lease run out or its revoke come due before anyone could look; one that ended before it (an early kill)
  // leaves the re-issue and its grace period to a live worker. Before its first answer the keeper's silence counts
  // from the kill, if that came first (not from its worker's start).
  let lastAnswer: number | null = null;
  let reissueSeen: number | null = null;
  const silences: Array<{ ms: number; endedAt: number }> = [];
  const silenceFrom = () => lastAnswer ?? readTrace(traceFile).find((e) => e.event === 'kill')?.t ?? Date.now();
  const graceSilence = () =>
    Math.max(0, ...silences.filter((x) => reissueSeen === null || x.endedAt >= reissueSeen).map((x) => x.ms));
  const graceSeen = (async (): Promise<{ at: number; expireTime: string | null; hardEnd: number; lookedUp: number } | null> => {
    const hardEnds = new Map<string, number>();
    for (const deadline = Date.now() + 90_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
      const s = await state();
      if (s) {
        // One clock reading: the silence this answer ends must count as ending at the re-issue it may show.
        const now = Date.now();
        silences.push({ ms: now - silenceFrom(), endedAt: now });
        lastAnswer = now;
        if (reissueSeen === null && (s.phase === 'reissuing' || s.generation >= 2)) reissueSeen = now;
      }
      if (s?.current?.hardEndAt) hardEnds.set(s.current.leaseId, s.current.hardEndAt);
      if ((s?.revoked ?? 0) >= 1) return null;
      // Queued, and the re-issue done (its renewal of the old lease for the grace period with it): the keeper waits
      // for the revoke, or renews the new lease first when that falls due sooner (its jitter, a slow verify).
      const queued = s && AFTER_REISSUE.includes(s.phase) ? s.revokeQueue[0] : undefined;
      if (queued) {
        const lookedUp = Date.now();
        const info = await engine.lookup(queued.leaseId);
        const hardEnd = info ? Date.parse(info.issueTime ?? '') + MAX_TTL_MS : (hardEnds.get(queued.leaseId) ?? Infinity);
        return { at: queued.at, expireTime: info?.expireTime ?? null, hardEnd, lookedUp };
      }
    }
    return null;
  })();
  try {
    // One full cycle: the first credential renewed, replaced before max_ttl, and revoked after the grace period.
    const cycled = until(
      async () => ((await state())?.revoked ?? 0) >= 1 && (await state())?.phase !== 'revoking',
      90_000,
      async () => `a cycle; the keeper's state: ${JSON.stringify(await state())}`,
    );
    const first = await Promise.race([faulty.exited.then(() => 'exited' as const), cycled.then(() => 'cycled' as const)]);
    const killed = readTrace(traceFile).some((e) => e.event === 'kill');
    if (first === 'exited') fresh = await startRotator(yaml, env, { keys: harness.keys });
    await cycled;
    const problems = await check(name, role, state);
    const grace = await graceSeen;
    const endedInTime = (g: NonNullable<Awaited<typeof graceSeen>>) =>
      g.expireTime
        ? Date.parse(g.expireTime) >= Math.min(g.at, g.hardEnd - 1_000)
        : g.lookedUp >= g.hardEnd - 1_000 && g.lookedUp < g.at;
    // The grace period's checks hold when no silence longer than PROMPT_MS reached into the re-issue. After one, nobody
    // could renew the old lease while the worker was dead, and its revoke may have come due before the keeper could be
    // asked: the trial says so instead (and the clean trials must never).
    const silence = graceSilence();
    const prompt = silence < PROMPT_MS;
    const notes = prompt ? [] : [`grace not checked: the keeper did not answer for ${(silence / 1000).toFixed(1)} s`];
    if (prompt && grace && !endedInTime(grace))
      problems.push(
        `the old lease ends at ${grace.expireTime ?? '(gone)'}, before its revoke at ${new Date(grace.at).toISOString()} and its max_ttl`,
      );
    // This cycle's grace period (10 s) is long enough to be seen whatever the kill, when the takeover is prompt.
    if (prompt && lease === GRACE_LEASE && !grace) problems.push('the grace period was never seen');
    return { killAt, killed, problems, notes, steps: stepsOf(readTrace(traceFile)).map(killPointName) };
  } finally {
    await handle.terminate('trial over').catch(() => undefined);
    await faulty.kill();
    await fresh?.close();
  }
}

/**
 * The keeper's state, the store's published value and OpenBao's leases of the role, read while the keeper stood
 * still: the same state before and after the reads, in a phase that is not mid-step. With these short leases the next
 * re-issue is never far, and a check that read them apart saw a lease issued in between.
 */
async function snapshot(name: string, role: string, state: () => Promise<KeeperState | null>) {
  const still = (s: KeeperState | null) =>
    s && !keeperBusy(s)
      ? JSON.stringify([s.generation, s.revoked, s.revokeQueue, s.irrevocableTotal, s.current?.leaseId, s.phase, s.lastError])
      : null;
  for (let tries = 0; tries < 50; tries++, await new Promise((r) => setTimeout(r, 200))) {
    const before = await state();
    if (!still(before)) continue;
    const current = (await vaultClient().read(`secret/data/dynamic/${name}`)) as { data: { data: SecretValue } };
    const leases = await engine.list(stack.vaultDatabase!.mount, role);
    if (still(await state()) === still(before)) return { s: before!, value: current.data.data, leases };
  }
  throw new Error(`the keeper of ${name} never stood still for a check: ${JSON.stringify(await state())}`);
}

async function check(name: string, role: string, state: () => Promise<KeeperState | null>): Promise<string[]> {
  const problems: string[] = [];
  const { s, value, leases: listed } = await snapshot(name, role, state);
  const published = String(value.lease_id);
  if (s.current?.leaseId !== published) problems.push(`the keeper holds ${s.current?.leaseId}, the store publishes ${published}`);
  if (!(await engine.lookup(published))) problems.push('the published lease is gone from OpenBao');
  const login = await pgLogin(String(value.username), String(value.password));
  if (login !== 'ok') problems.push(`the published credential does not log in: ${login}`);
  // Every lease of the role is the published one or one waiting out its grace period: none issued twice, none lost
  // track of. (A slow takeover can bring the next re-issue before the check, so the queue need not be empty; a queued
  // lease may have ended at its TTL, which the grace period's checks judge.)
  const queued = s.revokeQueue.map((q) => q.leaseId);
  // Never the published lease in the queue (its revoke would take consumers' credential), and none queued twice.
  if (queued.includes(published)) problems.push(`the published lease ${published} is queued for revoke`);
  if (new Set(queued).size !== queued.length) problems.push(`a lease is queued for revoke twice: ${queued.join(', ')}`);
  const known = new Set([published, ...queued]);
  const unknown = listed.filter((l) => !known.has(l));
  if (unknown.length > 0)
    problems.push(
      `OpenBao holds ${listed.length} lease(s) of the role, some neither published nor queued for revoke: ${unknown.join(', ')}`,
    );
  if (s.irrevocable.length > 0) problems.push(`irrevocable: ${JSON.stringify(s.irrevocable)}`);
  // Each credential replaced is revoked or queued for it, once.
  if (s.revoked < 1 || s.revoked + s.revokeQueue.length !== s.generation - 1)
    problems.push(`revoked ${s.revoked} and queued ${s.revokeQueue.length} old lease(s) after ${s.generation} credentials`);
  return problems;
}

describe('a lease keeper whose worker process is killed', () => {
  it(
    'after any step of a cycle loses no lease, issues no credential twice, and revokes only the old one',
    async () => {
      const [clean, graceClean] = await Promise.all([trial(null), trial(null, GRACE_LEASE)]);
      expect(clean.problems).toEqual([]);
      expect(graceClean.problems).toEqual([]);
      // Nothing killed them: every check of theirs ran.
      expect([...clean.notes, ...graceClean.notes]).toEqual([]);
      // The old lease's renewal for its grace period: the renewal right after the second credential's publish.
      const graceRenewal = graceClean.steps[graceClean.steps.indexOf('after:notifyLeaseConsumers#2') + 1];
      expect(graceRenewal).toMatch(/^after:renewLease#/);
      // Every step of the cycle once: the first of each kind is where its side effect is new.
      if (process.env.ROTATOR_TEST_CLEAN_ONLY) return;
      const points = [...new Set(clean.steps.map((p) => p.replace(/#\d+$/, '')))].flatMap((p) =>
        clean.steps.filter((s) => s.startsWith(`${p}#`)).slice(0, 2),
      );
      expect(points.length).toBeGreaterThanOrEqual(8);
      const runs: Array<[string, string[]]> = [
        [graceRenewal!, GRACE_LEASE],
        ...points.map((p): [string, string[]] => [p, LEASE]),
      ];
      const trials = await pool(runs, CONCURRENCY, ([killAt, lease]) => trial(killAt, lease));
      const report = trials.map(
        (t) =>
          `| ${t.killAt} | ${t.killed ? 'killed' : 'NOT REACHED'} | ${[t.problems.join('; ') || 'all hold', ...t.notes].join('; ')} |`,
      );
      process.stderr.write(`\n| kill point | worker | checks |\n|---|---|---|\n${report.join('\n')}\n`);
      expect(trials.filter((t) => !t.killed).map((t) => t.killAt)).toEqual([]);
      expect(trials.filter((t) => t.problems.length > 0)).toEqual([]);
    },
    15 * 60_000,
  );
});
