// Triggers end to end on Temporal, OpenBao and PostgreSQL: events mapped by rules, one rotation per event (and per
// burst), duplicates refused by the trigger workflow's id, and the actions rotate-if-due, reconcile and alert.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { startRotation } from '../src/client/rotations';
import type { TriggerEvent } from '../src/listener/events';
import { SCHEDULED_ROTATION, scheduledWorkflowIdFor, type TriggerResult } from '../workflows/lifecycle-definitions';
import { readStore, unique, vaultClient } from './support/harness';
import { startRotator, type Rotator } from './support/rotator';
import { dispatchFor, triggerConfig } from './support/trigger-config';

const SOURCES = ['    ci:', '      type: webhook', `      signing_key: ${randomBytes(16).toString('hex')}`];

let open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.reverse()) await o.close();
  open = [];
});

/** A webhook receiver that holds every request until released: it keeps a rotation in its reconnect phase. */
async function heldReceiver() {
  const held: ServerResponse[] = [];
  let arrived!: () => void;
  const first = new Promise<void>((r) => (arrived = r));
  const server = createServer((req, res) => {
    req.resume();
    held.push(res);
    arrived();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  open.push({ close: () => new Promise<void>((r) => server.close(() => r())) });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    first,
    count: () => held.length,
    release: () => held.forEach((r) => r.writeHead(200).end()),
  };
}

async function setUp(options: Parameters<typeof triggerConfig>[0]) {
  const built = await triggerConfig(options);
  const rotator = await startRotator(built.yaml, built.env);
  open.push(rotator);
  const dispatch = dispatchFor(built, rotator.client);
  return { ...built, rotator, dispatch };
}

const event = (over: Partial<TriggerEvent> = {}): TriggerEvent => ({
  source: 'ci',
  id: `evt-${randomBytes(6).toString('hex')}`,
  type: 'rotator.rotate',
  resource: 'orders',
  time: Date.now(),
  ...over,
});

async function resultOf(rotator: Rotator, workflowId: string): Promise<TriggerResult> {
  return (await rotator.client.workflow.getHandle(workflowId).result()) as TriggerResult;
}

async function versions(secret: string): Promise<number> {
  return (await readStore(`test/${secret}`))?.version ?? 0;
}

describe('exactly one rotation', () => {
  it('the same event three times, a schedule run and rotator rotate, all during one rotation: one rotation in all', async () => {
    const hold = await heldReceiver();
    // The webhook's key, which the worker reads from Vault.
    const hook = unique('hook');
    await vaultClient().write(`secret/data/test/${hook}`, { data: { key: randomBytes(16).toString('hex') } });
    const { rotator, dispatch, secrets, taskQueue } = await setUp({
      secrets: 1,
      sources: SOURCES,
      rules: (s) => [`- { source: ci, resource: ${s}, secret: ${s}, action: rotate }`],
      rotation: ['schedule: { every: 30d }'],
      consumers: [
        '- type: webhook',
        `  url: ${hold.url}`,
        `  signing_key: secret://${hook}/key`,
        '  attempts: 1',
        '  timeout: 20s',
      ],
      moreSecrets: [`  ${hook}:`, '    provider: vault', `    path: secret/data/test/${hook}`],
    });
    const secret = secrets[0]!;
    const e = event({ resource: secret });
    const first = await dispatch(e);
    expect(first.status).toBe('started');
    await hold.first; // the rotation is now in reconnect, waiting for the receiver
    const [again, third] = await Promise.all([dispatch(e), dispatch(e)]);
    expect([again.status, third.status]).toEqual(['duplicate', 'duplicate']);
    // What a Schedule's run is: a scheduledRotation under its own id, rotating under the secret's.
    const scheduled = await rotator.client.workflow.start(SCHEDULED_ROTATION, {
      workflowId: `${scheduledWorkflowIdFor(secret)}-${Date.now()}`,
      taskQueue,
      args: [{ secret, trigger: 'schedule' }],
    });
    const cli = await startRotation(rotator.client, taskQueue, rotator.plan(secret), 'cli');
    expect(cli.started).toBe(false);
    expect(await scheduled.result()).toMatchObject({ outcome: 'skipped', reason: 'already running' });
    hold.release();
    const result = await resultOf(rotator, (first as { workflowId: string }).workflowId);
    expect(result.outcome).toBe('succeeded');
    await cli.handle.result();
    expect(await versions(secret)).toBe(1);
    expect(hold.count()).toBe(1);
  });
});

describe('actions and rules', () => {
  it('rotate-if-due skips a secret that is not due and rotates one that is', async () => {
    const { rotator, dispatch, secrets } = await setUp({
      secrets: 2,
      sources: SOURCES,
      rules: (s) => [`- { source: ci, resource: ${s}, secret: ${s}, action: rotate-if-due }`],
      rotation: ['max_age: 90d'],
    });
    const [fresh, never] = secrets as [string, string];
    await (await startRotation(rotator.client, rotator.config.temporal.task_queue, rotator.plan(fresh))).handle.result();
    const a = await dispatch(event({ resource: fresh }));
    const b = await dispatch(event({ resource: never }));
    expect(await resultOf(rotator, (a as { workflowId: string }).workflowId)).toMatchObject({
      outcome: 'skipped',
      reason: 'not due',
    });
    expect(await resultOf(rotator, (b as { workflowId: string }).workflowId)).toMatchObject({ outcome: 'succeeded' });
    expect([await versions(fresh), await versions(never)]).toEqual([1, 1]);
  });

  it('reconcile leaves a secret whose store and database agree, and rotates one written out of band', async () => {
    const { rotator, dispatch, secrets } = await setUp({
      secrets: 1,
      sources: SOURCES,
      rules: (s) => [`- { source: ci, resource: ${s}, secret: ${s}, action: reconcile }`],
    });
    const secret = secrets[0]!;
    await (await startRotation(rotator.client, rotator.config.temporal.task_queue, rotator.plan(secret))).handle.result();
    const agree = await dispatch(event({ resource: secret }));
    expect(await resultOf(rotator, (agree as { workflowId: string }).workflowId)).toMatchObject({ outcome: 'skipped' });
    // PutSecretValue by hand: the store now holds a password the database never had.
    const current = (await readStore(`test/${secret}`))!;
    await vaultClient().write(`secret/data/test/${secret}`, { data: { ...current.data, password: 'typed-by-hand' } });
    const drifted = await dispatch(event({ resource: secret, type: 'PutSecretValue' }));
    expect(await resultOf(rotator, (drifted as { workflowId: string }).workflowId)).toMatchObject({ outcome: 'succeeded' });
    const after = (await readStore(`test/${secret}`))!;
    expect(after.version).toBe(3);
    expect(after.data.password).not.toBe('typed-by-hand');
  });

  it('alert rotates nothing; an event no rule maps is dropped; an event older than the last rotation joins it', async () => {
    const { rotator, dispatch, secrets } = await setUp({
      secrets: 2,
      sources: SOURCES,
      rules: (s, i) => [
        `- { source: ci, event: rotator.rotate, resource: ${s}, secret: ${s}, action: ${i === 0 ? 'alert' : 'rotate'} }`,
      ],
    });
    const [alerted, rotated] = secrets as [string, string];
    const a = await dispatch(event({ resource: alerted }));
    expect(await resultOf(rotator, (a as { workflowId: string }).workflowId)).toMatchObject({ outcome: 'alerted' });
    expect(await versions(alerted)).toBe(0);
    expect(await dispatch(event({ resource: rotated, type: 'something.else' }))).toEqual({ status: 'unmapped' });
    expect(await dispatch(event({ resource: 'no-such-secret' }))).toEqual({ status: 'unmapped' });

    const raised = Date.now();
    const first = await dispatch(event({ resource: rotated, time: raised }));
    expect(await resultOf(rotator, (first as { workflowId: string }).workflowId)).toMatchObject({ outcome: 'succeeded' });
    // Delivered late, but raised before that rotation started: it is answered already.
    const late = await dispatch(event({ resource: rotated, time: raised - 1000 }));
    expect(await resultOf(rotator, (late as { workflowId: string }).workflowId)).toMatchObject({ outcome: 'joined' });
    // Raised after it: a rotation of its own.
    const later = await dispatch(event({ resource: rotated, time: Date.now() + 1 }));
    expect(await resultOf(rotator, (later as { workflowId: string }).workflowId)).toMatchObject({ outcome: 'succeeded' });
    expect(await versions(rotated)).toBe(2);
  });
});
