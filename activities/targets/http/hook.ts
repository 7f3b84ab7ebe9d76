// The client side of the HTTP hook protocol (docs/http-hook.md): one signed POST per action, retried within the
// step's attempts, the answer's size bounded, its signature checked and its body validated by a zod schema.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { z } from 'zod';
import { type ErrorCode, RotatorError } from '../../../src/kernel/errors';
import { logger } from '../../../src/kernel/log';
import { printable } from '../../../src/kernel/printable';
import { redact } from '../../../src/kernel/redact';
import { signature } from '../../consumers/webhook/public';
import { backoffDelays, type HookSettings } from './settings';

export type { HookSettings } from './settings';

export type HookAction = 'create' | 'verify' | 'revoke' | 'list' | 'ping';

/** The largest answer rotator reads from a hook: a key and a few fields fit many times over. */
export const MAX_ANSWER_BYTES = 64 * 1024;
/** What of a refusing hook's `error` an error message may quote. */
const QUOTE_CHARS = 120;

/**
 * The key a hook recognises a repeated request by: the same for every attempt and every re-run of one step of one
 * rotation (or of one credential, for the steps that act on a credential), different between steps.
 */
export function idempotencyKey(...parts: string[]): string {
  return `idem_${createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 32)}`;
}

/** An answer's signature: `v1=<hex HMAC-SHA256(key, "<the request's X-Rotator-Signature>.<raw answer body>")>`. */
export function answerSignature(key: string, requestSignature: string, body: Buffer | string): string {
  return `v1=${createHmac('sha256', key).update(`${requestSignature}.`).update(body).digest('hex')}`;
}

function answerSignatureMatches(key: string, requestSignature: string, body: Buffer, header: string | null): boolean {
  if (!header) return false;
  const expected = Buffer.from(answerSignature(key, requestSignature, body));
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The answer's body, at most `limit` bytes; null when it is longer (the rest is not read). */
async function readBounded(response: Response, limit: number): Promise<Buffer | null> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > limit) {
    await response.body?.cancel().catch(() => undefined);
    return null;
  }
  const reader = response.body?.getReader();
  if (!reader) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** Why a request got no answer, by kind (a timeout, an errno), never the driver's message. */
function networkReason(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; cause?: { code?: string; name?: string } };
  if (e?.name === 'TimeoutError') return `no answer within ${timeoutMs}ms`;
  return `no answer (${e?.cause?.code ?? e?.cause?.name ?? e?.name ?? 'network error'})`;
}

/** A refusal by the hook, with the HTTP status it answered (none when no answer came). */
export class HookError extends RotatorError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly status?: number,
  ) {
    super(code, message);
  }
}

/** An attempt that may go better on its own: network errors, timeouts, 408, 429 and 5xx. */
class RetryableAnswer extends Error {}

export interface HookAnswer<T> {
  status: number;
  /** The validated body; null for an accepted 404. */
  body: T | null;
}

export class HookClient {
  readonly origin: string;
  private readonly delays: number[];

  constructor(
    private readonly settings: HookSettings,
    private readonly signingKey: string,
  ) {
    this.origin = new URL(settings.url).origin;
    this.delays = backoffDelays(settings);
  }

  /**
   * POSTs `action` with `fields`, signed, up to `attempts` times; the validated answer. `secrets`: values this request
   * carries or its answer may echo, scrubbed from anything that reaches an error or a log. `gone`: a 404 is an answer
   * (revoke: already gone). The answer's `error` is quoted in an error (scrubbed) only when `quote` says so:
   * `'refusals'` quotes only 4xx answers (create: by the protocol a refused create made no key, while a failing one
   * might have made a key rotator has not seen and echo it).
   */
  async call<T>(
    action: HookAction,
    fields: Record<string, unknown>,
    idempotency: string,
    answer: z.ZodType<T>,
    options: { secrets?: ReadonlyArray<string>; gone?: boolean; quote?: boolean | 'refusals' } = {},
  ): Promise<HookAnswer<T>> {
    const body = JSON.stringify({
      action,
      ...(this.settings.account !== undefined ? { account: this.settings.account } : {}),
      idempotency_key: idempotency,
      ...fields,
    });
    const scrub = [this.signingKey, ...(options.secrets ?? [])];
    const attempts = this.settings.attempts;
    let reason = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) await sleep(this.delays[attempt - 2]);
      try {
        return await this.attempt(action, body, idempotency, answer, scrub, options);
      } catch (err) {
        if (!(err instanceof RetryableAnswer)) throw err;
        reason = err.message;
      }
      if (attempt < attempts) logger.warn({ target: 'http', origin: this.origin, action, attempt, reason }, 'hook retrying');
    }
    throw this.error(
      'TRANSIENT',
      action,
      `${reason} (after ${attempts} attempt${attempts === 1 ? '' : 's'}; Temporal retries the step)`,
    );
  }

  private async attempt<T>(
    action: HookAction,
    body: string,
    idempotency: string,
    schema: z.ZodType<T>,
    scrub: string[],
    options: { gone?: boolean; quote?: boolean | 'refusals' },
  ): Promise<HookAnswer<T>> {
    const timestamp = Math.floor(Date.now() / 1000);
    const signed = signature(this.signingKey, timestamp, body);
    const signal = AbortSignal.timeout(this.settings.timeoutMs);
    let response: Response;
    let raw: Buffer | null;
    try {
      response = await fetch(this.settings.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json',
          'Idempotency-Key': idempotency,
          'X-Rotator-Action': action,
          'X-Rotator-Timestamp': String(timestamp),
          'X-Rotator-Signature': signed,
        },
        body,
        // A redirect would send the signed request somewhere the config does not name: a 3xx is a refusal.
        redirect: 'manual',
        signal,
      });
      raw = await readBounded(response, MAX_ANSWER_BYTES);
    } catch (err) {
      throw new RetryableAnswer(networkReason(err, this.settings.timeoutMs));
    }
    const status = response.status;
    if (raw === null)
      throw this.error('UNSUPPORTED', action, `answered HTTP ${status} with a body over ${MAX_ANSWER_BYTES} bytes`);
    if (status === 408 || status === 429 || status >= 500)
      throw new RetryableAnswer(this.statusReason(status, raw, scrub, options));
    if (status >= 300 && status < 400)
      throw this.error(
        'UNSUPPORTED',
        action,
        `answered HTTP ${status} (a redirect, which rotator does not follow): correct the url`,
      );
    // An answer that is not signed may come from anything that got between rotator and the hook: nothing in it counts.
    if (
      this.settings.signedAnswers &&
      !answerSignatureMatches(this.signingKey, signed, raw, response.headers.get('x-rotator-signature'))
    ) {
      throw this.error(
        status === 401 || status === 403 ? 'PERMISSION_DENIED' : 'UNSUPPORTED',
        action,
        `answered HTTP ${status} without a valid X-Rotator-Signature` +
          (status === 401 || status === 403
            ? ': it refused rotator’s signature (is the signing key the same on both sides?)'
            : ' (the hook signs each answer with the shared key; or set signed_answers: false)'),
      );
    }
    if (status === 404 && options.gone) return { status, body: null };
    if (status < 200 || status >= 300) {
      const code: ErrorCode =
        status === 401 || status === 403
          ? 'PERMISSION_DENIED'
          : status === 404
            ? 'NOT_FOUND'
            : status === 409
              ? 'CONFLICT'
              : 'UNSUPPORTED';
      throw this.error(code, action, this.statusReason(status, raw, scrub, options), status);
    }
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      throw this.error('UNSUPPORTED', action, `answered HTTP ${status} with a body that is not JSON`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      // The issues' paths and kinds only: a message of zod's never quotes the value, but the path is all one needs.
      const issues = parsed.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`)
        .join('; ');
      throw this.error(
        'UNSUPPORTED',
        action,
        `answered HTTP ${status} with a body outside the hook protocol: ${redact(issues, scrub)}`,
      );
    }
    return { status, body: parsed.data };
  }

  /** `HTTP 409: "account … has 2 active keys"`: the answer's `error` (or `reason`), scrubbed, only when it may be quoted. */
  private statusReason(status: number, raw: Buffer, scrub: string[], options: { quote?: boolean | 'refusals' }): string {
    if (!options.quote || (options.quote === 'refusals' && status >= 500)) return `answered HTTP ${status}`;
    let text = raw.toString('utf8');
    try {
      const json = JSON.parse(text) as { error?: unknown; reason?: unknown };
      const said = json?.error ?? json?.reason;
      text = typeof said === 'string' ? said : '';
    } catch {
      // Not JSON: its start, as it is.
    }
    const clean = this.quote(text, scrub);
    return `answered HTTP ${status}${clean ? `: ${JSON.stringify(clean)}` : ''}`;
  }

  /** What an error may show of a hook's text: the signing key and `secrets` scrubbed, printable, one line, short. */
  quote(text: string, secrets: ReadonlyArray<string>): string {
    return printable(redact(text, [this.signingKey, ...secrets]), QUOTE_CHARS)
      .replace(/\s+/g, ' ')
      .trim();
  }

  /** `http target http://hooks.internal:8787: create answered HTTP 409: …`: the system, the step and the status. */
  error(code: ErrorCode, action: HookAction, what: string, status?: number): HookError {
    return new HookError(code, `http target ${this.origin}: ${action} ${what}`, status);
  }
}
