// `rotator listen`'s SQS source: long-polls the queue an EventBridge rule delivers to, and deletes a message only once
// the dispatcher has answered for it (started, duplicate or unmapped), so each event starts at most one trigger
// workflow and none is lost while Temporal is unreachable.
//
// No signature to check here: SQS authenticates every sender itself (SigV4), and only the principals the queue policy
// allows (the EventBridge rule, typically `events.amazonaws.com` with `aws:SourceArn` of the rule) can send to it.
// What arrives is still parsed as untrusted (./aws-events.ts), and only names and ids leave the parser.
import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
  type MessageAttributeValue,
} from '@aws-sdk/client-sqs';
import { awsClientConfig, awsErrorName } from '../../activities/stores/aws-common';
import { awsConnectionOf } from '../../activities/stores/aws-config';
import type { TriggerSource } from '../config/trigger';
import { eachLimited } from '../kernel/concurrency';
import { RotatorError } from '../kernel/errors';
import type { Logger } from '../kernel/log';
import { redact } from '../kernel/redact';
import { parseSqsBody } from './aws-events';
import type { Dispatch, DispatchOutcome, TriggerEvent } from './events';
import { RECORD } from './records';

export type SqsSourceConfig = Extract<TriggerSource, { type: 'sqs' }>;

/** What became of one received message. `left` means it stays on the queue and comes back after its visibility timeout. */
export type MessageOutcome = 'deleted' | 'dead-lettered' | 'dropped' | 'left';

/** Why a message left the queue without a dispatch answer, as the dead-letter queue's `rotator-reason` attribute says. */
export type DeadLetterReason = 'unreadable' | 'dispatch-failed';

export interface SqsSourceStats {
  received: number;
  started: number;
  duplicate: number;
  unmapped: number;
  deadLettered: number;
  /** Given up on without a dead-letter queue configured: logged and deleted. */
  dropped: number;
  /** Dispatch threw (Temporal unreachable): left for redelivery, or given up on at max_receives. */
  dispatchFailures: number;
  receiveErrors: number;
  deleteErrors: number;
  inFlight: number;
}

export interface SqsSource {
  /** Ends the long poll at once and waits for the messages being handled. */
  stop(): Promise<void>;
  /** The last ReceiveMessage succeeded (the queue is reachable with these credentials) and the source runs. */
  ready(): boolean;
  stats(): SqsSourceStats;
}

export interface SqsSourceOptions {
  /** Messages of one batch handled at once (a batch is at most 10). */
  concurrency?: number;
  /** Told each message's end, once (tests wait on it). */
  onSettled?: (settled: { messageId: string; outcome: MessageOutcome; reason: string }) => void;
}

/** SQS returns at most 10 messages per receive. */
const BATCH = 10;
const DEFAULT_CONCURRENCY = 4;
/** Receive errors back off from this, doubling, to at most RECEIVE_BACKOFF_CAP_MS (each jittered to 50–100%). */
const RECEIVE_BACKOFF_BASE_MS = 500;
const RECEIVE_BACKOFF_CAP_MS = 30_000;
/** With `wait: 0s` (short polling) an empty queue is asked again after this pause, not in a tight loop. */
const SHORT_POLL_PAUSE_MS = 1_000;

export function startSqsSource(
  name: string,
  config: SqsSourceConfig,
  dispatch: Dispatch,
  log: Logger,
  options: SqsSourceOptions = {},
): SqsSource {
  const client = new SQSClient(awsClientConfig(awsConnectionOf(config)));
  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
  const keys = [config.access_key_id, config.secret_access_key];
  const abort = new AbortController();
  const waitSeconds = Math.min(20, Math.ceil(config.wait / 1000));
  const stats: SqsSourceStats = {
    received: 0,
    started: 0,
    duplicate: 0,
    unmapped: 0,
    deadLettered: 0,
    dropped: 0,
    dispatchFailures: 0,
    receiveErrors: 0,
    deleteErrors: 0,
    inFlight: 0,
  };
  let stopped = false;
  let healthy = false;

  /** An AWS error as a log field: its name and first line, with the configured keys scrubbed should one be echoed. */
  const describe = (err: unknown): string => {
    const message = err instanceof Error ? err.message : String(err);
    return redact(`${awsErrorName(err)}: ${message.split('\n')[0]}`.slice(0, 500), keys);
  };

  const settled = (messageId: string, outcome: MessageOutcome, reason: string): void => {
    options.onSettled?.({ messageId, outcome, reason });
  };

  async function remove(m: Message, outcome: MessageOutcome, reason: string): Promise<void> {
    const messageId = m.MessageId ?? '';
    try {
      if (!m.ReceiptHandle) throw new RotatorError('TRANSIENT', 'the message came without a receipt handle');
      await client.send(new DeleteMessageCommand({ QueueUrl: config.queue_url, ReceiptHandle: m.ReceiptHandle }));
    } catch (err) {
      stats.deleteErrors++;
      // It comes back after the visibility timeout and is handled again: the dispatcher then answers duplicate.
      log.warn(
        { source: name, messageId, error: describe(err) },
        'could not delete a handled sqs message; it will be redelivered',
      );
      return settled(messageId, 'left', 'delete-failed');
    }
    settled(messageId, outcome, reason);
  }

  /** A message that will never succeed: to the dead-letter queue (body as received), or logged and dropped. */
  async function retire(m: Message, reason: DeadLetterReason, detail: string): Promise<void> {
    const messageId = m.MessageId ?? '';
    const dlq = config.dead_letter_queue_url;
    if (!dlq) {
      stats.dropped++;
      log.error({ source: name, messageId, reason, error: detail }, RECORD.sqsDropped);
      return remove(m, 'dropped', reason);
    }
    // Attributes carry field names and counts only: `detail` is a parse error (which never quotes a value) or a count.
    const attribute = (value: string): MessageAttributeValue => ({ DataType: 'String', StringValue: value });
    try {
      await client.send(
        new SendMessageCommand({
          QueueUrl: dlq,
          // SQS never delivers an empty body (SendMessage refuses one), so the fallback only keeps SendMessage valid.
          MessageBody: m.Body || '(empty)',
          MessageAttributes: {
            'rotator-reason': attribute(reason),
            'rotator-detail': attribute(detail),
            'rotator-source': attribute(name),
            ...(messageId ? { 'rotator-message-id': attribute(messageId) } : {}),
          },
        }),
      );
    } catch (err) {
      log.warn(
        { source: name, messageId, reason, error: describe(err) },
        'could not dead-letter an sqs message; it will be redelivered',
      );
      return settled(messageId, 'left', 'dead-letter-failed');
    }
    stats.deadLettered++;
    log.warn({ source: name, messageId, reason, error: detail }, RECORD.sqsDeadLettered);
    return remove(m, 'dead-lettered', reason);
  }

  async function handle(m: Message): Promise<void> {
    const messageId = m.MessageId ?? '';
    const receiveCount = Number(m.Attributes?.ApproximateReceiveCount ?? '1');
    let event: TriggerEvent;
    try {
      event = parseSqsBody(name, m.Body ?? '');
    } catch (err) {
      // parseSqsBody throws RotatorError naming a field; anything else is a bug whose message is not trusted.
      const detail = err instanceof RotatorError ? err.message : 'the body could not be parsed';
      return retire(m, 'unreadable', detail);
    }
    let outcome: DispatchOutcome;
    try {
      outcome = await dispatch(event);
    } catch (err) {
      stats.dispatchFailures++;
      const fields = { source: name, messageId, eventId: event.id, receiveCount, error: describe(err) };
      if (receiveCount >= config.max_receives) {
        log.error(fields, `dispatch failed on delivery ${receiveCount} (max_receives ${config.max_receives}); giving up`);
        return retire(m, 'dispatch-failed', `dispatch failed on delivery ${receiveCount} of at most ${config.max_receives}`);
      }
      log.warn(fields, RECORD.sqsDispatchFailed);
      return settled(messageId, 'left', 'dispatch-failed');
    }
    stats[outcome.status]++;
    return remove(m, 'deleted', outcome.status);
  }

  async function poll(): Promise<void> {
    let failures = 0;
    while (!stopped) {
      let messages: Message[];
      try {
        const out = await client.send(
          new ReceiveMessageCommand({
            QueueUrl: config.queue_url,
            MaxNumberOfMessages: BATCH,
            // The first receive (and the first after an error) returns at once, so ready() tells soon.
            WaitTimeSeconds: healthy ? waitSeconds : 0,
            VisibilityTimeout: Math.ceil(config.visibility_timeout / 1000),
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          }),
          { abortSignal: abort.signal },
        );
        messages = out.Messages ?? [];
        failures = 0;
        healthy = true;
      } catch (err) {
        if (stopped) break;
        healthy = false;
        stats.receiveErrors++;
        failures++;
        const delay = backoff(failures);
        log.warn({ source: name, error: describe(err), retryInMs: delay }, 'sqs receive failed; backing off');
        await sleep(delay, abort.signal);
        continue;
      }
      stats.received += messages.length;
      if (messages.length === 0 && waitSeconds === 0) await sleep(SHORT_POLL_PAUSE_MS, abort.signal);
      // Not aborted by stop(): a message being handled is finished (dispatched and deleted, or left) first.
      await eachLimited(messages, concurrency, async (m) => {
        stats.inFlight++;
        try {
          await handle(m);
        } finally {
          stats.inFlight--;
        }
      });
    }
  }

  const running = poll().catch((err: unknown) => {
    // handle() catches what it calls; reaching here is a bug, and the source stops rather than spin.
    healthy = false;
    log.error({ source: name, error: err instanceof Error ? err.message : String(err) }, 'sqs source stopped unexpectedly');
  });
  let stopping: Promise<void> | null = null;

  return {
    stop() {
      stopping ??= (async () => {
        stopped = true;
        healthy = false;
        abort.abort();
        await running;
        client.destroy();
      })();
      return stopping;
    },
    ready: () => healthy && !stopped,
    stats: () => ({ ...stats }),
  };
}

/** Exponential from RECEIVE_BACKOFF_BASE_MS, capped, each wait 50–100% of its step so many listeners spread out. */
export function backoff(failures: number, random: () => number = Math.random): number {
  const step = Math.min(RECEIVE_BACKOFF_CAP_MS, RECEIVE_BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 16));
  return Math.round(step / 2 + (random() * step) / 2);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
