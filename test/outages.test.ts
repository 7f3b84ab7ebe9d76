// The systems around a rotation failing as production meets them: PostgreSQL and OpenBao stopped, frozen and
// restarted, the Temporal dev server killed and restarted on its db file, in the phase each case is about. A private
// stack (test/support/outage-stack.ts) so the shared one is never disturbed; a real in-process worker; a prober logs
// in with the store's credential every 100 ms throughout. Each case ends with the table row the note asks for.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { Client as PgClient, escapeIdentifier, escapeLiteral } from 'pg';
import { createActivities } from '../activities/rotation';
import { ConsumerRegistry, ProviderRegistry, TargetRegistry } from '../activities/registry';
import { canLogIn, scramSha256Verifier } from '../activities/targets/postgresql/target';
import { getDataConverter } from '../src/client/codec/data-converter';
import { cancelRotation, closedStatus, decideRotation, queryStatus, startRotation } from '../src/client/rotations';
import { standings } from '../src/client/standing';
import { SWEEP, type SweepReport } from '../workflows/lifecycle-definitions';
import { parseConfig } from '../src/config/load';
import { planRotation, type RotationPlan } from '../src/config/plan';
import type { Outcome, PhaseName, RotationStatus } from '../workflows/definitions';
import { createRotatorWorker, type RotatorWorker } from '../workers/worker';
import { startOutageStack, type OutageStack } from './support/outage-stack';
import { rotatorYaml, vaultProviderYaml } from './support/rotator-config';
import { testCodecKeys, workflowBundle } from './support/rotator';
import { connectTemporal } from '../src/client/temporal';
import { historyToFixture, markersPastFirstTask, patchMarkers, type FixtureHistory } from './replay/fixtures';

jest.setTimeout(240_000);

const keys = testCodecKeys();
const dataConverter = getDataConverter(keys);
const taskQueue = `outages-${randomBytes(3).toString('hex')}`;
const rows: string[] = [];
let stack: OutageStack;
let env: Record<string, string>;
let worker: { rotator: RotatorWorker; running: Promise<void> };
let client: Client;
let connection: Connection;

const unique = (prefix: string) => `${prefix}_${randomBytes(4).toString('hex')}`;
const until = async <T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe().catch(() => null);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100)); // polling the servers, not waiting for an event of ours
  }
};

// ---- the stack's stores, read from outside rotator

interface BaoAnswer {
  status: number;
  json: { data: { data: Record<string, unknown>; metadata: { version: number } } };
}

async function bao(method: string, apiPath: string, body?: unknown): Promise<BaoAnswer> {
  const res = await fetch(`${stack.vault.address}/v1/${apiPath}`, {
    method,
    headers: { 'X-Vault-Token': stack.vault.token },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(3000),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as BaoAnswer['json']) : (null as unknown as BaoAnswer['json']) };
}

async function storeCurrent(path: string): Promise<{ version: number; value: Record<string, unknown> }> {
  const { status, json } = await bao('GET', `secret/data/${path}`);
  if (status !== 200) throw new Error(`openbao answered ${status} for ${path}`);
  return { version: json.data.metadata.version, value: json.data.data };
}

async function pendingLeft(path: string): Promise<boolean> {
  const { status } = await bao('GET', `secret/data/rotator-pending/${path}`);
  return status === 200;
}

async function adminQuery(sql: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> {
  const c = new PgClient({ ...stack.postgres, connectionTimeoutMillis: 3000 });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query(sql, params)).rows;
  } finally {
    await c.end().catch(() => undefined);
  }
}

const logsIn = (username: string, password: string) => canLogIn(stack.postgres, { username, password });

// ---- one secret per case

interface Case {
  name: string;
  path: string;
  strategy: 'alternating-users' | 'single-user';
  role: string;
  plan: RotationPlan;
  first: { username: string; password: string };
}

async function seed(strategy: Case['strategy'], rotation: string[] = []): Promise<Case> {
  const name = unique('db');
  const role = unique('app');
  const path = `test/${name}`;
  const first = { username: strategy === 'alternating-users' ? `${role}_a` : role, password: randomBytes(18).toString('hex') };
  const verifier = escapeLiteral(scramSha256Verifier(first.password));
  if (strategy === 'alternating-users') {
    await adminQuery(`create role ${escapeIdentifier(role)} nologin`);
    await adminQuery(
      `create role ${escapeIdentifier(first.username)} login password ${verifier} in role ${escapeIdentifier(role)}`,
    );
  } else {
    await adminQuery(`create role ${escapeIdentifier(role)} login password ${verifier}`);
  }
  const { host, port, database } = stack.postgres;
  const w = await bao('POST', `secret/data/${path}`, { data: { ...first, host, port, dbname: database, engine: 'postgres' } });
  if (w.status !== 200) throw new Error(`seeding ${path}: ${w.status}`);
  const yaml = configYaml([
    {
      name,
      path: `secret/data/${path}`,
      type: 'postgresql',
      target: [`role: ${role}`],
      rotation: [`strategy: ${strategy}`, 'drain: { timeout: 1s }', ...rotation],
    },
  ]);
  return { name, path, strategy, role, plan: planRotation(parseConfig(yaml, env), name), first };
}

function configYaml(secrets: Parameters<typeof rotatorYaml>[0]['secrets']): string {
  return rotatorYaml({
    temporalAddress: stack.temporal.address,
    taskQueue,
    provider: { name: 'vault', yaml: vaultProviderYaml(stack.vault.address, 'OUTAGE_BAO_TOKEN') },
    admin: { name: 'pg_admin', path: 'secret/data/test/pg_admin' },
    secrets,
  });
}

// ---- the prober: a consumer logging in with whatever the store publishes, every 100 ms

interface Sample {
  at: number;
  result: 'ok' | 'refused' | 'unreachable';
}

/** Probers still running (a failed test leaves its own): stopped before the stack goes. */
const probers = new Set<{ stop(): Promise<Sample[]> }>();

function startProber(c: Case): { stop(): Promise<Sample[]> } {
  const samples: Sample[] = [];
  let credential = { ...c.first };
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const at = Date.now();
      try {
        const { value } = await storeCurrent(c.path);
        credential = { username: String(value.username), password: String(value.password) };
      } catch {
        // OpenBao down: a consumer keeps the credential it has
      }
      try {
        samples.push({ at, result: (await logsIn(credential.username, credential.password)) ? 'ok' : 'refused' });
      } catch {
        samples.push({ at, result: 'unreachable' });
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - at))));
    }
  })();
  const prober = {
    async stop() {
      stopped = true;
      probers.delete(prober);
      await loop;
      return samples;
    },
  };
  probers.add(prober);
  return prober;
}

/**
 * The longest time PostgreSQL answered and refused the store's credential without one accepted login in between
 * (ms; samples where it could not be reached do not count, they are the outage itself).
 */
function longestRefusal(samples: Sample[]): number {
  let longest = 0;
  let run = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    if (s.result === 'ok') run = 0;
    else if (s.result === 'refused') run += (samples[i + 1]?.at ?? s.at + 100) - s.at;
    longest = Math.max(longest, run);
  }
  return longest;
}

// ---- rotations

async function status(handle: WorkflowHandle): Promise<RotationStatus | null> {
  return queryStatus(handle).catch(() => null);
}

async function untilPhase(handle: WorkflowHandle, phase: PhaseName): Promise<RotationStatus> {
  return until(`phase ${phase}`, async () => {
    const s = await status(handle);
    if (s && s.outcome !== 'running') throw new Error(`ended ${s.outcome} before ${phase}`);
    return s?.phase === phase ? s : null;
  });
}

/** The end of a rotation, asking again while Temporal itself is restarting. */
async function ended(handle: WorkflowHandle, timeoutMs = 180_000): Promise<RotationStatus> {
  return until('the rotation to end', async () => (await closedStatus(handle))?.status ?? null, timeoutMs);
}

/**
 * The end of an approved rotation after a Temporal restart. Back at the gate with the approval gone is the failure
 * case 1 is about: it fails at once, naming it, rather than waiting for an end that needs a second approval.
 */
async function pastTheGate(handle: WorkflowHandle, timeoutMs = 120_000): Promise<RotationStatus> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    const now = await queryStatus(handle).catch((err: unknown) => {
      lastError = err;
      return null;
    });
    if (now?.phase === 'approval' && now.approval?.decision === 'pending')
      throw new Error('the approval was lost with the restart: the rotation waits at the gate again');
    if (now && now.outcome !== 'running') return (await closedStatus(handle))?.status ?? now;
    if (Date.now() > deadline)
      throw new Error(
        `the rotation did not end within ${timeoutMs} ms (phase ${now?.phase ?? `unknown: the status query failed: ${String(lastError)}`})\n${await whereItStands(handle)}`,
      );
    await new Promise((r) => setTimeout(r, 200)); // polling the status query
  }
}

/** What Temporal says of a rotation that did not end, and the tail of the server's log: for the failure message. */
async function whereItStands(handle: WorkflowHandle): Promise<string> {
  const described = await handle
    .describe()
    .then((d) => {
      const raw = d.raw;
      const task = raw.pendingWorkflowTask;
      return `status ${d.status.name}, ${d.historyLength} events, pending workflow task: ${task ? `attempt ${task.attempt}, state ${task.state}` : 'none'}, pending activities: ${raw.pendingActivities?.length ?? 0}`;
    })
    .catch((err: unknown) => `describe failed: ${String(err)}`);
  const saved = await handle
    .fetchHistory()
    .then((history) => `its history is in ${keepHistory(handle, historyToFixture(history))}`)
    .catch((err: unknown) => `its history could not be read: ${String(err)}`);
  let log: string;
  try {
    log = readFileSync(join(stack.dir, 'temporal.log'), 'utf8').split('\n').slice(-15).join('\n');
    for (const secret of stack.secrets) log = log.split(secret).join('***');
  } catch (err) {
    log = `(unread: ${String(err)})`;
  }
  return `${described}\n${saved}\nthe Temporal server's log ends:\n${log}`;
}

/** Writes a rotation's history, in the fixture format test/replay.test.ts reads, under .rotator/; returns the file. */
function keepHistory(handle: WorkflowHandle, fixture: string): string {
  const file = join(resolve(__dirname, '../.rotator'), `outage-${handle.workflowId.replace(/\//g, '_')}.history.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, fixture);
  return file;
}

/**
 * What goes wrong replaying the history the outage left, once the rotation has closed: a worker that lost it from its
 * cache, or answers a query on it, replays that history. Null when it replays; else the error and where the history is.
 */
async function replayProblem(handle: WorkflowHandle): Promise<string | null> {
  await handle.result().catch(() => undefined);
  const history = await handle.fetchHistory();
  const sinks = { rotator: { event: { fn: () => undefined, callDuringReplay: false } } };
  const fixture = historyToFixture(history);
  const keep = () => keepHistory(handle, fixture);
  try {
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle(), dataConverter, sinks }, history, handle.workflowId);
  } catch (err) {
    return `its history does not replay (${String(err)}); it is in ${keep()}`;
  }
  // Markers only in the first workflow task: one asked later may sit a task after where a replay asks it.
  const plain = JSON.parse(fixture) as FixtureHistory;
  if (!patchMarkers(plain).some((m) => m.id === 'asked-at-start'))
    return `the rotation did not take asked-at-start; its history is in ${keep()}`;
  const late = markersPastFirstTask(plain);
  return late.length > 0 ? `patch markers past its first workflow task: ${late.join(', ')}; it is in ${keep()}` : null;
}

/** A login of `role` running the verify query now (a backend of a non-admin user in pg_sleep). */
async function verifyRunning(c: Case): Promise<boolean> {
  const rows = await adminQuery(
    "select 1 from pg_stat_activity where usename like $1 and query like '%pg_sleep%' and state = 'active'",
    [`${c.role}%`],
  );
  return rows.length > 0;
}

/** What the note's table says of the end state, and what is wrong with it (empty when all holds). */
async function endState(c: Case, s: RotationStatus, handle: WorkflowHandle): Promise<{ row: string; problems: string[] }> {
  const problems: string[] = [];
  const replay = await replayProblem(handle);
  if (replay) problems.push(replay);
  const current = await storeCurrent(c.path);
  const storeLogsIn = await logsIn(String(current.value.username), String(current.value.password));
  if (!storeLogsIn) problems.push("the store's credential is refused");
  const oldLogsIn = await logsIn(c.first.username, c.first.password);
  const rotated = s.outcome === 'succeeded';
  // After a success the old credential is withdrawn; after anything else the old one is what the store still serves.
  if (rotated === oldLogsIn) problems.push(`the old credential ${oldLogsIn ? 'still logs in' : 'is refused'} after ${s.outcome}`);
  const claim = await pendingLeft(c.path);
  if (claim) problems.push('a pending value (claim) is left');
  // No login enabled that should not be: the only logins of the role that log in are the store's.
  const enabled = (await adminQuery('select rolname from pg_roles where rolname like $1 and rolcanlogin', [`${c.role}%`])).map(
    (r) => String(r.rolname),
  );
  const extra = enabled.filter((n) => n !== current.value.username && !(n === c.first.username && !rotated));
  if (extra.length > 0) problems.push(`logins enabled that should not be: ${extra.join(', ')}`);
  const row = `store's credential ${storeLogsIn ? 'logs in' : 'REFUSED'}; old login ${oldLogsIn ? 'logs in' : 'refused'}; ${claim ? 'CLAIM LEFT' : 'no claim'}; ${extra.length ? `EXTRA ${extra.join(',')}` : 'no stray login'}`;
  return { row, problems };
}

function record(label: string, outcome: Outcome, row: string, refusedMs: number): void {
  rows.push(`| ${label} | ${outcome} | ${row} | ${refusedMs} ms |`);
}

beforeAll(async () => {
  stack = await startOutageStack();
  env = { OUTAGE_BAO_TOKEN: stack.vault.token };
  const { host, port, user, password, database } = stack.postgres;
  await bao('POST', 'secret/data/test/pg_admin', {
    data: { username: user, password, host, port, dbname: database, engine: 'postgres' },
  });
  const config = parseConfig(configYaml([]), env);
  const rotator = await createRotatorWorker({ config, dataConverter, workflowBundle: await workflowBundle(), logLevel: 'ERROR' });
  worker = { rotator, running: rotator.worker.run() };
  connection = await connectTemporal({ address: stack.temporal.address });
  client = new Client({ connection, dataConverter });
}, 180_000);

afterAll(async () => {
  const out = resolve(__dirname, '../.rotator');
  mkdirSync(out, { recursive: true });
  const table = ['| case | outcome | end state | longest refusal of the store credential |', '|---|---|---|---|', ...rows].join(
    '\n',
  );
  writeFileSync(join(out, 'outages.md'), table + '\n');
  process.stderr.write(`\n${table}\n`);
  for (const p of [...probers]) await p.stop();
  await connection?.close();
  if (worker) {
    worker.rotator.worker.shutdown();
    await worker.running.catch(() => undefined);
    await worker.rotator.close();
  }
  await stack?.stop();
}, 60_000);

/** The single-user window once the outage is over: a retry at most 2 s away, the step itself, a little slack. */
const WINDOW_AFTER_OUTAGE_MS = 4_000;

describe('an approved rotation and a Temporal restart (case 1)', () => {
  for (const strategy of ['single-user', 'alternating-users'] as const) {
    it(`${strategy}: the Temporal server killed during verify right after the approval; once back, the approval holds and the rotation succeeds`, async () => {
      const c = await seed(strategy, [
        'approval: required',
        'approval_timeout: 1h',
        "verify: { query: 'select 1, pg_sleep(4)' }",
      ]);
      const prober = startProber(c);
      const { handle } = await startRotation(client, taskQueue, c.plan, 'test');
      await untilPhase(handle, 'approval');
      // Not awaited: the kill must come while the task that accepted the approval may still be running its local
      // steps (before a long one would heartbeat that task through, 80% of its 3 s timeout in).
      const approving = decideRotation(client, c.name, 'approve', { by: 'alice' });
      approving.catch(() => undefined);
      await until('verify running', () => verifyRunning(c));
      const downAt = Date.now();
      await stack.temporalServer.down();
      await stack.temporalServer.up();
      const downMs = Date.now() - downAt;
      const s = await pastTheGate(handle);
      const samples = await prober.stop();
      const { row, problems } = await endState(c, s, handle);
      const refused = longestRefusal(samples);
      record(`1 ${strategy}: Temporal killed during verify after approve (down ${downMs} ms)`, s.outcome, row, refused);
      expect(s).toMatchObject({ outcome: 'succeeded', approval: { decision: 'approved', by: 'alice' } });
      expect(problems).toEqual([]);
      // The approval was in history before anything changed, so the person who approved was told it was.
      expect(await approving).toMatchObject({ decision: 'approved', by: 'alice' });
      if (strategy === 'alternating-users') expect(refused).toBe(0);
      // single-user: the window lasts while no worker can run the rotation: Temporal's restart, then the 3 s task
      // timeout of the task it lost, then the verify query (4 s here) run again.
      else expect(refused).toBeLessThan(downMs + 3_000 + 4_000 + WINDOW_AFTER_OUTAGE_MS);
    });

    it(`${strategy}: a rejection after a lost run changed things converges them: database and store agree, no claim left`, async () => {
      const c = await seed(strategy, ['approval: required', 'approval_timeout: 1h']);
      const { handle } = await startRotation(client, taskQueue, c.plan, 'test');
      await untilPhase(handle, 'approval');
      // What a run whose approval a Temporal restart took out of history had done: staged, set the new password,
      // published it (the real activities, under this rotation's id).
      const rotationId = (await handle.describe()).runId;
      const config = parseConfig(configYaml([]), env);
      const providers = new ProviderRegistry(config.providers);
      const lost = createActivities({ providers, targets: new TargetRegistry(), consumers: new ConsumerRegistry({ providers }) });
      const found = await lost.inspect(c.plan, { rotationId });
      await lost.stageCredential(c.plan, { rotationId, username: found.nextUsername, baseVersion: found.currentVersion });
      await lost.applyCredential(c.plan, { rotationId });
      await lost.promote(c.plan, { rotationId, expectedVersion: found.currentVersion });
      await decideRotation(client, c.name, 'reject', { by: 'bob', reason: 'freeze' });
      const s = await ended(handle);
      const { row, problems } = await endState(c, s, handle);
      record(`1 ${strategy}: rejected after a lost run had changed things`, s.outcome, row, 0);
      expect({ ...s, notes: s.notes }).toMatchObject({ outcome: 'rejected', approval: { decision: 'rejected', by: 'bob' } });
      expect(problems).toEqual([]);
      expect((await storeCurrent(c.path)).value.password).toBe(c.first.password);
    });
  }
});

describe('forward steps ride out a 20 s PostgreSQL restart (case 5)', () => {
  for (const strategy of ['alternating-users', 'single-user'] as const) {
    it(`${strategy}: PostgreSQL down for 20 s from the start of create: succeeded`, async () => {
      const c = await seed(strategy);
      const prober = startProber(c);
      await stack.pg.down();
      const downAt = Date.now();
      const { handle } = await startRotation(client, taskQueue, c.plan, 'test');
      try {
        await untilPhase(handle, 'create');
        await new Promise((r) => setTimeout(r, Math.max(0, 20_000 - (Date.now() - downAt)))); // the outage's length
      } finally {
        await stack.pg.up();
      }
      const s = await ended(handle);
      const samples = await prober.stop();
      const { row, problems } = await endState(c, s, handle);
      const refused = longestRefusal(samples);
      record(`5 ${strategy}: PostgreSQL restart (20 s) during create`, s.outcome, row, refused);
      expect(s.outcome).toBe('succeeded');
      expect(problems).toEqual([]);
      if (strategy === 'alternating-users') expect(refused).toBe(0);
      else expect(refused).toBeLessThan(WINDOW_AFTER_OUTAGE_MS);
    });

    it(`${strategy}: PostgreSQL down for 20 s while verify runs: succeeded`, async () => {
      const c = await seed(strategy, ["verify: { query: 'select 1, pg_sleep(1)' }"]);
      const prober = startProber(c);
      const { handle } = await startRotation(client, taskQueue, c.plan, 'test');
      await until('verify running', () => verifyRunning(c));
      await stack.pg.down();
      await new Promise((r) => setTimeout(r, 20_000)); // the outage's length
      await stack.pg.up();
      const s = await ended(handle);
      const samples = await prober.stop();
      const { row, problems } = await endState(c, s, handle);
      const refused = longestRefusal(samples);
      record(`5 ${strategy}: PostgreSQL restart (20 s) during verify`, s.outcome, row, refused);
      expect(s.outcome).toBe('succeeded');
      expect(problems).toEqual([]);
      if (strategy === 'alternating-users') expect(refused).toBe(0);
      else expect(refused).toBeLessThan(WINDOW_AFTER_OUTAGE_MS + 1_000);
    });
  }

  // A freeze shorter than a step's 30 s timeout only delays the step (the query waits for the thaw), so this held
  // before outage_tolerance too; it guards that the longer waits changed nothing for a frozen server.
  it('alternating-users: PostgreSQL frozen (SIGSTOP) for 20 s while verify runs: succeeded', async () => {
    const c = await seed('alternating-users', ["verify: { query: 'select 1, pg_sleep(1)' }"]);
    const prober = startProber(c);
    const { handle } = await startRotation(client, taskQueue, c.plan, 'test');
    await until('verify running', () => verifyRunning(c));
    stack.pg.freeze();
    try {
      await new Promise((r) => setTimeout(r, 20_000)); // the freeze's length
    } finally {
      stack.pg.thaw();
    }
    const s = await ended(handle);
    const samples = await prober.stop();
    const { row, problems } = await endState(c, s, handle);
    const refused = longestRefusal(samples);
    record('5 alternating-users: PostgreSQL frozen (20 s) during verify', s.outcome, row, refused);
    expect(s.outcome).toBe('succeeded');
    expect(problems).toEqual([]);
    expect(refused).toBe(0);
  });

  it('a real refusal still fails fast: a verify query the new login may not run rolls back at once, PostgreSQL up', async () => {
    const c = await seed('alternating-users', ["verify: { query: 'select * from pg_authid' }"]);
    const startedAt = Date.now();
    const { handle } = await startRotation(client, taskQueue, c.plan, 'test');
    const s = await ended(handle);
    const { row, problems } = await endState(c, s, handle);
    record('5 alternating-users: verify refused (permission denied), no outage', s.outcome, row, 0);
    expect(s).toMatchObject({ outcome: 'rolled-back', error: { code: 'VERIFY_FAILED' } });
    expect(problems).toEqual([]);
    // Not the outage tolerance (60 s): the refusal ended it after the verify's own few quick tries.
    expect(Date.now() - startedAt).toBeLessThan(30_000);
  });
});

describe('the grace period meets a 15 s outage (case 2)', () => {
  for (const which of ['pg', 'bao'] as const) {
    it(`alternating-users: ${which === 'pg' ? 'PostgreSQL' : 'OpenBao'} restarted (15 s) during the grace period: succeeded, the old login refused`, async () => {
      const c = await seed('alternating-users', ['grace_period: 3s']);
      const prober = startProber(c);
      const { handle } = await startRotation(client, taskQueue, c.plan, 'test');
      await untilPhase(handle, 'revoke');
      await stack[which].down();
      await new Promise((r) => setTimeout(r, 15_000)); // the outage's length
      await stack[which].up();
      const s = await ended(handle);
      const samples = await prober.stop();
      const { row, problems } = await endState(c, s, handle);
      const refused = longestRefusal(samples);
      record(
        `2 alternating-users: ${which === 'pg' ? 'PostgreSQL' : 'OpenBao'} restart (15 s) in the grace period`,
        s.outcome,
        row,
        refused,
      );
      expect(s.outcome).toBe('succeeded');
      expect(problems).toEqual([]);
      expect(refused).toBe(0);
    });
  }
});

// As the PostgreSQL freeze above: this held before the fix as well (the look before revoke waited for the thaw).
describe('the grace period meets a 15 s freeze (case 2)', () => {
  it('alternating-users: OpenBao frozen (SIGSTOP) for 15 s during the grace period: succeeded, the old login refused', async () => {
    const c = await seed('alternating-users', ['grace_period: 3s']);
    const prober = startProber(c);
    const { handle } = await startRotation(client, taskQueue, c.plan, 'test');
    await untilPhase(handle, 'revoke');
    stack.bao.freeze();
    try {
      await new Promise((r) => setTimeout(r, 15_000)); // the freeze's length
    } finally {
      stack.bao.thaw();
    }
    const s = await ended(handle);
    const samples = await prober.stop();
    const { row, problems } = await endState(c, s, handle);
    record('2 alternating-users: OpenBao frozen (15 s) in the grace period', s.outcome, row, longestRefusal(samples));
    expect(s.outcome).toBe('succeeded');
    expect(problems).toEqual([]);
    expect(longestRefusal(samples)).toBe(0);
  });
});

describe('a revoke left unfinished (case 2, the sweep)', () => {
  it('the next sweep withdraws the old login; one it cannot withdraw is tried again, bounded, then needs a human', async () => {
    const finished = await seed('alternating-users', ['grace_period: 2s']);
    const stuck = await seed('alternating-users', ['grace_period: 2s']);
    // A worker whose config has both secrets: the sweep reads its plans there.
    const sweepQueue = `${taskQueue}-sweep`;
    const yaml = configYaml(
      [finished, stuck].map((c) => ({
        name: c.name,
        path: `secret/data/${c.path}`,
        type: 'postgresql',
        target: [`role: ${c.role}`],
        rotation: ['strategy: alternating-users', 'drain: { timeout: 1s }', 'grace_period: 2s'],
      })),
    ).replace(`task_queue: ${taskQueue}`, `task_queue: ${sweepQueue}`);
    const config = parseConfig(yaml, env);
    const own = await createRotatorWorker({ config, dataConverter, workflowBundle: await workflowBundle(), logLevel: 'ERROR' });
    const running = own.worker.run();
    try {
      // Each rotation's revoke is refused: during its grace period a person put the old credential back in the store
      // (the revoke will not withdraw a credential the store publishes), so both end revoke-incomplete.
      const published: Record<string, Record<string, unknown>> = {};
      for (const c of [finished, stuck]) {
        const { handle } = await startRotation(client, sweepQueue, planRotation(config, c.name), 'test');
        await untilPhase(handle, 'revoke');
        published[c.name] = (await storeCurrent(c.path)).value;
        await bao('POST', `secret/data/${c.path}`, { data: { ...published[c.name], ...c.first } });
        expect((await ended(handle)).outcome).toBe('revoke-incomplete');
      }
      // One is put right again: the store publishes the rotation's credential; the other stays as the person left it.
      await bao('POST', `secret/data/${finished.path}`, { data: published[finished.name] });
      const sweep = async (): Promise<SweepReport> =>
        client.workflow.execute(SWEEP, { taskQueue: sweepQueue, workflowId: unique('sweep'), args: [] });
      const failures = (c: Case, n: number) =>
        until(`${n} failed runs of ${c.name} visible`, async () => {
          const standing = (await standings(client, 3_600_000, { only: new Set([c.name]) })).get(c.name);
          return standing?.consecutiveFailures === n;
        });
      await failures(finished, 1);
      await failures(stuck, 1);

      const first = await sweep();
      const startedFor = (r: SweepReport, c: Case) => r.started.find((e) => e.secret === c.name);
      expect(startedFor(first, finished)).toMatchObject({ outcome: 'succeeded', finishesRevoke: true });
      expect(startedFor(first, stuck)).toMatchObject({ outcome: 'revoke-incomplete', finishesRevoke: true });
      const finishing = client.workflow.getHandle(`rotate/${finished.name}`);
      const s = (await closedStatus(finishing))!.status;
      const { row, problems } = await endState(finished, s, finishing);
      record('2 alternating-users: revoke-incomplete, finished by the next sweep', s.outcome, row, 0);
      expect(problems).toEqual([]);
      expect(await logsIn(finished.first.username, finished.first.password)).toBe(false);

      // The other is tried once more, then left to a person: its old login is never silently forgotten.
      await failures(stuck, 2);
      expect(startedFor(await sweep(), stuck)).toMatchObject({ outcome: 'revoke-incomplete', finishesRevoke: true });
      await failures(stuck, 3);
      const last = await sweep();
      expect(startedFor(last, stuck)).toBeUndefined();
      expect(last.notOk.find((r) => r.secret === stuck.name)).toMatchObject({ state: 'needs-human' });
      rows.push(
        `| 2 alternating-users: revoke refused by every sweep (the store publishes the old credential) | needs-human after 3 runs | old login still valid, reported | — |`,
      );
    } finally {
      own.worker.shutdown();
      await running.catch(() => undefined);
      await own.close();
    }
  });
});

describe('single-user rollback meets an outage (case 3)', () => {
  it('cancelled while PostgreSQL is down after the new password was set: restored within moments of PostgreSQL answering', async () => {
    const c = await seed('single-user', ["verify: { query: 'select 1, pg_sleep(1)' }"]);
    const prober = startProber(c);
    const { handle } = await startRotation(client, taskQueue, c.plan, 'test');
    await until('verify running', () => verifyRunning(c));
    await stack.pg.down();
    const downAt = Date.now();
    // Rolled back by the cancel, or by the step giving up by itself: either way the rollback meets the outage.
    await cancelRotation(client, c.name, { by: 'carol', reason: 'outage' }).catch((err: Error) => {
      if (!/already rolling back/.test(err.message)) throw err;
    });
    // Long enough for the restore's backoff to grow (it was 0.5 s doubling to 30 s).
    await until('rollback', async () => (await status(handle))?.phase === 'rollback');
    await new Promise((r) => setTimeout(r, Math.max(0, 25_000 - (Date.now() - downAt)))); // the outage's length
    await stack.pg.up();
    const s = await ended(handle);
    const samples = await prober.stop();
    const { row, problems } = await endState(c, s, handle);
    const refused = longestRefusal(samples);
    record('3 single-user: cancelled, PostgreSQL down (25 s) during the rollback', s.outcome, row, refused);
    expect(s.outcome).toBe('rolled-back');
    expect(problems).toEqual([]);
    expect(refused).toBeLessThan(WINDOW_AFTER_OUTAGE_MS);
  });
});
