// The lease keeper where things go wrong on the real servers: the store written behind its back, a claim left by an
// earlier keeper, a grace period longer than the renewal interval or than the lease, a token that may not renew.
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { VaultDatabaseEngine } from '../activities/stores/vault/public';
import { VaultKvStore } from '../activities/stores/vault/store';
import { KEEP_LEASE, keeperIdFor, keeperStatusQuery, type KeeperState } from '../workflows/lifecycle-definitions';
import { dynamicYaml, VAULT_TOKEN_VAR } from './support/dynamic-config';
import { unique, vaultClient } from './support/harness';
import { startRotator, type Rotator } from './support/rotator';
import { testStack } from './support/stack';
import { pgLogin, pgRole, vaultCall } from './support/vault-roles';

const stack = testStack();
const db = stack.vaultDatabase!;
const engine = new VaultDatabaseEngine({ address: stack.vault!.address, token: stack.vault!.token });
afterAll(() => engine.close());

const TTL = { default_ttl: '4s', max_ttl: '12s' };
const LEASE = ['increment_seconds: 4', 'min_renewal_seconds: 1', 'renew_at: 0.5', 'grace_period: 3s'];

async function watch(handle: WorkflowHandle, ok: (s: KeeperState) => boolean, within = 40_000): Promise<KeeperState> {
  const deadline = Date.now() + within;
  for (;;) {
    const s = await handle.query(keeperStatusQuery).catch(() => null);
    if (s && ok(s)) return s;
    if (Date.now() > deadline) throw new Error(`keeper did not get there; last: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function published(name: string): Promise<Record<string, unknown>> {
  return ((await vaultClient().read(`secret/data/dynamic/${name}`)) as { data: { data: Record<string, unknown> } }).data.data;
}

async function keeper(
  role: string,
  lease: string[],
  env: Record<string, string> = {},
): Promise<{ name: string; rotator: Rotator; handle: WorkflowHandle; close(): Promise<void> }> {
  const taskQueue = unique('edge');
  const name = unique('dyn');
  const config = dynamicYaml(taskQueue, [{ name, role, engine: 'postgresql', lease }]);
  const rotator = await startRotator(config.yaml, { ...config.env, ...env });
  const handle = await rotator.client.workflow.start(KEEP_LEASE, {
    taskQueue,
    workflowId: keeperIdFor(name),
    args: [{ secret: name }],
    workflowTaskTimeout: '3s',
  });
  return {
    name,
    rotator,
    handle,
    async close() {
      await handle.terminate('test over').catch(() => undefined);
      await rotator.close();
    },
  };
}

describe('the lease keeper, when things go wrong', () => {
  it('publishes a copy of the value it finds, replacing only the credential and lease fields, through a re-issue', async () => {
    const role = await pgRole(TTL);
    const taskQueue = unique('edge');
    const name = unique('dyn');
    const config = dynamicYaml(taskQueue, [{ name, role, engine: 'postgresql', lease: LEASE }]);
    // What an operator put there before the keeper ran: the app's own host name, sslmode, a nested block.
    const operator = {
      engine: 'postgres',
      host: 'localhost',
      port: stack.postgres!.port,
      dbname: stack.postgres!.database,
      sslmode: 'disable',
      pool: { max: 5, idle_ms: 1000 },
      username: 'placeholder',
      password: 'placeholder-0123456789',
    };
    await vaultClient().write(`secret/data/dynamic/${name}`, { data: operator });
    const rotator = await startRotator(config.yaml, config.env);
    const handle = await rotator.client.workflow.start(KEEP_LEASE, {
      taskQueue,
      workflowId: keeperIdFor(name),
      args: [{ secret: name }],
      workflowTaskTimeout: '3s',
    });
    try {
      const first = (await watch(handle, (s) => s.current !== null)).current!;
      const kept = (v: Record<string, unknown>) =>
        Object.fromEntries(Object.entries(v).filter(([k]) => k in operator && k !== 'username' && k !== 'password'));
      const one = await published(name);
      expect(one.lease_id).toBe(first.leaseId);
      expect(kept(one)).toStrictEqual(kept(operator));
      expect(one.username).not.toBe('placeholder');
      expect(await pgLogin(String(one.username), String(one.password))).toBe('ok');
      // The next credential is a copy of the keeper's own published value: the operator's fields are still there.
      const next = (await watch(handle, (s) => s.generation >= 2 && s.current!.leaseId !== first.leaseId)).current!;
      const two = await published(name);
      expect(two.lease_id).toBe(next.leaseId);
      expect(kept(two)).toStrictEqual(kept(operator));
      expect(two.username).not.toBe(one.username);
    } finally {
      await handle.terminate('test over').catch(() => undefined);
      await rotator.close();
    }
  }, 60_000);

  it('re-issues and publishes after someone wrote the store behind its back, instead of failing on the version forever', async () => {
    const k = await keeper(await pgRole(TTL), LEASE);
    try {
      const first = (await watch(k.handle, (s) => s.current !== null)).current!;
      await vaultClient().write(`secret/data/dynamic/${k.name}`, {
        data: { username: 'someone', password: 'by-hand-0123456789' },
      });
      const next = await watch(k.handle, (s) => s.generation >= 2 && s.current!.leaseId !== first.leaseId);
      const now = await published(k.name);
      expect(now.lease_id).toBe(next.current!.leaseId);
      expect(await pgLogin(String(now.username), String(now.password))).toBe('ok');
      // The keeper's own earlier lease, no longer published, is queued for revoke too.
      const done = await watch(k.handle, (s) => s.revoked >= 1);
      expect(done.irrevocable).toEqual([]);
      expect(await engine.lookup(first.leaseId)).toBeNull();
    } finally {
      await k.close();
    }
  }, 60_000);

  it('takes over a claim an earlier keeper left in the pending slot: its lease is revoked, the slot freed', async () => {
    const role = await pgRole(TTL);
    const name = unique('dyn');
    // A keeper chain that died mid-issue: its credential staged under its claim id, never published.
    const leftover = await engine.issue(db.mount, role);
    const store = new VaultKvStore({
      address: stack.vault!.address,
      token: stack.vault!.token,
      pendingPrefix: 'rotator-pending',
      stalePending: 'fail',
    });
    await store.stagePending(
      `secret/data/dynamic/${name}`,
      `${randomUUID()}:1`,
      { username: leftover.username, password: leftover.password, lease_id: leftover.leaseId },
      null,
    );
    await store.close();
    const taskQueue = unique('edge');
    const config = dynamicYaml(taskQueue, [{ name, role, engine: 'postgresql', lease: LEASE }]);
    const rotator = await startRotator(config.yaml, config.env);
    const handle = await rotator.client.workflow.start(KEEP_LEASE, {
      taskQueue,
      workflowId: keeperIdFor(name),
      args: [{ secret: name }],
    });
    try {
      const s = await watch(handle, (x) => x.current !== null);
      expect((await published(name)).lease_id).toBe(s.current!.leaseId);
      expect(await engine.lookup(leftover.leaseId)).toBeNull();
      expect(await pgLogin(leftover.username, leftover.password)).not.toBe('ok');
    } finally {
      await handle.terminate('test over').catch(() => undefined);
      await rotator.close();
    }
  }, 60_000);

  it('keeps renewing the new lease through a grace period longer than its renewal interval', async () => {
    // Renewal every ~2 s, grace 6 s: the new lease would die in the grace period if nothing renewed it.
    const k = await keeper(await pgRole({ default_ttl: '4s', max_ttl: '20s' }), [
      'increment_seconds: 4',
      'min_renewal_seconds: 1',
      'renew_at: 0.5',
      'grace_period: 6s',
    ]);
    try {
      const first = (await watch(k.handle, (s) => s.current !== null)).current!.leaseId;
      const second = (await watch(k.handle, (s) => s.generation >= 2)).current!.leaseId;
      const graced = await watch(
        k.handle,
        (s) => s.current!.leaseId === second && s.current!.renewals >= 2 && s.revokeQueue.length > 0,
      );
      expect(graced.revokeQueue[0]!.leaseId).toBe(first);
      const done = await watch(k.handle, (s) => s.revoked >= 1);
      expect(done.lost).toBe(0);
      expect(await engine.lookup(second)).not.toBeNull();
    } finally {
      await k.close();
    }
  }, 60_000);

  it('paces a lease too short for its grace period: each credential serves before the next is issued, not back to back', async () => {
    // 20 s of life against 60 s of grace and a 10 s lead: every lease is due for replacement the moment it is issued.
    // Paced, it waits halfway from its publish to 10 s before its end; a renewal (renew_at 0.5: at 10 s) comes after.
    const k = await keeper(await pgRole({ default_ttl: '20s', max_ttl: '20s' }), [
      'increment_seconds: 20',
      'min_renewal_seconds: 1',
      'renew_at: 0.5',
      'grace_period: 60s',
    ]);
    try {
      // Waiting to replace a lease it has just issued: without pacing it never waits, it issues the next at once.
      const waiting = await watch(k.handle, (s) => s.generation >= 2 && s.phase === 'waiting');
      const current = waiting.current!;
      // Current for 2 s at least after its publish, and replaced before it ends; the status warns, naming the fix.
      expect(current.publishedAt).toBeGreaterThanOrEqual(current.issuedAt);
      expect(waiting.nextActionAt!).toBeGreaterThanOrEqual(current.publishedAt! + 2_000);
      expect(waiting.nextActionAt!).toBeLessThan(current.expiresAt);
      expect(waiting.warning).toMatch(
        /lives 20s, too short for grace_period 60s and the 10s lead .* keeps \d+s of grace after that; raise the role's max_ttl/,
      );
      expect(waiting.lost).toBe(0);
      // What the store publishes logs in (the keeper may have moved on to the next credential meanwhile).
      const now = await published(k.name);
      expect(await pgLogin(String(now.username), String(now.password))).toBe('ok');
    } finally {
      await k.close();
    }
  }, 60_000);

  it('replaces, before it ends, a lease its token may not renew (403), and loses none', async () => {
    const policy = unique('norenew');
    const rules = `path "${db.mount}/creds/*" { capabilities = ["read"] }
path "${db.mount}/roles/*" { capabilities = ["read"] }
path "sys/leases/revoke" { capabilities = ["update"] }
path "sys/leases/lookup" { capabilities = ["update"] }
path "secret/*" { capabilities = ["create", "read", "update", "delete", "list"] }`;
    expect((await vaultCall('PUT', `sys/policies/acl/${policy}`, { policy: rules })).status).toBe(204);
    // Without the default policy, which grants sys/leases/renew to every token.
    const created = await vaultCall('POST', 'auth/token/create', { policies: [policy], ttl: '10m', no_default_policy: true });
    const token = (JSON.parse(created.text) as { auth: { client_token: string } }).auth.client_token;
    const k = await keeper(await pgRole({ default_ttl: '6s', max_ttl: '60s' }), LEASE, { [VAULT_TOKEN_VAR]: token });
    try {
      const first = (await watch(k.handle, (s) => s.current !== null)).current!;
      const next = await watch(k.handle, (s) => s.generation >= 2);
      expect(next.lost).toBe(0);
      expect(next.renewed).toBe(0);
      // It was replaced before its 6 s ran out: OpenBao still knew it when the new one was published.
      expect(next.current!.issuedAt).toBeLessThan(first.expiresAt);
      const now = await published(k.name);
      expect(await pgLogin(String(now.username), String(now.password))).toBe('ok');
    } finally {
      await k.close();
    }
  }, 60_000);
});
