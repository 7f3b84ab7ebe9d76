// The one implementation of the webhook and alert consumers: build the event, sign it, POST it, retry with backoff.
// The request format is documented in ./index.ts.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { RotatorError } from '../../../src/kernel/errors';
import { logger } from '../../../src/kernel/log';
import { redact } from '../../../src/kernel/redact';
import { parseDuration } from '../../../src/kernel/duration';
import type { SecretReference } from '../../../src/kernel/plan';
import type { ConsumerContext } from '../../plugin';
import type { Consumer, ConsumerEvent } from '../../types';
import { backoffDelays, type WebhookConfig } from './index';

/** What of a refusing receiver's answer an error may quote: enough to recognise it, too little to carry a payload. */
const SNIPPET_BYTES = 512;
const SNIPPET_CHARS = 120;

export interface WebhookEvent {
  id: string;
  type: string;
  secret: string;
  version: string;
  login: string;
  rotation_id: string | null;
  time: string;
}

/** `v1=<hex HMAC-SHA256 over "<timestamp>.<raw body>">`: what X-Rotator-Signature carries. */
export function signature(key: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', key).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * The receiving side of `signature`: whether `header` signs these exact bytes with `key`. The HMAC covers the raw
 * body and the timestamp header's text as received (not a re-encoding of either), compared in constant time.
 */
export function signatureMatches(key: string, timestamp: string, body: Buffer, header: string): boolean {
  const expected = Buffer.from(`v1=${createHmac('sha256', key).update(`${timestamp}.`).update(body).digest('hex')}`);
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The same for every retry and every re-run of one rotation's notify, so a receiver can drop the duplicates. */
export function eventId(type: string, event: ConsumerEvent): string {
  const digest = createHash('sha256')
    .update([type, event.secret, event.rotationId ?? '', event.version].join('\n'))
    .digest('hex');
  return `evt_${digest.slice(0, 32)}`;
}

/** References only: nothing here was read from a store. */
export function webhookEvent(type: string, event: ConsumerEvent, now = new Date()): WebhookEvent {
  return {
    id: eventId(type, event),
    type,
    secret: event.secret,
    version: event.version,
    login: event.username,
    rotation_id: event.rotationId ?? null,
    time: now.toISOString(),
  };
}

/** The start of an answer's body, printable ASCII only, with the key scrubbed should a receiver echo it. */
async function snippetOf(response: Response, key: string): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < SNIPPET_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // The body broke off (or the attempt timed out): the status says enough.
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  const text = Buffer.concat(chunks).subarray(0, SNIPPET_BYTES).toString('utf8');
  const clean = redact(text, [key])
    .replace(/[^\x20-\x7e]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return clean.length > SNIPPET_CHARS ? `${clean.slice(0, SNIPPET_CHARS)}…` : clean;
}

/** Why a request got no answer, by kind (a timeout, an errno), never the driver's message or the full URL. */
function networkReason(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; cause?: { code?: string; name?: string } };
  if (e?.name === 'TimeoutError') return `no answer within ${timeoutMs}ms`;
  return `no answer (${e?.cause?.code ?? e?.cause?.name ?? e?.name ?? 'network error'})`;
}

export class WebhookConsumer implements Consumer {
  private readonly origin: string;
  private readonly timeoutMs: number;
  private readonly delays: number[];

  constructor(
    private readonly config: WebhookConfig,
    private readonly context: ConsumerContext,
    private readonly behaviour: { eventType: string; onFailure: 'throw' | 'log' },
  ) {
    this.origin = new URL(config.url).origin;
    this.timeoutMs = parseDuration(config.timeout);
    this.delays = backoffDelays(config);
  }

  async notify(event: ConsumerEvent): Promise<void> {
    try {
      await this.deliver(event);
    } catch (err) {
      if (this.behaviour.onFailure === 'throw') throw err;
      // An alert informs; it never stops a rotation. The message names the origin and the status, no value.
      logger.warn(
        {
          consumer: this.config.type,
          origin: this.origin,
          secret: event.secret,
          version: event.version,
          code: err instanceof RotatorError ? err.code : 'TRANSIENT',
          error: err instanceof Error ? err.message : String(err),
        },
        'alert not delivered; the rotation goes on',
      );
    }
  }

  private async deliver(event: ConsumerEvent): Promise<void> {
    const key = await this.context.readSecret(this.keyLocation());
    const body = JSON.stringify(webhookEvent(this.behaviour.eventType, event));
    const id = eventId(this.behaviour.eventType, event);
    const attempts = this.config.attempts;
    let reason = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) await sleep(this.delays[attempt - 2]);
      const timestamp = Math.floor(Date.now() / 1000);
      try {
        const response = await fetch(this.config.url, {
          method: 'POST',
          headers: {
            ...this.config.headers,
            'Content-Type': 'application/json',
            'X-Rotator-Event-Id': id,
            'X-Rotator-Timestamp': String(timestamp),
            'X-Rotator-Signature': signature(key, timestamp, body),
          },
          body,
          // A redirect would send the signed event somewhere the config does not name: a 3xx counts as a refusal.
          redirect: 'manual',
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        if (response.ok) {
          await response.body?.cancel().catch(() => undefined);
          logger.debug({ consumer: this.config.type, origin: this.origin, secret: event.secret, attempt }, 'event delivered');
          return;
        }
        const snippet = await snippetOf(response, key);
        reason = `HTTP ${response.status}${snippet ? `: ${JSON.stringify(snippet)}` : ''}`;
      } catch (err) {
        reason = networkReason(err, this.timeoutMs);
      }
      if (attempt < attempts) {
        logger.warn({ consumer: this.config.type, origin: this.origin, secret: event.secret, attempt, reason }, 'retrying');
      }
    }
    throw new RotatorError(
      'CONSUMER_FAILED',
      `${this.origin} did not accept the ${this.behaviour.eventType} event for ${event.secret} version ${event.version} ` +
        `in ${attempts} attempt${attempts === 1 ? '' : 's'}; last: ${reason}`,
      this.config.type,
    );
  }

  /** A plan carries the key's location; a config block that never went through a plan carries only its reference. */
  private keyLocation(): SecretReference {
    const key = this.config.signing_key;
    if (typeof key === 'string') {
      throw new RotatorError(
        'CONFIG_INVALID',
        `${key} was not resolved to a store location: this worker has no secrets: to resolve it with`,
        'signing_key',
      );
    }
    return key;
  }
}
