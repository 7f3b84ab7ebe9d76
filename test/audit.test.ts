// The audit trail on the real stack (Temporal, OpenBao, PostgreSQL, a real HTTP receiver as the consumer): one JSON
// line per phase change of real rotations, none written again when a worker replays a rotation, `rotator audit`
// reading the same phases back from Temporal, and no secret value anywhere in the file or the CLI's output.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { parseAuditDestination } from '../src/audit/destination';
import { openAuditSink, type AuditSink } from '../src/audit/sink';
import { EXIT } from '../src/cli/main';
import type { AuditEntry } from '../src/client/audit';
import { getDataConverter } from '../src/client/codec/data-converter';
import { cancelRotation, decideRotation, followRotation, startRotation } from '../src/client/rotations';
import { parseConfig } from '../src/config/load';
import type { Config } from '../src/config/schema';
import { RotationEvents, type RotationEvent } from '../src/kernel/events';
import { planRotation } from '../src/config/plan';
import { createRotatorWorker, type RotatorWorker } from '../workers/worker';
import { cli } from './support/cli';
import {
  codecKeyEnv,
  configYaml,
  pgAdminSecret,
  readStore,
  seedAdmin,
  testCodecKeys,
  testEnv,
  unique,
  untilPhase,
  workflowBundle,
} from './support/harness';
import { testStack } from './support/stack';
import { vaultTestStore } from './support/test-stores';
import { connectTemporal } from '../src/client/temporal';

const ROOT = join(__dirname, '..');
// Names of this run only: `rotator audit` reads every rotation of a secret on the shared Temporal server, and other
// test files rotate their own `orders_db` beside this one.
const ORDERS = unique('orders');
const BILLING = unique('billing');
const LEDGER = unique('ledger');
const PAYMENTS = unique('payments');
/** A name `ORDERS` starts with, of no secret at all. */
const ORDERS_PREFIX = ORDERS.slice(0, -1);

interface Line {
  type: string;
  seq: number | null;
  kind: string;
  secret: string;
  rotationId: string;
  phase: string | null;
  outcome: string | null;
  trigger: string | null;
  actor: string | null;
  detail: string | null;
  versions: { from: string | null; to: string | null };
  logins: { from: string | null; to: string | null };
  durationMs: number | null;
  error: { code: string; message: string } | null;
}

function readLines(file: string): Line[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);
}

const step = (l: { kind: string; phase?: string | null }) => (l.phase ? `${l.kind} ${l.phase}` : l.kind);
const phases = (names: string[]) => names.flatMap((p) => [`phase.started ${p}`, `phase.completed ${p}`]);

/** A worker with its own event fan-out: the audit sink on `file`, and a recorder tests wait on. */
class AuditedWorker {
  readonly seen: RotationEvent[] = [];
  private readonly waiters: Array<{ match: (e: RotationEvent) => boolean; resolve: () => void }> = [];
  private sink!: AuditSink;
  private rotator!: RotatorWorker;
  private running!: Promise<void>;

  static async start(config: Config, keys: ReturnType<typeof testCodecKeys>, file: string, cacheless = false) {
    const w = new AuditedWorker();
    const events = new RotationEvents();
    w.sink = openAuditSink(parseAuditDestination(`file:${file}`));
    events.on(w.sink.listener); // first: a line is written before the recorder hears of its event
    events.on((e) => {
      w.seen.push(e);
      for (const waiter of [...w.waiters])
        if (waiter.match(e)) {
          w.waiters.splice(w.waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
    });
    w.rotator = await createRotatorWorker({
      config,
      dataConverter: getDataConverter(keys),
      workflowBundle: await workflowBundle(),
      logLevel: 'ERROR',
      events,
      // No cache: every workflow task of this worker replays the rotation's history from the start.
      ...(cacheless ? { tuning: { maxCachedWorkflows: 0 } } : {}),
    });
    w.running = w.rotator.worker.run();
    return w;
  }

  /** Resolves once this worker has reported an event that matches (or already had). */
  until(match: (e: RotationEvent) => boolean): Promise<void> {
    if (this.seen.some(match)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  async stop(): Promise<void> {
    this.rotator.worker.shutdown();
    await this.running;
    await this.rotator.close();
    this.sink.close();
  }
}

describe('audit trail', () => {
  const saved = { ...process.env };
  const keys = testCodecKeys();
  const dir = mkdtempSync(join(tmpdir(), 'rotator-audit-'));
  const auditFile = join(dir, 'audit.jsonl');
  const configFile = join(dir, 'rotator.yaml');
  let answer = 200;
  let server: ReturnType<typeof createServer>;
  let hookKey: string;
  let config: Config;
  let yaml: string;
  let taskQueue: string;
  let worker: AuditedWorker;
  let connection: Connection;
  let client: Client;
  const rotations: Record<string, string> = {}; // label → rotationId
  let firstEndedAt = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(answer).end());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rotated`;
    hookKey = randomBytes(32).toString('hex');
    const keyName = unique('hook_key');
    const vault = vaultTestStore();
    await vault.write(keyName, { key: hookKey });
    const adminPath = `test/${unique('pg_admin')}`;
    await seedAdmin(adminPath);
    taskQueue = unique('tq');
    yaml =
      configYaml(
        taskQueue,
        [
          {
            name: ORDERS,
            role: unique('orders'),
            // The consumer answers `answer`: 200 lets a rotation through, 500 fails its reconnect after publish.
            extra: [
              'on_rotation:',
              '  action: reconnect',
              `  url: ${url}`,
              `  signing_key: secret://${keyName}/key`,
              '  attempts: 1',
              '  timeout: 2s',
            ].join('\n'),
          },
          // A reconnect wait: a durable timer the rotation sits on while its worker is replaced.
          { name: BILLING, role: unique('billing'), extra: 'reconnect: { wait: 2s }' },
          { name: LEDGER, role: unique('ledger') },
          { name: PAYMENTS, role: unique('payments'), extra: 'approval: required' },
        ],
        adminPath,
      ) + [`  ${keyName}:`, '    provider: vault', `    path: ${vault.configPath(keyName)}`, ''].join('\n');
    writeFileSync(configFile, yaml, { mode: 0o600 });
    Object.assign(process.env, testEnv(), { ROTATOR_CODEC_KEY: codecKeyEnv(keys) });
    config = parseConfig(yaml, testEnv());
    worker = await AuditedWorker.start(config, keys, auditFile);
    connection = await connectTemporal({ address: testStack().temporal!.address });
    client = new Client({ connection, namespace: config.temporal.namespace, dataConverter: getDataConverter(keys) });
  });

  afterAll(async () => {
    await connection?.close();
    await worker?.stop();
    await new Promise<void>((r) => server?.close(() => r()));
    process.env = saved;
  });

  /** Every value the rotations generated, read from the store (all versions), plus the stack's own secrets. */
  async function secretValues(): Promise<string[]> {
    const values = [String(pgAdminSecret().password), testStack().vault!.token, hookKey];
    for (const name of [ORDERS, BILLING, LEDGER, PAYMENTS]) {
      const current = await readStore(`test/${name}`);
      for (let v = 1; current && v <= current.version; v++) {
        const entry = await readStore(`test/${name}`, String(v));
        if (entry?.data.password) values.push(String(entry.data.password));
      }
    }
    return values;
  }

  async function rotate(secret: string, requestedBy: string, w: AuditedWorker = worker) {
    const { handle } = await startRotation(client, taskQueue, planRotation(config, secret), requestedBy);
    const result = await followRotation(handle);
    // The result can reach us before the worker has called the sink for the last event: wait for that event.
    await w.until((e) => e.kind === 'rotation.ended' && e.rotationId === result.status.rotationId);
    return result;
  }

  it('writes one line per phase change of a successful and a rolled-back rotation', async () => {
    answer = 200;
    const ok = await rotate(ORDERS, 'test:alice');
    expect(ok.status.outcome).toBe('succeeded');
    rotations.succeeded = ok.status.rotationId;
    firstEndedAt = ok.status.endedAt!;
    answer = 500;
    const bad = await rotate(ORDERS, 'test:bob');
    expect(bad.status).toMatchObject({ outcome: 'rolled-back', error: { code: 'CONSUMER_FAILED' } });
    rotations.rolledBack = bad.status.rotationId;

    const lines = readLines(auditFile);
    expect(lines.every((l) => l.type === 'rotator.audit' && l.secret === ORDERS)).toBe(true);
    const good = lines.filter((l) => l.rotationId === rotations.succeeded);
    expect(good.map(step)).toEqual([
      'rotation.started',
      ...phases(['create', 'publish', 'reconnect', 'verify', 'revoke']),
      'rotation.ended',
    ]);
    expect(good.every((l) => l.trigger === 'test:alice')).toBe(true);
    expect(good.filter((l) => l.kind === 'phase.completed').every((l) => typeof l.durationMs === 'number')).toBe(true);
    expect(good.at(-1)).toMatchObject({ outcome: 'succeeded', error: null, versions: { from: null, to: '1' } });

    const failed = lines.filter((l) => l.rotationId === rotations.rolledBack);
    expect(failed.map(step)).toEqual([
      'rotation.started',
      ...phases(['create', 'publish']),
      'phase.started reconnect',
      'phase.failed reconnect',
      ...phases(['rollback']),
      'rotation.ended',
    ]);
    expect(failed.find((l) => l.kind === 'phase.failed')).toMatchObject({ error: { code: 'CONSUMER_FAILED' } });
    expect(failed.at(-1)).toMatchObject({
      outcome: 'rolled-back',
      trigger: 'test:bob',
      versions: { from: '1', to: '2' },
      logins: { from: ok.status.username, to: bad.status.username },
    });

    const text = readFileSync(auditFile, 'utf8');
    const values = await secretValues();
    expect(values.length).toBeGreaterThanOrEqual(5); // admin, token, hook key, and the two rotations' passwords
    for (const v of values) expect(text).not.toContain(v);
  });

  it('rotator audit <secret> lists the phases of both rotations, newest first, with no secret value', async () => {
    const run = await cli('--config', configFile, 'audit', ORDERS);
    expect(run.code).toBe(EXIT.OK);
    const [latest, earlier, ...more] = run.out.split('\n\n');
    expect(more).toEqual([]);
    expect(latest).toMatch(new RegExp(`^${ORDERS}  \\S+  rolled-back  by test:bob`));
    for (const line of [
      /✓ create\s+\d+ ms/,
      /✓ publish\s+\d+ ms/,
      /✗ reconnect\s+\d+ ms/,
      /✓ rollback\s+\d+ ms/,
      /version +1 → 2/,
    ])
      expect(latest).toMatch(line);
    expect(latest).toContain('error: [CONSUMER_FAILED]');
    expect(earlier).toMatch(new RegExp(`^${ORDERS}  \\S+  succeeded  by test:alice`));
    for (const p of ['create', 'publish', 'reconnect', 'verify', 'revoke'])
      expect(earlier).toMatch(new RegExp(`✓ ${p}\\s+\\d+ ms`));

    const json = await cli('--config', configFile, '--json', 'audit', ORDERS);
    expect(json.code).toBe(EXIT.OK);
    const entries = JSON.parse(json.out) as AuditEntry[];
    expect(entries.map((e) => [e.rotationId, e.outcome, e.trigger, e.approval])).toEqual([
      [rotations.rolledBack, 'rolled-back', 'test:bob', null],
      [rotations.succeeded, 'succeeded', 'test:alice', null],
    ]);
    expect(entries[0].phases.map((p) => `${p.name}:${p.result}`)).toEqual([
      'create:completed',
      'publish:completed',
      'reconnect:failed',
      'rollback:completed',
    ]);
    expect(entries[0]).toMatchObject({ versions: { from: '1', to: '2' }, execution: 'FAILED' });
    expect(entries[1].phases.every((p) => p.result === 'completed' && typeof p.durationMs === 'number')).toBe(true);
    expect(entries[1]).toMatchObject({ versions: { from: null, to: '1' }, execution: 'COMPLETED' });

    const printed = run.out + run.err + json.out + json.err;
    for (const v of await secretValues()) expect(printed).not.toContain(v);
  });

  it('lists rotations it cannot read (sealed with another codec key) instead of failing the whole trail', async () => {
    const own = process.env.ROTATOR_CODEC_KEY;
    process.env.ROTATOR_CODEC_KEY = codecKeyEnv(testCodecKeys()); // another deployment's key
    try {
      const run = await cli('--config', configFile, '--json', 'audit', ORDERS);
      expect(run.code).toBe(EXIT.OK);
      const entries = JSON.parse(run.out) as AuditEntry[];
      expect(entries).toHaveLength(2);
      for (const entry of entries) {
        expect(entry).toMatchObject({ secret: ORDERS, outcome: null, phases: [] });
        expect(entry.notes.some((n) => n.startsWith("could not read this rotation's history"))).toBe(true);
      }
    } finally {
      process.env.ROTATOR_CODEC_KEY = own;
    }
  });

  it('narrows by --since and --limit, and tells one secret from another whose name it starts', async () => {
    const since = await cli(
      '--config',
      configFile,
      '--json',
      'audit',
      ORDERS,
      '--since',
      new Date(firstEndedAt + 1).toISOString(),
    );
    expect((JSON.parse(since.out) as AuditEntry[]).map((e) => e.rotationId)).toEqual([rotations.rolledBack]);
    const recent = await cli('--config', configFile, '--json', 'audit', ORDERS, '--since', '1h');
    expect(JSON.parse(recent.out)).toHaveLength(2);
    const limited = await cli('--config', configFile, '--json', 'audit', ORDERS, '--limit', '1');
    expect((JSON.parse(limited.out) as AuditEntry[]).map((e) => e.rotationId)).toEqual([rotations.rolledBack]);
    // `rotate/orders_…` minus its last letter is a prefix of ORDERS' workflow ids: not one of its rotations.
    const prefix = await cli('--config', configFile, 'audit', ORDERS_PREFIX);
    expect(prefix.code).toBe(EXIT.OK);
    expect(prefix.out).toBe(`no rotations of ${ORDERS_PREFIX}`);
    expect((await cli('--config', configFile, 'audit', ORDERS, '--since', 'yesterday')).code).toBe(EXIT.BAD_INPUT);
    expect((await cli('--config', configFile, 'audit', ORDERS, '--limit', '0')).code).toBe(EXIT.BAD_INPUT);
    // A day that is not in its month, a time before any rotation could be, a number written another way.
    for (const bad of [
      ['--since', '2026-02-30'],
      ['--since', '99999999999d'],
      ['--limit', '0x10'],
      ['--limit', '1e3'],
    ])
      expect((await cli('--config', configFile, 'audit', ORDERS, ...bad)).code).toBe(EXIT.BAD_INPUT);
  });

  it('does not write again what a worker started mid-rotation replays; lines are numbered in their run', async () => {
    const { handle } = await startRotation(client, taskQueue, planRotation(config, BILLING), 'test:carol');
    await untilPhase(handle, 'reconnect');
    await worker.until((e) => e.secret === BILLING && e.kind === 'phase.started' && e.phase === 'reconnect');
    await worker.stop();
    // The new worker has no cache at all: it replays the whole history on every task of the rotation.
    worker = await AuditedWorker.start(config, keys, auditFile, true);
    const { status } = await followRotation(handle);
    expect(status.outcome).toBe('succeeded');
    await worker.until((e) => e.kind === 'rotation.ended' && e.rotationId === status.rotationId);

    // The replaying worker reported only what happened after it took over, never the replayed start.
    expect(worker.seen.map(step)).toEqual(['phase.completed reconnect', ...phases(['verify', 'revoke']), 'rotation.ended']);
    const lines = readLines(auditFile).filter((l) => l.rotationId === status.rotationId);
    expect(lines.map(step)).toEqual([
      'rotation.started',
      ...phases(['create', 'publish', 'reconnect', 'verify', 'revoke']),
      'rotation.ended',
    ]);
    expect(lines.every((l) => l.trigger === 'test:carol')).toBe(true);
    // Numbered the same by both workers: 1, 2, … with no gap and no repeat across the handover.
    expect(lines.map((l) => l.seq)).toEqual(lines.map((_l, i) => i + 1));

    // Every secret's rotations (other test files may rotate on the same server: enough room for theirs).
    const all = await cli('--config', configFile, '--json', 'audit', '--limit', '500');
    const secrets = (JSON.parse(all.out) as AuditEntry[]).map((e) => e.secret);
    expect(secrets.filter((s) => s === BILLING)).toHaveLength(1);
    expect(secrets.filter((s) => s === ORDERS)).toHaveLength(2);
  });

  it('`rotator worker --audit file:PATH` writes the trail of the rotations it runs', async () => {
    const file = join(dir, 'worker-process.jsonl');
    const queue = unique('tq');
    const processConfig = join(dir, 'process.yaml');
    writeFileSync(processConfig, yaml.replace(`task_queue: ${taskQueue}`, `task_queue: ${queue}`), { mode: 0o600 });
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), '--config', processConfig, 'worker', '--audit', `file:${file}`],
      { cwd: ROOT, env: { ...process.env, ROTATOR_LOG_LEVEL: 'error' }, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const exited = new Promise<unknown>((r) => child.once('exit', r));
    try {
      const { handle } = await startRotation(client, queue, planRotation(config, LEDGER), 'test:dave');
      const { status } = await followRotation(handle);
      expect(status.outcome).toBe('succeeded');
      // Another process writes the file: wait until its last line is there (or the worker died).
      const deadline = Date.now() + 30_000;
      while (!readLines(file).some((l) => l.kind === 'rotation.ended' && l.rotationId === status.rotationId)) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error('the worker wrote no rotation.ended line');
        await new Promise((r) => setTimeout(r, 100));
      }
      const lines = readLines(file);
      expect(lines.map(step)).toEqual([
        'rotation.started',
        ...phases(['create', 'publish', 'reconnect', 'verify', 'revoke']),
        'rotation.ended',
      ]);
      expect(lines.every((l) => l.secret === LEDGER && l.trigger === 'test:dave')).toBe(true);
      const text = readFileSync(file, 'utf8');
      for (const v of await secretValues()) expect(text).not.toContain(v);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('puts the approver, the rejecter and the canceller in the trail and in rotator audit', async () => {
    const started = async (by: string) => {
      const { handle } = await startRotation(client, taskQueue, planRotation(config, PAYMENTS), by);
      await untilPhase(handle, 'approval');
      return handle;
    };
    const ended = async (handle: Awaited<ReturnType<typeof started>>) => {
      const { status } = await followRotation(handle);
      await worker.until((e) => e.kind === 'rotation.ended' && e.rotationId === status.rotationId);
      return status;
    };
    const approvedRun = await started('test:erin');
    await decideRotation(client, PAYMENTS, 'approve', { by: 'frank', reason: 'change 42' });
    const approved = await ended(approvedRun);
    expect(approved.outcome).toBe('succeeded');
    const rejectedRun = await started('test:erin');
    await decideRotation(client, PAYMENTS, 'reject', { by: 'grace', reason: 'freeze week' });
    const rejected = await ended(rejectedRun);
    expect(rejected.outcome).toBe('rejected');
    const cancelledRun = await started('test:erin');
    await cancelRotation(client, PAYMENTS, { by: 'heidi', reason: 'wrong secret' });
    const cancelled = await ended(cancelledRun);

    // Cancelled through Temporal itself (UI, `temporal workflow cancel`): history names the client that asked.
    const viaTemporalRun = await started('test:erin');
    await viaTemporalRun.cancel();
    const viaTemporal = await ended(viaTemporalRun);

    const lines = readLines(auditFile);
    const of = (id: string) => lines.filter((l) => l.rotationId === id);
    expect(of(approved.rotationId).find((l) => l.kind === 'approval.granted')).toMatchObject({ actor: 'frank' });
    expect(
      of(approved.rotationId)
        .filter((l) => l.kind === 'phase.started')
        .map((l) => l.phase),
    ).toEqual(['approval', 'create', 'publish', 'reconnect', 'verify', 'revoke']);
    expect(of(rejected.rotationId).find((l) => l.kind === 'approval.rejected')).toMatchObject({ actor: 'grace' });
    expect(of(rejected.rotationId).at(-1)).toMatchObject({ kind: 'rotation.ended', outcome: 'rejected' });
    expect(of(cancelled.rotationId).find((l) => l.kind === 'cancel.requested')).toMatchObject({ actor: 'heidi' });
    expect(of(cancelled.rotationId).at(-1)).toMatchObject({ kind: 'rotation.ended', outcome: cancelled.outcome });
    expect(of(viaTemporal.rotationId).at(-1)).toMatchObject({ kind: 'rotation.ended', outcome: viaTemporal.outcome });

    const text = await cli('--config', configFile, 'audit', PAYMENTS);
    expect(text.code).toBe(EXIT.OK);
    const [t, c, r, a] = text.out.split('\n\n');
    expect(t).toContain(`cancel-requested by ${client.options.identity}`);
    expect(a).toContain('approval   approved by frank');
    expect(a).toMatch(/✓ approval\s+\d+ ms/);
    expect(r).toMatch(new RegExp(`^${PAYMENTS}  \\S+  rejected  by test:erin`));
    expect(r).toContain('approval   rejected by grace');
    expect(r).toContain(': freeze week');
    expect(c).toContain('cancelled  by heidi');
    const json = JSON.parse((await cli('--config', configFile, '--json', 'audit', PAYMENTS)).out) as AuditEntry[];
    expect(json.map((e) => [e.approval?.decision, e.approval?.by ?? null, e.cancel?.by ?? null])).toEqual([
      ['pending', null, null],
      ['pending', null, 'heidi'],
      ['rejected', 'grace', null],
      ['approved', 'frank', null],
    ]);
    expect(json[0].interventions).toEqual([{ kind: 'cancel-requested', at: expect.any(String), by: client.options.identity }]);
    expect(json.slice(1).every((e) => e.interventions.length === 0)).toBe(true);
    const printed = text.out + text.err + JSON.stringify(json) + readFileSync(auditFile, 'utf8');
    for (const v of await secretValues()) expect(printed).not.toContain(v);
  });

  it('refuses a bad --audit or ROTATOR_AUDIT before doing anything, naming which', async () => {
    const run = await cli('--config', configFile, 'worker', '--audit', 'syslog');
    expect(run.code).toBe(EXIT.BAD_INPUT);
    expect(run.err).toBe('rotator: --audit: expected stdout or file:PATH');
    process.env.ROTATOR_AUDIT = 'file:';
    try {
      const fromEnv = await cli('--config', configFile, 'worker');
      expect(fromEnv.code).toBe(EXIT.BAD_INPUT);
      expect(fromEnv.err).toBe('rotator: ROTATOR_AUDIT: expected stdout or file:PATH');
    } finally {
      delete process.env.ROTATOR_AUDIT;
    }
  });
});
