// A mass rotation's write budget (workflows/write-budget.ts, activities/write-budget.ts) on the real stack: the
// writeBudget workflow on a real worker, real writes to OpenBao KV through a recording proxy that notes when each one
// arrives. The budget holds at the store whatever the workers' clocks say (a worker clock off by 150 ms or 5 s
// neither sends early nor stalls); a worker whose answers from Temporal come seconds late (a loaded machine: a real
// TCP relay that holds the server's bytes back) still sends every write and keeps the budget beside one that is not
// late; a write whose step is abandoned while it waits is never sent; an idle budget does not end while a window
// still reaches one of its leases; an AWS request that waited on the budget is signed after its wait. A worker's
// clock is the gate's `now` option: the skew is simulated in this process (the machine has one clock), the servers
// and the writes are real.
import { Client } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import vault from 'node-vault';
import { AwsParameterStore } from '../activities/stores/aws-parameter-store/store';
import { AwsSecretsManagerStore } from '../activities/stores/aws-secrets-manager/store';
import { VaultKvStore } from '../activities/stores/vault/store';
import type { SecretStore } from '../activities/types';
import { budgeted, temporalWriteBudget, type WriteBudgetGate } from '../activities/write-budget';
import type { RotationPlan } from '../src/config/plan';
import { WRITE_BUDGET, writeBudgetIdFor } from '../workflows/mass-definitions';
import { grantWindow, SLACK_MS } from '../workflows/write-budget';
import { massScenario, recordingProxy, type MassScenario, type StoreRequest } from './support/mass-scenario';
import { startRotator, type Rotator } from './support/rotator';
import { testStack } from './support/stack';
import { motoClientConfig } from './support/test-stores';
import { connectTemporal } from '../src/client/temporal';

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

/** The arrival at the store of the write to `path` (its only request). */
function arrivalOf(path: string): number {
  const r = s.proxy.log.find((e) => ['POST', 'PUT'].includes(e.method) && e.path === `/v1/${path}`);
  if (!r) throw new Error(`no write to ${path} reached the store`);
  return r.t;
}

/**
 * What the budget proves, checked at both ends: the gates let at most `perSecond` writes go in any window of the
 * budget's (a second for C/s), and the store received at most that many in any such window — whatever their transit,
 * since each write counts from its turn until a window after its answer, and it reaches the store between the two.
 * (Before, a write counted only a window plus 150 ms of slack from its turn, and the store's second held the budget
 * only while the transit varied by less than that: on a loaded machine it does not.) `letGo`: when each write's wait
 * ended, by the gate (onLetGo, the one clock of this process), and its path.
 */
function budgetHeld(letGo: Array<{ path: string; at: number }>, perSecond: number) {
  const windowMs = grantWindow(perSecond).windowMs - SLACK_MS;
  const writes = letGo.map(({ path, at }) => ({ at, arrived: arrivalOf(path) }));
  const transit = writes.map((w) => w.arrived - w.at);
  return {
    windowMs,
    spreadMs: Math.max(...transit) - Math.min(...transit),
    mostLetGo: maxInWindow(
      writes.map((w) => w.at).sort((a, b) => a - b),
      windowMs,
    ),
    mostAtStore: maxInWindow(
      writes.map((w) => w.arrived).sort((a, b) => a - b),
      windowMs,
    ),
  };
}

/**
 * A gate of worker `name` whose let-go times (its clock less `skew`: this process's) are noted against the paths its
 * writes go to, in the order they were asked for (a gate lets its waiters go first come, first served).
 */
function notingGate(client: Client, letGo: Array<{ path: string; at: number }>, skew = 0) {
  const paths: string[] = [];
  let next = 0;
  const gate = temporalWriteBudget(client, s.taskQueue, {
    now: () => Date.now() + skew,
    // Leases of 6 s (20 s in production): a worker refused while another holds the whole budget asks again sooner.
    leaseMs: 6_000,
    onLetGo: (_key, _n, at) => letGo.push({ path: paths[next++]!, at: at - skew }),
  });
  return { gate, asking: (path: string) => paths.push(path) };
}

/**
 * A TCP relay to `target` that holds every byte the server sends back for `delayMs` (in order): a worker whose answers
 * from Temporal come that late, as on a loaded machine.
 */
async function lateAnswers(target: string, delayMs: number): Promise<{ address: string; close(): Promise<void> }> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((down) => {
    const up = net.connect(port, host);
    for (const sock of [down, up]) {
      sockets.add(sock);
      sock.on('error', () => void 0).on('close', () => (down.destroy(), up.destroy()));
    }
    down.pipe(up);
    up.on('data', (chunk: Buffer) => setTimeout(() => down.writable && down.write(chunk), delayMs));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const sock of sockets) sock.destroy();
        server.close(() => r());
      }),
  };
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
    const letGo: Array<{ path: string; at: number }> = [];
    const workers = [0, 150, 5_000].map((skew) => ({ skew, ...notingGate(rotator.client, letGo, skew), sent: 0 }));
    const writes = workers.flatMap((w) =>
      Array.from({ length: PER_WORKER }, async (_, i) => {
        const path = `secret/data/skew_${run}/w${w.skew}_${i}`;
        w.asking(path);
        const release = await w.gate.take(budget, 1);
        await direct.write(path, { data: { i } });
        release();
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
    const held = budgetHeld(letGo, budget.perSecond);
    const missed = workers.map((w) => w.gate.stats().missed);
    console.log(
      `| write budget ${budget.perSecond}/s, 3 workers (clock +0, +150 ms, +5 s) | writes ${letGo.length} | most let go in any ${held.windowMs} ms ${held.mostLetGo} | most at the store in any ${held.windowMs} ms ${held.mostAtStore} (transit spread ${held.spreadMs} ms) | leases lapsed ${missed.join('/')} |`,
    );
    expect(letGo).toHaveLength(3 * PER_WORKER);
    expect(held.mostLetGo).toBeLessThanOrEqual(budget.perSecond);
    expect(held.mostAtStore).toBeLessThanOrEqual(budget.perSecond);
  });

  it('sends every write of a worker whose answers come seconds late, and keeps the budget beside one on time', async () => {
    const run = randomBytes(3).toString('hex');
    const budget = { key: `late-${run}`, perSecond: 10 };
    const PER_WORKER = 15;
    const ANSWER_LATE_MS = 1_500;
    const relay = await lateAnswers(testStack().temporal!.address, ANSWER_LATE_MS);
    const connection = await connectTemporal({ address: relay.address });
    try {
      const slowClient = new Client({
        connection,
        namespace: rotator.client.options.namespace,
        dataConverter: rotator.dataConverter,
      });
      const letGo: Array<{ path: string; at: number }> = [];
      const workers = [
        { name: `answers ${ANSWER_LATE_MS} ms late`, ...notingGate(slowClient, letGo), sent: 0 },
        { name: 'on time', ...notingGate(rotator.client, letGo), sent: 0 },
      ];
      const done = Promise.all(
        workers.flatMap((w, k) =>
          Array.from({ length: PER_WORKER }, async (_, i) => {
            const path = `secret/data/late_${run}/w${k}_${i}`;
            w.asking(path);
            const release = await w.gate.take(budget, 1);
            await direct.write(path, { data: { i } });
            release();
            w.sent++;
          }),
        ),
      );
      const sent = () => workers.map((w) => `${w.name} ${w.sent}`).join(', ');
      // Before leases every grant of the late worker was missed (its lateness counted from the ask) and asked again:
      // none of its writes was ever sent.
      await until('every write sent', () => workers.every((w) => w.sent === PER_WORKER), 90_000).catch((err: Error) => {
        throw new Error(`${err.message}; sent: ${sent()}`);
      });
      await done;
      const held = budgetHeld(letGo, budget.perSecond);
      console.log(
        `| write budget ${budget.perSecond}/s, 2 workers (answers ${ANSWER_LATE_MS} ms late, on time) | writes ${letGo.length} | most let go in any ${held.windowMs} ms ${held.mostLetGo} | most at the store in any ${held.windowMs} ms ${held.mostAtStore} (transit spread ${held.spreadMs} ms) | leases ${workers.map((w) => w.gate.stats().granted).join('/')}, refused ${workers.map((w) => w.gate.stats().refused).join('/')} |`,
      );
      expect(letGo).toHaveLength(2 * PER_WORKER);
      expect(held.mostLetGo).toBeLessThanOrEqual(budget.perSecond);
      expect(held.mostAtStore).toBeLessThanOrEqual(budget.perSecond);
    } finally {
      await connection.close();
      await relay.close();
    }
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
      (await gate.take(plan.writeBudget!, 1))(); // the window's one token, spent
      const step = new AbortController();
      const gated = await budgeted(Promise.resolve(store), plan, gate, step.signal);
      const path = `secret/data/abandon_${run}/db`;
      const staging = gated.stagePending(path, 'rotation-1', { username: 'u', password: 'never-sent' }, null);
      const outcome = staging.then(
        () => 'written',
        (err: Error) => `refused: ${err.message}`,
      );
      // The write waits for its turn (4 s away) when its step ends: the rotation was cancelled, or the step timed out.
      await until('the write to wait', () => gate.stats().waiting > 0);
      step.abort(new Error('the step timed out'));
      expect(await outcome).toBe('refused: the step timed out');
      // The next write takes the turn the abandoned one would have used: it never reached the store.
      (await gate.take(plan.writeBudget!, 1))();
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
    const gate = temporalWriteBudget(rotator.client, s.taskQueue, { leaseMs: 6_000 });
    const write = async (i: number) => {
      const release = await gate.take(budget, 1);
      await direct.write(`secret/data/idle_${run}/w${i}`, { data: { i } });
      release();
    };
    const first = write(1);
    const second = write(2); // let go a window after the first
    await until('both writes let go', () => gate.stats().sent >= 2);
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
    const counting: WriteBudgetGate = {
      take: async (_budget, n) => {
        tokens += n;
        return () => undefined;
      },
    };
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

  it.each(awsStores)('%s: a request that waited on the budget is signed after its wait', async (_kind, open, path) => {
    const proxy = await recordingProxy(motoClientConfig().endpoint);
    const store = open(proxy.address);
    // A wait longer than the signature's resolution (whole seconds): a request signed before it arrives that much stale.
    const WAIT_MS = 2_500;
    const waiting: WriteBudgetGate = { take: () => new Promise((r) => setTimeout(() => r(() => undefined), WAIT_MS)) };
    const plan = { writeBudget: { key: 'aws', perSecond: 50 } } as RotationPlan;
    try {
      const gated = await budgeted(Promise.resolve(store), plan, waiting);
      await gated.stagePending(`${path}-signed`, 'rotation-1', { username: 'u', password: 'signed' }, null);
      const writes = proxy.log.filter((r) => r.target && !/\.(Get|Describe|List|BatchGet)/.test(r.target));
      const ages = writes.map((r) => r.t - r.signedAt!);
      console.log(
        `| ${_kind} | write requests ${writes.length} | signature age at the store after a ${WAIT_MS} ms wait: ${ages.join(', ')} ms |`,
      );
      expect(writes.length).toBeGreaterThan(0);
      for (const age of ages) expect(age).toBeLessThan(WAIT_MS);
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
