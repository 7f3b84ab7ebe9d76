// The fault matrix: Toxiproxy (test/support/toxiproxy.ts) between rotator's worker and each system a rotation talks
// to (OpenBao, moto's Secrets Manager, PostgreSQL, Redis, MariaDB, FerretDB, kube-apiserver, a webhook receiver), and for each strategy, each step and each fault, the fault put on the step's
// system exactly while that step runs (the worker's activity hook at `before:<step>`, where the kill harness kills).
// Every cell checks that the outcome tells the truth and the end state agrees with it (the store's credential logs
// in, the previous one as the outcome says, no pending value, no login holding an unknown password), that the step
// ended within its retry budget (workflows/lib/policies.ts), that a failure's message names the system and the step,
// and that no secret is in any error. `npm test` runs a few cells; `npm run chaos` (ROTATOR_FAULT_CELLS=all) all.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { msToNumber, type Duration } from '@temporalio/common';
import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';
import { restartAnnotationKey } from '../activities/consumers/rollout/public';
import { worstCaseMs } from '../activities/consumers/webhook';
import { REQUEST_TIMEOUT_MS } from '../activities/timeouts';
import { getDataConverter } from '../src/client/codec/data-converter';
import { followRotation, startRotation } from '../src/client/rotations';
import { parseConfig } from '../src/config/load';
import { planRotation } from '../src/config/plan';
import type { Outcome, RotationStatus } from '../workflows/definitions';
import { COMPENSATE, forwardIo, heartbeatingWait, IRREVERSIBLE, RESTORE, SHORT_IO } from '../workflows/lib/policies';
import { createRotatorWorker } from '../workers/worker';
import { DeploymentController } from './support/deployment-controller';
import { pool } from './support/fault-harness';
import { unique, vaultClient } from './support/harness';
import { adminClients, deployment, kubeconfigFile, namespaceFor } from './support/kube';
import {
  postgresScenario,
  redisDualScenario,
  vaultVersion,
  type Scenario,
  type ScenarioStrategy,
} from './support/rotation-scenarios';
import { awsPostgresScenario, type AwsScenario } from './support/aws-scenario';
import { mongoScenario } from './support/mongo-scenario';
import { mysqlScenario } from './support/mysql-scenario';
import { testCodecKeys, workflowBundle } from './support/rotator';
import { testStack } from './support/stack';
import { vaultTestStore } from './support/test-stores';
import { stepHooks } from './support/fault-injection';
import { startToxiproxy, type Proxy, type Toxic, type Toxiproxy } from './support/toxiproxy';
import { connectTemporal } from '../src/client/temporal';

/** How long a forward step rides out its system failing here (`outage_tolerance`; 60 s when not configured). */
const TOLERANCE_MS = 10_000;
/** How long a fault that outlasts the step's tolerance stays on: a forward step gives up, the others ride it out. */
const OUTAGE_MS = TOLERANCE_MS + 5_000;
/** Down-then-back: the system is gone this long, then answers again. */
const BLIP_MS = 3_000;
/** The forward steps that ride out an outage of their system for the rotation's outage_tolerance. */
const RIDES_OUT = [
  'inspect',
  'stageCredential',
  'applyCredential',
  'verifyCredential',
  'promote',
  'planReconnect',
  'restartWorkloads',
  'awaitRollout',
];
/**
 * How much earlier than its outage_tolerance a step may give up: a local step stops when its next attempt would start
 * within a second of the end (activities/guarded.ts), its attempts at most 2 s apart; a regular one (the rollout's
 * wait) counts the outage itself. Its start as the hook sees it is a little after it was scheduled.
 */
const toleranceSlackMs = (step: string) => (step === 'awaitRollout' ? 1_000 : 3_500);
/** Cells at once: each is mostly waiting for its step's retries. */
const CONCURRENCY = 6;

type Dep = 'openbao' | 'moto' | 'postgresql' | 'redis' | 'mariadb' | 'ferretdb' | 'kubernetes' | 'webhook';
/**
 * The strategies, and alternating-users with consumers: a signed webhook and a Deployment rolled out through the
 * real kube-apiserver (its controller the stand-in of test/support/deployment-controller.ts), whose cells fault only
 * the consumer steps (the store and target steps are alternating-users' own cells).
 */
type MatrixStrategy = ScenarioStrategy | 'consumers' | MariadbStrategy | MongodbStrategy | AwsStrategy;
/** The MySQL target's strategies on the stack's MariaDB (which has no dual password). */
type MariadbStrategy = 'alternating-users/mariadb' | 'single-user/mariadb';
const isMariadb = (s: MatrixStrategy): s is MariadbStrategy => s.endsWith('/mariadb');
/** The MongoDB target's strategies on the stack's FerretDB (proxied on its client port; FerretDB→PostgreSQL is direct). */
type MongodbStrategy = 'alternating-users/mongodb' | 'single-user/mongodb';
const isMongodb = (s: MatrixStrategy): s is MongodbStrategy => s.endsWith('/mongodb');
/**
 * alternating-users on PostgreSQL with its secret in AWS Secrets Manager (the stack's moto): its cells fault only the
 * store steps (the target steps are alternating-users' own cells).
 */
type AwsStrategy = 'alternating-users/aws-secrets-manager';
const isAws = (s: MatrixStrategy): s is AwsStrategy => s.endsWith('/aws-secrets-manager');
const baseStrategy = (s: MariadbStrategy | MongodbStrategy) =>
  s.startsWith('single-user/') ? ('single-user' as const) : ('alternating-users' as const);
const CONSUMERS_STRATEGY = 'alternating-users' as const;
type Flow = 'forward' | 'rollback';

interface Fault {
  name: string;
  /** What the proxy does while it is on: toxics, or the proxy disabled (down). */
  toxics: Toxic[];
  down?: boolean;
  /** How long after the step started the fault is lifted (it is lifted anyway when the next step starts). */
  forMs: number;
}

const FAULTS: Fault[] = [
  { name: 'latency<timeout', toxics: [{ type: 'latency', attributes: { latency: 300, jitter: 0 } }], forMs: Infinity },
  {
    name: 'latency>timeout',
    toxics: [{ type: 'latency', attributes: { latency: REQUEST_TIMEOUT_MS + 5_000, jitter: 0 } }],
    forMs: OUTAGE_MS,
  },
  { name: 'reset_peer', toxics: [{ type: 'reset_peer', attributes: { timeout: 0 } }], forMs: OUTAGE_MS },
  { name: 'blackhole', toxics: [{ type: 'timeout', attributes: { timeout: 0 } }], forMs: OUTAGE_MS },
  {
    name: 'slicer+slow_close',
    toxics: [
      { type: 'slicer', attributes: { average_size: 16, size_variation: 8, delay: 2_000 } },
      { type: 'slow_close', attributes: { delay: 2_000 } },
    ],
    forMs: Infinity,
  },
  { name: 'down-then-back', toxics: [], down: true, forMs: BLIP_MS },
  // Down for longer than the step keeps trying (lifted when the next step starts).
  { name: 'down', toxics: [], down: true, forMs: Infinity },
];

/** The system each step talks to: the store (OpenBao) or the strategy's target. */
const STEP_SYSTEMS: Record<string, Array<'store' | 'target' | 'kubernetes' | 'webhook'>> = {
  planReconnect: ['kubernetes'],
  notifyConsumer: ['webhook'],
  restartWorkloads: ['kubernetes'],
  awaitRollout: ['kubernetes'],
  inspect: ['store'],
  stageCredential: ['store'],
  applyCredential: ['target', 'store'],
  verifyCredential: ['target'],
  promote: ['store'],
  waitForDrain: ['target'],
  revokeLogin: ['target'],
  removePassword: ['target'],
  discardPending: ['store'],
  rollbackStore: ['store'],
  disableLogin: ['target'],
  restorePassword: ['target', 'store'],
  holdsClaim: ['store'],
};

/** The words an operator reads for each step, besides its activity name. */
const STEP_WORDS: Record<string, string[]> = {
  inspect: ['inspect'],
  stageCredential: ['stage'],
  applyCredential: ['apply', 'create'],
  verifyCredential: ['verify'],
  promote: ['promote', 'publish'],
  waitForDrain: ['drain'],
  revokeLogin: ['revoke'],
  removePassword: ['revoke', 'withdraw'],
  discardPending: ['discard'],
  rollbackStore: ['rollback', 'roll back'],
  disableLogin: ['disable', 'withdraw'],
  restorePassword: ['restore'],
  planReconnect: ['planReconnect'],
  notifyConsumer: ['notify'],
  restartWorkloads: ['restart'],
  awaitRollout: ['rollout', 'roll out'],
};

const SYSTEM_WORDS: Record<Dep, RegExp> = {
  openbao: /openbao|vault/i,
  postgresql: /postgres/i,
  redis: /redis/i,
  mariadb: /mariadb|mysql/i,
  ferretdb: /mongodb|ferretdb/i,
  // The scenario's provider is called `store`: the words must be the store's own.
  moto: /aws|secrets manager/i,
  kubernetes: /kubernetes/i,
  webhook: /webhook/i,
};

/** The consumers scenario's webhook: four attempts of at most 2 s, 0.5 s, 1 s, 2 s apart. */
const WEBHOOK = { type: 'webhook', timeout: '2s', attempts: 4, backoff: '500ms' };
/** The consumers scenario's rollout timeout (a batch's rollout takes a few hundred ms from the stand-in). */
const ROLLOUT_TIMEOUT_MS = 30_000;

const ms = (d: Duration | undefined): number => (d === undefined ? 0 : msToNumber(d));

/** A policy's whole retry budget: every attempt to its start-to-close timeout, and every backoff between them. */
function retryBudgetMs(options: ActivityOptions | LocalActivityOptions): number {
  const retry = options.retry ?? {};
  if (options.scheduleToCloseTimeout !== undefined) return ms(options.scheduleToCloseTimeout);
  const attempts = retry.maximumAttempts ?? Infinity;
  if (!Number.isFinite(attempts)) return Infinity;
  let backoff = 0;
  let interval = ms(retry.initialInterval ?? 1000);
  for (let i = 1; i < attempts; i++) {
    backoff += Math.min(interval, ms(retry.maximumInterval ?? interval * 100));
    interval *= retry.backoffCoefficient ?? 2;
  }
  return attempts * ms(options.startToCloseTimeout) + backoff;
}

/**
 * How long a step may take, by the policy it runs under (workflows/rotation/context.ts): forward steps their outage
 * tolerance (plus the one request in flight when it passes), revoke and release IRREVERSIBLE's, compensations
 * COMPENSATE's, single-user's restore RESTORE's (unbounded: it waits for the database).
 */
function stepBudgetMs(step: string, flow: Flow): number {
  const forward = retryBudgetMs(forwardIo(TOLERANCE_MS)) + REQUEST_TIMEOUT_MS;
  switch (step) {
    case 'notifyConsumer':
      // CONSUMER_FAILED is not retried: the webhook's own attempts are the step's budget.
      return worstCaseMs({ ...WEBHOOK, url: 'http://x', signing_key: 'secret://k/key' }) + REQUEST_TIMEOUT_MS;
    case 'restartWorkloads':
      return flow === 'forward' ? forward : retryBudgetMs(COMPENSATE);
    case 'awaitRollout':
      return retryBudgetMs({
        ...heartbeatingWait(ROLLOUT_TIMEOUT_MS),
        retry: flow === 'forward' ? SHORT_IO.retry : COMPENSATE.retry,
      });
    case 'planReconnect':
    case 'inspect':
    case 'stageCredential':
    case 'applyCredential':
    case 'verifyCredential':
    case 'promote':
      return forward;
    case 'waitForDrain':
      return retryBudgetMs({ ...heartbeatingWait(1_000), retry: IRREVERSIBLE.retry });
    case 'revokeLogin':
      return retryBudgetMs(IRREVERSIBLE);
    case 'removePassword':
      return retryBudgetMs(flow === 'forward' ? IRREVERSIBLE : COMPENSATE);
    case 'discardPending':
      return retryBudgetMs(flow === 'forward' ? IRREVERSIBLE : COMPENSATE);
    case 'restorePassword':
      return retryBudgetMs(RESTORE);
    default:
      return retryBudgetMs(COMPENSATE);
  }
}

interface Cell {
  strategy: MatrixStrategy;
  /** forward: a rotation that succeeds unless the fault stops it; rollback: one whose verify query fails. */
  flow: Flow;
  step: string;
  /** Which run of the step (a step that runs twice in a flow, as discard does). */
  occurrence: number;
  dep: Dep;
  fault: Fault;
}

interface Result {
  cell: Cell;
  outcome: Outcome;
  seconds: number;
  stepSeconds: number;
  budgetSeconds: number;
  reached: boolean;
  problems: string[];
  message: string;
}

const cellName = (c: Cell) =>
  `${c.strategy} ${c.flow === 'rollback' ? '(rollback) ' : ''}${c.step}${c.occurrence > 1 ? `#${c.occurrence}` : ''} ${c.dep} ${c.fault.name}`;

let toxiproxy: Toxiproxy;
let client: Client;
let connection: Connection;
const keys = testCodecKeys();
const dataConverter = getDataConverter(keys);

beforeAll(async () => {
  toxiproxy = await startToxiproxy();
  connection = await connectTemporal({ address: testStack().temporal!.address });
  client = new Client({ connection, dataConverter });
});
afterAll(async () => {
  await connection?.close();
  await toxiproxy?.stop();
});

const targetOf = (strategy: MatrixStrategy): Dep =>
  strategy === 'dual-password' ? 'redis' : isMariadb(strategy) ? 'mariadb' : isMongodb(strategy) ? 'ferretdb' : 'postgresql';
const storeOf = (strategy: MatrixStrategy): Dep => (isAws(strategy) ? 'moto' : 'openbao');

const FAILING_VERIFY: Record<Exclude<MatrixStrategy, 'consumers'>, string> = {
  'alternating-users': 'select rotator_fault_matrix_no_such_function()',
  'single-user': 'select rotator_fault_matrix_no_such_function()',
  'alternating-users/mariadb': 'select rotator_fault_matrix_no_such_function()',
  'single-user/mariadb': 'select rotator_fault_matrix_no_such_function()',
  'alternating-users/mongodb': '{\\"rotatorFaultMatrixNoSuchCommand\\":1}',
  'single-user/mongodb': '{\\"rotatorFaultMatrixNoSuchCommand\\":1}',
  'alternating-users/aws-secrets-manager': 'select rotator_fault_matrix_no_such_function()',
  'dual-password': 'ROTATORFAULTMATRIXNOSUCHCOMMAND',
};

/**
 * The strategy's secret, seeded on the real stack, with its worker talking to OpenBao and the target only through
 * proxies: the provider's address, the target's host and port, and the stored value's (where verify logs in).
 */
async function proxiedScenario(
  strategy: MatrixStrategy,
  flow: Flow,
  taskQueue: string,
): Promise<{ scenario: Scenario; proxies: Partial<Record<Dep, Proxy>>; targetDep: Dep; secrets: string[] }> {
  const rotation = [`outage_tolerance: ${TOLERANCE_MS / 1000}s`];
  if (flow === 'rollback' && strategy !== 'consumers') rotation.push(`verify: { query: "${FAILING_VERIFY[strategy]}" }`);
  let scenario: Scenario =
    strategy === 'dual-password'
      ? await redisDualScenario(taskQueue, rotation)
      : isMariadb(strategy)
        ? await mysqlScenario(baseStrategy(strategy), taskQueue, rotation)
        : isMongodb(strategy)
          ? await mongoScenario(baseStrategy(strategy), taskQueue, rotation)
          : isAws(strategy)
            ? await awsPostgresScenario(taskQueue, rotation)
            : await postgresScenario(strategy === 'consumers' ? CONSUMERS_STRATEGY : strategy, taskQueue, rotation);
  const stack = testStack();
  const targetDep = targetOf(strategy);
  const upstream =
    targetDep === 'redis'
      ? stack.redis!
      : targetDep === 'mariadb'
        ? stack.mariadb!
        : targetDep === 'ferretdb'
          ? stack.ferretdb!
          : stack.postgres!;
  const storeDep = storeOf(strategy);
  const storeAddress = storeDep === 'moto' ? stack.moto!.endpoint : stack.vault!.address;
  const storeUrl = new URL(storeAddress);
  const [store, target] = await Promise.all([
    toxiproxy.proxy(`${taskQueue}-${storeDep}`, { host: storeUrl.hostname, port: Number(storeUrl.port) }),
    toxiproxy.proxy(`${taskQueue}-${targetDep}`, { host: upstream.host, port: upstream.port }),
  ]);
  const proxies: Partial<Record<Dep, Proxy>> = { [storeDep]: store, [targetDep]: target };
  const secrets: string[] = [];
  if (strategy === 'consumers') {
    const consumers = await withConsumers(scenario, flow, taskQueue);
    scenario = consumers.scenario;
    Object.assign(proxies, consumers.proxies);
    secrets.push(...consumers.secrets);
  }
  const yaml = scenario.yaml
    .split(storeAddress)
    .join(`http://${store.address}`)
    .replace(/^(\s+)connection: (secret:\/\/\S+)$/m, `$1connection: $2\n$1host: "${target.host}"\n$1port: ${target.port}`);
  if (yaml === scenario.yaml) throw new Error(`the scenario config names no ${storeDep} address to proxy`);
  const pointAt = (scenario as Partial<AwsScenario>).pointAt;
  if (pointAt) await pointAt(target.host, target.port);
  else {
    const path = `test/${scenario.secret}`;
    const current = (await vaultVersion(path))!;
    await vaultClient().write(`secret/data/${path}`, { data: { ...current.value, host: target.host, port: target.port } });
  }
  const plan = planRotation(parseConfig(yaml, scenario.env), scenario.secret);
  return { scenario: { ...scenario, yaml, plan }, proxies, targetDep, secrets };
}

/**
 * Consumers for an alternating-users secret: first a signed webhook whose receiver (a real HTTP server) is reached
 * through a proxy, then a Deployment rolled out through a proxy in front of the real kube-apiserver (TCP through: the
 * kubeconfig names https://127.0.0.1:<proxy port>, which the server's certificate covers). The Deployment controller
 * is the stand-in of test/support/deployment-controller.ts and talks to the API server directly, never through the
 * proxy. In the rollback flow the rollout fails once (ProgressDeadlineExceeded), so the undo restarts the Deployment
 * onto the old version and waits for that. The end state checks add: after a success the Deployment was restarted
 * onto the published version; otherwise it is not left on the withdrawn one; its last rollout is complete.
 */
async function withConsumers(
  base: Scenario,
  flow: Flow,
  taskQueue: string,
): Promise<{ scenario: Scenario; proxies: Partial<Record<Dep, Proxy>>; secrets: string[] }> {
  const received: string[] = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const closeReceiver = () => new Promise<void>((r) => receiver.close(() => r()));
  const api = new URL(testStack().kubernetes!.server);
  const [hook, kube] = await Promise.all([
    toxiproxy.proxy(`${taskQueue}-webhook`, { host: '127.0.0.1', port: (receiver.address() as AddressInfo).port }),
    toxiproxy.proxy(`${taskQueue}-kubernetes`, { host: api.hostname, port: Number(api.port) }),
  ]);
  const key = randomBytes(32).toString('hex');
  const keyName = unique('hook_key');
  const vault = vaultTestStore();
  await vault.write(keyName, { key });

  const namespace = await namespaceFor('rotator');
  const { apps } = adminClients();
  await apps.createNamespacedDeployment({ namespace, body: deployment('api', 'orders-db') });
  const controller = await new DeploymentController(namespace).start();
  await controller.until((r) => r.some((x) => x.outcome === 'complete'), 'the first rollout of api');
  controller.rollouts.length = 0;
  if (flow === 'rollback') controller.set('api', 'fail-once');
  // The same kubeconfig as the documented rotator user's, its server the proxy.
  const direct = kubeconfigFile('rotator');
  const kubeconfig = `${direct}-proxied`;
  const config = JSON.parse(readFileSync(direct, 'utf8')) as { clusters: Array<{ cluster: { server: string } }> };
  config.clusters[0]!.cluster.server = `https://${kube.address}`;
  writeFileSync(kubeconfig, JSON.stringify(config), { mode: 0o600 });

  const yaml =
    base.yaml.replace(
      /^secrets:$/m,
      ['secrets:', `  ${keyName}:`, '    provider: vault', `    path: ${vault.configPath(keyName)}`].join('\n'),
    ) +
    [
      '    consumers:',
      '      - type: webhook',
      `        url: http://${hook.address}/rotated`,
      `        signing_key: secret://${keyName}/key`,
      `        timeout: ${WEBHOOK.timeout}`,
      `        attempts: ${WEBHOOK.attempts}`,
      `        backoff: ${WEBHOOK.backoff}`,
      '      - type: rollout',
      `        kubeconfig: ${kubeconfig}`,
      `        namespace: ${namespace}`,
      '        workloads: [{ kind: Deployment, name: api }]',
      `        timeout: ${ROLLOUT_TIMEOUT_MS / 1000}s`,
      '',
    ].join('\n');
  const annotation = restartAnnotationKey(base.secret);
  return {
    proxies: { webhook: hook, kubernetes: kube },
    secrets: [key],
    scenario: {
      ...base,
      yaml,
      plan: planRotation(parseConfig(yaml, base.env), base.secret),
      async problems(status, before) {
        const problems = await base.problems(status, before);
        const d = await apps.readNamespacedDeployment({ name: 'api', namespace });
        const on = d.spec?.template?.metadata?.annotations?.[annotation];
        if (status.outcome === 'succeeded' && on !== status.version)
          problems.push(`Deployment api is on ${on ?? 'no version'}, not the published ${status.version}`);
        if (status.outcome !== 'succeeded' && status.version !== undefined && on === status.version)
          problems.push(`Deployment api is left on the withdrawn version ${status.version}`);
        // The last restart rolled out (the stand-in writes its status within a second of the generation).
        await controller
          .until((r) => r.length === 0 || r.at(-1)!.outcome !== null, 'the last rollout of api to end', { deadlineMs: 10_000 })
          .catch((err: unknown) => problems.push((err as Error).message));
        if (controller.rollouts.at(-1)?.outcome === 'failed')
          problems.push('the last rollout of api failed: its pods hold no working credential');
        if (status.outcome === 'succeeded' && !received.some((b) => b.includes(`"version":"${status.version}"`)))
          problems.push('the webhook receiver never got the published version');
        return problems;
      },
      async close() {
        controller.stop();
        await closeReceiver();
        await base.close();
        await adminClients()
          .core.deleteNamespace({ name: namespace })
          .catch(() => undefined);
      },
    },
  };
}

/** A clean run of a flow: the steps it goes through, in order, as (step, occurrence). */
async function stepsOf(strategy: MatrixStrategy, flow: Flow): Promise<Array<{ step: string; occurrence: number }>> {
  const steps: Array<{ step: string; occurrence: number }> = [];
  const seen = new Map<string, number>();
  await runCell({ strategy, flow, step: '', occurrence: 0, dep: 'openbao', fault: FAULTS[0]! }, (activity, attempt) => {
    if (attempt !== 1) return;
    const occurrence = (seen.get(activity) ?? 0) + 1;
    seen.set(activity, occurrence);
    steps.push({ step: activity, occurrence });
  });
  return steps;
}

async function runCell(cell: Cell, onStep?: (activity: string, attempt: number) => void): Promise<Result> {
  const taskQueue = unique('fm');
  const { scenario, proxies, secrets: more } = await proxiedScenario(cell.strategy, cell.flow, taskQueue);
  const proxy = proxies[cell.dep]!;
  if (cell.step && !proxy) throw new Error(`${cellName(cell)}: no such system`);
  const errors: string[] = [];
  const started = Date.now();
  const seen = new Map<string, number>();
  let faultOn = false;
  let reached = false;
  let stepStart = 0;
  let stepEnd = 0;
  let lift: NodeJS.Timeout | undefined;
  let lifting: Promise<void> = Promise.resolve();
  const liftFault = () => {
    if (!faultOn) return lifting;
    faultOn = false;
    clearTimeout(lift);
    lifting = (async () => {
      if (cell.fault.down) await proxy.setEnabled(true);
      for (const [i] of cell.fault.toxics.entries()) await proxy.removeToxic(`fault${i}`);
    })();
    return lifting;
  };
  const timeline: string[] = [];
  const at = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
  const live = process.env.ROTATOR_FAULT_TRACE === 'live';
  const note = (line: string) => {
    timeline.push(line);
    if (live) process.stderr.write(`${cellName(cell)}: ${line.slice(0, 200)}\n`);
  };
  const hooks = stepHooks({
    async before({ activity, attempt }) {
      note(`${at()} start ${activity} attempt ${attempt}`);
      onStep?.(activity, attempt);
      let occurrence = seen.get(activity) ?? 0;
      if (attempt === 1) seen.set(activity, ++occurrence);
      const ours = activity === cell.step && occurrence === cell.occurrence;
      if (!ours) {
        if (reached && !stepEnd) stepEnd = Date.now();
        await liftFault();
        return;
      }
      if (reached) return;
      reached = true;
      stepStart = Date.now();
      faultOn = true;
      if (cell.fault.down) await proxy.setEnabled(false);
      for (const [i, toxic] of cell.fault.toxics.entries()) await proxy.addToxic(`fault${i}`, toxic);
      if (Number.isFinite(cell.fault.forMs)) lift = setTimeout(() => void liftFault(), cell.fault.forMs);
    },
    async after({ activity, attempt }, error) {
      note(`${at()} end ${activity} attempt ${attempt}${error ? `: ${String(error)}` : ''}`);
      if (error) errors.push(error instanceof Error ? `${error.message} ${String(error.cause ?? '')}` : String(error));
    },
  });
  const config = parseConfig(scenario.yaml, scenario.env);
  const rotator = await createRotatorWorker({
    config,
    dataConverter,
    workflowBundle: await workflowBundle(),
    logLevel: 'ERROR',
    interceptors: { activity: hooks },
  });
  const running = rotator.worker.run();
  try {
    const before = await scenario.current();
    const { handle } = await startRotation(client, taskQueue, scenario.plan);
    // A step that outlives its budget must fail the cell, not hang the suite: give up on the rotation a minute after
    // the budget (the other steps take seconds) and say so.
    const budgetMs = cell.step ? stepBudgetMs(cell.step, cell.flow) : Infinity;
    // Capped at 8 minutes: every fault is lifted within 15 s (down: when the next step starts), and the slowest step
    // that gives up (a revoke whose attempts all hang) does within 6; an undo's budget of half an hour is what it
    // would keep trying for, not what a cell may take (a worker that wedges must not hold the run that long).
    const deadlineMs = Math.min(Number.isFinite(budgetMs) ? budgetMs : Infinity, 7 * 60_000) + 60_000;
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<null>((res) => (timer = setTimeout(() => res(null), deadlineMs)));
    const followed = await Promise.race([followRotation(handle), hung]).finally(() => clearTimeout(timer));
    if (!followed) {
      await handle.terminate('fault matrix: the rotation outlived its step budget').catch(() => undefined);
      await liftFault();
      const stepMs = reached ? Date.now() - stepStart : 0;
      return {
        cell,
        outcome: 'running' as Outcome,
        seconds: (Date.now() - started) / 1000,
        stepSeconds: stepMs / 1000,
        budgetSeconds: budgetMs / 1000,
        reached,
        problems: [
          `still running ${Math.round(deadlineMs / 1000)} s on, beyond the step's budget of ${Math.round(budgetMs / 1000)} s`,
        ],
        message: timeline.at(-1) ?? '',
      };
    }
    const { status } = followed;
    const ended = Date.now();
    if (reached && !stepEnd) stepEnd = ended;
    await liftFault();
    // revoke-incomplete: published and working, the old credential still valid, as the outcome says.
    // failed: it stopped before it changed anything, so everything must be as it was (as after a rollback).
    const problems =
      status.outcome === 'failed'
        ? await scenario.problems({ ...status, outcome: 'rolled-back' }, before)
        : status.outcome === 'revoke-incomplete'
          ? (await scenario.problems({ ...status, outcome: 'succeeded' }, before)).filter((p) => !/still logs in/.test(p))
          : await scenario.problems(status, before);
    if (cell.flow === 'rollback' && status.outcome === 'succeeded') problems.push('a verify that fails ended succeeded');
    const message = status.error?.message ?? '';
    problems.push(...messageProblems(cell, status));
    const secrets = [
      ...(await scenario.passwords()),
      testStack().vault!.token,
      testStack().postgres!.password,
      testStack().mariadb?.password ?? '',
      testStack().ferretdb?.password ?? '',
      ...more,
    ];
    const said = [JSON.stringify(status), ...errors].join('\n');
    for (const s of secrets) if (s && said.includes(s)) problems.push('a secret value is in an error or the status');
    const stepMs = reached ? stepEnd - stepStart : 0;
    if (stepMs > budgetMs) problems.push(`the step took ${stepMs} ms, beyond its budget of ${budgetMs} ms`);
    // The other bound: a forward step that an outage stopped kept trying for its outage_tolerance first (the webhook
    // has its own attempts instead).
    if (
      cell.flow === 'forward' &&
      RIDES_OUT.includes(cell.step) &&
      status.outcome !== 'succeeded' &&
      status.error?.code === 'TRANSIENT' &&
      stepMs < TOLERANCE_MS - toleranceSlackMs(cell.step)
    )
      problems.push(
        `the step gave up after ${(stepMs / 1000).toFixed(1)} s, before its outage_tolerance of ${TOLERANCE_MS / 1000} s`,
      );
    if (process.env.ROTATOR_FAULT_TRACE) process.stderr.write(`\n${cellName(cell)}\n  ${timeline.join('\n  ')}\n`);
    return {
      cell,
      outcome: status.outcome,
      seconds: (ended - started) / 1000,
      stepSeconds: stepMs / 1000,
      budgetSeconds: budgetMs / 1000,
      reached,
      problems,
      message,
    };
  } finally {
    await liftFault();
    rotator.worker.shutdown();
    await running;
    await rotator.close();
    await scenario.close();
    await Promise.all(Object.values(proxies).map((p) => p.remove()));
  }
}

/** A rotation that did not succeed says which system and which step stopped it. */
function messageProblems(cell: Cell, status: RotationStatus): string[] {
  if (status.outcome === 'succeeded' || cell.flow === 'rollback') return [];
  const message = status.error?.message ?? '';
  const problems: string[] = [];
  if (!SYSTEM_WORDS[cell.dep].test(message)) problems.push(`the message does not name ${cell.dep}`);
  const words = [cell.step, ...(STEP_WORDS[cell.step] ?? [])].map((w) => w.toLowerCase());
  if (!words.some((w) => message.toLowerCase().includes(w))) problems.push(`the message does not name the step ${cell.step}`);
  return problems;
}

function table(results: Result[]): string {
  const rows = results.map(({ cell, outcome, seconds, stepSeconds, budgetSeconds, reached, problems, message }) => {
    const consistent = problems.length === 0 && reached ? 'y' : `n: ${reached ? problems.join('; ') : 'step not reached'}`;
    const budget = Number.isFinite(budgetSeconds) ? `${budgetSeconds.toFixed(0)}` : '∞';
    const text = message.replace(/\|/g, '\\|').replace(/\s+/g, ' ').slice(0, 160) || '—';
    return `| ${cell.strategy} | ${cell.flow === 'rollback' ? `${cell.step} (undo)` : cell.step}${cell.occurrence > 1 ? `#${cell.occurrence}` : ''} | ${cell.dep} | ${cell.fault.name} | ${outcome} | ${seconds.toFixed(1)} | ${stepSeconds.toFixed(1)} / ${budget} | ${consistent} | ${text} |`;
  });
  return [
    '| strategy | step | system | fault | outcome | s | step s / budget s | consistent | message |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

const STRATEGIES: MatrixStrategy[] = [
  'alternating-users',
  'single-user',
  'dual-password',
  'consumers',
  'alternating-users/mariadb',
  'single-user/mariadb',
  'alternating-users/mongodb',
  'single-user/mongodb',
  'alternating-users/aws-secrets-manager',
];

/** `npm test` (CI): one cell per fault, spread over the strategies, the systems and the kinds of step. */
const SAMPLE: Array<[MatrixStrategy, Flow, string, number, Dep, string]> = [
  ['single-user', 'forward', 'applyCredential', 1, 'postgresql', 'reset_peer'],
  ['alternating-users', 'forward', 'promote', 1, 'openbao', 'down-then-back'],
  ['dual-password', 'forward', 'verifyCredential', 1, 'redis', 'blackhole'],
  ['alternating-users', 'forward', 'revokeLogin', 1, 'postgresql', 'latency>timeout'],
  ['single-user', 'rollback', 'restorePassword', 1, 'postgresql', 'reset_peer'],
  ['dual-password', 'forward', 'stageCredential', 1, 'openbao', 'latency<timeout'],
  ['alternating-users', 'forward', 'inspect', 1, 'openbao', 'slicer+slow_close'],
  // The cell that found a forward step retrying a refusing database forever (activities/guarded.ts).
  ['single-user', 'forward', 'applyCredential', 1, 'postgresql', 'down'],
  // The consumer steps: a rollout's wait with its API server resetting, an undo's restart with it down for a while.
  ['consumers', 'forward', 'awaitRollout', 1, 'kubernetes', 'reset_peer'],
  ['consumers', 'rollback', 'restartWorkloads', 2, 'kubernetes', 'down-then-back'],
  // The cells that found an abandoned attempt writing after the compensation: a MongoDB user created on FerretDB
  // (and the driver's client closed for good by its failed first connection), AWSCURRENT moved on moto.
  ['alternating-users/mongodb', 'forward', 'applyCredential', 1, 'ferretdb', 'down'],
  ['alternating-users/aws-secrets-manager', 'forward', 'promote', 1, 'moto', 'latency>timeout'],
];

async function cellsToRun(strategies = STRATEGIES): Promise<Cell[]> {
  const fault = (name: string) => FAULTS.find((f) => f.name === name)!;
  const only = process.env.ROTATOR_FAULT_CELLS;
  if (only && only !== 'all') {
    // A few cells by name (a substring of "<strategy> [(rollback)] <step> <system> <fault>", or several separated by
    // `|`), from the whole matrix; only the strategies they name run their clean rotations when each names one.
    const wanted = only.split('|');
    const named = wanted.map((w) => STRATEGIES.find((s) => w.startsWith(`${s} `)));
    process.env.ROTATOR_FAULT_CELLS = 'all';
    try {
      const cells = await cellsToRun(named.every(Boolean) ? STRATEGIES.filter((s) => named.includes(s)) : STRATEGIES);
      return cells.filter((c) => wanted.some((w) => cellName(c).includes(w)));
    } finally {
      process.env.ROTATOR_FAULT_CELLS = only;
    }
  }
  if (only !== 'all') {
    return SAMPLE.map(([strategy, flow, step, occurrence, dep, f]) => ({
      strategy,
      flow,
      step,
      occurrence,
      dep,
      fault: fault(f),
    }));
  }
  const cells: Cell[] = [];
  for (const strategy of strategies) {
    const targetDep = targetOf(strategy);
    for (const flow of ['forward', 'rollback'] as const) {
      const steps = await stepsOf(strategy, flow);
      // The step that fails the rollback flow: its verify, or (consumers) the rollout that fails.
      const failsAt = steps.findIndex((s) => s.step === (strategy === 'consumers' ? 'awaitRollout' : 'verifyCredential'));
      // The rollback flow's own steps are those after the step that fails that the forward flow has not run (a worker
      // that replays a workflow task on a loaded machine runs its local steps again: not steps of their own); the
      // consumer steps run again as undo steps, told apart by their run.
      const before = steps.slice(0, failsAt + 1);
      const own =
        flow === 'rollback'
          ? steps
              .slice(failsAt + 1)
              .filter((s) =>
                strategy === 'consumers'
                  ? !before.some((b) => b.step === s.step && b.occurrence === s.occurrence)
                  : !before.some((b) => b.step === s.step),
              )
          : steps;
      for (const { step, occurrence } of own) {
        for (const system of STEP_SYSTEMS[step] ?? []) {
          // The consumers scenario faults its consumers only: its store and target steps are alternating-users' cells.
          if ((strategy === 'consumers') !== (system === 'kubernetes' || system === 'webhook')) continue;
          // The AWS store's scenario faults its store only: its target steps are alternating-users' cells.
          if (isAws(strategy) && system !== 'store') continue;
          const dep: Dep = system === 'store' ? storeOf(strategy) : system === 'target' ? targetDep : system;
          // Down for good only where the step gives up in minutes: undo steps retry for 10 minutes and more.
          for (const f of FAULTS.filter((f) => f.name !== 'down' || flow === 'forward'))
            cells.push({ strategy, flow, step, occurrence, dep, fault: f });
        }
      }
    }
  }
  return cells;
}

describe('the systems around a rotation failing while a step runs', () => {
  it(
    'every cell ends in an outcome that tells the truth, within the step’s budget, naming the system and the step',
    async () => {
      const cells = await cellsToRun();
      const started = Date.now();
      // A cell whose own setup fails (a server of the stack slow to answer) is a row saying so, not the end of the run.
      const results = await pool(cells, CONCURRENCY, (cell) =>
        runCell(cell).catch((err: unknown): Result => ({
          cell,
          outcome: 'failed',
          seconds: 0,
          stepSeconds: 0,
          budgetSeconds: 0,
          reached: true,
          problems: [`the cell could not run: ${err instanceof Error ? err.message : String(err)}`],
          message: '',
        })),
      );
      const report = table(results);
      const out = resolve(__dirname, '../.rotator');
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, 'fault-matrix.md'), report + '\n');
      process.stderr.write(
        `\nfault matrix: ${results.length} cells in ${((Date.now() - started) / 1000).toFixed(0)} s\n${report}\n`,
      );

      expect(results.filter((r) => !r.reached).map((r) => cellName(r.cell))).toEqual([]);
      expect(results.filter((r) => r.problems.length > 0).map((r) => `${cellName(r.cell)}: ${r.problems.join('; ')}`)).toEqual(
        [],
      );
    },
    60 * 60_000,
  );
});
