// Rollout consumers end to end on a real kube-apiserver + etcd, OpenBao and PostgreSQL, as the documented Role.
// The one stand-in is test/support/deployment-controller.ts: no controller manager or kubelet runs here, so it
// writes Deployment status the way the Deployment controller does (see that file).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { followRotation, queryStatus, startRotation } from '../src/client/rotations';
import { cli } from './support/cli';
import { restartAnnotationKey } from '../activities/consumers/rollout/rollouts';
import { unique } from './support/harness';
import { roleWithout } from './support/kube';
import { rolloutScenario, type RolloutScenario, type RolloutScenarioOptions } from './support/rollout-scenario';
import { startRotator, type Rotator } from './support/rotator';

let open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.reverse()) await o.close();
  open = [];
});

async function setUp(options: RolloutScenarioOptions = {}): Promise<{ s: RolloutScenario; rotator: Rotator }> {
  const s = await rolloutScenario(unique('tq'), options);
  open.push(s);
  const rotator = await startRotator(s.yaml, s.env);
  open.push(rotator);
  return { s, rotator };
}

async function rotate(s: RolloutScenario, rotator: Rotator) {
  const { handle } = await startRotation(rotator.client, rotator.config.temporal.task_queue, s.plan);
  return { handle, done: followRotation(handle) };
}

describe('a credential in a Kubernetes Secret with Deployments consuming it', () => {
  it('restarts both Deployments, waits for both rollouts, then revokes the old login', async () => {
    const { s, rotator } = await setUp();
    const before = await s.current();
    const generations = {
      api: (await s.deployment('api')).metadata!.generation!,
      worker: (await s.deployment('worker')).metadata!.generation!,
    };
    // The second rollout stalls: the rotation must still be waiting, with the old login valid, until it completes.
    s.controller.set('worker', 'stall');
    const { handle, done } = await rotate(s, rotator);
    await s.controller.until((r) => r.some((x) => x.deployment === 'worker'), "worker's rollout", { during: done });
    const waiting = await queryStatus(handle);
    expect(waiting.phase).toBe('reconnect');
    expect(await s.logsIn(before.value)).toBe(true);
    s.controller.release('worker');
    const { status } = await done;

    expect(status.outcome).toBe('succeeded');
    const key = restartAnnotationKey(s.secret);
    for (const name of ['api', 'worker'] as const) {
      const d = await s.deployment(name);
      expect(d.spec!.template.metadata!.annotations![key]).toBe(status.version);
      expect(d.metadata!.generation).toBe(generations[name] + 1);
      expect(s.controller.rolloutsOf(name)).toHaveLength(1);
    }
    // The revoke came after both: while worker's rollout was held, the old login still worked (checked above).
    expect(s.controller.rollouts.map((r) => r.outcome)).toEqual(['complete', 'complete']);
    const after = await s.current();
    expect(after.value.username).not.toBe(before.value.username);
    expect(await s.logsIn(after.value)).toBe(true);
    expect(await s.logsIn(before.value)).toBe(false);
  });

  it('rolls back when a rollout fails: the Secret serves the old credential, the Deployment restarts onto it, the new login goes', async () => {
    const { s, rotator } = await setUp();
    const before = await s.current();
    s.controller.set('api', 'fail-once');
    const { status } = await (await rotate(s, rotator)).done;

    expect(status.outcome).toBe('rolled-back');
    expect(status.error?.message).toMatch(/deployment .*\/api failed: deployment api exceeded its progress deadline/);
    const now = await s.current();
    expect(now.value.password).toBe(before.value.password);
    // api: the failed rollout, then the one onto the old version; worker was never restarted.
    const api = s.controller.rolloutsOf('api');
    expect(api.map((r) => r.outcome)).toEqual(['failed', 'complete']);
    expect(api[1].annotations[restartAnnotationKey(s.secret)]).toMatch(/rollback of/);
    expect(s.controller.rolloutsOf('worker')).toHaveLength(0);
    expect(await s.logsIn(before.value)).toBe(true);
    expect(status.username).toBeTruthy();
    const rows = await import('./support/harness').then((h) =>
      h.adminQuery('select rolcanlogin from pg_roles where rolname = $1', [status.username]),
    );
    expect(rows[0]?.rolcanlogin ?? false).toBe(false);
  });

  it('restarts one workload at a time: no two rollouts overlap (resourceVersions from the API server)', async () => {
    const { s, rotator } = await setUp({ deployments: ['a', 'b', 'c'], consumer: ['max_parallel: 1', 'timeout: 60s'] });
    const { status } = await (await rotate(s, rotator)).done;
    expect(status.error).toBeNull();
    expect(status.outcome).toBe('succeeded');
    const rollouts = [...s.controller.rollouts].sort((x, y) => x.startedRv - y.startedRv);
    expect(rollouts.map((r) => r.deployment)).toEqual(['a', 'b', 'c']);
    for (let i = 1; i < rollouts.length; i++) expect(rollouts[i].startedRv).toBeGreaterThan(rollouts[i - 1].endedRv!);
  });

  it('with max_parallel 3 the same three roll out together (the overlap check above can fail)', async () => {
    const { s, rotator } = await setUp({ deployments: ['a', 'b', 'c'], consumer: ['max_parallel: 3', 'timeout: 60s'] });
    const { status } = await (await rotate(s, rotator)).done;
    expect(status.outcome).toBe('succeeded');
    const rollouts = [...s.controller.rollouts].sort((x, y) => x.startedRv - y.startedRv);
    expect(rollouts[1].startedRv).toBeLessThan(rollouts[0].endedRv!);
  });

  it('a write to the Secret by someone else during the rotation stops its rollback with CONFLICT, and the write survives', async () => {
    const { s, rotator } = await setUp();
    s.controller.set('api', 'stall');
    const { done } = await rotate(s, rotator);
    await s.controller.until((r) => r.some((x) => x.deployment === 'api'), "api's rollout", { during: done });
    // kubectl edit, in effect: another writer changes the Secret's data while api rolls out.
    const { core } = (await import('./support/kube')).adminClients();
    const secret = await core.readNamespacedSecret({ name: s.path, namespace: s.namespace });
    secret.stringData = { note: 'edited by hand' };
    await core.replaceNamespacedSecret({ name: s.path, namespace: s.namespace, body: secret });
    s.controller.release('api', 'fail');
    const { status } = await done;

    expect(status.outcome).toBe('rollback-incomplete');
    expect(status.notes.join('\n')).toMatch(/could not undo/);
    const edited = await core.readNamespacedSecret({ name: s.path, namespace: s.namespace });
    expect(Buffer.from(edited.data!.note!, 'base64').toString()).toBe('edited by hand');
    // The Secret may serve the new credential: it was not withdrawn.
    expect(await s.logsIn(await s.current().then((c) => c.value))).toBe(true);
  });

  it('warns about workloads that use the Secret but are not consumers', async () => {
    const { s, rotator } = await setUp({ unlisted: ['cron'] });
    const { status } = await (await rotate(s, rotator)).done;
    expect(status.outcome).toBe('succeeded');
    expect(status.notes.join('\n')).toMatch(/deployment .*\/cron uses Secret orders-db but is not a consumer/);
    expect(s.controller.rolloutsOf('cron')).toHaveLength(0);
  });

  it('rotator validate warns about the same workloads, and passes', async () => {
    const s = await rolloutScenario(unique('tq'), { unlisted: ['cron'] });
    open.push(s);
    const dir = mkdtempSync(join(tmpdir(), 'rotator-validate-'));
    const file = join(dir, 'rotator.yaml');
    writeFileSync(file, s.yaml, { mode: 0o600 });
    Object.assign(process.env, s.env);
    const run = await cli('validate', file);
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/ok \(\d+ secrets/);
    expect(run.out).toMatch(
      /warning: secrets\.orders_db_\w+: deployment t-\w+\/cron uses Secret orders-db but is not a consumer/,
    );
    expect(run.out).not.toMatch(/\/api uses|\/worker uses/);
  });

  it('a Role without patch on deployments fails the rotation with an error naming the permission, and rolls back', async () => {
    const { s, rotator } = await setUp({ user: 'rotator-limited', role: roleWithout('deployments', 'patch') });
    const before = await s.current();
    const { status } = await (await rotate(s, rotator)).done;
    expect(status.outcome).toBe('rolled-back');
    expect(status.error?.code).toBe('PERMISSION_DENIED');
    expect(status.error?.message).toMatch(/cannot patch resource "deployments" in API group "apps" in the namespace/);
    expect((await s.current()).value.password).toBe(before.value.password);
    expect(await s.logsIn(before.value)).toBe(true);
  });
});
