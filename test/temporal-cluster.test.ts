// rotator on a real Temporal cluster (src/stack/temporal-cluster.ts): frontend, history, matching and worker as four
// processes of the real server, on PostgreSQL persistence and SQL visibility. Two rotator worker processes and a
// listener process run against it; rotations (started by the API, by a webhook through the listener, by a Schedule
// and by the sweep) and a lease keeper run while (a) history, (b) matching, (c) the frontend restart and (d) the whole
// cluster stops and starts again. Each ends with the kill harness's checks, and the keeper loses no lease.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { VaultDatabaseEngine } from '../activities/stores/vault/public';
import type { SecretValue } from '../activities/types';
import { getDataConverter } from '../src/client/codec/data-converter';
import { ensureKeepers, keeperStatus } from '../src/client/lease-keepers';
import { followRotation, rotationHistory, startRotation } from '../src/client/rotations';
import { applyScheduleSync, planScheduleSync, triggerSchedule } from '../src/client/schedules';
import { parseConfig } from '../src/config/load';
import { planRotation, workflowIdFor } from '../src/config/plan';
import type { Config } from '../src/config/schema';
import { signWebhook } from '../src/listener/http';
import { type TemporalCluster, startTemporalCluster } from '../src/stack/temporal-cluster';
import { SWEEP, type KeeperState, type SweepReport } from '../workflows/lifecycle-definitions';
import { dynamicYaml } from './support/dynamic-config';
import { spawnFaultyWorker, writeBundle, type FaultyWorker } from './support/fault-injection';
import { codecKeyEnv, testCodecKeys, unique, vaultClient, workflowBundle } from './support/harness';
import { startListenerProcess, type ListenerProcess } from './support/listener-process';
import { postgresScenario, type Scenario } from './support/rotation-scenarios';
import { testStack } from './support/stack';
import { pgLogin, pgRole } from './support/vault-roles';
import { connectTemporal } from '../src/client/temporal';

const stack = testStack();
const KEY = randomBytes(24).toString('hex');
const KINDS = ['api', 'webhook', 'schedule', 'sweep'] as const;
type Kind = (typeof KINDS)[number];

let cluster: TemporalCluster;
let config: Config;
let taskQueue: string;
let connection: Connection;
let client: Client;
let listener: ListenerProcess;
let workers: FaultyWorker[] = [];
let secrets: Record<Kind, Scenario>;
let dynamicName: string;
const engine = new VaultDatabaseEngine({ address: stack.vault!.address, token: stack.vault!.token });
const figures: string[] = [];

/** The lines from a scenario's own secret entry to the end of its config (rotatorYaml writes it last). */
function secretBlock(yaml: string, name: string): string[] {
  const lines = yaml.trimEnd().split('\n');
  return lines.slice(lines.indexOf(`  ${name}:`));
}

beforeAll(async () => {
  let t = Date.now();
  cluster = await startTemporalCluster({
    postgres: stack.postgres!,
    dir: mkdtempSync(join(tmpdir(), 'rotator-cluster-')),
  });
  figures.push(`| cluster start (schemas, 4 services, namespace, search attributes) | ${Date.now() - t} ms |`);
  t = Date.now();

  // One config for every process: a PostgreSQL secret per way a rotation starts, a dynamic secret with a keeper.
  taskQueue = unique('cluster');
  const rotation: Record<Kind, string[]> = {
    api: [],
    webhook: [],
    schedule: ['schedule: { every: 30d }'],
    // Always due: the sweep rotates it (and nothing else here) every time it runs.
    sweep: ['max_age: 1ms'],
  };
  const built = await Promise.all(KINDS.map((k) => postgresScenario('alternating-users', taskQueue, rotation[k])));
  secrets = Object.fromEntries(KINDS.map((k, i) => [k, built[i]!])) as Record<Kind, Scenario>;
  dynamicName = unique('dyn');
  const role = await pgRole({ default_ttl: '30s', max_ttl: '10m' });
  // Renewed every ~6 s of a 30 s lease: a restart of any length the tests make is well inside it.
  const lease = ['increment_seconds: 30', 'min_renewal_seconds: 1', 'renew_at: 0.2', 'grace_period: 3s'];
  const dynamic = dynamicYaml(taskQueue, [{ name: dynamicName, role, engine: 'postgresql', lease }]);
  const first = built[0]!.yaml.trimEnd().split('\n');
  const head = first.slice(0, first.indexOf('secrets:'));
  const admin = first.slice(first.indexOf('secrets:') + 1, first.indexOf(`  ${built[0]!.secret}:`));
  const dynLines = dynamic.yaml.trimEnd().split('\n');
  const yaml = [
    ...head,
    // The dynamic secret's provider (the same OpenBao, under its own name).
    ...dynLines.slice(dynLines.indexOf('  bao:'), dynLines.indexOf('secrets:')),
    'secrets:',
    ...admin,
    ...built.flatMap((s) => secretBlock(s.yaml, s.secret)),
    ...secretBlock(dynamic.yaml, dynamicName),
    'sweep:',
    '  every: 24h',
    'triggers:',
    '  listen: { host: 127.0.0.1, port: 0 }',
    '  sources:',
    '    ci:',
    '      type: webhook',
    `      signing_key: ${KEY}`,
    '  rules:',
    `    - { source: ci, resource: ${secrets.webhook.secret}, secret: ${secrets.webhook.secret}, action: rotate }`,
    '',
  ]
    .join('\n')
    .replaceAll(stack.temporal!.address, cluster.address);
  const env = { ...built[0]!.env, ...dynamic.env };
  config = parseConfig(yaml, env);
  expect(config.temporal.address).toBe(cluster.address);

  const keys = testCodecKeys();
  const dir = mkdtempSync(join(tmpdir(), 'rotator-cluster-workers-'));
  const configFile = join(dir, 'rotator.yaml');
  writeFileSync(configFile, yaml, { mode: 0o600 });
  const bundleFile = writeBundle(dir, (await workflowBundle()).code);
  workers = [1, 2].map(() =>
    spawnFaultyWorker({ configFile, bundleFile, env: { ...env, ROTATOR_CODEC_KEY: codecKeyEnv(keys) } }),
  );
  listener = await startListenerProcess(yaml, env, keys);
  connection = await connectTemporal({ address: cluster.address });
  client = new Client({ connection, namespace: cluster.namespace, dataConverter: getDataConverter(keys) });

  // What `rotator schedule sync` does: a Schedule for the scheduled secret and one for the sweep, and the keeper.
  await applyScheduleSync(client, config, await planScheduleSync(client, config));
  await ensureKeepers(client, config);
  const kept = await keeper((s) => s.current !== null && s.renewed >= 1, 60_000);
  expect(await pgLogin(kept.current!.username, await publishedPassword())).toBe('ok');
  figures.push(`| workers, listener, schedules, keeper issued and renewed once | ${Date.now() - t} ms |`);
}, 300_000);

afterAll(async () => {
  await Promise.allSettled([...workers.map((w) => w.stop()), listener?.stop(), connection?.close()]);
  await cluster?.close();
  await engine.close();
  process.stderr.write(`\n| temporal-cluster.test.ts | time |\n|---|---|\n${figures.join('\n')}\n`);
}, 120_000);

/** The password the keeper published last. */
async function publishedPassword(): Promise<string> {
  const body = (await vaultClient().read(`secret/data/dynamic/${dynamicName}`)) as { data: { data: SecretValue } };
  return String(body.data.data.password);
}

/** Polls the keeper until `ok` holds (bounded); the last state seen. */
async function keeper(ok: (s: KeeperState) => boolean, within = 60_000): Promise<KeeperState> {
  const deadline = Date.now() + within;
  for (;;) {
    const s = await keeperStatus(client, dynamicName).catch(() => null);
    if (s && ok(s)) return s;
    if (Date.now() > deadline) throw new Error(`the keeper did not get there; last: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The run of rotate/<secret> that is not `previous`, once it has closed (bounded). */
async function nextRun(secret: string, previous: string | null, within: number): Promise<WorkflowHandle> {
  const deadline = Date.now() + within;
  for (;;) {
    const d = await client.workflow
      .getHandle(workflowIdFor(secret))
      .describe()
      .catch(() => null);
    if (d && d.runId !== previous && d.status.name !== 'RUNNING')
      return client.workflow.getHandle(d.workflowId, d.runId, { followRuns: false });
    if (Date.now() > deadline) throw new Error(`no new rotation of ${secret} closed within ${within} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function lastRunId(secret: string): Promise<string | null> {
  return (
    (await client.workflow
      .getHandle(workflowIdFor(secret))
      .describe()
      .catch(() => null)) ?? { runId: null }
  ).runId;
}

/**
 * Starts a rotation each way (API, webhook through the listener, the Schedule, the sweep), runs `disrupt` while they
 * are in flight, and then checks each rotation's end state and the keeper's lease.
 */
async function underDisruption(label: string, disrupt: () => Promise<void>): Promise<void> {
  const t0 = Date.now();
  const before = Object.fromEntries(
    await Promise.all(
      KINDS.map(async (k) => [k, { value: await secrets[k].current(), run: await lastRunId(secrets[k].secret) }]),
    ),
  ) as Record<Kind, { value: { version: number; value: SecretValue }; run: string | null }>;
  const keptBefore = await keeper((s) => s.current !== null);

  await startRotation(client, taskQueue, planRotation(config, secrets.api.secret));
  const body = JSON.stringify({
    id: unique('evt'),
    type: 'rotator.rotate',
    secret: secrets.webhook.secret,
    time: new Date().toISOString(),
  });
  const hook = await fetch(`${listener.url}/hooks/ci`, {
    method: 'POST',
    body,
    headers: { 'Content-Type': 'application/json', ...signWebhook(KEY, body), 'X-Rotator-Event-Id': JSON.parse(body).id },
  });
  expect(hook.status).toBe(202);
  await triggerSchedule(client, secrets.schedule.secret);
  const sweep = await client.workflow.start(SWEEP, { taskQueue, workflowId: unique('sweep'), args: [] });

  const tDisrupt = Date.now();
  await disrupt();
  const disruptMs = Date.now() - tDisrupt;

  const problems: string[] = [];
  const outcomes: string[] = [];
  for (const k of KINDS) {
    const handle = await nextRun(secrets[k].secret, before[k].run, 120_000);
    const { status } = await followRotation(handle);
    outcomes.push(`${k} ${status.outcome}`);
    problems.push(...(await secrets[k].problems(status, before[k].value)).map((p) => `${k}: ${p}`));
  }
  const report: SweepReport = await sweep.result();
  const swept = report.started.find((s) => s.secret === secrets.sweep.secret);
  if (swept?.outcome !== 'succeeded') problems.push(`sweep: ${secrets.sweep.secret} ${swept?.outcome ?? 'not started'}`);
  // Visibility (PostgreSQL, by rotator's search attributes) lists the new runs.
  const listed = await rotationHistory(client, secrets.api.secret, 1);
  if (listed[0]?.outcome !== 'succeeded') problems.push(`visibility lists the api rotation as ${listed[0]?.outcome}`);

  // The keeper renewed after the disruption, lost nothing, and what it published logs in and is a live lease.
  const kept = await keeper((s) => s.renewed > keptBefore.renewed && s.current !== null, 60_000);
  if (kept.lost !== 0) problems.push(`keeper lost ${kept.lost} lease(s)`);
  if (kept.irrevocable.length > 0) problems.push(`keeper: irrevocable ${JSON.stringify(kept.irrevocable)}`);
  if (!(await engine.lookup(kept.current!.leaseId))) problems.push('keeper: OpenBao no longer knows its lease');
  const login = await pgLogin(kept.current!.username, await publishedPassword());
  if (login !== 'ok') problems.push(`keeper: the published login is refused (${login})`);

  figures.push(
    `| ${label} | disruption ${disruptMs} ms, scenario ${Date.now() - t0} ms; ${outcomes.join(', ')}; keeper renewed ${kept.renewed - keptBefore.renewed}×, lost ${kept.lost}; ${problems.length === 0 ? 'all checks hold' : problems.join('; ')} |`,
  );
  expect(problems).toEqual([]);
  expect(outcomes).toEqual(KINDS.map((k) => `${k} succeeded`));
  expect(workers.map((w) => w.child.exitCode)).toEqual([null, null]);
}

describe('rotator on a real Temporal cluster', () => {
  it('(a) rotations, the sweep, a Schedule and a lease keeper come through a restart of the history service', async () => {
    await underDisruption('(a) history restarted', () => cluster.restart('history'));
  }, 240_000);

  it('(b) … a restart of the matching service', async () => {
    await underDisruption('(b) matching restarted', () => cluster.restart('matching'));
  }, 240_000);

  it('(c) … a restart of the frontend behind the workers’, the listener’s and the client’s open connections', async () => {
    await underDisruption('(c) frontend restarted', () => cluster.restart('frontend'));
  }, 240_000);

  it('(d) … the whole cluster stopped and started again', async () => {
    await underDisruption('(d) whole cluster stopped and started', async () => {
      await cluster.stopAll();
      await cluster.startAll();
    });
  }, 240_000);
});
