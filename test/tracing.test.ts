// OpenTelemetry traces of a real rotation on OpenBao and PostgreSQL, read from an in-process exporter: a span for the
// client's start, the workflow and every activity, all in one trace, naming the secret and phase and never a value;
// and the workflow bundle with the tracing interceptors still replays every recorded rotation.
import * as fs from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { bundleWorkflowCode, Worker, type WorkflowBundle } from '@temporalio/worker';
import { getDataConverter } from '../src/client/codec/data-converter';
import { followRotation, startRotation } from '../src/client/rotations';
import { parseConfig } from '../src/config/load';
import { planRotation } from '../src/config/plan';
import {
  createTracing,
  NO_TRACING_SINKS,
  PHASE_ATTRIBUTE,
  SECRET_ATTRIBUTE,
  tracingFromEnv,
  WORKFLOW_TRACING_MODULES,
  type Tracing,
} from '../src/observability/tracing';
import { createRotatorWorker, WORKFLOWS_PATH, type RotatorWorker } from '../workers/worker';
import { FIXTURES, historyFromFixture } from './replay/fixtures';
import { configYaml, readStore, seedAdmin, testCodecKeys, testEnv, unique, workflowBundle } from './support/harness';
import { silentLogger } from './support/rotator-config';
import { testStack } from './support/stack';
import { thrown } from './support/thrown';
import { connectTemporal } from '../src/client/temporal';

let tracedBundle: Promise<WorkflowBundle> | undefined;
/** The workflow code as a traced worker bundles it: with the SDK's OpenTelemetry workflow interceptors. */
function traced(): Promise<WorkflowBundle> {
  tracedBundle ??= bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: WORKFLOW_TRACING_MODULES,
    logger: silentLogger,
  });
  return tracedBundle;
}

describe('traces of a rotation', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  let worker: RotatorWorker;
  let running: Promise<void>;
  let connection: Connection;
  let client: Client;
  let taskQueue: string;
  let config: ReturnType<typeof parseConfig>;
  const secret = unique('db');

  beforeAll(async () => {
    taskQueue = unique('tq');
    const adminPath = `test/${unique('pg_admin')}`;
    await seedAdmin(adminPath);
    config = parseConfig(configYaml(taskQueue, [{ name: secret, role: unique('app') }], adminPath), testEnv());
    const dataConverter = getDataConverter(testCodecKeys());
    tracing = createTracing({ processor: new SimpleSpanProcessor(exporter), serviceName: 'rotator-test' });
    worker = await createRotatorWorker({ config, dataConverter, workflowBundle: await traced(), logLevel: 'ERROR', tracing });
    running = worker.worker.run();
    connection = await connectTemporal({ address: testStack().temporal!.address });
    client = new Client({
      connection,
      namespace: config.temporal.namespace,
      dataConverter,
      interceptors: { workflow: tracing.clientInterceptors },
    });
  });

  afterAll(async () => {
    await connection?.close();
    worker?.worker.shutdown();
    await running;
    await worker?.close();
    await tracing?.shutdown();
  });

  it('has one trace: the start, the workflow and each activity, naming the secret and phase, never the password', async () => {
    const rotate = async () => {
      const { handle } = await startRotation(client, taskQueue, planRotation(config, secret));
      expect((await followRotation(handle)).status.outcome).toBe('succeeded');
      return handle;
    };
    await rotate();
    // The second rotation has an old login to revoke: every phase runs an activity.
    const handle = await rotate();
    const trace = traceOf(exporter, (await handle.describe()).runId);
    const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === trace);
    const names = spans.map((s) => s.name);

    expect(names).toContain('StartWorkflow:rotateSecret');
    const run = spans.find((s) => s.name === 'RunWorkflow:rotateSecret');
    expect(run?.attributes[SECRET_ATTRIBUTE]).toBe(secret);
    // The SDK copies the execution's info onto workflow spans; only its names are given to it.
    expect(run?.attributes).toMatchObject({ workflowId: handle.workflowId, workflowType: 'rotateSecret', taskQueue });
    expect(Object.keys(run?.attributes ?? {})).not.toEqual(expect.arrayContaining(['memo']));

    // Every activity the workflow scheduled ran in a span of its own, under the scheduling span, in the same trace.
    const scheduled = spans.filter((s) => s.name.startsWith('StartActivity:'));
    const ran = spans.filter((s) => s.name.startsWith('RunActivity:'));
    const kinds = (list: ReadableSpan[]) => [...new Set(list.map((s) => s.name.split(':')[1]))].sort();
    expect(kinds(ran)).toEqual(kinds(scheduled));
    expect(kinds(ran)).toEqual(
      expect.arrayContaining(['inspect', 'stageCredential', 'applyCredential', 'promote', 'verifyCredential']),
    );
    const spanIds = new Set(scheduled.map((s) => s.spanContext().spanId));
    for (const span of ran) {
      expect({ span: span.name, parentIsScheduling: spanIds.has(span.parentSpanId ?? '') }).toEqual({
        span: span.name,
        parentIsScheduling: true,
      });
      expect({ span: span.name, secret: span.attributes[SECRET_ATTRIBUTE] }).toEqual({ span: span.name, secret });
    }
    // The phase each activity ran in, as the workflow reported it.
    const phasesOf = (activity: string) =>
      [...new Set(ran.filter((s) => s.name === `RunActivity:${activity}`).map((s) => s.attributes[PHASE_ATTRIBUTE]))].sort();
    expect(phasesOf('stageCredential')).toEqual(['create']);
    expect(phasesOf('promote')).toEqual(['publish']);
    // The new login is checked in create (before anything is published) and again in verify.
    expect(phasesOf('verifyCredential')).toEqual(['create', 'verify']);
    expect(phasesOf('revokeLogin')).toEqual(['revoke']);

    // No attribute, event, status or name of any span holds a password the secret has had.
    const current = await readStore(`test/${secret}`);
    const previous = await readStore(`test/${secret}`, String(current!.version - 1));
    const passwords = [current, previous].map((v) => String(v?.data.password));
    for (const p of passwords) expect(p.length).toBeGreaterThan(8);
    const everything = JSON.stringify(
      exporter
        .getFinishedSpans()
        .map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, status: s.status, links: s.links })),
    );
    for (const p of passwords) expect(everything).not.toContain(p);
  });
});

/** The trace the rotation's workflow span belongs to. */
function traceOf(exporter: InMemorySpanExporter, runId: string): string {
  const run = exporter.getFinishedSpans().find((s) => s.name === 'RunWorkflow:rotateSecret' && s.attributes.runId === runId);
  if (!run) throw new Error(`no workflow span for run ${runId}`);
  return run.spanContext().traceId;
}

/** Replay calls no sink; registering them keeps the replay worker from logging each call as unregistered. */
const REPLAY_SINKS = { ...NO_TRACING_SINKS, rotator: { event: { fn: () => undefined } } };

describe('the traced workflow bundle', () => {
  const projectModules = (code: string) =>
    [...new Set([...code.matchAll(/"\.\/([^"]+?\.ts)"/g)].map((m) => m[1]).filter((id) => !id.includes('node_modules/')))].sort();

  it('adds no project module to the sandbox', async () => {
    expect(projectModules((await traced()).code)).toEqual(projectModules((await workflowBundle()).code));
  });

  it('replays every recorded history without a nondeterminism error', async () => {
    const files = fs
      .readdirSync(FIXTURES)
      .filter((d) => /^v\d+$/.test(d))
      .flatMap((set) =>
        fs
          .readdirSync(path.join(FIXTURES, set))
          .filter((f) => f.endsWith('.json'))
          .map((f) => path.join(FIXTURES, set, f)),
      );
    expect(files.length).toBeGreaterThan(0);
    const histories = files.map((file) => ({
      workflowId: path.basename(file),
      history: historyFromFixture(fs.readFileSync(file, 'utf8')),
    }));
    const failed: string[] = [];
    for await (const r of Worker.runReplayHistories({ workflowBundle: await traced(), sinks: REPLAY_SINKS }, histories)) {
      if (r.error) failed.push(`${r.workflowId}: ${r.error.message}`);
    }
    expect(failed).toEqual([]);
  });
});

describe('tracing settings', () => {
  it('is off by default and with none; console and otlp make a tracer', async () => {
    expect(tracingFromEnv({})).toBeNull();
    expect(tracingFromEnv({ ROTATOR_TRACES_EXPORTER: 'none' })).toBeNull();
    for (const kind of ['console', 'otlp']) {
      const t = tracingFromEnv({ ROTATOR_TRACES_EXPORTER: kind, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' });
      expect(t).not.toBeNull();
      await t!.shutdown();
    }
  });

  // A stand-in for an OpenTelemetry Collector (none is installed here): an HTTP server that keeps what is POSTed to it.
  it('sends spans over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT', async () => {
    const received: Array<{ path: string; body: string }> = [];
    const collector = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ path: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', () => resolve()));
    const { port } = collector.address() as AddressInfo;
    try {
      const t = tracingFromEnv({
        ROTATOR_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}/`,
        OTEL_SERVICE_NAME: 'rotator-otlp-test',
      })!;
      t.tracer.startSpan('probe-span').end();
      await t.shutdown(); // flushes the batch
      expect(received.map((r) => r.path)).toEqual(['/v1/traces']);
      expect(received[0].body).toContain('probe-span');
      expect(received[0].body).toContain('rotator-otlp-test');
    } finally {
      await new Promise<void>((resolve) => collector.close(() => resolve()));
    }
  });

  it('refuses an unknown exporter, naming the variable', async () => {
    const err = await thrown(Promise.resolve().then(() => tracingFromEnv({ ROTATOR_TRACES_EXPORTER: 'jaeger' })));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toMatch(/^ROTATOR_TRACES_EXPORTER: /);
  });
});
