// Prometheus /metrics of a real worker and a real listener, scraped over HTTP after real rotations on OpenBao and
// PostgreSQL: rotation counters by outcome, a histogram per phase, in-flight back to zero, the Temporal SDK's own
// metrics on the same endpoint, and the listener's counts per source after a real signed webhook.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { getDataConverter } from '../src/client/codec/data-converter';
import { followRotation, startRotation } from '../src/client/rotations';
import { parseConfig } from '../src/config/load';
import { RotationEvents } from '../src/kernel/events';
import { createLogger } from '../src/kernel/log';
import { planRotation } from '../src/config/plan';
import { triggerWorkflowIdFor } from '../src/listener/dispatch';
import { signWebhook } from '../src/listener/http';
import { openListener, type RunningListener } from '../src/listener/main';
import { reserveLoopbackAddress } from '../src/observability/core-metrics';
import { WorkerMetrics } from '../src/observability/metrics';
import { serveMetrics, type MetricsServer } from '../src/observability/metrics-server';
import { createRotatorWorker, type RotatorWorker } from '../workers/worker';
import {
  KEEP_LEASE,
  keeperIdFor,
  keeperStatusQuery,
  SWEEP,
  type KeeperState,
  type SweepReport,
} from '../workflows/lifecycle-definitions';
import {
  adminQuery,
  codecKeyEnv,
  configYaml,
  readStore,
  seedAdmin,
  testCodecKeys,
  testEnv,
  unique,
  vaultClient,
  workflowBundle,
} from './support/harness';
import { cli } from './support/cli';
import { dynamicYaml } from './support/dynamic-config';
import { startRotator, type Rotator } from './support/rotator';
import { testStack } from './support/stack';
import { triggerConfig } from './support/trigger-config';
import { pgRole } from './support/vault-roles';
import { connectTemporal } from '../src/client/temporal';

const quiet = createLogger({ write: () => undefined });

/** One sample of the Prometheus text format: name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The text format as prom-client and Core write it: `name{a="b",…} value`, comments skipped. */
function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return found.length === 0 ? undefined : found.reduce((sum, s) => sum + s.value, 0);
}

async function scrape(address: { host: string; port: number }): Promise<{ text: string; samples: Sample[] }> {
  const res = await fetch(`http://${address.host}:${address.port}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  const text = await res.text();
  return { text, samples: parseSamples(text) };
}

describe('worker metrics', () => {
  let worker: RotatorWorker;
  let running: Promise<void>;
  let server: MetricsServer;
  let connection: Connection;
  let client: Client;
  let taskQueue: string;
  let config: ReturnType<typeof parseConfig>;
  const secret = unique('db');
  const role = unique('app');

  beforeAll(async () => {
    taskQueue = unique('tq');
    const adminPath = `test/${unique('pg_admin')}`;
    await seedAdmin(adminPath);
    config = parseConfig(configYaml(taskQueue, [{ name: secret, role }], adminPath), testEnv());
    const dataConverter = getDataConverter(testCodecKeys());
    const metrics = await WorkerMetrics.create();
    worker = await createRotatorWorker({
      config,
      dataConverter,
      workflowBundle: await workflowBundle(),
      logLevel: 'ERROR',
      metrics,
      events: new RotationEvents(),
    });
    running = worker.worker.run();
    server = await serveMetrics('127.0.0.1:0', metrics, quiet);
    connection = await connectTemporal({ address: testStack().temporal!.address });
    client = new Client({ connection, namespace: config.temporal.namespace, dataConverter });
  });

  afterAll(async () => {
    await connection?.close();
    worker?.worker.shutdown();
    await running;
    await worker?.close();
    await server?.close();
  });

  it('counts a success and a rollback by outcome, has a histogram per phase, and ends with nothing in flight', async () => {
    const rotate = async () => followRotation((await startRotation(client, taskQueue, planRotation(config, secret))).handle);
    const first = await rotate();
    expect(first.status.outcome).toBe('succeeded');
    // A real refusal from PostgreSQL: the idle login may not connect, so the next rotation rolls back.
    await adminQuery(`create role ${role}_b connection limit 0`);
    const second = await rotate();
    expect(second.status.outcome).toBe('rolled-back');

    const { text, samples } = await scrape(server.address);
    expect(value(samples, 'rotator_rotations_total', { outcome: 'succeeded' })).toBe(1);
    expect(value(samples, 'rotator_rotations_total', { outcome: 'rolled-back' })).toBe(1);
    expect(value(samples, 'rotator_rotations_total')).toBe(2);
    expect(value(samples, 'rotator_rotations_started_total')).toBe(2);
    expect(value(samples, 'rotator_rotations_in_flight')).toBe(0);

    // Every phase the two rotations went through has its _bucket/_sum/_count series.
    const phases = ['create', 'publish', 'reconnect', 'verify', 'revoke', 'rollback'];
    for (const phase of phases) {
      const count = value(samples, 'rotator_phase_duration_seconds_count', { phase });
      expect({ phase, count }).toEqual({ phase, count: expect.any(Number) });
      expect(count).toBeGreaterThan(0);
      expect(value(samples, 'rotator_phase_duration_seconds_sum', { phase })).toBeGreaterThanOrEqual(0);
      expect(value(samples, 'rotator_phase_duration_seconds_bucket', { phase, le: '+Inf' })).toBe(count);
    }
    // The rollback's create failed; the success's create completed.
    expect(value(samples, 'rotator_phase_duration_seconds_count', { phase: 'create', result: 'failed' })).toBe(1);
    expect(value(samples, 'rotator_phase_duration_seconds_count', { phase: 'create', result: 'completed' })).toBe(1);
    expect(value(samples, 'rotator_phase_duration_seconds_count', { phase: 'rollback', result: 'completed' })).toBe(1);

    // The Temporal SDK's own metrics, from Core's exporter, on the same endpoint.
    // (A rolled-back rotation ends its workflow as failed.)
    const ofRotations = { task_queue: taskQueue, workflow_type: 'rotateSecret' };
    expect(value(samples, 'temporal_workflow_completed_total', ofRotations)).toBe(1);
    expect(value(samples, 'temporal_workflow_failed_total', ofRotations)).toBe(1);
    expect(samples.some((s) => s.name.startsWith('temporal_activity_execution_latency'))).toBe(true);
    // Each metric family is declared once, so a scraper takes the whole text.
    const types = text.split('\n').filter((l) => l.startsWith('# TYPE '));
    expect(new Set(types).size).toBe(types.length);

    // Names and outcomes only: no password of the secret appears.
    const current = await readStore(`test/${secret}`);
    const passwords = [String(current?.data.password)];
    expect(passwords[0]).not.toBe('undefined');
    for (const p of passwords) expect(text).not.toContain(p);
  });

  it('serves only GET /metrics', async () => {
    const base = `http://${server.address.host}:${server.address.port}`;
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
  });
});

describe('sweep metrics', () => {
  let worker: RotatorWorker;
  let running: Promise<void>;
  let server: MetricsServer;
  let connection: Connection;

  afterAll(async () => {
    await connection?.close();
    worker?.worker.shutdown();
    await running;
    await worker?.close();
    await server?.close();
  });

  it("shows the last sweep's secrets by state, as its report counts them", async () => {
    const taskQueue = unique('tq');
    const adminPath = `test/${unique('pg_admin')}`;
    await seedAdmin(adminPath);
    const specs = [
      { name: unique('db'), role: unique('app'), extra: 'max_age: 30d' },
      { name: unique('db'), role: unique('nobody'), strategy: 'single-user' as const, extra: 'max_age: 1ms' },
    ];
    const config = parseConfig(configYaml(taskQueue, specs, adminPath), testEnv());
    const dataConverter = getDataConverter(testCodecKeys());
    const metrics = await WorkerMetrics.create();
    worker = await createRotatorWorker({
      config,
      dataConverter,
      workflowBundle: await workflowBundle(),
      logLevel: 'ERROR',
      metrics,
    });
    running = worker.worker.run();
    server = await serveMetrics('127.0.0.1:0', metrics, quiet);
    connection = await connectTemporal({ address: testStack().temporal!.address });
    const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter });

    const report: SweepReport = await client.workflow.execute(SWEEP, { taskQueue, workflowId: unique('sweep'), args: [] });
    expect(report.assessed).toBeGreaterThan(0);
    const { samples } = await scrape(server.address);
    expect(value(samples, 'rotator_sweeps_total', { result: 'succeeded' })).toBe(1);
    for (const [state, count] of Object.entries(report.counts)) {
      expect({ state, gauge: value(samples, 'rotator_sweep_secrets', { state }) }).toEqual({ state, gauge: count });
    }
    expect(value(samples, 'rotator_sweep_secrets')).toBe(report.assessed);
    expect(value(samples, 'rotator_sweep_last_success_timestamp_seconds')).toBeGreaterThan(0);
  });
});

describe('lease metrics', () => {
  let worker: RotatorWorker;
  let running: Promise<void>;
  let server: MetricsServer;
  let connection: Connection;

  afterAll(async () => {
    await connection?.close();
    worker?.worker.shutdown();
    await running;
    await worker?.close();
    await server?.close();
  });

  it('counts the issue and renewals of a kept lease and shows when it expires', async () => {
    const taskQueue = unique('keeper');
    const name = unique('dyn');
    const lease = ['increment_seconds: 4', 'min_renewal_seconds: 1', 'renew_at: 0.5', 'grace_period: 3s'];
    const role = await pgRole({ default_ttl: '4s', max_ttl: '60s' });
    const { yaml, env } = dynamicYaml(taskQueue, [{ name, role, engine: 'postgresql', lease }]);
    const config = parseConfig(yaml, env);
    const dataConverter = getDataConverter(testCodecKeys());
    const metrics = await WorkerMetrics.create();
    worker = await createRotatorWorker({
      config,
      dataConverter,
      workflowBundle: await workflowBundle(),
      logLevel: 'ERROR',
      metrics,
    });
    running = worker.worker.run();
    server = await serveMetrics('127.0.0.1:0', metrics, quiet);
    connection = await connectTemporal({ address: testStack().temporal!.address });
    const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter });
    const handle = await client.workflow.start(KEEP_LEASE, {
      taskQueue,
      workflowId: keeperIdFor(name),
      args: [{ secret: name }],
    });
    try {
      // Polls the keeper's own status (a condition, bounded) until it renewed once.
      const deadline = Date.now() + 30_000;
      let state: KeeperState | null = null;
      while (!((state?.current?.renewals ?? 0) >= 1)) {
        if (Date.now() > deadline) throw new Error(`the keeper did not renew; last: ${JSON.stringify(state)}`);
        await new Promise((r) => setTimeout(r, 100));
        state = await handle.query(keeperStatusQuery).catch(() => null);
      }
      const { text, samples } = await scrape(server.address);
      expect(value(samples, 'rotator_lease_issues_total', { result: 'issued' })).toBe(1);
      expect(value(samples, 'rotator_lease_renewals_total', { result: 'renewed' })).toBeGreaterThanOrEqual(1);
      expect(value(samples, 'rotator_leases_kept')).toBe(1);
      expect(value(samples, 'rotator_leases_expiring')).toBe(0);
      expect(value(samples, 'rotator_lease_expiry_timestamp_seconds', { secret: name })).toBeGreaterThan(Date.now() / 1000);
      // The lease is named by its secret only: neither its id nor the issued login's password is a label.
      const issued = (await vaultClient().read(`secret/data/dynamic/${name}`)) as { data: { data: Record<string, unknown> } };
      expect(text).not.toContain(String(issued.data.data.password));
      expect(text).not.toContain(String(issued.data.data.lease_id));
    } finally {
      await handle.terminate('test over').catch(() => undefined);
    }
  });
});

describe('`rotator worker --metrics-address`', () => {
  const workers: ChildProcess[] = [];
  afterAll(async () => {
    await Promise.all(
      workers.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
  });

  it('serves rotator and Temporal SDK metrics from two worker processes on one host, each on its own', async () => {
    const taskQueue = unique('tq');
    const adminPath = `test/${unique('pg_admin')}`;
    await seedAdmin(adminPath);
    const keys = testCodecKeys();
    const dir = mkdtempSync(join(tmpdir(), 'rotator-metrics-'));
    const file = join(dir, 'rotator.yaml');
    writeFileSync(file, configYaml(taskQueue, [{ name: unique('db'), role: unique('app') }], adminPath), { mode: 0o600 });
    const addresses = [await reserveLoopbackAddress(), await reserveLoopbackAddress()];
    for (const [i, address] of addresses.entries()) {
      // The second also traces: its workflow code is bundled with the tracing interceptors at start.
      const tracing: Record<string, string> = i === 1 ? { ROTATOR_TRACES_EXPORTER: 'console' } : {};
      const child = spawnWorker(file, address, {
        ...testEnv(),
        ROTATOR_CODEC_KEY: codecKeyEnv(keys),
        ROTATOR_LOG_LEVEL: 'info',
        ...tracing,
      });
      workers.push(child);
      await logged(child, 'worker started');
    }
    for (const address of addresses) {
      const [host, port] = address.split(':');
      const { samples } = await scrape({ host, port: Number(port) });
      expect(value(samples, 'rotator_rotations_in_flight')).toBe(0);
      expect(value(samples, 'temporal_worker_start_total', { task_queue: taskQueue })).toBe(1);
    }
  });

  it("serves a scrape that Prometheus's promtool accepts, after a real rotation", async () => {
    const taskQueue = unique('tq');
    const adminPath = `test/${unique('pg_admin')}`;
    await seedAdmin(adminPath);
    const keys = testCodecKeys();
    const name = unique('db');
    const file = join(mkdtempSync(join(tmpdir(), 'rotator-metrics-')), 'rotator.yaml');
    writeFileSync(file, configYaml(taskQueue, [{ name, role: unique('app') }], adminPath), { mode: 0o600 });
    const env = { ...testEnv(), ROTATOR_CODEC_KEY: codecKeyEnv(keys), ROTATOR_LOG_LEVEL: 'info' };
    const address = await reserveLoopbackAddress();
    const child = spawnWorker(file, address, env);
    workers.push(child);
    await logged(child, 'worker started');
    // A rotation first, so counters and histograms have samples (with labels) for promtool to read.
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      expect((await cli('-c', file, 'rotate', name, '--wait')).code).toBe(0);
    } finally {
      process.env = saved;
    }
    const [host, port] = address.split(':');
    const { text, samples } = await scrape({ host, port: Number(port) });
    expect(value(samples, 'rotator_rotations_total', { outcome: 'succeeded' })).toBe(1);
    expect(value(samples, 'temporal_worker_start_total', { task_queue: taskQueue })).toBe(1);
    const checked = await promtool(text);
    expect(checked.output).toBe('');
    expect(checked.code).toBe(0);
  });

  it('says the metrics address is in use, naming it, and exits without building the worker', async () => {
    const taken = createNetServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const address = `127.0.0.1:${(taken.address() as AddressInfo).port}`;
    try {
      const file = join(mkdtempSync(join(tmpdir(), 'rotator-metrics-')), 'rotator.yaml');
      writeFileSync(file, configYaml(unique('tq'), [{ name: unique('db'), role: unique('app') }], `test/${unique('pg_admin')}`));
      const child = spawnWorker(file, address, { ...testEnv(), ROTATOR_CODEC_KEY: codecKeyEnv(testCodecKeys()) }, 'pipe');
      workers.push(child);
      let err = '';
      child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      child.stdout!.resume();
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(err).toContain(`rotator: --metrics-address: cannot serve metrics on ${address}: the address is already in use`);
      expect(err).not.toMatch(/Cannot close connection/);
      expect(code).toBe(2); // bad input, like any other refused setting
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });
});

const ROOT = join(__dirname, '..');

/** `rotator worker -c FILE --metrics-address ADDRESS` as its own process, as an operator runs it. */
function spawnWorker(file: string, address: string, env: Record<string, string>, stderr: 'inherit' | 'pipe' = 'inherit') {
  return spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), '-c', file, 'worker', '--metrics-address', address],
    {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', stderr],
    },
  );
}

/** Prometheus's own linter on a scrape: `promtool check metrics` reads it on stdin (Debian package prometheus). */
function promtool(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.once('error', (err) => reject(new Error(`promtool did not run (apt-get install prometheus): ${err.message}`)));
    child.once('close', (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}

/** Resolves once the process logs a line with this message; rejects if it exits first. */
function logged(child: ChildProcess, msg: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.split('\n').some((line) => line.includes(`"msg":"${msg}"`))) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the worker exited (${code}) before "${msg}": ${out.slice(-2000)}`)));
  });
}

describe('listener metrics', () => {
  let rotator: Rotator;
  let listener: RunningListener;
  const KEY = randomBytes(24).toString('hex');

  afterAll(async () => {
    await listener?.stop();
    await rotator?.close();
  });

  it('counts a received, accepted webhook event and the rotation it triggered, and a forged one as rejected', async () => {
    const built = await triggerConfig({
      secrets: 1,
      sources: ['    ci:', '      type: webhook', `      signing_key: ${KEY}`],
      rules: (s) => [`- { source: ci, resource: ${s}, secret: ${s}, action: rotate }`],
    });
    const keys = testCodecKeys();
    rotator = await startRotator(built.yaml, built.env, { keys });
    listener = await openListener(parseConfig(built.yaml, built.env), {
      metricsAddress: '127.0.0.1:0',
      dataConverter: getDataConverter(keys),
      log: quiet,
    });
    const secret = built.secrets[0]!;
    const id = `evt-${randomBytes(6).toString('hex')}`;
    const body = JSON.stringify({ id, type: 'rotator.rotate', secret, time: new Date().toISOString() });
    const post = (headers: Record<string, string>) => fetch(`${listener.where}/hooks/ci`, { method: 'POST', body, headers });
    expect((await post(signWebhook(KEY, body))).status).toBe(202);
    expect((await post(signWebhook(randomBytes(24).toString('hex'), body))).status).toBe(401);

    // The trigger workflow (started before the 202) runs to its end: a real rotation, started by the event.
    const trigger = rotator.client.workflow.getHandle(triggerWorkflowIdFor({ source: 'ci', id }));
    expect(await trigger.result()).toMatchObject({ outcome: 'succeeded' });

    const { text, samples } = await scrape(listener.metrics!.address);
    expect(value(samples, 'rotator_listener_events_received_total', { source: 'ci' })).toBe(2);
    expect(value(samples, 'rotator_listener_events_accepted_total', { source: 'ci', result: 'started' })).toBe(1);
    expect(value(samples, 'rotator_listener_events_rejected_total', { source: 'ci', reason: '401' })).toBe(1);
    expect(value(samples, 'rotator_listener_rotations_triggered_total', { source: 'ci', action: 'rotate' })).toBe(1);
    expect(text).not.toContain(KEY);
  });
});
