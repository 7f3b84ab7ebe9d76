// The SQS event source of `rotator listen`: EventBridge envelopes parsed to names and ids only, and messages deleted
// only once the dispatcher answered, against moto's real EventBridge rules delivering to real SQS queues.
import { randomUUID } from 'node:crypto';
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutEventsCommand,
  PutRuleCommand,
  PutTargetsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import { TriggerSourceSchema } from '../src/config/trigger';
import { RotatorError } from '../src/kernel/errors';
import { createLogger } from '../src/kernel/log';
import { parseSqsBody, SECRETS_MANAGER_API_EVENTS, SECRETS_MANAGER_ROTATION_EVENTS } from '../src/listener/aws-events';
import type { DispatchOutcome, TriggerEvent } from '../src/listener/events';
import { backoff, startSqsSource, type MessageOutcome, type SqsSource } from '../src/listener/sqs';
import { testStack } from './support/stack';
import { MOTO_REGION, motoClientConfig } from './support/test-stores';

const ACCOUNT = '123456789012';
const arnOf = (name: string) => `arn:aws:secretsmanager:${MOTO_REGION}:${ACCOUNT}:secret:${name}-AbCdEf`;
// Whole seconds, as EventBridge writes times: an event stands for the last moment of that second (latestMoment).
const WHEN = '2030-01-02T03:04:05Z';

// ---------------------------------------------------------------------------------------------------------------
// parseSqsBody: each accepted shape, and each malformed variant naming its field but never its value
// ---------------------------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

function envelope(detailType: string, detail: unknown, extra: Json = {}): Json {
  return {
    version: '0',
    id: 'ev-1',
    'detail-type': detailType,
    source: 'aws.secretsmanager',
    account: ACCOUNT,
    time: WHEN,
    region: MOTO_REGION,
    resources: [],
    detail,
    ...extra,
  };
}

const apiCall = (eventName: string, extra: Json = {}) =>
  envelope('AWS API Call via CloudTrail', {
    eventVersion: '1.08',
    eventSource: 'secretsmanager.amazonaws.com',
    eventName,
    awsRegion: MOTO_REGION,
    requestParameters: { secretId: arnOf('orders') },
    responseElements: null,
    ...extra,
  });

const serviceEvent = (eventName: string, extra: Json = {}) =>
  envelope('AWS Service Event via CloudTrail', {
    eventSource: 'secretsmanager.amazonaws.com',
    eventName,
    requestParameters: null,
    responseElements: null,
    additionalEventData: { SecretId: arnOf('orders') },
    eventType: 'AwsServiceEvent',
    ...extra,
  });

const ownEvent = (detailType: string, detail: unknown) => envelope(detailType, detail, { source: 'ci.example' });

const parse = (body: unknown) => parseSqsBody('aws', typeof body === 'string' ? body : JSON.stringify(body));

function parseError(body: unknown): RotatorError {
  try {
    parse(body);
  } catch (err) {
    if (err instanceof RotatorError) return err;
    throw err;
  }
  throw new Error('expected parseSqsBody to throw');
}

describe('parseSqsBody', () => {
  it('reads a CloudTrail RotateSecret call as an event about the secretId ARN, at the envelope time', () => {
    expect(parse(apiCall('RotateSecret'))).toEqual({
      source: 'aws',
      id: 'ev-1',
      type: 'RotateSecret',
      resource: arnOf('orders'),
      time: Date.parse(WHEN) + 999,
    });
  });

  it.each(SECRETS_MANAGER_API_EVENTS)('accepts the %s API call', (name) => {
    expect(parse(apiCall(name)).type).toBe(name);
  });

  it('keeps a secretId given as a name', () => {
    expect(parse(apiCall('UpdateSecret', { requestParameters: { secretId: 'prod/orders' } })).resource).toBe('prod/orders');
  });

  it('falls back to responseElements.arn, then the pre-2024 aRN spelling, then the one secret ARN in resources', () => {
    const arn = arnOf('fallback');
    expect(parse(apiCall('RotateSecret', { requestParameters: {}, responseElements: { arn } })).resource).toBe(arn);
    expect(parse(apiCall('RotateSecret', { requestParameters: null, responseElements: { aRN: arn } })).resource).toBe(arn);
    const withResources = apiCall('RotateSecret', { requestParameters: {} });
    withResources.resources = ['arn:aws:kms:us-east-1:123456789012:key/k', arn];
    expect(parse(withResources).resource).toBe(arn);
  });

  it('prefers requestParameters.secretId over the other places', () => {
    const event = apiCall('RotateSecret', { responseElements: { arn: arnOf('other') } });
    event.resources = [arnOf('third')];
    expect(parse(event).resource).toBe(arnOf('orders'));
  });

  it('reads only secretId of PutSecretValue request parameters: a secretString never reaches the event', () => {
    const secretString = `sv-${randomUUID()}`;
    const event = parse(
      apiCall('PutSecretValue', {
        requestParameters: { secretId: arnOf('orders'), secretString, clientRequestToken: 'tok-1' },
      }),
    );
    expect(event).toEqual({
      source: 'aws',
      id: 'ev-1',
      type: 'PutSecretValue',
      resource: arnOf('orders'),
      time: Date.parse(WHEN) + 999,
    });
    expect(JSON.stringify(event)).not.toContain(secretString);
  });

  it.each(SECRETS_MANAGER_ROTATION_EVENTS)('reads the %s service event by additionalEventData.SecretId', (name) => {
    expect(parse(serviceEvent(name))).toEqual({
      source: 'aws',
      id: 'ev-1',
      type: name,
      resource: arnOf('orders'),
      time: Date.parse(WHEN) + 999,
    });
  });

  it.each(['rotator.rotate', 'rotator.alert'])(
    'reads a %s event of rotator’s own schema from any source, without its reason',
    (type) => {
      const reason = `because-${randomUUID()}`;
      const event = parse(ownEvent(type, { secret: 'orders_db', reason }));
      expect(event).toEqual({ source: 'aws', id: 'ev-1', type, resource: 'orders_db', time: Date.parse(WHEN) + 999 });
      expect(JSON.stringify(event)).not.toContain(reason);
    },
  );

  const MARK = 'MARKER-d41d8cd9';
  const NUM = 424242;
  const malformed: Array<[string, unknown, string]> = [
    ['a body that is not JSON', `{"not json ${MARK}`, 'body: not JSON'],
    ['a JSON array', [MARK], 'body: expected an object'],
    ['a JSON string', MARK, 'body: not JSON'],
    ['no version', { ...apiCall('RotateSecret'), version: undefined }, 'version: required'],
    ['another version', { ...apiCall('RotateSecret'), version: MARK }, 'version: expected "0" (an EventBridge event)'],
    ['no id', { ...apiCall('RotateSecret'), id: undefined }, 'id: required'],
    ['a numeric id', { ...apiCall('RotateSecret'), id: NUM }, 'id: expected a string'],
    ['an empty id', { ...apiCall('RotateSecret'), id: '' }, 'id: expected a non-empty string'],
    ['a time that is no timestamp', { ...apiCall('RotateSecret'), time: MARK }, 'time: expected an ISO 8601 timestamp'],
    ['resources that are no array', { ...apiCall('RotateSecret'), resources: MARK }, 'resources: expected an array'],
    ['no detail', { ...apiCall('RotateSecret'), detail: undefined }, 'detail: required'],
    ['a detail that is an array', { ...apiCall('RotateSecret'), detail: [MARK] }, 'detail: expected an object'],
    [
      'an unknown detail-type',
      { ...apiCall('RotateSecret'), 'detail-type': MARK },
      'detail-type: expected one of AWS API Call via CloudTrail, AWS Service Event via CloudTrail, rotator.rotate, rotator.alert',
    ],
    [
      'a CloudTrail detail-type from another source',
      { ...apiCall('RotateSecret'), source: MARK },
      'source: expected aws.secretsmanager for detail-type AWS API Call via CloudTrail',
    ],
    [
      'another service’s CloudTrail event',
      apiCall('RotateSecret', { eventSource: MARK }),
      'detail.eventSource: expected secretsmanager.amazonaws.com',
    ],
    ['an API call not in the set', apiCall(MARK), `detail.eventName: expected one of ${SECRETS_MANAGER_API_EVENTS.join(', ')}`],
    [
      'a read (GetSecretValue) API call',
      apiCall('GetSecretValue'),
      `detail.eventName: expected one of ${SECRETS_MANAGER_API_EVENTS.join(', ')}`,
    ],
    [
      'a PutSecretValue naming no secret, with a secretString',
      apiCall('PutSecretValue', { requestParameters: { secretString: MARK } }),
      'detail.requestParameters.secretId: required (nor do detail.responseElements.arn or resources name the secret)',
    ],
    [
      'a numeric secretId',
      apiCall('RotateSecret', { requestParameters: { secretId: NUM, secretString: MARK } }),
      'detail.requestParameters.secretId: expected a string',
    ],
    [
      'a secretId with a control character',
      apiCall('RotateSecret', { requestParameters: { secretId: `${MARK}\n` } }),
      'detail.requestParameters.secretId: expected no control, format or line-separator characters',
    ],
    [
      'a secretId with a C1 control character (U+009B starts a terminal escape)',
      apiCall('RotateSecret', { requestParameters: { secretId: `${MARK}\u009b2J` } }),
      'detail.requestParameters.secretId: expected no control, format or line-separator characters',
    ],
    [
      'a secretId with a bidi override',
      apiCall('RotateSecret', { requestParameters: { secretId: `${MARK}\u202e` } }),
      'detail.requestParameters.secretId: expected no control, format or line-separator characters',
    ],
    [
      'requestParameters that are no object',
      apiCall('RotateSecret', { requestParameters: MARK }),
      'detail.requestParameters: expected an object',
    ],
    [
      'a numeric responseElements.arn',
      apiCall('RotateSecret', { requestParameters: {}, responseElements: { arn: NUM } }),
      'detail.responseElements.arn: expected a string',
    ],
    [
      'two secret ARNs in resources and none in the request',
      { ...apiCall('RotateSecret', { requestParameters: {} }), resources: [arnOf(MARK), arnOf('b')] },
      'resources: names more than one secret, and the request names none',
    ],
    [
      'a rotation event without additionalEventData',
      serviceEvent('RotationSucceeded', { additionalEventData: undefined }),
      'detail.additionalEventData: required',
    ],
    [
      'a rotation event without SecretId',
      serviceEvent('RotationSucceeded', { additionalEventData: { secretId: MARK } }),
      'detail.additionalEventData.SecretId: required',
    ],
    [
      'an API call name as a service event',
      serviceEvent('RotateSecret'),
      `detail.eventName: expected one of ${SECRETS_MANAGER_ROTATION_EVENTS.join(', ')}`,
    ],
    ['rotator.rotate without a secret', ownEvent('rotator.rotate', { reason: MARK }), 'detail.secret: required'],
    ['rotator.rotate with a numeric secret', ownEvent('rotator.rotate', { secret: NUM }), 'detail.secret: expected a string'],
    [
      'rotator.alert with a reason that is no string',
      ownEvent('rotator.alert', { secret: 'orders_db', reason: { text: MARK } }),
      'detail.reason: expected a string',
    ],
  ];

  it.each(malformed)('refuses %s with CONFIG_INVALID naming the field, never the value', (_what, body, message) => {
    const err = parseError(body);
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toBe(message);
    expect(err.message).not.toContain(MARK);
    expect(err.message).not.toContain(String(NUM));
  });
});

describe('backoff', () => {
  it('doubles from 500 ms to a 30 s cap, each wait between half and all of its step', () => {
    expect([1, 2, 3].map((n) => backoff(n, () => 1))).toEqual([500, 1000, 2000]);
    expect([1, 2, 3].map((n) => backoff(n, () => 0))).toEqual([250, 500, 1000]);
    expect(backoff(10, () => 1)).toBe(30_000);
    expect(backoff(10_000, () => 0)).toBe(15_000);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// startSqsSource against moto: EventBridge rule → SQS queue → the poller → a recording dispatch
// ---------------------------------------------------------------------------------------------------------------

/** Items as they come, and promises for the first one that matches, whether it came already or comes later. */
class Inbox<T> {
  readonly items: T[] = [];
  private waiters: Array<{ match: (item: T) => boolean; resolve: (item: T) => void }> = [];
  push(item: T): void {
    this.items.push(item);
    this.waiters = this.waiters.filter((w) => (w.match(item) ? (w.resolve(item), false) : true));
  }
  next(match: (item: T) => boolean): Promise<T> {
    const found = this.items.find(match);
    return found !== undefined ? Promise.resolve(found) : new Promise((resolve) => this.waiters.push({ match, resolve }));
  }
  /** Resolves once `n` items came. */
  async atLeast(n: number): Promise<void> {
    if (this.items.length < n) await this.next(() => this.items.length >= n);
  }
}

interface Settled {
  messageId: string;
  outcome: MessageOutcome;
  reason: string;
}

/** Where nothing signals (server state): ask again every 50 ms. */
async function until(check: () => Promise<boolean> | boolean): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 50));
}

const RULE_PATTERN = {
  source: ['aws.secretsmanager', 'ci.example'],
  'detail-type': ['AWS API Call via CloudTrail', 'AWS Service Event via CloudTrail', 'rotator.rotate', 'rotator.alert'],
};

const sqs = new SQSClient(motoClientConfig());
const events = new EventBridgeClient(motoClientConfig());
const running: SqsSource[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});
afterAll(() => {
  sqs.destroy();
  events.destroy();
});

async function createQueue(name: string): Promise<{ url: string; arn: string }> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  return { url: QueueUrl!, arn: Attributes!.QueueArn! };
}

/** A fresh bus, queue, dead-letter queue and rule per test: nothing another test (or file) puts reaches it. */
async function scenario() {
  const id = randomUUID().slice(0, 8);
  const queue = await createQueue(`rotator-events-${id}`);
  const dlq = await createQueue(`rotator-events-${id}-dlq`);
  const bus = `rotator-test-${id}`;
  await events.send(new CreateEventBusCommand({ Name: bus }));
  const { RuleArn } = await events.send(
    new PutRuleCommand({ Name: `to-queue-${id}`, EventBusName: bus, EventPattern: JSON.stringify(RULE_PATTERN) }),
  );
  await events.send(
    new PutTargetsCommand({ Rule: `to-queue-${id}`, EventBusName: bus, Targets: [{ Id: 'queue', Arn: queue.arn }] }),
  );
  // What AWS needs for the rule to deliver (moto does not check it): the queue policy lets this rule send.
  const policy = {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: queue.arn,
        Condition: { ArnEquals: { 'aws:SourceArn': RuleArn } },
      },
    ],
  };
  await sqs.send(new SetQueueAttributesCommand({ QueueUrl: queue.url, Attributes: { Policy: JSON.stringify(policy) } }));

  return {
    queueUrl: queue.url,
    dlqUrl: dlq.url,
    /** moto delivers to the rule's targets within PutEvents: when it returns, the queue holds what matched. */
    async put(...entries: Omit<PutEventsRequestEntry, 'EventBusName'>[]): Promise<string[]> {
      const out = await events.send(new PutEventsCommand({ Entries: entries.map((e) => ({ ...e, EventBusName: bus })) }));
      expect(out.FailedEntryCount).toBe(0);
      return out.Entries!.map((e) => e.EventId!);
    },
    /** Messages on a queue, visible or received and not yet deleted. */
    async onQueue(url: string): Promise<{ visible: number; inFlight: number }> {
      const { Attributes } = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      return {
        visible: Number(Attributes!.ApproximateNumberOfMessages),
        inFlight: Number(Attributes!.ApproximateNumberOfMessagesNotVisible),
      };
    },
    /** Long-polls the dead-letter queue: returns as soon as moto has a message there. */
    async deadLetter(): Promise<Message> {
      for (;;) {
        const { Messages } = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: dlq.url, WaitTimeSeconds: 20, MessageAttributeNames: ['All'] }),
        );
        if (Messages?.[0]) return Messages[0];
      }
    },
  };
}

type Scenario = Awaited<ReturnType<typeof scenario>>;

function sourceConfig(s: Scenario, extra: Json = {}) {
  const parsed = TriggerSourceSchema.parse({
    type: 'sqs',
    queue_url: s.queueUrl,
    region: MOTO_REGION,
    endpoint: testStack().moto!.endpoint,
    access_key_id: 'test',
    secret_access_key: 'test',
    visibility_timeout: '1s',
    max_receives: 3,
    dead_letter_queue_url: s.dlqUrl,
    ...extra,
  });
  if (parsed.type !== 'sqs') throw new Error('unreachable');
  return parsed;
}

/** A started source whose dispatch records each event and answers what the test says; its log lines are kept. */
function start(s: Scenario, answer: (event: TriggerEvent, call: number) => Promise<DispatchOutcome>, extra: Json = {}) {
  const dispatched = new Inbox<TriggerEvent>();
  const settled = new Inbox<Settled>();
  const lines: string[] = [];
  const log = createLogger({ write: (line: string) => void lines.push(line) });
  const source = startSqsSource(
    'aws',
    sourceConfig(s, extra),
    async (event) => {
      dispatched.push(event);
      return answer(event, dispatched.items.length);
    },
    log,
    { onSettled: (x) => settled.push(x) },
  );
  running.push(source);
  return { source, dispatched, settled, lines };
}

const started = (event: TriggerEvent): Promise<DispatchOutcome> =>
  Promise.resolve({ status: 'started', secret: 'orders_db', action: 'rotate', workflowId: `trigger/aws/${event.id}` });

const cloudTrail = (eventName: string, requestParameters: Json, time?: Date): Omit<PutEventsRequestEntry, 'EventBusName'> => ({
  Source: 'aws.secretsmanager',
  DetailType: 'AWS API Call via CloudTrail',
  ...(time ? { Time: time } : {}),
  Detail: JSON.stringify({
    eventVersion: '1.08',
    eventSource: 'secretsmanager.amazonaws.com',
    eventName,
    awsRegion: MOTO_REGION,
    requestParameters,
    responseElements: { arn: arnOf('orders') },
  }),
});

const attributesOf = (m: Message) =>
  Object.fromEntries(Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue]));

describe('the SQS source, against moto', () => {
  it('dispatches a CloudTrail RotateSecret event as the secret ARN, then deletes the message', async () => {
    const s = await scenario();
    const [eventId] = await s.put(cloudTrail('RotateSecret', { secretId: arnOf('orders') }, new Date(WHEN)));
    const { source, dispatched, settled } = start(s, started);

    expect(await settled.next(() => true)).toMatchObject({ outcome: 'deleted', reason: 'started' });
    expect(dispatched.items).toEqual([
      { source: 'aws', id: eventId, type: 'RotateSecret', resource: arnOf('orders'), time: Date.parse(WHEN) + 999 },
    ]);
    expect(await s.onQueue(s.queueUrl)).toEqual({ visible: 0, inFlight: 0 });
    expect(source.ready()).toBe(true);
    expect(source.stats()).toMatchObject({ received: 1, started: 1, deadLettered: 0, dispatchFailures: 0 });
  });

  it('deletes an event the dispatcher judged a duplicate, and one no rule maps, without retrying either', async () => {
    const s = await scenario();
    await s.put(
      cloudTrail('RotateSecret', { secretId: arnOf('seen-before') }),
      cloudTrail('UpdateSecret', { secretId: arnOf('unmapped') }),
    );
    const { source, settled } = start(s, async (event) =>
      event.resource === arnOf('seen-before') ? { status: 'duplicate', workflowId: 'trigger/aws/x' } : { status: 'unmapped' },
    );

    await settled.atLeast(2);
    expect(settled.items.map((x) => [x.outcome, x.reason]).sort()).toEqual([
      ['deleted', 'duplicate'],
      ['deleted', 'unmapped'],
    ]);
    expect(await s.onQueue(s.queueUrl)).toEqual({ visible: 0, inFlight: 0 });
    expect(source.stats()).toMatchObject({ duplicate: 1, unmapped: 1 });
  });

  it('leaves a message whose dispatch throws, gets it again after the visibility timeout, and dead-letters it at max_receives', async () => {
    const s = await scenario();
    const [eventId] = await s.put(cloudTrail('RotateSecret', { secretId: arnOf('orders') }));
    const { source, dispatched, settled } = start(s, () => Promise.reject(new Error('temporal unreachable')));

    await settled.next((x) => x.outcome === 'left');
    const onQueue = await s.onQueue(s.queueUrl);
    expect(onQueue.visible + onQueue.inFlight).toBe(1); // not deleted: in flight, or visible again

    await dispatched.atLeast(2); // redelivered after the 1 s visibility timeout
    const dead = await s.deadLetter();
    expect(dispatched.items.map((e) => e.id)).toEqual([eventId, eventId, eventId]); // max_receives: 3
    expect(JSON.parse(dead.Body!)).toMatchObject({ id: eventId, 'detail-type': 'AWS API Call via CloudTrail' });
    expect(attributesOf(dead)).toMatchObject({
      'rotator-reason': 'dispatch-failed',
      'rotator-detail': 'dispatch failed on delivery 3 of at most 3',
      'rotator-source': 'aws',
    });
    await settled.next((x) => x.outcome === 'dead-lettered');
    expect(await s.onQueue(s.queueUrl)).toEqual({ visible: 0, inFlight: 0 });
    expect(source.stats()).toMatchObject({ dispatchFailures: 3, deadLettered: 1 });
  });

  it('sends a body that is no event to the dead-letter queue at once, without dispatching it', async () => {
    const s = await scenario();
    const { MessageId } = await sqs.send(new SendMessageCommand({ QueueUrl: s.queueUrl, MessageBody: '{"not": json' }));
    const { source, dispatched, settled } = start(s, started);

    const dead = await s.deadLetter();
    expect(dead.Body).toBe('{"not": json');
    expect(attributesOf(dead)).toEqual({
      'rotator-reason': 'unreadable',
      'rotator-detail': 'body: not JSON',
      'rotator-source': 'aws',
      'rotator-message-id': MessageId,
    });
    expect(await settled.next(() => true)).toEqual({ messageId: MessageId, outcome: 'dead-lettered', reason: 'unreadable' });
    expect(dispatched.items).toEqual([]);
    expect(await s.onQueue(s.queueUrl)).toEqual({ visible: 0, inFlight: 0 });
    expect(source.stats()).toMatchObject({ received: 1, deadLettered: 1 });
  });

  it('without a dead-letter queue, logs an unreadable message with its id and the parse error, and deletes it', async () => {
    const s = await scenario();
    const body = JSON.stringify(ownEvent('rotator.rotate', { reason: 'no secret named' }));
    const { MessageId } = await sqs.send(new SendMessageCommand({ QueueUrl: s.queueUrl, MessageBody: body }));
    const { source, dispatched, settled, lines } = start(s, started, { dead_letter_queue_url: undefined });

    expect(await settled.next(() => true)).toEqual({ messageId: MessageId, outcome: 'dropped', reason: 'unreadable' });
    const logged = lines.map((l) => JSON.parse(l) as Json).find((l) => l.messageId === MessageId);
    expect(logged).toMatchObject({ source: 'aws', messageId: MessageId, error: 'detail.secret: required' });
    expect(lines.join('')).not.toContain('no secret named');
    expect(dispatched.items).toEqual([]);
    expect(await s.onQueue(s.queueUrl)).toEqual({ visible: 0, inFlight: 0 });
    expect(await s.onQueue(s.dlqUrl)).toEqual({ visible: 0, inFlight: 0 });
    expect(source.stats()).toMatchObject({ dropped: 1 });
  });

  it('never lets a PutSecretValue secretString reach the event, the logs or the dead-letter attributes', async () => {
    const s = await scenario();
    const secretString = `sv-${randomUUID()}`;
    const [namedId] = await s.put(
      cloudTrail('PutSecretValue', { secretId: arnOf('orders'), secretString, clientRequestToken: 'tok-1' }),
    );
    // The same call naming no secret at all: unreadable, so dead-lettered with its body as received.
    const unnamed = cloudTrail('PutSecretValue', { secretString });
    unnamed.Detail = JSON.stringify({ ...JSON.parse(unnamed.Detail!), responseElements: null });
    await s.put(unnamed);
    // The first dispatch fails, so the named event is logged as a failure too before it is started.
    const { dispatched, settled, lines } = start(s, (event, call) =>
      call === 1 ? Promise.reject(new Error('temporal unreachable')) : started(event),
    );

    const dead = await s.deadLetter();
    await settled.next((x) => x.outcome === 'deleted');
    await settled.next((x) => x.outcome === 'dead-lettered');

    expect(dispatched.items.at(-1)).toEqual({
      source: 'aws',
      id: namedId,
      type: 'PutSecretValue',
      resource: arnOf('orders'),
      time: expect.any(Number),
    });
    expect(attributesOf(dead)).toMatchObject({
      'rotator-reason': 'unreadable',
      'rotator-detail':
        'detail.requestParameters.secretId: required (nor do detail.responseElements.arn or resources name the secret)',
    });
    expect(lines.some((l) => l.includes('dispatch failed'))).toBe(true);
    expect(lines.some((l) => l.includes('dead-letter'))).toBe(true);
    for (const seen of [JSON.stringify(dispatched.items), JSON.stringify(dead.MessageAttributes), lines.join('\n')]) {
      expect(seen).not.toContain(secretString);
    }
    expect(await s.onQueue(s.queueUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('receives only events the rule pattern matches: its CloudTrail, rotation and own events, no other source or type', async () => {
    const s = await scenario();
    const ids = await s.put(
      { Source: 'other.example', DetailType: 'rotator.rotate', Detail: JSON.stringify({ secret: 'orders_db' }) },
      { Source: 'ci.example', DetailType: 'deploy.finished', Detail: JSON.stringify({ secret: 'orders_db' }) },
      { Source: 'ci.example', DetailType: 'rotator.rotate', Detail: JSON.stringify({ secret: 'orders_db', reason: 'ci' }) },
      {
        Source: 'aws.secretsmanager',
        DetailType: 'AWS Service Event via CloudTrail',
        Detail: JSON.stringify({
          eventSource: 'secretsmanager.amazonaws.com',
          eventName: 'RotationSucceeded',
          requestParameters: null,
          additionalEventData: { SecretId: arnOf('orders') },
        }),
      },
    );
    expect(await s.onQueue(s.queueUrl)).toEqual({ visible: 2, inFlight: 0 }); // moto delivered within PutEvents
    const { source, dispatched, settled } = start(s, started);

    await settled.atLeast(2);
    expect(dispatched.items.map((e) => [e.id, e.type, e.resource]).sort()).toEqual(
      [
        [ids[2], 'rotator.rotate', 'orders_db'],
        [ids[3], 'RotationSucceeded', arnOf('orders')],
      ].sort(),
    );
    expect(await s.onQueue(s.queueUrl)).toEqual({ visible: 0, inFlight: 0 });
    expect(source.stats()).toMatchObject({ received: 2, started: 2 });
  });

  // The 15 s test timeout is shorter than the 20 s long poll the source is in when stop() is called.
  it('stop() ends a long poll at once, after the message being handled is dispatched and deleted', async () => {
    const s = await scenario();
    await s.put(cloudTrail('RotateSecret', { secretId: arnOf('orders') }));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const hold = async (event: TriggerEvent) => {
      await held;
      return started(event);
    };
    const { source, dispatched, settled } = start(s, hold, { wait: '20s' });

    await dispatched.next(() => true);
    const stopping = source.stop();
    expect(source.ready()).toBe(false);
    release();
    await stopping;
    expect(settled.items).toEqual([expect.objectContaining({ outcome: 'deleted', reason: 'started' })]);
    expect(await s.onQueue(s.queueUrl)).toEqual({ visible: 0, inFlight: 0 });

    // A source that has long-polled an empty queue stops as promptly.
    const idle = start(s, started, { wait: '20s' });
    await until(() => idle.source.ready());
    await idle.source.stop();
    expect(idle.source.ready()).toBe(false);
    expect(idle.source.stats().receiveErrors).toBe(0);
  }, 15_000);

  it('backs off on receive errors, is not ready meanwhile, and logs no credentials', async () => {
    const s = await scenario();
    const secretKey = `sk-${randomUUID()}`;
    const { source, lines } = start(s, started, {
      queue_url: `${s.queueUrl}-missing`,
      secret_access_key: secretKey,
      dead_letter_queue_url: undefined,
    });

    await until(() => source.stats().receiveErrors >= 2);
    expect(source.ready()).toBe(false);
    const warned = lines.map((l) => JSON.parse(l) as Json).filter((l) => l.msg === 'sqs receive failed; backing off');
    expect(warned.length).toBeGreaterThanOrEqual(2);
    expect(warned[0]).toMatchObject({ source: 'aws', retryInMs: expect.any(Number) });
    expect(String(warned[0]!.error)).toMatch(/QueueDoesNotExist|NonExistentQueue/);
    expect(lines.join('\n')).not.toContain(secretKey);
  });
});
