// `rotator listen` as its own process on the real stack: EventBridge → SQS (moto), signed webhooks, the GCP- and
// Azure-shaped pushes, and a burst, each ending in rotations on OpenBao and PostgreSQL, once per secret.
import { randomBytes } from 'node:crypto';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutEventsCommand,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { signWebhook } from '../src/listener/http';
import { TRIGGER_ROTATION } from '../workflows/lifecycle-definitions';
import { readStore, testCodecKeys, unique } from './support/harness';
import { startListenerProcess, type ListenerProcess } from './support/listener-process';
import { startRotator, type Rotator } from './support/rotator';
import { testStack } from './support/stack';
import { MOTO_REGION } from './support/test-stores';
import { triggerConfig } from './support/trigger-config';

const KEY = randomBytes(24).toString('hex');
const GCP_TOKEN = randomBytes(24).toString('hex');
const AZURE_KEY = randomBytes(24).toString('hex');
const HTTP_SOURCES = [
  '    ci:',
  '      type: webhook',
  `      signing_key: ${KEY}`,
  '    gcp:',
  '      type: gcp-pubsub',
  `      token: ${GCP_TOKEN}`,
  '    az:',
  '      type: azure-event-grid',
  `      key: ${AZURE_KEY}`,
];

let open: Array<{ close(): Promise<void> } | { stop(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.reverse()) await ('close' in o ? o.close() : o.stop());
  open = [];
});

async function setUp(options: Parameters<typeof triggerConfig>[0]) {
  const built = await triggerConfig(options);
  const keys = testCodecKeys();
  const rotator = await startRotator(built.yaml, built.env, { keys });
  open.push(rotator);
  const listener = await startListenerProcess(built.yaml, built.env, keys);
  open.push(listener);
  return { ...built, rotator, listener, keys };
}

async function versionOf(secret: string): Promise<number> {
  return (await readStore(`test/${secret}`))?.version ?? 0;
}

/** Waits until `expected` trigger workflows of this task queue are visible and closed; returns how many there are. */
async function triggersSettled(rotator: Rotator, taskQueue: string, expected: number): Promise<number> {
  for (;;) {
    let running = 0;
    let all = 0;
    const query = `WorkflowType = '${TRIGGER_ROTATION}' AND TaskQueue = '${taskQueue}'`;
    for await (const w of rotator.client.workflow.list({ query })) {
      all++;
      if (w.status.name === 'RUNNING') running++;
    }
    if (all >= expected && running === 0) return all;
    await new Promise((r) => setTimeout(r, 200));
  }
}

function post(listener: ListenerProcess, path: string, body: string, headers: Record<string, string> = {}) {
  return fetch(`${listener.url}${path}`, { method: 'POST', body, headers: { 'Content-Type': 'application/json', ...headers } });
}

const webhookBody = (secret: string, id = `evt-${randomBytes(6).toString('hex')}`) =>
  JSON.stringify({ id, type: 'rotator.rotate', secret, time: new Date().toISOString() });

describe('the generic signed webhook', () => {
  it('rotates on a valid signature; refuses forged, stale, replayed, oversized and unsigned requests, also after a restart', async () => {
    const { rotator, listener, secrets, yaml, env, taskQueue, keys } = await setUp({
      secrets: 1,
      sources: HTTP_SOURCES,
      rules: (s) => [`- { source: ci, resource: ${s}, secret: ${s}, action: rotate }`],
    });
    const secret = secrets[0]!;
    const body = webhookBody(secret);
    const headers = { ...signWebhook(KEY, body), 'X-Rotator-Event-Id': JSON.parse(body).id as string };
    expect((await post(listener, '/hooks/ci', body, headers)).status).toBe(202);
    expect(await triggersSettled(rotator, taskQueue, 1)).toBe(1);
    expect(await versionOf(secret)).toBe(1);

    const other = webhookBody(secret);
    const otherId = { 'X-Rotator-Event-Id': JSON.parse(other).id as string };
    const forged = { ...signWebhook(randomBytes(24).toString('hex'), other), ...otherId };
    const stale = { ...signWebhook(KEY, other, Math.floor(Date.now() / 1000) - 3600), ...otherId };
    const refused = [
      (await post(listener, '/hooks/ci', other, forged)).status,
      (await post(listener, '/hooks/ci', other, stale)).status,
      (await post(listener, '/hooks/ci', other, otherId)).status,
      (
        await post(listener, '/hooks/ci', body, {
          ...signWebhook(KEY, body),
          'X-Rotator-Event-Id': JSON.parse(body).id as string,
        })
      ).status,
      (await post(listener, '/hooks/ci', 'x'.repeat(70_000), forged)).status,
    ];
    expect(refused).toEqual([401, 401, 401, 409, 413]);

    // A new listener process: the replay is still a replay (the dedupe is Temporal's, not the listener's memory).
    await listener.stop();
    const again = await startListenerProcess(yaml, env, keys);
    open.push(again);
    const replay = await post(again, '/hooks/ci', body, {
      ...signWebhook(KEY, body),
      'X-Rotator-Event-Id': JSON.parse(body).id as string,
    });
    expect(replay.status).toBe(409);
    expect(await triggersSettled(rotator, taskQueue, 1)).toBe(1);
    expect(await versionOf(secret)).toBe(1);
  });
});

describe('EventBridge → SQS', () => {
  const aws = {
    region: MOTO_REGION,
    endpoint: testStack().moto!.endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  };

  it('a CloudTrail-shaped RotateSecret on the bus rotates the mapped secret once, and its message is gone', async () => {
    const sqs = new SQSClient(aws);
    const events = new EventBridgeClient(aws);
    open.push({ close: async () => (sqs.destroy(), events.destroy()) });
    const id = unique('q').replace('_', '-');
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `rotator-${id}` }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    const bus = `bus-${id}`;
    await events.send(new CreateEventBusCommand({ Name: bus }));
    const pattern = { source: ['aws.secretsmanager'], 'detail-type': ['AWS API Call via CloudTrail'] };
    await events.send(new PutRuleCommand({ Name: `rule-${id}`, EventBusName: bus, EventPattern: JSON.stringify(pattern) }));
    await events.send(
      new PutTargetsCommand({ Rule: `rule-${id}`, EventBusName: bus, Targets: [{ Id: 'q', Arn: Attributes!.QueueArn! }] }),
    );

    const arnOf = (s: string) => `arn:aws:secretsmanager:${MOTO_REGION}:123456789012:secret:prod/${s}-AbCdEf`;
    const { rotator, secrets, taskQueue } = await setUp({
      secrets: 1,
      sources: [
        '    aws:',
        '      type: sqs',
        `      queue_url: ${QueueUrl}`,
        `      region: ${MOTO_REGION}`,
        `      endpoint: "${aws.endpoint}"`,
        '      access_key_id: test',
        '      secret_access_key: test',
        '      wait: 1s',
      ],
      rules: (s) => [
        `- { source: aws, event: RotateSecret, resource: "arn:aws:secretsmanager:*:secret:prod/${s}-*", secret: ${s}, action: rotate }`,
      ],
    });
    const secret = secrets[0]!;
    const put = await events.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: bus,
            Source: 'aws.secretsmanager',
            DetailType: 'AWS API Call via CloudTrail',
            Detail: JSON.stringify({
              eventVersion: '1.08',
              eventSource: 'secretsmanager.amazonaws.com',
              eventName: 'RotateSecret',
              awsRegion: MOTO_REGION,
              requestParameters: { secretId: arnOf(secret) },
              responseElements: null,
            }),
          },
        ],
      }),
    );
    expect(put.FailedEntryCount).toBe(0);
    expect(await triggersSettled(rotator, taskQueue, 1)).toBe(1);
    expect(await versionOf(secret)).toBe(1);
    // Deleted right after the trigger workflow started: ask the queue until it says so.
    for (;;) {
      const { Attributes: a } = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      if (a!.ApproximateNumberOfMessages === '0' && a!.ApproximateNumberOfMessagesNotVisible === '0') break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});

describe('the GCP- and Azure-shaped pushes', () => {
  it('start a rotation with the right token or key, and are refused without it; the Event Grid handshake is answered', async () => {
    const { rotator, listener, secrets, taskQueue } = await setUp({
      secrets: 2,
      sources: HTTP_SOURCES,
      rules: (s, i) =>
        i === 0
          ? [`- { source: gcp, event: SECRET_ROTATE, resource: "projects/p/secrets/${s}", secret: ${s}, action: rotate }`]
          : [
              `- { source: az, event: Microsoft.KeyVault.SecretNearExpiry, resource: "https://kv.vault.azure.net/secrets/${s.replace(/_/g, '-')}", secret: ${s}, action: rotate }`,
            ],
    });
    const [gcpSecret, azSecret] = secrets as [string, string];
    const pubsub = JSON.stringify({
      message: {
        attributes: {
          eventType: 'SECRET_ROTATE',
          secretId: `projects/p/secrets/${gcpSecret}`,
          timestamp: new Date().toISOString(),
        },
        data: Buffer.from(JSON.stringify({ name: `projects/p/secrets/${gcpSecret}` })).toString('base64'),
        messageId: `m-${randomBytes(4).toString('hex')}`,
        publishTime: new Date().toISOString(),
      },
      subscription: 'projects/p/subscriptions/rotator',
    });
    expect((await post(listener, '/hooks/gcp?token=wrong-token-of-some-length', pubsub)).status).toBe(401);
    expect((await post(listener, `/hooks/gcp?token=${GCP_TOKEN}`, pubsub)).status).toBe(202);

    const validation = JSON.stringify([
      {
        id: randomBytes(8).toString('hex'),
        topic: '/subscriptions/x/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv',
        subject: '',
        eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
        eventTime: new Date().toISOString(),
        data: { validationCode: 'code-123', validationUrl: 'https://example.invalid/validate' },
        dataVersion: '2',
        metadataVersion: '1',
      },
    ]);
    const handshake = { 'aeg-event-type': 'SubscriptionValidation' };
    expect((await post(listener, '/hooks/az?code=wrong-key-of-some-length', validation, handshake)).status).toBe(401);
    const answered = await post(listener, `/hooks/az?code=${AZURE_KEY}`, validation, handshake);
    expect(answered.status).toBe(200);
    expect(await answered.json()).toEqual({ validationResponse: 'code-123' });
    const vaultId = `https://kv.vault.azure.net/secrets/${azSecret.replace(/_/g, '-')}`;
    const nearExpiry = JSON.stringify([
      {
        id: randomBytes(8).toString('hex'),
        topic: '/subscriptions/x/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv',
        subject: azSecret.replace(/_/g, '-'),
        eventType: 'Microsoft.KeyVault.SecretNearExpiry',
        eventTime: new Date().toISOString(),
        data: {
          Id: `${vaultId}/0123456789abcdef`,
          VaultName: 'kv',
          ObjectType: 'Secret',
          ObjectName: azSecret,
          Version: '0123456789abcdef',
          NBF: null,
          EXP: 1900000000,
        },
        dataVersion: '1',
        metadataVersion: '1',
      },
    ]);
    const notification = { 'aeg-event-type': 'Notification' };
    expect((await post(listener, '/hooks/az', nearExpiry, notification)).status).toBe(401);
    expect((await post(listener, `/hooks/az?code=${AZURE_KEY}`, nearExpiry, notification)).status).toBe(200);
    expect(await triggersSettled(rotator, taskQueue, 2)).toBe(2);
    expect([await versionOf(gcpSecret), await versionOf(azSecret)]).toEqual([1, 1]);
  });
});

describe('a burst', () => {
  it('1,000 valid events for 100 secrets: exactly 100 rotations, listener memory flat', async () => {
    const { rotator, listener, secrets, taskQueue } = await setUp({
      secrets: 100,
      sources: HTTP_SOURCES,
      rules: (s) => [`- { source: ci, resource: ${s}, secret: ${s}, action: rotate }`],
    });
    // Raised before any is sent, as a burst is: every later delivery is answered by the rotation the first started.
    const bodies = secrets.flatMap((s) => Array.from({ length: 10 }, () => webhookBody(s)));
    const rssBefore = listener.rss();
    let peak = rssBefore;
    const started = Date.now();
    const codes: number[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 25 }, async () => {
        while (next < bodies.length) {
          const body = bodies[next++]!;
          const res = await post(listener, '/hooks/ci', body, {
            ...signWebhook(KEY, body),
            'X-Rotator-Event-Id': JSON.parse(body).id as string,
          });
          codes.push(res.status);
          await res.arrayBuffer();
          peak = Math.max(peak, listener.rss());
        }
      }),
    );
    const accepted = Date.now() - started;
    expect(await triggersSettled(rotator, taskQueue, 1000)).toBe(1000);
    const settled = Date.now() - started;
    const rotations = (await Promise.all(secrets.map(versionOf))).reduce((a, b) => a + b, 0);
    const rssAfter = listener.rss();
    process.stdout.write(
      `burst: 1000 events accepted in ${accepted} ms, all settled in ${settled} ms; ${rotations} rotations; listener RSS ` +
        `${(rssBefore / 2 ** 20).toFixed(0)} → peak ${(peak / 2 ** 20).toFixed(0)} → ${(rssAfter / 2 ** 20).toFixed(0)} MiB\n`,
    );
    expect(codes.filter((c) => c !== 202)).toEqual([]);
    expect(rotations).toBe(100);
    // Flat: the listener holds no per-event state (the dedupe is Temporal's), so a burst leaves no growth behind.
    expect(rssAfter - rssBefore).toBeLessThan(64 * 2 ** 20);
    // 100 rotations and 1,000 events: minutes on 2 cores while other test files run beside it (npm test runs three);
    // CI took 279 s and once 305 s. A guard against a hang, not a speed check.
  }, 600_000);
});
