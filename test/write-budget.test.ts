// A mass rotation's write budget (workflows/write-budget.ts, activities/write-budget.ts) on the real stack: the
// writeBudget workflow on a real worker, real writes to OpenBao KV through a recording proxy that notes when each one
// arrives. The budget holds at the store whatever the workers' clocks say (a worker clock off by 150 ms or 5 s
// neither sends early nor stalls); a write whose step is abandoned while it waits is never sent; an idle budget does
// not end while a window still reaches one of its grants. A worker's clock is the gate's `now` option: the skew is
// simulated in this process (the machine has one clock), the servers and the writes are real.
import { randomBytes } from 'node:crypto';
import vault from 'node-vault';
import { AwsParameterStore } from '../activities/stores/aws-parameter-store/store';
import { AwsSecretsManagerStore } from '../activities/stores/aws-secrets-manager/store';
import { VaultKvStore } from '../activities/stores/vault/store';
import type { SecretStore } from '../activities/types';
import { budgeted, temporalWriteBudget, type WriteBudgetGate } from '../activities/write-budget';
import type { RotationPlan } from '../src/config/plan';
import { WRITE_BUDGET, writeBudgetIdFor } from '../workflows/mass-definitions';
import { massScenario, recordingProxy, type MassScenario, type StoreRequest } from './support/mass-scenario';
import { startRotator, type Rotator } from './support/rotator';
import { testStack } from './support/stack';
import { motoClientConfig } from './support/test-stores';

jest.setTimeout(120_000);

let s: MassScenario;
let rotator: Rotator;
let direct: vault.client;

beforeAll(async () => {
  s = await massScenario(testStack(), { count: 1, budget: 10 });
  rotator = await startRotator(s.yaml, s.env);
  // Writes go through the recording proxy: the store's server sees them as the budget let them go.
  direct = vault({ apiVersion: 'v1', endpoint: s.proxy.address, token: testStack().vault!.token });
});
afterAll(async () => {
  await rotator?.close();
  await s?.close();
});

/** The writes the store received under `prefix`, by arrival time. */
function writesUnder(prefix: string): number[] {
  return s.proxy.log
    .filter((r: StoreRequest) => ['POST', 'PUT', 'DELETE'].includes(r.method) && r.path.startsWith(prefix))
    .map((r) => r.t)
    .sort((a, b) => a - b);
}

/** The most writes that arrived in any window of `windowMs`. */
function maxInWindow(times: number[], windowMs: number): number {
  let max = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= windowMs) j++;
    max = Math.max(max, i - j + 1);
  }
  return max;
}

async function until<T>(what: string, probe: () => T | null | undefined | Promise<T | null | undefined>, withinMs = 60_000) {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the write budget at the store', () => {
  it('holds whatever the workers’ clocks say: a clock ahead neither sends early nor stalls', async () => {
    const run = randomBytes(3).toString('hex');
    const budget = { key: `skew-${run}`, perSecond: 10 };
    const PER_WORKER = 20;
    // Three workers' gates: one on time, one whose clock runs 150 ms ahead, one 5 s ahead.
    const workers = [0, 150, 5_000].map((skew) => ({
      skew,
      gate: temporalWriteBudget(rotator.client, s.taskQueue, { now: () => Date.now() + skew }),
      sent: 0,
    }));
    const writes = workers.flatMap((w) =>
      Array.from({ length: PER_WORKER }, async (_, i) => {
        await w.gate.take(budget, 1);
        await direct.write(`secret/data/skew_${run}/w${w.skew}_${i}`, { data: { i } });
        w.sent++;
      }),
    );
    const done = Promise.all(writes);
    await until(
      `every write sent (sent: ${workers.map((w) => `${w.skew} ms ahead ${w.sent}`).join(', ')})`,
      () => workers.every((w) => w.sent === PER_WORKER),
      90_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; sent: ${workers.map((w) => `${w.skew} ms ahead ${w.sent}`).join(', ')}`);
    });
    await done;
    const times = writesUnder(`/v1/secret/data/skew_${run}/`);
    const missed = workers.map((w) => w.gate.stats().missed);
    console.log(
      `| write budget ${budget.perSecond}/s, 3 workers (clock +0, +150 ms, +5 s) | writes ${times.length} | most in any 1 s at the store ${maxInWindow(times, 1000)} | grants missed ${missed.join('/')} |`,
    );
    expect(times).toHaveLength(3 * PER_WORKER);
    expect(maxInWindow(times, 1000)).toBeLessThanOrEqual(budget.perSecond);
  });

  it('never sends a write whose step was abandoned while it waited on the budget', async () => {
    const run = randomBytes(3).toString('hex');
    // One write per 4 s: the second waits long enough to be abandoned.
    const plan = { writeBudget: { key: `abandon-${run}`, perSecond: 0.25 } } as RotationPlan;
    const gate = temporalWriteBudget(rotator.client, s.taskQueue);
    const store = new VaultKvStore({
      address: s.proxy.address,
      token: testStack().vault!.token,
      pendingPrefix: 'rotator-pending',
    });
    try {
      await gate.take(plan.writeBudget!, 1); // the window's one token
      const before = gate.stats().granted;
      const step = new AbortController();
      const gated = await budgeted(Promise.resolve(store), plan, gate, step.signal);
      const path = `secret/data/abandon_${run}/db`;
      const staging = gated.stagePending(path, 'rotation-1', { username: 'u', password: 'never-sent' }, null);
      const outcome = staging.then(
        () => 'written',
        (err: Error) => `refused: ${err.message}`,
      );
      // The write has its grant (4 s away) when its step ends: the rotation was cancelled, or the step timed out.
      await until('the write’s grant', () => gate.stats().granted > before);
      step.abort(new Error('the step timed out'));
      expect(await outcome).toBe('refused: the step timed out');
      // Past the grant the abandoned write would have used: nothing reached the store.
      await until('the abandoned grant to pass', () => gate.stats().fired > before);
      expect(writesUnder(`/v1/secret/data/rotator-pending/abandon_${run}/`)).toEqual([]);
      expect(gate.stats()).toMatchObject({ abandoned: 1 });
    } finally {
      await store.close();
    }
  });

  it('does not end idle while a window still reaches one of its grants', async () => {
    const run = randomBytes(3).toString('hex');
    // One write per 4 s, and a budget that ends after 1 s without a request (5 min in production, against windows of
    // more than that for budgets under 1 request per few minutes).
    const budget = { key: `idle-${run}`, perSecond: 0.25 };
    await rotator.client.workflow.start(WRITE_BUDGET, {
      workflowId: writeBudgetIdFor(s.taskQueue, budget.key),
      taskQueue: s.taskQueue,
      args: [{ idleMs: 1_000 }],
    });
    const gate = temporalWriteBudget(rotator.client, s.taskQueue);
    const write = (i: number) => gate.take(budget, 1).then(() => direct.write(`secret/data/idle_${run}/w${i}`, { data: { i } }));
    const first = write(1);
    const second = write(2); // granted a window after the first
    await until('both grants', () => gate.stats().granted >= 2);
    // The budget ends once idle (after the fix: only once no window reaches the second grant); a third write then
    // starts it again, and must still come a whole window after the second.
    const handle = rotator.client.workflow.getHandle(writeBudgetIdFor(s.taskQueue, budget.key));
    await until('the budget to end', async () => (await handle.describe()).status.name !== 'RUNNING');
    await Promise.all([first, second, write(3)]);
    const times = writesUnder(`/v1/secret/data/idle_${run}/`);
    expect(times).toHaveLength(3);
    expect(maxInWindow(times, 4_000)).toBe(1);
  });

  // Each AWS API call that writes is a request against the budget (Secrets Manager's 50 TPS counts PutSecretValue,
  // UpdateSecretVersionStage, TagResource, … alike), however many of them one store method makes.
  const awsStores: Array<[string, (endpoint: string) => SecretStore, string]> = [
    [
      'aws-secrets-manager',
      (endpoint) => new AwsSecretsManagerStore({ ...awsOptions(endpoint), rotationTags: true }),
      `budget/${randomBytes(3).toString('hex')}/db`,
    ],
    [
      'aws-parameter-store',
      (endpoint) => new AwsParameterStore(awsOptions(endpoint)),
      `/budget/${randomBytes(3).toString('hex')}/db`,
    ],
  ];
  it.each(awsStores)('%s: every request that writes takes one token', async (_kind, open, path) => {
    const proxy = await recordingProxy(motoClientConfig().endpoint);
    const store = open(proxy.address);
    let tokens = 0;
    const counting: WriteBudgetGate = { take: async (_budget, n) => void (tokens += n) };
    const plan = { writeBudget: { key: 'aws', perSecond: 50 } } as RotationPlan;
    try {
      const gated = await budgeted(Promise.resolve(store), plan, counting);
      // A first rotation of a new secret, rolled back, then a second one published: every writing method, each path.
      await gated.stagePending(path, 'rotation-1', { username: 'u', password: 'first' }, null);
      const first = await gated.promote(path, 'rotation-1', null);
      await gated.rollback(path, 'rotation-1', { toVersion: null, fromVersion: first.version });
      await gated.discardPending(path, 'rotation-1');
      const base = (await gated.readCurrent(path))?.version ?? null;
      await gated.stagePending(path, 'rotation-2', { username: 'u', password: 'second' }, base);
      await gated.promote(path, 'rotation-2', base);
      await gated.discardPending(path, 'rotation-2');
      const writes = proxy.log.filter((r) => r.target && !/\.(Get|Describe|List|BatchGet)/.test(r.target));
      console.log(
        `| ${_kind} | write requests at the store ${writes.length} | tokens taken ${tokens} | (${writes.map((r) => r.target!.split('.')[1]).join(', ')}) |`,
      );
      expect(writes.length).toBeGreaterThan(0);
      expect(tokens).toBe(writes.length);
    } finally {
      await store.close();
      await proxy.close();
    }
  });
});

function awsOptions(endpoint: string) {
  const { region, credentials } = motoClientConfig();
  return { region, endpoint, ...credentials };
}
