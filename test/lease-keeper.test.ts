// The lease keeper on real servers: OpenBao's database engine issues PostgreSQL and Redis logins, the keeper renews
// them, re-issues before max_ttl with the old login working through the grace period, then revokes it.
import type { WorkflowHandle } from '@temporalio/client';
import { VaultDatabaseEngine } from '../activities/stores/vault/public';
import type { SecretValue } from '../activities/types';
import { KEEP_LEASE, keeperIdFor, keeperStatusQuery, SWEEP, type KeeperState } from '../workflows/lifecycle-definitions';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './support/cli';
import { dynamicYaml, keeperBusy } from './support/dynamic-config';
import { codecKeyEnv, testCodecKeys, unique, vaultClient } from './support/harness';
import { redisLogin } from './support/redis-harness';
import { startRotator, type Rotator } from './support/rotator';
import { testStack } from './support/stack';
import { PG_REVOKE, pgLogin, pgRole, redisRole } from './support/vault-roles';

const stack = testStack();
const engine = new VaultDatabaseEngine({ address: stack.vault!.address, token: stack.vault!.token });
afterAll(() => engine.close());

/**
 * Renew every ~2 s, re-issue ~8 s in (max_ttl − grace − 2 s lead), 6 s of grace, revoke at ~14 s: the old login must
 * die at revoke, not at its max_ttl of 16 s. Its last renewal (4 s) ends before the grace period does, so the keeper
 * must renew it for the grace period, as OpenBao's lease lookup shows. The next re-issue, ~16 s in, comes after the
 * revoke.
 */
const LEASE = ['increment_seconds: 4', 'min_renewal_seconds: 1', 'renew_at: 0.5', 'grace_period: 6s', 'revoke_attempts: 2'];
const TTL = { default_ttl: '4s', max_ttl: '16s' };
const MAX_TTL_MS = 16_000;

async function published(name: string): Promise<{ version: number; value: SecretValue; previous: SecretValue | null }> {
  const kv = vaultClient();
  const current = (await kv.read(`secret/data/dynamic/${name}`)) as {
    data: { data: SecretValue; metadata: { version: number } };
  };
  const version = current.data.metadata.version;
  const previous =
    version > 1
      ? ((await kv.read(`secret/data/dynamic/${name}?version=${version - 1}`)) as { data: { data: SecretValue } }).data.data
      : null;
  return { version, value: current.data.data, previous };
}

/** Polls the keeper's status until `ok` holds (bounded), returning the states seen on the way. */
async function watch(handle: WorkflowHandle, ok: (s: KeeperState) => boolean, within = 40_000): Promise<KeeperState[]> {
  const seen: KeeperState[] = [];
  const deadline = Date.now() + within;
  for (;;) {
    const s = await handle.query(keeperStatusQuery).catch(() => null);
    if (s) seen.push(s);
    if (s && ok(s)) return seen;
    if (Date.now() > deadline) throw new Error(`keeper did not get there; last: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

type Login = (username: string, password: string) => Promise<string>;

async function keepsItsLease(engineType: 'postgresql' | 'redis', role: string, login: Login): Promise<void> {
  const taskQueue = unique('keeper');
  const name = unique('dyn');
  const { yaml, env } = dynamicYaml(taskQueue, [{ name, role, engine: engineType, lease: LEASE }]);
  const rotator: Rotator = await startRotator(yaml, env);
  const handle = await rotator.client.workflow.start(KEEP_LEASE, {
    taskQueue,
    workflowId: keeperIdFor(name),
    args: [{ secret: name }],
  });
  try {
    // Issued and published: the store's credential logs in, and names its lease.
    const [first] = (await watch(handle, (s) => s.current !== null)).slice(-1);
    const firstLease = first!.current!.leaseId;
    const issued = await published(name);
    expect(issued.value.lease_id).toBe(firstLease);
    expect(await login(String(issued.value.username), String(issued.value.password))).toBe('ok');
    const before = (await engine.lookup(firstLease))!;

    // Renewed before its TTL: OpenBao's expiry of the same lease moves forward.
    await watch(handle, (s) => (s.current?.renewals ?? 0) >= 1);
    const after = (await engine.lookup(firstLease))!;
    expect(Date.parse(after.expireTime)).toBeGreaterThan(Date.parse(before.expireTime));

    // Re-issued before max_ttl; during the grace period the old login still works beside the new one. The grace period
    // is when the first lease waits in the revoke queue and the re-issue has ended. (The keeper may be renewing the new
    // lease meanwhile, so its phase need not read 'grace': a watch for that phase once missed this one, saw the next.)
    const queued = (s: KeeperState) => s.revokeQueue.some((q) => q.leaseId === firstLease);
    const grace = (await watch(handle, (s) => queued(s) && !keeperBusy(s))).at(-1)!;
    expect(grace.current!.leaseId).not.toBe(firstLease);
    // The old lease outlives its revoke: its last renewal (4 s) ended sooner, so the re-issue renewed it. Or, when the
    // re-issue came late (a loaded machine) and its revoke falls past max_ttl, it ends at max_ttl, which no renewal
    // passes; OpenBao counts a renewal's TTL in whole seconds, so up to a second before issue time + max_ttl (CI).
    expect(grace.revokeQueue[0]?.leaseId).toBe(firstLease);
    const old = (await engine.lookup(firstLease))!;
    const hardEnd = Date.parse(old.issueTime ?? '') + MAX_TTL_MS;
    expect(Date.parse(old.expireTime)).toBeGreaterThanOrEqual(Math.min(grace.revokeQueue[0]!.at, hardEnd - 1_000));
    const now = await published(name);
    expect(now.value.lease_id).toBe(grace.current!.leaseId);
    expect(now.previous?.lease_id).toBe(firstLease);
    expect(await login(String(now.value.username), String(now.value.password))).toBe('ok');
    expect(await login(String(now.previous!.username), String(now.previous!.password))).toBe('ok');

    // After the grace period the old lease is revoked: its login is refused, OpenBao no longer knows it.
    const done = (await watch(handle, (s) => s.revoked >= 1)).at(-1)!;
    expect(done.irrevocable).toEqual([]);
    expect(await login(String(now.previous!.username), String(now.previous!.password))).not.toBe('ok');
    expect(await engine.lookup(firstLease)).toBeNull();
    expect(await login(String(now.value.username), String(now.value.password))).toBe('ok');
  } finally {
    await handle.terminate('test over').catch(() => undefined);
    await rotator.close();
  }
}

describe('the lease keeper', () => {
  it('renews a PostgreSQL lease, re-issues it before max_ttl, keeps the old login through the grace period, then revokes it', async () => {
    await keepsItsLease('postgresql', await pgRole(TTL), pgLogin);
  }, 90_000);

  it('does the same for a Redis ACL user', async () => {
    await keepsItsLease('redis', await redisRole(['~*', '+@read', '+ping'], TTL), redisLogin);
  }, 90_000);

  it('renews a 60 s lease at renew_at of it without min_renewal_seconds, as OpenBao’s lease lookup shows', async () => {
    // min_renewal_seconds is left out: its default (60) once put this renewal at 59 s of a 60 s lease. renew_at 0.1
    // puts it at 6 s, so the test needs no 40 s wait; before the fix it came at 59 s just the same.
    const role = await pgRole({ default_ttl: '60s', max_ttl: '10m' });
    const taskQueue = unique('keeper');
    const name = unique('dyn');
    const { yaml, env } = dynamicYaml(taskQueue, [{ name, role, engine: 'postgresql', lease: ['renew_at: 0.1'] }]);
    const rotator = await startRotator(yaml, env);
    const handle = await rotator.client.workflow.start(KEEP_LEASE, {
      taskQueue,
      workflowId: keeperIdFor(name),
      args: [{ secret: name }],
    });
    try {
      const leaseId = (await watch(handle, (s) => s.current !== null)).at(-1)!.current!.leaseId;
      // Watched on OpenBao itself, for at most half the lease: a renewal at renew_at comes at 6 s.
      const deadline = Date.now() + 30_000;
      let info = (await engine.lookup(leaseId))!;
      while (info.lastRenewal === null && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        info = (await engine.lookup(leaseId))!;
      }
      expect(info.lastRenewal).not.toBeNull();
      const renewedAfterMs = Date.parse(info.lastRenewal!) - Date.parse(info.issueTime!);
      // Not before renew_at (0.1 × 60 s), and well before the lease's end (the fix: not at 59 s).
      expect(renewedAfterMs).toBeGreaterThanOrEqual(6_000 - 1);
      expect(renewedAfterMs).toBeLessThan(30_000);
      // The renewal moved the lease's end: OpenBao's expire_time is past the 60 s it was issued with.
      expect(Date.parse(info.expireTime) - Date.parse(info.issueTime!)).toBeGreaterThan(60_000);
    } finally {
      await handle.terminate('test over').catch(() => undefined);
      await rotator.close();
    }
  }, 60_000);

  /**
   * `count` dynamic secrets whose keepers start one per 10 s, a worker for them and the config as a file for the CLI
   * (whose codec key and token are in the environment until `close`); none of the keepers is started yet.
   */
  async function pacedKeepers(count: number) {
    const role = await pgRole(TTL);
    const taskQueue = unique('keeper');
    const names = Array.from({ length: count }, () => unique('dyn'));
    const dyn = dynamicYaml(
      taskQueue,
      names.map((name) => ({ name, role, engine: 'postgresql' as const, lease: LEASE })),
    );
    const yaml = `keepers:\n  rate: { starts: 1, per: 10s }\n${dyn.yaml}`;
    const keys = testCodecKeys();
    const rotator = await startRotator(yaml, dyn.env, { keys });
    const handles = names.map((name) => rotator.client.workflow.getHandle(keeperIdFor(name)));
    const file = join(mkdtempSync(join(tmpdir(), 'keeper-')), 'rotator.yaml');
    writeFileSync(file, yaml, { mode: 0o600 });
    const saved = { ...process.env };
    Object.assign(process.env, dyn.env, { ROTATOR_CODEC_KEY: codecKeyEnv(keys) });
    return {
      taskQueue,
      names,
      rotator,
      handles,
      file,
      /** When Temporal schedules each keeper's first task. */
      firstTasks: () => Promise.all(handles.map(async (h) => (await h.describe()).executionTime!.getTime())),
      async close() {
        process.env = saved;
        await Promise.all(handles.map((h) => h.terminate('test over').catch(() => undefined)));
        await rotator.close();
      },
    };
  }

  /** Each keeper's first task 9–11 s after the one before (times the server scheduled: the starts took milliseconds). */
  function tenSecondsApart(firstTasks: number[]): void {
    for (let i = 1; i < firstTasks.length; i++) {
      expect(firstTasks[i]! - firstTasks[i - 1]!).toBeGreaterThan(9_000);
      expect(firstTasks[i]! - firstTasks[i - 1]!).toBeLessThan(11_000);
    }
  }

  it('starts keepers paced by keepers.rate: `schedule sync` spaces their first tasks, and one not yet begun says when it will', async () => {
    const { names, handles, file, firstTasks, close } = await pacedKeepers(3);
    try {
      const sync = await cli('-c', file, 'schedule', 'sync');
      expect(sync.code).toBe(0);
      const last = /keepers started: 3 \(paced by keepers\.rate: the last begins at (\S+)\)/.exec(sync.out);
      expect(last).not.toBeNull();
      const scheduled = await firstTasks();
      tenSecondsApart(scheduled);
      expect(Math.abs(Date.parse(last![1]!) - scheduled[2]!)).toBeLessThan(1_000);

      // The third has not begun: `rotator status` says when it will, and it has issued nothing.
      const waiting = await cli('-c', file, 'status', names[2]!);
      expect(waiting.code).toBe(0);
      expect(waiting.out).toContain(`${names[2]}: keeper starting, next action ${new Date(scheduled[2]!).toISOString()}`);
      expect(waiting.out).toContain('no credential yet');
      await expect(vaultClient().read(`secret/data/dynamic/${names[2]}`)).rejects.toThrow();

      // Run again, sync starts nothing: the waiting keeper counts as running.
      const again = await cli('-c', file, 'schedule', 'sync');
      expect(again.code).toBe(0);
      expect(again.out).toContain('keepers started: 0');
      expect(again.out).not.toContain('paced');

      // The second, begun once its time came (not before), issues and publishes like any keeper.
      const [second] = (await watch(handles[1]!, (s) => s.current !== null)).slice(-1);
      expect(second!.current!.issuedAt).toBeGreaterThanOrEqual(scheduled[1]!);
      expect((await published(names[1]!)).value.lease_id).toBe(second!.current!.leaseId);
    } finally {
      await close();
    }
  }, 60_000);

  it('the sweep starts missing keepers paced as well, and `rotator expiry` shows one not yet begun as starting', async () => {
    const { taskQueue, rotator, file, firstTasks, close } = await pacedKeepers(2);
    try {
      const report = await rotator.client.workflow.execute(SWEEP, { taskQueue, workflowId: unique('sweep'), args: [] });
      expect(report.problems).toEqual([]);
      // In the order the sweep's assessment lists them, not the config's.
      const scheduled = (await firstTasks()).sort((a, b) => a - b);
      tenSecondsApart(scheduled);

      const expiry = await cli('-c', file, 'expiry');
      // Not begun, so no credential: due, not ok.
      const row = expiry.out.split('\n').find((line) => line.includes('keeper starting at'));
      expect(row).toContain(`no credential yet: keeper starting at ${new Date(scheduled[1]!).toISOString()} (keepers.rate)`);
      expect(row).toMatch(/ due +no credential yet/);
      expect(expiry.out).not.toContain('keeper not running');
    } finally {
      await close();
    }
  }, 60_000);

  it('reports a lease whose revoke keeps failing as irrevocable instead of retrying forever', async () => {
    const role = await pgRole(TTL, `${PG_REVOKE} DROP ROLE "{{name}}" CASCADE NONSENSE;`);
    const taskQueue = unique('keeper');
    const name = unique('dyn');
    const { yaml, env } = dynamicYaml(taskQueue, [{ name, role, engine: 'postgresql', lease: LEASE }]);
    const keys = testCodecKeys();
    const rotator = await startRotator(yaml, env, { keys });
    const handle = await rotator.client.workflow.start(KEEP_LEASE, {
      taskQueue,
      workflowId: keeperIdFor(name),
      args: [{ secret: name }],
    });
    const saved = { ...process.env };
    try {
      const first = (await watch(handle, (s) => s.current !== null)).at(-1)!.current!.leaseId;
      const stuck = (await watch(handle, (s) => s.irrevocable.length > 0)).at(-1)!;
      expect(stuck.irrevocable[0]).toMatchObject({ leaseId: first });
      expect(stuck.irrevocable[0]!.error).toMatch(/failed to revoke/);
      expect(stuck.revoked).toBe(0);
      // The keeper goes on with the new credential.
      expect(stuck.current!.leaseId).not.toBe(first);
      // `rotator status` says so.
      const file = join(mkdtempSync(join(tmpdir(), 'keeper-')), 'rotator.yaml');
      writeFileSync(file, yaml, { mode: 0o600 });
      Object.assign(process.env, env, { ROTATOR_CODEC_KEY: codecKeyEnv(keys) });
      const run = await cli('-c', file, 'status', name);
      expect(run.code).toBe(0);
      expect(run.out).toContain(`irrevocable: ${first}`);
    } finally {
      process.env = saved;
      await handle.terminate('test over').catch(() => undefined);
      await rotator.close();
    }
  }, 60_000);
});
